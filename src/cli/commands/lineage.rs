//! `lineage`: where a model's columns come from, or what a column reaches, as a tree.

use std::collections::HashSet;

use etlx::lineage::{Kind, Lineage, Upstream};
use etlx::project::{Project, ResourceType};

use super::{Global, Outcome, Printer, compile_with_lineage, load, selection_options};
use crate::cli::{LineageArgs, Selection};

pub(super) fn lineage(
    global: &Global,
    args: &LineageArgs,
    printer: &Printer,
) -> anyhow::Result<Outcome> {
    let Some(project) = load(global, printer)? else {
        return Ok(Outcome::Invalid);
    };
    let (model, column) = match args.node.split_once('.') {
        Some((m, c)) => (m, Some(c)),
        None => (args.node.as_str(), None),
    };
    let Some(node) = project
        .nodes
        .values()
        .find(|n| n.name == model && n.resource_type.is_relation())
    else {
        let names = project
            .nodes
            .values()
            .filter(|n| n.resource_type.is_relation())
            .map(|n| n.name.as_str());
        let hint = etlx::diag::closest(model, names)
            .map_or(String::new(), |c| format!("; did you mean '{c}'?"));
        printer.error_line(&format!(
            "error: no model, seed or snapshot named '{model}'{hint}"
        ));
        return Ok(Outcome::Invalid);
    };
    let mut opts = selection_options(&Selection::default(), true)?;
    opts.resource_types = vec![ResourceType::Model, ResourceType::Snapshot];
    let Some(super::Compiled { lineage, .. }) =
        compile_with_lineage(&project, &opts, printer, "analysed")?
    else {
        return Ok(Outcome::Invalid);
    };
    let columns: Vec<String> = match column {
        Some(c) => vec![c.to_string()],
        None => lineage
            .nodes
            .get(&node.unique_id)
            .map(|cols| cols.iter().map(|c| c.name.clone()).collect())
            .unwrap_or_default(),
    };
    if let Some(c) = column
        && lineage.column(&node.unique_id, c).is_none()
        && node.resource_type == ResourceType::Model
    {
        let known = lineage
            .nodes
            .get(&node.unique_id)
            .map(|cs| cs.iter().map(|c| c.name.as_str()).collect::<Vec<_>>())
            .unwrap_or_default();
        let hint = etlx::diag::closest(c, known.iter().copied())
            .map_or(String::new(), |k| format!("; did you mean '{k}'?"));
        printer.error_line(&format!("error: model '{model}' has no column '{c}'{hint}"));
        return Ok(Outcome::Invalid);
    }
    let walk = Walk {
        project: &project,
        lineage: &lineage,
        downstream: args.downstream,
        depth: args.depth.unwrap_or(usize::MAX),
    };
    if args.output_json {
        let trees: Vec<serde_json::Value> = columns
            .iter()
            .map(|c| walk.json(&node.unique_id, c, 0, &mut HashSet::new()))
            .collect();
        printer.result(&serde_json::to_string_pretty(&trees)?);
        return Ok(Outcome::Success);
    }
    let mut text = String::new();
    for c in &columns {
        text.push_str(&format!("{}\n", walk.label(&node.unique_id, c)));
        walk.tree(&node.unique_id, c, "", 1, &mut HashSet::new(), &mut text);
    }
    printer.result(text.trim_end());
    Ok(Outcome::Success)
}

struct Walk<'a> {
    project: &'a Project,
    lineage: &'a Lineage,
    downstream: bool,
    depth: usize,
}

impl Walk<'_> {
    fn next(&self, node: &str, column: &str) -> Vec<Upstream> {
        match self.downstream {
            true => self.lineage.downstream(node, column),
            false => self.lineage.upstream(node, column),
        }
    }

    /// `stg_events.user_id`, `source landing.events.userId`.
    fn label(&self, node: &str, column: &str) -> String {
        if let Some(s) = self.project.sources.get(node) {
            return format!("source {}.{}.{column}", s.source_name, s.name);
        }
        let name = self
            .project
            .nodes
            .get(node)
            .map_or(node, |n| n.name.as_str());
        format!("{name}.{column}")
    }

    fn tree(
        &self,
        node: &str,
        column: &str,
        indent: &str,
        level: usize,
        seen: &mut HashSet<(String, String)>,
        out: &mut String,
    ) {
        if level > self.depth {
            return;
        }
        if let Some(why) = self
            .lineage
            .column(node, column)
            .and_then(|c| c.unknown.as_ref())
            .filter(|_| !self.downstream)
        {
            out.push_str(&format!("{indent}└─ (not followed: {why})\n"));
        }
        let next = self.next(node, column);
        for (i, u) in next.iter().enumerate() {
            let last = i + 1 == next.len();
            let kind = match u.kind {
                Kind::Direct => "direct",
                Kind::Derived => "derived",
            };
            out.push_str(&format!(
                "{indent}{} {} ({kind})\n",
                if last { "└─" } else { "├─" },
                self.label(&u.node, &u.column)
            ));
            if seen.insert((u.node.clone(), u.column.to_lowercase())) {
                let deeper = format!("{indent}{}", if last { "   " } else { "│  " });
                self.tree(&u.node, &u.column, &deeper, level + 1, seen, out);
            }
        }
    }

    fn json(
        &self,
        node: &str,
        column: &str,
        level: usize,
        seen: &mut HashSet<(String, String)>,
    ) -> serde_json::Value {
        let next: Vec<serde_json::Value> =
            match level < self.depth && seen.insert((node.to_string(), column.to_lowercase())) {
                true => self
                    .next(node, column)
                    .iter()
                    .map(|u| {
                        let mut child = self.json(&u.node, &u.column, level + 1, seen);
                        child["kind"] = serde_json::to_value(u.kind).unwrap_or_default();
                        child
                    })
                    .collect(),
                false => Vec::new(),
            };
        let key = if self.downstream {
            "downstream"
        } else {
            "upstream"
        };
        serde_json::json!({"node": node, "column": column, key: next})
    }
}

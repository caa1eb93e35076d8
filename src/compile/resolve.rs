//! From captured `ref`/`source` calls to graph edges: unknown names become diagnostics at the
//! call with the closest existing name, and cycles are reported as paths.

use super::CompiledNode;
use crate::diag::{Diagnostic, Diagnostics};
use crate::graph::Graph;
use crate::project::{Node, Project};
use indexmap::{IndexMap, IndexSet};
use std::collections::{HashMap, HashSet};
use std::ops::Range;

/// Turn captured `ref`/`source` calls into graph edges; unknown names become diagnostics.
pub(super) fn resolve_dependencies(
    project: &Project,
    nodes: &mut IndexMap<String, CompiledNode>,
    disabled: &HashSet<&str>,
    diags: &mut Diagnostics,
) {
    let by_name: HashMap<String, String> = nodes
        .values()
        .filter(|n| n.resource_type.is_relation())
        .map(|n| (n.name.clone(), n.unique_id.clone()))
        .collect();
    let disabled_names: HashSet<&str> = project
        .nodes
        .values()
        .filter(|n| disabled.contains(n.unique_id.as_str()))
        .map(|n| n.name.as_str())
        .collect();
    for compiled in nodes.values_mut() {
        let Some(node) = project.nodes.get(&compiled.unique_id) else {
            continue;
        };
        let mut deps = IndexSet::new();
        for r in &compiled.refs {
            match by_name.get(&r.name) {
                Some(id) => {
                    deps.insert(id.clone());
                }
                None => diags.push(missing_ref(
                    node,
                    &r.name,
                    &by_name,
                    disabled_names.contains(r.name.as_str()),
                )),
            }
        }
        for (s, t) in &compiled.sources {
            // The project's own source first, then a package's of that name.
            let own = format!("source.{}.{s}.{t}", project.name);
            let found = project.sources.get(&own).or_else(|| {
                project
                    .sources
                    .values()
                    .find(|src| src.source_name == *s && src.name == *t)
            });
            if let Some(source) = found {
                deps.insert(source.unique_id.clone());
            } else {
                diags.push(missing_source(project, node, s, t));
            }
        }
        // A unit test depends on its model, as in dbt's manifest, though it never reads it.
        if let Some(test) = project.unit_tests.get(&compiled.unique_id)
            && let Some(id) = by_name.get(&test.model)
        {
            deps.insert(id.clone());
        }
        compiled.depends_on = deps.into_iter().collect();
    }
}

pub(super) fn missing_ref(
    node: &Node,
    name: &str,
    by_name: &HashMap<String, String>,
    is_disabled: bool,
) -> Diagnostic {
    let span = find_call(&node.file.text, "ref", &[name]);
    let message = if is_disabled {
        format!(
            "{} '{}' depends on '{name}', which is disabled",
            node.resource_type.name(),
            node.name
        )
    } else {
        format!(
            "{} '{}' refers to '{name}', which is not a model or seed",
            node.resource_type.name(),
            node.name
        )
    };
    let mut d = Diagnostic::error("ref-not-found", message)
        .at(node.file.location(span).with_label("unknown ref"));
    if let Some(close) = crate::diag::closest(name, by_name.keys().map(String::as_str)) {
        d = d.hint(format!("did you mean '{close}'?"));
    } else if is_disabled {
        d = d.hint(format!("enable '{name}' or remove this ref"));
    }
    d
}

pub(super) fn missing_source(
    project: &Project,
    node: &Node,
    source: &str,
    table: &str,
) -> Diagnostic {
    let span = find_call(&node.file.text, "source", &[source, table]);
    let mut d = Diagnostic::error(
        "source-not-found",
        format!("source '{source}.{table}' is not declared"),
    )
    .at(node.file.location(span).with_label("unknown source"));
    let names: Vec<String> = project
        .sources
        .values()
        .map(|s| format!("{}.{}", s.source_name, s.name))
        .collect();
    if let Some(close) = crate::diag::closest(
        &format!("{source}.{table}"),
        names.iter().map(String::as_str),
    ) {
        d = d.hint(format!("did you mean '{close}'?"));
    } else {
        d = d.hint("declare it under `sources:` in a YAML file in models/");
    }
    d
}

/// The span of the quoted argument(s) of a call like `ref('orders')` in template text.
pub(super) fn find_call(text: &str, func: &str, args: &[&str]) -> Range<usize> {
    let quoted = |a: &str| [format!("'{a}'"), format!("\"{a}\"")];
    let mut from = 0;
    while let Some(i) = text[from..].find(&format!("{func}(")) {
        let open = from + i + func.len() + 1;
        let close = text[open..].find(')').map_or(text.len(), |j| open + j);
        let call = &text[open..close];
        if args
            .iter()
            .all(|a| quoted(a).iter().any(|q| call.contains(q.as_str())))
        {
            let last = args.last().copied().unwrap_or_default();
            let q = quoted(last)
                .into_iter()
                .find(|q| call.contains(q.as_str()))
                .unwrap_or_default();
            let at = open + call.rfind(&q).unwrap_or(0);
            return at..at + q.len();
        }
        from = open;
    }
    0..0
}

pub(super) fn build_graph(project: &Project, nodes: &IndexMap<String, CompiledNode>) -> Graph {
    let ids = project
        .sources
        .keys()
        .map(String::as_str)
        .chain(nodes.keys().map(String::as_str));
    let edges = nodes.values().flat_map(|n| {
        n.depends_on
            .iter()
            .map(move |d| (d.as_str(), n.unique_id.as_str()))
    });
    Graph::new(ids, edges)
}

pub(super) fn report_cycles(project: &Project, graph: &Graph, diags: &mut Diagnostics) {
    for mut cycle in graph.cycles() {
        // Edges run from what is read to its reader; users think in "a refers to b".
        cycle.reverse();
        let names: Vec<String> = cycle
            .iter()
            .map(|id| id.rsplit('.').next().unwrap_or(id).to_string())
            .collect();
        let first = project.nodes.get(&cycle[0]);
        let mut d = Diagnostic::error(
            "dependency-cycle",
            format!("dependency cycle: {}", names.join(" -> ")),
        );
        if let (Some(node), Some(next)) = (first, names.get(1)) {
            d = d.at(node
                .file
                .location(find_call(&node.file.text, "ref", &[next]))
                .with_label(format!("refers to {next}")));
        }
        for pair in cycle.windows(2).skip(1) {
            if let Some(node) = project.nodes.get(&pair[0]) {
                let next = pair[1].rsplit('.').next().unwrap_or(&pair[1]);
                d = d.related(
                    format!("{} refers to {next}", node.name),
                    node.file
                        .location(find_call(&node.file.text, "ref", &[next])),
                );
            }
        }
        diags.push(d.hint("break the cycle: one of these models must stop selecting from another"));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_the_quoted_argument_of_a_call() {
        let text = "select * from {{ ref('a') }} join {{ ref( \"orders\" ) }}";
        let span = find_call(text, "ref", &["orders"]);
        assert_eq!(&text[span], "\"orders\"");
        assert_eq!(find_call(text, "source", &["x"]), 0..0);
    }
}

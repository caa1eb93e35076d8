//! Selection: which nodes a command acts on, from `--select`/`--exclude` and resource types,
//! plus the tests of what was selected.

use super::{Compilation, CompileOptions, CompiledNode};
use crate::diag::Diagnostic;
use crate::graph::selector::{self, Candidate};
use crate::project::{Project, ResourceType};
use indexmap::IndexMap;
use std::collections::HashSet;

/// Selection over models, seeds, tests and sources.
pub(super) fn select_nodes(
    project: &Project,
    compilation: &mut Compilation,
    opts: &CompileOptions,
) {
    let candidates: Vec<Candidate> = candidates(project, &compilation.nodes);
    match selector::select(&compilation.graph, &candidates, &opts.select, &opts.exclude) {
        Ok((ids, unmatched)) => {
            for term in unmatched {
                // A bare name (`ordrs`, `+ordrs`) is most often a misspelt node name.
                let bare = term.trim_matches(|c: char| c == '+' || c == '@' || c.is_ascii_digit());
                let names = candidates.iter().map(|c| c.name);
                let mut d = Diagnostic::warning(
                    "selector-no-match",
                    format!("the selection criterion '{term}' does not match any node"),
                );
                if !bare.contains(':')
                    && let Some(close) = crate::diag::closest(bare, names)
                {
                    d = d.hint(format!("did you mean '{close}'?"));
                }
                compilation.diagnostics.push(d);
            }
            let mut ids: HashSet<String> = ids.into_iter().collect();
            let excluded: HashSet<String> = match opts.exclude.is_empty() {
                true => HashSet::new(),
                false => selector::select(&compilation.graph, &candidates, &opts.exclude, &[])
                    .map(|(ids, _)| ids.into_iter().collect())
                    .unwrap_or_default(),
            };
            // `ls` (no resource types) lists exactly what the selectors match.
            if opts.resource_types.contains(&ResourceType::Test) {
                add_tests_of_selected(&compilation.nodes, &mut ids, &excluded);
            }
            let wanted: HashSet<String> = ids
                .into_iter()
                .filter(|id| {
                    let rt = resource_type_of(id);
                    opts.resource_types.is_empty()
                        || rt.is_some_and(|r| opts.resource_types.contains(&r))
                })
                .collect();
            // Nodes on a cycle are left out; the cycle is an error that stops every command.
            let order = compilation.graph.topo_order();
            compilation.selected = order.into_iter().filter(|id| wanted.contains(id)).collect();
        }
        Err(e) => compilation
            .diagnostics
            .push(Diagnostic::error("selector", e.to_string())),
    }
}

/// dbt's eager indirect selection: selecting a node selects the tests that read it, so
/// `etlx test -s stg_events` runs stg_events' tests. Explicitly excluded tests stay out.
pub(super) fn add_tests_of_selected(
    nodes: &IndexMap<String, CompiledNode>,
    ids: &mut HashSet<String>,
    excluded: &HashSet<String>,
) {
    let tests: Vec<String> = nodes
        .values()
        .filter(|n| matches!(n.resource_type, ResourceType::Test | ResourceType::UnitTest))
        .filter(|n| !ids.contains(&n.unique_id))
        .filter(|n| n.depends_on.iter().any(|p| ids.contains(p)))
        .filter(|n| !excluded.contains(&n.unique_id))
        .map(|n| n.unique_id.clone())
        .collect();
    ids.extend(tests);
}

/// `unit`, `generic` (declared in YAML) or `singular` (a SQL file), for `test_type:`.
pub(super) fn test_type(
    resource_type: ResourceType,
    file: &std::path::Path,
) -> Option<&'static str> {
    let in_yaml = file
        .parent()
        .and_then(|p| p.extension())
        .is_some_and(|e| e == "yml" || e == "yaml");
    match resource_type {
        ResourceType::UnitTest => Some("unit"),
        ResourceType::Test if in_yaml => Some("generic"),
        ResourceType::Test => Some("singular"),
        _ => None,
    }
}

pub fn resource_type_of(unique_id: &str) -> Option<ResourceType> {
    ResourceType::parse(unique_id.split('.').next().unwrap_or(""))
}

pub fn candidates<'a>(
    project: &'a Project,
    nodes: &'a IndexMap<String, CompiledNode>,
) -> Vec<Candidate<'a>> {
    let mut out: Vec<Candidate> = nodes
        .values()
        .filter_map(|c| {
            let node = project.nodes.get(&c.unique_id)?;
            Some(Candidate {
                unique_id: &c.unique_id,
                name: &c.name,
                resource_type: c.resource_type,
                fqn: &node.fqn,
                path: crate::diag::display_path(&node.file.path),
                config: &c.config,
                source: None,
                test_type: test_type(c.resource_type, &node.file.path),
                package: node.fqn.first().unwrap_or(&project.name),
            })
        })
        .collect();
    out.extend(project.sources.values().map(|s| Candidate {
        unique_id: &s.unique_id,
        name: &s.name,
        resource_type: ResourceType::Source,
        fqn: &s.fqn,
        path: crate::diag::display_path(&s.file),
        config: &s.config,
        source: Some((&s.source_name, &s.name)),
        test_type: None,
        package: s.fqn.first().unwrap_or(&project.name),
    }));
    out
}

//! Selection: which nodes a command acts on, from `--select`/`--exclude` and resource types,
//! plus the tests of what was selected.

use super::{Compilation, CompileOptions, CompiledNode};
use crate::diag::Diagnostic;
use crate::graph::selector::{self, Candidate, Marks};
use crate::project::{Project, ResourceType};
use indexmap::IndexMap;
use std::collections::HashSet;

/// Selection over models, seeds, tests and sources.
pub(super) fn select_nodes(
    project: &Project,
    compilation: &mut Compilation,
    opts: &CompileOptions,
) {
    let marks = match &opts.state {
        Some(state) => state_marks(project, compilation, state),
        None => Marks::default(),
    };
    let candidates: Vec<Candidate> = candidates(project, &compilation.nodes);
    let graph = &compilation.graph;
    match selector::select(graph, &candidates, &marks, &opts.select, &opts.exclude) {
        Ok((ids, unmatched)) => {
            // An empty `state:modified` is an answer (nothing changed), not a typo.
            let from_state = |t: &String| {
                ["state:", "result:", "source_status:"]
                    .iter()
                    .any(|m| t.contains(m))
            };
            for term in unmatched.into_iter().filter(|t| !from_state(t)) {
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
                false => selector::select(graph, &candidates, &marks, &opts.exclude, &[])
                    .map(|(ids, _)| ids.into_iter().collect())
                    .unwrap_or_default(),
            };
            // `ls` (no resource types) lists exactly what the selectors match.
            if opts.resource_types.contains(&ResourceType::Test) {
                add_tests_of_selected(&compilation.nodes, &mut ids, &excluded);
            }
            let mut wanted: HashSet<String> = ids
                .into_iter()
                .filter(|id| {
                    let rt = resource_type_of(id);
                    opts.resource_types.is_empty()
                        || rt.is_some_and(|r| opts.resource_types.contains(&r))
                })
                .collect();
            if !opts.resource_types.is_empty() {
                add_temp_parents(&compilation.nodes, &mut wanted);
            }
            // Nodes on a cycle are left out; the cycle is an error that stops every command.
            let order = compilation.graph.topo_order();
            compilation.selected = order.into_iter().filter(|id| wanted.contains(id)).collect();
        }
        Err(e) => compilation
            .diagnostics
            .push(Diagnostic::error("selector", e.to_string())),
    }
}

/// The state comparison's sets, against this compilation.
fn state_marks(
    project: &Project,
    compilation: &mut Compilation,
    state: &crate::state::State,
) -> Marks {
    if !state.has_fingerprints() {
        compilation.diagnostics.push(
            Diagnostic::warning(
                "state-without-fingerprints",
                format!(
                    "{}/manifest.json has no etlx fingerprints (written by dbt or an older etlx): state:modified compares file checksums, as dbt does",
                    state.dir.display()
                ),
            )
            .hint("build once with this etlx and keep that target/ as the state"),
        );
    }
    let fingerprints = super::fingerprints(project, compilation);
    let macros = super::macro_digests(project);
    let loaded_at = crate::state::read_loaded_at(&project.target_dir());
    let current = crate::state::Current {
        fingerprints: &fingerprints,
        macros: &macros,
        loaded_at: &loaded_at,
    };
    crate::state::marks(state, &current)
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

/// A `temp` model lives only as long as the run that builds it, so every run that reads one
/// builds it first: `etlx test` on a staging model kept in `temp` builds it, and so does
/// `etlx run -s fct_orders` when fct_orders reads it (through ephemerals too). Unit tests
/// read their fixtures, not the model's relation.
fn add_temp_parents(nodes: &IndexMap<String, CompiledNode>, ids: &mut HashSet<String>) {
    let mut stack: Vec<&str> = ids
        .iter()
        .filter_map(|id| nodes.get(id))
        .filter(|n| n.resource_type != ResourceType::UnitTest)
        .flat_map(|n| n.depends_on.iter().map(String::as_str))
        .collect();
    let mut seen = HashSet::new();
    while let Some(id) = stack.pop() {
        let Some(parent) = nodes.get(id).filter(|_| seen.insert(id)) else {
            continue;
        };
        match parent.config.materialized() {
            "temp" => {
                ids.insert(parent.unique_id.clone());
            }
            "ephemeral" => {}
            _ => continue,
        }
        stack.extend(parent.depends_on.iter().map(String::as_str));
    }
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

//! Config mistakes found before the run, at the place they were made: a materialization
//! that does not exist, a key that is a typo of one etlx knows, an incremental model or a
//! snapshot whose config cannot build. Found at run time they cost a run (after its parents
//! were built) and named no file.

use super::Compilation;
use crate::diag::{Diagnostic, Location};
use crate::project::config::{KNOWN_KEYS, MATERIALIZATIONS};
use crate::project::{Node, Project};

/// Every check, over the selected nodes.
pub(super) fn check_configs(project: &Project, c: &mut Compilation) {
    check_values(project, c);
    check_materializations(project, c);
    check_later_values(project, c);
    check_key_typos(project, c);
    check_build_configs(project, c);
}

/// `config(materialized=["table"], enabled="maybe")`: a value of the wrong kind, set in the
/// model's own file (the project file and YAML are checked when they load).
fn check_values(project: &Project, c: &mut Compilation) {
    let mut found = Vec::new();
    for id in &c.selected {
        let (Some(compiled), Some(node)) = (c.nodes.get(id), project.nodes.get(id)) else {
            continue;
        };
        for (key, value) in &compiled.config.0 {
            // A misspelt materialization gets its own error, with the closest one.
            if key == "materialized" && value.is_string() {
                continue;
            }
            let Some(problem) = crate::project::Config::value_problem(key, value) else {
                continue;
            };
            let Some(at) = node.file.text.find(key.as_str()) else {
                continue;
            };
            found.push(
                Diagnostic::error("config-value", problem)
                    .at(node.file.location(at..at + key.len())),
            );
        }
    }
    c.diagnostics.extend(found);
}

/// Values only a later run would read, checked now: `on_schema_change`.
const ON_SCHEMA_CHANGE: &[&str] = &["ignore", "append_new_columns", "sync_all_columns", "fail"];

fn check_later_values(project: &Project, c: &mut Compilation) {
    let mut found = Vec::new();
    for id in &c.selected {
        let (Some(compiled), Some(node)) = (c.nodes.get(id), project.nodes.get(id)) else {
            continue;
        };
        let Some(value) = compiled.config.get_str("on_schema_change") else {
            continue;
        };
        if ON_SCHEMA_CHANGE.contains(&value) {
            continue;
        }
        let mut d = Diagnostic::error(
            "incremental-config",
            format!(
                "unknown on_schema_change '{value}' for model '{}'",
                node.name
            ),
        )
        .at(config_location(project, node, value));
        d = match crate::diag::closest(value, ON_SCHEMA_CHANGE.iter().copied()) {
            Some(close) => d.hint(format!("did you mean '{close}'?")),
            None => d.hint(format!("use one of: {}", ON_SCHEMA_CHANGE.join(", "))),
        };
        found.push(d);
    }
    c.diagnostics.extend(found);
}

/// `materialized='incremantal'`: an error, with the closest materialization.
fn check_materializations(project: &Project, c: &mut Compilation) {
    let mut found = Vec::new();
    for id in &c.selected {
        let (Some(compiled), Some(node)) = (c.nodes.get(id), project.nodes.get(id)) else {
            continue;
        };
        let materialized = compiled.config.materialized();
        if MATERIALIZATIONS.contains(&materialized) || materialized == "test" {
            continue;
        }
        let mut d = Diagnostic::error(
            "unknown-materialization",
            format!(
                "unknown materialization '{materialized}' for {} '{}'",
                node.resource_type.name(),
                node.name
            ),
        )
        .at(config_location(project, node, materialized));
        d = match crate::diag::closest(materialized, MATERIALIZATIONS.iter().copied()) {
            Some(close) => d.hint(format!("did you mean '{close}'?")),
            None => d.hint(format!("use one of: {}", MATERIALIZATIONS.join(", "))),
        };
        found.push(d);
    }
    c.diagnostics.extend(found);
}

/// `unique_keys=`: a warning when a config key is not one etlx knows but is close to one.
/// Keys far from every known one are left alone: packages and adapters read their own.
fn check_key_typos(project: &Project, c: &mut Compilation) {
    let mut found = Vec::new();
    for id in &c.selected {
        let (Some(compiled), Some(node)) = (c.nodes.get(id), project.nodes.get(id)) else {
            continue;
        };
        for key in compiled.config.0.keys() {
            if KNOWN_KEYS.contains(&key.as_str()) {
                continue;
            }
            let Some(close) = crate::diag::closest(key, KNOWN_KEYS.iter().copied()) else {
                continue;
            };
            found.push(
                Diagnostic::warning(
                    "unknown-config-key",
                    format!(
                        "unknown config key '{key}' for {} '{}' (it is ignored)",
                        node.resource_type.name(),
                        node.name
                    ),
                )
                .at(config_location(project, node, key))
                .hint(format!("did you mean '{close}'?")),
            );
        }
    }
    c.diagnostics.extend(found);
}

/// Where a config key or value was written: in the node's own file, else in its YAML
/// properties, else in the project file; the file's start when it cannot be found.
fn config_location(project: &Project, node: &Node, text: &str) -> Location {
    let yaml = node.patch_path.as_ref().and_then(|p| {
        let source = std::fs::read_to_string(project.root.join(p)).ok()?;
        Some((p.clone(), source))
    });
    let project_file = std::fs::read_to_string(project.root.join(&project.project_file))
        .ok()
        .map(|source| (project.project_file.clone(), source));
    let candidates = std::iter::once((node.file.path.clone(), node.file.text.to_string()))
        .chain(yaml)
        .chain(project_file);
    for (path, source) in candidates {
        if let Some(at) = source.find(text) {
            return Location::new(path, source.into(), at..at + text.len());
        }
    }
    node.file.location(0..0)
}

/// A bad `incremental_strategy`, `unique_key` or `incremental_predicates` only matters once
/// the table exists: the first run would build it and the second fail. A snapshot without a
/// `unique_key` or a strategy would fail at run time, after its parents were built. Say both
/// at compile, at the config key.
fn check_build_configs(project: &Project, c: &mut Compilation) {
    use crate::materialize::{PlanError, Strategy, microbatch::Microbatch, snapshot::Snapshot};
    for id in &c.selected {
        let (Some(compiled), Some(node)) = (c.nodes.get(id), project.nodes.get(id)) else {
            continue;
        };
        let config = &compiled.config;
        let microbatch = config.get_str("incremental_strategy") == Some("microbatch");
        let (code, e, key, hint) = match config.materialized() {
            "incremental" if microbatch => match Microbatch::from_config(config) {
                Err(e @ PlanError::Microbatch { key, .. }) => (
                    "incremental-config",
                    e,
                    key,
                    "microbatch needs event_time, batch_size (hour, day, month, year) and begin",
                ),
                _ => continue,
            },
            "incremental" => match Strategy::from_config(config, project.target.dialect) {
                Err(e @ PlanError::PredicatesWithAppend) => (
                    "incremental-config",
                    e,
                    "incremental_predicates",
                    "set a unique_key (merge), or incremental_strategy='delete+insert' with one",
                ),
                Err(e) => (
                    "incremental-config",
                    e,
                    "incremental_strategy",
                    "append needs no key; merge and delete+insert need a unique_key",
                ),
                Ok(_) => continue,
            },
            "snapshot" => match Snapshot::from_config(config) {
                Err(e @ PlanError::Snapshot { key, .. }) => (
                    "snapshot-config",
                    e,
                    key,
                    "a snapshot needs a unique_key and a strategy: 'timestamp' with updated_at, or 'check' with check_cols",
                ),
                _ => continue,
            },
            _ => continue,
        };
        let text = node.file.text.clone();
        // The key where it is set, else the config call that lacks it.
        let span = [key, "config"]
            .into_iter()
            .find_map(|k| text.find(k).map(|s| s..s + k.len()))
            .unwrap_or_else(|| {
                let s = text.len() - text.trim_start().len();
                s..s
            });
        let at = Location::new(node.file.path.clone(), text, span);
        c.diagnostics
            .push(Diagnostic::error(code, e.to_string()).at(at).hint(hint));
    }
}

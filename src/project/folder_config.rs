//! Folder configs: the `models:`/`seeds:` trees of the project file, applied to each node by
//! its path (`+materialized: table` under `staging:`), the way dbt resolves them.
//!
//! A path in the tree that matches no folder is almost always a typo, so unused paths are
//! reported at their key.

use super::yaml::{Document, Yaml};
use super::*;
use crate::diag::Diagnostics;

/// Apply folder-level `+key` config from the project file. Each resource's config path is its
/// fqn; a config path that matches nothing is reported, since it is almost always a typo.
pub(super) fn apply_project_config(project: &mut Project, doc: &Document, diags: &mut Diagnostics) {
    for (section, resource_type) in [
        ("models", ResourceType::Model),
        ("seeds", ResourceType::Seed),
        ("snapshots", ResourceType::Snapshot),
        ("data_tests", ResourceType::Test),
        ("tests", ResourceType::Test),
        ("sources", ResourceType::Source),
    ] {
        let Some(tree) = doc.root.get(section) else {
            continue;
        };
        let mut used = Vec::new();
        let fqns: Vec<(String, Vec<String>)> = match resource_type {
            ResourceType::Source => project
                .sources
                .values()
                .map(|s| (s.unique_id.clone(), s.fqn.clone()))
                .collect(),
            _ => project
                .nodes
                .values()
                .filter(|n| n.resource_type == resource_type)
                .map(|n| (n.unique_id.clone(), n.fqn.clone()))
                .collect(),
        };
        for (id, fqn) in fqns {
            let layer = folder_config(tree, &fqn, &mut used);
            let config = match resource_type {
                ResourceType::Source => project.sources.get_mut(&id).map(|s| &mut s.config),
                _ => project.nodes.get_mut(&id).map(|n| &mut n.config),
            };
            if let Some(config) = config {
                // Project config is the weakest layer: YAML config already read goes on top.
                let mut merged = layer;
                merged.merge_all(config);
                *config = merged;
            }
        }
        report_unused_paths(tree, section, &project.name, doc, &used, diags);
    }
}

fn folder_config(tree: &Yaml, fqn: &[String], used: &mut Vec<(usize, usize)>) -> Config {
    let mut config = Config::default();
    let mut level = Some(tree);
    let mut parts = fqn.iter();
    while let Some(node) = level {
        for (key, value) in node.entries() {
            if is_config_entry(&key.name, value) {
                config.merge(&key.name, value.to_json());
            }
        }
        used.push((node.pos.line, node.pos.col));
        level = parts.next().and_then(|part| node.get(part));
    }
    config
}

/// In the project file `+key` is always config; a bare known key is config unless it holds a
/// mapping (then it is a folder that happens to share a config key's name).
fn is_config_entry(key: &str, value: &Yaml) -> bool {
    key.starts_with('+') || (Config::is_known(key) && !value.is_map())
}

fn report_unused_paths(
    tree: &Yaml,
    section: &str,
    project_name: &str,
    doc: &Document,
    used: &[(usize, usize)],
    diags: &mut Diagnostics,
) {
    let mut stack = vec![(tree, vec![section.to_string()])];
    while let Some((node, path)) = stack.pop() {
        for (key, value) in node.entries() {
            if key.name.starts_with('+') && !Config::is_known(&key.name) {
                // Custom config keys are allowed (macros may read them), but most are typos.
                if let Some(close) = crate::diag::closest(
                    &Config::normalize_key(&key.name),
                    config::KNOWN_KEYS.iter().copied(),
                ) {
                    diags.push(
                        doc.warning_at(
                            key.pos,
                            "unknown-config",
                            format!("unknown config '{}'", key.name),
                        )
                        .hint(format!("did you mean '+{close}'?")),
                    );
                }
            }
            if is_config_entry(&key.name, value) {
                if let Some(problem) = Config::value_problem(&key.name, &value.to_json()) {
                    diags.push(doc.error_at(value.pos, "config-value", problem));
                }
                continue;
            }
            if !value.is_map() {
                diags.push(
                    doc.warning_at(
                        key.pos,
                        "unknown-key",
                        format!(
                            "'{}' under {} is neither a folder nor a known config",
                            key.name,
                            path.join(".")
                        ),
                    )
                    .hint(format!(
                        "config keys in the project file start with '+': `+{}`",
                        key.name
                    )),
                );
                continue;
            }
            let mut sub = path.clone();
            sub.push(key.name.clone());
            if !used.contains(&(value.pos.line, value.pos.col)) {
                let is_other_package = path.len() == 1 && key.name != project_name;
                let message = if is_other_package {
                    format!(
                        "config path {} matches no resource: '{}' is not this project (`{project_name}`)",
                        sub.join("."),
                        key.name
                    )
                } else {
                    format!("config path {} matches no resource", sub.join("."))
                };
                diags.push(doc.warning_at(key.pos, "unused-config-path", message));
                continue;
            }
            stack.push((value, sub));
        }
    }
}

//! The project file (`etlx_project.yml` or `dbt_project.yml`): its keys and their types.
//!
//! Read before anything else, because it says where models, macros and seeds live; a
//! problem here is reported at its key and loading goes on with defaults.

use crate::sql::StaticAnalysis;

use super::yaml::{Document, Yaml};
use super::*;
use crate::diag::Diagnostics;

/// Project files etlx reads, in order of preference.
pub const PROJECT_FILES: &[&str] = &["etlx_project.yml", "dbt_project.yml"];

/// Every key dbt accepts in `dbt_project.yml` (a project written for dbt loads unchanged; keys
/// for features etlx does not have yet are read and ignored), and etlx's own.
const PROJECT_KEYS: &[&str] = &[
    "name",
    "version",
    "config-version",
    "profile",
    "model-paths",
    "source-paths",
    "macro-paths",
    "seed-paths",
    "data-paths",
    "test-paths",
    "analysis-paths",
    "snapshot-paths",
    "docs-paths",
    "asset-paths",
    "target-path",
    "log-path",
    "packages-install-path",
    "clean-targets",
    "vars",
    "models",
    "seeds",
    "data_tests",
    "tests",
    "sources",
    "snapshots",
    "on-run-start",
    "on-run-end",
    "require-dbt-version",
    "quoting",
    "query-comment",
    "dispatch",
    "flags",
    "dbt-cloud",
    "restrict-access",
    "exposures",
    "metrics",
    "semantic-models",
    "saved-queries",
    "unit_tests",
    "static_analysis",
];

pub(super) struct Header {
    pub(super) name: String,
    pub(super) profile: String,
    pub(super) paths: Paths,
    pub(super) static_analysis: Option<StaticAnalysis>,
}

pub(super) fn read_header(doc: &Document, diags: &mut Diagnostics) -> Option<Header> {
    if !doc.root.is_map() {
        diags.push(doc.error_at(
            doc.root.pos,
            "project-file",
            "the project file must be a mapping of settings",
        ));
        return None;
    }
    doc.check_keys(&doc.root, PROJECT_KEYS, "the project file", diags);
    let name = project_name(doc, diags)?;
    let profile = doc
        .root
        .get("profile")
        .and_then(Yaml::as_scalar_string)
        .unwrap_or_else(|| name.clone());
    let paths = read_paths(doc, diags);
    let static_analysis = doc.root.get("static_analysis").and_then(|n| {
        let parsed = StaticAnalysis::from_json(&n.to_json());
        if parsed.is_none() {
            diags.push(doc.error_at(
                n.pos,
                "config-value",
                "static_analysis must be one of strict, warn, off",
            ));
        }
        parsed
    });
    Some(Header {
        name,
        profile,
        paths,
        static_analysis,
    })
}

/// `name:`, which every relation and unique id is built from: required, and one word.
fn project_name(doc: &Document, diags: &mut Diagnostics) -> Option<String> {
    if let Some(node) = doc
        .root
        .get("name")
        .filter(|n| n.as_scalar_string().is_none())
    {
        diags.push(doc.error_at(
            node.pos,
            "project-file",
            format!("`name:` must be a single word, not {}", node.kind()),
        ));
        return None;
    }
    let Some(name) = doc.root.get("name").and_then(Yaml::as_scalar_string) else {
        diags.push(
            doc.error_at(
                doc.root.pos,
                "project-file",
                "the project file has no `name:`",
            )
            .hint("add `name: my_project` at the top"),
        );
        return None;
    };
    if !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
        diags.push(doc.error_at(
            doc.root.get("name").map_or(doc.root.pos, |n| n.pos),
            "project-file",
            format!("project name '{name}' must contain only letters, digits and underscores"),
        ));
    }
    Some(name)
}

/// The folders of each kind of file, under dbt's current key or its older name.
fn read_paths(doc: &Document, diags: &mut Diagnostics) -> Paths {
    let mut list = |keys: &[&str], default: &str| -> Vec<String> {
        match keys
            .iter()
            .find_map(|k| doc.root.get(k).map(|n| (*k, n)))
            .filter(|(_, n)| !n.is_null())
        {
            Some((key, node)) => folder_list(doc, key, node, diags),
            None => vec![default.to_string()],
        }
    };
    let target = doc
        .root
        .get("target-path")
        .and_then(Yaml::as_scalar_string)
        .unwrap_or_else(|| "target".into());
    Paths {
        models: list(&["model-paths", "source-paths"], "models"),
        macros: list(&["macro-paths"], "macros"),
        seeds: list(&["seed-paths", "data-paths"], "seeds"),
        tests: list(&["test-paths"], "tests"),
        snapshots: list(&["snapshot-paths"], "snapshots"),
        clean_targets: list(&["clean-targets"], &target),
        target,
        packages: super::packages::install_path_in(doc),
    }
}

/// A `*-paths` list. A bare `model-paths: models` or a nested list used to be read as no
/// folders at all, so the project silently compiled nothing: each is an error at its place,
/// and what can be used is kept so that loading goes on to find other problems.
fn folder_list(doc: &Document, key: &str, node: &Yaml, diags: &mut Diagnostics) -> Vec<String> {
    if let Some(single) = node.as_scalar_string() {
        diags.push(
            doc.error_at(
                node.pos,
                "project-file",
                format!("`{key}` must be a list of folders"),
            )
            .hint(format!("write `{key}: [\"{single}\"]`")),
        );
        return vec![single];
    }
    if !matches!(node.value, yaml::Value::Seq(_)) {
        diags.push(doc.error_at(
            node.pos,
            "project-file",
            format!("`{key}` must be a list of folders, not {}", node.kind()),
        ));
        return Vec::new();
    }
    let mut folders = Vec::new();
    for item in node.items() {
        match item.as_scalar_string() {
            Some(folder) => folders.push(folder),
            None => diags.push(doc.error_at(
                item.pos,
                "project-file",
                format!("`{key}` must list folder names, not {}", item.kind()),
            )),
        }
    }
    folders
}

/// The vars every template sees, weakest first: installed packages' own `vars:` (the defaults
/// their macros read), the project's `vars:`, then `--vars`. A block scoped to the project or
/// to a package (`vars: {dbt_date: {time_zone: ...}}`) is read as plain vars: macros are
/// global here, so a package's vars are its macros' vars.
pub(super) fn merged_vars(
    doc: &Document,
    project_name: &str,
    packages: &[super::packages::Installed],
    cli: &serde_json::Map<String, serde_json::Value>,
) -> serde_json::Map<String, serde_json::Value> {
    let mut vars = serde_json::Map::new();
    for package in packages {
        for (key, value) in &package.vars {
            match value.as_object().filter(|_| *key == package.name) {
                Some(scoped) => vars.extend(scoped.clone()),
                None => {
                    vars.insert(key.clone(), value.clone());
                }
            }
        }
    }
    let scoped = |name: &str| name == project_name || packages.iter().any(|p| p.name == name);
    if let Some(node) = doc.root.get("vars") {
        for (key, value) in node.entries() {
            if scoped(&key.name) && value.is_map() {
                for (k, v) in value.entries() {
                    vars.insert(k.name.clone(), v.to_json());
                }
            } else {
                vars.insert(key.name.clone(), value.to_json());
            }
        }
    }
    vars.extend(cli.clone());
    vars
}

pub(super) fn hook_list(node: Option<&Yaml>) -> Vec<String> {
    match node {
        Some(n) => match n.as_scalar_string() {
            Some(s) => vec![s],
            None => n
                .items()
                .iter()
                .filter_map(Yaml::as_scalar_string)
                .collect(),
        },
        None => Vec::new(),
    }
}

//! YAML property files (`models/**/*.yml`): descriptions, columns, config, data tests, sources.
//!
//! These files are where typos hide (a misspelt key is silently ignored by YAML itself), so every
//! key is checked against what dbt accepts, and properties for a model that does not exist are
//! reported with the closest existing name.

use indexmap::IndexMap;

use super::yaml::{Document, Yaml};
use super::{
    Column, Config, Freshness, Period, PeriodUnit, Project, ResourceType, Source, TestDecl,
};
use crate::diag::Diagnostics;

const TOP_KEYS: &[&str] = &[
    "version",
    "models",
    "sources",
    "seeds",
    "macros",
    "unit_tests",
    "exposures",
    "metrics",
    "semantic_models",
    "saved_queries",
    "snapshots",
    "analyses",
    "groups",
    "data_tests",
];
const MODEL_KEYS: &[&str] = &[
    "name",
    "description",
    "config",
    "columns",
    "data_tests",
    "tests",
    "meta",
    "docs",
    "tags",
    "access",
    "group",
    "constraints",
    "latest_version",
    "versions",
    "deprecation_date",
    "time_spine",
];
const SNAPSHOT_KEYS: &[&str] = &[
    "name",
    "description",
    "config",
    "columns",
    "data_tests",
    "tests",
    "meta",
    "docs",
    "tags",
    "group",
    "relation",
];
const COLUMN_KEYS: &[&str] = &[
    "name",
    "description",
    "data_type",
    "data_tests",
    "tests",
    "meta",
    "tags",
    "quote",
    "constraints",
    "policy_tags",
    "granularity",
    "config",
];
const SOURCE_KEYS: &[&str] = &[
    "name",
    "description",
    "schema",
    "database",
    "tables",
    "loader",
    "loaded_at_field",
    "freshness",
    "meta",
    "tags",
    "config",
    "quoting",
    "overrides",
    "location",
    "format",
    "options",
];
const TABLE_KEYS: &[&str] = &[
    "name",
    "description",
    "identifier",
    "loaded_at_field",
    "freshness",
    "columns",
    "data_tests",
    "tests",
    "meta",
    "tags",
    "config",
    "quoting",
    "external",
    "location",
    "format",
    "options",
];

pub fn apply(project: &mut Project, docs: &[Document], diags: &mut Diagnostics) {
    for doc in docs {
        if doc.root.is_null() {
            continue;
        }
        if !doc.root.is_map() {
            diags.push(doc.error_at(
                doc.root.pos,
                "properties",
                "a properties file must be a mapping",
            ));
            continue;
        }
        doc.check_keys(&doc.root, TOP_KEYS, "properties file", diags);
        for (section, resource_type) in [
            ("models", ResourceType::Model),
            ("seeds", ResourceType::Seed),
        ] {
            for entry in list(doc, doc.root.get(section), section, diags) {
                apply_node_properties(project, doc, entry, resource_type, diags);
            }
        }
        for entry in list(doc, doc.root.get("snapshots"), "snapshots", diags) {
            if let Some(relation) = entry.get("relation") {
                define_snapshot(project, doc, entry, relation, diags);
            }
            apply_node_properties(project, doc, entry, ResourceType::Snapshot, diags);
        }
        for entry in list(doc, doc.root.get("sources"), "sources", diags) {
            add_source(project, doc, entry, diags);
        }
        for entry in doc
            .root
            .get("unit_tests")
            .map(Yaml::items)
            .unwrap_or_default()
        {
            super::unit_test_specs::add(project, doc, entry, diags);
        }
    }
}

fn list<'a>(
    doc: &Document,
    node: Option<&'a Yaml>,
    section: &str,
    diags: &mut Diagnostics,
) -> &'a [Yaml] {
    match node {
        Some(n)
            if !n.is_null()
                && n.items().is_empty()
                && !matches!(n.value, super::yaml::Value::Seq(_)) =>
        {
            diags.push(doc.error_at(
                n.pos,
                "properties",
                format!("`{section}:` must be a list, found {}", n.kind()),
            ));
            &[]
        }
        Some(n) => n.items(),
        None => &[],
    }
}

/// The package a file belongs to: the installed package it is in, else the project.
fn package_of_file(project: &Project, file: &std::path::Path) -> String {
    file.strip_prefix(&project.paths.packages)
        .ok()
        .and_then(|rest| rest.components().next())
        .and_then(|dir| {
            let dir = std::path::Path::new(&project.paths.packages).join(dir.as_os_str());
            super::packages::package_name(&project.root.join(dir))
        })
        .unwrap_or_else(|| project.name.clone())
}

fn name_of(doc: &Document, entry: &Yaml, what: &str, diags: &mut Diagnostics) -> Option<String> {
    let name = entry.get("name").and_then(Yaml::as_scalar_string);
    if name.is_none() {
        diags.push(doc.error_at(
            entry.pos,
            "properties",
            format!("{what} entry has no `name:`"),
        ));
    }
    name
}

/// A snapshot defined in YAML (dbt 1.9): `relation: ref('stg_users')` is what it copies. Its
/// template is that `select`, placed on the line of `relation:` so errors point there.
fn define_snapshot(
    project: &mut Project,
    doc: &Document,
    entry: &Yaml,
    relation: &Yaml,
    diags: &mut Diagnostics,
) {
    let Some(name) = name_of(doc, entry, "snapshot", diags) else {
        return;
    };
    let Some(target) = relation.as_scalar_string() else {
        diags.push(doc.error_at(
            relation.pos,
            "properties",
            "`relation:` must be a ref or a source: relation: ref('stg_users')",
        ));
        return;
    };
    if project
        .nodes
        .values()
        .any(|n| n.name == name && n.resource_type.is_relation())
    {
        diags.push(
            doc.error_at(
                entry.pos,
                "duplicate-name",
                format!("snapshot '{name}' is defined here and by a file"),
            )
            .hint("`ref` needs model, seed and snapshot names to be unique: rename one of them"),
        );
        return;
    }
    let padding = "\n".repeat(relation.pos.line.saturating_sub(1));
    let file = super::SourceFile {
        path: doc.path.clone(),
        text: format!("{padding}select * from {{{{ {target} }}}}\n").into(),
    };
    let fqn = vec![project.name.clone(), name.clone()];
    let path = doc.path.clone();
    let package = project.name.clone();
    project.add_node(ResourceType::Snapshot, &package, name, file, path, fqn);
}

fn apply_node_properties(
    project: &mut Project,
    doc: &Document,
    entry: &Yaml,
    resource_type: ResourceType,
    diags: &mut Diagnostics,
) {
    let what = resource_type.name();
    let Some(name) = name_of(doc, entry, what, diags) else {
        return;
    };
    let keys = match resource_type {
        ResourceType::Snapshot => SNAPSHOT_KEYS,
        _ => MODEL_KEYS,
    };
    doc.check_keys(entry, keys, &format!("{what} '{name}'"), diags);
    let unique_id = format!("{what}.{}.{name}", package_of_file(project, &doc.path));
    let Some(node) = project.nodes.get_mut(&unique_id) else {
        let names = project
            .nodes
            .values()
            .filter(|n| n.resource_type == resource_type)
            .map(|n| n.name.as_str());
        let mut d = doc.warning_at(
            entry.get("name").map_or(entry.pos, |n| n.pos),
            "properties-without-file",
            format!("properties for {what} '{name}', but there is no such {what} file"),
        );
        if let Some(close) = crate::diag::closest(&name, names) {
            d = d.hint(format!("did you mean '{close}'?"));
        }
        diags.push(d);
        return;
    };
    if let Some(first) = &node.patch_path {
        let (message, note) = match *first == doc.path {
            true => (
                format!("{what} '{name}' is described twice in this file"),
                "merge the two entries into one".to_string(),
            ),
            false => (
                format!("{what} '{name}' has properties in two files"),
                format!("also described in {}", crate::diag::display_path(first)),
            ),
        };
        diags.push(
            doc.error_at(entry.pos, "duplicate-properties", message)
                .note(note),
        );
        return;
    }
    node.patch_path = Some(doc.path.clone());
    node.description = entry
        .get("description")
        .and_then(Yaml::as_scalar_string)
        .unwrap_or_default();
    node.config
        .merge_all(&config_block(doc, entry.get("config"), diags));
    for key in ["meta", "tags", "docs"] {
        if let Some(v) = entry.get(key) {
            node.config.merge(key, v.to_json());
        }
    }
    let (columns, mut tests) = columns(doc, entry.get("columns"), diags);
    node.columns = columns;
    tests.extend(tests_of(doc, entry, None, diags));
    node.tests = tests;
}

fn config_block(doc: &Document, node: Option<&Yaml>, diags: &mut Diagnostics) -> Config {
    let mut config = Config::default();
    let Some(node) = node else { return config };
    if !node.is_map() && !node.is_null() {
        diags.push(doc.error_at(
            node.pos,
            "properties",
            format!("`config:` must be a mapping, found {}", node.kind()),
        ));
        return config;
    }
    for (key, value) in node.entries() {
        if key.name.starts_with('+') {
            diags.push(
                doc.warning_at(
                    key.pos,
                    "config-key",
                    format!(
                        "'{}': the '+' prefix is only for the project file",
                        key.name
                    ),
                )
                .hint(format!("write `{}:`", key.name.trim_start_matches('+'))),
            );
        }
        let json = value.to_json();
        if let Some(problem) = Config::value_problem(&key.name, &json) {
            diags.push(doc.error_at(value.pos, "config-value", problem));
        }
        config.merge(&key.name, json);
    }
    config
}

fn columns(
    doc: &Document,
    node: Option<&Yaml>,
    diags: &mut Diagnostics,
) -> (IndexMap<String, Column>, Vec<TestDecl>) {
    let mut columns = IndexMap::new();
    let mut tests = Vec::new();
    for entry in list(doc, node, "columns", diags) {
        let Some(name) = name_of(doc, entry, "column", diags) else {
            continue;
        };
        doc.check_keys(entry, COLUMN_KEYS, &format!("column '{name}'"), diags);
        tests.extend(tests_of(doc, entry, Some(&name), diags));
        let meta = entry
            .get("meta")
            .map_or(serde_json::Value::Null, Yaml::to_json);
        columns.insert(
            name.clone(),
            Column {
                description: entry
                    .get("description")
                    .and_then(Yaml::as_scalar_string)
                    .unwrap_or_default(),
                data_type: entry.get("data_type").and_then(Yaml::as_scalar_string),
                tags: entry
                    .get("tags")
                    .map(|t| {
                        t.items()
                            .iter()
                            .filter_map(Yaml::as_scalar_string)
                            .collect()
                    })
                    .unwrap_or_default(),
                meta,
                name,
            },
        );
    }
    (columns, tests)
}

/// `data_tests:` (or the older `tests:`) entries: `- unique`, or `- accepted_values: {values: [...]}`.
fn tests_of(
    doc: &Document,
    entry: &Yaml,
    column: Option<&str>,
    diags: &mut Diagnostics,
) -> Vec<TestDecl> {
    let node = entry.get("data_tests").or_else(|| entry.get("tests"));
    // `data_tests: not_null` reads as no tests at all: say so.
    if let Some(n) = node.filter(|n| !n.is_null() && !matches!(n.value, super::yaml::Value::Seq(_)))
    {
        let one = n.as_scalar_string().unwrap_or_else(|| "not_null".into());
        diags.push(
            doc.error_at(
                n.pos,
                "properties",
                format!("`data_tests:` must be a list, found {}", n.kind()),
            )
            .hint(format!("write `data_tests: [{one}]`")),
        );
    }
    node.map(Yaml::items)
        .unwrap_or_default()
        .iter()
        .filter_map(|t| {
            let (name, args) = match t.as_scalar_string() {
                Some(name) => (name, serde_json::Value::Object(Default::default())),
                None => {
                    let (k, v) = t.entries().first()?;
                    (k.name.clone(), v.to_json())
                }
            };
            Some(TestDecl {
                column: column.map(str::to_string),
                name,
                args,
                location: Some(doc.location(t.pos)),
            })
        })
        .collect()
}

/// A `sources:` entry: what each of its tables inherits.
struct SourceEntry<'a> {
    doc: &'a Document,
    entry: &'a Yaml,
    name: String,
    schema: String,
    config: Config,
}

impl SourceEntry<'_> {
    /// A key of the table, else of its source.
    fn get<'n>(&'n self, table: &'n Yaml, key: &str) -> Option<&'n Yaml> {
        table.get(key).or_else(|| self.entry.get(key))
    }
}

fn add_source(project: &mut Project, doc: &Document, entry: &Yaml, diags: &mut Diagnostics) {
    let Some(source_name) = name_of(doc, entry, "source", diags) else {
        return;
    };
    doc.check_keys(
        entry,
        SOURCE_KEYS,
        &format!("source '{source_name}'"),
        diags,
    );
    let parent = SourceEntry {
        doc,
        entry,
        schema: entry
            .get("schema")
            .and_then(Yaml::as_scalar_string)
            .unwrap_or_else(|| source_name.clone()),
        config: config_block(doc, entry.get("config"), diags),
        name: source_name,
    };
    let tables = list(doc, entry.get("tables"), "tables", diags);
    if tables.is_empty() {
        diags.push(doc.warning_at(
            entry.pos,
            "properties",
            format!("source '{}' declares no tables", parent.name),
        ));
    }
    for table in tables {
        if let Some(source) = source_table(project, &parent, table, diags) {
            project.sources.insert(source.unique_id.clone(), source);
        }
    }
}

/// One table of a source, with what it inherits; `None` (and a diagnostic) when it has no
/// name or is declared twice.
fn source_table(
    project: &Project,
    parent: &SourceEntry,
    table: &Yaml,
    diags: &mut Diagnostics,
) -> Option<Source> {
    let (doc, source_name) = (parent.doc, &parent.name);
    let name = name_of(doc, table, "source table", diags)?;
    doc.check_keys(
        table,
        TABLE_KEYS,
        &format!("source table '{source_name}.{name}'"),
        diags,
    );
    let package = package_of_file(project, &doc.path);
    let unique_id = format!("source.{package}.{source_name}.{name}");
    if project.sources.contains_key(&unique_id) {
        diags.push(doc.error_at(
            table.pos,
            "duplicate-source",
            format!("source table '{source_name}.{name}' is declared twice"),
        ));
        return None;
    }
    let get = |key: &str| parent.get(table, key).and_then(Yaml::as_scalar_string);
    let format = get("format");
    check_source_format(parent, table, format.as_deref(), diags);
    // In this order, so that problems are reported in the order of the file.
    let config = source_config(parent, table, diags);
    if let Some(value) = config.get_str("changed_files")
        && !["fail", "reprocess"].contains(&value)
    {
        diags.push(
            doc.error_at(
                table.pos,
                "source-config",
                format!("unknown changed_files '{value}' on source table '{source_name}.{name}'"),
            )
            .hint("use fail (stop the run and name the file, the default) or reprocess"),
        );
    }
    let (columns, mut tests) = columns(doc, table.get("columns"), diags);
    tests.extend(tests_of(doc, table, None, diags));
    let freshness = parent
        .get(table, "freshness")
        .and_then(|n| freshness(doc, n, diags));
    Some(Source {
        unique_id,
        fqn: vec![package, source_name.clone(), name.clone()],
        source_name: source_name.clone(),
        schema: parent.schema.clone(),
        database: parent
            .entry
            .get("database")
            .and_then(Yaml::as_scalar_string),
        identifier: table
            .get("identifier")
            .and_then(Yaml::as_scalar_string)
            .unwrap_or_else(|| name.clone()),
        location: get("location"),
        format,
        options: source_options(parent, table),
        description: table
            .get("description")
            .and_then(Yaml::as_scalar_string)
            .unwrap_or_default(),
        loaded_at_field: get("loaded_at_field"),
        freshness,
        columns,
        tests,
        config,
        file: doc.path.clone(),
        location_in_yaml: doc.location(table.pos),
        name,
    })
}

fn check_source_format(
    parent: &SourceEntry,
    table: &Yaml,
    format: Option<&str>,
    diags: &mut Diagnostics,
) {
    if let Some(f) = format
        && !["parquet", "csv", "json"].contains(&f)
        && !f.contains("{{")
    {
        let pos = parent.get(table, "format").map_or(table.pos, |n| n.pos);
        diags.push(
            parent
                .doc
                .error_at(pos, "source-format", format!("unknown source format '{f}'"))
                .hint("use parquet, csv or json"),
        );
    }
}

/// Reader options: the source's, overridden key by key by the table's.
fn source_options(
    parent: &SourceEntry,
    table: &Yaml,
) -> serde_json::Map<String, serde_json::Value> {
    let mut options = serde_json::Map::new();
    for node in [parent.entry.get("options"), table.get("options")]
        .into_iter()
        .flatten()
    {
        if let serde_json::Value::Object(map) = node.to_json() {
            options.extend(map);
        }
    }
    options
}

/// The table's config over its source's, with both levels' `tags` and `meta` merged.
fn source_config(parent: &SourceEntry, table: &Yaml, diags: &mut Diagnostics) -> Config {
    let mut config = parent.config.clone();
    config.merge_all(&config_block(parent.doc, table.get("config"), diags));
    for key in ["tags", "meta"] {
        for n in [parent.entry.get(key), table.get(key)]
            .into_iter()
            .flatten()
        {
            config.merge(key, n.to_json());
        }
    }
    config
}

/// `freshness: {warn_after: {count: 12, period: hour}, error_after: ..., filter: ...}`;
/// `freshness: null` turns it off for one table of a source that has it.
fn freshness(doc: &Document, node: &Yaml, diags: &mut Diagnostics) -> Option<Freshness> {
    if node.is_null() {
        return None;
    }
    doc.check_keys(
        node,
        &["warn_after", "error_after", "filter"],
        "freshness",
        diags,
    );
    let after = |key: &str, diags: &mut Diagnostics| -> Option<Period> {
        let n = node.get(key).filter(|n| !n.is_null())?;
        let count = n.get("count").and_then(|c| match c.value {
            super::yaml::Value::Int(i) if i > 0 => Some(i as u64),
            _ => None,
        });
        let unit = n
            .get("period")
            .and_then(Yaml::as_str)
            .and_then(PeriodUnit::parse);
        match (count, unit) {
            (Some(count), Some(period)) => Some(Period { count, period }),
            _ => {
                diags.push(
                    doc.error_at(
                        n.pos,
                        "freshness",
                        format!("`{key}` needs a positive `count` and a `period`"),
                    )
                    .hint(format!(
                        "write {key}: {{count: 12, period: hour}} (period: minute, hour or day)"
                    )),
                );
                None
            }
        }
    };
    let warn_after = after("warn_after", diags);
    let error_after = after("error_after", diags);
    if warn_after.is_none() && error_after.is_none() {
        return None;
    }
    Some(Freshness {
        warn_after,
        error_after,
        filter: node.get("filter").and_then(Yaml::as_scalar_string),
    })
}

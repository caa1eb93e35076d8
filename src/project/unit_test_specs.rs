//! Unit tests declared in YAML (`unit_tests:`), read into typed cases.
//!
//! A unit test feeds a model hand-written rows for each of its inputs and states the rows it
//! must return. It is read here with every mistake reported at its YAML line (a missing
//! `model`, an input that is not `ref()`/`source()`/`this`, rows that are not a list), so the
//! runner in `unit_test` only ever sees well-formed cases.

use std::path::Path;

use indexmap::IndexMap;

use super::yaml::{Document, Yaml};
use super::{Config, Node, Project, ResourceType, SourceFile};
use crate::diag::{Diagnostic, Diagnostics, Location};

#[derive(Debug, Clone)]
pub struct UnitTest {
    pub unique_id: String,
    pub name: String,
    /// The model under test, by name.
    pub model: String,
    pub given: Vec<Given>,
    pub expect: Rows,
    /// `overrides: {vars: ...}`, on top of the project's vars.
    pub vars: serde_json::Map<String, serde_json::Value>,
    /// `overrides: {macros: {is_incremental: true}}`.
    pub is_incremental: bool,
    pub location: Location,
}

#[derive(Debug, Clone)]
pub struct Given {
    pub input: Input,
    pub rows: Rows,
    pub location: Location,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Input {
    Ref(String),
    Source(String, String),
    /// The model's own table, for incremental models.
    This,
}

impl std::fmt::Display for Input {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Input::Ref(name) => write!(f, "ref('{name}')"),
            Input::Source(s, t) => write!(f, "source('{s}', '{t}')"),
            Input::This => write!(f, "this"),
        }
    }
}

/// Rows as written: a list of mappings (`format: dict`, also what CSV is read into), or a
/// query (`format: sql`) for what rows cannot say, such as an empty input with typed columns.
#[derive(Debug, Clone)]
pub enum Rows {
    Dicts(Vec<IndexMap<String, serde_json::Value>>),
    Sql(String),
}

const KEYS: &[&str] = &[
    "name",
    "model",
    "description",
    "given",
    "expect",
    "overrides",
    "config",
    "versions",
];

/// Read one `unit_tests:` entry; on success it becomes a `UnitTest` and a node for selection.
pub fn add(project: &mut Project, doc: &Document, entry: &Yaml, diags: &mut Diagnostics) {
    let errors = diags.error_count();
    doc.check_keys(entry, KEYS, "unit test", diags);
    let name = required_str(doc, entry, "name", diags);
    let model = required_str(doc, entry, "model", diags);
    let given = entry
        .get("given")
        .map(|g| given(project, doc, g, diags))
        .unwrap_or_default();
    let expect = match entry.get("expect") {
        Some(e) => rows(project, doc, e, diags),
        None => {
            diags.push(doc.error_at(
                entry.pos,
                "unit-test",
                "a unit test needs `expect: {rows: [...]}`",
            ));
            None
        }
    };
    let overrides = entry.get("overrides");
    let vars = overrides
        .and_then(|o| o.get("vars"))
        .map(Yaml::to_json)
        .and_then(|v| v.as_object().cloned())
        .unwrap_or_default();
    let is_incremental = overrides
        .and_then(|o| o.get("macros"))
        .and_then(|m| m.get("is_incremental"))
        .is_some_and(|v| v.to_json() == serde_json::Value::Bool(true));
    let (Some(name), Some(model), Some(expect)) = (name, model, expect) else {
        return;
    };
    if diags.error_count() > errors {
        return;
    }
    let unique_id = format!("unit_test.{}.{model}.{name}", project.name);
    let node = selection_node(project, doc, entry, &unique_id, &name, &model);
    project.nodes.insert(unique_id.clone(), node);
    project.unit_tests.insert(
        unique_id.clone(),
        UnitTest {
            unique_id,
            name,
            model,
            given,
            expect,
            vars,
            is_incremental,
            location: doc.location(entry.pos),
        },
    );
}

/// The node a unit test is selected and reported by (`etlx test -s test_name`).
fn selection_node(
    project: &Project,
    doc: &Document,
    entry: &Yaml,
    unique_id: &str,
    name: &str,
    model: &str,
) -> Node {
    let mut config = Config::default();
    if let Some(c) = entry.get("config") {
        for (key, value) in c.entries() {
            config.merge(&key.name, value.to_json());
        }
    }
    Node {
        unique_id: unique_id.to_string(),
        name: name.to_string(),
        resource_type: ResourceType::UnitTest,
        file: SourceFile {
            path: doc.path.clone(),
            text: doc.text.clone(),
        },
        path: doc.path.clone(),
        fqn: vec![project.name.clone(), model.to_string(), name.to_string()],
        config,
        description: entry
            .get("description")
            .and_then(Yaml::as_scalar_string)
            .unwrap_or_default(),
        columns: IndexMap::new(),
        tests: Vec::new(),
        patch_path: None,
        tested: Some(super::Tested {
            relation: format!("model {model}"),
            attached_node: None,
            column: None,
            declared_at: None,
        }),
    }
}

/// After every file is read: each unit test must name a model that exists.
pub fn check_models(project: &Project, diags: &mut Diagnostics) {
    let models: Vec<&str> = project
        .nodes
        .values()
        .filter(|n| n.resource_type == ResourceType::Model)
        .map(|n| n.name.as_str())
        .collect();
    for test in project.unit_tests.values() {
        if models.contains(&test.model.as_str()) {
            continue;
        }
        let mut d = Diagnostic::error(
            "unit-test",
            format!(
                "unit test '{}' tests model '{}', which does not exist",
                test.name, test.model
            ),
        )
        .at(test.location.clone());
        if let Some(close) = crate::diag::closest(&test.model, models.iter().copied()) {
            d = d.hint(format!("did you mean '{close}'?"));
        }
        diags.push(d);
    }
}

fn required_str(
    doc: &Document,
    entry: &Yaml,
    key: &str,
    diags: &mut Diagnostics,
) -> Option<String> {
    let value = entry.get(key).and_then(Yaml::as_scalar_string);
    if value.is_none() {
        diags.push(doc.error_at(
            entry.pos,
            "unit-test",
            format!("a unit test needs `{key}:`"),
        ));
    }
    value
}

fn given(project: &Project, doc: &Document, list: &Yaml, diags: &mut Diagnostics) -> Vec<Given> {
    let mut out = Vec::new();
    for item in list.items() {
        let Some(text) = item.get("input").and_then(Yaml::as_str) else {
            diags.push(doc.error_at(
                item.pos,
                "unit-test",
                "each `given` entry needs `input: ref('model')`, `source('name', 'table')` or `this`",
            ));
            continue;
        };
        let Some(input) = parse_input(text) else {
            let at = item.get("input").map_or(item.pos, |n| n.pos);
            diags.push(
                doc.error_at(at, "unit-test", format!("cannot read input '{text}'"))
                    .hint("write ref('model'), source('name', 'table') or this"),
            );
            continue;
        };
        if let Some(rows) = rows(project, doc, item, diags) {
            out.push(Given {
                input,
                rows,
                location: doc.location(item.pos),
            });
        }
    }
    out
}

/// `ref('x')`, `ref("x")`, `source('a', 'b')` or `this`.
fn parse_input(text: &str) -> Option<Input> {
    let text = text.trim();
    if text == "this" {
        return Some(Input::This);
    }
    let (call, rest) = text.split_once('(')?;
    let args: Vec<String> = rest
        .strip_suffix(')')?
        .split(',')
        .map(|a| a.trim().trim_matches(|c| c == '\'' || c == '"').to_string())
        .filter(|a| !a.is_empty())
        .collect();
    match (call.trim(), args.as_slice()) {
        ("ref", [name]) => Some(Input::Ref(name.clone())),
        ("source", [s, t]) => Some(Input::Source(s.clone(), t.clone())),
        _ => None,
    }
}

/// `rows:` of a `given` or `expect`, in `format: dict` (default), `csv` or `sql`; CSV may be
/// inline or a `fixture:` file in `<test-path>/fixtures/`.
fn rows(project: &Project, doc: &Document, entry: &Yaml, diags: &mut Diagnostics) -> Option<Rows> {
    let format = entry.get("format").and_then(Yaml::as_str).unwrap_or("dict");
    let rows = entry.get("rows");
    let fail = |diags: &mut Diagnostics, at: &Yaml, message: String| {
        diags.push(doc.error_at(at.pos, "unit-test", message));
        None
    };
    match format {
        "dict" => match rows {
            None => Some(Rows::Dicts(Vec::new())),
            Some(r) if r.is_null() => Some(Rows::Dicts(Vec::new())),
            Some(r) => {
                let mut out = Vec::new();
                for row in r.items() {
                    match row.to_json() {
                        serde_json::Value::Object(map) => out.push(map.into_iter().collect()),
                        _ => {
                            return fail(
                                diags,
                                row,
                                "each row must be a mapping of column: value".into(),
                            );
                        }
                    }
                }
                if !matches!(r.value, super::yaml::Value::Seq(_)) {
                    return fail(
                        diags,
                        r,
                        format!("`rows` must be a list of mappings, found {}", r.kind()),
                    );
                }
                Some(Rows::Dicts(out))
            }
        },
        "csv" => {
            let text = match (
                rows.and_then(Yaml::as_str),
                entry.get("fixture").and_then(Yaml::as_str),
            ) {
                (Some(text), _) => text.to_string(),
                (None, Some(fixture)) => match read_fixture(project, fixture, "csv") {
                    Ok(text) => text,
                    Err(message) => return fail(diags, entry, message),
                },
                (None, None) => {
                    return fail(
                        diags,
                        entry,
                        "format: csv needs `rows: |` with CSV text, or `fixture: name`".into(),
                    );
                }
            };
            match parse_csv(&text) {
                Ok(rows) => Some(Rows::Dicts(rows)),
                Err(message) => fail(diags, entry, message),
            }
        }
        "sql" => match (
            rows.and_then(Yaml::as_str),
            entry.get("fixture").and_then(Yaml::as_str),
        ) {
            (Some(sql), _) => Some(Rows::Sql(sql.to_string())),
            (None, Some(fixture)) => match read_fixture(project, fixture, "sql") {
                Ok(sql) => Some(Rows::Sql(sql)),
                Err(message) => fail(diags, entry, message),
            },
            (None, None) => fail(
                diags,
                entry,
                "format: sql needs `rows: |` with a query, or `fixture: name`".into(),
            ),
        },
        other => fail(
            diags,
            entry.get("format").unwrap_or(entry),
            format!("unknown rows format '{other}'; use dict, csv or sql"),
        ),
    }
}

fn read_fixture(project: &Project, name: &str, ext: &str) -> Result<String, String> {
    let candidates: Vec<_> = project
        .paths
        .tests
        .iter()
        .map(|t| Path::new(t).join("fixtures").join(format!("{name}.{ext}")))
        .collect();
    for path in &candidates {
        if let Ok(text) = std::fs::read_to_string(project.root.join(path)) {
            return Ok(text);
        }
    }
    Err(format!(
        "fixture '{name}' not found; looked for {}",
        candidates
            .iter()
            .map(|p| p.display().to_string())
            .collect::<Vec<_>>()
            .join(", ")
    ))
}

/// CSV cells become JSON values the way a reader of the CSV means them: `12` a number,
/// an empty cell null, everything else text.
fn parse_csv(text: &str) -> Result<Vec<IndexMap<String, serde_json::Value>>, String> {
    let mut reader = csv::ReaderBuilder::new()
        .trim(csv::Trim::All)
        .from_reader(text.trim().as_bytes());
    let headers = reader
        .headers()
        .map_err(|e| format!("cannot read the CSV header: {e}"))?
        .clone();
    let mut out = Vec::new();
    for (i, record) in reader.records().enumerate() {
        let record = record.map_err(|e| format!("CSV row {}: {e}", i + 1))?;
        let row = headers
            .iter()
            .zip(record.iter())
            .map(|(h, cell)| (h.to_string(), csv_value(cell)))
            .collect();
        out.push(row);
    }
    Ok(out)
}

fn csv_value(cell: &str) -> serde_json::Value {
    if cell.is_empty() {
        return serde_json::Value::Null;
    }
    if let Ok(i) = cell.parse::<i64>() {
        return i.into();
    }
    if let Ok(f) = cell.parse::<f64>()
        && let Some(n) = serde_json::Number::from_f64(f)
    {
        return n.into();
    }
    cell.into()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn inputs_read_like_template_calls() {
        assert_eq!(parse_input("ref('a')"), Some(Input::Ref("a".into())));
        assert_eq!(
            parse_input("source(\"l\", 'events')"),
            Some(Input::Source("l".into(), "events".into()))
        );
        assert_eq!(parse_input(" this "), Some(Input::This));
        assert_eq!(parse_input("ref('a', 'b', 'c')"), None);
        assert_eq!(parse_input("model_a"), None);
    }

    #[test]
    fn csv_cells_are_typed() {
        let rows = parse_csv("id, name, score\n1, ann, 2.5\n2,,\n").unwrap();
        assert_eq!(rows[0]["id"], serde_json::json!(1));
        assert_eq!(rows[0]["score"], serde_json::json!(2.5));
        assert_eq!(rows[1]["name"], serde_json::Value::Null);
    }
}

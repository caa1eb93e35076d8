//! Generic data tests declared in YAML, turned into test nodes.
//!
//! dbt users write `data_tests: [unique, not_null]` under a column. Each such entry becomes a
//! node of its own whose template calls the test macro (`test_unique(model=ref('orders'),
//! column_name='id')`), so rendering, the dependency graph, selection and compiled files treat
//! tests exactly like the singular tests written as SQL files.

use std::path::PathBuf;
use std::sync::Arc;

use indexmap::IndexMap;

use super::{Config, Node, Project, ResourceType, SourceFile, TestDecl};
use crate::diag::{Diagnostic, Diagnostics};

/// Keys of a test entry that configure the test rather than being arguments of its macro.
const CONFIG_KEYS: &[&str] = &[
    "severity",
    "where",
    "limit",
    "warn_if",
    "error_if",
    "store_failures",
    "store_failures_as",
    "tags",
    "enabled",
    "meta",
    "schema",
    "alias",
];

/// The relation a test checks, as a template expression.
struct Subject {
    expression: String,
    /// `orders`, or `landing_events` for a source table.
    name: String,
    is_source: bool,
    folder: PathBuf,
    /// `model orders` or `source landing.events`.
    display: String,
    unique_id: String,
}

pub fn add_generic_tests(project: &mut Project, diags: &mut Diagnostics) {
    let mut subjects: Vec<(Subject, Vec<TestDecl>, Option<PathBuf>)> = Vec::new();
    for node in project.nodes.values() {
        if node.tests.is_empty() {
            continue;
        }
        subjects.push((
            Subject {
                expression: format!("ref({})", quote(&node.name)),
                name: node.name.clone(),
                is_source: false,
                display: format!("{} {}", node.resource_type.name(), node.name),
                unique_id: node.unique_id.clone(),
                folder: node
                    .file
                    .path
                    .parent()
                    .map(PathBuf::from)
                    .unwrap_or_default(),
            },
            node.tests.clone(),
            node.patch_path.clone(),
        ));
    }
    for source in project.sources.values() {
        if source.tests.is_empty() {
            continue;
        }
        subjects.push((
            Subject {
                expression: format!(
                    "source({}, {})",
                    quote(&source.source_name),
                    quote(&source.name)
                ),
                name: format!("{}_{}", source.source_name, source.name),
                is_source: true,
                display: format!("source {}.{}", source.source_name, source.name),
                unique_id: source.unique_id.clone(),
                folder: source.file.parent().map(PathBuf::from).unwrap_or_default(),
            },
            source.tests.clone(),
            Some(source.file.clone()),
        ));
    }
    let mut added: IndexMap<String, Node> = IndexMap::new();
    for (subject, tests, yaml) in subjects {
        for decl in tests {
            if let Some(node) = test_node(project, &subject, &decl, yaml.as_ref(), diags) {
                let mut node = node;
                if added.contains_key(&node.unique_id)
                    || project.nodes.contains_key(&node.unique_id)
                {
                    let suffix = short_hash(&format!("{:?}{}", decl.args, added.len()));
                    node.name = format!("{}_{suffix}", node.name);
                    node.unique_id = format!("{}_{suffix}", node.unique_id);
                }
                added.insert(node.unique_id.clone(), node);
            }
        }
    }
    project.nodes.extend(added);
}

fn test_node(
    project: &Project,
    subject: &Subject,
    decl: &TestDecl,
    yaml: Option<&PathBuf>,
    diags: &mut Diagnostics,
) -> Option<Node> {
    // `dbt_utils.unique_combination_of_columns` is etlx's built-in of the same name.
    let test = decl
        .name
        .rsplit('.')
        .next()
        .unwrap_or(&decl.name)
        .to_string();
    let macro_name = format!("test_{test}");
    if !project.macros.contains_key(&macro_name) {
        let known = project
            .macros
            .values()
            .filter(|m| m.is_test)
            .map(|m| m.name.trim_start_matches("test_"));
        let mut d = Diagnostic::error(
            "unknown-test",
            format!("there is no generic test named '{test}'"),
        )
        .hint(match crate::diag::closest(&test, known) {
            Some(close) => format!("did you mean '{close}'?"),
            None => {
                "define it with {% test name(model, column_name) %} in macros/ or tests/generic/"
                    .to_string()
            }
        });
        if let Some(at) = &decl.location {
            d = d.at(at.clone());
        }
        diags.push(d);
        return None;
    }
    let (args, config) = split_args(&decl.args);
    let missing: Vec<String> = required_parameters(project, &macro_name)
        .into_iter()
        .filter(|p| !args.contains_key(p))
        .collect();
    if !missing.is_empty() {
        let list = missing
            .iter()
            .map(|m| format!("`{m}`"))
            .collect::<Vec<_>>()
            .join(", ");
        let mut d = Diagnostic::error(
            "test-arguments",
            format!("test '{test}' needs {list}, which this entry does not give"),
        )
        .hint(format!(
            "give them under the test: `- {test}: {{{}: ...}}`",
            missing[0]
        ));
        if let Some(at) = &decl.location {
            d = d.at(at.clone());
        }
        diags.push(d);
        return None;
    }
    let name = test_name(&test, subject, decl.column.as_deref(), &args);
    let text = template(&macro_name, subject, decl.column.as_deref(), &args, &config);
    let yaml = yaml
        .cloned()
        .unwrap_or_else(|| subject.folder.join("schema.yml"));
    let path = yaml.join(format!("{name}.sql"));
    let mut fqn = vec![project.name.clone()];
    fqn.extend(
        subject
            .folder
            .iter()
            .skip(1)
            .map(|c| c.to_string_lossy().into_owned()),
    );
    fqn.push(name.clone());
    Some(Node {
        unique_id: format!("test.{}.{name}", project.name),
        name,
        resource_type: ResourceType::Test,
        file: SourceFile {
            path: path.clone(),
            text: Arc::from(text),
        },
        path: path
            .strip_prefix(subject.folder.iter().next().unwrap_or_default())
            .map(PathBuf::from)
            .unwrap_or(path),
        fqn,
        config,
        description: String::new(),
        columns: IndexMap::new(),
        tests: Vec::new(),
        patch_path: None,
        tested: Some(super::Tested {
            relation: subject.display.clone(),
            attached_node: Some(subject.unique_id.clone()),
            column: decl.column.clone(),
            declared_at: decl.location.clone(),
        }),
    })
}

/// The parameters of a generic test's macro that have no default, but `model` and
/// `column_name` (which etlx passes): what a YAML entry must give. Read from the macro's
/// `{% test name(...) %}` line.
fn required_parameters(project: &Project, macro_name: &str) -> Vec<String> {
    let Some(def) = project.macros.get(macro_name) else {
        return Vec::new();
    };
    let Some(file) = project.macro_files.iter().find(|f| f.path == def.path) else {
        return Vec::new();
    };
    let name = macro_name.trim_start_matches("test_");
    let text = &file.text;
    let Some(start) = super::macros::macro_definitions(text)
        .into_iter()
        .find(|d| d.is_test && d.name == name)
        .map(|d| d.span.end)
    else {
        return Vec::new();
    };
    let Some(open) = text[start..].find('(').map(|i| start + i + 1) else {
        return Vec::new();
    };
    let mut depth = 1;
    let mut params = vec![String::new()];
    for c in text[open..].chars() {
        match c {
            '(' | '[' | '{' => depth += 1,
            ')' | ']' | '}' => {
                depth -= 1;
                if depth == 0 {
                    break;
                }
            }
            ',' if depth == 1 => {
                params.push(String::new());
                continue;
            }
            _ => {}
        }
        if let Some(last) = params.last_mut() {
            last.push(c);
        }
    }
    params
        .iter()
        .map(|p| p.trim())
        .filter(|p| !p.is_empty() && !p.contains('='))
        .filter(|p| !matches!(*p, "model" | "column_name"))
        .map(str::to_string)
        .collect()
}

/// Arguments for the macro, and the test's config (`config:` and the keys dbt allows beside
/// the arguments). `arguments:` holds the arguments in newer dbt projects.
fn split_args(args: &serde_json::Value) -> (serde_json::Map<String, serde_json::Value>, Config) {
    let mut config = Config::default();
    let mut out = serde_json::Map::new();
    let Some(map) = args.as_object() else {
        return (out, config);
    };
    for (key, value) in map {
        match key.as_str() {
            "config" => {
                for (k, v) in value.as_object().into_iter().flatten() {
                    config.merge(k, v.clone());
                }
            }
            "arguments" => out.extend(value.as_object().cloned().unwrap_or_default()),
            k if CONFIG_KEYS.contains(&k) => config.merge(k, value.clone()),
            _ => {
                out.insert(key.clone(), value.clone());
            }
        }
    }
    (out, config)
}

/// dbt's naming: `not_null_orders_id`, `accepted_values_orders_status__a__b`; long names are
/// cut and made unique with a hash.
fn test_name(
    test: &str,
    subject: &Subject,
    column: Option<&str>,
    args: &serde_json::Map<String, serde_json::Value>,
) -> String {
    let mut name = String::new();
    if subject.is_source {
        name.push_str("source_");
    }
    name.push_str(test);
    name.push('_');
    name.push_str(&subject.name);
    if let Some(c) = column {
        name.push('_');
        name.push_str(c);
    }
    let mut values = Vec::new();
    for value in args.values() {
        flatten(value, &mut values);
    }
    if !values.is_empty() {
        name.push_str("__");
        name.push_str(&values.join("__"));
    }
    let clean: String = name
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '_' {
                c
            } else {
                '_'
            }
        })
        .collect();
    if clean.len() <= 80 {
        return clean;
    }
    format!("{}_{}", &clean[..60], short_hash(&clean))
}

fn flatten(value: &serde_json::Value, out: &mut Vec<String>) {
    match value {
        serde_json::Value::Array(items) => items.iter().for_each(|i| flatten(i, out)),
        serde_json::Value::Object(map) => map.values().for_each(|v| flatten(v, out)),
        serde_json::Value::String(s) => out.push(s.clone()),
        serde_json::Value::Null => {}
        other => out.push(other.to_string()),
    }
}

fn short_hash(text: &str) -> String {
    super::hex_sha256(text.as_bytes())[..16].to_string()
}

/// The template of a generic test node: one call of the test macro.
fn template(
    macro_name: &str,
    subject: &Subject,
    column: Option<&str>,
    args: &serde_json::Map<String, serde_json::Value>,
    config: &Config,
) -> String {
    // The filter is rendered as the test renders, as dbt does: it may call ref() or var(),
    // so a test of a large incremental table can look at the latest batch only.
    let (filter, model) = match config.get_str("where") {
        Some(filter) => (
            format!("{{% set __etlx_filter %}}{filter}{{% endset %}}\n"),
            format!("__etlx_where({}, __etlx_filter)", subject.expression),
        ),
        None => (String::new(), subject.expression.clone()),
    };
    let mut call = vec![format!("model={model}")];
    if let Some(c) = column {
        call.push(format!("column_name={}", quote(c)));
    }
    for (key, value) in args {
        call.push(format!("{key}={}", argument(key, value)));
    }
    let json = serde_json::Value::Object(args.clone()).to_string();
    format!(
        "{filter}{{%- set __etlx_args = fromjson({}) -%}}\n{{{{ {macro_name}({}) }}}}\n",
        quote(&json),
        call.join(", ")
    )
}

/// An argument as a template expression. dbt evaluates `to: ref('customers')` and
/// `"{{ var('x') }}"` as Jinja; every other value is passed as the YAML gave it.
fn argument(key: &str, value: &serde_json::Value) -> String {
    if let Some(text) = value.as_str() {
        let trimmed = text.trim();
        if let Some(inner) = trimmed
            .strip_prefix("{{")
            .and_then(|t| t.strip_suffix("}}"))
        {
            return inner.trim().to_string();
        }
        if trimmed.starts_with("ref(") || trimmed.starts_with("source(") {
            return trimmed.to_string();
        }
    }
    format!("__etlx_args[{}]", quote(key))
}

/// A string literal for templates.
fn quote(text: &str) -> String {
    serde_json::Value::from(text).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_follow_dbt() {
        let subject = Subject {
            expression: "ref('orders')".into(),
            name: "orders".into(),
            is_source: false,
            folder: PathBuf::from("models"),
            display: "model orders".into(),
            unique_id: "model.p.orders".into(),
        };
        let args = serde_json::json!({"values": ["a", "b"]});
        assert_eq!(
            test_name(
                "accepted_values",
                &subject,
                Some("status"),
                args.as_object().unwrap()
            ),
            "accepted_values_orders_status__a__b"
        );
        assert_eq!(
            test_name("not_null", &subject, Some("id"), &Default::default()),
            "not_null_orders_id"
        );
    }

    #[test]
    fn config_keys_are_not_arguments() {
        let (args, config) = split_args(&serde_json::json!({
            "arguments": {"values": [1]},
            "severity": "warn",
            "config": {"where": "x > 1"},
        }));
        assert_eq!(args.keys().collect::<Vec<_>>(), ["values"]);
        assert_eq!(config.get_str("severity"), Some("warn"));
        assert_eq!(config.get_str("where"), Some("x > 1"));
    }
}

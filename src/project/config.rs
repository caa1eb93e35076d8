//! Node configuration and its precedence rules.
//!
//! A model's config is assembled from three layers, weakest first: folder-level `+key` entries in
//! the project file, the `config:` block in YAML properties, and `config(...)` calls in the SQL.
//! dbt users rely on the exact merge semantics (tags and hooks accumulate, `meta` merges, the
//! rest is replaced), so they live here in one place.

use indexmap::IndexMap;
use serde::Serialize;
use serde_json::Value;

/// Config keys etlx understands; anything else is kept (adapters and macros may read it)
/// but an unknown key in the project file is reported as a likely typo.
pub const KNOWN_KEYS: &[&str] = &[
    "materialized",
    "schema",
    "database",
    "alias",
    "tags",
    "enabled",
    "unique_key",
    "incremental_strategy",
    "on_schema_change",
    "full_refresh",
    "pre_hook",
    "post_hook",
    "meta",
    "docs",
    "persist_docs",
    "static_analysis",
    "dist",
    "sort",
    "sort_type",
    "backup",
    "bind",
    "location",
    "partition_by",
    "format",
    "column_types",
    "delimiter",
    "quote_columns",
    "severity",
    "warn_if",
    "error_if",
    "where",
    "limit",
    "store_failures",
    "contract",
    "grants",
    "group",
    "access",
    // snapshots
    "strategy",
    "updated_at",
    "check_cols",
    "target_schema",
    "target_database",
    "hard_deletes",
    "invalidate_hard_deletes",
    "snapshot_meta_column_names",
    "dbt_valid_to_current",
    "batch_size",
    // more of dbt's own, read by dbt's macros or adapters (keys close to one of these would
    // otherwise be taken for typos of another)
    "incremental_predicates",
    "sql_header",
    "event_time",
    "lookback",
    "begin",
    "concurrent_batches",
    "on_configuration_change",
    "quoting",
    "identifier",
    "column_name",
    "fail_calc",
    "store_failures_as",
    "indexes",
    "unlogged",
    "auto_refresh",
    "file_format",
    "partition_by",
    "cluster_by",
    "plugin",
    "overwrite",
    "glue_database",
    "options",
    // etlx's own, on sources: the file ledger (`incremental_files`, `changed_files`)
    "incremental_files",
    "changed_files",
];

/// What `materialized` may be: the materializations `materialize` knows how to build.
pub const MATERIALIZATIONS: &[&str] = &[
    "view",
    "table",
    "incremental",
    "ephemeral",
    "temp",
    "external",
    "seed",
    "snapshot",
];

/// Keys whose values accumulate across layers instead of being replaced.
const ADDITIVE: &[&str] = &["tags", "pre_hook", "post_hook"];

#[derive(Debug, Clone, Default, PartialEq, Serialize)]
#[serde(transparent)]
pub struct Config(pub IndexMap<String, Value>);

impl Config {
    /// dbt spells hooks `pre-hook` in YAML and `pre_hook` in SQL; both mean the same.
    pub fn normalize_key(key: &str) -> String {
        key.trim_start_matches('+').replace('-', "_")
    }

    /// What is wrong with a config value whose kind etlx depends on, if anything. Without
    /// this, `materialized: tabel` or `enabled: maybe` compiled as if they were not there and
    /// failed (or not) much later, far from the line that said it.
    pub fn value_problem(key: &str, value: &Value) -> Option<String> {
        let kind = match value {
            Value::Null => "null",
            Value::Bool(_) => "a boolean",
            Value::Number(_) => "a number",
            Value::String(_) => "a string",
            Value::Array(_) => "a list",
            Value::Object(_) => "a mapping",
        };
        // A templated value (`+enabled: "{{ target.name == 'prod' }}"`) is known only once
        // rendered.
        if value
            .as_str()
            .is_some_and(|s| s.contains("{{") || s.contains("{%"))
        {
            return None;
        }
        match Self::normalize_key(key).as_str() {
            "materialized" => match value.as_str() {
                Some(m) if MATERIALIZATIONS.contains(&m) => None,
                Some(m) => Some(format!(
                    "unknown materialization '{m}'; use one of {}",
                    MATERIALIZATIONS.join(", ")
                )),
                None => Some(format!("`materialized` must be a string, not {kind}")),
            },
            key @ ("enabled" | "full_refresh") => {
                let mut probe = Config::default();
                probe.merge(key, value.clone());
                (probe.get_bool(key).is_none() && !value.is_null())
                    .then(|| format!("`{key}` must be true or false, not {value}"))
            }
            key @ ("schema" | "alias" | "database") => (value.is_array() || value.is_object())
                .then(|| format!("`{key}` must be a single name, not {kind}")),
            "column_types" => match value {
                Value::Object(types) if types.values().all(Value::is_string) => None,
                Value::Object(_) => Some("each of `column_types` must be a type name".into()),
                Value::Null => None,
                _ => Some(format!(
                    "`column_types` must map column names to types, not {kind}"
                )),
            },
            _ => None,
        }
    }

    pub fn is_known(key: &str) -> bool {
        KNOWN_KEYS.contains(&Self::normalize_key(key).as_str())
    }

    /// Apply one layer on top of this one.
    pub fn merge(&mut self, key: &str, value: Value) {
        let key = Self::normalize_key(key);
        if ADDITIVE.contains(&key.as_str()) {
            let list = self
                .0
                .entry(key)
                .or_insert_with(|| Value::Array(Vec::new()));
            let mut items = as_list(list);
            for v in as_list(&value) {
                if !items.contains(&v) {
                    items.push(v);
                }
            }
            *list = Value::Array(items);
        } else if key == "meta" {
            match (self.0.get_mut(&key), value) {
                (Some(Value::Object(old)), Value::Object(new)) => old.extend(new),
                (_, value) => {
                    self.0.insert(key, value);
                }
            }
        } else {
            self.0.insert(key, value);
        }
    }

    pub fn merge_all(&mut self, other: &Config) {
        for (k, v) in &other.0 {
            self.merge(k, v.clone());
        }
    }

    pub fn get(&self, key: &str) -> Option<&Value> {
        self.0.get(key).filter(|v| !v.is_null())
    }

    pub fn get_str(&self, key: &str) -> Option<&str> {
        self.get(key).and_then(Value::as_str)
    }

    pub fn get_bool(&self, key: &str) -> Option<bool> {
        self.get(key).and_then(|v| match v {
            Value::Bool(b) => Some(*b),
            Value::String(s) => match s.to_ascii_lowercase().as_str() {
                "true" | "yes" => Some(true),
                "false" | "no" => Some(false),
                _ => None,
            },
            _ => None,
        })
    }

    pub fn enabled(&self) -> bool {
        self.get_bool("enabled").unwrap_or(true)
    }

    pub fn materialized(&self) -> &str {
        self.get_str("materialized").unwrap_or("view")
    }

    pub fn tags(&self) -> Vec<String> {
        self.strings("tags")
    }

    /// A key that may be one string or a list of strings (`unique_key`, `tags`, hooks).
    pub fn strings(&self, key: &str) -> Vec<String> {
        self.get(key)
            .map(as_list)
            .unwrap_or_default()
            .into_iter()
            .filter_map(|v| match v {
                Value::String(s) => Some(s),
                Value::Null => None,
                other => Some(other.to_string()),
            })
            .collect()
    }
}

fn as_list(value: &Value) -> Vec<Value> {
    match value {
        Value::Array(items) => items.clone(),
        Value::Null => Vec::new(),
        other => vec![other.clone()],
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn later_layers_win_but_tags_and_hooks_accumulate() {
        let mut c = Config::default();
        c.merge("+materialized", json!("view"));
        c.merge("+tags", json!("nightly"));
        c.merge("pre-hook", json!("select 1"));
        c.merge("materialized", json!("table"));
        c.merge("tags", json!(["core", "nightly"]));
        c.merge("pre_hook", json!(["select 2"]));
        assert_eq!(c.materialized(), "table");
        assert_eq!(c.tags(), vec!["nightly", "core"]);
        assert_eq!(c.strings("pre_hook"), vec!["select 1", "select 2"]);
    }

    #[test]
    fn value_problems_name_the_kind_expected() {
        assert_eq!(
            Config::value_problem("+materialized", &json!("table")),
            None
        );
        assert!(Config::value_problem("materialized", &json!("tabel")).is_some());
        assert!(Config::value_problem("materialized", &json!(["table"])).is_some());
        assert_eq!(Config::value_problem("enabled", &json!("false")), None);
        assert!(Config::value_problem("enabled", &json!("maybe")).is_some());
        assert_eq!(
            Config::value_problem("enabled", &json!("{{ target.name == 'prod' }}")),
            None
        );
        assert!(Config::value_problem("column_types", &json!(["a", "int"])).is_some());
        assert_eq!(
            Config::value_problem("column_types", &json!({"a": "int"})),
            None
        );
        assert_eq!(Config::value_problem("my_custom_key", &json!([1])), None);
    }

    #[test]
    fn meta_merges_key_by_key() {
        let mut c = Config::default();
        c.merge("meta", json!({"owner": "a", "tier": 1}));
        c.merge("meta", json!({"owner": "b"}));
        assert_eq!(c.get("meta"), Some(&json!({"owner": "b", "tier": 1})));
    }
}

//! The SQL that turns a compiled model into a relation, per materialization and dialect.
//!
//! Plans are plain lists of statements, generated from what the warehouse already holds (the
//! `Situation`), so each dialect's SQL lives in one place and is pinned by snapshot tests.
//! Every plan is atomic: a table is built beside the old one and swapped in within one
//! transaction, so a failure or a killed process leaves the previous version intact.

pub mod duckdb;
pub mod ledger;
pub mod microbatch;
pub mod node_state;
pub mod postgres;
pub mod redshift;
pub mod snapshot;

use crate::adapter::{ColumnInfo, RelationKind};
use crate::project::Config;
use crate::sql::Dialect;

/// What exists before the build.
#[derive(Debug, Clone, Default)]
pub struct Situation {
    pub existing: Option<RelationKind>,
    pub full_refresh: bool,
    /// Server targets: relations under the temporary names (`__etlx_tmp`, `__etlx_old`) that a
    /// killed run left behind, to be cleared first.
    pub leftover_building: Option<RelationKind>,
    pub leftover_previous: Option<RelationKind>,
}

pub fn create_schema(t: &QualifiedName) -> String {
    format!("create schema if not exists {}", t.dialect.quote(t.schema))
}

/// The SQL of one materialization, for the target's dialect.
pub fn view(t: &QualifiedName, sql: &str, s: &Situation, config: &Config) -> Vec<String> {
    match t.dialect {
        Dialect::DuckDb => duckdb::view(t, sql, s),
        _ => postgres::view(t, sql, s, config),
    }
}

pub fn table(t: &QualifiedName, sql: &str, s: &Situation, config: &Config) -> Vec<String> {
    match t.dialect {
        Dialect::DuckDb => duckdb::table(t, sql, s),
        _ => postgres::table(t, sql, s, config),
    }
}

/// The batch of an incremental model, staged once in a temporary table so it is read once.
pub fn stage_name(t: &QualifiedName) -> String {
    t.dialect
        .quote(&format!("etlx_stage__{}__{}", t.schema, t.name))
}

pub fn stage(t: &QualifiedName, sql: &str) -> Vec<String> {
    let stage = stage_name(t);
    vec![
        "begin".to_string(),
        format!("drop table if exists {stage}"),
        format!("create temporary table {stage} as\n{}", body(sql)),
    ]
}

/// Apply the staged batch to the existing table, then commit. The same SQL on every
/// warehouse, but for what Redshift lacks (an alias in DELETE, MERGE without WHEN MATCHED).
pub fn apply(
    t: &QualifiedName,
    strategy: &Strategy,
    target_columns: &[ColumnInfo],
    added: &[ColumnInfo],
    removed: &[String],
) -> Vec<String> {
    let q = |c: &str| t.dialect.quote(c);
    let target = t.qualified();
    let stage = stage_name(t);
    let mut out = alter_columns(t, added, removed);
    let columns = kept_columns(target_columns, added, removed);
    let list = columns.iter().map(|c| q(c)).collect::<Vec<_>>().join(", ");
    let insert = format!("insert into {target} ({list})\nselect {list} from {stage}");
    match strategy {
        Strategy::Append => out.push(insert),
        Strategy::DeleteInsert(upsert) => {
            // Redshift's DELETE takes no alias: the target is named by its own name.
            let name = q(t.name);
            let on = upsert
                .keys
                .iter()
                .map(|k| format!("{name}.{} = {stage}.{}", q(k), q(k)))
                .chain(upsert.bound_predicates(&name, &stage, t))
                .collect::<Vec<_>>()
                .join(" and ");
            out.push(format!("delete from {target}\nusing {stage}\nwhere {on}"));
            out.push(insert);
        }
        Strategy::Merge(upsert) => out.push(merge(t, upsert, &columns)),
    }
    out.push(format!("drop table if exists {stage}"));
    out.push("commit".to_string());
    out
}

fn merge(t: &QualifiedName, upsert: &Upsert, columns: &[&str]) -> String {
    let q = |c: &str| t.dialect.quote(c);
    let keys = &upsert.keys;
    let stage = stage_name(t);
    let is_key = |c: &str| keys.iter().any(|k| k.eq_ignore_ascii_case(c));
    let on = keys
        .iter()
        .map(|k| format!("t.{} = s.{}", q(k), q(k)))
        .chain(upsert.bound_predicates("t", "s", t))
        .collect::<Vec<_>>()
        .join(" and ");
    let mut updates: Vec<String> = columns
        .iter()
        .filter(|c| !is_key(c))
        .map(|c| format!("{} = s.{}", q(c), q(c)))
        .collect();
    // Redshift's MERGE needs a WHEN MATCHED clause; with only key columns, a no-op update.
    if updates.is_empty() && t.dialect == Dialect::Redshift {
        updates = keys
            .iter()
            .map(|k| format!("{} = s.{}", q(k), q(k)))
            .collect();
    }
    let matched = if updates.is_empty() {
        String::new()
    } else {
        format!("\nwhen matched then update set {}", updates.join(", "))
    };
    let list = columns.iter().map(|c| q(c)).collect::<Vec<_>>().join(", ");
    let values = columns
        .iter()
        .map(|c| format!("s.{}", q(c)))
        .collect::<Vec<_>>()
        .join(", ");
    format!(
        "merge into {} as t\nusing {} as s\non {on}{matched}\nwhen not matched then insert ({list}) values ({values})",
        t.qualified(),
        stage
    )
}

/// Compiled SQL as the body of a statement: no trailing semicolon.
fn body(sql: &str) -> &str {
    sql.trim().trim_end_matches(';').trim_end()
}

/// `alter table` for the columns `on_schema_change` adds and removes; the same on every
/// warehouse.
pub fn alter_columns(t: &QualifiedName, added: &[ColumnInfo], removed: &[String]) -> Vec<String> {
    let target = t.qualified();
    let adds = added.iter().map(|c| {
        format!(
            "alter table {target} add column {} {}",
            t.dialect.quote(&c.name),
            c.data_type
        )
    });
    let drops = removed
        .iter()
        .map(|c| format!("alter table {target} drop column {}", t.dialect.quote(c)));
    adds.chain(drops).collect()
}

/// The columns an incremental batch writes: the table's, less those removed, plus those added.
pub fn kept_columns<'a>(
    target_columns: &'a [ColumnInfo],
    added: &'a [ColumnInfo],
    removed: &[String],
) -> Vec<&'a str> {
    target_columns
        .iter()
        .map(|c| c.name.as_str())
        .filter(|c| !removed.iter().any(|r| r.eq_ignore_ascii_case(c)))
        .chain(added.iter().map(|c| c.name.as_str()))
        .collect()
}

/// A relation's parts, quoted as the dialect needs.
#[derive(Debug, Clone)]
pub struct QualifiedName<'a> {
    pub schema: &'a str,
    pub name: &'a str,
    pub dialect: Dialect,
}

impl QualifiedName<'_> {
    pub fn qualified(&self) -> String {
        format!(
            "{}.{}",
            self.dialect.quote(self.schema),
            self.dialect.quote(self.name)
        )
    }

    /// The same relation under another name in the same schema.
    pub fn sibling(&self, suffix: &str) -> String {
        format!(
            "{}.{}",
            self.dialect.quote(self.schema),
            self.dialect.quote(&format!("{}{suffix}", self.name))
        )
    }
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum PlanError {
    #[error(
        "unknown materialization '{0}'; use view, table, incremental, ephemeral, temp, external, seed or snapshot"
    )]
    UnknownMaterialization(String),
    #[error("unknown incremental_strategy '{0}'; use append, delete+insert, merge or microbatch")]
    UnknownStrategy(String),
    #[error("incremental_strategy '{0}' needs a unique_key")]
    MissingUniqueKey(String),
    #[error(
        "incremental_predicates narrow the rows a merge or delete+insert compares; with the \
         append strategy nothing is compared"
    )]
    PredicatesWithAppend,
    #[error("the columns changed and on_schema_change is 'fail': {0}")]
    SchemaChanged(String),
    #[error(
        "unknown on_schema_change '{0}'; use ignore, append_new_columns, sync_all_columns or fail"
    )]
    UnknownSchemaChange(String),
    /// A snapshot's config that cannot build (no unique_key, an unknown strategy, ...), and
    /// the config key to fix.
    #[error("{message}")]
    Snapshot { key: &'static str, message: String },
    /// A microbatch model's config that cannot cut batches, and the config key to fix.
    #[error("{message}")]
    Microbatch { key: &'static str, message: String },
    /// A seed file that cannot load whole (a ragged row, an unreadable header), with where.
    #[error("{0}")]
    Seed(String),
}

/// How an incremental model applies a batch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Strategy {
    Append,
    DeleteInsert(Upsert),
    Merge(Upsert),
}

/// What matches a batch row to a table row: the unique key, and the user's
/// `incremental_predicates`, which narrow the table rows compared (dbt's names for the two
/// sides, `DBT_INTERNAL_DEST` and `DBT_INTERNAL_SOURCE`, are bound to this statement's).
/// A predicate on a column the key determines (`DBT_INTERNAL_DEST.played_at >= ...`) lets the
/// engine skip the table's old row groups instead of reading the key column of all history.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Upsert {
    pub keys: Vec<String>,
    pub predicates: Vec<String>,
}

impl Upsert {
    pub fn on(keys: &[&str]) -> Upsert {
        Upsert {
            keys: keys.iter().map(|k| k.to_string()).collect(),
            predicates: Vec::new(),
        }
    }

    /// The predicates with `DBT_INTERNAL_DEST.` / `DBT_INTERNAL_SOURCE.` written as the
    /// statement's names for the two sides, and a bare `DBT_INTERNAL_SOURCE` (as in
    /// `(select min(x) from DBT_INTERNAL_SOURCE)`) as the staged batch's table. Case is
    /// ignored, as SQL ignores it in unquoted names. Inside such a subquery, name the
    /// columns bare: `DBT_INTERNAL_SOURCE.x` there would mean the outer statement's row.
    fn bound_predicates<'a>(
        &'a self,
        dest: &str,
        source: &str,
        t: &QualifiedName,
    ) -> impl Iterator<Item = String> + 'a {
        let (dest_dot, source_dot) = (format!("{dest}."), format!("{source}."));
        let (target, stage) = (t.qualified(), stage_name(t));
        self.predicates
            .iter()
            .filter(|p| !p.trim().is_empty())
            .map(move |p| {
                let p = replace_ignore_case(p, "DBT_INTERNAL_DEST.", &dest_dot);
                let p = replace_ignore_case(&p, "DBT_INTERNAL_SOURCE.", &source_dot);
                let p = replace_ignore_case(&p, "DBT_INTERNAL_DEST", &target);
                let p = replace_ignore_case(&p, "DBT_INTERNAL_SOURCE", &stage);
                format!("({})", p.trim())
            })
    }
}

/// `text` with every `from` replaced by `to`, ignoring ASCII case.
fn replace_ignore_case(text: &str, from: &str, to: &str) -> String {
    // ASCII lowercasing keeps every byte where it was, so offsets carry over to `text`.
    let lower = text.to_ascii_lowercase();
    let mut out = String::with_capacity(text.len());
    let mut last = 0;
    for (at, _) in lower.match_indices(&from.to_ascii_lowercase()) {
        out.push_str(&text[last..at]);
        out.push_str(to);
        last = at + from.len();
    }
    out.push_str(&text[last..]);
    out
}

impl Strategy {
    pub fn from_config(config: &Config, dialect: Dialect) -> Result<Strategy, PlanError> {
        let keys = config.strings("unique_key");
        let predicates = config.strings("incremental_predicates");
        let default = match (dialect, keys.is_empty()) {
            (_, true) => "append",
            (Dialect::Redshift, false) => "delete+insert",
            (_, false) => "merge",
        };
        let name = config.get_str("incremental_strategy").unwrap_or(default);
        let upsert = || Upsert {
            keys: keys.clone(),
            predicates: predicates.clone(),
        };
        match name {
            "append" if predicates.is_empty() => Ok(Strategy::Append),
            "append" => Err(PlanError::PredicatesWithAppend),
            "delete+insert" | "delete_insert" if !keys.is_empty() => {
                Ok(Strategy::DeleteInsert(upsert()))
            }
            "merge" if !keys.is_empty() => Ok(Strategy::Merge(upsert())),
            "delete+insert" | "delete_insert" | "merge" => {
                Err(PlanError::MissingUniqueKey(name.to_string()))
            }
            other => Err(PlanError::UnknownStrategy(other.to_string())),
        }
    }
}

/// Column changes an incremental batch brings, decided by `on_schema_change`.
pub fn schema_changes(
    config: &Config,
    existing: &[ColumnInfo],
    incoming: &[ColumnInfo],
) -> Result<(Vec<ColumnInfo>, Vec<String>), PlanError> {
    let has =
        |cols: &[ColumnInfo], name: &str| cols.iter().any(|c| c.name.eq_ignore_ascii_case(name));
    let added: Vec<ColumnInfo> = incoming
        .iter()
        .filter(|c| !has(existing, &c.name))
        .cloned()
        .collect();
    let removed: Vec<String> = existing
        .iter()
        .filter(|c| !has(incoming, &c.name))
        .map(|c| c.name.clone())
        .collect();
    match config.get_str("on_schema_change").unwrap_or("ignore") {
        "ignore" => Ok((Vec::new(), Vec::new())),
        "append_new_columns" => Ok((added, Vec::new())),
        "sync_all_columns" => Ok((added, removed)),
        "fail" if added.is_empty() && removed.is_empty() => Ok((Vec::new(), Vec::new())),
        "fail" => {
            let mut parts = Vec::new();
            if !added.is_empty() {
                parts.push(format!(
                    "new {}",
                    added
                        .iter()
                        .map(|c| c.name.as_str())
                        .collect::<Vec<_>>()
                        .join(", ")
                ));
            }
            if !removed.is_empty() {
                parts.push(format!("removed {}", removed.join(", ")));
            }
            Err(PlanError::SchemaChanged(parts.join("; ")))
        }
        other => Err(PlanError::UnknownSchemaChange(other.to_string())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(value: serde_json::Value) -> Config {
        Config(serde_json::from_value(value).unwrap())
    }

    #[test]
    fn strategy_takes_keys_and_predicates_from_config() {
        let plan = |v| Strategy::from_config(&config(v), Dialect::DuckDb);
        assert_eq!(
            plan(serde_json::json!({
                "unique_key": "id",
                "incremental_predicates": "DBT_INTERNAL_DEST.day >= current_date - 7"
            })),
            Ok(Strategy::Merge(Upsert {
                keys: vec!["id".into()],
                predicates: vec!["DBT_INTERNAL_DEST.day >= current_date - 7".into()],
            }))
        );
        assert_eq!(
            plan(serde_json::json!({"incremental_predicates": ["x > 1"]})),
            Err(PlanError::PredicatesWithAppend)
        );
        assert_eq!(
            plan(serde_json::json!({"incremental_strategy": "merge"})),
            Err(PlanError::MissingUniqueKey("merge".into()))
        );
    }

    #[test]
    fn predicates_bind_dbts_names_whatever_their_case() {
        let upsert = Upsert {
            keys: vec!["id".into()],
            predicates: vec![
                "dbt_internal_dest.day >= (select min(day) from Dbt_Internal_Source)".into(),
                "  ".into(),
            ],
        };
        let t = QualifiedName {
            schema: "main",
            name: "orders",
            dialect: Dialect::DuckDb,
        };
        let bound: Vec<String> = upsert.bound_predicates("t", "s", &t).collect();
        assert_eq!(
            bound,
            [r#"(t.day >= (select min(day) from "etlx_stage__main__orders"))"#]
        );
    }
}

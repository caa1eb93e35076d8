//! The SQL that turns a compiled model into a relation, per materialization and dialect.
//!
//! Plans are plain lists of statements, generated from what the warehouse already holds (the
//! `Situation`), so each dialect's SQL lives in one place and is pinned by snapshot tests.
//! Every plan is atomic: a table is built beside the old one and swapped in within one
//! transaction, so a failure or a killed process leaves the previous version intact.

pub mod duckdb;

use crate::adapter::{ColumnInfo, RelationKind};
use crate::project::Config;
use crate::sql::Dialect;

/// What exists before the build.
#[derive(Debug, Clone, Default)]
pub struct Situation {
    pub existing: Option<RelationKind>,
    pub full_refresh: bool,
}

/// A relation's parts, quoted as the dialect needs.
#[derive(Debug, Clone)]
pub struct Target<'a> {
    pub schema: &'a str,
    pub name: &'a str,
    pub dialect: Dialect,
}

impl Target<'_> {
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
    #[error("unknown materialization '{0}'; use view, table, incremental, ephemeral or seed")]
    UnknownMaterialization(String),
    #[error("unknown incremental_strategy '{0}'; use append, delete+insert or merge")]
    UnknownStrategy(String),
    #[error("incremental_strategy '{0}' needs a unique_key")]
    MissingUniqueKey(String),
    #[error("the columns changed and on_schema_change is 'fail': {0}")]
    SchemaChanged(String),
    #[error(
        "unknown on_schema_change '{0}'; use ignore, append_new_columns, sync_all_columns or fail"
    )]
    UnknownSchemaChange(String),
}

/// How an incremental model applies a batch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Strategy {
    Append,
    DeleteInsert(Vec<String>),
    Merge(Vec<String>),
}

impl Strategy {
    pub fn from_config(config: &Config, dialect: Dialect) -> Result<Strategy, PlanError> {
        let keys = config.strings("unique_key");
        let default = match (dialect, keys.is_empty()) {
            (_, true) => "append",
            (Dialect::Redshift, false) => "delete+insert",
            (_, false) => "merge",
        };
        let name = config.get_str("incremental_strategy").unwrap_or(default);
        match name {
            "append" => Ok(Strategy::Append),
            "delete+insert" | "delete_insert" if !keys.is_empty() => {
                Ok(Strategy::DeleteInsert(keys))
            }
            "merge" if !keys.is_empty() => Ok(Strategy::Merge(keys)),
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

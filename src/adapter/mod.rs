//! Connections to warehouses behind one interface.
//!
//! The executor runs statements the `materialize` module generated; it does not care whether
//! they go to embedded DuckDB or over the wire to PostgreSQL or Redshift. Each worker thread
//! gets its own `Connection`, so the interface is synchronous; adapters over async drivers
//! block on their own runtime.

pub mod duckdb;

use std::collections::HashSet;

use crate::sql::Dialect;

/// Rows as text: what `etlx show`, `run_query` and data tests need.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Table {
    pub columns: Vec<String>,
    pub rows: Vec<Vec<Option<String>>>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RelationKind {
    Table,
    View,
}

/// A column as the warehouse reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ColumnInfo {
    pub name: String,
    pub data_type: String,
}

#[derive(Debug, thiserror::Error)]
pub enum AdapterError {
    #[error(
        "{path} is locked by another process{holder}; wait for it to finish, or use another target"
    )]
    Locked { path: String, holder: String },
    #[error("cannot open {path}: {message}")]
    Open { path: String, message: String },
    #[error("{message}")]
    Database { message: String },
}

pub trait Connection: Send {
    /// Run one or more statements; returns rows affected by the last one when known.
    fn execute(&mut self, sql: &str) -> Result<Option<u64>, AdapterError>;
    fn query(&mut self, sql: &str) -> Result<Table, AdapterError>;
    fn relation_kind(
        &mut self,
        schema: &str,
        name: &str,
    ) -> Result<Option<RelationKind>, AdapterError>;
    fn columns(&mut self, schema: &str, name: &str) -> Result<Vec<ColumnInfo>, AdapterError>;
}

pub trait Adapter: Send + Sync {
    fn dialect(&self) -> Dialect;
    fn connect(&self) -> Result<Box<dyn Connection>, AdapterError>;
    /// Every existing relation as it renders in SQL (`"schema"."name"`), so compilation can
    /// answer `is_incremental()`.
    fn existing_relations(&self) -> Result<HashSet<String>, AdapterError>;
    /// A one-line description for `etlx debug`, e.g. the server version.
    fn describe(&self) -> Result<String, AdapterError>;
}

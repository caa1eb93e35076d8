//! Connections to warehouses behind one interface.
//!
//! The executor runs statements the `materialize` module generated; it does not care whether
//! they go to embedded DuckDB or over the wire to PostgreSQL or Redshift. Each worker thread
//! gets its own `Connection`, so the interface is synchronous; adapters over async drivers
//! block on their own runtime.

pub mod duckdb;

use std::collections::HashSet;
use std::sync::{Arc, Mutex};

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
    /// Column names and types of a query's result, without running it to completion.
    fn describe(&mut self, sql: &str) -> Result<Vec<ColumnInfo>, AdapterError>;
}

/// One connection shared by everything that queries the warehouse while templates render
/// (`run_query`, `statement`, `adapter.get_relation`). Renders run in parallel; their
/// queries take turns.
#[derive(Clone)]
pub struct SharedConnection(Arc<Mutex<Box<dyn Connection>>>);

impl SharedConnection {
    pub fn new(conn: Box<dyn Connection>) -> SharedConnection {
        SharedConnection(Arc::new(Mutex::new(conn)))
    }

    pub fn with<T>(&self, f: impl FnOnce(&mut dyn Connection) -> T) -> T {
        // A query that panicked leaves nothing half-done in the connection object itself.
        let mut conn = self.0.lock().unwrap_or_else(|e| e.into_inner());
        f(conn.as_mut())
    }
}

impl std::fmt::Debug for SharedConnection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SharedConnection")
    }
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

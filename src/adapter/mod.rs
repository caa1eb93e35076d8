//! Connections to warehouses behind one interface.
//!
//! The executor runs statements the `materialize` module generated; it does not care whether
//! they go to embedded DuckDB or over the wire to PostgreSQL or Redshift. Each worker thread
//! gets its own `Connection`, so the interface is synchronous; adapters over async drivers
//! block on their own runtime.

pub mod duckdb;
pub mod postgres;

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};

use crate::project::Project;
use crate::sql::Dialect;

/// One row, every value as text (`None` for NULL).
pub type Row = Vec<Option<String>>;

/// Rows as text: what `etlx show`, `run_query` and data tests need.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Table {
    pub columns: Vec<String>,
    pub rows: Vec<Vec<Option<String>>>,
}

impl Table {
    /// The first value of the first row: what a one-value query (`count(*)`, `version()`)
    /// returns.
    pub fn scalar(&self) -> Option<String> {
        self.rows.first().and_then(|r| r.first().cloned().flatten())
    }
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
    /// Another run holds the warehouse's run lock.
    #[error("{what} is in use by another etlx run ({holder}); wait for it to finish")]
    Busy { what: String, holder: String },
    #[error("cannot open {path}: {message}")]
    Open { path: String, message: String },
    #[error("{message}")]
    Database { message: String },
    /// The target's settings cannot work; said before anything connects.
    #[error("{0}")]
    Config(String),
    /// A row that cannot be loaded as it is, named by its number and column.
    #[error("{0}")]
    Load(String),
    /// A server did not take the connection. Never carries the password.
    #[error("cannot connect to {address}: {reason}{}", hint_suffix(.hint))]
    Connect {
        address: String,
        reason: String,
        hint: String,
    },
}

fn hint_suffix(hint: &str) -> String {
    if hint.is_empty() {
        String::new()
    } else {
        format!("; {hint}")
    }
}

pub trait Connection: Send {
    /// Run one or more statements; returns rows affected by the last one when known.
    fn execute(&mut self, sql: &str) -> Result<Option<u64>, AdapterError>;

    /// Run statements whose row count nobody reads (DDL, `begin`, `commit`): an engine may
    /// have a cheaper way than the one that counts.
    fn run(&mut self, sql: &str) -> Result<(), AdapterError> {
        self.execute(sql).map(|_| ())
    }

    /// Whether [`execute`](Self::execute) costs more than [`run`](Self::run) (a server
    /// counts rows for free, in the command's reply).
    fn counting_is_costly(&self) -> bool {
        false
    }
    fn query(&mut self, sql: &str) -> Result<Table, AdapterError>;
    /// What `schema.name` is, if it exists. Every warehouse here has `information_schema`.
    fn relation_kind(
        &mut self,
        schema: &str,
        name: &str,
    ) -> Result<Option<RelationKind>, AdapterError> {
        let sql = format!(
            "select table_type from information_schema.tables where table_schema = {} and table_name = {}",
            Dialect::Postgres.literal(schema),
            Dialect::Postgres.literal(name)
        );
        Ok(self.query(&sql)?.scalar().map(|kind| relation_kind(&kind)))
    }
    fn columns(&mut self, schema: &str, name: &str) -> Result<Vec<ColumnInfo>, AdapterError>;
    /// Column names and types of a query's result, without running it to completion.
    fn describe(&mut self, sql: &str) -> Result<Vec<ColumnInfo>, AdapterError>;
    /// Rows into an existing table, streamed: files read on this machine reach a server
    /// warehouse this way. Multi-row INSERTs unless the warehouse has something faster.
    fn copy_in<'a>(
        &'a mut self,
        table: &str,
        columns: &[String],
    ) -> Result<Box<dyn RowSink + 'a>, AdapterError>;
}

/// Where loaded rows go, a chunk at a time; `finish` says how many arrived.
pub trait RowSink {
    fn write(&mut self, rows: &[Row]) -> Result<(), AdapterError>;
    fn finish(self: Box<Self>) -> Result<u64, AdapterError>;
}

/// Rows as `insert into … values (…), (…)` statements of a bounded size: what Redshift takes
/// without S3 (it has no `COPY FROM STDIN`).
pub struct InsertSink<'a> {
    conn: &'a mut dyn Connection,
    dialect: Dialect,
    head: String,
    columns: Vec<String>,
    rows: u64,
}

/// Redshift caps a statement at 16 MB; stay far below it.
const INSERT_BYTES: usize = 1 << 20;

impl<'a> InsertSink<'a> {
    pub fn new(
        conn: &'a mut dyn Connection,
        dialect: Dialect,
        table: &str,
        columns: &[String],
    ) -> InsertSink<'a> {
        let list = columns
            .iter()
            .map(|c| dialect.quote(c))
            .collect::<Vec<_>>()
            .join(", ");
        InsertSink {
            conn,
            dialect,
            head: format!("insert into {table} ({list}) values\n"),
            columns: columns.to_vec(),
            rows: 0,
        }
    }

    /// One value as a literal. A NUL cannot be stored in a Redshift or PostgreSQL string (and
    /// cutting it out would change the data without a word), so it is refused by name.
    fn literal(
        &self,
        row: u64,
        column: usize,
        value: Option<&str>,
    ) -> Result<String, AdapterError> {
        let Some(value) = value else {
            return Ok("null".into());
        };
        if value.contains('\0') {
            let name = self.columns.get(column).map_or("?", String::as_str);
            return Err(AdapterError::Load(format!(
                "row {row}, column {name}: the value holds a NUL character (\\0), which {} cannot store; remove it in the model or the files (e.g. replace({name}, chr(0), ''))",
                self.dialect
            )));
        }
        Ok(self.dialect.literal(value))
    }
}

impl RowSink for InsertSink<'_> {
    fn write(&mut self, rows: &[Row]) -> Result<(), AdapterError> {
        let mut sql = self.head.clone();
        let mut pending = 0;
        for row in rows {
            let at = self.rows + pending + 1;
            let values = row
                .iter()
                .enumerate()
                .map(|(i, v)| self.literal(at, i, v.as_deref()))
                .collect::<Result<Vec<String>, AdapterError>>()?;
            if pending > 0 {
                sql.push_str(",\n");
            }
            sql.push_str(&format!("({})", values.join(", ")));
            pending += 1;
            if sql.len() > INSERT_BYTES {
                self.conn.execute(&sql)?;
                self.rows += pending;
                sql = self.head.clone();
                pending = 0;
            }
        }
        if pending > 0 {
            self.conn.execute(&sql)?;
            self.rows += pending;
        }
        Ok(())
    }

    fn finish(self: Box<Self>) -> Result<u64, AdapterError> {
        Ok(self.rows)
    }
}

pub(crate) fn relation_kind(table_type: &str) -> RelationKind {
    if table_type.contains("VIEW") {
        RelationKind::View
    } else {
        RelationKind::Table
    }
}

/// The first two columns of a catalog query as (name, type) pairs.
pub(crate) fn column_infos(table: Table) -> Vec<ColumnInfo> {
    table
        .rows
        .into_iter()
        .filter_map(|r| {
            Some(ColumnInfo {
                name: r.first()?.clone()?,
                data_type: r.get(1)?.clone()?,
            })
        })
        .collect()
}

/// The relations that exist, by schema and name.
#[derive(Debug, Clone, Default)]
pub struct Catalog {
    relations: HashMap<(String, String), RelationKind>,
}

impl Catalog {
    /// From `information_schema.tables` rows of (schema, name, table_type).
    pub fn from_rows(table: Table) -> Catalog {
        let mut catalog = Catalog::default();
        for row in table.rows {
            if let [Some(schema), Some(name), Some(kind)] = row.as_slice() {
                catalog.insert(schema, name, relation_kind(kind));
            }
        }
        catalog
    }

    pub fn insert(&mut self, schema: &str, name: &str, kind: RelationKind) {
        self.relations
            .insert((schema.to_lowercase(), name.to_lowercase()), kind);
    }

    pub fn kind(&self, schema: &str, name: &str) -> Option<RelationKind> {
        self.relations
            .get(&(schema.to_lowercase(), name.to_lowercase()))
            .copied()
    }

    pub fn has_schema(&self, schema: &str) -> bool {
        let schema = schema.to_lowercase();
        self.relations.keys().any(|(s, _)| *s == schema)
    }

    /// Every relation as it renders in SQL (`"schema"."name"`).
    pub fn rendered(&self, dialect: Dialect) -> HashSet<String> {
        self.relations
            .keys()
            .map(|(s, n)| format!("{}.{}", dialect.quote(s), dialect.quote(n)))
            .collect()
    }
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

/// The warehouse held for one run; released when dropped (and by the server or the OS
/// when the process dies, so a killed run never leaves a stale lock behind).
#[must_use = "the lock is released when this is dropped"]
pub struct RunLock(Option<Box<dyn FnOnce() + Send>>);

impl RunLock {
    /// Nothing to release: the adapter's own open already excludes other writers.
    pub fn none() -> RunLock {
        RunLock(None)
    }

    pub fn releasing(release: impl FnOnce() + Send + 'static) -> RunLock {
        RunLock(Some(Box::new(release)))
    }
}

impl Drop for RunLock {
    fn drop(&mut self) {
        if let Some(release) = self.0.take() {
            release();
        }
    }
}

/// Who takes a run lock, as the refused run is told: `etlx build pid 4242 since
/// 2026-11-30T17:05:01Z`.
pub fn lock_holder(command: &str) -> String {
    format!(
        "etlx {command} pid {} since {}",
        std::process::id(),
        chrono::Utc::now().format("%Y-%m-%dT%H:%M:%SZ")
    )
}

pub trait Adapter: Send + Sync {
    fn dialect(&self) -> Dialect;
    /// Take the run lock of `schema` (the target's) before anything is written, so two runs
    /// never build the same relations at once. `holder` is what a refused run is told.
    fn lock_run(&self, schema: &str, holder: &str) -> Result<RunLock, AdapterError>;
    fn connect(&self) -> Result<Box<dyn Connection>, AdapterError>;
    /// Every relation in the database, read once at the start of a run: compilation answers
    /// `is_incremental()` from it and the executor plans each build from it, instead of asking
    /// the catalog once per model (which grows with the catalog).
    fn catalog(&self) -> Result<Catalog, AdapterError>;
    /// A one-line description for `etlx debug`, e.g. the server version.
    fn describe(&self) -> Result<String, AdapterError>;
}

/// The adapter of the project's target: its DuckDB file (relative to the project), or a pool
/// of server connections: one per worker (`threads`), one for the queries templates make
/// (`run_query`) and one that holds the run lock.
pub fn open(project: &Project, threads: usize) -> Result<Box<dyn Adapter>, AdapterError> {
    Ok(match project.target.dialect {
        Dialect::DuckDb => Box::new(duckdb::DuckDb::open(
            &project.target,
            &project.root,
            project.secrets.clone(),
        )?),
        Dialect::Postgres | Dialect::Redshift => {
            Box::new(postgres::Postgres::open(&project.target, threads + 2)?)
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Redshift's load path, run on DuckDB (the SQL is the same): quotes, NULL versus empty
    /// text, newlines, and more rows than fit in one statement.
    #[test]
    fn insert_sink_keeps_every_value_and_splits_large_loads() {
        let db = duckdb::DuckDb::in_memory(std::path::Path::new(".")).expect("duckdb");
        let mut conn = db.connect().expect("connect");
        conn.execute("create table t (a varchar, b varchar)")
            .expect("create");
        let mut rows: Vec<Row> = vec![
            vec![Some("it's".into()), None],
            vec![Some(String::new()), Some("two\nlines".into())],
        ];
        let long = "x".repeat(400);
        rows.extend((0..5000).map(|i| vec![Some(format!("{i:05}")), Some(long.clone())]));
        let mut sink = conn
            .copy_in("t", &["a".to_string(), "b".to_string()])
            .expect("sink");
        sink.write(&rows).expect("write");
        assert_eq!(sink.finish().expect("finish"), 5002);
        let t = conn
            .query("select a, b from t where a in ('it''s', '') order by a")
            .expect("query");
        assert_eq!(
            t.rows,
            [
                [Some(String::new()), Some("two\nlines".to_string())],
                [Some("it's".to_string()), None]
            ]
        );
        let t = conn
            .query("select count(*), sum(length(b)) from t where a like '0%'")
            .expect("query");
        assert_eq!(t.rows, [[Some("5000".into()), Some("2000000".into())]]);
    }

    /// A DuckDB target's `path` is relative to the project, wherever etlx is started from.
    #[test]
    fn a_duckdb_target_opens_its_file_under_the_project() {
        let dir = tempfile::tempdir().expect("tempdir");
        let project = crate::project::testing::project(dir.path(), &[]);
        let adapter = open(&project, 4).expect("open");
        assert_eq!(adapter.dialect(), Dialect::DuckDb);
        let mut conn = adapter.connect().expect("connect");
        conn.execute("create table kept as select 42 as answer")
            .expect("create");
        drop(conn);
        drop(adapter);
        assert!(dir.path().join("target/demo.duckdb").is_file());
        let again = open(&project, 1).expect("open again");
        let answer = again
            .connect()
            .expect("connect")
            .query("select answer from kept");
        assert_eq!(answer.expect("query").scalar().as_deref(), Some("42"));
    }

    /// A server target's settings are checked before anything connects.
    #[test]
    fn a_server_target_without_a_host_is_refused_by_its_settings() {
        let dir = tempfile::tempdir().expect("tempdir");
        let profiles = "demo:\n  target: dev\n  outputs:\n    dev:\n      type: postgres\n      user: etlx\n      dbname: etlx\n      schema: main\n";
        let project = crate::project::testing::project(dir.path(), &[("profiles.yml", profiles)]);
        let refused = open(&project, 1).err().expect("refused");
        assert!(matches!(refused, AdapterError::Config(_)), "{refused}");
        assert!(refused.to_string().contains("needs `host`"), "{refused}");
    }
}

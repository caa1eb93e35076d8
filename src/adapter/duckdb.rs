//! Embedded DuckDB: the default target, needing no server and no network.
//!
//! One database per process; each worker gets a cloned connection, and DuckDB's own
//! transactions make every model's build atomic. Relative file paths in compiled SQL resolve
//! from the project root (`file_search_path`), whatever directory etlx was started in.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use duckdb::Config;

use super::{
    Adapter, AdapterError, Catalog, ColumnInfo, Connection, InsertSink, Row, RowSink, RunLock,
    Table, column_infos,
};
use crate::project::{Secrets, Target};
use crate::sql::Dialect;

pub struct DuckDb {
    /// Kept open for the whole run: connections are cloned from it.
    root: Mutex<duckdb::Connection>,
    path: String,
    /// `<database>.etlx-run`: who holds the database while a run holds it (files only).
    holder_note: Option<PathBuf>,
    log: Option<SqlLog>,
    /// The `SET`s every connection runs first: relative paths resolve from the project root
    /// (`file_search_path`), and no extension is downloaded behind the user's back.
    session: String,
}

/// Every statement sent to the database, in order, when `ETLX_SQL_LOG` names a file: the
/// throughput benchmark replays it through DuckDB alone to measure what etlx adds.
#[derive(Clone)]
struct SqlLog(Arc<Mutex<std::fs::File>>, Secrets);

/// Ends each statement in the log.
pub const SQL_LOG_SEPARATOR: &str = "\n-- etlx:end-of-statement\n";

impl SqlLog {
    fn from_env(secrets: Secrets) -> Option<SqlLog> {
        let path = std::env::var_os("ETLX_SQL_LOG")?;
        let file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
            .ok()?;
        Some(SqlLog(Arc::new(Mutex::new(file)), secrets))
    }

    fn write(&self, sql: &str) {
        use std::io::Write;
        if let Ok(mut file) = self.0.lock() {
            let _ = write!(file, "{}{SQL_LOG_SEPARATOR}", self.1.redact(sql));
        }
    }
}

impl DuckDb {
    /// Open the target's database (`path`, relative to the project; `:memory:` allowed).
    /// `secrets` are redacted from the SQL log.
    pub fn open(
        target: &Target,
        project_root: &Path,
        secrets: Secrets,
    ) -> Result<DuckDb, AdapterError> {
        let path = target.setting_str("path").unwrap_or(":memory:");
        let memory_limit = target.setting_str("memory_limit");
        // The profile's `threads` is how many nodes etlx builds at once (as in dbt); DuckDB
        // keeps its own default, one thread per core, shared by those connections.
        let mut db = Self::open_path(path, None, memory_limit, project_root)?;
        db.log = SqlLog::from_env(secrets);
        Ok(db)
    }

    /// Run a query and hand its rows, every value as text, to `each` a chunk at a time, so a
    /// landing batch streams into a server warehouse without being held in memory.
    pub fn stream(
        &self,
        sql: &str,
        chunk: usize,
        each: &mut dyn FnMut(&[Row]) -> Result<(), AdapterError>,
    ) -> Result<u64, AdapterError> {
        let conn = self.root.lock().map_err(|_| AdapterError::Database {
            message: "connection poisoned".into(),
        })?;
        let wrapped = format!(
            "select columns(*)::varchar from ({}) as etlx_q",
            sql.trim().trim_end_matches(';')
        );
        let mut stmt = conn.prepare(&wrapped).map_err(db_err)?;
        let mut rows = stmt.query([]).map_err(db_err)?;
        let mut buffer: Vec<Row> = Vec::with_capacity(chunk);
        let mut total = 0;
        while let Some(row) = rows.next().map_err(db_err)? {
            let width = row.as_ref().column_count();
            let values = (0..width)
                .map(|i| row.get::<_, Option<String>>(i))
                .collect::<Result<Vec<_>, _>>()
                .map_err(db_err)?;
            buffer.push(values);
            if buffer.len() >= chunk {
                each(&buffer)?;
                total += buffer.len() as u64;
                buffer.clear();
            }
        }
        if !buffer.is_empty() {
            each(&buffer)?;
            total += buffer.len() as u64;
        }
        Ok(total)
    }

    /// A private database that lives as long as the value: unit tests run in one.
    pub fn in_memory(project_root: &Path) -> Result<DuckDb, AdapterError> {
        Self::open_path(":memory:", Some(1), None, project_root)
    }

    fn open_path(
        path: &str,
        threads: Option<i64>,
        memory_limit: Option<&str>,
        project_root: &Path,
    ) -> Result<DuckDb, AdapterError> {
        // `None`: an in-memory database, with no file to lock or to leave a note beside.
        let file = (path != ":memory:").then(|| resolve(project_root, path));
        let shown = path.to_string();
        let open_err =
            |e: duckdb::Error| classify_open_error(&shown, file.as_deref(), &e.to_string());
        let mut config = Config::default()
            .enable_autoload_extension(false)
            .map_err(open_err)?;
        if let Some(threads) = threads {
            config = config.threads(threads).map_err(open_err)?;
        }
        if let Some(memory) = memory_limit {
            config = config.max_memory(memory).map_err(open_err)?;
        }
        let conn = match &file {
            None => duckdb::Connection::open_in_memory_with_flags(config),
            Some(file) => {
                if let Some(dir) = file.parent() {
                    std::fs::create_dir_all(dir).map_err(|e| AdapterError::Open {
                        path: shown.clone(),
                        message: e.to_string(),
                    })?;
                }
                duckdb::Connection::open_with_flags(file, config)
            }
        }
        .map_err(open_err)?;
        let session = session_settings(project_root);
        conn.execute_batch(&session).map_err(db_err)?;
        conn.execute_batch(&format!("ATTACH ':memory:' AS {RUN_CATALOG}"))
            .map_err(db_err)?;
        Ok(DuckDb {
            root: Mutex::new(conn),
            session,
            holder_note: file.as_deref().map(holder_note),
            path: path.to_string(),
            log: None,
        })
    }
}

/// Where DuckDB keeps `temp` models: an in-memory database attached to the instance, so every
/// connection of the run sees them (DuckDB's own temporary tables belong to one connection)
/// and nothing of them reaches the database file. They vanish with the process.
pub const RUN_CATALOG: &str = "etlx_run";

/// See `DuckDb::session`. The bundled DuckDB has no ICU extension (the duckdb crate can only
/// build it from a source checkout, see the README), and without it `current_date` and
/// `today()` do not exist; dbt projects use them everywhere, so they are defined here as the
/// date of `now()` in UTC, the zone DuckDB without ICU keeps time in.
fn session_settings(project_root: &Path) -> String {
    let root = project_root.display().to_string().replace('\'', "''");
    format!(
        "SET file_search_path = '{root}'; SET autoinstall_known_extensions = false; \
         CREATE OR REPLACE TEMP MACRO current_date() AS CAST(now()::TIMESTAMP AS DATE); \
         CREATE OR REPLACE TEMP MACRO today() AS CAST(now()::TIMESTAMP AS DATE);"
    )
}

fn holder_note(database: &Path) -> PathBuf {
    PathBuf::from(format!("{}.etlx-run", database.display()))
}

/// What the note beside a locked database says, when it was written by the process DuckDB
/// names as the holder (a killed run's note is stale and ignored).
fn holder_of(file: Option<&Path>, message: &str) -> String {
    let pid = message
        .find("(PID ")
        .map(|i| &message[i + 5..])
        .and_then(|rest| rest.split(|c: char| !c.is_ascii_digit()).next())
        .filter(|pid| !pid.is_empty());
    let note = file.and_then(|f| std::fs::read_to_string(holder_note(f)).ok());
    match (pid, note) {
        (Some(pid), Some(note)) if note.contains(&format!(" pid {pid} ")) => {
            format!(" ({})", note.trim())
        }
        (Some(pid), _) => format!(" (PID {pid})"),
        _ => String::new(),
    }
}

fn resolve(root: &Path, path: &str) -> PathBuf {
    let p = Path::new(path);
    if p.is_absolute() {
        p.to_path_buf()
    } else {
        root.join(p)
    }
}

/// DuckDB allows one writing process per file; say so plainly instead of an IO error.
fn classify_open_error(path: &str, file: Option<&Path>, message: &str) -> AdapterError {
    if message.contains("Could not set lock") || message.contains("Conflicting lock") {
        AdapterError::Locked {
            path: path.to_string(),
            holder: holder_of(file, message),
        }
    } else {
        AdapterError::Open {
            path: path.to_string(),
            message: message.to_string(),
        }
    }
}

fn db_err(e: duckdb::Error) -> AdapterError {
    AdapterError::Database {
        message: e.to_string(),
    }
}

impl Adapter for DuckDb {
    fn dialect(&self) -> Dialect {
        Dialect::DuckDb
    }

    /// DuckDB's own file lock, taken when the database was opened, already keeps other
    /// processes out; beside it goes a note of who holds it, for the message a refused run
    /// gets (DuckDB names only a PID).
    fn lock_run(&self, _schema: &str, holder: &str) -> Result<RunLock, AdapterError> {
        let Some(note) = self.holder_note.clone() else {
            return Ok(RunLock::none());
        };
        let _ = std::fs::write(&note, holder);
        Ok(RunLock::releasing(move || {
            let _ = std::fs::remove_file(note);
        }))
    }

    fn connect(&self) -> Result<Box<dyn Connection>, AdapterError> {
        let root = self.root.lock().map_err(|_| AdapterError::Database {
            message: "connection poisoned".into(),
        })?;
        let conn = root.try_clone().map_err(db_err)?;
        // Settings such as `file_search_path` belong to a connection, not to the database:
        // a clone starts without them.
        conn.execute_batch(&self.session).map_err(db_err)?;
        let interrupt = conn.interrupt_handle();
        Ok(Box::new(DuckDbConnection {
            conn,
            log: self.log.clone(),
            _cancel: crate::cancel::on_request(move || interrupt.interrupt()),
        }))
    }

    fn catalog(&self) -> Result<Catalog, AdapterError> {
        let mut conn = self.connect()?;
        let table = conn.query(
            "select table_schema, table_name, table_type from information_schema.tables where table_catalog = current_database()",
        )?;
        Ok(Catalog::from_rows(table))
    }

    fn describe(&self) -> Result<String, AdapterError> {
        let mut conn = self.connect()?;
        let v = conn.query("select version()")?.scalar().unwrap_or_default();
        Ok(format!("DuckDB {v}, database {}", self.path))
    }
}

struct DuckDbConnection {
    conn: duckdb::Connection,
    log: Option<SqlLog>,
    /// Ctrl-C interrupts the statement running on this connection.
    _cancel: crate::cancel::Hooked,
}

impl Connection for DuckDbConnection {
    fn execute(&mut self, sql: &str) -> Result<Option<u64>, AdapterError> {
        if let Some(log) = &self.log {
            log.write(sql);
        }
        // `execute` reports rows changed for a single statement; batches report nothing.
        match self.conn.prepare(sql) {
            Ok(mut stmt) => stmt.execute([]).map(|n| Some(n as u64)).map_err(db_err),
            Err(_) => self.conn.execute_batch(sql).map(|_| None).map_err(db_err),
        }
    }

    /// Not prepared: only a prepared statement reports its row count, and preparing costs.
    /// Over 1,000 trivial models, preparing the 500 table builds took 0.4 s of a 2.6 s run.
    fn counting_is_costly(&self) -> bool {
        true
    }

    fn run(&mut self, sql: &str) -> Result<(), AdapterError> {
        if let Some(log) = &self.log {
            log.write(sql);
        }
        self.conn.execute_batch(sql).map_err(db_err)
    }

    fn query(&mut self, sql: &str) -> Result<Table, AdapterError> {
        if let Some(log) = &self.log {
            log.write(sql);
        }
        // Every value as text, whatever its type: callers print or compare, never compute.
        let wrapped = format!(
            "select columns(*)::varchar from ({}) as etlx_q",
            sql.trim().trim_end_matches(';')
        );
        let mut stmt = self.conn.prepare(&wrapped).map_err(db_err)?;
        let mut rows = stmt.query([]).map_err(db_err)?;
        let mut out = Vec::new();
        while let Some(row) = rows.next().map_err(db_err)? {
            let stmt = row.as_ref();
            let width = stmt.column_count();
            let mut values = Vec::with_capacity(width);
            for i in 0..width {
                values.push(row.get::<_, Option<String>>(i).map_err(db_err)?);
            }
            out.push(values);
        }
        drop(rows);
        let columns = stmt.column_names();
        Ok(Table { columns, rows: out })
    }

    fn columns(&mut self, schema: &str, name: &str) -> Result<Vec<ColumnInfo>, AdapterError> {
        let sql = format!(
            "select column_name, data_type from information_schema.columns where table_schema = {} and table_name = {} order by ordinal_position",
            Dialect::DuckDb.literal(schema),
            Dialect::DuckDb.literal(name)
        );
        Ok(column_infos(self.query(&sql)?))
    }

    fn describe(&mut self, sql: &str) -> Result<Vec<ColumnInfo>, AdapterError> {
        let sql = sql.trim().trim_end_matches(';');
        Ok(column_infos(self.query(&format!("describe {sql}"))?))
    }

    fn copy_in<'a>(
        &'a mut self,
        table: &str,
        columns: &[String],
    ) -> Result<Box<dyn RowSink + 'a>, AdapterError> {
        Ok(Box::new(InsertSink::new(
            self,
            Dialect::DuckDb,
            table,
            columns,
        )))
    }
}

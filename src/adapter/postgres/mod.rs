//! PostgreSQL and Amazon Redshift over the PostgreSQL wire protocol (tokio-postgres).
//!
//! Redshift speaks protocol v3, so one adapter serves both; the differences are in the SQL the
//! `materialize` module generates, not here. The executor is synchronous with one connection
//! per worker, so the adapter owns a small tokio runtime and blocks on it. Connections come
//! from a pool sized to the run's threads, opened once and reused by every node.
//!
//! Every message this module builds names the host, port, user and database, never the
//! password: connection errors are rebuilt from their kind instead of passed through.

mod connection;
mod errors;
mod run_lock;
mod settings;
mod tls;

use std::sync::Arc;

use deadpool_postgres::{Manager, ManagerConfig, Pool, RecyclingMethod};

pub use connection::PgConnection;
pub use settings::{Settings, SslMode};

use super::{Adapter, AdapterError, Catalog, Connection, RunLock};
use crate::project::Target;
use crate::sql::Dialect;
use run_lock::{advisory_lock, redshift_lock};
use tls::tls_config;

pub struct Postgres {
    dialect: Dialect,
    settings: Settings,
    /// Kept for cancel requests, which open a connection of their own.
    tls: tokio_postgres_rustls::MakeRustlsConnect,
    pool: Pool,
    runtime: Arc<tokio::runtime::Runtime>,
}

impl Postgres {
    /// A pool of up to `pool_size` connections; nothing connects until the first `connect`.
    pub fn open(target: &Target, pool_size: usize) -> Result<Postgres, AdapterError> {
        let settings = Settings::from_target(target)?;
        if let Some(warning) = &settings.tls_warning {
            tracing::warn!("{warning}");
        }
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .map_err(|e| AdapterError::Config(format!("cannot start the I/O runtime: {e}")))?;
        let tls = tokio_postgres_rustls::MakeRustlsConnect::new(tls_config(&settings)?);
        let manager = Manager::from_config(
            settings.wire_config(),
            tls.clone(),
            ManagerConfig {
                recycling_method: RecyclingMethod::Fast,
            },
        );
        let pool = Pool::builder(manager)
            .max_size(pool_size.max(1))
            .runtime(deadpool_postgres::Runtime::Tokio1)
            .build()
            .map_err(|e| AdapterError::Config(format!("cannot build the connection pool: {e}")))?;
        Ok(Postgres {
            dialect: target.dialect,
            settings,
            tls,
            pool,
            runtime: Arc::new(runtime),
        })
    }
}

impl Adapter for Postgres {
    fn dialect(&self) -> Dialect {
        self.dialect
    }

    /// PostgreSQL: a session advisory lock keyed by the schema, held on a connection of its
    /// own for the run; the server drops it with the session if the process dies. Redshift
    /// has no advisory locks: a row in `<schema>.etlx_run_lock`, written under LOCK, naming
    /// the holder's session; a row whose session is gone (a killed run) is stale.
    fn lock_run(&self, schema: &str, holder: &str) -> Result<RunLock, AdapterError> {
        let mut conn = self.connection()?;
        let what = format!("schema {schema} on {}", self.settings.address());
        let release = match self.dialect {
            Dialect::Redshift => redshift_lock(&mut conn, schema, holder, &what)?,
            _ => advisory_lock(&mut conn, schema, holder, &what)?,
        };
        Ok(RunLock::releasing(move || {
            for sql in release {
                let _ = conn.execute(&sql);
            }
        }))
    }

    fn connect(&self) -> Result<Box<dyn Connection>, AdapterError> {
        Ok(Box::new(self.connection()?))
    }

    fn catalog(&self) -> Result<Catalog, AdapterError> {
        let mut conn = self.connection()?;
        let table = conn.query(
            "select table_schema, table_name, table_type from information_schema.tables \
             where table_schema not in ('pg_catalog', 'information_schema')",
        )?;
        Ok(Catalog::from_rows(table))
    }

    fn describe(&self) -> Result<String, AdapterError> {
        let mut conn = self.connection()?;
        let v = conn.query("select version()")?.scalar().unwrap_or_default();
        let tls = match self.settings.sslmode {
            SslMode::Disable => "no TLS",
            SslMode::Prefer => "TLS if offered",
            SslMode::Require => "TLS required",
            SslMode::VerifyFull => "TLS verified",
        };
        Ok(format!("{v}; {} ({tls})", self.settings.address()))
    }
}

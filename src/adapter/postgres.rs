//! PostgreSQL and Amazon Redshift over the PostgreSQL wire protocol (tokio-postgres).
//!
//! Redshift speaks protocol v3, so one adapter serves both; the differences are in the SQL the
//! `materialize` module generates, not here. The executor is synchronous with one connection
//! per worker, so the adapter owns a small tokio runtime and blocks on it. Connections come
//! from a pool sized to the run's threads, opened once and reused by every node.
//!
//! Every message this module builds names the host, port, user and database, never the
//! password: connection errors are rebuilt from their kind instead of passed through.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use bytes::{BufMut, BytesMut};
use deadpool_postgres::{Manager, ManagerConfig, Object, Pool, PoolError, RecyclingMethod};
use futures_util::SinkExt;
use tokio_postgres::SimpleQueryMessage;
use tokio_postgres::config::SslMode as WireSslMode;

use super::{
    Adapter, AdapterError, Catalog, ColumnInfo, Connection, InsertSink, Row, RowSink, RunLock,
    Table, column_infos,
};
use crate::project::Target;
use crate::sql::Dialect;

/// libpq's `sslmode`, the subset that means something to a client without client certificates.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SslMode {
    /// Plain TCP.
    Disable,
    /// TLS when the server offers it, without checking its certificate.
    Prefer,
    /// TLS always, without checking the certificate (encryption, not authentication).
    Require,
    /// TLS with a certificate chain to a trusted root that names the host.
    VerifyFull,
}

impl SslMode {
    fn parse(text: &str) -> Result<SslMode, AdapterError> {
        match text {
            "disable" => Ok(SslMode::Disable),
            "prefer" | "allow" => Ok(SslMode::Prefer),
            "require" => Ok(SslMode::Require),
            "verify-full" | "verify-ca" => Ok(SslMode::VerifyFull),
            other => Err(AdapterError::Config(format!(
                "unknown sslmode '{other}'; use disable, prefer, require or verify-full"
            ))),
        }
    }
}

/// Connection settings read from the target.
#[derive(Debug, Clone)]
pub struct Settings {
    pub host: String,
    pub port: u16,
    pub user: String,
    password: Option<String>,
    pub dbname: String,
    pub sslmode: SslMode,
    /// A PEM file of extra trusted roots for verify-full (a Redshift CA bundle, a test CA).
    pub sslrootcert: Option<PathBuf>,
    pub connect_timeout: Duration,
    /// Passed to `SET statement_timeout`: milliseconds, or PostgreSQL's units ('5min').
    pub statement_timeout: Option<String>,
    /// Said once when the run starts: the server's identity is not checked.
    pub tls_warning: Option<String>,
}

/// Why this connection does not check who answers, when that matters: `require` (an opt-out
/// from verification, said every time), or no verification towards a host that is not this
/// machine.
fn unverified_tls_warning(host: &str, mode: SslMode, explicit: bool) -> Option<String> {
    let local = matches!(host, "localhost" | "127.0.0.1" | "::1") || host.starts_with('/');
    let what = match mode {
        SslMode::VerifyFull => return None,
        SslMode::Require => {
            "encrypts but does not check the server's certificate (sslmode require)"
        }
        _ if local => return None,
        SslMode::Disable => "is not encrypted, the password included (sslmode disable)",
        SslMode::Prefer if explicit => "does not check the server's certificate (sslmode prefer)",
        SslMode::Prefer => {
            "does not check the server's certificate (sslmode prefer, PostgreSQL's default)"
        }
    };
    Some(format!(
        "the connection to {host} {what}: anyone on the network path can pose as the server; set `sslmode: verify-full` (with `sslrootcert` for a private CA)"
    ))
}

impl Settings {
    pub fn from_target(target: &Target) -> Result<Settings, AdapterError> {
        let text = |key: &str| -> Option<String> {
            match target.settings.get(key)? {
                serde_json::Value::String(s) if !s.is_empty() => Some(s.clone()),
                serde_json::Value::Number(n) => Some(n.to_string()),
                _ => None,
            }
        };
        let required = |key: &str| {
            text(key).ok_or_else(|| {
                AdapterError::Config(format!(
                    "target '{}' ({}) needs `{key}` in profiles.yml",
                    target.name, target.dialect
                ))
            })
        };
        let redshift = target.dialect == Dialect::Redshift;
        let port = match text("port") {
            Some(p) => p.parse::<u16>().map_err(|_| {
                AdapterError::Config(format!("port '{p}' is not a port number (1-65535)"))
            })?,
            None if redshift => 5439,
            None => 5432,
        };
        // Redshift is always reached over a network and Amazon's CAs are in every root
        // store, so it is verified unless the profile says otherwise. PostgreSQL keeps
        // libpq's default, `prefer`: local servers often have no certificate at all.
        let explicit = text("sslmode");
        let sslmode = match &explicit {
            Some(mode) => SslMode::parse(mode)?,
            None if redshift => SslMode::VerifyFull,
            None => SslMode::Prefer,
        };
        let host = required("host")?;
        let seconds = |key: &str, default: u64| -> Result<Duration, AdapterError> {
            match text(key) {
                None => Ok(Duration::from_secs(default)),
                Some(s) => s.parse::<u64>().map(Duration::from_secs).map_err(|_| {
                    AdapterError::Config(format!("{key} '{s}' is not a number of seconds"))
                }),
            }
        };
        let tls_warning = unverified_tls_warning(&host, sslmode, explicit.is_some());
        Ok(Settings {
            host,
            tls_warning,
            port,
            user: required("user")?,
            password: text("password").or_else(|| text("pass")),
            dbname: text("dbname")
                .or_else(|| text("database"))
                .or_else(|| target.database.clone())
                .ok_or_else(|| {
                    AdapterError::Config(format!(
                        "target '{}' needs `dbname` in profiles.yml",
                        target.name
                    ))
                })?,
            sslmode,
            sslrootcert: text("sslrootcert").map(PathBuf::from),
            connect_timeout: seconds("connect_timeout", 10)?,
            statement_timeout: text("statement_timeout"),
        })
    }

    /// `user@host:port/dbname`: how errors name the server.
    pub fn address(&self) -> String {
        format!("{}@{}:{}/{}", self.user, self.host, self.port, self.dbname)
    }

    fn wire_config(&self) -> tokio_postgres::Config {
        let mut config = tokio_postgres::Config::new();
        config
            .host(&self.host)
            .port(self.port)
            .user(&self.user)
            .dbname(&self.dbname)
            .application_name("etlx")
            .connect_timeout(self.connect_timeout)
            .ssl_mode(match self.sslmode {
                SslMode::Disable => WireSslMode::Disable,
                SslMode::Prefer => WireSslMode::Prefer,
                SslMode::Require | SslMode::VerifyFull => WireSslMode::Require,
            });
        if let Some(password) = &self.password {
            config.password(password);
        }
        config
    }
}

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

    fn connection(&self) -> Result<PgConnection, AdapterError> {
        let client = self
            .runtime
            .block_on(self.pool.get())
            .map_err(|e| connect_error(&self.settings, e))?;
        let token = client.cancel_token();
        let (tls, runtime) = (self.tls.clone(), self.runtime.clone());
        let cancel = crate::cancel::on_request(move || {
            let (token, tls) = (token.clone(), tls.clone());
            runtime.spawn(async move { token.cancel_query(tls).await });
        });
        let mut conn = PgConnection {
            client,
            runtime: self.runtime.clone(),
            dialect: self.dialect,
            _cancel: cancel,
        };
        if let Some(timeout) = &self.settings.statement_timeout {
            conn.execute(&format!(
                "set statement_timeout = {}",
                self.dialect.literal(timeout)
            ))?;
        }
        Ok(conn)
    }
}

/// TLS as `sslmode` asks: verify-full trusts the system's roots plus `sslrootcert`; prefer and
/// require encrypt without checking who answers, as libpq does.
fn tls_config(settings: &Settings) -> Result<rustls::ClientConfig, AdapterError> {
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let builder = rustls::ClientConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .map_err(|e| AdapterError::Config(format!("TLS setup: {e}")))?;
    if settings.sslmode != SslMode::VerifyFull {
        return Ok(builder
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(AnyCertificate(provider)))
            .with_no_client_auth());
    }
    let mut roots = rustls::RootCertStore::empty();
    for cert in rustls_native_certs::load_native_certs().certs {
        let _ = roots.add(cert);
    }
    if let Some(path) = &settings.sslrootcert {
        let pem = std::fs::read(path).map_err(|e| {
            AdapterError::Config(format!("cannot read sslrootcert {}: {e}", path.display()))
        })?;
        for cert in rustls::pki_types::pem::PemObject::pem_slice_iter(&pem) {
            let cert: rustls::pki_types::CertificateDer = cert.map_err(|e| {
                AdapterError::Config(format!("sslrootcert {}: {e}", path.display()))
            })?;
            roots.add(cert).map_err(|e| {
                AdapterError::Config(format!("sslrootcert {}: {e}", path.display()))
            })?;
        }
    }
    Ok(builder.with_root_certificates(roots).with_no_client_auth())
}

/// The certificate check of `sslmode=require`: any certificate, but a valid handshake
/// signature, so the session is still encrypted end to end with whoever answered.
#[derive(Debug)]
struct AnyCertificate(Arc<rustls::crypto::CryptoProvider>);

impl rustls::client::danger::ServerCertVerifier for AnyCertificate {
    fn verify_server_cert(
        &self,
        _end_entity: &rustls::pki_types::CertificateDer<'_>,
        _intermediates: &[rustls::pki_types::CertificateDer<'_>],
        _server_name: &rustls::pki_types::ServerName<'_>,
        _ocsp_response: &[u8],
        _now: rustls::pki_types::UnixTime,
    ) -> Result<rustls::client::danger::ServerCertVerified, rustls::Error> {
        Ok(rustls::client::danger::ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &rustls::pki_types::CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &rustls::pki_types::CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<rustls::SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}

/// A failed connection attempt, said by kind: refused, timed out, credentials, TLS.
fn connect_error(settings: &Settings, e: PoolError) -> AdapterError {
    let address = settings.address();
    let source = match e {
        PoolError::Backend(e) => e,
        PoolError::Timeout(_) => {
            return AdapterError::Connect {
                address,
                reason: "timed out waiting for a pooled connection".into(),
                hint: "lower --threads, or raise the server's max_connections".into(),
            };
        }
        other => {
            return AdapterError::Connect {
                address,
                reason: other.to_string(),
                hint: String::new(),
            };
        }
    };
    let (reason, hint) = classify(&source, settings);
    AdapterError::Connect {
        address,
        reason,
        hint,
    }
}

fn classify(e: &tokio_postgres::Error, settings: &Settings) -> (String, String) {
    if let Some(db) = e.as_db_error() {
        let code = db.code().code();
        return match code {
            // invalid_password, invalid_authorization_specification
            "28P01" | "28000" => (
                format!("the server refused the credentials: {}", db.message()),
                "check `user` and `password` in profiles.yml (a password belongs in env_var())"
                    .into(),
            ),
            // invalid_catalog_name
            "3D000" => (
                db.message().to_string(),
                "check `dbname` in profiles.yml, or create the database".into(),
            ),
            _ => (format!("{} ({code})", db.message()), String::new()),
        };
    }
    let chain = error_chain(e);
    let lower = chain.to_lowercase();
    if lower.contains("connection refused") {
        (
            "connection refused".into(),
            "is the server running and listening on that host and port?".into(),
        )
    } else if lower.contains("timed out") || lower.contains("timeout") {
        (
            format!(
                "no answer within {} s",
                settings.connect_timeout.as_secs_f64()
            ),
            "check host, port and firewalls, or raise connect_timeout".into(),
        )
    } else if lower.contains("does not support tls") || lower.contains("tls") {
        let hint = match settings.sslmode {
            SslMode::VerifyFull => {
                "verify-full needs a certificate chain to a trusted root naming the host; set `sslrootcert` to the CA's PEM file, or use sslmode require to encrypt without verifying"
            }
            _ => {
                "the server must accept TLS for this sslmode; sslmode prefer falls back to plain TCP"
            }
        };
        (format!("TLS failed: {chain}"), hint.into())
    } else {
        (chain, String::new())
    }
}

/// The error and its causes on one line: tokio-postgres puts the useful part in the source.
fn error_chain(e: &dyn std::error::Error) -> String {
    let mut parts = vec![e.to_string()];
    let mut source = e.source();
    while let Some(s) = source {
        let text = s.to_string();
        if !parts.iter().any(|p| p.contains(&text)) {
            parts.push(text);
        }
        source = s.source();
    }
    parts.join(": ")
}

fn db_err(e: tokio_postgres::Error) -> AdapterError {
    db_err_in(e, "")
}

/// The advisory lock's two keys: etlx's own class, and the schema's.
const LOCK_CLASS: i32 = 0x4554_4c58; // "ETLX"

fn lock_key(schema: &str) -> i32 {
    use sha2::Digest;
    let digest = sha2::Sha256::digest(schema.as_bytes());
    i32::from_be_bytes([digest[0], digest[1], digest[2], digest[3]]) & 0x7fff_ffff
}

/// Take the advisory lock or say who has it; the statements that release it.
fn advisory_lock(
    conn: &mut PgConnection,
    schema: &str,
    holder: &str,
    what: &str,
) -> Result<Vec<String>, AdapterError> {
    let key = lock_key(schema);
    let name: String = holder.chars().take(63).collect();
    conn.execute(&format!(
        "set application_name = {}",
        Dialect::Postgres.literal(&name)
    ))?;
    let taken = conn
        .query(&format!("select pg_try_advisory_lock({LOCK_CLASS}, {key})"))?
        .scalar();
    if taken.as_deref() == Some("t") {
        return Ok(vec![
            format!("select pg_advisory_unlock({LOCK_CLASS}, {key})"),
            "reset application_name".to_string(),
        ]);
    }
    let found = conn
        .query(&format!(
            "select a.application_name, a.pid from pg_locks l join pg_stat_activity a on a.pid = l.pid \
             where l.locktype = 'advisory' and l.granted and l.classid = {LOCK_CLASS} and l.objid = {key} and l.objsubid = 2"
        ))?
        .rows
        .into_iter()
        .next()
        .map(|row| {
            let app = row.first().cloned().flatten().unwrap_or_default();
            let pid = row.get(1).cloned().flatten().unwrap_or_default();
            format!("{app}; server session {pid}")
        })
        .unwrap_or_else(|| "holder unknown".into());
    let _ = conn.execute("reset application_name");
    Err(AdapterError::Busy {
        what: what.to_string(),
        holder: found,
    })
}

/// Redshift's run lock; the statements that release it.
fn redshift_lock(
    conn: &mut PgConnection,
    schema: &str,
    holder: &str,
    what: &str,
) -> Result<Vec<String>, AdapterError> {
    let d = Dialect::Redshift;
    let table = format!("{}.etlx_run_lock", d.quote(schema));
    conn.execute(&format!("create schema if not exists {}", d.quote(schema)))?;
    conn.execute(&format!(
        "create table if not exists {table} (holder varchar(256), pid integer, since timestamp)"
    ))?;
    conn.execute("begin")?;
    let taken = claim_lock_row(conn, &table, holder, what);
    if let Err(e) = taken {
        let _ = conn.execute("rollback");
        return Err(e);
    }
    Ok(vec![format!(
        "delete from {table} where pid = pg_backend_pid()"
    )])
}

/// Inside the open transaction: refuse if a live session holds the row, else take it.
fn claim_lock_row(
    conn: &mut PgConnection,
    table: &str,
    holder: &str,
    what: &str,
) -> Result<Option<u64>, AdapterError> {
    conn.execute(&format!("lock {table}"))?;
    let live = conn.query(&format!(
        "select holder from {table} where pid in (select process from stv_sessions) and pid <> pg_backend_pid()"
    ))?;
    if let Some(other) = live.scalar() {
        return Err(AdapterError::Busy {
            what: what.to_string(),
            holder: other,
        });
    }
    conn.execute(&format!(
        "delete from {table}; insert into {table} values ({}, pg_backend_pid(), getdate())",
        Dialect::Redshift.literal(holder)
    ))?;
    conn.execute("commit")
}

/// A server error, with the line and column it points at in `sql` when the server says.
fn db_err_in(e: tokio_postgres::Error, sql: &str) -> AdapterError {
    let message = match e.as_db_error() {
        Some(db) => {
            let mut m = db.message().to_string();
            if let Some(tokio_postgres::error::ErrorPosition::Original(at)) = db.position() {
                m.push_str(&position_in(sql, *at as usize));
            }
            if let Some(detail) = db.detail() {
                m.push_str(&format!(" ({detail})"));
            }
            if let Some(hint) = db.hint() {
                m.push_str(&format!("; hint: {hint}"));
            }
            m
        }
        None => error_chain(&e),
    };
    AdapterError::Database { message }
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

pub struct PgConnection {
    client: Object,
    runtime: Arc<tokio::runtime::Runtime>,
    dialect: Dialect,
    /// Ctrl-C sends the server a cancel request for what this connection is running.
    _cancel: crate::cancel::Hooked,
}

impl PgConnection {
    /// Simple-protocol query: several statements in one string work, every value is text.
    fn simple(&mut self, sql: &str) -> Result<Vec<SimpleQueryMessage>, AdapterError> {
        let client = &self.client;
        self.runtime
            .block_on(client.simple_query(sql))
            .map_err(|e| db_err_in(e, sql))
    }
}

impl Connection for PgConnection {
    fn execute(&mut self, sql: &str) -> Result<Option<u64>, AdapterError> {
        let messages = self.simple(sql)?;
        Ok(messages.iter().rev().find_map(|m| match m {
            SimpleQueryMessage::CommandComplete(n) => Some(*n),
            _ => None,
        }))
    }

    fn query(&mut self, sql: &str) -> Result<Table, AdapterError> {
        let mut table = Table::default();
        for message in self.simple(sql)? {
            match message {
                SimpleQueryMessage::RowDescription(columns) => {
                    table.columns = columns.iter().map(|c| c.name().to_string()).collect();
                    table.rows.clear();
                }
                SimpleQueryMessage::Row(row) => table.rows.push(
                    (0..row.len())
                        .map(|i| row.get(i).map(str::to_string))
                        .collect(),
                ),
                _ => {}
            }
        }
        Ok(table)
    }

    /// Types as DDL spells them (`character varying(20)`, `numeric(10,2)`), so a column added
    /// by `on_schema_change` gets exactly the type it had.
    fn columns(&mut self, schema: &str, name: &str) -> Result<Vec<ColumnInfo>, AdapterError> {
        let sql = format!(
            "select a.attname, format_type(a.atttypid, a.atttypmod) \
             from pg_attribute a join pg_class c on c.oid = a.attrelid \
             join pg_namespace n on n.oid = c.relnamespace \
             where n.nspname = {} and c.relname = {} and a.attnum > 0 and not a.attisdropped \
             order by a.attnum",
            Dialect::Postgres.literal(schema),
            Dialect::Postgres.literal(name)
        );
        Ok(column_infos(self.query(&sql)?))
    }

    fn describe(&mut self, sql: &str) -> Result<Vec<ColumnInfo>, AdapterError> {
        let sql = sql.trim().trim_end_matches(';');
        let client = &self.client;
        let statement = self
            .runtime
            .block_on(client.prepare(sql))
            .map_err(|e| db_err_in(e, sql))?;
        Ok(statement
            .columns()
            .iter()
            .map(|c| ColumnInfo {
                name: c.name().to_string(),
                data_type: ddl_type(c.type_().name()).to_string(),
            })
            .collect())
    }

    fn copy_in<'a>(
        &'a mut self,
        table: &str,
        columns: &[String],
    ) -> Result<Box<dyn RowSink + 'a>, AdapterError> {
        if self.dialect == Dialect::Redshift {
            let dialect = self.dialect;
            return Ok(Box::new(InsertSink::new(self, dialect, table, columns)));
        }
        let list = columns
            .iter()
            .map(|c| Dialect::Postgres.quote(c))
            .collect::<Vec<_>>()
            .join(", ");
        let statement = format!("copy {table} ({list}) from stdin with (format csv)");
        let client = &self.client;
        let sink = self
            .runtime
            .block_on(client.copy_in::<_, bytes::Bytes>(statement.as_str()))
            .map_err(db_err)?;
        Ok(Box::new(CopySink {
            sink: Box::pin(sink),
            runtime: &self.runtime,
        }))
    }
}

/// `COPY … FROM STDIN` fed as CSV: NULL is an empty unquoted field, text is always quoted, so
/// an empty string stays an empty string.
struct CopySink<'a> {
    sink: std::pin::Pin<Box<tokio_postgres::CopyInSink<bytes::Bytes>>>,
    runtime: &'a tokio::runtime::Runtime,
}

impl RowSink for CopySink<'_> {
    fn write(&mut self, rows: &[Row]) -> Result<(), AdapterError> {
        let mut buf = BytesMut::with_capacity(rows.len() * 128);
        for row in rows {
            for (i, value) in row.iter().enumerate() {
                if i > 0 {
                    buf.put_u8(b',');
                }
                if let Some(v) = value {
                    buf.put_u8(b'"');
                    buf.put_slice(v.replace('"', "\"\"").as_bytes());
                    buf.put_u8(b'"');
                }
            }
            buf.put_u8(b'\n');
        }
        let sink = &mut self.sink;
        self.runtime
            .block_on(sink.send(buf.freeze()))
            .map_err(db_err)
    }

    fn finish(mut self: Box<Self>) -> Result<u64, AdapterError> {
        let sink = &mut self.sink;
        self.runtime
            .block_on(sink.as_mut().finish())
            .map_err(db_err)
    }
}

/// ` at line L, column C: <the line>` for a 1-based character offset into `sql`.
fn position_in(sql: &str, at: usize) -> String {
    let before: String = sql.chars().take(at.saturating_sub(1)).collect();
    let line = before.matches('\n').count() + 1;
    let column = before.chars().rev().take_while(|c| *c != '\n').count() + 1;
    let text = sql.lines().nth(line - 1).unwrap_or("").trim_end();
    if sql.is_empty() {
        String::new()
    } else {
        format!(
            " at line {line}, column {column} of the statement: {}",
            text.trim()
        )
    }
}

/// DDL names for the wire protocol's type names (`int8` → `bigint`).
fn ddl_type(wire: &str) -> &str {
    match wire {
        "int8" => "bigint",
        "int4" => "integer",
        "int2" => "smallint",
        "float8" => "double precision",
        "float4" => "real",
        "bool" => "boolean",
        "varchar" => "character varying",
        "bpchar" => "character",
        "timestamptz" => "timestamp with time zone",
        other => other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn target(dialect: Dialect, host: &str, sslmode: Option<&str>) -> Target {
        let mut settings: indexmap::IndexMap<String, serde_json::Value> =
            [("host", host), ("user", "etl"), ("dbname", "dev")]
                .into_iter()
                .map(|(k, v)| (k.to_string(), v.into()))
                .collect();
        if let Some(mode) = sslmode {
            settings.insert("sslmode".into(), mode.into());
        }
        Target {
            profile: "p".into(),
            name: "t".into(),
            dialect,
            schema: "public".into(),
            database: None,
            threads: 1,
            settings,
            source: None,
        }
    }

    #[test]
    fn redshift_verifies_the_server_unless_told_otherwise() {
        let host = "etl.abc123.eu-west-1.redshift.amazonaws.com";
        let default = Settings::from_target(&target(Dialect::Redshift, host, None)).unwrap();
        assert_eq!(default.sslmode, SslMode::VerifyFull);
        assert_eq!(default.tls_warning, None);
        let opted_out =
            Settings::from_target(&target(Dialect::Redshift, host, Some("require"))).unwrap();
        assert_eq!(opted_out.sslmode, SslMode::Require);
        let warning = opted_out.tls_warning.expect("require warns");
        assert!(
            warning.contains(host) && warning.contains("verify-full"),
            "{warning}"
        );
    }

    #[test]
    fn postgres_warns_when_a_remote_server_is_not_verified() {
        let local = Settings::from_target(&target(Dialect::Postgres, "127.0.0.1", None)).unwrap();
        assert_eq!(local.sslmode, SslMode::Prefer);
        assert_eq!(local.tls_warning, None);
        let remote = Settings::from_target(&target(Dialect::Postgres, "db.example.com", None));
        assert!(remote.unwrap().tls_warning.is_some());
        let local_require =
            Settings::from_target(&target(Dialect::Postgres, "localhost", Some("require")));
        assert!(local_require.unwrap().tls_warning.is_some());
    }
}

//! Errors from the server and the pool, rebuilt as etlx's own. Kept in one place so that
//! every message is made the same way: by kind, naming the host, port, user and database and
//! never the password, with a hint at the setting to change, and with the line of the
//! statement a server error points at.

use deadpool_postgres::PoolError;

use super::settings::{Settings, SslMode};
use crate::adapter::AdapterError;

/// A failed connection attempt, said by kind: refused, timed out, credentials, TLS.
pub(super) fn connect_error(settings: &Settings, e: PoolError) -> AdapterError {
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

pub(super) fn db_err(e: tokio_postgres::Error) -> AdapterError {
    db_err_in(e, "")
}

/// A server error, with the line and column it points at in `sql` when the server says.
pub(super) fn db_err_in(e: tokio_postgres::Error, sql: &str) -> AdapterError {
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

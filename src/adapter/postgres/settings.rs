//! The target's settings as a connection needs them, checked before anything connects: a
//! typo in `port` or `sslmode` should be a config error naming the setting, and whether the
//! server's identity is verified should be decided (and warned about) once, up front.

use std::path::PathBuf;
use std::time::Duration;

use tokio_postgres::config::SslMode as WireSslMode;

use crate::adapter::AdapterError;
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

    pub(super) fn wire_config(&self) -> tokio_postgres::Config {
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

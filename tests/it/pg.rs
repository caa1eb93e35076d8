//! A throwaway database on the PostgreSQL server named by `ETLX_TEST_PG_URL` (`.ci/run`
//! starts one and sets it). Without the variable a test skips with a message, except under
//! `CI=true`: there a missing server fails the test, so CI cannot pass by skipping.

use tokio_postgres::{Client, NoTls, SimpleQueryMessage};

pub struct PgDatabase {
    pub name: String,
    host: String,
    port: u16,
    user: String,
    password: String,
    admin: tokio_postgres::Config,
    runtime: tokio::runtime::Runtime,
    client: Client,
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("tokio runtime")
}

fn connect(runtime: &tokio::runtime::Runtime, config: &tokio_postgres::Config) -> Client {
    let (client, connection) = runtime
        .block_on(config.connect(NoTls))
        .unwrap_or_else(|e| panic!("cannot connect to the test server: {e}"));
    runtime.spawn(connection);
    client
}

impl PgDatabase {
    /// A fresh database for `test`, or `None` (with a message) when no server is configured.
    pub fn create(test: &str) -> Option<PgDatabase> {
        let Ok(url) = std::env::var("ETLX_TEST_PG_URL") else {
            if std::env::var("CI").is_ok_and(|v| v == "true") {
                panic!("CI=true but ETLX_TEST_PG_URL is not set: .ci/run must start PostgreSQL");
            }
            eprintln!("skipping {test}: set ETLX_TEST_PG_URL to run the PostgreSQL tests");
            return None;
        };
        let admin: tokio_postgres::Config = url
            .parse()
            .unwrap_or_else(|e| panic!("ETLX_TEST_PG_URL is not a PostgreSQL URL: {e}"));
        let host = match admin.get_hosts().first() {
            Some(tokio_postgres::config::Host::Tcp(h)) => h.clone(),
            _ => "127.0.0.1".to_string(),
        };
        let port = admin.get_ports().first().copied().unwrap_or(5432);
        let user = admin.get_user().unwrap_or("postgres").to_string();
        let password = String::from_utf8_lossy(admin.get_password().unwrap_or_default()).into();
        let name = format!("etlx_t_{}_{}", std::process::id(), test)
            .chars()
            .take(63)
            .collect::<String>();
        let runtime = runtime();
        let setup = connect(&runtime, &admin);
        // One statement a call: CREATE DATABASE cannot run inside a transaction block.
        for sql in [
            format!("drop database if exists \"{name}\" with (force)"),
            format!("create database \"{name}\""),
        ] {
            runtime
                .block_on(setup.batch_execute(&sql))
                .unwrap_or_else(|e| panic!("{sql}: {e:?}"));
        }
        let mut own = admin.clone();
        own.dbname(&name);
        let client = connect(&runtime, &own);
        Some(PgDatabase {
            name,
            host,
            port,
            user,
            password,
            admin,
            runtime,
            client,
        })
    }

    /// The variables the fixtures' `pg` target reads.
    pub fn env(&self) -> Vec<(String, String)> {
        vec![
            ("ETLX_TEST_PG_HOST".into(), self.host.clone()),
            ("ETLX_TEST_PG_PORT".into(), self.port.to_string()),
            ("ETLX_TEST_PG_USER".into(), self.user.clone()),
            (
                "ETLX_ENV_SECRET_TEST_PG_PASSWORD".into(),
                self.password.clone(),
            ),
            ("ETLX_TEST_PG_DATABASE".into(), self.name.clone()),
        ]
    }

    /// The variables the demo project's `pg` target (the repository root's profiles.yml) reads.
    pub fn demo_env(&self) -> Vec<(String, String)> {
        self.env()
            .into_iter()
            .map(|(k, v)| match k.as_str() {
                "ETLX_ENV_SECRET_TEST_PG_PASSWORD" => ("ETLX_ENV_SECRET_PG_PASSWORD".into(), v),
                other => (other.replace("ETLX_TEST_PG_", "ETLX_PG_"), v),
            })
            .collect()
    }

    pub fn password(&self) -> &str {
        &self.password
    }

    /// Rows of a query, every value as text (NULL as "").
    pub fn query(&self, sql: &str) -> Vec<Vec<String>> {
        let messages = self
            .runtime
            .block_on(self.client.simple_query(sql))
            .unwrap_or_else(|e| panic!("{sql}: {e}"));
        messages
            .iter()
            .filter_map(|m| match m {
                SimpleQueryMessage::Row(row) => Some(
                    (0..row.len())
                        .map(|i| row.get(i).unwrap_or_default().to_string())
                        .collect(),
                ),
                _ => None,
            })
            .collect()
    }
}

impl Drop for PgDatabase {
    fn drop(&mut self) {
        let admin = connect(&self.runtime, &self.admin);
        let _ = self.runtime.block_on(admin.batch_execute(&format!(
            "drop database if exists \"{}\" with (force)",
            self.name
        )));
    }
}

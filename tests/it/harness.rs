//! Running the binary on a copy of a fixture project, and snapshot settings shared by tests.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

pub struct Output {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

/// A fixture copied into a temporary directory, so tests can write `target/` in parallel.
pub struct Fixture {
    pub name: String,
    pub dir: tempfile::TempDir,
}

pub fn fixtures_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures")
}

impl Fixture {
    pub fn new(name: &str) -> Fixture {
        let dir = tempfile::tempdir().expect("temp dir");
        copy_dir(&fixtures_dir().join(name), dir.path());
        Fixture {
            name: name.to_string(),
            dir,
        }
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    pub fn etlx(&self, args: &[&str]) -> Output {
        run_in(self.path(), args)
    }

    /// `etlx` that is killed after `timeout`; `None` if it had to be.
    pub fn etlx_within(&self, args: &[&str], timeout: std::time::Duration) -> Option<Output> {
        run_within(self.path(), args, timeout)
    }

    /// `etlx` with extra environment variables (a test's own database, a secret).
    pub fn etlx_with(&self, args: &[&str], env: &[(String, String)]) -> Output {
        run_with(self.path(), args, env)
    }

    pub fn read(&self, rel: &str) -> String {
        std::fs::read_to_string(self.path().join(rel)).unwrap_or_else(|e| panic!("{rel}: {e}"))
    }

    /// Replace `from` with `to` in a file of this copy of the fixture, to break it on purpose.
    /// Panics if `from` is not there: an edit that silently did nothing would test nothing.
    pub fn edit(&self, rel: &str, from: &str, to: &str) {
        let text = self.read(rel);
        assert!(text.contains(from), "{rel} has no {from:?}");
        std::fs::write(self.path().join(rel), text.replace(from, to))
            .unwrap_or_else(|e| panic!("{rel}: {e}"));
    }

    /// Snapshot settings: stored beside the fixture, temp paths and timings filtered.
    pub fn settings(&self) -> insta::Settings {
        let mut s = insta::Settings::clone_current();
        s.set_snapshot_path(fixtures_dir().join(&self.name));
        s.set_prepend_module_to_snapshot(false);
        s.set_omit_expression(true);
        let tmp = regex_escape(&self.path().display().to_string());
        s.add_filter(&tmp, "[PROJECT]");
        s.add_filter(r"in \d+\.\d+s", "in [TIME]");
        s
    }
}

/// Run etlx in `dir` with a stable environment: no colour, fixed width, no user profiles.
pub fn run_in(dir: &Path, args: &[&str]) -> Output {
    run_with(dir, args, &[])
}

pub fn run_with(dir: &Path, args: &[&str], env: &[(String, String)]) -> Output {
    let out = etlx_command(dir, args, env).output().expect("run etlx");
    to_output(&out)
}

/// Run etlx in `dir`, killing it after `timeout`: `None` means it was still running then, so a
/// test can report a hang instead of hanging itself.
pub fn run_within(dir: &Path, args: &[&str], timeout: std::time::Duration) -> Option<Output> {
    let clock = std::time::Instant::now();
    let out = assert_cmd::Command::from_std(etlx_command(dir, args, &[]))
        .timeout(timeout)
        .output()
        .expect("run etlx");
    // A killed child has no exit code; one that ended by itself near the limit still has one.
    let killed = out.status.code().is_none() && clock.elapsed() >= timeout;
    (!killed).then(|| to_output(&out))
}

fn to_output(out: &std::process::Output) -> Output {
    Output {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

/// The command `run_with` runs, for tests that start etlx and act while it runs.
pub fn etlx_command(dir: &Path, args: &[&str], env: &[(String, String)]) -> std::process::Command {
    let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_etlx"));
    // Removed first: a test may set them again.
    for name in [
        "ETLX_TARGET",
        "ETLX_PROFILES_DIR",
        "DBT_PROFILES_DIR",
        "ETLX_PROJECT_DIR",
        "ETLX_LOG",
        "ETLX_SQL_LOG",
    ] {
        cmd.env_remove(name);
    }
    cmd.args(args)
        .envs(env.iter().map(|(k, v)| (k, v)))
        .current_dir(dir)
        .env("NO_COLOR", "1")
        .env("COLUMNS", "100")
        .env("HOME", dir);
    cmd
}

fn copy_dir(from: &Path, to: &Path) {
    for entry in walkdir::WalkDir::new(from) {
        let entry = entry.expect("walk fixture");
        let rel = entry.path().strip_prefix(from).expect("inside fixture");
        if rel.starts_with("target") || entry.path().extension().is_some_and(|e| e == "snap") {
            continue;
        }
        let dest = to.join(rel);
        if entry.file_type().is_dir() {
            std::fs::create_dir_all(&dest).expect("mkdir");
        } else {
            std::fs::copy(entry.path(), &dest).expect("copy");
        }
    }
}

fn regex_escape(text: &str) -> String {
    text.chars()
        .flat_map(|c| {
            let special = "\\.+*?()|[]{}^$#&-~".contains(c);
            special
                .then_some('\\')
                .into_iter()
                .chain(std::iter::once(c))
        })
        .collect()
}

/// Rows of a query on a DuckDB database file, every value as text (NULL as "").
pub fn duckdb_rows(database: &Path, sql: &str) -> Vec<Vec<String>> {
    let conn = duckdb::Connection::open(database).expect("open warehouse");
    let mut stmt = conn
        .prepare(&format!("select columns(*)::varchar from ({sql})"))
        .expect(sql);
    let mut rows = stmt.query([]).expect(sql);
    let mut out = Vec::new();
    while let Some(row) = rows.next().expect(sql) {
        let n = row.as_ref().column_count();
        out.push(
            (0..n)
                .map(|i| {
                    row.get::<_, Option<String>>(i)
                        .expect(sql)
                        .unwrap_or_default()
                })
                .collect(),
        );
    }
    out
}

/// Start etlx in `dir` and wait, up to 10 s, until `started()` says the part a test wants to
/// interrupt is under way. Panics if it never is, or if etlx ends first.
pub fn start_until(
    dir: &Path,
    args: &[&str],
    env: &[(String, String)],
    started: impl Fn() -> bool,
) -> std::process::Child {
    let mut child = etlx_command(dir, args, env)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("start etlx");
    for _ in 0..200 {
        std::thread::sleep(std::time::Duration::from_millis(50));
        if let Some(status) = child.try_wait().expect("poll etlx") {
            panic!("etlx {args:?} ended on its own ({status}) before it could be interrupted");
        }
        if started() {
            return child;
        }
    }
    let _ = child.kill();
    panic!("etlx {args:?} did not get under way within 10 s");
}

/// Whether the SQL log at `log` shows `statement` was sent.
pub fn logged(log: &Path, statement: &str) -> bool {
    std::fs::read_to_string(log).is_ok_and(|t| t.contains(statement))
}

/// Send `signal` to a child process with the system's `kill`.
pub fn send_signal(child: &std::process::Child, signal: &str) {
    let status = std::process::Command::new("kill")
        .args([&format!("-{signal}"), &child.id().to_string()])
        .status()
        .expect("kill");
    assert!(status.success(), "kill -{signal} failed");
}

/// Row count and an order-independent checksum (the sum of the rows' hashes) of every base
/// table of a DuckDB database that `keep` accepts, keyed `schema.table`.
///
/// The database is opened read-only: after a killed run it still has a write-ahead log, and
/// replaying it is the next etlx run's job, not the checker's.
pub fn duckdb_fingerprint(
    database: &Path,
    keep: impl Fn(&str) -> bool,
) -> BTreeMap<String, (i64, String)> {
    let config = duckdb::Config::default()
        .access_mode(duckdb::AccessMode::ReadOnly)
        .expect("read-only config");
    let db = duckdb::Connection::open_with_flags(database, config).expect("open warehouse");
    let tables: Vec<(String, String)> = db
        .prepare(
            "select table_schema, table_name from information_schema.tables \
             where table_type = 'BASE TABLE' and table_catalog = current_database() order by 1, 2",
        )
        .and_then(|mut s| s.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?.collect())
        .expect("tables");
    tables
        .into_iter()
        .filter(|(_, t)| keep(t))
        .map(|(s, t)| {
            let sql = format!(
                "select count(*), coalesce(sum(hash(x)), 0)::varchar from \"{s}\".\"{t}\" as x"
            );
            let v = db
                .query_row(&sql, [], |r| Ok((r.get(0)?, r.get(1)?)))
                .expect("checksum");
            (format!("{s}.{t}"), v)
        })
        .collect()
}

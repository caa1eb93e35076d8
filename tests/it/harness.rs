//! Running the binary on a copy of a fixture project, and snapshot settings shared by tests.

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
    let out = command(dir, args, env).output().expect("run etlx");
    to_output(&out)
}

/// Run etlx in `dir`, killing it after `timeout`: `None` means it was still running then, so a
/// test can report a hang instead of hanging itself.
pub fn run_within(dir: &Path, args: &[&str], timeout: std::time::Duration) -> Option<Output> {
    let clock = std::time::Instant::now();
    let out = command(dir, args, &[])
        .timeout(timeout)
        .output()
        .expect("run etlx");
    // A killed child has no exit code; one that ended by itself near the limit still has one.
    let killed = out.status.code().is_none() && clock.elapsed() >= timeout;
    (!killed).then(|| to_output(&out))
}

fn command(dir: &Path, args: &[&str], env: &[(String, String)]) -> assert_cmd::Command {
    let mut cmd = assert_cmd::Command::new(env!("CARGO_BIN_EXE_etlx"));
    cmd.args(args)
        .envs(env.iter().map(|(k, v)| (k, v)))
        .current_dir(dir)
        .env("NO_COLOR", "1")
        .env("COLUMNS", "100")
        .env("HOME", dir)
        .env_remove("ETLX_TARGET")
        .env_remove("ETLX_PROFILES_DIR")
        .env_remove("ETLX_PROJECT_DIR")
        .env_remove("ETLX_LOG");
    cmd
}

fn to_output(out: &std::process::Output) -> Output {
    Output {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
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

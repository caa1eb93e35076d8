//! Kill -9 trials (issue 14, "nothing lost under faults"). A pipeline's build can die at any
//! moment: a node's OOM killer, a deploy, a spot instance taken back. These tests start
//! `etlx build` of the demo warehouse, SIGKILL it at seeded pseudo-random moments, and check
//! what it leaves: every table is its old version or its new one, never something between;
//! the next run leaves no `__etlx_tmp` / `__etlx_old` relation behind; and it ends at the
//! same warehouse as a build that was never interrupted. On DuckDB and on PostgreSQL.
//!
//! `ETLX_KILL_TRIALS` sets the trials per engine (default 30), `ETLX_KILL_SEED` the seed.

use std::collections::{BTreeMap, BTreeSet};
use std::os::unix::process::ExitStatusExt;
use std::path::{Path, PathBuf};
use std::process::Child;
use std::time::{Duration, Instant};

use crate::harness::{duckdb_fingerprint, duckdb_rows, etlx_command, run_with};
use crate::pg::PgDatabase;

/// Row count and checksum of every table, keyed `schema.table`.
type Fingerprint = BTreeMap<String, (i64, String)>;

const DEFAULT_TRIALS: usize = 30;
const DEFAULT_SEED: u64 = 14;

/// A warehouse the trials can look into and put back to the state before the build.
trait Warehouse {
    /// Arguments and environment that point etlx at this warehouse.
    fn args(&self) -> Vec<String>;
    fn env(&self) -> Vec<(String, String)>;
    /// Wait until nothing a killed run started is still changing the warehouse.
    fn settle(&mut self);
    /// Every table but the build's own temporary relations.
    fn fingerprint(&mut self) -> Fingerprint;
    /// `__etlx_tmp` / `__etlx_old` relations, tables or views.
    fn leftovers(&mut self) -> Vec<String>;
    fn save(&mut self);
    fn restore(&mut self);
    /// Drop everything: the next build starts from an empty warehouse.
    fn clear(&mut self);
    /// The rows of a query, as text.
    fn rows(&mut self, sql: &str) -> Vec<Vec<String>>;
}

fn is_leftover(name: &str) -> bool {
    name.ends_with("__etlx_tmp") || name.ends_with("__etlx_old")
}

/// The demo's microbatch models and their batch column. They commit one day at a time by
/// design, so a kill may leave some days new and others old: each is fingerprinted per day
/// (`table@day`), and every day must be either its old or its new version.
const MICROBATCH: [(&str, &str); 3] = [
    ("daily_active_users", "activity_date"),
    ("hourly_plays", "play_date"),
    ("song_daily_plays", "play_date"),
];

fn batch_column(table: &str) -> Option<&'static str> {
    MICROBATCH
        .iter()
        .find(|(t, _)| *t == table)
        .map(|(_, c)| *c)
}

/// The file ledger records which run consumed each file (its id and time), so it differs
/// between any two runs by design; `exactly_once` checks what it is for.
fn is_ledger(name: &str) -> bool {
    name.ends_with("file_ledger")
}

const LEFTOVERS: &str = "select table_schema || '.' || table_name from information_schema.tables \
                         where table_name like '%\\_\\_etlx\\_tmp' escape '\\' \
                         or table_name like '%\\_\\_etlx\\_old' escape '\\' order by 1";

struct DuckDbWarehouse {
    database: PathBuf,
    saved: PathBuf,
}

impl DuckDbWarehouse {
    fn new(dir: &Path) -> DuckDbWarehouse {
        DuckDbWarehouse {
            database: dir.join("etlx_demo.duckdb"),
            saved: dir.join("saved.duckdb"),
        }
    }
}

/// The write-ahead log beside a DuckDB file: a killed run leaves its last commits there.
fn wal(database: &Path) -> PathBuf {
    let mut name = database.as_os_str().to_owned();
    name.push(".wal");
    PathBuf::from(name)
}

/// Copy a DuckDB file and its log, if it has one; a stale log at the destination goes.
fn copy_database(from: &Path, to: &Path) {
    std::fs::copy(from, to).expect("copy database");
    let _ = std::fs::remove_file(wal(to));
    if wal(from).exists() {
        std::fs::copy(wal(from), wal(to)).expect("copy log");
    }
}

impl Warehouse for DuckDbWarehouse {
    fn args(&self) -> Vec<String> {
        Vec::new()
    }

    fn env(&self) -> Vec<(String, String)> {
        Vec::new()
    }

    // A dead process holds no lock and runs nothing: the file is final.
    fn settle(&mut self) {}

    fn fingerprint(&mut self) -> Fingerprint {
        let mut all = duckdb_fingerprint(&self.database, |t| {
            !is_leftover(t) && !is_ledger(t) && batch_column(t).is_none()
        });
        let tables = duckdb_rows(
            &self.database,
            "select table_schema, table_name from information_schema.tables",
        );
        for row in tables {
            let (s, t) = (&row[0], &row[1]);
            let Some(day) = batch_column(t) else {
                continue;
            };
            let per_day = format!(
                "select '{s}.{t}@' || cast({day} as varchar), count(*), \
                 coalesce(sum(hash(x)), 0)::varchar from \"{s}\".\"{t}\" as x group by {day}"
            );
            for r in duckdb_rows(&self.database, &per_day) {
                all.insert(r[0].clone(), (r[1].parse().expect("count"), r[2].clone()));
            }
        }
        all
    }

    fn leftovers(&mut self) -> Vec<String> {
        duckdb_rows(&self.database, LEFTOVERS)
            .into_iter()
            .map(|r| r[0].clone())
            .collect()
    }

    fn save(&mut self) {
        copy_database(&self.database, &self.saved);
    }

    fn restore(&mut self) {
        copy_database(&self.saved, &self.database);
    }

    fn clear(&mut self) {
        let _ = std::fs::remove_file(&self.database);
        let _ = std::fs::remove_file(wal(&self.database));
    }

    fn rows(&mut self, sql: &str) -> Vec<Vec<String>> {
        duckdb_rows(&self.database, sql)
    }
}

struct PgWarehouse(PgDatabase);

impl PgWarehouse {
    fn drop_every_schema(&mut self) {
        self.0.query(
            "do $$ declare r record; begin
               for r in select nspname from pg_namespace
                        where nspname not in ('pg_catalog', 'information_schema', 'pg_toast')
                          and nspname not like 'pg\\_%' loop
                 execute 'drop schema ' || quote_ident(r.nspname) || ' cascade';
               end loop;
               create schema if not exists public;
             end $$",
        );
    }
}

impl Warehouse for PgWarehouse {
    fn args(&self) -> Vec<String> {
        vec!["--target".into(), "pg".into()]
    }

    fn env(&self) -> Vec<(String, String)> {
        self.0.demo_env()
    }

    /// The server finishes a dead client's statement before it notices the client is gone
    /// and rolls back; until then the warehouse may still change.
    fn settle(&mut self) {
        let others = "select count(*) from pg_stat_activity \
                      where datname = current_database() and pid <> pg_backend_pid()";
        let start = Instant::now();
        while self.0.query(others) != [["0"]] {
            assert!(
                start.elapsed() < Duration::from_secs(60),
                "the killed build's sessions are still on the server after 60 s"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    fn fingerprint(&mut self) -> Fingerprint {
        let tables = self.0.query(&format!(
            "select table_schema, table_name from information_schema.tables \
             where table_type = 'BASE TABLE' and table_schema not in ('pg_catalog', 'information_schema', '{SAVED}') \
             and table_schema not like 'pg\\_%' order by 1, 2"
        ));
        // One query for all tables: rows as text, sorted, so the same rows in any physical
        // order give the same checksum.
        let each: Vec<String> = tables
            .iter()
            .filter(|r| !is_leftover(&r[1]) && !is_ledger(&r[1]))
            .map(|r| {
                let (s, t) = (&r[0], &r[1]);
                let (key, by) = match batch_column(t) {
                    Some(day) => (
                        format!("'{s}.{t}@' || {day}::text"),
                        format!(" group by {day}"),
                    ),
                    None => (format!("'{s}.{t}'"), String::new()),
                };
                format!(
                    "select {key}, count(*), \
                     coalesce(md5(string_agg(x::text, ',' order by x::text)), '') \
                     from \"{s}\".\"{t}\" as x{by}"
                )
            })
            .collect();
        if each.is_empty() {
            return Fingerprint::new();
        }
        self.0
            .query(&each.join(" union all "))
            .into_iter()
            .map(|r| (r[0].clone(), (r[1].parse().expect("count"), r[2].clone())))
            .collect()
    }

    fn leftovers(&mut self) -> Vec<String> {
        self.0
            .query(LEFTOVERS)
            .into_iter()
            .map(|r| r[0].clone())
            .collect()
    }

    /// Copies of the tables in a schema of their own, put back in one transaction: a tenth
    /// of a second, where a copy of the whole database (CREATE DATABASE … TEMPLATE) took
    /// one to two. The demo has only tables; a view would be lost, so it is refused.
    fn save(&mut self) {
        self.0.query(&format!(
            "do $$ declare r record; begin
               drop schema if exists {SAVED} cascade;
               create schema {SAVED};
               if exists (select from information_schema.tables where table_type <> 'BASE TABLE'
                          and table_schema not in ('pg_catalog', 'information_schema')) then
                 raise exception 'the trials save and restore tables only, not views';
               end if;
               for r in select table_schema as s, table_name as t from information_schema.tables
                        where table_schema not in ('pg_catalog', 'information_schema', '{SAVED}')
                        and table_schema not like 'pg\\_%' loop
                 execute format('create table {SAVED}.%I as table %I.%I', r.s || '.' || r.t, r.s, r.t);
               end loop;
             end $$"
        ));
    }

    fn restore(&mut self) {
        self.0.query(&format!(
            "do $$ declare r record; begin
               for r in select nspname from pg_namespace
                        where nspname not in ('pg_catalog', 'information_schema', 'public', '{SAVED}')
                        and nspname not like 'pg\\_%' loop
                 execute format('drop schema %I cascade', r.nspname);
               end loop;
               for r in select tablename from pg_tables where schemaname = 'public' loop
                 execute format('drop table public.%I cascade', r.tablename);
               end loop;
               for r in select split_part(table_name, '.', 1) as s, split_part(table_name, '.', 2) as t,
                               table_name as saved
                        from information_schema.tables where table_schema = '{SAVED}' loop
                 execute format('create schema if not exists %I', r.s);
                 execute format('create table %I.%I as table {SAVED}.%I', r.s, r.t, r.saved);
               end loop;
             end $$"
        ));
    }

    fn clear(&mut self) {
        self.drop_every_schema();
    }

    fn rows(&mut self, sql: &str) -> Vec<Vec<String>> {
        self.0.query(sql)
    }
}

/// Where the PostgreSQL trials keep the state to restore: a schema etlx does not know.
const SAVED: &str = "etlx_kill_saved";

/// splitmix64: a fixed seed gives the same kill points on every machine, no crate needed.
struct Rng(u64);

impl Rng {
    fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in [0, 1).
    fn fraction(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }
}

fn env_number<T: std::str::FromStr>(name: &str, default: T) -> T {
    match std::env::var(name) {
        Ok(v) => v
            .parse()
            .unwrap_or_else(|_| panic!("{name}={v} is not a number")),
        Err(_) => default,
    }
}

/// The build a pipeline runs for one batch (README: the unit tests and the whole-history
/// audits run on a schedule of their own).
fn build_args(w: &dyn Warehouse, batch: &str) -> Vec<String> {
    let mut args: Vec<String> = vec![
        "build".into(),
        "--vars".into(),
        format!("{{batch: {batch}}}"),
        "--exclude".into(),
        "tag:audit".into(),
        "--exclude-resource-type".into(),
        "unit_test".into(),
    ];
    args.extend(w.args());
    args
}

/// Build a batch to the end.
fn build(w: &dyn Warehouse, dir: &Path, batch: &str) -> Result<(), String> {
    let args = build_args(w, batch);
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let out = run_with(dir, &args, &w.env());
    if out.code == 0 {
        Ok(())
    } else {
        Err(format!(
            "build {batch} exited {}:\n{}\n{}",
            out.code, out.stdout, out.stderr
        ))
    }
}

/// Start etlx with its output going to `log`, where the trial can watch its progress.
fn start(w: &dyn Warehouse, dir: &Path, args: &[String], log: &Path) -> Child {
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let out = std::fs::File::create(log).expect("log file");
    etlx_command(dir, &args, &w.env())
        .stdout(out.try_clone().expect("log file"))
        .stderr(out)
        .spawn()
        .expect("start etlx")
}

/// Wait until etlx reports its first node (`  1 of 162  OK ...`): loading and compiling
/// the project are over and it writes to the warehouse from now on. False if it exited first.
fn wait_for_first_node(child: &mut Child, log: &Path) -> bool {
    let reported = || {
        std::fs::read_to_string(log).is_ok_and(|text| {
            text.lines().any(|l| {
                l.trim_start()
                    .split_once(" of ")
                    .is_some_and(|(n, _)| n.parse::<u32>().is_ok())
            })
        })
    };
    loop {
        if reported() {
            return true;
        }
        if child.try_wait().expect("poll etlx").is_some() {
            return reported();
        }
        std::thread::sleep(Duration::from_millis(2));
    }
}

/// How long uninterrupted builds of the batch take, to their first node and to their exit:
/// the medians of all so far, so kill points follow a machine that gets busier or quieter
/// while the trials run.
#[derive(Default)]
struct Timings {
    total: Vec<Duration>,
    after_first_node: Vec<Duration>,
}

fn median(samples: &[Duration]) -> Duration {
    let mut sorted = samples.to_vec();
    sorted.sort();
    sorted[sorted.len() / 2]
}

impl Timings {
    fn total(&self) -> Duration {
        median(&self.total)
    }

    fn after_first_node(&self) -> Duration {
        median(&self.after_first_node)
    }

    /// Build to the end, timed.
    fn build(
        &mut self,
        w: &dyn Warehouse,
        dir: &Path,
        args: &[String],
        log: &Path,
    ) -> Result<(), String> {
        let started = Instant::now();
        let mut child = start(w, dir, args, log);
        let reported = wait_for_first_node(&mut child, log);
        let first_node = started.elapsed();
        let status = child.wait().expect("wait for etlx");
        let total = started.elapsed();
        if !status.success() || !reported {
            let output = std::fs::read_to_string(log).unwrap_or_default();
            return Err(format!("{args:?} exited {status}:\n{output}"));
        }
        self.total.push(total);
        self.after_first_node.push(total - first_node);
        Ok(())
    }
}

/// Tables that are neither their version before the build nor the one after it.
fn partial(now: &Fingerprint, before: &Fingerprint, after: &Fingerprint) -> Vec<String> {
    let names: BTreeSet<&String> = before
        .keys()
        .chain(after.keys())
        .chain(now.keys())
        .collect();
    names
        .into_iter()
        .filter(|t| now.get(*t) != before.get(*t) && now.get(*t) != after.get(*t))
        .map(|t| {
            format!(
                "{t}: {:?}, before {:?}, after {:?}",
                now.get(t),
                before.get(t),
                after.get(t)
            )
        })
        .collect()
}

/// The last lines of a killed run's output: which nodes it had finished.
fn tail(path: &Path) -> String {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(4)..].join("\n")
}

#[derive(Default)]
struct Tally {
    trials: usize,
    /// Aimed anywhere in the run, not only once nodes are being built.
    anywhere: usize,
    killed: usize,
    exited_before_kill: usize,
    nothing_written: usize,
    all_written: usize,
    mixed: usize,
    partial_tables: usize,
    divergent: usize,
    leftovers: usize,
    failed_reruns: usize,
    /// Where the time goes, so a slow CI log says what to trim.
    restoring: Duration,
    killed_runs: Duration,
    checking: Duration,
    next_runs: Duration,
}

/// Build batch 1, then kill builds of batch 2 started from that state, `ETLX_KILL_TRIALS`
/// times. One kill in four lands anywhere in the time an uninterrupted build takes; the
/// others land while nodes are built, where the writes are (loading and compiling the
/// project take about a third of a run, and write nothing).
fn kill_trials(engine: &str, w: &mut dyn Warehouse, dir: &Path) {
    let trials = env_number("ETLX_KILL_TRIALS", DEFAULT_TRIALS);
    let seed = env_number("ETLX_KILL_SEED", DEFAULT_SEED);
    let started = Instant::now();
    build(w, dir, "batch_001").unwrap_or_else(|e| panic!("{e}"));
    w.save();
    let before = w.fingerprint();
    let args = build_args(w, "batch_002");
    let (log, rerun_log) = (dir.join("killed-run.log"), dir.join("next-run.log"));
    let mut timings = Timings::default();
    timings
        .build(w, dir, &args, &rerun_log)
        .unwrap_or_else(|e| panic!("{e}"));
    let after = w.fingerprint();
    let songplays = after
        .keys()
        .find(|t| t.ends_with(".fct_songplays"))
        .expect("the demo has fct_songplays");
    assert!(
        before.len() >= 12 && before.get(songplays) != after.get(songplays),
        "batch 2 must change the warehouse for the trials to test anything:\n{before:?}\n{after:?}"
    );
    let mut rng = Rng(seed);
    let mut tally = Tally::default();
    let mut problems: Vec<String> = Vec::new();
    for trial in 1..=trials {
        let fraction = rng.fraction();
        let anywhere = trial % 4 == 1;
        let phase = Instant::now();
        w.restore();
        tally.restoring += phase.elapsed();
        let spawned = Instant::now();
        let mut child = start(w, dir, &args, &log);
        let at = if anywhere {
            let delay = timings.total().mul_f64(fraction);
            std::thread::sleep(delay);
            format!("{delay:.2?} after the start (of {:.2?})", timings.total())
        } else if wait_for_first_node(&mut child, &log) {
            let delay = timings.after_first_node().mul_f64(fraction);
            std::thread::sleep(delay);
            format!(
                "{delay:.2?} after the first node (of {:.2?})",
                timings.after_first_node()
            )
        } else {
            "before the first node".to_string()
        };
        // Reaped only by `wait`: until then its pid cannot be reused, so the kill hits etlx
        // or a zombie, never another process.
        let _ = child.kill();
        let status = child.wait().expect("wait for etlx");
        let at = format!(
            "{engine} seed {seed} trial {trial}: kill {at}, {:.2?} after the start",
            spawned.elapsed()
        );
        let killed_output = tail(&log);
        tally.killed_runs += spawned.elapsed();
        let phase = Instant::now();
        tally.trials += 1;
        if anywhere {
            tally.anywhere += 1;
        }
        if status.signal() == Some(9) {
            tally.killed += 1;
        } else {
            tally.exited_before_kill += 1;
            if !status.success() {
                problems.push(format!(
                    "{at}: the build failed on its own ({status}):\n{killed_output}"
                ));
            }
        }
        w.settle();
        let now = w.fingerprint();
        let broken = partial(
            &kept(now.clone()),
            &kept(before.clone()),
            &kept(after.clone()),
        );
        if now == before {
            tally.nothing_written += 1;
        } else if now == after {
            tally.all_written += 1;
        } else {
            tally.mixed += 1;
        }
        if !broken.is_empty() {
            tally.partial_tables += broken.len();
            problems.push(format!(
                "{at}: tables neither old nor new:\n  {}\nlast output:\n{killed_output}",
                broken.join("\n  ")
            ));
        }
        tally.checking += phase.elapsed();
        let phase = Instant::now();
        if let Err(e) = timings.build(w, dir, &args, &rerun_log) {
            tally.failed_reruns += 1;
            problems.push(format!("{at}: the next run failed: {e}"));
        }
        let mut left = w.leftovers();
        left.extend(w.fingerprint().into_keys().filter(|t| is_run_scoped(t)));
        if !left.is_empty() {
            tally.leftovers += left.len();
            problems.push(format!("{at}: left after the next run: {left:?}"));
        }
        // Staging and the landing table hold the files of the last run, which the killed run
        // may already have consumed: the tables that keep history must converge.
        let converged = warehouse_tables(w.fingerprint());
        if converged != warehouse_tables(after.clone()) {
            tally.divergent += 1;
            problems.push(format!(
                "{at}: the next run ends at another warehouse:\n  {}\nkilled run's last output:\n{killed_output}",
                partial(&converged, &after, &after).join("\n  ")
            ));
        }
        tally.next_runs += phase.elapsed();
    }
    let t = &tally;
    eprintln!(
        "kill trials on {engine} (seed {seed}; an uninterrupted build takes {:.2?}, {:.2?} of it \
         building nodes): {} trials in {:.1?} ({} aimed anywhere in the run, the rest while nodes \
         are built); {} killed mid-run, {} exited before the kill; the warehouse when killed: \
         as before {}, as after {}, between {}; partial tables {}, divergent warehouses {}, \
         leftover relations {}, failed next runs {}; time restoring {:.1?}, in killed runs \
         {:.1?}, checking them {:.1?}, in next runs and their checks {:.1?}",
        timings.total(),
        timings.after_first_node(),
        t.trials,
        started.elapsed(),
        t.anywhere,
        t.killed,
        t.exited_before_kill,
        t.nothing_written,
        t.all_written,
        t.mixed,
        t.partial_tables,
        t.divergent,
        t.leftovers,
        t.failed_reruns,
        t.restoring,
        t.killed_runs,
        t.checking,
        t.next_runs,
    );
    assert!(problems.is_empty(), "{}", problems.join("\n\n"));
    // Some kills land after a fast run's exit; a busy machine makes runs uneven.
    assert!(
        t.killed * 3 >= t.trials,
        "a third of the kills at least must land while etlx runs, or the trials test little"
    );
}

#[test]
fn duckdb_builds_killed_at_random_moments_leave_old_or_new_tables() {
    let d = crate::demo::demo();
    let mut w = DuckDbWarehouse::new(d.path());
    kill_trials("DuckDB", &mut w, d.path());
}

#[test]
fn postgres_builds_killed_at_random_moments_leave_old_or_new_tables() {
    let Some(db) = PgDatabase::create("kill") else {
        return;
    };
    let d = crate::demo::demo();
    let mut w = PgWarehouse(db);
    kill_trials("PostgreSQL", &mut w, d.path());
}

/// Split each committed batch of the demo into two files: six files to land one at a time.
fn six_files(dir: &Path) -> Vec<(PathBuf, String)> {
    let events = dir.join("landing/events");
    let mut files = Vec::new();
    for batch in ["batch_001", "batch_002", "batch_003"] {
        let text = std::fs::read_to_string(events.join(batch).join("events.json")).expect("batch");
        let lines: Vec<&str> = text.lines().collect();
        let (a, b) = lines.split_at(lines.len() / 2);
        for (i, part) in [a, b].into_iter().enumerate() {
            let path = events.join(batch).join(format!("part-{i}.json"));
            files.push((path, part.join("\n") + "\n"));
        }
    }
    std::fs::remove_dir_all(&events).expect("clear landing");
    files
}

/// The tables that keep history: not staging and the landing table (they hold the last
/// run's files only), nor the snapshot (it records the states the marts went through, which
/// differ by nature between one build and six).
/// The demo's staging models are `temp`: tables of their run only. On a server a killed run
/// leaves them (a session's temporary tables are not shared by a run's workers), and the next
/// run, which rebuilds them, drops them; DuckDB never writes them to the file.
fn is_run_scoped(table: &str) -> bool {
    table.contains(".stg_")
}

/// The tables a run keeps: every table but those of the run only.
fn kept(all: Fingerprint) -> Fingerprint {
    all.into_iter().filter(|(t, _)| !is_run_scoped(t)).collect()
}

fn warehouse_tables(all: Fingerprint) -> Fingerprint {
    all.into_iter()
        .filter(|(t, _)| {
            !t.contains(".stg_") && !t.ends_with(".user_levels") && !t.starts_with("landing.")
        })
        .collect()
}

/// Land a file as a landing zone writer should: under a temporary name, then renamed.
fn land(file: &(PathBuf, String)) {
    let (path, text) = file;
    std::fs::create_dir_all(path.parent().expect("folder")).expect("mkdir");
    let tmp = path.with_extension("tmp");
    std::fs::write(&tmp, text).expect("write");
    std::fs::rename(&tmp, path).expect("rename");
}

/// `etlx build` with no vars, the way a scheduler runs it every few minutes.
fn plain_build(w: &dyn Warehouse, dir: &Path) {
    let mut args = vec!["build".to_string()];
    args.extend(w.args());
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let out = run_with(dir, &args, &w.env());
    assert_eq!(out.code, 0, "build:\n{}\n{}", out.stdout, out.stderr);
}

/// Six files landed one at a time, with `etlx build` (no vars) after each: twice after
/// some, a file landing while a build runs, and a build killed with SIGKILL mid-run. The
/// warehouse must equal one build over all six files, every file must be recorded once per
/// model that consumed it, and every play must be in fct_songplays exactly once.
fn exactly_once(w: &mut dyn Warehouse, dir: &Path) {
    let files = six_files(dir);
    for f in &files {
        land(f);
    }
    plain_build(w, dir);
    let reference = warehouse_tables(w.fingerprint());
    let plays = reference
        .iter()
        .find(|(t, _)| t.ends_with(".fct_songplays"));
    assert!(plays.is_some_and(|(_, (n, _))| *n > 3000), "{reference:?}");

    w.clear();
    for f in &files {
        let _ = std::fs::remove_file(&f.0);
    }
    let log = dir.join("target/exactly_once.log");
    std::fs::create_dir_all(dir.join("target")).expect("target");
    land(&files[0]);
    plain_build(w, dir);
    land(&files[1]);
    plain_build(w, dir);
    plain_build(w, dir);
    // A build killed mid-run: what it committed stays, the rest is read again next time.
    land(&files[2]);
    let mut args = vec!["build".to_string()];
    args.extend(w.args());
    let mut child = start(w, dir, &args, &log);
    wait_for_first_node(&mut child, &log);
    std::thread::sleep(Duration::from_millis(300));
    let _ = child.kill();
    let _ = child.wait();
    w.settle();
    // A file landing while a build runs waits for the next build.
    land(&files[3]);
    let mut child = start(w, dir, &args, &log);
    wait_for_first_node(&mut child, &log);
    land(&files[4]);
    let status = child.wait().expect("build");
    assert!(status.success(), "{}", tail(&log));
    plain_build(w, dir);
    land(&files[5]);
    plain_build(w, dir);
    plain_build(w, dir);
    assert_eq!(
        warehouse_tables(w.fingerprint()),
        reference,
        "landed one at a time"
    );
    // Every consumer (not the staging tables, which hold the last run's files only) recorded
    // each of the six files once.
    let recorded = w.rows(
        "select model, count(*), count(distinct file) from etlx.file_ledger \
         where model like 'model.%' group by model order by model",
    );
    let consumers: Vec<&Vec<String>> = recorded
        .iter()
        .filter(|r| !r[0].contains(".stg_"))
        .collect();
    assert!(consumers.len() >= 6, "{recorded:?}");
    for row in consumers {
        assert_eq!(
            (row[1].as_str(), row[2].as_str()),
            ("6", "6"),
            "{recorded:?}"
        );
    }
}

#[test]
fn duckdb_reads_every_landed_file_exactly_once() {
    let d = crate::demo::demo();
    let mut w = DuckDbWarehouse::new(d.path());
    exactly_once(&mut w, d.path());
}

#[test]
fn postgres_reads_every_landed_file_exactly_once() {
    let Some(db) = PgDatabase::create("exactly_once") else {
        return;
    };
    let d = crate::demo::demo();
    let mut w = PgWarehouse(db);
    exactly_once(&mut w, d.path());
}

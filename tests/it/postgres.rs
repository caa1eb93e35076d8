//! The `postgres` target on a real PostgreSQL server: materializations, incremental batches,
//! seeds and landing files loaded with COPY, atomic failure (including a killed process),
//! and connection errors that say what is wrong without the password.

use std::collections::BTreeMap;
use std::hash::{Hash, Hasher};

use crate::harness::{Fixture, Output};
use crate::pg::PgDatabase;

fn ok(out: &Output) {
    assert_eq!(
        out.code, 0,
        "stdout:\n{}\nstderr:\n{}",
        out.stdout, out.stderr
    );
}

/// Whether the slow build of `fragile` (`--vars '{slow: true}'`) is running on the server, in
/// this test's database (other tests run the same statement in theirs).
const SLOW_RUNNING: &str = "select count(*) from pg_stat_activity where query like '%generate_series(1, 2000000000)%' and state = 'active' and datname = current_database() and pid <> pg_backend_pid()";

/// Stops that statement: a killed client's statement runs on until the server notices.
const CANCEL_SLOW: &str = "select pg_cancel_backend(pid) from pg_stat_activity where query like '%generate_series(1, 2000000000)%' and datname = current_database() and pid <> pg_backend_pid()";

/// A database of its own for the test, and a copy of the warehouse fixture to run against it;
/// `None` (the test skips) when no server is configured.
fn warehouse(name: &str) -> Option<(PgDatabase, Fixture)> {
    Some((PgDatabase::create(name)?, Fixture::new("warehouse")))
}

/// `etlx <args> --target pg` on the fixture, against the test's database.
fn etlx(f: &Fixture, db: &PgDatabase, args: &[&str]) -> Output {
    let mut all = args.to_vec();
    all.extend(["--target", "pg"]);
    f.etlx_with(&all, &db.env())
}

#[test]
fn batches_merge_delete_insert_and_append_without_duplicates() {
    let Some((db, f)) = warehouse("batches") else {
        return;
    };
    ok(&etlx(&f, &db, &["build"]));
    assert_eq!(db.query("select count(*) from analytics.orders"), [["3"]]);
    // The landing file became a table, loaded through COPY.
    assert_eq!(db.query("select count(*) from landing.orders"), [["3"]]);
    ok(&etlx(&f, &db, &["build", "--vars", "{batch: batch_2}"]));
    assert_eq!(
        db.query("select order_id, amount from analytics.orders order by 1"),
        [["1", "10"], ["2", "25"], ["3", "30"], ["4", "40"]]
    );
    assert_eq!(
        db.query("select count(*), sum(amount) from analytics.orders_by_key"),
        [["4", "105"]]
    );
    assert_eq!(
        db.query("select batch, count(*) from analytics.orders_log group by 1 order by 1"),
        [["batch_1", "3"], ["batch_2", "3"]]
    );
    assert_eq!(
        db.query("select name, total from analytics.customer_totals order by 1"),
        [["ADA", "35"], ["GRACE", "30"], ["LINUS", "40"]]
    );
    // A view, a table and the seed, each what its materialization says.
    assert_eq!(
        db.query(
            "select table_name, table_type from information_schema.tables \
             where table_schema = 'analytics' and table_name in ('stg_orders', 'customers', 'fragile') order by 1"
        ),
        [
            ["customers", "BASE TABLE"],
            ["fragile", "BASE TABLE"],
            ["stg_orders", "VIEW"]
        ]
    );
    // Re-running the batch changes nothing; --full-refresh rebuilds from it alone.
    ok(&etlx(&f, &db, &["build", "--vars", "{batch: batch_2}"]));
    assert_eq!(
        db.query("select count(*), sum(amount) from analytics.orders"),
        [["4", "105"]]
    );
    ok(&etlx(
        &f,
        &db,
        &[
            "run",
            "-s",
            "orders",
            "--full-refresh",
            "--vars",
            "{batch: batch_2}",
        ],
    ));
    assert_eq!(db.query("select count(*) from analytics.orders"), [["3"]]);
    assert_eq!(
        db.query("select count(*) from information_schema.tables where table_name like '%etlx%'"),
        [["0"]],
        "no temporary or staged relation is left behind"
    );
}

#[test]
fn docs_generate_reads_the_catalog_from_the_server() {
    let Some((db, f)) = warehouse("docs_catalog") else {
        return;
    };
    ok(&etlx(&f, &db, &["build"]));
    ok(&etlx(&f, &db, &["docs", "generate"]));
    let catalog: serde_json::Value =
        serde_json::from_str(&f.read("target/catalog.json")).expect("catalog is JSON");
    let view = &catalog["nodes"]["model.warehouse.stg_orders"];
    assert_eq!(view["metadata"]["type"], "view", "{view}");
    assert_eq!(view["metadata"]["schema"], "analytics");
    assert_eq!(view["columns"]["order_id"]["index"], 1, "{view}");
    let table = &catalog["nodes"]["model.warehouse.orders"];
    assert_eq!(table["metadata"]["type"], "table");
    assert!(
        table["columns"]["amount"]["type"]
            .as_str()
            .is_some_and(|t| !t.is_empty()),
        "{table}"
    );
    // A landing file becomes a table on a server: its columns are in the catalog too.
    let source = &catalog["sources"]["source.warehouse.landing.orders"];
    assert_eq!(source["metadata"]["type"], "table", "{catalog}");
    assert!(f.path().join("target/docs/data.js").exists());
}

#[test]
fn a_failing_model_keeps_its_previous_table_and_skips_its_children() {
    let Some((db, f)) = warehouse("failing") else {
        return;
    };
    ok(&etlx(&f, &db, &["build"]));
    let out = etlx(&f, &db, &["build", "--vars", "{break: true}"]);
    assert_eq!(out.code, 1, "{}\n{}", out.stdout, out.stderr);
    assert!(
        out.stderr.contains("fragile was told to break"),
        "{}",
        out.stderr
    );
    assert!(
        out.stdout
            .lines()
            .any(|l| l.contains("SKIP") && l.contains(" fragile_child -> ")),
        "{}",
        out.stdout
    );
    assert_eq!(db.query("select x from analytics.fragile"), [["1"]]);
    assert_eq!(db.query("select y from analytics.fragile_child"), [["2"]]);
}

#[test]
fn a_process_killed_mid_build_leaves_the_previous_table() {
    let Some((db, f)) = warehouse("killed") else {
        return;
    };
    ok(&etlx(&f, &db, &["build"]));
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_etlx"))
        .args([
            "run",
            "-s",
            "fragile",
            "--vars",
            "{slow: true}",
            "--target",
            "pg",
        ])
        .envs(db.env())
        .env("HOME", f.path())
        .current_dir(f.path())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    // Wait until the server is running the slow statement, then kill the client mid-build.
    let mut seen = false;
    for _ in 0..100 {
        std::thread::sleep(std::time::Duration::from_millis(100));
        if let Some(status) = child.try_wait().unwrap() {
            panic!("etlx exited on its own ({status}) before it could be killed");
        }
        if db.query(SLOW_RUNNING) == [["1"]] {
            seen = true;
            break;
        }
    }
    assert!(seen, "the slow build never started on the server");
    child.kill().unwrap();
    child.wait().unwrap();
    // The server rolls the dead client's transaction back once it notices; cancel it so the
    // test does not wait for the statement to finish.
    db.query(CANCEL_SLOW);
    let mut gone = false;
    for _ in 0..100 {
        if db.query(SLOW_RUNNING) == [["0"]] {
            gone = true;
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    assert!(gone, "the killed build is still running on the server");
    assert_eq!(db.query("select x from analytics.fragile"), [["1"]]);
    assert_eq!(
        db.query(
            "select count(*) from information_schema.tables where table_name like '%etlx_tmp%'"
        ),
        [["0"]]
    );
    // The next run builds normally.
    ok(&etlx(&f, &db, &["run", "-s", "fragile"]));
}

#[test]
fn statement_timeout_stops_a_slow_model_and_keeps_its_previous_table() {
    let Some((db, f)) = warehouse("timeout") else {
        return;
    };
    ok(&etlx(&f, &db, &["run", "-s", "fragile"]));
    let mut env = db.env();
    env.push(("ETLX_TEST_PG_STATEMENT_TIMEOUT".into(), "300ms".into()));
    let out = f.etlx_with(
        &[
            "run",
            "-s",
            "fragile",
            "--vars",
            "{slow: true}",
            "--target",
            "pg",
        ],
        &env,
    );
    assert_eq!(out.code, 1, "{}\n{}", out.stdout, out.stderr);
    assert!(out.stderr.contains("statement timeout"), "{}", out.stderr);
    assert_eq!(db.query("select x from analytics.fragile"), [["1"]]);
}

#[test]
fn debug_checks_the_connection_and_errors_never_show_the_password() {
    let Some((db, f)) = warehouse("connect") else {
        return;
    };
    let out = etlx(&f, &db, &["debug"]);
    ok(&out);
    assert!(
        out.stdout.contains("connection: OK, PostgreSQL"),
        "{}",
        out.stdout
    );
    let with = |pairs: &[(&str, &str)]| {
        let mut env = db.env();
        for (k, v) in pairs {
            env.retain(|(key, _)| key != k);
            env.push((k.to_string(), v.to_string()));
        }
        f.etlx_with(&["debug", "--target", "pg"], &env)
    };
    let wrong = "wrong-password-123";
    let cases = [
        (
            with(&[("ETLX_ENV_SECRET_TEST_PG_PASSWORD", wrong)]),
            "password authentication failed",
        ),
        (with(&[("ETLX_TEST_PG_PORT", "1")]), "connection refused"),
        (
            with(&[("ETLX_TEST_PG_DATABASE", "etlx_no_such_database")]),
            "check `dbname`",
        ),
        // The local server's certificate is self-signed: verify-full must refuse it.
        (
            with(&[("ETLX_TEST_PG_SSLMODE", "verify-full")]),
            "sslrootcert",
        ),
    ];
    for (out, expected) in cases {
        assert_eq!(out.code, 1, "{}\n{}", out.stdout, out.stderr);
        let all = format!("{}{}", out.stdout, out.stderr);
        assert!(all.contains(expected), "expected '{expected}' in:\n{all}");
        assert!(!all.contains(wrong), "the password leaked:\n{all}");
        if !db.password().is_empty() {
            assert!(!all.contains(db.password()), "the password leaked:\n{all}");
        }
    }
}

/// Every value in a form both engines print alike: numbers to 6 significant digits (sums
/// of doubles differ in the last bits by summation order), booleans spelled out.
fn canonical(value: &str) -> String {
    match value {
        "t" => "true".into(),
        "f" => "false".into(),
        v => match v.parse::<f64>() {
            Ok(x) => format!("{x:.5e}"),
            Err(_) => v.to_string(),
        },
    }
}

/// Row count and an order-independent checksum per table, from rows as text.
fn fingerprint(tables: Vec<(String, Vec<Vec<String>>)>) -> BTreeMap<String, (usize, u64)> {
    tables
        .into_iter()
        .map(|(name, rows)| {
            let sum = rows.iter().fold(0u64, |acc, row| {
                let mut h = std::collections::hash_map::DefaultHasher::new();
                for v in row {
                    canonical(v).hash(&mut h);
                }
                acc.wrapping_add(h.finish())
            });
            (name, (rows.len(), sum))
        })
        .collect()
}

#[test]
fn the_demo_warehouse_is_the_same_on_duckdb_and_postgres() {
    let Some(db) = PgDatabase::create("parity") else {
        return;
    };
    let d = crate::demo::demo();
    let dir = d.path();
    // Batch by batch, with a re-run, on both: the incremental path, not one big load, and the
    // same sequence, so the snapshot records the same history.
    let env = db.demo_env();
    for batch in ["batch_001", "batch_002", "batch_003", "batch_002"] {
        let vars = format!("{{batch: {batch}}}");
        ok(&crate::harness::run_in(dir, &["build", "--vars", &vars]));
        let out =
            crate::harness::run_with(dir, &["build", "--target", "pg", "--vars", &vars], &env);
        ok(&out);
    }
    let database = dir.join("etlx_demo.duckdb");
    let duck_rows = |sql: &str| crate::harness::duckdb_rows(&database, sql);
    let names = "select table_name from information_schema.tables where table_schema = '{schema}' \
                 and table_type = 'BASE TABLE' and table_name not like 'stg%' order by 1";
    let duck_tables: Vec<String> = duck_rows(&names.replace("{schema}", "main"))
        .into_iter()
        .map(|r| r[0].clone())
        .collect();
    let pg_tables: Vec<String> = db
        .query(&names.replace("{schema}", "analytics"))
        .into_iter()
        .map(|r| r[0].clone())
        .collect();
    assert_eq!(duck_tables, pg_tables);
    assert!(duck_tables.len() >= 12, "{duck_tables:?}");
    let on_duckdb = fingerprint(
        duck_tables
            .iter()
            .map(|t| (t.clone(), duck_rows(&format!("select * from main.\"{t}\""))))
            .collect(),
    );
    let on_postgres = fingerprint(
        pg_tables
            .iter()
            .map(|t| {
                (
                    t.clone(),
                    db.query(&format!("select * from analytics.\"{t}\"")),
                )
            })
            .collect(),
    );
    assert!(on_duckdb["fct_songplays"].0 > 3000, "{on_duckdb:?}");
    assert_eq!(on_duckdb, on_postgres);
}

/// Strings that break hand-rolled quoting: quotes, backslashes next to quotes, escapes that
/// mean something in some dialect, line breaks, non-ASCII, a very long value.
pub fn nasty_strings() -> Vec<String> {
    let mut out: Vec<String> = [
        "plain",
        "",
        "it's",
        "''",
        "\\",
        "a\\",
        "\\'",
        "\\\\'",
        "ends with backslash quote \\''",
        "\\n is not a newline",
        "\\x41\\101\\u0041",
        "two\nlines\r\nand a\ttab",
        "$$dollar$$ $tag$ -- comment /* block */ ; drop table nasty; --",
        "été 東京 🎵 \u{202e}rtl",
        "E'escape' U&'\\0041'",
        "%_ like wildcards \\% \\_",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    out.push("x\\'y".repeat(40_000));
    out
}

/// Redshift's INSERT load path, run against PostgreSQL with `standard_conforming_strings`
/// off: then PostgreSQL reads backslash escapes in literals exactly as Redshift does, so a
/// value that survives here survives on Redshift.
#[test]
fn redshift_inserts_round_trip_nasty_strings() {
    let Some(db) = crate::pg::PgDatabase::create("nasty") else {
        return;
    };
    let env: BTreeMap<String, String> = db.env().into_iter().collect();
    let target = etlx::project::Target {
        profile: "test".into(),
        name: "redshift_on_postgres".into(),
        dialect: etlx::sql::Dialect::Redshift,
        schema: "public".into(),
        database: Some(db.name.clone()),
        threads: 1,
        settings: [
            ("host", env["ETLX_TEST_PG_HOST"].clone()),
            ("port", env["ETLX_TEST_PG_PORT"].clone()),
            ("user", env["ETLX_TEST_PG_USER"].clone()),
            ("password", db.password().to_string()),
            ("dbname", db.name.clone()),
            ("sslmode", "disable".into()),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), serde_json::Value::String(v)))
        .collect(),
        source: None,
    };
    use etlx::adapter::Adapter;
    let pg = etlx::adapter::postgres::Postgres::open(&target, 1).expect("adapter");
    let mut conn = pg.connect().expect("connect");
    conn.execute("set standard_conforming_strings = off")
        .expect("as Redshift reads literals");
    conn.execute("create table nasty (id integer, v varchar)")
        .expect("create");
    let strings = nasty_strings();
    let rows: Vec<Vec<Option<String>>> = strings
        .iter()
        .enumerate()
        .map(|(i, s)| vec![Some(i.to_string()), Some(s.clone())])
        .chain([vec![Some("-1".into()), None]])
        .collect();
    let columns = ["id".to_string(), "v".to_string()];
    let mut sink = conn.copy_in("nasty", &columns).expect("sink");
    sink.write(&rows).expect("every nasty string loads");
    assert_eq!(sink.finish().expect("finish"), rows.len() as u64);
    drop(conn);
    let back = db.query("select id, v is null, coalesce(v, '') from nasty order by id");
    assert_eq!(back[0], ["-1", "t", ""], "NULL stays NULL");
    for (i, expected) in strings.iter().enumerate() {
        assert_eq!(back[i + 1][0], i.to_string());
        assert_eq!(
            &back[i + 1][2],
            expected,
            "string {i} changed in the round trip"
        );
    }

    // A NUL cannot be stored: refused by row and column, and nothing of the chunk lands.
    let mut conn = pg.connect().expect("connect");
    let mut sink = conn.copy_in("nasty", &columns).expect("sink");
    let err = sink
        .write(&[vec![Some("100".into()), Some("nul\0byte".into())]])
        .expect_err("NUL refused");
    assert!(
        err.to_string().contains("row 1, column v") && err.to_string().contains("NUL"),
        "{err}"
    );
}

/// A Redshift target verifies the server by default: against the local server's
/// self-signed certificate it refuses, naming the host and the fix; `sslmode: require`
/// connects, with a warning that the server is not verified.
#[test]
fn redshift_targets_verify_the_server_certificate_by_default() {
    let Some((db, f)) = warehouse("tls") else {
        return;
    };
    let env = db.env();
    let refused = f.etlx_with(&["debug", "--target", "redshift_on_pg"], &env);
    assert_eq!(refused.code, 1, "{}\n{}", refused.stdout, refused.stderr);
    let all = format!("{}{}", refused.stdout, refused.stderr);
    let host = &env
        .iter()
        .find(|(k, _)| k == "ETLX_TEST_PG_HOST")
        .unwrap()
        .1;
    assert!(
        all.contains(&format!("@{host}:")) && all.contains("sslrootcert"),
        "{all}"
    );
    let mut env = env;
    env.push(("ETLX_TEST_RS_SSLMODE".into(), "require".into()));
    let opted_out = f.etlx_with(&["debug", "--target", "redshift_on_pg"], &env);
    let all = format!("{}{}", opted_out.stdout, opted_out.stderr);
    assert!(
        opted_out
            .stderr
            .contains("does not check the server's certificate"),
        "{all}"
    );
}

/// Two runs at once on one PostgreSQL schema: the second is refused (exit 2) with who holds
/// the lock, and writes nothing; once the first is gone, the lock is free again.
#[test]
fn a_second_run_on_the_same_schema_is_refused() {
    let Some((db, f)) = warehouse("concurrent") else {
        return;
    };
    ok(&etlx(&f, &db, &["build"]));
    let mut first = crate::harness::start_until(
        f.path(),
        &[
            "run",
            "-s",
            "fragile",
            "--vars",
            "{slow: true}",
            "--target",
            "pg",
        ],
        &db.env(),
        || db.query(SLOW_RUNNING) == [["1"]],
    );
    let manifest = f.read("target/manifest.json");
    let second = etlx(&f, &db, &["build"]);
    first.kill().unwrap();
    first.wait().unwrap();
    db.query(CANCEL_SLOW);
    assert_eq!(second.code, 2, "{}\n{}", second.stdout, second.stderr);
    let expected = format!(
        "in use by another etlx run (etlx run pid {} since ",
        first.id()
    );
    assert!(second.stderr.contains(&expected), "{}", second.stderr);
    assert_eq!(
        f.read("target/manifest.json"),
        manifest,
        "manifest rewritten"
    );
    // The killed holder's session ends, and with it the lock.
    let mut free = false;
    for _ in 0..50 {
        let out = etlx(&f, &db, &["run", "-s", "fragile"]);
        if out.code == 0 {
            free = true;
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(200));
    }
    assert!(free, "the lock outlived the killed run");
}

/// SIGTERM during a slow server statement: etlx sends the server a cancel request, so the
/// statement stops at once (it is not left running after etlx exits), the transaction rolls
/// back, and the run ends with its results written, exit 130.
#[test]
fn sigterm_cancels_the_statement_on_the_server() {
    let Some((db, f)) = warehouse("sigterm") else {
        return;
    };
    ok(&etlx(&f, &db, &["build"]));
    let child = crate::harness::start_until(
        f.path(),
        &[
            "run",
            "-s",
            "fragile",
            "--vars",
            "{slow: true}",
            "--target",
            "pg",
        ],
        &db.env(),
        || db.query(SLOW_RUNNING) == [["1"]],
    );
    crate::harness::send_signal(&child, "TERM");
    let out = child.wait_with_output().unwrap();
    assert_eq!(
        out.status.code(),
        Some(130),
        "{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        db.query(SLOW_RUNNING),
        [["0"]],
        "the statement was left running"
    );
    let results = f.read("target/run_results.json");
    assert!(results.contains("interrupted by SIGTERM"), "{results}");
    assert_eq!(db.query("select x from analytics.fragile"), [["1"]]);
}

#[test]
fn a_temp_model_is_a_table_of_its_run_dropped_when_the_run_ends() {
    let Some((db, f)) = warehouse("temp_model") else {
        return;
    };
    f.edit(
        "models/stg_orders.sql",
        "materialized='view'",
        "materialized='temp'",
    );
    ok(&etlx(&f, &db, &["build"]));
    assert_eq!(db.query("select count(*) from analytics.orders"), [["3"]]);
    assert_eq!(
        db.query("select count(*) from information_schema.tables where table_name = 'stg_orders'"),
        [["0"]]
    );
    ok(&etlx(&f, &db, &["build", "--vars", "{batch: batch_2}"]));
    assert_eq!(
        db.query("select count(*), sum(amount) from analytics.orders"),
        [["4", "105"]]
    );
}

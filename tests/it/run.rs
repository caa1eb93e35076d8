//! `etlx build`/`run`/`seed` on embedded DuckDB: materializations, incremental batches,
//! atomic failure, skipping descendants, artifacts.

use crate::harness::{Fixture, Output};

#[test]
fn show_prints_a_model_s_rows() {
    let f = Fixture::new("warehouse");
    ok(&f.etlx(&["build"]));
    let out = f.etlx(&["show", "-s", "orders", "--limit", "2"]);
    ok(&out);
    f.settings()
        .bind(|| insta::assert_snapshot!("show_orders", out.stdout));
}

/// Rows of a query on the fixture's warehouse, every value as text.
fn query(f: &Fixture, sql: &str) -> Vec<Vec<String>> {
    crate::harness::duckdb_rows(&f.path().join("target/warehouse.duckdb"), sql)
}

fn ok(out: &Output) {
    assert_eq!(
        out.code, 0,
        "stdout:\n{}\nstderr:\n{}",
        out.stdout, out.stderr
    );
}

#[test]
fn incremental_batches_update_without_duplicates() {
    let f = Fixture::new("warehouse");
    ok(&f.etlx(&["build"]));
    assert_eq!(query(&f, "select count(*) from orders"), [["3"]]);
    ok(&f.etlx(&["build", "--vars", "{batch: batch_2}"]));
    // merge on order_id: 2 changed, 3 re-sent, 4 new -> 4 rows, no duplicates, new amount kept
    assert_eq!(
        query(&f, "select order_id, amount from orders order by 1"),
        [["1", "10"], ["2", "25"], ["3", "30"], ["4", "40"]]
    );
    // delete+insert on (order_id, customer_id): same outcome
    assert_eq!(
        query(&f, "select count(*), sum(amount) from orders_by_key"),
        [["4", "105"]]
    );
    // append keeps every batch
    assert_eq!(
        query(
            &f,
            "select batch, count(*) from orders_log group by 1 order by 1"
        ),
        [["batch_1", "3"], ["batch_2", "3"]]
    );
    // the table downstream reads through the ephemeral model
    assert_eq!(
        query(&f, "select name, total from customer_totals order by 1"),
        [["ADA", "35"], ["GRACE", "30"], ["LINUS", "40"]]
    );
    // re-running the same batch changes nothing
    ok(&f.etlx(&["build", "--vars", "{batch: batch_2}"]));
    assert_eq!(
        query(&f, "select count(*), sum(amount) from orders"),
        [["4", "105"]]
    );
    // --full-refresh rebuilds from the current batch only
    ok(&f.etlx(&[
        "run",
        "-s",
        "orders",
        "--full-refresh",
        "--vars",
        "{batch: batch_2}",
    ]));
    assert_eq!(query(&f, "select count(*) from orders"), [["3"]]);
}

#[test]
fn a_failing_model_skips_exactly_its_descendants_and_keeps_its_old_table() {
    let f = Fixture::new("warehouse");
    ok(&f.etlx(&["build"]));
    assert_eq!(query(&f, "select y from fragile_child"), [["2"]]);
    let out = f.etlx(&["build", "--vars", "{break: true}"]);
    assert_eq!(out.code, 1, "{}\n{}", out.stdout, out.stderr);
    let line = |status: &str, name: &str| {
        out.stdout
            .lines()
            .any(|l| l.contains(status) && l.contains(&format!(" {name} -> ")))
    };
    assert!(line("ERROR", "fragile"), "{}", out.stdout);
    assert!(line("SKIP", "fragile_child"), "{}", out.stdout);
    assert!(line("OK", "customer_totals"), "{}", out.stdout);
    assert!(
        out.stderr.contains("fragile was told to break"),
        "{}",
        out.stderr
    );
    // the previous version of the failed table is intact, and unrelated models were built
    assert_eq!(query(&f, "select x from fragile"), [["1"]]);
    let results: serde_json::Value =
        serde_json::from_str(&f.read("target/run_results.json")).unwrap();
    let status = |id: &str| {
        results["results"]
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["unique_id"] == id)
            .map(|r| r["status"].clone())
    };
    assert_eq!(status("model.warehouse.fragile"), Some("error".into()));
    assert_eq!(
        status("model.warehouse.fragile_child"),
        Some("skipped".into())
    );
    assert_eq!(
        status("model.warehouse.customer_totals"),
        Some("success".into())
    );
    assert_eq!(status("seed.warehouse.customers"), Some("success".into()));
    // retry re-runs exactly what failed or was skipped
    let retried = f.etlx(&["retry"]);
    ok(&retried);
    let ran: Vec<&str> = retried
        .stdout
        .lines()
        .filter(|l| l.contains(" -> "))
        .collect();
    assert_eq!(ran.len(), 2, "{}", retried.stdout);
    assert_eq!(query(&f, "select y from fragile_child"), [["2"]]);
}

#[test]
fn run_honours_selectors_and_seed_loads_csv() {
    let f = Fixture::new("warehouse");
    ok(&f.etlx(&["seed"]));
    assert_eq!(query(&f, "select count(*) from customers"), [["3"]]);
    let out = f.etlx(&["run", "-s", "stg_orders+", "--exclude", "orders_log"]);
    ok(&out);
    let built: Vec<&str> = out.stdout.lines().filter(|l| l.contains(" OK ")).collect();
    assert_eq!(built.len(), 4, "{}", out.stdout);
    assert!(
        query(
            &f,
            "select count(*) from information_schema.tables where table_name = 'orders_log'"
        ) == [["0"]]
    );
}

#[test]
fn a_second_process_gets_a_clear_lock_error() {
    let f = Fixture::new("warehouse");
    ok(&f.etlx(&["seed"]));
    // This test process holds the database open for writing, as another etlx would.
    let _holder = duckdb::Connection::open(f.path().join("target/warehouse.duckdb")).unwrap();
    let out = f.etlx(&["run"]);
    assert_eq!(out.code, 2, "{}\n{}", out.stdout, out.stderr);
    assert!(
        out.stderr.contains("locked by another process"),
        "{}",
        out.stderr
    );
}

#[test]
fn a_process_killed_mid_build_leaves_the_previous_table() {
    let f = Fixture::new("warehouse");
    ok(&f.etlx(&["build"]));
    // The SQL log shows when the slow statement has been sent, without touching the database:
    // opening it would take the lock from the child.
    let log = f.path().join("sql.log");
    let mut child = crate::harness::etlx_command(
        f.path(),
        &["run", "-s", "fragile", "--vars", "{slow: true}"],
        &[("ETLX_SQL_LOG".into(), log.display().to_string())],
    )
    .stdout(std::process::Stdio::null())
    .stderr(std::process::Stdio::null())
    .spawn()
    .unwrap();
    let slow = "range(20000000000)";
    let mut sent = false;
    for _ in 0..300 {
        std::thread::sleep(std::time::Duration::from_millis(20));
        if let Some(status) = child.try_wait().unwrap() {
            panic!("etlx exited on its own ({status}) before it could be killed");
        }
        if std::fs::read_to_string(&log).is_ok_and(|l| l.contains(slow)) {
            sent = true;
            break;
        }
    }
    assert!(sent, "the slow statement was never sent");
    // The statement is logged just before it runs, and runs for seconds: kill it mid-way.
    std::thread::sleep(std::time::Duration::from_millis(300));
    assert!(
        child.try_wait().unwrap().is_none(),
        "etlx finished the slow statement before it could be killed"
    );
    child.kill().unwrap();
    let status = child.wait().unwrap();
    use std::os::unix::process::ExitStatusExt;
    assert_eq!(
        status.signal(),
        Some(9),
        "etlx must die by SIGKILL mid-build, got {status}"
    );
    assert_eq!(query(&f, "select x from fragile"), [["1"]]);
    assert_eq!(
        query(
            &f,
            "select count(*) from information_schema.tables where table_name like '%etlx_tmp%'"
        ),
        [["0"]]
    );
}

#[test]
fn a_failing_on_run_end_hook_fails_the_run() {
    let f = Fixture::new("warehouse");
    let project = f.path().join("etlx_project.yml");
    let text = std::fs::read_to_string(&project).unwrap();
    std::fs::write(
        &project,
        format!("{text}on-run-end:\n  - \"select * from no_such_table\"\n"),
    )
    .unwrap();
    let out = f.etlx(&["build"]);
    assert_eq!(out.code, 1, "{}\n{}", out.stdout, out.stderr);
    assert!(out.stderr.contains("on-run-end failed"), "{}", out.stderr);
    let results: serde_json::Value =
        serde_json::from_str(&f.read("target/run_results.json")).unwrap();
    let hook = results["results"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["unique_id"] == "operation.warehouse.on-run-end");
    assert_eq!(hook.map(|r| r["status"].clone()), Some("error".into()));
}

#[test]
fn run_operation_queries_and_changes_the_warehouse() {
    let f = Fixture::new("warehouse");
    ok(&f.etlx(&["build"]));
    let report = f.etlx(&[
        "run-operation",
        "report_orders",
        "--args",
        "{min_amount: 15}",
    ]);
    ok(&report);
    let archive = f.etlx(&[
        "run-operation",
        "archive_orders",
        "--args",
        "{suffix: '2024'}",
    ]);
    ok(&archive);
    f.settings().bind(|| {
        insta::assert_snapshot!(
            "run_operation",
            format!("{}\n{}", report.stdout, archive.stdout)
        )
    });
    assert_eq!(query(&f, "select count(*) from orders_2024"), [["3"]]);
}

#[test]
fn run_operation_of_an_unknown_macro_suggests_the_closest() {
    let f = Fixture::new("warehouse");
    let out = f.etlx(&["run-operation", "report_order"]);
    assert_eq!(out.code, 1, "{}\n{}", out.stdout, out.stderr);
    assert!(
        out.stderr.contains("no macro named 'report_order'")
            && out.stderr.contains("did you mean 'report_orders'?"),
        "{}",
        out.stderr
    );
}

#[test]
fn show_inline_renders_refs_and_runs_the_query() {
    let f = Fixture::new("warehouse");
    ok(&f.etlx(&["build"]));
    let out = f.etlx(&[
        "show",
        "--inline",
        "select customer_id, count(*) as n from {{ ref('orders') }} group by 1 order by 1",
    ]);
    ok(&out);
    f.settings()
        .bind(|| insta::assert_snapshot!("show_inline", out.stdout));
    let bad = f.etlx(&["show", "--inline", "select nope"]);
    assert_eq!(bad.code, 1);
    assert!(
        bad.stderr.contains("column \"nope\" was not found"),
        "{}",
        bad.stderr
    );
}

/// On a terminal the run draws a live bar (done/total, what is running) above the lines.
/// `script` gives etlx a pseudo-terminal, as a user's shell would.
#[test]
fn a_terminal_gets_a_live_progress_bar() {
    let f = Fixture::new("warehouse");
    let etlx = env!("CARGO_BIN_EXE_etlx");
    let out = std::process::Command::new("script")
        .args(["-qec", &format!("{etlx} build"), "/dev/null"])
        .current_dir(f.path())
        .env("NO_COLOR", "1")
        .env("HOME", f.path())
        .output()
        .expect("script (util-linux) runs etlx on a pseudo-terminal");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{text}");
    assert!(text.contains("/8 running "), "no live bar:\n{text}");
    assert!(text.contains("8 of 8  OK"), "no result lines:\n{text}");
    assert!(text.contains("Done in"), "{text}");
}

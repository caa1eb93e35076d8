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
    // retry re-runs exactly what failed or was skipped (with the fix: the failed run's
    // `break: true` is replayed unless retry is given vars of its own)
    let retried = f.etlx(&["retry", "--vars", "{break: false}"]);
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
    ok(&f.etlx(&["run-operation", "copy_orders", "--args", "{suffix: x}"]));
    assert_eq!(query(&f, "select count(*) from orders_copy_x"), [["4"]]);
}

#[test]
fn run_operation_of_an_unknown_macro_suggests_the_closest() {
    let f = Fixture::new("warehouse");
    let out = f.etlx(&["run-operation", "report_order"]);
    // A usage error, not a failed operation: exit 2.
    assert_eq!(out.code, 2, "{}\n{}", out.stdout, out.stderr);
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

/// Two runs at once on one DuckDB file: the second is refused with who holds the database
/// and since when, and writes nothing (not the manifest, not the compiled SQL).
#[test]
fn a_second_run_is_refused_before_it_writes_anything() {
    let f = Fixture::new("warehouse");
    ok(&f.etlx(&["build"]));
    let log = f.path().join("sql.log");
    let env = [("ETLX_SQL_LOG".to_string(), log.display().to_string())];
    let mut first = crate::harness::start_until(
        f.path(),
        &["run", "-s", "fragile", "--vars", "{slow: true}"],
        &env,
        || crate::harness::logged(&log, "range(20000000000)"),
    );
    let manifest = f.read("target/manifest.json");
    let compiled = f.path().join("target/compiled/warehouse/models/orders.sql");
    let compiled_at = std::fs::metadata(&compiled).unwrap().modified().unwrap();
    let second = f.etlx(&["build", "--vars", "{slow: false}"]);
    first.kill().unwrap();
    first.wait().unwrap();
    assert_eq!(second.code, 2, "{}\n{}", second.stdout, second.stderr);
    let expected = format!("(etlx run pid {} since ", first.id());
    assert!(
        second.stderr.contains("is locked by another process") && second.stderr.contains(&expected),
        "{}",
        second.stderr
    );
    assert_eq!(
        f.read("target/manifest.json"),
        manifest,
        "manifest rewritten"
    );
    assert_eq!(
        std::fs::metadata(&compiled).unwrap().modified().unwrap(),
        compiled_at,
        "compiled SQL rewritten"
    );
}

/// A panic while building one node (an etlx bug) fails that node only: its children are
/// skipped, the other workers go on, and run_results.json is written.
#[test]
fn a_panic_while_building_fails_that_node_and_the_run_ends() {
    let f = Fixture::new("warehouse");
    let env = [("ETLX_FAILPOINT_PANIC".to_string(), "orders".to_string())];
    let out = f.etlx_with(&["build", "--threads", "2"], &env);
    assert_eq!(out.code, 1, "{}\n{}", out.stdout, out.stderr);
    let results: serde_json::Value =
        serde_json::from_str(&f.read("target/run_results.json")).unwrap();
    let status = |name: &str| {
        results["results"]
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["unique_id"] == format!("model.warehouse.{name}"))
            .map(|r| {
                (
                    r["status"].as_str().unwrap().to_string(),
                    r["message"].clone(),
                )
            })
            .unwrap_or_else(|| panic!("{name} not in run_results.json"))
    };
    let (orders, message) = status("orders");
    assert_eq!(orders, "error");
    assert!(
        message.as_str().unwrap().contains("internal error"),
        "{message}"
    );
    assert_eq!(status("customer_totals").0, "skipped");
    assert_eq!(status("fragile").0, "success");
}

/// Ctrl-C (SIGINT) in the middle of a slow statement: the statement is interrupted and
/// rolled back, the run writes run_results.json with the node marked, and exits 130.
#[test]
fn sigint_stops_the_run_cleanly_and_writes_its_results() {
    let f = Fixture::new("warehouse");
    ok(&f.etlx(&["build"]));
    let log = f.path().join("sql.log");
    let env = [("ETLX_SQL_LOG".to_string(), log.display().to_string())];
    let child = crate::harness::start_until(
        f.path(),
        &["run", "--vars", "{slow: true}", "--threads", "1"],
        &env,
        || crate::harness::logged(&log, "range(20000000000)"),
    );
    let clock = std::time::Instant::now();
    crate::harness::send_signal(&child, "INT");
    let out = child.wait_with_output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(
        out.status.code(),
        Some(130),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        clock.elapsed() < std::time::Duration::from_secs(10),
        "the statement was not interrupted"
    );
    let results: serde_json::Value =
        serde_json::from_str(&f.read("target/run_results.json")).unwrap();
    let all = results["results"].as_array().unwrap();
    let fragile = all
        .iter()
        .find(|r| r["unique_id"] == "model.warehouse.fragile")
        .expect("fragile in run_results.json");
    assert_eq!(fragile["status"], "error");
    assert!(
        fragile["message"]
            .as_str()
            .unwrap()
            .contains("interrupted by SIGINT"),
        "{fragile}"
    );
    // Nothing else failed: what had not started is skipped, what had finished stays.
    for r in all
        .iter()
        .filter(|r| r["unique_id"] != "model.warehouse.fragile")
    {
        assert!(r["status"] == "success" || r["status"] == "skipped", "{r}");
    }
    assert_eq!(query(&f, "select x from fragile"), [["1"]]);
}

/// A post-hook runs after the build committed: when it fails, the model is an error, and the
/// message says the new version is live and only the hook's work is missing.
#[test]
fn a_failing_post_hook_says_the_new_version_is_live() {
    let f = Fixture::new("warehouse");
    f.edit(
        "models/customer_totals.sql",
        "insert into run_audit",
        "insert into no_such_table",
    );
    let out = f.etlx(&["build"]);
    assert_eq!(out.code, 1, "{}\n{}", out.stdout, out.stderr);
    let results: serde_json::Value =
        serde_json::from_str(&f.read("target/run_results.json")).unwrap();
    let totals = results["results"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["unique_id"] == "model.warehouse.customer_totals")
        .expect("customer_totals");
    assert_eq!(totals["status"], "error");
    let message = totals["message"].as_str().unwrap();
    assert!(
        message.contains("built, but its post-hook failed")
            && message.contains("now holds the new version"),
        "{message}"
    );
    assert!(
        out.stdout.contains("built, but its post-hook failed"),
        "{}",
        out.stdout
    );
    assert_eq!(
        query(&f, "select count(*) > 0 from customer_totals"),
        [["true"]]
    );
}

/// `retry` reads the failed run's results where runs write them: under `target-path`.
#[test]
fn retry_reads_the_results_under_the_projects_target_path() {
    let f = Fixture::new("warehouse");
    let project = f.read("etlx_project.yml");
    std::fs::write(
        f.path().join("etlx_project.yml"),
        format!("{project}target-path: out\n"),
    )
    .unwrap();
    let failed = f.etlx(&["build", "--vars", "{break: true}"]);
    assert_eq!(failed.code, 1, "{}\n{}", failed.stdout, failed.stderr);
    assert!(f.path().join("out/run_results.json").is_file());
    assert!(!f.path().join("target/run_results.json").exists());
    let retried = f.etlx(&["retry", "--vars", "{break: false}"]);
    assert_eq!(retried.code, 0, "{}\n{}", retried.stdout, retried.stderr);
    assert!(retried.stdout.contains("fragile"), "{}", retried.stdout);
    assert!(
        !retried.stdout.contains("Nothing to retry"),
        "{}",
        retried.stdout
    );
}

/// A query that fails in `show` is reported under `--log-format json` too, as an event.
#[test]
fn show_reports_a_failing_query_in_json() {
    let f = Fixture::new("warehouse");
    ok(&f.etlx(&["build"]));
    let out = f.etlx(&[
        "--log-format",
        "json",
        "show",
        "--inline",
        "select * from no_such_table",
    ]);
    assert_eq!(out.code, 1, "{}\n{}", out.stdout, out.stderr);
    let event: serde_json::Value = out
        .stdout
        .lines()
        .filter_map(|l| serde_json::from_str(l).ok())
        .find(|e: &serde_json::Value| e["event"] == "error")
        .unwrap_or_else(|| panic!("no error event:\n{}", out.stdout));
    assert!(
        event["message"].as_str().unwrap().contains("no_such_table"),
        "{event}"
    );
}

/// `log()` output piped to a file or a CI log is plain text: colour codes only on a terminal.
#[test]
fn logs_are_not_coloured_when_piped() {
    let f = Fixture::new("warehouse");
    std::fs::write(
        f.path().join("models/logs_a_line.sql"),
        "{{ log('hello from the model', info=True) }}\nselect 1 as x\n",
    )
    .unwrap();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_etlx"))
        .args(["compile", "-s", "logs_a_line"])
        .current_dir(f.path())
        .env("HOME", f.path())
        .env_remove("NO_COLOR")
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("hello from the model"), "{stderr}");
    assert!(
        !stderr.contains('\u{1b}'),
        "colour codes in piped output: {stderr:?}"
    );
}

/// `show` with a selection of several models names them and asks for one (exit 2), instead
/// of showing one of them at random.
#[test]
fn show_refuses_a_selection_of_several_models() {
    let f = Fixture::new("warehouse");
    ok(&f.etlx(&["build"]));
    let out = f.etlx(&["show", "-s", "orders", "fragile"]);
    assert_eq!(out.code, 2, "{}\n{}", out.stdout, out.stderr);
    assert!(
        out.stderr.contains("matches 2: ") && out.stderr.contains("pick one with -s"),
        "{}",
        out.stderr
    );
}

/// `retry` replays the failed run's `--vars` (and target, and --full-refresh): without them a
/// retry of one batch's failure would run another batch. `--vars` given to retry win.
#[test]
fn retry_replays_the_failed_runs_vars() {
    let f = Fixture::new("warehouse");
    let failed = f.etlx(&["build", "--vars", "{break: true}"]);
    assert_eq!(failed.code, 1, "{}\n{}", failed.stdout, failed.stderr);
    let again = f.etlx(&["retry"]);
    assert_eq!(again.code, 1, "{}\n{}", again.stdout, again.stderr);
    assert!(
        again.stdout.contains("fragile was told to break"),
        "the vars were replayed: {}",
        again.stdout
    );
    let results: serde_json::Value =
        serde_json::from_str(&f.read("target/run_results.json")).unwrap();
    assert_eq!(results["args"]["vars"], serde_json::json!({"break": true}));
    assert_eq!(results["args"]["which"], "retry");
    ok(&f.etlx(&["retry", "--vars", "{break: false}"]));
}

/// A seed with ragged rows fails at the row, naming the file, the line and the header's
/// width: DuckDB's sniffer would otherwise load a different shape and drop the other rows.
#[test]
fn a_seed_with_ragged_rows_fails_at_the_row() {
    let f = Fixture::new("warehouse");
    let seeds: Vec<_> = std::fs::read_dir(f.path().join("seeds"))
        .unwrap()
        .flatten()
        .filter(|e| e.path().extension().is_some_and(|x| x == "csv"))
        .collect();
    let seed = seeds.first().expect("a seed").path();
    let name = seed.file_name().unwrap().to_string_lossy().to_string();
    let text = std::fs::read_to_string(&seed).unwrap();
    let width = text.lines().next().unwrap().split(',').count();
    std::fs::write(&seed, format!("{text}{}\n", vec!["9"; width + 1].join(","))).unwrap();
    let line = text.lines().count() + 1;
    let out = f.etlx(&["seed"]);
    assert_eq!(out.code, 1, "{}\n{}", out.stdout, out.stderr);
    let expected = format!(
        "ragged row at [seeds/{name}:{line}:1]: row {} has {} field(s), the header has {width}",
        line - 1,
        width + 1
    );
    assert!(out.stdout.contains(&expected), "{expected}\n{}", out.stdout);
}

/// `current_date` and `today()` (which DuckDB keeps in its ICU extension, not built in here)
/// work in models, also through a view read by a later connection: the date of `now()`.
#[test]
fn current_date_works_without_icu() {
    let f = Fixture::new("warehouse");
    std::fs::write(
        f.path().join("models/dated.sql"),
        "{{ config(materialized='view') }}\nselect current_date as d, today() as t, current_date - 1 as yesterday\n",
    )
    .unwrap();
    ok(&f.etlx(&["run", "-s", "dated"]));
    let out = f.etlx(&[
        "show",
        "--inline",
        "select count(*) as n from {{ ref('dated') }} where d = t and d = cast(now()::timestamp as date) and yesterday = d - 1",
    ]);
    ok(&out);
    assert!(out.stdout.contains("│ 1 "), "{}", out.stdout);
}

#[test]
fn a_temp_model_is_built_for_its_run_and_never_reaches_the_database_file() {
    let f = Fixture::new("warehouse");
    f.edit(
        "models/stg_orders.sql",
        "materialized='view'",
        "materialized='temp'",
    );
    let out = f.etlx(&["build"]);
    ok(&out);
    assert!(
        out.stdout
            .contains(r#"temp        stg_orders -> "etlx_run"."main"."stg_orders""#),
        "{}",
        out.stdout
    );
    // Its readers saw its rows; the file holds no trace of it.
    assert_eq!(query(&f, "select count(*) from orders"), [["3"]]);
    assert_eq!(
        query(
            &f,
            "select count(*) from information_schema.tables where table_name = 'stg_orders'"
        ),
        [["0"]]
    );
    // The next batch, through the same temp model: no duplicates.
    ok(&f.etlx(&["build", "--vars", "{batch: batch_2}"]));
    assert_eq!(
        query(&f, "select order_id, amount from orders order by 1"),
        [["1", "10"], ["2", "25"], ["3", "30"], ["4", "40"]]
    );
    // A run that reads it builds it first, selected or not.
    let out = f.etlx(&["run", "-s", "orders", "--vars", "{batch: batch_2}"]);
    ok(&out);
    assert!(out.stdout.contains("stg_orders"), "{}", out.stdout);
    let compiled = f.read("target/compiled/warehouse/models/orders.sql");
    assert!(
        compiled.contains(r#""etlx_run"."main"."stg_orders""#),
        "{compiled}"
    );
}

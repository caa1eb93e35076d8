//! `--state`: which nodes each kind of edit modifies (hand-reasoned, edit by edit), `result:`
//! and `source_status:`, a CI build of `state:modified+` deferring to production (another
//! DuckDB file; another PostgreSQL schema), `clone`, and `--skip-unchanged` on the demo.

use std::collections::BTreeSet;
use std::path::Path;

use crate::harness::{Fixture, Output, duckdb_rows, run_with};
use crate::pg::PgDatabase;

fn ok(out: &Output) {
    assert_eq!(
        out.code, 0,
        "stdout:\n{}\nstderr:\n{}",
        out.stdout, out.stderr
    );
}

/// Names of what `selector` selects against the state in `prod-target/`.
fn selected(f: &Fixture, selector: &str, extra: &[&str], env: &[(&str, &str)]) -> BTreeSet<String> {
    let mut args = vec!["ls", "-s", selector, "--state", "prod-target", "-o", "name"];
    args.extend(extra);
    let env: Vec<(String, String)> = env
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    let out = f.etlx_with(&args, &env);
    ok(&out);
    out.stdout.lines().map(str::to_string).collect()
}

fn names(list: &[&str]) -> BTreeSet<String> {
    list.iter().map(|s| s.to_string()).collect()
}

/// Keep the current `target/` as the state later commands compare with.
fn keep_state(f: &Fixture) {
    let to = f.path().join("prod-target");
    let _ = std::fs::remove_dir_all(&to);
    copy_dir(&f.path().join("target"), &to);
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).expect("mkdir");
    for entry in std::fs::read_dir(from).expect("read dir") {
        let entry = entry.expect("entry");
        let path = entry.path();
        if path.is_dir() {
            copy_dir(&path, &to.join(entry.file_name()));
        } else {
            std::fs::copy(&path, to.join(entry.file_name())).expect("copy");
        }
    }
}

/// A state that production compiled, in a fresh copy of the fixture.
fn compiled_state() -> Fixture {
    let f = Fixture::new("state");
    ok(&f.etlx(&["compile"]));
    keep_state(&f);
    f
}

#[test]
fn each_edit_modifies_exactly_what_it_changes() {
    let f = compiled_state();
    let modified =
        |extra: &[&str], env: &[(&str, &str)]| selected(&f, "state:modified", extra, env);
    let none = BTreeSet::new();

    // Another target (schema ci, another file) with no edit: relation names are not code.
    assert_eq!(modified(&["-t", "ci"], &[]), none, "a CI target");

    f.edit("models/stg_orders.sql", "select id,", "select id as id,");
    assert_eq!(modified(&[], &[]), names(&["stg_orders"]), "SQL edit");
    assert_eq!(
        selected(&f, "state:modified+", &[], &[]),
        names(&[
            "stg_orders",
            "orders",
            "customers",
            "order_events",
            "no_negative_amounts",
            "not_null_orders_id"
        ]),
        "SQL edit, with what is downstream"
    );
    f.edit("models/stg_orders.sql", "select id as id,", "select id,");

    // A macro edit that changes a model's SQL marks that model, under `.macros` too.
    f.edit("macros/money.sql", "/ 100.0)", "/ 100.00)");
    assert_eq!(
        modified(&[], &[]),
        names(&["orders"]),
        "macro edit, SQL changes"
    );
    let by_macro = selected(&f, "state:modified.macros", &[], &[]);
    assert_eq!(by_macro, names(&["orders"]));
    f.edit("macros/money.sql", "/ 100.00)", "/ 100.0)");

    // Macro edits that change no SQL mark nothing (dbt marks every model calling the macro).
    f.edit(
        "macros/money.sql",
        "{% endmacro %}\n\n",
        "{# cents #}{% endmacro %}\n\n",
    );
    f.edit(
        "macros/money.sql",
        "unused_helper() %}1",
        "unused_helper() %}2",
    );
    assert_eq!(modified(&[], &[]), none, "macro edits that change no SQL");

    // A var or an env var changes the SQL of exactly the models that use it.
    assert_eq!(
        modified(&["--vars", "{region: us}"], &[]),
        names(&["customers"])
    );
    assert_eq!(
        modified(&[], &[("SHOP_CHANNEL", "app")]),
        names(&["order_events"])
    );

    // The incremental branch counts, though a CI build never renders it.
    f.edit("models/order_events.sql", "max(id)", "max(id) - 1");
    assert_eq!(
        modified(&[], &[]),
        names(&["order_events"]),
        "is_incremental() branch"
    );
    f.edit("models/order_events.sql", "max(id) - 1", "max(id)");

    f.edit(
        "models/customers.sql",
        "materialized='table'",
        "materialized='view'",
    );
    assert_eq!(modified(&[], &[]), names(&["customers"]), "config change");
    let configs = selected(&f, "state:modified.configs", &[], &[]);
    assert_eq!(configs, names(&["customers"]));
    assert_eq!(selected(&f, "state:modified.body", &[], &[]), none);
    f.edit(
        "models/customers.sql",
        "materialized='view'",
        "materialized='table'",
    );

    // Descriptions matter only where they are persisted to the warehouse.
    f.edit("models/schema.yml", "Orders as they landed.", "Raw orders.");
    assert_eq!(modified(&[], &[]), none, "description, not persisted");
    f.edit(
        "models/schema.yml",
        "Orders in dollars.",
        "Orders, in dollars.",
    );
    assert_eq!(
        modified(&[], &[]),
        names(&["orders"]),
        "description, persisted"
    );
    let persisted = selected(&f, "state:modified.persisted_descriptions", &[], &[]);
    assert_eq!(persisted, names(&["orders"]));
    f.edit(
        "models/schema.yml",
        "Orders, in dollars.",
        "Orders in dollars.",
    );

    f.edit("seeds/raw_orders.csv", "3,11,4999\n", "3,11,4999\n4,12,1\n");
    assert_eq!(modified(&[], &[]), names(&["raw_orders"]), "seed change");
    f.edit("seeds/raw_orders.csv", "3,11,4999\n4,12,1\n", "3,11,4999\n");

    f.edit(
        "models/stg_orders.sql",
        "select id,",
        "{{ config(alias='orders_landed') }}\nselect id,",
    );
    let relation = selected(&f, "state:modified.relation", &[], &[]);
    assert_eq!(relation, names(&["stg_orders"]), "alias change");
    f.edit(
        "models/stg_orders.sql",
        "{{ config(alias='orders_landed') }}\nselect id,",
        "select id,",
    );

    std::fs::write(f.path().join("models/refunds.sql"), "select 1 as id\n").expect("write");
    assert_eq!(selected(&f, "state:new", &[], &[]), names(&["refunds"]));
    assert_eq!(modified(&[], &[]), names(&["refunds"]), "new model");
    let old = selected(&f, "state:old", &["--resource-type", "model"], &[]);
    assert!(
        !old.contains("refunds") && old.contains("orders"),
        "{old:?}"
    );
    let unmodified = selected(&f, "state:unmodified", &["--resource-type", "model"], &[]);
    assert_eq!(
        unmodified,
        names(&[
            "stg_orders",
            "orders",
            "customers",
            "order_events",
            "stg_payments"
        ])
    );
}

#[test]
fn state_selectors_explain_what_they_need_and_typos() {
    let f = compiled_state();
    let out = f.etlx(&["ls", "-s", "state:modified"]);
    assert_eq!(out.code, 2, "{}", out.stderr);
    assert!(out.stderr.contains("needs --state <dir>"), "{}", out.stderr);
    let out = f.etlx(&["ls", "-s", "state:modifed", "--state", "prod-target"]);
    assert_eq!(out.code, 2);
    assert!(
        out.stderr.contains("did you mean 'state:modified'?"),
        "{}",
        out.stderr
    );
    let out = f.etlx(&["ls", "-s", "state:new", "--state", "nowhere"]);
    assert_eq!(out.code, 2);
    assert!(
        out.stderr.contains("no manifest.json there"),
        "{}",
        out.stderr
    );
}

#[test]
fn result_and_source_status_select_from_the_previous_run() {
    let f = Fixture::new("state");
    f.edit("models/orders.sql", "select id,", "select nonexistent, id,");
    assert_eq!(f.etlx(&["build"]).code, 1);
    ok(&f.etlx(&["source", "freshness"]));
    keep_state(&f);
    assert_eq!(selected(&f, "result:error", &[], &[]), names(&["orders"]));
    let skipped = selected(&f, "result:skipped", &[], &[]);
    let downstream = names(&[
        "customers",
        "order_events",
        "no_negative_amounts",
        "not_null_orders_id",
    ]);
    assert_eq!(skipped, downstream);
    // The retry of a failed CI run: what failed and everything below it.
    assert_eq!(selected(&f, "result:error+", &[], &[]).len(), 5);

    // A newer row lands: the source is fresher than in the state, and selects its readers.
    assert_eq!(selected(&f, "source_status:fresher+", &[], &[]), names(&[]));
    let landed = "2,2,2026-11-02 11:00:00\n3,3,2026-11-20 09:00:00\n";
    f.edit("landing/payments.csv", "2,2,2026-11-02 11:00:00\n", landed);
    ok(&f.etlx(&["source", "freshness"]));
    let fresher = selected(&f, "source_status:fresher+", &[], &[]);
    assert_eq!(fresher, names(&["payments", "stg_payments"]));
}

/// Build production, edit one model, then CI: `build -s state:modified+ --defer`.
fn ci_build_after_an_edit(f: &Fixture, prod: &[&str], ci: &[&str], env: &[(String, String)]) {
    ok(&f.etlx_with(&[&["build"], prod].concat(), env));
    keep_state(f);
    f.edit(
        "models/orders.sql",
        "as amount",
        "as amount, 'v2' as version",
    );
    let args = [
        &[
            "build",
            "-s",
            "state:modified+",
            "--defer",
            "--state",
            "prod-target",
        ],
        ci,
    ]
    .concat();
    ok(&f.etlx_with(&args, env));
    let results: serde_json::Value =
        serde_json::from_str(&f.read("target/run_results.json")).expect("run_results");
    let built: BTreeSet<String> = results["results"]
        .as_array()
        .expect("results")
        .iter()
        .filter_map(|r| {
            r["unique_id"]
                .as_str()?
                .rsplit('.')
                .next()
                .map(str::to_string)
        })
        .collect();
    let expected = names(&[
        "orders",
        "customers",
        "order_events",
        "no_negative_amounts",
        "not_null_orders_id",
    ]);
    assert_eq!(
        built, expected,
        "only the modified model and what is downstream"
    );
}

#[test]
fn a_ci_build_defers_to_production_in_another_duckdb_file() {
    let f = Fixture::new("state");
    ci_build_after_an_edit(&f, &[], &["-t", "ci"], &[]);
    let compiled = f.read("target/compiled/shop/models/orders.sql");
    assert!(
        compiled.contains(r#"from "etlx_state"."main"."stg_orders""#),
        "{compiled}"
    );
    let ci = f.path().join("ci_warehouse.duckdb");
    let tables = duckdb_rows(
        &ci,
        "select table_name from information_schema.tables where table_schema = 'ci' order by 1",
    );
    assert_eq!(
        tables,
        [["customers"], ["order_events"], ["orders"]].map(|r| r.map(String::from).to_vec()),
        "stg_orders and the seed were read from production, not built"
    );
    let customers = duckdb_rows(&ci, "select count(*) from ci.customers");
    assert_eq!(
        customers,
        [["2".to_string()]],
        "built from production's rows"
    );
    // Production was only read.
    let prod = f.path().join("prod.duckdb");
    let prod_orders = duckdb_rows(
        &prod,
        "select count(*) from information_schema.columns where table_name = 'orders' and column_name = 'version'",
    );
    assert_eq!(prod_orders, [["0".to_string()]]);
}

#[test]
fn a_ci_build_defers_to_production_in_another_postgres_schema() {
    let Some(db) = PgDatabase::create("state_defer") else {
        return;
    };
    let f = Fixture::new("state");
    ci_build_after_an_edit(&f, &["-t", "pg_prod"], &["-t", "pg_ci"], &db.env());
    let compiled = f.read("target/compiled/shop/models/orders.sql");
    assert!(
        compiled.contains(r#"from "prod"."stg_orders""#),
        "{compiled}"
    );
    let ci = db.query(
        "select table_name from information_schema.tables where table_schema = 'ci' order by 1",
    );
    assert_eq!(
        ci,
        [["customers"], ["order_events"], ["orders"]].map(|r| r.map(String::from).to_vec())
    );
    assert_eq!(
        db.query("select count(*) from ci.customers"),
        [["2".to_string()]]
    );
}

#[test]
fn clone_copies_from_another_duckdb_file_and_keeps_what_exists() {
    let f = Fixture::new("state");
    ok(&f.etlx(&["build"]));
    keep_state(&f);
    let out = f.etlx(&["clone", "--state", "prod-target", "-t", "ci"]);
    ok(&out);
    assert!(
        out.stdout
            .contains("copied from \"etlx_state\".\"main\".\"orders\""),
        "{}",
        out.stdout
    );
    let ci = f.path().join("ci_warehouse.duckdb");
    let kinds = duckdb_rows(
        &ci,
        "select table_name, table_type from information_schema.tables where table_schema = 'ci' order by 1",
    );
    assert_eq!(kinds.len(), 6, "{kinds:?}");
    assert!(
        kinds.iter().all(|k| k[1] == "BASE TABLE"),
        "copies, not views into a file: {kinds:?}"
    );
    assert_eq!(
        duckdb_rows(&ci, "select count(*) from ci.orders"),
        [["3".to_string()]]
    );
    let again = f.etlx(&[
        "clone",
        "--state",
        "prod-target",
        "-t",
        "ci",
        "-s",
        "orders",
    ]);
    ok(&again);
    assert!(
        again.stdout.contains("exists here; kept"),
        "{}",
        again.stdout
    );
    let out = f.etlx(&["clone"]);
    assert_eq!(out.code, 2);
    assert!(out.stderr.contains("clone needs --state"), "{}", out.stderr);
}

#[test]
fn clone_makes_views_over_another_postgres_schema() {
    let Some(db) = PgDatabase::create("state_clone") else {
        return;
    };
    let f = Fixture::new("state");
    ok(&f.etlx_with(&["build", "-t", "pg_prod"], &db.env()));
    keep_state(&f);
    ok(&f.etlx_with(
        &["clone", "--state", "prod-target", "-t", "pg_ci"],
        &db.env(),
    ));
    let kinds = db.query("select table_type, count(*) from information_schema.tables where table_schema = 'ci' group by 1");
    assert_eq!(kinds, [["VIEW".to_string(), "6".to_string()]]);
    assert_eq!(
        db.query("select count(*) from ci.customers"),
        [["2".to_string()]]
    );
}

/// What a run's results say of each node: unique id to status.
fn statuses(dir: &Path) -> Vec<(String, String)> {
    let text = std::fs::read_to_string(dir.join("target/run_results.json")).expect("results");
    let results: serde_json::Value = serde_json::from_str(&text).expect("json");
    results["results"]
        .as_array()
        .expect("results")
        .iter()
        .map(|r| {
            let id = r["unique_id"].as_str().unwrap_or_default().to_string();
            (id, r["status"].as_str().unwrap_or_default().to_string())
        })
        .collect()
}

#[test]
fn skip_unchanged_on_the_demo_reuses_everything_then_exactly_what_a_batch_feeds() {
    let demo = crate::demo::demo();
    let dir = demo.path();
    let etlx = |args: &[&str]| run_with(dir, args, &[]);
    // Two batches generated; the first lands now, the second later.
    ok(&etlx(&[
        "generate",
        "--out",
        "held",
        "--batches",
        "2",
        "--events",
        "3000",
        "--quiet",
    ]));
    std::fs::remove_dir_all(dir.join("landing")).expect("clear landing");
    std::fs::create_dir_all(dir.join("landing/events")).expect("mkdir");
    copy_dir(&dir.join("held/songs"), &dir.join("landing/songs"));
    let land = |batch: &str| {
        let from = dir.join("held/events").join(batch);
        copy_dir(&from, &dir.join("landing/events").join(batch));
    };
    land("batch_001");
    ok(&etlx(&["build", "--skip-unchanged"]));
    let first = statuses(dir);
    assert!(
        first.iter().all(|(_, s)| s != "reused"),
        "nothing recorded yet"
    );

    ok(&etlx(&["build", "--skip-unchanged"]));
    let second = statuses(dir);
    let not_reused: Vec<&(String, String)> = second
        .iter()
        .filter(|(id, s)| s != "reused" && !id.starts_with("source."))
        .collect();
    assert!(
        not_reused.is_empty(),
        "no new data, yet built: {not_reused:?}"
    );

    land("batch_002");
    ok(&etlx(&["build", "--skip-unchanged"]));
    let mut rebuilt: BTreeSet<String> = statuses(dir)
        .into_iter()
        .filter(|(id, s)| s != "reused" && !id.starts_with("source."))
        .map(|(id, _)| id)
        .collect();
    let out = etlx(&["ls", "-s", "source:landing.events+", "-o", "json"]);
    ok(&out);
    let fed: BTreeSet<String> = out
        .stdout
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .filter_map(|v| v["unique_id"].as_str().map(str::to_string))
        .filter(|id| !id.starts_with("source."))
        .collect();
    assert!(!rebuilt.is_empty());
    // stg_songs is `temp`: kept by no run, it is built again for fct_songplays, which reads
    // it, though no event feeds it (its tests are reused: it is what it was).
    assert!(rebuilt.remove("model.etlx_demo.stg_songs"), "{rebuilt:?}");
    assert_eq!(
        rebuilt, fed,
        "a new batch rebuilds exactly what the events feed"
    );
}

//! `etlx build` and `etlx test` with data tests: built-in and custom generic tests, singular
//! tests, severities and thresholds, `where`, `store_failures`, and failing tests that stop
//! bad data from flowing downstream.

use crate::harness::Fixture;

fn results(f: &Fixture) -> Vec<(String, String, Option<u64>)> {
    let json: serde_json::Value =
        serde_json::from_str(&f.read("target/run_results.json")).expect("run_results.json");
    let mut out: Vec<_> = json["results"]
        .as_array()
        .expect("results")
        .iter()
        .map(|r| {
            let id = r["unique_id"].as_str().unwrap_or_default();
            (
                id.rsplit('.').next().unwrap_or_default().to_string(),
                r["status"].as_str().unwrap_or_default().to_string(),
                r["failures"].as_u64(),
            )
        })
        .collect();
    out.sort();
    out
}

fn status_of(results: &[(String, String, Option<u64>)], name: &str) -> (String, Option<u64>) {
    results
        .iter()
        .find(|r| r.0 == name)
        .map(|r| (r.1.clone(), r.2))
        .unwrap_or_else(|| panic!("{name} not in run_results: {results:?}"))
}

#[test]
fn build_runs_tests_after_their_models_and_skips_downstream_of_failures() {
    let f = Fixture::new("quality");
    let out = f.etlx(&["build", "--threads", "1"]);
    assert_eq!(out.code, 1, "{}\n{}", out.stdout, out.stderr);
    f.settings().bind(|| {
        insta::assert_snapshot!("build", format!("{}\n{}", out.stdout, out.stderr));
    });
    let r = results(&f);
    // Errors: a null key, a duplicate key, a singular test. Warnings: severity warn, warn_if.
    assert_eq!(
        status_of(&r, "not_null_stg_events_user_id"),
        ("fail".into(), Some(1))
    );
    assert_eq!(
        status_of(&r, "unique_stg_events_event_id"),
        ("fail".into(), Some(1))
    );
    assert_eq!(status_of(&r, "no_free_gold"), ("fail".into(), Some(1)));
    assert_eq!(
        status_of(&r, "accepted_values_stg_events_kind__play__skip"),
        ("warn".into(), Some(1))
    );
    // is_small (custom, tests/generic/) only looks at plays (`where`): 1 row over 4, which
    // is over warn_if (>0) and not over error_if (>5).
    assert_eq!(
        status_of(&r, "is_small_stg_events_amount__4"),
        ("warn".into(), Some(1))
    );
    // relationships_where narrows both sides: the pause's user is gold, and gold is left out
    // of the parent (a warning); the skips' user is not.
    assert_eq!(
        status_of(
            &r,
            "relationships_where_stg_events_user_id__ref__stg_users____us_101815dcbbe4d1de"
        ),
        ("warn".into(), Some(1))
    );
    for passing in [
        "relationships_where_stg_events_user_id__ref__stg_users____us_176b4aeda83a091e",
        "accepted_values_stg_events_kind__play__skip__pause",
        "relationships_stg_events_user_id__ref__stg_users____user_id",
        "unique_combination_of_columns_stg_events__event_id__kind",
        "row_count_stg_events__1__100",
        "not_empty_stg_events",
        "expression_is_true_stg_events_amount_____0",
        "expression_is_true_stg_events_amount____5",
        "unique_stg_users_user_id",
    ] {
        assert_eq!(
            status_of(&r, passing),
            ("pass".into(), Some(0)),
            "{passing}"
        );
    }
    // Both marts read a staging model with a failing test: skipped, never built.
    assert_eq!(status_of(&r, "plays").0, "skipped");
    assert_eq!(status_of(&r, "levels").0, "skipped");
    let conn = duckdb::Connection::open(f.path().join("target/quality.duckdb")).unwrap();
    let stored: i64 = conn
        .query_row(
            "select count(*) from main_dbt_test__audit.unique_stg_events_event_id",
            [],
            |row| row.get(0),
        )
        .expect("store_failures keeps the failing rows");
    assert_eq!(stored, 1);
    let built: i64 = conn
        .query_row(
            "select count(*) from information_schema.tables where table_name in ('plays', 'levels')",
            [],
            |row| row.get(0),
        )
        .unwrap();
    assert_eq!(built, 0);
}

#[test]
fn a_failing_test_skips_only_its_own_downstream() {
    let f = Fixture::new("quality");
    // Fix the users data: stg_users' tests pass, so levels is built; plays is still skipped.
    std::fs::write(
        f.path().join("seeds/raw_users.csv"),
        "user_id,level\n10,free\n11,paid\n12,paid\n",
    )
    .unwrap();
    let out = f.etlx(&["build"]);
    assert_eq!(out.code, 1, "{}\n{}", out.stdout, out.stderr);
    let r = results(&f);
    assert_eq!(status_of(&r, "levels").0, "success");
    assert_eq!(status_of(&r, "plays").0, "skipped");
}

#[test]
fn test_selects_the_tests_of_the_selected_models() {
    let f = Fixture::new("quality");
    assert_eq!(f.etlx(&["build"]).code, 1);
    let out = f.etlx(&["test", "-s", "stg_users", "--exclude", "no_free_gold"]);
    assert_eq!(out.code, 0, "{}\n{}", out.stdout, out.stderr);
    let r = results(&f);
    let names: Vec<&str> = r.iter().map(|r| r.0.as_str()).collect();
    // dbt's eager indirect selection: every test that reads stg_users, including the
    // relationships test declared on stg_events and the test whose `where` refs stg_users.
    assert_eq!(
        names,
        [
            "accepted_values_stg_users_level__free__paid__gold",
            "expression_is_true_stg_events_amount____5",
            "not_null_stg_users_user_id",
            "relationships_stg_events_user_id__ref__stg_users____user_id",
            "relationships_where_stg_events_user_id__ref__stg_users____us_101815dcbbe4d1de",
            "relationships_where_stg_events_user_id__ref__stg_users____us_176b4aeda83a091e",
            "unique_stg_users_user_id",
        ]
    );
}

#[test]
fn an_unknown_generic_test_is_reported_at_its_yaml_line() {
    let f = Fixture::new("quality");
    f.edit("models/staging/schema.yml", "- not_empty", "- not_emptty");
    let out = f.etlx(&["build"]);
    assert_eq!(out.code, 2, "{}\n{}", out.stdout, out.stderr);
    assert!(
        out.stderr.contains("no generic test named 'not_emptty'")
            && out.stderr.contains("schema.yml:6")
            && out.stderr.contains("did you mean 'not_empty'?"),
        "{}",
        out.stderr
    );
}

#[test]
fn a_template_error_in_a_tests_where_points_at_the_yaml_entry() {
    let f = Fixture::new("quality");
    f.edit(
        "models/staging/schema.yml",
        "ref('stg_users') }}",
        "ref('stg_users' }}",
    );
    let out = f.etlx(&["compile"]);
    assert_eq!(out.code, 2, "{}\n{}", out.stdout, out.stderr);
    assert!(
        out.stderr.contains("template syntax error")
            && out.stderr.contains("the test is declared here")
            && out.stderr.contains("schema.yml:49:13"),
        "{}",
        out.stderr
    );
}

/// `etlx test` before anything was built: each test says in one line that its relation does
/// not exist yet, and the summary says it once, with what to run, instead of the warehouse's
/// "does not exist" and its suggestions for every test.
#[test]
fn tests_of_relations_never_built_say_so_once() {
    let f = Fixture::new("dbt_shop");
    let out = f.etlx(&["test", "--exclude-resource-type", "unit_test"]);
    assert_eq!(out.code, 1, "{}\n{}", out.stdout, out.stderr);
    let not_run = out
        .stdout
        .lines()
        .filter(|l| l.contains("not run: the relation it tests does not exist yet"))
        .count();
    assert!(not_run > 0, "{}", out.stdout);
    assert!(
        out.stderr.contains(&format!(
            "{not_run} tests were not run: the relations they test do not exist yet"
        )),
        "{}",
        out.stderr
    );
    assert!(out.stderr.contains("`etlx build`"), "{}", out.stderr);
    assert!(!out.stderr.contains("Catalog Error"), "{}", out.stderr);
    // Built, the same tests run.
    assert_eq!(f.etlx(&["build"]).code, 0);
    let after = f.etlx(&["test", "--exclude-resource-type", "unit_test"]);
    assert!(!after.stdout.contains("not run:"), "{}", after.stdout);
}

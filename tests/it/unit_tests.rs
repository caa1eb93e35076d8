//! Unit tests in YAML: a model run on given rows in a private DuckDB, compared with the
//! expected rows, with a row diff when they differ.

use crate::harness::Fixture;

fn statuses(f: &Fixture) -> Vec<(String, String)> {
    let json: serde_json::Value =
        serde_json::from_str(&f.read("target/run_results.json")).expect("run_results.json");
    let mut out: Vec<(String, String)> = json["results"]
        .as_array()
        .expect("results")
        .iter()
        .map(|r| {
            (
                r["unique_id"].as_str().unwrap_or_default().to_string(),
                r["status"].as_str().unwrap_or_default().to_string(),
            )
        })
        .collect();
    out.sort();
    out
}

#[test]
fn unit_tests_pass_or_fail_with_a_row_diff() {
    let f = Fixture::new("unit");
    let out = f.etlx(&["test", "--threads", "1", "-s", "test_type:unit"]);
    assert_eq!(out.code, 1, "{}\n{}", out.stdout, out.stderr);
    f.settings().bind(|| {
        insta::assert_snapshot!("test", format!("{}\n{}", out.stdout, out.stderr));
    });
    let expected: Vec<(String, String)> = [
        ("unit_test.unit.active_users.min_plays_from_vars", "pass"),
        (
            "unit_test.unit.dim_users.downgrade_is_wrongly_expected",
            "fail",
        ),
        (
            "unit_test.unit.dim_users.first_load_keeps_latest_level",
            "pass",
        ),
        (
            "unit_test.unit.dim_users.older_batch_does_not_overwrite_newer_level",
            "pass",
        ),
        ("unit_test.unit.stg_plays.resent_events_count_once", "pass"),
    ]
    .iter()
    .map(|(a, b)| (a.to_string(), b.to_string()))
    .collect();
    assert_eq!(statuses(&f), expected);
    // The model ran over the given rows only: nothing was created in the target.
    let shown = f.etlx(&[
        "show",
        "--inline",
        "select count(*) as n from information_schema.tables where table_name like '%etlx%'",
    ]);
    assert!(shown.stdout.contains("│ 0 "), "{}", shown.stdout);
}

#[test]
fn build_does_not_build_a_model_whose_unit_test_fails() {
    let f = Fixture::new("unit");
    let out = f.etlx(&["build", "--threads", "1"]);
    assert_eq!(out.code, 1, "{}\n{}", out.stdout, out.stderr);
    let s = statuses(&f);
    let status = |id: &str| {
        s.iter()
            .find(|(i, _)| i == id)
            .map(|(_, st)| st.as_str())
            .unwrap_or_else(|| panic!("{id} missing from {s:?}"))
    };
    assert_eq!(status("model.unit.dim_users"), "skipped");
    assert_eq!(status("model.unit.stg_plays"), "success");
    assert_eq!(status("model.unit.active_users"), "success");
    assert_eq!(status("test.unit.not_null_stg_plays_user_id"), "pass");
    // Selecting the model selects its unit tests too.
    let out = f.etlx(&["test", "-s", "stg_plays"]);
    assert_eq!(out.code, 0, "{}\n{}", out.stdout, out.stderr);
    assert!(
        out.stdout.contains("resent_events_count_once"),
        "{}",
        out.stdout
    );
    assert!(
        out.stdout.contains("not_null_stg_plays_user_id"),
        "{}",
        out.stdout
    );
    assert!(!out.stdout.contains("dim_users"), "{}", out.stdout);
}

#[test]
fn mistakes_in_unit_tests_point_at_the_yaml() {
    let f = Fixture::new("unit");
    std::fs::write(
        f.path().join("models/broken.yml"),
        "version: 2\nunit_tests:\n  - name: no_such_model\n    model: dim_user\n    given: []\n    expect: {rows: []}\n  - name: input_missing\n    model: active_users\n    given: []\n    expect: {rows: [{user_id: 1}]}\n  - name: bad_input\n    model: active_users\n    given:\n      - input: stg_plays\n        rows: []\n    expect: {rows: []}\n",
    )
    .expect("write");
    let out = f.etlx(&["test", "-s", "test_type:unit"]);
    assert_eq!(out.code, 2, "{}\n{}", out.stdout, out.stderr);
    f.settings().bind(|| {
        insta::assert_snapshot!("errors", out.stderr);
    });
    std::fs::remove_file(f.path().join("models/broken.yml")).expect("rm");
    std::fs::write(
        f.path().join("models/broken.yml"),
        "version: 2\nunit_tests:\n  - name: input_missing\n    model: active_users\n    given: []\n    expect: {rows: [{user_id: 1}]}\n",
    )
    .expect("write");
    let out = f.etlx(&["test", "-s", "test_type:unit"]);
    assert_eq!(out.code, 2, "{}\n{}", out.stdout, out.stderr);
    assert!(
        out.stderr
            .contains("reads ref('stg_plays'), which the test does"),
        "{}",
        out.stderr
    );
    assert!(out.stderr.contains("models/broken.yml:3"), "{}", out.stderr);
}

#[test]
fn unit_tests_of_a_redshift_project_run_locally() {
    let f = Fixture::new("unit");
    let out = f.etlx(&[
        "test",
        "--target",
        "redshift",
        "-s",
        "test_type:unit",
        "--exclude",
        "downgrade_is_wrongly_expected",
    ]);
    assert_eq!(out.code, 0, "{}\n{}", out.stdout, out.stderr);
    assert!(out.stdout.contains("4 ok, 0 failed"), "{}", out.stdout);
    // dim_users calls a macro with a redshift__ version (decode): the DuckDB one ran.
    let sql = f.read("target/compiled/unit/unit_tests/dim_users/first_load_keeps_latest_level.sql");
    assert!(sql.contains("case level when 'paid'"), "{sql}");
    // Anything else needs the warehouse, and says so.
    let out = f.etlx(&["test", "--target", "redshift"]);
    assert_eq!(out.code, 2, "{}\n{}", out.stdout, out.stderr);
}

/// As in dbt, an input's columns come from its relation in the warehouse: the ones the rows
/// do not list are typed NULLs, so a test gives only what the model's logic needs. The unit
/// test waits for its model's parents, so this holds on the first build too.
#[test]
fn columns_an_input_does_not_list_are_typed_nulls() {
    let f = Fixture::new("unit_typed_nulls");
    let out = f.etlx(&["build"]);
    assert_eq!(out.code, 0, "{}\n{}", out.stdout, out.stderr);
    assert!(
        out.stdout
            .contains("PASS  unit test   ungiven_columns_are_typed_nulls"),
        "{}",
        out.stdout
    );
}

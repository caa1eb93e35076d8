//! A project written for dbt builds unchanged and gives the tables dbt gives.
//!
//! `tests/fixtures/dbt_shop` is written the way dbt projects are (dbt_project.yml, seeds with
//! column_types, staging views, `{% set %}` loops over a var, an incremental model,
//! data_tests in YAML). `expected/*.csv` are the tables dbt-duckdb built from it
//! (`expected/regenerate.sh`); etlx must build the same rows, value for value.

use crate::harness::{Fixture, fixtures_dir};

/// Every row of `table` (`schema.table`, or a table of `main`), each value as DuckDB prints
/// it, the way tests/fixtures/dbt_expected.sh exported them.
fn rows_of(f: &Fixture, database: &str, table: &str) -> Vec<String> {
    let conn = duckdb::Connection::open(f.path().join(database)).expect("open");
    let qualified = match table.split_once('.') {
        Some((schema, name)) => format!("\"{schema}\".\"{name}\""),
        None => format!("main.\"{table}\""),
    };
    let sql = format!("select columns(*)::varchar from {qualified} order by all");
    let mut stmt = conn.prepare(&sql).expect(&sql);
    let mut rows = stmt.query([]).expect(&sql);
    let mut out = Vec::new();
    while let Some(row) = rows.next().expect(&sql) {
        let n = row.as_ref().column_count();
        let values: Vec<String> = (0..n)
            .map(|i| {
                row.get::<_, Option<String>>(i)
                    .expect(&sql)
                    .unwrap_or_else(|| "NULL".to_string())
            })
            .collect();
        out.push(values.join(","));
    }
    out
}

/// `etlx build` on `fixture` succeeds, and every table in its `expected/` (what dbt-duckdb
/// built) has the same rows in `database`; returns how many tables were compared.
fn assert_builds_like_dbt(fixture: &str, database: &str) -> usize {
    let f = Fixture::new(fixture);
    let out = f.etlx(&["build"]);
    assert_eq!(out.code, 0, "{}\n{}", out.stdout, out.stderr);
    let expected_dir = fixtures_dir().join(fixture).join("expected");
    let mut compared = 0;
    for entry in std::fs::read_dir(&expected_dir).expect("expected/") {
        let path = entry.expect("entry").path();
        if path.extension().is_none_or(|e| e != "csv") {
            continue;
        }
        let table = path.file_stem().unwrap().to_string_lossy().to_string();
        let text = std::fs::read_to_string(&path).expect("read csv");
        let mut expected: Vec<String> = text.lines().skip(1).map(str::to_string).collect();
        expected.sort();
        let mut actual = rows_of(&f, database, &table);
        actual.sort();
        assert_eq!(
            actual, expected,
            "{fixture}: table {table} differs from dbt's"
        );
        compared += 1;
    }
    compared
}

#[test]
fn a_dbt_project_builds_the_tables_dbt_builds() {
    let compared = assert_builds_like_dbt("dbt_shop", "target/shop.duckdb");
    assert!(compared >= 8, "only {compared} tables compared");
}

/// Keys etlx has no use for yet, Jinja in config values (`+enabled`, `+schema`, `+tags`), a
/// `generate_schema_name(custom_schema_name, node)` that reads the node, and the column types
/// dbt gives a seed (`seed_types`).
#[test]
fn a_dbt_project_file_with_jinja_configs_and_a_schema_override_builds_like_dbt() {
    let compared = assert_builds_like_dbt("dbt_project_compat", "target/compat.duckdb");
    assert_eq!(compared, 5);
    // The seed switched off with `+enabled: "{{ var('load_source_data', false) }}"` is absent,
    // as in dbt.
    let f = Fixture::new("dbt_project_compat");
    let out = f.etlx(&["ls", "--resource-type", "seed"]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert!(!out.stdout.contains("big_archive"), "{}", out.stdout);
    assert!(out.stdout.contains("raw_users"), "{}", out.stdout);
    // `flags:`, `dbt-cloud:`, `query-comment:`, `quoting:` are dbt's keys, not typos.
    let compiled = f.etlx(&["compile"]);
    assert!(
        !compiled.stderr.contains("unknown key"),
        "{}",
        compiled.stderr
    );
}

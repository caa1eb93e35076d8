//! A project written for dbt builds unchanged and gives the tables dbt gives.
//!
//! `tests/fixtures/dbt_shop` is written the way dbt projects are (dbt_project.yml, seeds with
//! column_types, staging views, `{% set %}` loops over a var, an incremental model,
//! data_tests in YAML). `expected/*.csv` are the tables dbt-duckdb built from it
//! (`expected/regenerate.sh`); etlx must build the same rows, value for value.

use crate::harness::{Fixture, fixtures_dir};

/// Every row of `table`, each value as DuckDB prints it, the way regenerate.sh exported them.
fn rows_of(f: &Fixture, table: &str) -> Vec<String> {
    let conn = duckdb::Connection::open(f.path().join("target/shop.duckdb")).expect("open");
    let sql = format!("select columns(*)::varchar from main.{table} order by all");
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

#[test]
fn a_dbt_project_builds_the_tables_dbt_builds() {
    let f = Fixture::new("dbt_shop");
    let out = f.etlx(&["build"]);
    assert_eq!(out.code, 0, "{}\n{}", out.stdout, out.stderr);
    let expected_dir = fixtures_dir().join("dbt_shop/expected");
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
        let mut actual = rows_of(&f, &table);
        actual.sort();
        assert_eq!(actual, expected, "table {table} differs from dbt's");
        compared += 1;
    }
    assert!(compared >= 8, "only {compared} tables compared");
}

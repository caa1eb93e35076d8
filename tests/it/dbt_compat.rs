//! A project written for dbt builds unchanged and gives the tables dbt gives.
//!
//! Each fixture here is a dbt project; `expected/*.csv` are the tables dbt-duckdb built from
//! it (`expected/regenerate.sh`), and etlx must build the same rows, value for value.

use crate::harness::{Fixture, fixtures_dir};

/// Every row of `table` (`schema.table`, or a table of `main`), each value as DuckDB prints
/// it, the way tests/fixtures/dbt_expected.sh exported them.
fn rows_of(f: &Fixture, database: &str, table: &str) -> Vec<Vec<String>> {
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
        out.push(values);
    }
    out
}

/// The rows of a CSV that regenerate.sh wrote, header dropped, each split into its values
/// (DuckDB quotes a value holding a comma or a quote, doubling the quote).
fn expected_rows(text: &str) -> Vec<Vec<String>> {
    text.lines().skip(1).map(csv_fields).collect()
}

fn csv_fields(line: &str) -> Vec<String> {
    let mut fields = vec![String::new()];
    let mut chars = line.chars().peekable();
    let mut quoted = false;
    while let Some(c) = chars.next() {
        let field = fields.last_mut().expect("a field");
        match (c, quoted) {
            ('"', true) if chars.peek() == Some(&'"') => {
                field.push('"');
                chars.next();
            }
            ('"', _) => quoted = !quoted,
            (',', false) => fields.push(String::new()),
            _ => field.push(c),
        }
    }
    fields
}

/// Build `fixture` with etlx and compare every table dbt-duckdb built from it, value for value;
/// `database` is the DuckDB file its profile names. At least `tables` must be compared.
fn assert_builds_what_dbt_builds(fixture: &str, database: &str, tables: usize) {
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
        let mut expected = expected_rows(&text);
        expected.sort();
        let mut actual = rows_of(&f, database, &table);
        actual.sort();
        assert_eq!(
            actual, expected,
            "{fixture}: table {table} differs from dbt's"
        );
        compared += 1;
    }
    assert!(compared >= tables, "only {compared} tables compared");
}

/// `tests/fixtures/dbt_shop` is written the way dbt projects are (dbt_project.yml, seeds with
/// column_types, staging views, `{% set %}` loops over a var, an incremental model,
/// data_tests in YAML).
#[test]
fn a_dbt_project_builds_the_tables_dbt_builds() {
    assert_builds_what_dbt_builds("dbt_shop", "target/shop.duckdb", 8);
}

/// `tests/fixtures/dbt_cross_db` calls every cross-database macro of dbt's (`dbt.datediff`,
/// `dbt.listagg`, `dbt.date_spine`, `dbt.type_string`, ...), through `dbt.` and by bare name.
#[test]
fn dbt_s_cross_database_macros_give_what_dbt_duckdb_gives() {
    assert_builds_what_dbt_builds("dbt_cross_db", "target/cross_db.duckdb", 10);
}

/// Keys etlx has no use for yet, Jinja in config values (`+enabled`, `+schema`, `+tags`), a
/// `generate_schema_name(custom_schema_name, node)` that reads the node, and the column types
/// dbt gives a seed (`seed_types`).
#[test]
fn a_dbt_project_file_with_jinja_configs_and_a_schema_override_builds_like_dbt() {
    assert_builds_what_dbt_builds("dbt_project_compat", "target/compat.duckdb", 5);
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

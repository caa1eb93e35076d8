//! A project written for dbt builds unchanged and gives the tables dbt gives.
//!
//! Each fixture here is a dbt project; `expected/*.csv` are the tables dbt-duckdb built from
//! it (`expected/regenerate.sh`), and etlx must build the same rows, value for value.

use crate::harness::{Fixture, fixtures_dir};

/// Every row of `table` (`schema.table`, or a table of `main`), each value as DuckDB prints
/// it, the way tests/fixtures/dbt_expected.sh exported them: a column named in `volatile`
/// (`schema.table.column`, the time of a run) as NULL or `(varies)`.
fn rows_of(f: &Fixture, database: &str, table: &str, volatile: &[String]) -> Vec<Vec<String>> {
    let conn = duckdb::Connection::open(f.path().join(database)).expect("open");
    let (schema, name) = table.split_once('.').unwrap_or(("main", table));
    let qualified = format!("\"{schema}\".\"{name}\"");
    let columns: Vec<String> = {
        let mut stmt = conn
            .prepare(&format!("select column_name from (describe {qualified})"))
            .expect("describe");
        stmt.query_map([], |r| r.get(0))
            .expect("describe")
            .map(|c| c.expect("column"))
            .collect()
    };
    let values: Vec<String> = columns
        .iter()
        .map(
            |c| match volatile.contains(&format!("{schema}.{name}.{c}")) {
                true => format!("case when \"{c}\" is null then null else '(varies)' end"),
                false => format!("\"{c}\"::varchar"),
            },
        )
        .collect();
    let sql = format!("select {} from {qualified}", values.join(", "));
    let mut stmt = conn.prepare(&sql).expect(&sql);
    let mut rows = stmt.query([]).expect(&sql);
    let mut out = Vec::new();
    while let Some(row) = rows.next().expect(&sql) {
        let values: Vec<String> = (0..columns.len())
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
/// `database` is the DuckDB file its profile names. At least `tables` must be compared. The
/// commands are those of `expected/steps` (one per line), as dbt_expected.sh ran them.
fn assert_builds_what_dbt_builds(fixture: &str, database: &str, tables: usize) {
    let f = Fixture::new(fixture);
    let expected_dir = fixtures_dir().join(fixture).join("expected");
    let steps = std::fs::read_to_string(expected_dir.join("steps")).unwrap_or("build".into());
    for step in steps.lines().filter(|l| !l.trim().is_empty()) {
        let args: Vec<&str> = step.split_whitespace().collect();
        let out = f.etlx(&args);
        assert_eq!(out.code, 0, "etlx {step}\n{}\n{}", out.stdout, out.stderr);
    }
    let volatile: Vec<String> = std::fs::read_to_string(expected_dir.join("volatile"))
        .unwrap_or_default()
        .split_whitespace()
        .map(str::to_string)
        .collect();
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
        let mut actual = rows_of(&f, database, &table, &volatile);
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
    assert_builds_what_dbt_builds("dbt_project_compat", "target/compat.duckdb", 6);
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

/// `tests/fixtures/dbt_snapshots` snapshots a source over three states: the timestamp and
/// check strategies, hard deletes invalidated and kept as versions, a composite key, renamed
/// meta columns, `dbt_valid_to_current`, a snapshot defined in YAML, and a model and tests
/// that read snapshots; the history is what dbt-duckdb records over the same three builds.
#[test]
fn snapshots_record_the_history_dbt_records() {
    assert_builds_what_dbt_builds("dbt_snapshots", "target/snaps.duckdb", 7);
}

/// The same three builds on PostgreSQL record the same history: each snapshot table holds
/// dbt-duckdb's rows (the seeds and models live in the target's schema there, so only the
/// snapshots, which name their schemas, are compared).
#[test]
fn snapshots_on_postgres_record_the_history_dbt_records() {
    let Some(db) = crate::pg::PgDatabase::create("snapshots") else {
        return;
    };
    let f = Fixture::new("dbt_snapshots");
    let expected_dir = fixtures_dir().join("dbt_snapshots").join("expected");
    for step in 1..=3 {
        let vars = format!("{{\"step\":{step}}}");
        let out = f.etlx_with(&["build", "--vars", &vars, "--target", "pg"], &db.env());
        assert_eq!(out.code, 0, "step {step}\n{}\n{}", out.stdout, out.stderr);
    }
    let volatile = std::fs::read_to_string(expected_dir.join("volatile")).expect("volatile");
    for table in [
        "history.users_by_time",
        "history.users_by_columns",
        "history.users_from_yaml",
        "main.users_by_org",
    ] {
        let file = table.strip_prefix("main.").unwrap_or(table);
        let text = std::fs::read_to_string(expected_dir.join(format!("{file}.csv"))).expect("csv");
        let header: Vec<String> = csv_fields(text.lines().next().expect("header"));
        let values: Vec<String> = header
            .iter()
            .map(|c| match volatile.contains(&format!("{table}.{c}")) {
                true => format!("case when \"{c}\" is null then 'NULL' else '(varies)' end"),
                false => format!("coalesce(\"{c}\"::text, 'NULL')"),
            })
            .collect();
        let mut actual = db.query(&format!("select {} from {table}", values.join(", ")));
        actual.sort();
        let mut expected = expected_rows(&text);
        expected.sort();
        assert_eq!(actual, expected, "{table} differs from dbt-duckdb's");
    }
}

/// `tests/fixtures/dbt_microbatch`: `incremental_strategy='microbatch'` by day and by hour,
/// inputs filtered per batch (a ref and a source with `event_time`, a ref without read
/// whole), two runs over overlapping `--event-time-start/--event-time-end` windows with a
/// late event in between: the tables dbt-duckdb builds.
#[test]
fn microbatch_models_build_the_tables_dbt_builds() {
    assert_builds_what_dbt_builds("dbt_microbatch", "target/microbatch.duckdb", 5);
}

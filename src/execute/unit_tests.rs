//! Unit tests: a model's logic checked on hand-written rows, without the warehouse.
//!
//! The model is rendered with every `ref`, `source` and `this` pointing at a table of the
//! rows the test gives, in the DuckDB dialect, and with the test's vars and `is_incremental`.
//! It then runs on a private in-memory DuckDB: the target is never opened, so unit tests run
//! in seconds anywhere, including for models written for Redshift (where the SQL allows).
//! The result is compared with the expected rows as a multiset over the expected columns,
//! and a failure becomes a row diff.

use std::collections::HashMap;

use indexmap::IndexMap;

use crate::adapter::duckdb::DuckDb;
use crate::adapter::{Adapter, ColumnInfo, Connection, Table};
use crate::compile::{InputTable, UnitPlan};
use crate::execute::RunError;
use crate::project::Project;
use crate::project::unit_test_specs::Rows;
use crate::sql::Dialect;
use crate::template::Relation;

/// What comparing the result with the expected rows found.
#[derive(Debug, Clone)]
pub struct Verdict {
    pub passed: bool,
    pub message: String,
    /// Rows missing from the result plus rows the result has in excess.
    pub differing: u64,
    /// Every row, marked `-` (expected, missing), `+` (extra) or blank (as expected).
    pub diff: Table,
}

/// Run the plan on a fresh in-memory DuckDB and compare.
pub fn run(
    project: &Project,
    plan: &UnitPlan,
    warehouse: &HashMap<String, Vec<ColumnInfo>>,
) -> Result<Verdict, RunError> {
    let db = DuckDb::in_memory(&project.root)?;
    let mut conn = db.connect()?;
    for input in &plan.inputs {
        let sql = create_input(input, warehouse.get(&input.table))?;
        conn.execute(&sql).map_err(|e| {
            RunError::UnitTest(format!("cannot build the rows of {}: {e}", input.input))
        })?;
    }
    let sql = plan.sql.trim().trim_end_matches(';');
    conn.execute(&format!("create table __etlx_actual as {sql}"))
        .map_err(|e| {
            let hint = match e.to_string().contains("Referenced column") {
                true => "\n  hint: give that column in the input's rows, or declare the input's columns with `data_type:` in YAML so the ones not given are null",
                false => "",
            };
            RunError::UnitTest(format!("the model failed on the given rows: {e}{hint}"))
        })?;
    let actual_types: IndexMap<String, String> = conn
        .describe("select * from __etlx_actual")?
        .into_iter()
        .map(|c| (c.name, c.data_type))
        .collect();
    let columns = create_expected(conn.as_mut(), &plan.expect, &actual_types)?;
    let actual = fetch_as_text(conn.as_mut(), "__etlx_actual", &columns)?;
    let expected = fetch_as_text(conn.as_mut(), "__etlx_expected", &columns)?;
    Ok(compare(columns, actual, expected))
}

/// The columns of each input's relation, for the inputs whose relation exists in the
/// warehouse (built before this run, or by it: a unit test waits for its model's parents);
/// the others are shaped by their rows and YAML alone.
pub fn warehouse_columns(
    plan: &UnitPlan,
    conn: &mut dyn Connection,
) -> HashMap<String, Vec<ColumnInfo>> {
    let mut out = HashMap::new();
    for input in &plan.inputs {
        let columns = match &input.relation {
            // Another database (a `temp` model's run catalog): the catalog query below
            // reads the current one only.
            Some(
                rel @ Relation::Table {
                    database: Some(_), ..
                },
            ) => conn.describe(&format!("select * from {}", rel.to_sql())),
            Some(Relation::Table {
                schema, identifier, ..
            }) => conn.columns(schema, identifier),
            Some(Relation::Files { reader, .. }) => {
                conn.describe(&format!("select * from {reader}"))
            }
            _ => continue,
        };
        // A relation that cannot be described leaves the input as its rows say.
        if let Some(columns) = columns.ok().filter(|c| !c.is_empty()) {
            out.insert(input.table.clone(), columns);
        }
    }
    out
}

/// An input's columns and types: the warehouse relation's columns in their order (typed
/// NULLs where the rows do not give them, as dbt fills them), YAML types over warehouse ones,
/// then any column only the rows have, typed by its values.
fn input_types(
    input: &InputTable,
    warehouse: Option<&Vec<ColumnInfo>>,
) -> IndexMap<String, String> {
    let rows = match &input.rows {
        Rows::Dicts(rows) => rows.as_slice(),
        Rows::Sql(_) => &[],
    };
    let given = |name: &str| {
        rows.iter()
            .flat_map(|r| r.keys())
            .find(|k| k.eq_ignore_ascii_case(name))
            .cloned()
    };
    let declared = |name: &str| {
        input
            .declared
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, t)| t.clone())
    };
    let mut types: IndexMap<String, String> = IndexMap::new();
    for column in warehouse.into_iter().flatten() {
        let name = given(&column.name).unwrap_or_else(|| column.name.clone());
        let ty = declared(&column.name).unwrap_or_else(|| column.data_type.clone());
        types.insert(name, ty);
    }
    let has = |types: &IndexMap<String, String>, name: &str| {
        types.keys().any(|k| k.eq_ignore_ascii_case(name))
    };
    for (name, ty) in &input.declared {
        if !has(&types, name) {
            types.insert(given(name).unwrap_or_else(|| name.clone()), ty.clone());
        }
    }
    for name in rows.iter().flat_map(|r| r.keys()) {
        if !has(&types, name) {
            types.insert(name.clone(), guess_type(rows, name).to_string());
        }
    }
    types
}

fn create_input(
    input: &InputTable,
    warehouse: Option<&Vec<ColumnInfo>>,
) -> Result<String, RunError> {
    let table = &input.table;
    match &input.rows {
        Rows::Sql(sql) => Ok(format!("create table {table} as {sql}")),
        Rows::Dicts(rows) => {
            let types = input_types(input, warehouse);
            if types.is_empty() {
                return Err(RunError::UnitTest(format!(
                    "{} has no rows and no declared columns, so its columns are unknown; give at least one row, declare the columns with `data_type:` in YAML, or use `format: sql` (`select 1::int as id where false`)",
                    input.input
                )));
            }
            Ok(format!(
                "create table {table} as {}",
                select_rows(rows, &types)
            ))
        }
    }
}

/// `select * from (values (...), (...)) t(a, b)` with every value cast to its column's type,
/// or an empty typed select when there are no rows.
fn select_rows(
    rows: &[IndexMap<String, serde_json::Value>],
    types: &IndexMap<String, String>,
) -> String {
    let q = |name: &str| Dialect::DuckDb.quote(name);
    if rows.is_empty() {
        let cols: Vec<String> = types
            .iter()
            .map(|(name, ty)| format!("cast(null as {ty}) as {}", q(name)))
            .collect();
        return format!("select {} where false", cols.join(", "));
    }
    let values: Vec<String> = rows
        .iter()
        .map(|row| {
            let cells: Vec<String> = types
                .iter()
                .map(|(name, ty)| format!("cast({} as {ty})", literal(row.get(name))))
                .collect();
            format!("({})", cells.join(", "))
        })
        .collect();
    let names: Vec<String> = types.keys().map(|n| q(n)).collect();
    format!(
        "select * from (values {}) as t({})",
        values.join(", "),
        names.join(", ")
    )
}

fn literal(value: Option<&serde_json::Value>) -> String {
    match value {
        None | Some(serde_json::Value::Null) => "null".to_string(),
        Some(serde_json::Value::Bool(b)) => b.to_string(),
        Some(serde_json::Value::Number(n)) => n.to_string(),
        Some(serde_json::Value::String(s)) => Dialect::DuckDb.literal(s),
        Some(other) => Dialect::DuckDb.literal(&other.to_string()),
    }
}

/// The narrowest type that holds every value of the column: what a reader of the YAML means
/// by `1`, `2.5`, `true` or `'2025-01-31 10:00:00'`.
fn guess_type(rows: &[IndexMap<String, serde_json::Value>], name: &str) -> &'static str {
    let values: Vec<&serde_json::Value> = rows
        .iter()
        .filter_map(|r| r.get(name))
        .filter(|v| !v.is_null())
        .collect();
    let all = |f: fn(&serde_json::Value) -> bool| !values.is_empty() && values.iter().all(|v| f(v));
    if all(serde_json::Value::is_boolean) {
        "BOOLEAN"
    } else if all(|v| v.is_i64() || v.is_u64()) {
        "BIGINT"
    } else if all(serde_json::Value::is_number) {
        "DOUBLE"
    } else if all(|v| v.as_str().is_some_and(is_date)) {
        "DATE"
    } else if all(|v| v.as_str().is_some_and(is_timestamp)) {
        "TIMESTAMP"
    } else {
        "VARCHAR"
    }
}

fn is_date(s: &str) -> bool {
    chrono::NaiveDate::parse_from_str(s, "%Y-%m-%d").is_ok()
}

fn is_timestamp(s: &str) -> bool {
    [
        "%Y-%m-%d %H:%M:%S%.f",
        "%Y-%m-%dT%H:%M:%S%.f",
        "%Y-%m-%d %H:%M",
    ]
    .iter()
    .any(|f| chrono::NaiveDateTime::parse_from_str(s, f).is_ok())
}

/// Build `__etlx_expected` with the result's column types; returns the columns compared.
fn create_expected(
    conn: &mut dyn Connection,
    expect: &Rows,
    actual: &IndexMap<String, String>,
) -> Result<Vec<String>, RunError> {
    let columns: Vec<String> = match expect {
        Rows::Sql(sql) => {
            conn.execute(&format!("create table __etlx_expected as {sql}"))
                .map_err(|e| RunError::UnitTest(format!("cannot build the expected rows: {e}")))?;
            conn.describe("select * from __etlx_expected")?
                .into_iter()
                .map(|c| c.name)
                .collect()
        }
        Rows::Dicts(rows) => {
            let mut names: Vec<String> = Vec::new();
            for name in rows.iter().flat_map(|r| r.keys()) {
                if !names.contains(name) {
                    names.push(name.clone());
                }
            }
            if names.is_empty() {
                names = actual.keys().cloned().collect();
            }
            let mut types = IndexMap::new();
            for name in &names {
                let ty = actual
                    .get(name)
                    .ok_or_else(|| missing_column(name, actual))?;
                types.insert(name.clone(), ty.clone());
            }
            conn.execute(&format!(
                "create table __etlx_expected as {}",
                select_rows(rows, &types)
            ))
            .map_err(|e| RunError::UnitTest(format!("cannot build the expected rows: {e}")))?;
            names
        }
    };
    for name in &columns {
        if !actual.contains_key(name) {
            return Err(missing_column(name, actual));
        }
    }
    Ok(columns)
}

fn missing_column(name: &str, actual: &IndexMap<String, String>) -> RunError {
    let have: Vec<&str> = actual.keys().map(String::as_str).collect();
    RunError::UnitTest(format!(
        "the expected rows have a column '{name}' that the model does not return (it returns {})",
        have.join(", ")
    ))
}

fn fetch_as_text(
    conn: &mut dyn Connection,
    table: &str,
    columns: &[String],
) -> Result<Vec<Vec<Option<String>>>, RunError> {
    let cols: Vec<String> = columns
        .iter()
        .map(|c| {
            let q = Dialect::DuckDb.quote(c);
            format!("cast({q} as varchar) as {q}")
        })
        .collect();
    Ok(conn
        .query(&format!("select {} from {table}", cols.join(", ")))?
        .rows)
}

/// Multiset comparison: each expected row cancels one equal result row.
fn compare(
    columns: Vec<String>,
    actual: Vec<Vec<Option<String>>>,
    expected: Vec<Vec<Option<String>>>,
) -> Verdict {
    let (n_actual, n_expected) = (actual.len(), expected.len());
    let mut unmatched: Vec<Option<Vec<Option<String>>>> = actual.into_iter().map(Some).collect();
    let mut marked: Vec<(&'static str, Vec<Option<String>>)> = Vec::new();
    let mut missing = 0u64;
    for row in expected {
        match unmatched.iter_mut().find(|a| a.as_ref() == Some(&row)) {
            Some(slot) => {
                *slot = None;
                marked.push(("", row));
            }
            None => {
                missing += 1;
                marked.push(("-", row));
            }
        }
    }
    let extra: Vec<_> = unmatched.into_iter().flatten().collect();
    let n_extra = extra.len() as u64;
    marked.extend(extra.into_iter().map(|r| ("+", r)));
    marked.sort_by(|a, b| a.1.cmp(&b.1).then(a.0.cmp(b.0)));
    let passed = missing == 0 && n_extra == 0;
    let message = if passed {
        format!("{n_actual} rows as expected")
    } else {
        format!(
            "expected {n_expected} rows, got {n_actual}: {missing} missing (-), {n_extra} unexpected (+)"
        )
    };
    let mut header = vec!["diff".to_string()];
    header.extend(columns);
    Verdict {
        passed,
        message,
        differing: missing + n_extra,
        diff: Table {
            columns: header,
            rows: marked
                .into_iter()
                .map(|(mark, row)| std::iter::once(Some(mark.to_string())).chain(row).collect())
                .collect(),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rows(data: &[&[&str]]) -> Vec<Vec<Option<String>>> {
        data.iter()
            .map(|r| r.iter().map(|c| Some(c.to_string())).collect())
            .collect()
    }

    #[test]
    fn diff_marks_missing_and_extra_rows() {
        let v = compare(
            vec!["id".into(), "level".into()],
            rows(&[&["1", "free"], &["2", "paid"], &["2", "paid"]]),
            rows(&[&["1", "paid"], &["2", "paid"], &["2", "paid"]]),
        );
        assert!(!v.passed);
        assert_eq!(v.differing, 2);
        let marks: Vec<_> = v.diff.rows.iter().map(|r| r[0].clone().unwrap()).collect();
        assert_eq!(marks, ["+", "-", "", ""]);
        assert_eq!(
            v.message,
            "expected 3 rows, got 3: 1 missing (-), 1 unexpected (+)"
        );
    }

    #[test]
    fn duplicates_count() {
        let v = compare(vec!["id".into()], rows(&[&["1"], &["1"]]), rows(&[&["1"]]));
        assert_eq!(v.differing, 1);
    }

    #[test]
    fn types_are_guessed_from_values() {
        let rows: Vec<IndexMap<String, serde_json::Value>> = vec![
            serde_json::from_str(r#"{"a": 1, "b": 1.5, "c": "2025-01-01", "d": "2025-01-01 10:00:00", "e": "x", "f": true}"#).unwrap(),
            serde_json::from_str(r#"{"a": null, "b": 2, "c": null, "d": null, "e": "2025-01-01", "f": null}"#).unwrap(),
        ];
        let got: Vec<_> = ["a", "b", "c", "d", "e", "f", "g"]
            .iter()
            .map(|c| guess_type(&rows, c))
            .collect();
        assert_eq!(
            got,
            [
                "BIGINT",
                "DOUBLE",
                "DATE",
                "TIMESTAMP",
                "VARCHAR",
                "BOOLEAN",
                "VARCHAR"
            ]
        );
    }
}

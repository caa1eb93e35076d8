//! Running a plan's statements on a connection, counting the rows they write: shared by every
//! step of a run (sources, nodes, microbatches, hooks).

use super::RunError;
use crate::adapter::Connection;

/// Run statements in order; the rows written by the statements that write rows, if reported.
/// Rows a delete+insert deletes before inserting them again are not counted: a re-run of the
/// same batch writes N rows, not 2N, so it does not look like duplication.
pub fn run_statements(
    conn: &mut dyn Connection,
    statements: &[String],
) -> Result<Option<u64>, RunError> {
    run_counting(conn, statements, true)
}

/// [`run_statements`] for a model's table, rebuilt whole every run: its rows are counted only
/// where that is free (a server's reply says it; DuckDB would prepare the statement, as
/// dbt-duckdb does not). Changes (inserts, merges) are counted everywhere.
pub fn run_model_statements(
    conn: &mut dyn Connection,
    statements: &[String],
) -> Result<Option<u64>, RunError> {
    let count_tables = !conn.counting_is_costly();
    run_counting(conn, statements, count_tables)
}

fn run_counting(
    conn: &mut dyn Connection,
    statements: &[String],
    count_tables: bool,
) -> Result<Option<u64>, RunError> {
    let mut rows = None;
    for sql in statements {
        let failed = |source| RunError::Statement {
            source,
            statement: sql.clone(),
        };
        let builds_table = ["create table", "create or replace table"]
            .iter()
            .any(|k| sql.starts_with(k));
        let changes = ["insert", "merge", "copy"]
            .iter()
            .any(|k| sql.starts_with(k));
        if !(changes || builds_table && count_tables) {
            conn.run(sql).map_err(failed)?;
        } else if let Some(n) = conn.execute(sql).map_err(failed)? {
            rows = Some(rows.unwrap_or(0) + n);
        }
    }
    Ok(rows)
}

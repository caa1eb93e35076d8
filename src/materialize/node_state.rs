//! The record behind `--skip-unchanged`: each node's fingerprint (its SQL, config and the
//! versions of its inputs) as of its last good build, in `etlx.node_state`.
//!
//! Kept in the warehouse beside the data it describes, like the file ledger, so a second
//! checkout, a fresh `target/` or another machine agree on what is up to date. A missing or
//! stale record costs a rebuild, never a wrong skip: a fingerprint describes the inputs, so
//! a node whose record matches was built from exactly what it would read now.

use super::ledger::{SCHEMA, list};
use crate::sql::Dialect;

pub const TABLE: &str = "node_state";

/// Rows per `insert ... values` statement: Redshift caps a statement at 16 MB.
const ROWS_PER_INSERT: usize = 1_000;

pub fn qualified(dialect: Dialect) -> String {
    format!("{}.{}", dialect.quote(SCHEMA), dialect.quote(TABLE))
}

/// The table, if missing.
pub fn create(dialect: Dialect) -> Vec<String> {
    let text = match dialect {
        Dialect::Redshift => "varchar(1024)",
        _ => "varchar",
    };
    vec![
        format!("create schema if not exists {}", dialect.quote(SCHEMA)),
        format!(
            "create table if not exists {} (node {text}, fingerprint {text}, invocation_id {text}, recorded_at timestamp)",
            qualified(dialect)
        ),
    ]
}

/// Every record: `node, fingerprint, recorded_at`.
pub fn read(dialect: Dialect) -> String {
    format!(
        "select node, fingerprint, cast(recorded_at as varchar) from {}",
        qualified(dialect)
    )
}

/// Replace the records of `nodes` (unique id, fingerprint), in one transaction.
pub fn record(
    dialect: Dialect,
    nodes: &[(&str, &str)],
    invocation_id: &str,
    at: &str,
) -> Vec<String> {
    if nodes.is_empty() {
        return Vec::new();
    }
    let mut out = vec!["begin".to_string()];
    let table = qualified(dialect);
    for chunk in nodes.chunks(ROWS_PER_INSERT) {
        let ids: Vec<&str> = chunk.iter().map(|(id, _)| *id).collect();
        out.push(format!(
            "delete from {table} where node in ({})",
            list(dialect, &ids)
        ));
        let rows: Vec<String> = chunk
            .iter()
            .map(|(id, fingerprint)| {
                format!(
                    "({}, {}, {}, timestamp {})",
                    dialect.literal(id),
                    dialect.literal(fingerprint),
                    dialect.literal(invocation_id),
                    dialect.literal(at)
                )
            })
            .collect();
        out.push(format!(
            "insert into {table} (node, fingerprint, invocation_id, recorded_at) values\n{}",
            rows.join(",\n")
        ));
    }
    out.push("commit".to_string());
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_dialect_parses_the_records_sql() {
        for dialect in [Dialect::DuckDb, Dialect::Postgres, Dialect::Redshift] {
            let mut statements = create(dialect);
            statements.push(read(dialect));
            let nodes = [("model.p.a", "f1"), ("model.p.b'q", "f2")];
            statements.extend(record(dialect, &nodes, "inv", "2026-12-01 06:00:00"));
            for sql in statements
                .iter()
                .filter(|s| !matches!(s.as_str(), "begin" | "commit"))
            {
                if let Err(e) = crate::sql::check(dialect, sql) {
                    panic!("{dialect:?}: {sql}\n{}", e.message);
                }
            }
        }
    }
}

//! DuckDB's SQL for each materialization.

use super::{PlanError, QualifiedName, Situation};
use crate::adapter::RelationKind;
use crate::project::Config;
use crate::sql::Dialect;

fn drop_existing(t: &QualifiedName, existing: Option<RelationKind>) -> Option<String> {
    match existing? {
        RelationKind::Table => Some(format!("drop table if exists {}", t.qualified())),
        RelationKind::View => Some(format!("drop view if exists {}", t.qualified())),
    }
}

pub fn view(t: &QualifiedName, sql: &str, s: &Situation) -> Vec<String> {
    let mut out = Vec::new();
    if s.existing == Some(RelationKind::Table) {
        out.extend(drop_existing(t, s.existing));
    }
    out.push(format!(
        "create or replace view {} as (\n{}\n)",
        t.qualified(),
        super::body(sql)
    ));
    in_transaction(out)
}

/// `begin` ... `commit` around a plan of several statements. A single statement is sent
/// alone: DuckDB runs it as its own transaction, just as atomic, and an explicit
/// transaction around it costs more than the statement itself for small models (measured:
/// 1,000 trivial models in 2.22 s with `begin`/`commit` around each, 1.43 s without).
/// Whoever adds statements to a plan wraps it (`ledger::inside_transaction`).
fn in_transaction(statements: Vec<String>) -> Vec<String> {
    if statements.len() == 1 {
        return statements;
    }
    [
        vec!["begin".to_string()],
        statements,
        vec!["commit".to_string()],
    ]
    .concat()
}

/// Replace the table in one transaction: DuckDB keeps the old version visible until the
/// commit, and a failure or a killed process leaves it in place (nothing reaches the
/// write-ahead log before the commit).
pub fn table(t: &QualifiedName, sql: &str, s: &Situation) -> Vec<String> {
    let mut out = Vec::new();
    if s.existing == Some(RelationKind::View) {
        out.extend(drop_existing(t, s.existing));
    }
    out.push(format!(
        "create or replace table {} as (\n{}\n)",
        t.qualified(),
        super::body(sql)
    ));
    in_transaction(out)
}

/// A `temp` model: a table in the run's in-memory catalog (`adapter::duckdb::RUN_CATALOG`),
/// never written to the database file. Nothing reads it before it is built in the run, so it
/// needs no transaction around its replacement.
pub fn temp(t: &QualifiedName, sql: &str) -> Vec<String> {
    let catalog = t.dialect.quote(crate::adapter::duckdb::RUN_CATALOG);
    vec![
        format!(
            "create schema if not exists {catalog}.{}",
            t.dialect.quote(t.schema)
        ),
        format!(
            "create or replace table {catalog}.{} as (\n{}\n)",
            t.qualified(),
            super::body(sql)
        ),
    ]
}

/// `select` over a seed file with DuckDB's own CSV reader.
pub fn seed_select(path: &str, config: &Config) -> Result<String, PlanError> {
    let mut args = vec![
        Dialect::DuckDb.literal(path),
        "header = true".to_string(),
        "auto_detect = true".to_string(),
        // dbt's seed types (agate's): whole numbers are INTEGER (BIGINT only when a value
        // needs it, where dbt fails), times of day stay text; DuckDB's sniffer alone gives
        // BIGINT and TIME.
        "auto_type_candidates = ['BOOLEAN', 'INTEGER', 'BIGINT', 'DOUBLE', 'DATE', 'TIMESTAMP', 'VARCHAR']".to_string(),
    ];
    if let Some(delim) = config.get_str("delimiter") {
        args.push(format!("delim = {}", Dialect::DuckDb.literal(delim)));
    }
    if let Some(serde_json::Value::Object(types)) = config.get("column_types") {
        let entries: Vec<String> = types
            .iter()
            .map(|(k, v)| {
                format!(
                    "{}: {}",
                    Dialect::DuckDb.literal(k),
                    Dialect::DuckDb.literal(v.as_str().unwrap_or("VARCHAR"))
                )
            })
            .collect();
        args.push(format!("types = {{{}}}", entries.join(", ")));
    }
    Ok(format!("select * from read_csv({})", args.join(", ")))
}

/// Check that every row of a seed has one field per header column. DuckDB's CSV sniffer,
/// given ragged rows, picks whatever shape most rows share and drops the rest without an
/// error: a seed must load whole or fail, pointing at the row.
pub fn check_seed_shape(
    file: &std::path::Path,
    shown: &str,
    config: &Config,
) -> Result<(), PlanError> {
    let delimiter = config
        .get_str("delimiter")
        .and_then(|d| d.bytes().next())
        .unwrap_or(b',');
    let mut reader = csv::ReaderBuilder::new()
        .delimiter(delimiter)
        .flexible(true)
        .has_headers(true)
        .from_path(file)
        .map_err(|e| PlanError::Seed(format!("cannot read {shown}: {e}")))?;
    let header: Vec<String> = reader
        .headers()
        .map_err(|e| PlanError::Seed(format!("{shown}:1:1: cannot read the header: {e}")))?
        .iter()
        .map(str::to_string)
        .collect();
    let mut record = csv::ByteRecord::new();
    let mut row = 0;
    loop {
        match reader.read_byte_record(&mut record) {
            Ok(false) => return Ok(()),
            Ok(true) => row += 1,
            Err(e) => return Err(PlanError::Seed(format!("{shown}: {e}"))),
        }
        if record.len() != header.len() {
            let line = record.position().map_or(row + 1, |p| p.line());
            return Err(PlanError::Seed(format!(
                "ragged row at [{shown}:{line}:1]: row {row} has {} field(s), the header has {} ({}); give every row one value per column (an empty value loads as NULL)",
                record.len(),
                header.len(),
                header.join(", ")
            )));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::adapter::ColumnInfo;
    use crate::materialize::{Strategy, Upsert, apply, stage};

    fn target() -> QualifiedName<'static> {
        QualifiedName {
            schema: "main",
            name: "orders",
            dialect: Dialect::DuckDb,
        }
    }

    fn col(name: &str) -> ColumnInfo {
        ColumnInfo {
            name: name.to_string(),
            data_type: "INTEGER".to_string(),
        }
    }

    #[test]
    fn each_materialization_s_sql() {
        let t = target();
        let fresh = Situation::default();
        let over_view = Situation {
            existing: Some(RelationKind::View),
            ..Situation::default()
        };
        let cols = [col("id"), col("amount")];
        let text = [
            (
                "view",
                view(
                    &t,
                    "select 1;",
                    &Situation {
                        existing: Some(RelationKind::Table),
                        ..Situation::default()
                    },
                ),
            ),
            ("table, new", table(&t, "select 1", &fresh)),
            ("table, replacing a view", table(&t, "select 1", &over_view)),
            (
                "incremental stage",
                stage(&t, "select 1 as id, 2 as amount"),
            ),
            ("append", apply(&t, &Strategy::Append, &cols, &[], &[])),
            (
                "delete+insert",
                apply(
                    &t,
                    &Strategy::DeleteInsert(Upsert::on(&["id"])),
                    &cols,
                    &[],
                    &[],
                ),
            ),
            (
                "merge, new column",
                apply(
                    &t,
                    &Strategy::Merge(Upsert::on(&["id"])),
                    &cols,
                    &[col("note")],
                    &[],
                ),
            ),
        ]
        .iter()
        .map(|(name, stmts)| format!("-- {name}\n{};\n", stmts.join(";\n")))
        .collect::<Vec<_>>()
        .join("\n");
        insta::assert_snapshot!(text);
    }

    #[test]
    fn seeds_use_the_csv_reader_with_config() {
        let config = Config(
            serde_json::from_value(
                serde_json::json!({"delimiter": ";", "column_types": {"code": "VARCHAR"}}),
            )
            .unwrap(),
        );
        assert_eq!(
            seed_select("seeds/x.csv", &config).unwrap(),
            "select * from read_csv('seeds/x.csv', header = true, auto_detect = true, auto_type_candidates = ['BOOLEAN', 'INTEGER', 'BIGINT', 'DOUBLE', 'DATE', 'TIMESTAMP', 'VARCHAR'], delim = ';', types = {'code': 'VARCHAR'})"
        );
    }
}

//! The file ledger's SQL: which landing files each relation holds or has consumed.
//!
//! The ledger is a table in the warehouse (`etlx.file_ledger`), not a file beside the
//! project, so that a model's rows and the record of the files they came from commit in one
//! transaction: a crash keeps both or neither, and a re-run can never read a file twice or
//! skip one. The same SQL runs on DuckDB, PostgreSQL and Redshift.

use crate::sql::Dialect;

pub const SCHEMA: &str = "etlx";
pub const TABLE: &str = "file_ledger";

/// Leads every statement that writes the ledger: the rows it inserts are bookkeeping, not the
/// model's, so the count of rows a build reports (statements starting `insert`) leaves them
/// out, and the SQL log says what they are.
const MARK: &str = "/* etlx file ledger */ ";

/// Rows per `insert ... values` statement: Redshift caps a statement at 16 MB.
const ROWS_PER_INSERT: usize = 1_000;

/// One landing file as listed: what identifies it and what says whether it changed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LedgerFile {
    /// The path relative to the project, or the `s3://` URL.
    pub file: String,
    pub size: u64,
    /// The modification time in nanoseconds (local files) or the ETag (S3).
    pub fingerprint: String,
}

/// Who writes a set of ledger rows, and when.
pub struct Writer<'a> {
    pub dialect: Dialect,
    pub invocation_id: &'a str,
    /// A timestamp literal's text (`2026-12-01 05:13:16.123456`), the same on every dialect.
    pub at: &'a str,
}

pub fn qualified(dialect: Dialect) -> String {
    format!("{}.{}", dialect.quote(SCHEMA), dialect.quote(TABLE))
}

/// The ledger's schema and table, if missing. `model` is the node (or source) holding or
/// having consumed `file`; `source` the source the file landed in.
pub fn create(dialect: Dialect) -> Vec<String> {
    // Redshift's bare varchar is 256 bytes: too short for a long S3 key.
    let text = match dialect {
        Dialect::Redshift => "varchar(4096)",
        _ => "varchar",
    };
    vec![
        format!("create schema if not exists {}", dialect.quote(SCHEMA)),
        format!(
            "create table if not exists {} (model {text}, source {text}, file {text}, size bigint, fingerprint {text}, invocation_id {text}, recorded_at timestamp)",
            qualified(dialect)
        ),
    ]
}

/// The files the `models` have recorded for `source`: `model, file, size, fingerprint`.
pub fn read(dialect: Dialect, source: &str, models: &[&str]) -> String {
    format!(
        "select model, file, size, fingerprint from {} where source = {} and model in ({})",
        qualified(dialect),
        dialect.literal(source),
        list(dialect, models)
    )
}

/// A source's pending files for this run, replacing what it held before.
pub fn record_source(w: &Writer, source: &str, files: &[LedgerFile]) -> Vec<String> {
    let d = w.dialect;
    let mut out = vec![format!(
        "{MARK}delete from {} where model = {}",
        qualified(d),
        d.literal(source)
    )];
    for chunk in files.chunks(ROWS_PER_INSERT) {
        let rows: Vec<String> = chunk
            .iter()
            .map(|f| {
                format!(
                    "({}, {}, {}, {}, {}, {}, timestamp {})",
                    d.literal(source),
                    d.literal(source),
                    d.literal(&f.file),
                    f.size,
                    d.literal(&f.fingerprint),
                    d.literal(w.invocation_id),
                    d.literal(w.at)
                )
            })
            .collect();
        out.push(format!(
            "{MARK}insert into {} (model, source, file, size, fingerprint, invocation_id, recorded_at) values\n{}",
            qualified(d),
            rows.join(",\n")
        ));
    }
    out
}

/// What a node records in its own transaction: the files its `parents` hold now. A node
/// that rebuilds from scratch (a view, a table, a first or full-refresh build) holds exactly
/// those; an incremental update adds them to what it has consumed before (a file it had
/// consumed with another fingerprint is replaced, having been read again).
pub fn record_node(w: &Writer, node: &str, parents: &[&str], accumulate: bool) -> Vec<String> {
    let d = w.dialect;
    let ledger = qualified(d);
    let parents = list(d, parents);
    let forget = if accumulate {
        format!(
            "{MARK}delete from {ledger} where model = {} and file in (select file from {ledger} where model in ({parents}))",
            d.literal(node)
        )
    } else {
        format!(
            "{MARK}delete from {ledger} where model = {}",
            d.literal(node)
        )
    };
    let record = format!(
        "{MARK}insert into {ledger} (model, source, file, size, fingerprint, invocation_id, recorded_at)\nselect distinct {}, source, file, size, fingerprint, {}, timestamp {} from {ledger} where model in ({parents})",
        d.literal(node),
        d.literal(w.invocation_id),
        d.literal(w.at)
    );
    vec![forget, record]
}

/// `plan` with `extra` run inside its transaction, just before its first `commit`: the
/// ledger's rows commit with the data or not at all.
pub fn inside_transaction(mut plan: Vec<String>, extra: Vec<String>) -> Vec<String> {
    if extra.is_empty() {
        return plan;
    }
    match plan.iter().position(|s| s == "commit") {
        Some(at) => {
            plan.splice(at..at, extra);
            plan
        }
        None => [
            vec!["begin".to_string()],
            plan,
            extra,
            vec!["commit".into()],
        ]
        .concat(),
    }
}

pub(crate) fn list(d: Dialect, items: &[&str]) -> String {
    items
        .iter()
        .map(|i| d.literal(i))
        .collect::<Vec<_>>()
        .join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn writer(dialect: Dialect) -> Writer<'static> {
        Writer {
            dialect,
            invocation_id: "inv-1",
            at: "2026-12-01 05:00:00",
        }
    }

    #[test]
    fn ledger_rows_go_before_the_plans_commit() {
        let plan = vec![
            "begin".to_string(),
            "create table t__etlx_tmp as select 1".into(),
            "commit".into(),
            "drop table t__etlx_old".into(),
        ];
        let out = inside_transaction(plan, vec!["insert ledger".into()]);
        assert_eq!(
            out,
            [
                "begin",
                "create table t__etlx_tmp as select 1",
                "insert ledger",
                "commit",
                "drop table t__etlx_old"
            ]
        );
    }

    #[test]
    fn every_ledger_statement_parses_in_its_dialect() {
        let files = [LedgerFile {
            file: "landing/events/batch_001/part-0.json".into(),
            size: 10,
            fingerprint: "1700000000000000000".into(),
        }];
        for dialect in [Dialect::DuckDb, Dialect::Postgres, Dialect::Redshift] {
            let w = writer(dialect);
            let statements = [
                create(dialect),
                vec![read(dialect, "source.p.landing.events", &["model.p.fct"])],
                record_source(&w, "source.p.landing.events", &files),
                record_node(&w, "model.p.fct", &["model.p.stg"], true),
                record_node(&w, "model.p.stg", &["source.p.landing.events"], false),
            ]
            .concat();
            for sql in statements {
                if let Err(e) = crate::sql::check(dialect, &sql) {
                    panic!("{dialect:?}: {sql}\n{}", e.message);
                }
            }
        }
    }

    #[test]
    fn inserts_are_split_so_no_statement_grows_without_bound() {
        let files: Vec<LedgerFile> = (0..2_500)
            .map(|i| LedgerFile {
                file: format!("f{i}"),
                size: 1,
                fingerprint: "x".into(),
            })
            .collect();
        let out = record_source(&writer(Dialect::Redshift), "s", &files);
        assert_eq!(out.len(), 1 + 3);
    }
}

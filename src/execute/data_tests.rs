//! Running a data test: count its failing rows, judge them against its config, keep them.
//!
//! A test's compiled SQL selects the rows that fail. Whether that makes the test pass, warn or
//! fail is its config's business (`severity`, `warn_if`, `error_if`, `limit`, as dbt defines
//! them), and `store_failures` keeps the rows in a table in an audit schema for inspection.

use crate::adapter::{Connection, Table};
use crate::compile::CompiledNode;
use crate::execute::RunError;
use crate::execute::Status;
use crate::project::Target;

/// Failing rows shown with a failed test.
pub const SAMPLE_ROWS: usize = 5;

#[derive(Debug)]
pub struct TestOutcome {
    pub status: Status,
    pub failures: u64,
    pub sample: Option<Table>,
    pub message: Option<String>,
}

pub fn evaluate(
    node: &CompiledNode,
    target: &Target,
    conn: &mut dyn Connection,
) -> Result<TestOutcome, RunError> {
    let sql = node
        .compiled_sql
        .as_deref()
        .ok_or_else(|| RunError::NotCompiled {
            what: "test",
            name: node.name.clone(),
        })?;
    let mut failing = sql.trim().trim_end_matches(';').to_string();
    if let Some(limit) = node.config.get("limit").and_then(|v| v.as_u64()) {
        failing = format!("select * from (\n{failing}\n) as etlx_limited limit {limit}");
    }
    let count = conn.query(&format!(
        "select count(*) from (\n{failing}\n) as etlx_test"
    ))?;
    let failures: u64 = count.scalar().and_then(|n| n.parse().ok()).unwrap_or(0);
    let mut message = None;
    if node.config.get_bool("store_failures") == Some(true) {
        message = Some(store_failures(node, target, conn, &failing)?);
    }
    let status = judge(node, failures)?;
    let sample = match failures {
        0 => None,
        _ => Some(conn.query(&format!(
            "select * from (\n{failing}\n) as etlx_sample limit {SAMPLE_ROWS}"
        ))?),
    };
    Ok(TestOutcome {
        status,
        failures,
        sample,
        message,
    })
}

/// dbt's rule: at `severity: error`, `error_if` decides a failure, else `warn_if` a warning;
/// at `severity: warn`, only `warn_if` counts. Both default to `!= 0`.
fn judge(node: &CompiledNode, failures: u64) -> Result<Status, RunError> {
    let severity = node
        .config
        .get_str("severity")
        .unwrap_or("error")
        .to_ascii_lowercase();
    let holds = |key: &str| -> Result<bool, RunError> {
        let condition = node.config.get_str(key).unwrap_or("!=0");
        threshold(condition, failures).ok_or_else(|| {
            RunError::Config(format!(
                "{key}: '{condition}' is not a condition like '>10' or '!=0'"
            ))
        })
    };
    Ok(match severity.as_str() {
        "error" if holds("error_if")? => Status::Fail,
        "error" | "warn" if holds("warn_if")? => Status::Warn,
        "error" | "warn" => Status::Pass,
        other => {
            return Err(RunError::Config(format!(
                "severity: '{other}' must be error or warn"
            )));
        }
    })
}

/// `>10`, `>=5`, `=0`, `!=0`, `<3` applied to `n`.
fn threshold(condition: &str, n: u64) -> Option<bool> {
    let c = condition.replace(' ', "");
    let (op, value) = ["!=", "<>", ">=", "<=", "==", ">", "<", "="]
        .iter()
        .find_map(|op| c.strip_prefix(op).map(|rest| (*op, rest)))?;
    let v: u64 = value.parse().ok()?;
    Some(match op {
        "!=" | "<>" => n != v,
        ">=" => n >= v,
        "<=" => n <= v,
        ">" => n > v,
        "<" => n < v,
        _ => n == v,
    })
}

/// Keep the failing rows in `<target schema>_dbt_test__audit.<test name>` (dbt's place for
/// them, or the test's `schema` config), replaced on every run; returns where they are.
fn store_failures(
    node: &CompiledNode,
    target: &Target,
    conn: &mut dyn Connection,
    failing: &str,
) -> Result<String, RunError> {
    let dialect = target.dialect;
    let schema = match node.config.get_str("schema") {
        Some(custom) => format!("{}_{custom}", target.schema),
        None => format!("{}_dbt_test__audit", target.schema),
    };
    let table = format!("{}.{}", dialect.quote(&schema), dialect.quote(&node.name));
    let statements = [
        format!("create schema if not exists {}", dialect.quote(&schema)),
        format!("drop table if exists {table}"),
        format!("create table {table} as (\n{failing}\n)"),
    ];
    for sql in &statements {
        conn.execute(sql)?;
    }
    Ok(format!("failing rows stored in {table}"))
}

#[cfg(test)]
mod tests {
    use super::threshold;

    #[test]
    fn thresholds_read_like_dbt() {
        assert_eq!(threshold("!=0", 0), Some(false));
        assert_eq!(threshold("!= 0", 3), Some(true));
        assert_eq!(threshold(">10", 10), Some(false));
        assert_eq!(threshold(">=10", 10), Some(true));
        assert_eq!(threshold("=0", 0), Some(true));
        assert_eq!(threshold("lots", 0), None);
    }
}

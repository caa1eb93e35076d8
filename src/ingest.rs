//! Files into a server warehouse: seeds, and sources whose `location` is landing files.
//!
//! DuckDB reads the files on this machine with the same readers the DuckDB target uses, so a
//! seed or a landing batch means the same rows on every target. The rows stream into a table
//! under a temporary name (COPY on PostgreSQL, INSERT on Redshift) that is swapped in like any
//! table, so a failed load leaves the previous rows in place.

use std::path::Path;

use crate::adapter::duckdb::DuckDb;
use crate::adapter::{Adapter, ColumnInfo, Connection};
use crate::materialize::{Situation, Target, postgres};
use crate::project::Config;

/// Rows per chunk handed from DuckDB to the warehouse.
const CHUNK: usize = 10_000;

/// Load the rows of `select` (DuckDB SQL over local files) into `t`; the number loaded.
pub fn load(
    root: &Path,
    select: &str,
    conn: &mut dyn Connection,
    t: &Target,
    s: &Situation,
    config: &Config,
) -> Result<u64, String> {
    let reader = DuckDb::in_memory(root).map_err(|e| e.to_string())?;
    let columns: Vec<ColumnInfo> = reader
        .connect()
        .and_then(|mut c| c.describe(select))
        .map_err(|e| format!("cannot read the files: {e}"))?
        .into_iter()
        .map(|c| ColumnInfo {
            data_type: postgres::column_type(&c.data_type, t.dialect),
            name: c.name,
        })
        .collect();
    execute(conn, &postgres::start_load(t, &columns, s, config))?;
    let names: Vec<String> = columns.into_iter().map(|c| c.name).collect();
    let mut sink = conn
        .copy_in(&postgres::building(t), &names)
        .map_err(|e| e.to_string())?;
    reader
        .stream(select, CHUNK, &mut |rows| sink.write(rows))
        .map_err(|e| e.to_string())?;
    let loaded = sink.finish().map_err(|e| e.to_string())?;
    execute(conn, &postgres::finish_load(t, s))?;
    Ok(loaded)
}

fn execute(conn: &mut dyn Connection, statements: &[String]) -> Result<(), String> {
    for sql in statements {
        conn.execute(sql).map_err(|e| e.to_string())?;
    }
    Ok(())
}

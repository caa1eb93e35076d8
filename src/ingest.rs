//! Files into a server warehouse: seeds, and sources whose `location` is landing files.
//!
//! DuckDB reads the files on this machine with the same readers the DuckDB target uses, so a
//! seed or a landing batch means the same rows on every target. The rows stream into a table
//! under a temporary name (COPY on PostgreSQL, INSERT on Redshift) that is swapped in like any
//! table, so a failed load leaves the previous rows in place.

use std::path::Path;

use crate::adapter::duckdb::DuckDb;
use crate::adapter::{Adapter, ColumnInfo, Connection, RelationKind};
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
    // Same columns as the table holds: refill it in place, so the views that read it stay.
    // Otherwise build a new table and swap it in (which drops those views).
    let in_place = s.existing == Some(RelationKind::Table)
        && !s.full_refresh
        && same_columns(
            &conn.columns(t.schema, t.name).map_err(|e| e.to_string())?,
            &columns,
        );
    let (start, into, finish) = if in_place {
        (
            vec![
                "begin".to_string(),
                format!("truncate table {}", t.qualified()),
            ],
            t.qualified(),
            vec!["commit".to_string()],
        )
    } else {
        (
            postgres::start_load(t, &columns, s, config),
            postgres::building(t),
            postgres::finish_load(t, s),
        )
    };
    execute(conn, &start)?;
    let names: Vec<String> = columns.into_iter().map(|c| c.name).collect();
    let mut sink = conn.copy_in(&into, &names).map_err(|e| e.to_string())?;
    reader
        .stream(select, CHUNK, &mut |rows| sink.write(rows))
        .map_err(|e| e.to_string())?;
    let loaded = sink.finish().map_err(|e| e.to_string())?;
    execute(conn, &finish)?;
    Ok(loaded)
}

/// Whether the table's columns (as the catalog spells their types) are the ones to load.
fn same_columns(current: &[ColumnInfo], wanted: &[ColumnInfo]) -> bool {
    current.len() == wanted.len()
        && current.iter().zip(wanted).all(|(c, w)| {
            c.name.eq_ignore_ascii_case(&w.name)
                && postgres::canonical_type(&c.data_type) == postgres::canonical_type(&w.data_type)
        })
}

fn execute(conn: &mut dyn Connection, statements: &[String]) -> Result<(), String> {
    for sql in statements {
        conn.execute(sql).map_err(|e| e.to_string())?;
    }
    Ok(())
}

//! The run lock, so two runs never build the same relations at once. PostgreSQL has advisory
//! locks that die with the session; Redshift has none, so there the lock is a row naming the
//! holder's session, and a row whose session is gone is stale. Both live here so the two ways
//! of telling a refused run who holds the lock stay alike.

use super::connection::PgConnection;
use crate::adapter::{AdapterError, Connection};
use crate::sql::Dialect;

/// The advisory lock's two keys: etlx's own class, and the schema's.
const LOCK_CLASS: i32 = 0x4554_4c58; // "ETLX"

fn lock_key(schema: &str) -> i32 {
    use sha2::Digest;
    let digest = sha2::Sha256::digest(schema.as_bytes());
    i32::from_be_bytes([digest[0], digest[1], digest[2], digest[3]]) & 0x7fff_ffff
}

/// Take the advisory lock or say who has it; the statements that release it. Advisory locks
/// belong to a database, so the holder is looked up in this one: a run in another database
/// of the same server, on a schema of the same name, holds a lock with the same keys.
pub(super) fn advisory_lock(
    conn: &mut PgConnection,
    schema: &str,
    holder: &str,
    what: &str,
) -> Result<Vec<String>, AdapterError> {
    let key = lock_key(schema);
    let name: String = holder.chars().take(63).collect();
    conn.execute(&format!(
        "set application_name = {}",
        Dialect::Postgres.literal(&name)
    ))?;
    let taken = conn
        .query(&format!("select pg_try_advisory_lock({LOCK_CLASS}, {key})"))?
        .scalar();
    if taken.as_deref() == Some("t") {
        return Ok(vec![
            format!("select pg_advisory_unlock({LOCK_CLASS}, {key})"),
            "reset application_name".to_string(),
        ]);
    }
    let found = conn
        .query(&format!(
            "select a.application_name, a.pid from pg_locks l join pg_stat_activity a on a.pid = l.pid \
             where l.locktype = 'advisory' and l.granted and l.classid = {LOCK_CLASS} and l.objid = {key} and l.objsubid = 2 \
             and l.database = (select oid from pg_database where datname = current_database())"
        ))?
        .rows
        .into_iter()
        .next()
        .map(|row| {
            let app = row.first().cloned().flatten().unwrap_or_default();
            let pid = row.get(1).cloned().flatten().unwrap_or_default();
            format!("{app}; server session {pid}")
        })
        .unwrap_or_else(|| "holder unknown".into());
    let _ = conn.execute("reset application_name");
    Err(AdapterError::Busy {
        what: what.to_string(),
        holder: found,
    })
}

/// Redshift's run lock; the statements that release it.
pub(super) fn redshift_lock(
    conn: &mut PgConnection,
    schema: &str,
    holder: &str,
    what: &str,
) -> Result<Vec<String>, AdapterError> {
    let d = Dialect::Redshift;
    let table = format!("{}.etlx_run_lock", d.quote(schema));
    conn.execute(&format!("create schema if not exists {}", d.quote(schema)))?;
    conn.execute(&format!(
        "create table if not exists {table} (holder varchar(256), pid integer, since timestamp)"
    ))?;
    conn.execute("begin")?;
    let taken = claim_lock_row(conn, &table, holder, what);
    if let Err(e) = taken {
        let _ = conn.execute("rollback");
        return Err(e);
    }
    Ok(vec![format!(
        "delete from {table} where pid = pg_backend_pid()"
    )])
}

/// Inside the open transaction: refuse if a live session holds the row, else take it.
fn claim_lock_row(
    conn: &mut PgConnection,
    table: &str,
    holder: &str,
    what: &str,
) -> Result<Option<u64>, AdapterError> {
    conn.execute(&format!("lock {table}"))?;
    let live = conn.query(&format!(
        "select holder from {table} where pid in (select process from stv_sessions) and pid <> pg_backend_pid()"
    ))?;
    if let Some(other) = live.scalar() {
        return Err(AdapterError::Busy {
            what: what.to_string(),
            holder: other,
        });
    }
    conn.execute(&format!(
        "delete from {table}; insert into {table} values ({}, pg_backend_pid(), getdate())",
        Dialect::Redshift.literal(holder)
    ))?;
    conn.execute("commit")
}

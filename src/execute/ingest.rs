//! Files into a server warehouse: seeds, and sources whose `location` is landing files.
//!
//! DuckDB reads the files on this machine with the same readers the DuckDB target uses, so a
//! seed or a landing batch means the same rows on every target. The rows stream into a table
//! under a temporary name (COPY on PostgreSQL, INSERT on Redshift) that is swapped in like any
//! table, so a failed load leaves the previous rows in place.

use std::path::Path;

use crate::adapter::duckdb::DuckDb;
use crate::adapter::{Adapter, ColumnInfo, Connection, RelationKind};
use crate::execute::RunError;
use crate::execute::run_statements;
use crate::materialize::ledger::inside_transaction;
use crate::materialize::{QualifiedName, Situation, postgres, redshift};
use crate::project::Config;

/// Rows per chunk handed from DuckDB to the warehouse.
const CHUNK: usize = 10_000;

/// Load the rows of `select` (DuckDB SQL over local files) into `t`; the number loaded.
/// `record` runs in the same transaction (the file ledger's rows for these files).
pub fn load(
    root: &Path,
    select: &str,
    conn: &mut dyn Connection,
    t: &QualifiedName,
    s: &Situation,
    config: &Config,
    record: &[String],
) -> Result<u64, RunError> {
    let reader = DuckDb::in_memory(root)?;
    let columns = described(&reader, select, t)?;
    // Same columns as the table holds: refill it in place, so the views that read it stay.
    // Otherwise build a new table and swap it in (which drops those views).
    let in_place = s.existing == Some(RelationKind::Table)
        && !s.full_refresh
        && same_columns(&conn.columns(t.schema, t.name)?, &columns);
    let (start, into, finish) = if in_place {
        (
            postgres::start_refill(t),
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
    run_statements(conn, &start)?;
    let names: Vec<String> = columns.into_iter().map(|c| c.name).collect();
    let mut sink = conn.copy_in(&into, &names)?;
    reader.stream(select, CHUNK, &mut |rows| sink.write(rows))?;
    let loaded = sink.finish()?;
    run_statements(conn, &inside_transaction(finish, record.to_vec()))?;
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

/// A source's landing files in S3, as COPY reads them.
pub struct S3Files<'a> {
    pub source: &'a crate::project::Source,
    /// The folder the source's location names.
    pub url: &'a crate::aws::S3Url,
    pub format: crate::aws::glue::FileFormat,
    /// The objects to load: every one under the folder, or the file ledger's pending ones.
    pub objects: Vec<crate::aws::s3::Object>,
    /// The file ledger's statements, run in the load's transaction.
    pub record: &'a [String],
}

/// Redshift: load the objects under `files.url` with one `COPY` through a manifest of exactly
/// those objects, into a new table swapped in like any other. The columns are the source's
/// declared ones (Redshift's COPY needs the table first).
pub fn copy_from_s3(
    aws: &crate::aws::Aws,
    conn: &mut dyn Connection,
    t: &QualifiedName,
    s: &Situation,
    files: &S3Files,
) -> Result<u64, RunError> {
    let S3Files {
        source,
        url,
        format,
        ref objects,
        record,
    } = *files;
    let role = aws.settings.iam_role.as_deref().ok_or_else(|| {
        RunError::Config(
            "loading from S3 on Redshift needs `aws_iam_role` in the target (the role COPY assumes)".into(),
        )
    })?;
    let staging = aws.settings.staging.as_deref().ok_or_else(|| {
        RunError::Config(
            "loading from S3 on Redshift needs `s3_staging` in the target (where manifests go)"
                .into(),
        )
    })?;
    let columns: Vec<ColumnInfo> = source
        .columns
        .values()
        .map(|c| {
            Some(ColumnInfo {
                name: c.name.clone(),
                data_type: postgres::column_type(c.data_type.as_deref()?, t.dialect),
            })
        })
        .collect::<Option<_>>()
        .filter(|c: &Vec<ColumnInfo>| !c.is_empty())
        .ok_or_else(|| {
            RunError::Config(format!(
                "declare the columns of source {}.{} with a data_type each: COPY on Redshift loads into a table that must exist first",
                source.source_name, source.name
            ))
        })?;
    // No pending file: an empty table (COPY refuses a manifest without entries).
    let mut copy = Vec::new();
    if !objects.is_empty() {
        let listed = redshift::manifest(&url.bucket, objects);
        let at = redshift::manifest_url(
            staging,
            &format!("{}.{}", source.source_name, source.name),
            &listed,
        )?;
        aws.put(&at, listed.into_bytes())?;
        copy.push(redshift::copy(
            &postgres::building(t),
            &at,
            role,
            format,
            true,
        ));
    }
    let statements = [
        postgres::start_load(t, &columns, s, &source.config),
        copy,
        inside_transaction(postgres::finish_load(t, s), record.to_vec()),
    ]
    .concat();
    Ok(run_statements(conn, &statements)?.unwrap_or(0))
}

/// Redshift with `s3_staging` and `aws_iam_role`: upload the seed file and `COPY` it instead
/// of INSERTs. The column types are the ones DuckDB's CSV reader gives, as everywhere.
pub fn seed_via_s3(
    aws: &crate::aws::Aws,
    root: &Path,
    path: &str,
    conn: &mut dyn Connection,
    t: &QualifiedName,
    s: &Situation,
    config: &Config,
) -> Result<u64, RunError> {
    let (Some(role), Some(staging)) = (&aws.settings.iam_role, &aws.settings.staging) else {
        return Err(RunError::Config(
            "seeds through S3 need `aws_iam_role` and `s3_staging` in the target".into(),
        ));
    };
    let select = crate::materialize::duckdb::seed_select(path, config)?;
    let reader = DuckDb::in_memory(root)?;
    let columns = described(&reader, &select, t)?;
    let url =
        crate::aws::S3Url::parse(staging)?.join(&format!("seeds/{}/{}.csv", t.schema, t.name));
    aws.upload_file(&root.join(path), &url)?;
    let copy = redshift::copy(
        &postgres::building(t),
        &url,
        role,
        crate::aws::glue::FileFormat::Csv,
        false,
    );
    let statements = [
        postgres::start_load(t, &columns, s, config),
        vec![copy],
        postgres::finish_load(t, s),
    ]
    .concat();
    Ok(run_statements(conn, &statements)?.unwrap_or(0))
}

/// The columns of `select` read by DuckDB, typed for the target.
fn described(
    reader: &DuckDb,
    select: &str,
    t: &QualifiedName,
) -> Result<Vec<ColumnInfo>, RunError> {
    Ok(reader
        .connect()
        .and_then(|mut c| c.describe(select))
        .map_err(RunError::Files)?
        .into_iter()
        .map(|c| ColumnInfo {
            data_type: postgres::column_type(&c.data_type, t.dialect),
            name: c.name,
        })
        .collect())
}

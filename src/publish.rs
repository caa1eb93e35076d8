//! Data sets published as files for other engines: `materialized: external` writes a model's
//! result as Parquet to a folder or to S3 and registers it in the Glue Data Catalog, and
//! `etlx catalog register` registers landing sources there.
//!
//! Every run of an external model writes a new prefix (`<location>/<run stamp>/`) and only then
//! points the catalog at it with one UpdateTable, so Athena or Spectrum readers see the old
//! files or the new ones, never a mixture. Older prefixes are deleted afterwards.

use std::path::{Path, PathBuf};

use crate::adapter::Connection;
use crate::aws::glue::{ExternalTable, FileFormat, GlueColumn, glue_type};
use crate::aws::{Aws, AwsSettings, S3Url};
use crate::materialize::Target;
use crate::project::{Config, Project, Source};
use crate::sql::Dialect;

/// Where an external model's files go, as configured.
enum Destination {
    Folder(PathBuf),
    S3(S3Url),
}

/// Build an external model on DuckDB; the number of rows written.
pub fn external(
    project: &Project,
    conn: &mut dyn Connection,
    t: &Target,
    sql: &str,
    config: &Config,
) -> Result<Option<u64>, String> {
    if t.dialect != Dialect::DuckDb {
        return Err(format!(
            "materialized='external' runs on DuckDB targets; this target is {}",
            t.dialect
        ));
    }
    let location = config.get_str("location").ok_or(
        "materialized='external' needs a location: config(location='s3://bucket/prefix/') or a folder",
    )?;
    let destination = match location.strip_prefix("s3://") {
        Some(_) => Destination::S3(S3Url::parse(location).map_err(|e| e.to_string())?),
        None => Destination::Folder(project.root.join(location)),
    };
    let stamp = run_stamp();
    // DuckDB writes locally; S3 gets the folder afterwards (no network extension needed).
    let base = match &destination {
        Destination::Folder(dir) => dir.clone(),
        Destination::S3(_) => project
            .target_dir()
            .join("external")
            .join(t.schema)
            .join(t.name),
    };
    let dir = base.join(&stamp);
    let partitions = config.strings("partition_by");
    let rows = write_parquet(conn, t, sql, &dir, &partitions)?;
    let files = format!("{}/**/*.parquet", dir.display());
    conn.execute(&format!(
        "create or replace view {} as select * from read_parquet({}, hive_partitioning = true)",
        t.qualified(),
        Dialect::DuckDb.literal(&files)
    ))
    .map_err(|e| e.to_string())?;
    if let Destination::S3(url) = &destination {
        let columns = conn
            .describe(&format!("select * from {}", t.qualified()))
            .map_err(|e| e.to_string())?;
        publish_to_s3(project, config, t, url, &stamp, &dir, &columns, &partitions)?;
    }
    remove_older_runs(&base, &stamp);
    Ok(rows)
}

/// `COPY (…) TO` the new folder, partitioned into `col=value/` folders when asked.
fn write_parquet(
    conn: &mut dyn Connection,
    t: &Target,
    sql: &str,
    dir: &Path,
    partitions: &[String],
) -> Result<Option<u64>, String> {
    std::fs::create_dir_all(dir).map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
    let body = sql.trim().trim_end_matches(';');
    let copy = if partitions.is_empty() {
        let file = dir.join("data_0.parquet");
        format!(
            "copy (\n{body}\n) to {} (format parquet)",
            Dialect::DuckDb.literal(&file.display().to_string())
        )
    } else {
        let keys: Vec<String> = partitions.iter().map(|p| t.dialect.quote(p)).collect();
        format!(
            "copy (\n{body}\n) to {} (format parquet, partition_by ({}), overwrite_or_ignore true)",
            Dialect::DuckDb.literal(&dir.display().to_string()),
            keys.join(", ")
        )
    };
    conn.execute(&copy).map_err(|e| e.to_string())
}

/// Upload the new folder, point Glue at it, then delete the older prefixes.
#[allow(clippy::too_many_arguments)]
fn publish_to_s3(
    project: &Project,
    config: &Config,
    t: &Target,
    url: &S3Url,
    stamp: &str,
    dir: &Path,
    columns: &[crate::adapter::ColumnInfo],
    partitions: &[String],
) -> Result<(), String> {
    let settings = AwsSettings::from_target(&project.target);
    let database = config
        .get_str("glue_database")
        .map(str::to_string)
        .or_else(|| settings.glue_database.clone());
    let aws = Aws::connect(settings).map_err(|e| e.to_string())?;
    let prefix = url.join(&format!("{stamp}/"));
    aws.upload_dir(dir, &prefix).map_err(|e| e.to_string())?;
    if let Some(database) = database {
        let is_partition = |name: &str| partitions.iter().any(|p| p.eq_ignore_ascii_case(name));
        let glue = |c: &crate::adapter::ColumnInfo| GlueColumn {
            name: c.name.to_lowercase(),
            glue_type: glue_type(&c.data_type),
        };
        let table = ExternalTable {
            database: database.clone(),
            name: t.name.to_lowercase(),
            columns: columns
                .iter()
                .filter(|c| !is_partition(&c.name))
                .map(glue)
                .collect(),
            partition_keys: partitions
                .iter()
                .filter_map(|p| columns.iter().find(|c| c.name.eq_ignore_ascii_case(p)))
                .map(glue)
                .collect(),
            location: prefix.to_string(),
            format: FileFormat::Parquet,
            description: None,
        };
        aws.ensure_database(&database).map_err(|e| e.to_string())?;
        aws.upsert_table(&table).map_err(|e| e.to_string())?;
        if !partitions.is_empty() {
            let found = partition_folders(dir, partitions.len())
                .into_iter()
                .map(|(values, rel)| (values, prefix.join(&format!("{rel}/")).to_string()))
                .collect::<Vec<_>>();
            aws.replace_partitions(&table, &found)
                .map_err(|e| e.to_string())?;
        }
    }
    let keep = prefix.key.clone();
    aws.delete_prefix_except(url, &keep)
        .map_err(|e| e.to_string())?;
    Ok(())
}

/// The `a=1/b=2` folders `depth` levels down: their values and their relative path.
fn partition_folders(dir: &Path, depth: usize) -> Vec<(Vec<String>, String)> {
    let mut out = Vec::new();
    for entry in walkdir::WalkDir::new(dir)
        .min_depth(depth)
        .max_depth(depth)
        .sort_by_file_name()
        .into_iter()
        .flatten()
    {
        if !entry.file_type().is_dir() {
            continue;
        }
        let rel = entry.path().strip_prefix(dir).unwrap_or(entry.path());
        let values: Vec<String> = rel
            .iter()
            .filter_map(|part| {
                let part = part.to_string_lossy();
                part.split_once('=').map(|(_, v)| v.to_string())
            })
            .collect();
        if values.len() == depth {
            out.push((values, rel.to_string_lossy().replace('\\', "/")));
        }
    }
    out
}

/// A sortable, unique name for this run's prefix.
fn run_stamp() -> String {
    let id = uuid::Uuid::new_v4().simple().to_string();
    format!(
        "run-{}-{}",
        chrono::Utc::now().format("%Y%m%dT%H%M%S%3fZ"),
        &id[..6]
    )
}

/// Delete the folders of earlier runs beside the new one (the view now reads the new one).
fn remove_older_runs(base: &Path, stamp: &str) {
    let Ok(entries) = std::fs::read_dir(base) else {
        return;
    };
    for entry in entries.flatten() {
        let name = entry.file_name().to_string_lossy().to_string();
        if name.starts_with("run-") && name != stamp {
            let _ = std::fs::remove_dir_all(entry.path());
        }
    }
}

/// Register a source whose files are in S3 as an external table in Glue. Columns come from
/// the YAML `data_type`s; `describe` supplies them when not all are declared.
pub fn register_source(
    aws: &Aws,
    source: &Source,
    location: &str,
    format: FileFormat,
    describe: impl FnOnce() -> Result<Vec<crate::adapter::ColumnInfo>, String>,
) -> Result<ExternalTable, String> {
    let prefix_end = location
        .find(['*', '?', '[', '{'])
        .unwrap_or(location.len());
    let folder = &location[..prefix_end];
    let folder = match folder.rfind('/') {
        Some(i) => &folder[..=i],
        None => folder,
    };
    S3Url::parse(folder).map_err(|e| e.to_string())?;
    let declared: Vec<GlueColumn> = source
        .columns
        .values()
        .filter_map(|c| {
            Some(GlueColumn {
                name: c.name.to_lowercase(),
                glue_type: glue_type(c.data_type.as_deref()?),
            })
        })
        .collect();
    let columns = if !declared.is_empty() && declared.len() == source.columns.len() {
        declared
    } else {
        describe()?
            .iter()
            .map(|c| GlueColumn {
                name: c.name.to_lowercase(),
                glue_type: glue_type(&c.data_type),
            })
            .collect()
    };
    let database = aws
        .settings
        .glue_database
        .clone()
        .unwrap_or_else(|| source.schema.clone());
    let table = ExternalTable {
        database: database.clone(),
        name: source.identifier.to_lowercase(),
        columns,
        partition_keys: Vec::new(),
        location: folder.to_string(),
        format,
        description: Some(source.description.clone()).filter(|d| !d.is_empty()),
    };
    aws.ensure_database(&database).map_err(|e| e.to_string())?;
    aws.upsert_table(&table).map_err(|e| e.to_string())?;
    Ok(table)
}

//! Data sets published as files for other engines: `materialized: external` writes a model's
//! result as Parquet to a folder or to S3 and registers it in the Glue Data Catalog, and
//! `etlx catalog register` registers landing sources there.
//!
//! Every run of an external model writes a new prefix (`<location>/<run stamp>/`) and only then
//! points the catalog at it with one UpdateTable, so Athena or Spectrum readers see the old
//! files or the new ones, never a mixture. Older prefixes are deleted afterwards, and only
//! those that are provably etlx's own: `run-*` folders directly under the location that hold
//! etlx's marker file. A location is a folder, never a bucket root; anything else under it
//! (another team's `daily_plays_backup/`, a hand-made folder) is never touched.

use std::path::{Path, PathBuf};

use crate::adapter::duckdb::DuckDb;
use crate::adapter::{Adapter, ColumnInfo, Connection};
use crate::aws::glue::{ExternalTable, FileFormat, GlueColumn, glue_type};
use crate::aws::{Aws, AwsSettings, S3Url};
use crate::compile::Compilation;
use crate::execute::RunError;
use crate::materialize::QualifiedName;
use crate::project::{Config, Project, Source};
use crate::sql::Dialect;

/// Where an external model's files go, as configured.
enum Destination {
    Folder(PathBuf),
    S3(S3Url),
}

/// Build an external model; the number of rows written. On DuckDB the files are written
/// locally (then uploaded when the location is in S3) and a view reads them back; on Redshift
/// they are UNLOADed to S3 and a late-binding view reads them through Spectrum.
pub fn external(
    project: &Project,
    conn: &mut dyn Connection,
    t: &QualifiedName,
    sql: &str,
    config: &Config,
) -> Result<Option<u64>, RunError> {
    let location = config.get_str("location").ok_or_else(|| {
        RunError::Location(
            "materialized='external' needs a location: config(location='s3://bucket/prefix/') or a folder".into(),
        )
    })?;
    let destination = destination(project, location)?;
    let p = Publication {
        t,
        config,
        stamp: run_stamp(),
        partitions: config.strings("partition_by"),
    };
    let (stamp, partitions) = (&p.stamp, &p.partitions);
    match (t.dialect, &destination) {
        (Dialect::DuckDb, _) => {}
        (Dialect::Redshift, Destination::S3(url)) => {
            return unload_to_s3(project, conn, &p, sql, url);
        }
        (dialect, _) => {
            return Err(RunError::Location(format!(
                "materialized='external' runs on DuckDB, or on Redshift with an s3:// location; this target is {dialect}"
            )));
        }
    }
    // DuckDB writes locally; S3 gets the folder afterwards (no network extension needed).
    let base = match &destination {
        Destination::Folder(dir) => dir.clone(),
        Destination::S3(_) => project
            .target_dir()
            .join("external")
            .join(t.schema)
            .join(t.name),
    };
    let dir = base.join(stamp);
    let rows = write_parquet(conn, t, sql, &dir, partitions)?;
    let marked = dir.join(RUN_MARKER);
    std::fs::write(&marked, marker(t, stamp)).map_err(|source| RunError::Io {
        doing: "write",
        path: marked.clone(),
        source,
    })?;
    let files = format!("{}/**/*.parquet", dir.display());
    conn.execute(&format!(
        "create or replace view {} as select * from read_parquet({}, hive_partitioning = true)",
        t.qualified(),
        Dialect::DuckDb.literal(&files)
    ))?;
    if let Destination::S3(url) = &destination {
        let columns = conn.describe(&format!("select * from {}", t.qualified()))?;
        let aws = aws_for(project)?;
        let prefix = url.join(&format!("{stamp}/"));
        aws.upload_dir(&dir, &prefix)?;
        register(&aws, &p, url, &prefix, &columns)?;
    }
    remove_older_runs(&base, stamp);
    Ok(rows)
}

/// The marker etlx leaves in each run folder it writes: cleanup deletes only folders holding
/// it. Athena, Spectrum and Hive skip files whose names start with `_`, and DuckDB reads
/// `*.parquet` only, so readers never see it as data.
const RUN_MARKER: &str = "_etlx_run.json";

fn marker(t: &QualifiedName, stamp: &str) -> String {
    serde_json::json!({
        "written_by": "etlx",
        "relation": format!("{}.{}", t.schema, t.name),
        "run": stamp,
    })
    .to_string()
}

/// The configured location as a folder: `s3://bucket/a/b` means `s3://bucket/a/b/`, so its
/// cleanup cannot reach `a/b_backup/`. A bucket root or the file system root is refused: no
/// data set owns a whole bucket.
fn destination(project: &Project, location: &str) -> Result<Destination, RunError> {
    if location.starts_with("s3://") {
        let url = S3Url::parse(location)?;
        let key = url.key.trim_matches('/');
        if key.is_empty() {
            return Err(RunError::Location(format!(
                "the location '{location}' is a bucket root; an external model needs a folder of its own, e.g. 's3://{}/curated/<model>/'",
                url.bucket
            )));
        }
        return Ok(Destination::S3(S3Url {
            bucket: url.bucket,
            key: format!("{key}/"),
        }));
    }
    let dir = project.root.join(location);
    if location.trim().is_empty() || dir.parent().is_none() || dir == project.root {
        return Err(RunError::Location(format!(
            "the location '{location}' is not a folder of its own; give one, e.g. 'target/exports/<model>'"
        )));
    }
    Ok(Destination::Folder(dir))
}

fn aws_for(project: &Project) -> Result<Aws, RunError> {
    Ok(Aws::connect(AwsSettings::from_target(&project.target))?)
}

/// One run's publication of an external model: the relation, its config, the run folder's
/// name and the columns it is partitioned by.
struct Publication<'a> {
    t: &'a QualifiedName<'a>,
    config: &'a Config,
    stamp: String,
    partitions: Vec<String>,
}

/// Redshift: UNLOAD into the new prefix, register it in Glue, and read it back through a
/// Spectrum schema over the Glue database with a late-binding view under the model's name.
fn unload_to_s3(
    project: &Project,
    conn: &mut dyn Connection,
    p: &Publication,
    sql: &str,
    url: &S3Url,
) -> Result<Option<u64>, RunError> {
    let (t, config, stamp, partitions) = (p.t, p.config, &p.stamp, &p.partitions);
    let aws = aws_for(project)?;
    let role = aws.settings.iam_role.clone().ok_or_else(|| {
        RunError::Config(
            "an external model on Redshift needs `aws_iam_role` in the target (the role UNLOAD and Spectrum assume)".into(),
        )
    })?;
    let database = glue_database(&aws, config).ok_or_else(|| {
        RunError::Config(
            "an external model on Redshift needs `glue_database` (target or model config)".into(),
        )
    })?;
    let columns = conn.describe(sql)?;
    let prefix = url.join(&format!("{stamp}/"));
    conn.execute(&crate::materialize::redshift::unload(
        sql, &prefix, &role, partitions,
    ))?;
    aws.put(&prefix.join(RUN_MARKER), marker(t, stamp).into_bytes())?;
    register(&aws, p, url, &prefix, &columns)?;
    for statement in crate::materialize::redshift::spectrum_view(t, &database, &role) {
        conn.execute(&statement)?;
    }
    Ok(None)
}

fn glue_database(aws: &Aws, config: &Config) -> Option<String> {
    config
        .get_str("glue_database")
        .map(str::to_string)
        .or_else(|| aws.settings.glue_database.clone())
}

/// `COPY (…) TO` the new folder, partitioned into `col=value/` folders when asked.
fn write_parquet(
    conn: &mut dyn Connection,
    t: &QualifiedName,
    sql: &str,
    dir: &Path,
    partitions: &[String],
) -> Result<Option<u64>, RunError> {
    std::fs::create_dir_all(dir).map_err(|source| RunError::Io {
        doing: "create",
        path: dir.to_path_buf(),
        source,
    })?;
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
    Ok(conn.execute(&copy)?)
}

/// Point Glue at the new prefix (table and partitions), then delete the older prefixes.
fn register(
    aws: &Aws,
    p: &Publication,
    url: &S3Url,
    prefix: &S3Url,
    columns: &[ColumnInfo],
) -> Result<(), RunError> {
    let (t, config, partitions) = (p.t, p.config, &p.partitions);
    if let Some(database) = glue_database(aws, config) {
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
        aws.ensure_database(&database)?;
        aws.upsert_table(&table)?;
        if !partitions.is_empty() {
            let keys: Vec<String> = aws.list(prefix)?.into_iter().map(|o| o.key).collect();
            let found = partition_folders(&prefix.key, &keys, partitions.len())
                .into_iter()
                .map(|(values, rel)| (values, prefix.join(&format!("{rel}/")).to_string()))
                .collect::<Vec<_>>();
            aws.replace_partitions(&table, &found)?;
        }
    }
    Ok(remove_older_s3_runs(aws, url, prefix)?)
}

/// Delete the earlier run folders of this location: `run-*` folders directly under it that
/// hold etlx's marker, except the one just published.
fn remove_older_s3_runs(
    aws: &Aws,
    url: &S3Url,
    current: &S3Url,
) -> Result<(), crate::aws::AwsError> {
    for folder in aws.folders(url)? {
        let name = folder[url.key.len()..].trim_end_matches('/');
        if folder == current.key || !is_run_folder(name) {
            continue;
        }
        let folder = S3Url {
            bucket: url.bucket.clone(),
            key: folder,
        };
        if aws.etag(&folder.join(RUN_MARKER))?.is_some() {
            aws.delete_folder(&folder)?;
        }
    }
    Ok(())
}

/// `run-<UTC stamp>-<6 hex>`, as `run_stamp` names them.
fn is_run_folder(name: &str) -> bool {
    let Some(rest) = name.strip_prefix("run-") else {
        return false;
    };
    let Some((time, id)) = rest.split_once('-') else {
        return false;
    };
    time.len() == 19
        && time.ends_with('Z')
        && time.as_bytes()[8] == b'T'
        && id.len() == 6
        && id.bytes().all(|b| b.is_ascii_hexdigit())
}

/// The distinct `a=1/b=2` folders of `keys` under `prefix`, `depth` levels down: their
/// values and their path relative to the prefix.
fn partition_folders(prefix: &str, keys: &[String], depth: usize) -> Vec<(Vec<String>, String)> {
    let mut out: Vec<(Vec<String>, String)> = Vec::new();
    for key in keys {
        let rel = key.strip_prefix(prefix).unwrap_or(key);
        let folders: Vec<&str> = rel.split('/').take(depth).collect();
        let values: Vec<String> = folders
            .iter()
            .filter_map(|f| f.split_once('=').map(|(_, v)| v.to_string()))
            .collect();
        let path = folders.join("/");
        if values.len() == depth && !out.iter().any(|(_, p)| *p == path) {
            out.push((values, path));
        }
    }
    out.sort();
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

/// Delete the folders of earlier runs beside the new one (the view now reads the new one):
/// only etlx's own, as on S3.
fn remove_older_runs(base: &Path, stamp: &str) {
    let Ok(entries) = std::fs::read_dir(base) else {
        return;
    };
    for entry in entries.flatten() {
        let name = entry.file_name().to_string_lossy().to_string();
        let ours = is_run_folder(&name) && entry.path().join(RUN_MARKER).is_file();
        if ours && name != stamp {
            let _ = std::fs::remove_dir_all(entry.path());
        }
    }
}

/// A selected source whose files are in S3, as compiled: what `etlx catalog register` registers.
pub struct S3Source<'a> {
    pub source: &'a Source,
    /// The rendered `s3://` location.
    pub location: &'a str,
    /// The DuckDB reader of its files (`read_parquet(...)`), which also names their format.
    pub reader: &'a str,
}

/// A source that could not be registered, named.
#[derive(Debug, thiserror::Error)]
#[error("source {source_name}.{name}: {source}")]
pub struct RegisterError {
    pub source_name: String,
    pub name: String,
    pub source: Box<RunError>,
}

/// The sources `c` selected whose location is in S3, in the order they were selected.
pub fn s3_sources<'a>(project: &'a Project, c: &'a Compilation) -> Vec<S3Source<'a>> {
    c.selected
        .iter()
        .filter_map(|id| project.sources.get(id))
        .filter_map(|source| {
            let location = c.source_locations.get(&source.unique_id)?;
            let reader = c.source_readers.get(&source.unique_id)?;
            location.starts_with("s3://").then_some(S3Source {
                source,
                location,
                reader,
            })
        })
        .collect()
}

/// Register each of `sources` in Glue ([`register_source`]). Columns not all declared in YAML
/// are read from the files, mirrored into the project's S3 cache first. `on_registered` is
/// told of each table as it is registered; the first source that fails stops the rest.
pub fn register_sources(
    project: &Project,
    aws: &Aws,
    sources: &[S3Source],
    mut on_registered: impl FnMut(&Source, &ExternalTable),
) -> Result<usize, RegisterError> {
    let cache = project.root.join(crate::compile::s3_cache_dir(project));
    for s in sources {
        let format = FileFormat::of_reader(s.reader);
        let describe = || describe_files(project, aws, s, &cache);
        let table = register_source(aws, s.source, s.location, format, describe).map_err(|e| {
            RegisterError {
                source_name: s.source.source_name.clone(),
                name: s.source.name.clone(),
                source: Box::new(e),
            }
        })?;
        on_registered(s.source, &table);
    }
    Ok(sources.len())
}

/// The columns of a source's files: mirrored locally, then described by DuckDB.
fn describe_files(
    project: &Project,
    aws: &Aws,
    s: &S3Source,
    cache: &Path,
) -> Result<Vec<ColumnInfo>, RunError> {
    let url = S3Url::parse(crate::aws::literal_prefix(s.location))?;
    aws.mirror(&url, cache)?;
    let duck = DuckDb::in_memory(&project.root)?;
    let mut conn = duck.connect()?;
    Ok(conn.describe(&format!("select * from {}", s.reader))?)
}

/// Register a source whose files are in S3 as an external table in Glue. Columns come from
/// the YAML `data_type`s; `describe` supplies them when not all are declared.
pub fn register_source(
    aws: &Aws,
    source: &Source,
    location: &str,
    format: FileFormat,
    describe: impl FnOnce() -> Result<Vec<ColumnInfo>, RunError>,
) -> Result<ExternalTable, RunError> {
    let folder = crate::aws::literal_prefix(location);
    let folder = match folder.rfind('/') {
        Some(i) => &folder[..=i],
        None => folder,
    };
    S3Url::parse(folder)?;
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
    aws.ensure_database(&database)?;
    aws.upsert_table(&table)?;
    Ok(table)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_etlx_stamps_are_run_folders() {
        assert!(is_run_folder(&run_stamp()));
        assert!(is_run_folder("run-20261121T180000000Z-abc123"));
        for name in [
            "run-",
            "run-backup",
            "run-20261121T180000000Z",
            "run-20261121T180000000Z-abc12",
            "run-20261121T180000000Z-xyz123",
            "daily_plays_backup",
        ] {
            assert!(!is_run_folder(name), "{name}");
        }
    }

    #[test]
    fn older_local_runs_are_deleted_only_when_marked() {
        let base = tempfile::tempdir().unwrap();
        let mine = "run-20261121T180000000Z-abc123";
        let theirs = "run-20261120T180000000Z-def456";
        let current = "run-20261122T180000000Z-0a0b0c";
        for run in [mine, theirs, current] {
            std::fs::create_dir_all(base.path().join(run)).unwrap();
        }
        std::fs::write(base.path().join(mine).join(RUN_MARKER), "{}").unwrap();
        std::fs::write(base.path().join(current).join(RUN_MARKER), "{}").unwrap();
        remove_older_runs(base.path(), current);
        assert!(!base.path().join(mine).exists());
        assert!(base.path().join(theirs).exists(), "unmarked: not etlx's");
        assert!(base.path().join(current).exists());
    }

    /// Only what is in S3 is registered: a local landing folder and a table loaded by
    /// someone else are not files Glue could point at.
    #[test]
    fn only_selected_sources_in_s3_are_registered() {
        let dir = tempfile::tempdir().expect("tempdir");
        let sources = "version: 2\nsources:\n  - name: landing\n    tables:\n      - name: events\n        location: s3://lake/landing/events/\n        format: parquet\n      - name: local\n        location: landing/songs.csv\n      - name: loaded\n";
        let project =
            crate::project::testing::project(dir.path(), &[("models/sources.yml", sources)]);
        let opts = crate::compile::CompileOptions {
            render: true,
            ..Default::default()
        };
        let c = crate::compile::compile(&project, &opts);
        assert!(!c.has_errors(), "{:?}", c.diagnostics);
        let found = s3_sources(&project, &c);
        let names: Vec<(&str, &str)> = found
            .iter()
            .map(|s| (s.source.name.as_str(), s.location))
            .collect();
        assert_eq!(names, [("events", "s3://lake/landing/events/")]);
        assert_eq!(FileFormat::of_reader(found[0].reader), FileFormat::Parquet);
        let selected = crate::compile::CompileOptions {
            select: vec!["source:landing.local".to_string()],
            ..opts
        };
        let c = crate::compile::compile(&project, &selected);
        assert!(s3_sources(&project, &c).is_empty());
    }
}

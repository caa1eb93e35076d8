//! Sources, made readable before the run: landing data in S3 is mirrored into a local cache
//! (DuckDB and the loader read local files), and on a server target landing files are loaded
//! into the source's table. Each step is a result of the run, so a failure shows and stops
//! it: every model reads what the sources hold.

use std::collections::{HashMap, HashSet};
use std::time::Instant;

use chrono::Utc;

use super::ingest::{S3Files, copy_from_s3};
use super::ledger::{Claim, Ledger, claim, glob_matcher, list_local};
use super::{Event, NodeResult, Reporter, RunError, RunOptions, Status, run_statements, situation};
use crate::adapter::Adapter;
use crate::aws::{Aws, AwsSettings, S3Url, literal_prefix};
use crate::compile::{Compilation, CompiledNode, files_reader, reader_glob};
use crate::materialize::QualifiedName;
use crate::materialize::ledger::LedgerFile;
use crate::project::{Project, ResourceType, Source};
use crate::sql::Dialect;

/// The file sources (those with a `location`) that the selected nodes read, directly or
/// through ephemeral models.
pub fn sources_read<'a>(
    project: &'a Project,
    c: &Compilation,
    nodes: &[&CompiledNode],
) -> Vec<&'a Source> {
    let mut ids: Vec<&str> = Vec::new();
    let mut stack: Vec<&str> = nodes
        .iter()
        .filter(|n| n.resource_type != ResourceType::UnitTest)
        .flat_map(|n| n.depends_on.iter().map(String::as_str))
        .collect();
    let mut seen = std::collections::HashSet::new();
    while let Some(id) = stack.pop() {
        if !seen.insert(id) {
            continue;
        }
        if c.source_readers.contains_key(id) {
            ids.push(id);
        } else if let Some(parent) = c.nodes.get(id).filter(|p| p.is_ephemeral()) {
            stack.extend(parent.depends_on.iter().map(String::as_str));
        }
    }
    ids.sort_unstable();
    ids.iter()
        .filter_map(|id| project.sources.get(*id))
        .collect()
}

/// Those whose files become a relation in the warehouse: every one on a server target (a
/// table), and on DuckDB those read through the file ledger (a view of the pending files).
pub fn loaded<'a>(project: &Project, sources: &[&'a Source]) -> Vec<&'a Source> {
    match project.target.dialect {
        Dialect::DuckDb => sources
            .iter()
            .copied()
            .filter(|s| s.reads_new_files())
            .collect(),
        _ => sources.to_vec(),
    }
}

#[derive(Clone, Copy)]
enum Step {
    /// S3 objects into the local cache.
    Mirror,
    /// Local files into a server warehouse, streamed.
    Load,
    /// S3 objects into Redshift, with COPY.
    Copy,
    /// DuckDB: the view of a ledger source's pending files.
    View,
}

/// The id a step reports under: a source's own id for its load, `<id>.s3` for its mirror.
pub fn mirror_id(source: &Source) -> String {
    format!("{}.s3", source.unique_id)
}

impl Step {
    fn id(self, source: &Source) -> String {
        match self {
            Step::Mirror => mirror_id(source),
            Step::Load | Step::Copy | Step::View => source.unique_id.clone(),
        }
    }

    /// What the step was doing, for its error message.
    fn doing(self) -> &'static str {
        match self {
            Step::Mirror => "mirroring the S3 files of",
            Step::Load | Step::Copy | Step::View => "loading the files of",
        }
    }
}

/// What the steps of `prepare` work with.
pub struct Run<'a> {
    pub project: &'a Project,
    pub c: &'a Compilation,
    pub adapter: &'a dyn Adapter,
    pub opts: &'a RunOptions,
    pub ledger: &'a Ledger,
}

/// Mirror and load what the run reads; `Some` with the failure if a step fails.
pub fn prepare(
    run: &Run,
    sources: &[&Source],
    reporter: &dyn Reporter,
    done: &mut Vec<NodeResult>,
) -> Option<Vec<NodeResult>> {
    let Run { project, c, .. } = *run;
    let steps = plan_steps(project, c, sources);
    let mut aws = None;
    for (index, (source, step)) in steps.iter().enumerate() {
        let id = step.id(source);
        let (started_at, clock) = (Utc::now(), Instant::now());
        if let Some(signal) = crate::cancel::reason() {
            return Some(vec![NodeResult {
                message: Some(format!("interrupted by {signal} before this step")),
                ..NodeResult::new(&id, Status::Error, started_at, 0.0, 0)
            }]);
        }
        reporter.event(Event::Started {
            unique_id: &id,
            thread: 0,
            total: steps.len(),
        });
        let outcome = match step {
            Step::Mirror => mirror(project, c, source, &mut aws),
            Step::Load => load(run, source, &mut aws),
            Step::Copy => copy(run, source, &mut aws),
            Step::View => view(run, source, &mut aws),
        };
        let seconds = clock.elapsed().as_secs_f64();
        let result = match outcome {
            Ok((rows, message)) => NodeResult {
                rows_affected: rows,
                message,
                ..NodeResult::new(&id, Status::Success, started_at, seconds, 0)
            },
            Err(e) => NodeResult {
                message: Some(format!(
                    "{} source {}.{}: {}",
                    step.doing(),
                    source.source_name,
                    source.name,
                    project.secrets.redact(&e.to_string())
                )),
                ..NodeResult::new(&id, Status::Error, started_at, seconds, 0)
            },
        };
        reporter.event(Event::Finished {
            result: &result,
            index: index + 1,
            total: steps.len(),
        });
        if result.status == Status::Error {
            return Some(vec![result]);
        }
        done.push(result);
    }
    None
}

/// The steps, in order: S3 mirrors (or, on Redshift, COPYs) first, then loads of local files.
fn plan_steps<'a>(
    project: &Project,
    c: &Compilation,
    sources: &[&'a Source],
) -> Vec<(&'a Source, Step)> {
    let in_s3 = |s: &Source| {
        c.source_locations
            .get(&s.unique_id)
            .is_some_and(|l| l.starts_with("s3://"))
    };
    let redshift = project.target.dialect == Dialect::Redshift;
    let mut steps: Vec<(&Source, Step)> = Vec::new();
    for source in sources {
        match (in_s3(source), redshift) {
            (true, true) => steps.push((source, Step::Copy)),
            (true, false) => steps.push((source, Step::Mirror)),
            (false, _) => {}
        }
    }
    // On Redshift a source in S3 is copied, not loaded from the local mirror.
    let last = match project.target.dialect {
        Dialect::DuckDb => Step::View,
        _ => Step::Load,
    };
    steps.extend(
        loaded(project, sources)
            .into_iter()
            .filter(|s| !(redshift && in_s3(s)))
            .map(|s| (s, last)),
    );
    steps
}

type StepOutcome = Result<(Option<u64>, Option<String>), RunError>;

/// Bring the source's S3 objects into the local cache its reader points at.
fn mirror(
    project: &Project,
    c: &Compilation,
    source: &Source,
    aws: &mut Option<Aws>,
) -> StepOutcome {
    let url = s3_prefix(c, source)?;
    let aws = client(project, aws)?;
    let cache = project.root.join(crate::compile::s3_cache_dir(project));
    let done = aws.mirror(&url, &cache)?;
    let mut message = format!(
        "{} downloaded ({} bytes), {} cached, {} removed",
        done.copied.len(),
        done.bytes,
        done.unchanged.len(),
        done.removed.len()
    );
    if !done.refused.is_empty() {
        message.push_str(&format!(
            "; WARNING: {} object(s) skipped because their keys would lead outside the cache \
             ('.', '..' or empty path segments), rename them in S3: {}",
            done.refused.len(),
            done.refused.join(", ")
        ));
    }
    Ok((None, Some(message)))
}

/// One AWS client for all the steps of a run, made when the first needs it.
fn client<'a>(project: &Project, aws: &'a mut Option<Aws>) -> Result<&'a Aws, RunError> {
    if aws.is_none() {
        *aws = Some(Aws::connect(AwsSettings::from_target(&project.target))?);
    }
    aws.as_ref().ok_or(RunError::Missing("no AWS client"))
}

/// Redshift: COPY the source's S3 objects through a manifest (of the pending ones only, for a
/// source read through the file ledger).
fn copy(run: &Run, source: &Source, aws: &mut Option<Aws>) -> StepOutcome {
    let Run { project, c, .. } = *run;
    let url = s3_prefix(c, source)?;
    let format = crate::aws::glue::FileFormat::of_reader(
        c.source_readers
            .get(&source.unique_id)
            .map_or("", String::as_str),
    );
    let aws = client(project, aws)?;
    into_source_table(run, source, |conn, t, s| {
        let objects = aws.list(&url)?;
        let claim = match source.reads_new_files() {
            true => {
                let listed = s3_files(c, source, &url, &objects)?;
                Some(claim_files(run, conn, source, listed)?)
            }
            false => None,
        };
        let objects = match &claim {
            Some(claim) => {
                let wanted: HashSet<&str> = claim.files.iter().map(|f| f.file.as_str()).collect();
                objects
                    .into_iter()
                    .filter(|o| wanted.contains(object_url(&url, o).as_str()))
                    .collect()
            }
            None => objects,
        };
        let files = S3Files {
            source,
            url: &url,
            format,
            objects,
            record: claim.as_ref().map_or(&[][..], |c| &c.record[..]),
        };
        Ok((copy_from_s3(aws, conn, t, s, &files)?, claim))
    })
}

/// The folder a source's S3 location names, without its glob.
fn s3_prefix(c: &Compilation, source: &Source) -> Result<S3Url, RunError> {
    let location = c
        .source_locations
        .get(&source.unique_id)
        .ok_or(RunError::Missing("no location"))?;
    Ok(S3Url::parse(literal_prefix(location))?)
}

/// Run a load into the source's table on a connection of its own, rolled back on failure.
fn into_source_table(
    run: &Run,
    source: &Source,
    load: impl FnOnce(
        &mut dyn crate::adapter::Connection,
        &QualifiedName,
        &crate::materialize::Situation,
    ) -> Result<(u64, Option<Claim>), RunError>,
) -> StepOutcome {
    let t = QualifiedName {
        schema: &source.schema,
        name: &source.identifier,
        dialect: run.adapter.dialect(),
    };
    let s = situation(&run.opts.catalog, &source.schema, &source.identifier, false);
    let mut conn = run.adapter.connect()?;
    let n = load(conn.as_mut(), &t, &s);
    if n.is_err() {
        let _ = conn.execute("rollback");
    }
    n.map(|(rows, claim)| (Some(rows), claim.map(|c| c.summary())))
}

/// A server target: the source's files (the pending ones, through the ledger) read by DuckDB
/// on this machine and streamed into the source's table.
fn load(run: &Run, source: &Source, aws: &mut Option<Aws>) -> StepOutcome {
    let Run { project, c, .. } = *run;
    let reader = c
        .source_readers
        .get(&source.unique_id)
        .ok_or(RunError::Missing("no reader"))?;
    into_source_table(run, source, |conn, t, s| {
        let (select, claim) = match source.reads_new_files() {
            true => {
                let listed = listed_files(run, source, aws)?;
                let claim = claim_files(run, conn, source, listed.files.clone())?;
                (pending_select(run, source, &listed, &claim)?, Some(claim))
            }
            false => (format!("select * from {reader}"), None),
        };
        let record = claim.as_ref().map_or(&[][..], |c| &c.record[..]);
        let rows = crate::execute::ingest::load(
            &project.root,
            &select,
            conn,
            t,
            s,
            &source.config,
            record,
        )?;
        Ok((rows, claim))
    })
}

/// DuckDB: the source's relation becomes a view of exactly the run's pending files, made in
/// the transaction that records them as the source's holding.
fn view(run: &Run, source: &Source, aws: &mut Option<Aws>) -> StepOutcome {
    let t = QualifiedName {
        schema: &source.schema,
        name: &source.identifier,
        dialect: Dialect::DuckDb,
    };
    let mut conn = run.adapter.connect()?;
    let outcome = (|| {
        let listed = listed_files(run, source, aws)?;
        let claim = claim_files(run, conn.as_mut(), source, listed.files.clone())?;
        let select = pending_select(run, source, &listed, &claim)?;
        let plan = crate::materialize::duckdb::view(
            &t,
            &select,
            &situation(&run.opts.catalog, &source.schema, &source.identifier, false),
        );
        let statements = crate::materialize::ledger::inside_transaction(plan, claim.record.clone());
        run_statements(conn.as_mut(), &statements)?;
        Ok(claim)
    })();
    if outcome.is_err() {
        let _ = conn.execute("rollback");
    }
    outcome.map(|claim| (None, Some(claim.summary())))
}

/// A ledger source's files as listed before the run, and where this machine reads each.
pub(super) struct Listed {
    pub files: Vec<LedgerFile>,
    /// By file: the local path DuckDB reads (the file itself, or its S3 mirror).
    local: HashMap<String, String>,
}

/// List a ledger source's files: on disk, or in S3 (then read from the mirror made by the
/// step before).
pub(super) fn listed_files(
    run: &Run,
    source: &Source,
    aws: &mut Option<Aws>,
) -> Result<Listed, RunError> {
    let Run { project, c, .. } = *run;
    let (location, format) = rendered(c, source)?;
    if !location.starts_with("s3://") {
        let files = list_local(&project.root, &reader_glob(format, location))?;
        let local = files
            .iter()
            .map(|f| (f.file.clone(), f.file.clone()))
            .collect();
        return Ok(Listed { files, local });
    }
    let url = s3_prefix(c, source)?;
    let objects = client(project, aws)?.list(&url)?;
    let files = s3_files(c, source, &url, &objects)?;
    let cache = crate::compile::s3_cache_dir(project);
    let local = files
        .iter()
        .map(|f| {
            let rest = f.file.trim_start_matches("s3://");
            (f.file.clone(), format!("{cache}/{rest}"))
        })
        .collect();
    Ok(Listed { files, local })
}

/// A file source's location and format as compile rendered them.
fn rendered<'a>(c: &'a Compilation, source: &Source) -> Result<(&'a str, &'a str), RunError> {
    let location = c
        .source_locations
        .get(&source.unique_id)
        .ok_or(RunError::Missing("no location"))?;
    let format = c
        .source_formats
        .get(&source.unique_id)
        .ok_or(RunError::Missing("no format"))?;
    Ok((location, format))
}

/// The S3 objects a ledger source's location matches, as ledger files (URL, size, ETag).
fn s3_files(
    c: &Compilation,
    source: &Source,
    url: &S3Url,
    objects: &[crate::aws::s3::Object],
) -> Result<Vec<LedgerFile>, RunError> {
    let (location, format) = rendered(c, source)?;
    let glob = reader_glob(format, location);
    let matcher = glob_matcher(&glob)?;
    let mut files: Vec<LedgerFile> = objects
        .iter()
        .map(|o| LedgerFile {
            file: object_url(url, o),
            size: o.size,
            fingerprint: o.etag.clone(),
        })
        .filter(|f| matcher.is_match(&f.file))
        .collect();
    files.sort_by(|a, b| a.file.cmp(&b.file));
    Ok(files)
}

fn object_url(url: &S3Url, object: &crate::aws::s3::Object) -> String {
    format!("s3://{}/{}", url.bucket, object.key)
}

fn claim_files(
    run: &Run,
    conn: &mut dyn crate::adapter::Connection,
    source: &Source,
    listed: Vec<LedgerFile>,
) -> Result<Claim, RunError> {
    let dialect = run.adapter.dialect();
    claim(run.c, run.ledger, conn, dialect, run.opts, source, listed)
}

/// DuckDB's `select` over exactly the claimed files.
fn pending_select<'a>(
    run: &Run,
    source: &Source,
    listed: &'a Listed,
    claim: &'a Claim,
) -> Result<String, RunError> {
    let (location, format) = rendered(run.c, source)?;
    let local = |f: &'a LedgerFile| listed.local.get(&f.file).unwrap_or(&f.file).as_str();
    let files: Vec<&str> = claim.files.iter().map(local).collect();
    let any = listed.files.first().map(local);
    let typed = Source {
        format: Some(format.to_string()),
        ..source.clone()
    };
    Ok(files_reader(&typed, location, &files, any))
}

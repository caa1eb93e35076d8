//! Sources, made readable before the run: landing data in S3 is mirrored into a local cache
//! (DuckDB and the loader read local files), and on a server target landing files are loaded
//! into the source's table. Each step is a result of the run, so a failure shows and stops
//! it: every model reads what the sources hold.

use std::time::Instant;

use chrono::Utc;

use super::ingest::{S3Files, copy_from_s3};
use super::{Event, NodeResult, Reporter, RunError, RunOptions, Status, situation};
use crate::adapter::Adapter;
use crate::aws::{Aws, AwsSettings, S3Url, literal_prefix};
use crate::compile::{Compilation, CompiledNode};
use crate::materialize::QualifiedName;
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
        } else if let Some(parent) = c
            .nodes
            .get(id)
            .filter(|p| p.config.materialized() == "ephemeral")
        {
            stack.extend(parent.depends_on.iter().map(String::as_str));
        }
    }
    ids.sort_unstable();
    ids.iter()
        .filter_map(|id| project.sources.get(*id))
        .collect()
}

/// Those whose files become a table in the warehouse: every one, on a server target.
pub fn loaded<'a>(project: &Project, sources: &[&'a Source]) -> Vec<&'a Source> {
    match project.target.dialect {
        Dialect::DuckDb => Vec::new(),
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
}

/// The id a step reports under: a source's own id for its load, `<id>.s3` for its mirror.
pub fn mirror_id(source: &Source) -> String {
    format!("{}.s3", source.unique_id)
}

impl Step {
    fn id(self, source: &Source) -> String {
        match self {
            Step::Mirror => mirror_id(source),
            Step::Load | Step::Copy => source.unique_id.clone(),
        }
    }

    /// What the step was doing, for its error message.
    fn doing(self) -> &'static str {
        match self {
            Step::Mirror => "mirroring the S3 files of",
            Step::Load | Step::Copy => "loading the files of",
        }
    }
}

/// Mirror and load what the run reads; `Some` with the failure if a step fails.
pub fn prepare(
    project: &Project,
    c: &Compilation,
    adapter: &dyn Adapter,
    opts: &RunOptions,
    sources: &[&Source],
    reporter: &dyn Reporter,
    done: &mut Vec<NodeResult>,
) -> Option<Vec<NodeResult>> {
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
            Step::Load => load(project, c, adapter, opts, source),
            Step::Copy => copy(project, c, adapter, opts, source, &mut aws),
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
    steps.extend(
        loaded(project, sources)
            .into_iter()
            .filter(|s| !(redshift && in_s3(s)))
            .map(|s| (s, Step::Load)),
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

/// Redshift: COPY the source's S3 objects through a manifest.
fn copy(
    project: &Project,
    c: &Compilation,
    adapter: &dyn Adapter,
    opts: &RunOptions,
    source: &Source,
    aws: &mut Option<Aws>,
) -> StepOutcome {
    let url = s3_prefix(c, source)?;
    let format = crate::aws::glue::FileFormat::of_reader(
        c.source_readers
            .get(&source.unique_id)
            .map_or("", String::as_str),
    );
    let aws = client(project, aws)?;
    let files = S3Files {
        source,
        url: &url,
        format,
    };
    into_source_table(adapter, opts, source, |conn, t, s| {
        copy_from_s3(aws, conn, t, s, &files)
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
    adapter: &dyn Adapter,
    opts: &RunOptions,
    source: &Source,
    load: impl FnOnce(
        &mut dyn crate::adapter::Connection,
        &QualifiedName,
        &crate::materialize::Situation,
    ) -> Result<u64, RunError>,
) -> StepOutcome {
    let t = QualifiedName {
        schema: &source.schema,
        name: &source.identifier,
        dialect: adapter.dialect(),
    };
    let s = situation(&opts.catalog, &source.schema, &source.identifier, false);
    let mut conn = adapter.connect()?;
    let n = load(conn.as_mut(), &t, &s);
    if n.is_err() {
        let _ = conn.execute("rollback");
    }
    n.map(|rows| (Some(rows), None))
}

fn load(
    project: &Project,
    c: &Compilation,
    adapter: &dyn Adapter,
    opts: &RunOptions,
    source: &Source,
) -> StepOutcome {
    let reader = c
        .source_readers
        .get(&source.unique_id)
        .ok_or(RunError::Missing("no reader"))?;
    let select = format!("select * from {reader}");
    into_source_table(adapter, opts, source, |conn, t, s| {
        crate::execute::ingest::load(&project.root, &select, conn, t, s, &source.config)
    })
}

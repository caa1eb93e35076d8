//! The files a command leaves under the project's `target-path`, in dbt's shapes:
//! `manifest.json`, `run_results.json` and `sources.json`.
//!
//! Lineage tools, docs sites and orchestrators already read dbt's artifacts; writing the same
//! shapes (schema v12 field names for the manifest) lets them work on etlx projects unchanged.
//! etlx reads one back itself: `retry` replays the previous run from its `run_results.json`
//! (`retry.rs`).

mod retry;

use std::borrow::Cow;
use std::path::{Path, PathBuf};

use indexmap::IndexMap;
use rayon::prelude::*;
use serde::Serialize;
use serde_json::{Map, Value, json};

use crate::compile::Compilation;
use crate::execute::NodeResult;
use crate::execute::freshness::Check;
use crate::project::{Column, Config, Node, Project, ResourceType, Source};
use crate::state::Fingerprint;

pub use retry::{PreviousRun, RunArgs, read_run_results};

/// An artifact that could not be written, or a previous run's that could not be read.
#[derive(Debug, thiserror::Error)]
pub enum ArtifactError {
    #[error("cannot write {}", path.display())]
    Write {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("no previous run to retry: cannot read {}", path.display())]
    NoPreviousRun {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{} is not valid JSON", path.display())]
    NotJson {
        path: PathBuf,
        source: serde_json::Error,
    },
}

pub const MANIFEST_SCHEMA: &str = "https://schemas.getdbt.com/dbt/manifest/v12.json";

/// The manifest, serialized straight from the compilation: with thousands of nodes, building
/// it as a JSON tree first took longer than writing it.
#[derive(Serialize)]
pub struct Manifest<'a> {
    metadata: Value,
    nodes: IndexMap<&'a str, NodeEntry<'a>>,
    sources: IndexMap<&'a str, Value>,
    macros: Map<String, Value>,
    docs: Empty,
    exposures: Empty,
    metrics: Empty,
    groups: Empty,
    selectors: Empty,
    disabled: Empty,
    parent_map: IndexMap<&'a str, Vec<String>>,
    child_map: IndexMap<&'a str, Vec<String>>,
    group_map: Empty,
    saved_queries: Empty,
    semantic_models: Empty,
    unit_tests: IndexMap<&'a str, NodeEntry<'a>>,
}

/// `{}`: the manifest's sections etlx has nothing for.
#[derive(Serialize)]
struct Empty {}

/// The manifest of `c`. Secrets are not redacted yet: [`manifest_json`] or
/// [`write_manifest`] do that.
pub fn manifest<'a>(project: &'a Project, c: &'a Compilation) -> Manifest<'a> {
    let (nodes, unit_tests) = nodes_and_unit_tests(project, c);
    let sources = project
        .sources
        .values()
        .map(|s| (s.unique_id.as_str(), source_json(project, s)))
        .collect();
    let ids = || c.nodes.keys().chain(project.sources.keys());
    let mut metadata = metadata(MANIFEST_SCHEMA, c, c.generated_at.clone());
    metadata["project_name"] = json!(project.name);
    metadata["adapter_type"] = json!(project.target.dialect.name());
    metadata["env"] = json!({});
    metadata["etlx_target"] = target_json(project);
    Manifest {
        metadata,
        nodes,
        sources,
        macros: macros_json(project),
        docs: Empty {},
        exposures: Empty {},
        metrics: Empty {},
        groups: Empty {},
        selectors: Empty {},
        disabled: Empty {},
        parent_map: ids().map(|id| (id.as_str(), c.graph.parents(id))).collect(),
        child_map: ids()
            .map(|id| (id.as_str(), c.graph.children(id)))
            .collect(),
        group_map: Empty {},
        saved_queries: Empty {},
        semantic_models: Empty {},
        unit_tests,
    }
}

/// The manifest as a JSON value, secrets redacted from every string in it.
pub fn manifest_json(project: &Project, c: &Compilation) -> Value {
    let value = serde_json::to_value(manifest(project, c)).unwrap_or_default();
    project.secrets.redact_json(value)
}

/// The target a manifest's relations live in, for a later `--defer` or `clone` to read them
/// from: a DuckDB file by its absolute path.
fn target_json(project: &Project) -> Value {
    let t = &project.target;
    let path = t
        .setting_str("path")
        .filter(|p| *p != ":memory:")
        .map(|p| crate::state::absolute(&project.root, p));
    json!({
        "name": t.name,
        "type": t.dialect.name(),
        "schema": t.schema,
        "database": t.database,
        "path": path,
    })
}

type Entries<'a> = IndexMap<&'a str, NodeEntry<'a>>;

/// The manifest's `nodes` and, apart as dbt keeps them, its `unit_tests`.
fn nodes_and_unit_tests<'a>(
    project: &'a Project,
    c: &'a Compilation,
) -> (Entries<'a>, Entries<'a>) {
    // Thousands of nodes: their fingerprints are computed in parallel, the order kept.
    let built: Vec<(&str, NodeEntry)> = c
        .nodes
        .values()
        .collect::<Vec<_>>()
        .par_iter()
        .filter_map(|compiled| {
            let node = project.nodes.get(&compiled.unique_id)?;
            Some((compiled.unique_id.as_str(), node_entry(project, node, c)))
        })
        .collect();
    let (unit_tests, nodes) = built
        .into_iter()
        .partition(|(id, _)| project.unit_tests.contains_key(*id));
    (nodes, unit_tests)
}

fn macros_json(project: &Project) -> Map<String, Value> {
    project
        .macros
        .values()
        .map(|m| {
            (
                m.unique_id.clone(),
                json!({
                    "unique_id": m.unique_id,
                    "name": m.name,
                    "resource_type": "macro",
                    "package_name": project.name,
                    "path": crate::diag::display_path(&m.path),
                    "original_file_path": crate::diag::display_path(&m.path),
                    "line": m.line,
                    "macro_sql": project.macro_sql(m),
                }),
            )
        })
        .collect()
}

/// A node of the manifest, under dbt's names and in dbt's order.
#[derive(Serialize)]
struct NodeEntry<'a> {
    unique_id: &'a str,
    name: &'a str,
    resource_type: ResourceType,
    package_name: &'a str,
    path: String,
    original_file_path: String,
    patch_path: Option<String>,
    fqn: &'a [String],
    alias: &'a str,
    schema: Option<&'a str>,
    database: &'a Option<String>,
    relation_name: Option<String>,
    checksum: Checksum<'a>,
    config: &'a Config,
    tags: Vec<String>,
    description: &'a str,
    columns: &'a IndexMap<String, Column>,
    meta: Cow<'a, Value>,
    depends_on: DependsOn<'a>,
    refs: Vec<RefEntry<'a>>,
    sources: &'a [(String, String)],
    language: &'static str,
    raw_code: &'a str,
    compiled: bool,
    compiled_code: Option<&'a str>,
    compiled_path: Option<String>,
    etlx_state: Fingerprint,
    /// What a generic test checks, under dbt's names: docs attach it to its model and column.
    #[serde(skip_serializing_if = "Option::is_none")]
    column_name: Option<&'a Option<String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    attached_node: Option<&'a Option<String>>,
    /// A unit test's model and overrides.
    #[serde(skip_serializing_if = "Option::is_none")]
    model: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    overrides: Option<Value>,
}

#[derive(Serialize)]
struct Checksum<'a> {
    name: &'static str,
    checksum: &'a str,
}

#[derive(Serialize)]
struct DependsOn<'a> {
    macros: Vec<String>,
    nodes: &'a [String],
}

#[derive(Serialize)]
struct RefEntry<'a> {
    name: &'a str,
    package: &'a Option<String>,
    version: Option<()>,
}

fn node_entry<'a>(project: &'a Project, node: &'a Node, c: &'a Compilation) -> NodeEntry<'a> {
    let compiled = &c.nodes[&node.unique_id];
    let relation = &compiled.relation;
    let is_relation = node.resource_type.is_relation() && !compiled.is_ephemeral();
    let unit_test = project.unit_tests.get(&node.unique_id);
    NodeEntry {
        unique_id: &node.unique_id,
        name: &node.name,
        resource_type: node.resource_type,
        package_name: node.fqn.first().unwrap_or(&project.name),
        path: crate::diag::display_path(&node.path),
        original_file_path: crate::diag::display_path(&node.file.path),
        patch_path: node
            .patch_path
            .as_deref()
            .map(|p| format!("{}://{}", project.name, crate::diag::display_path(p))),
        fqn: &node.fqn,
        alias: relation.identifier(),
        schema: relation.schema(),
        database: &project.target.database,
        relation_name: is_relation.then(|| relation.to_sql()),
        checksum: Checksum {
            name: "sha256",
            checksum: &compiled.checksum,
        },
        config: &compiled.config,
        tags: compiled.config.tags(),
        description: &node.description,
        columns: &node.columns,
        meta: compiled
            .config
            .get("meta")
            .map_or_else(|| Cow::Owned(json!({})), Cow::Borrowed),
        depends_on: DependsOn {
            macros: compiled
                .macros
                .iter()
                .map(|m| format!("macro.{}.{m}", project.name))
                .collect(),
            nodes: &compiled.depends_on,
        },
        refs: compiled
            .refs
            .iter()
            .map(|r| RefEntry {
                name: &r.name,
                package: &r.package,
                version: None,
            })
            .collect(),
        sources: &compiled.sources,
        language: "sql",
        raw_code: &node.file.text,
        compiled: compiled.compiled_sql.is_some(),
        compiled_code: compiled.compiled_sql.as_deref(),
        compiled_path: compiled
            .compiled_path
            .as_deref()
            .map(crate::diag::display_path),
        etlx_state: crate::compile::node_fingerprint(project, node, compiled),
        column_name: node.tested.as_ref().map(|t| &t.column),
        attached_node: node.tested.as_ref().map(|t| &t.attached_node),
        model: unit_test.map(|t| t.model.as_str()),
        overrides: unit_test
            .map(|t| json!({"vars": t.vars, "macros": {"is_incremental": t.is_incremental}})),
    }
}

fn source_json(project: &Project, s: &Source) -> Value {
    let relation = crate::compile::source_relation(project.target.dialect, s).to_sql();
    json!({
        "unique_id": s.unique_id,
        "name": s.name,
        "source_name": s.source_name,
        "resource_type": "source",
        "package_name": s.fqn.first().unwrap_or(&project.name),
        "path": crate::diag::display_path(&s.file),
        "original_file_path": crate::diag::display_path(&s.file),
        "fqn": s.fqn,
        "schema": s.schema,
        "database": s.database,
        "identifier": s.identifier,
        "relation_name": relation,
        "description": s.description,
        "loaded_at_field": s.loaded_at_field,
        "freshness": s.freshness,
        "columns": s.columns,
        "config": s.config,
        "tags": s.config.tags(),
        "external": {"location": s.location, "file_format": s.format, "options": s.options},
        "etlx_state": crate::compile::source_fingerprint(s),
    })
}

pub const SOURCES_SCHEMA: &str = "https://schemas.getdbt.com/dbt/sources/v3.json";
const RUN_RESULTS_SCHEMA: &str = "https://schemas.getdbt.com/dbt/run-results/v6.json";

/// `run_results.json`: one entry per node the run touched, in dbt's schema.
pub fn run_results(
    project: &Project,
    c: &Compilation,
    results: &[NodeResult],
    elapsed: f64,
    args: Value,
) -> Value {
    let entries: Vec<Value> = results
        .iter()
        .map(|r| {
            let node = c.nodes.get(&r.unique_id);
            let timing = |name: &str| json!({"name": name, "started_at": r.started_at.to_rfc3339(), "completed_at": r.completed_at.to_rfc3339()});
            json!({
                "unique_id": r.unique_id,
                "status": r.status,
                "timing": [timing("compile"), timing("execute")],
                "thread_id": format!("Thread-{}", r.thread),
                "execution_time": r.seconds,
                "adapter_response": {"rows_affected": r.rows_affected, "_message": r.message.as_deref().unwrap_or("OK")},
                "message": r.message,
                "failures": r.failures,
                "compiled": node.is_some_and(|n| n.compiled_sql.is_some()),
                "compiled_code": node.and_then(|n| n.compiled_sql.clone()),
                "compiled_path": node.and_then(|n| n.compiled_path.as_deref().map(crate::diag::display_path)),
                "relation_name": node.map(|n| n.relation.to_sql()),
                "batch_results": r.batches,
            })
        })
        .collect();
    let value = json!({
        "metadata": metadata(RUN_RESULTS_SCHEMA, c, chrono::Utc::now().to_rfc3339()),
        "results": entries,
        "elapsed_time": elapsed,
        "args": args,
    });
    project.secrets.redact_json(value)
}

/// The `metadata` every artifact opens with, in dbt's key order.
fn metadata(schema: &str, c: &Compilation, generated_at: String) -> Value {
    json!({
        "dbt_schema_version": schema,
        "etlx_version": env!("CARGO_PKG_VERSION"),
        "generated_at": generated_at,
        "invocation_id": c.invocation_id,
    })
}

/// `target/sources.json` of `etlx source freshness`, in dbt's shape.
pub fn sources(project: &Project, c: &Compilation, checks: &[Check], elapsed: f64) -> Value {
    let results: Vec<Value> = checks
        .iter()
        .map(|check| {
            let completed = check.started_at
                + chrono::Duration::milliseconds((check.seconds * 1e3) as i64);
            json!({
                "unique_id": check.unique_id,
                "status": check.status,
                "max_loaded_at": check.max_loaded_at,
                "snapshotted_at": completed.to_rfc3339(),
                "max_loaded_at_time_ago_in_s": check.age_seconds,
                "criteria": check.criteria,
                "error": check.message,
                "adapter_response": {},
                "timing": [{"name": "execute", "started_at": check.started_at.to_rfc3339(), "completed_at": completed.to_rfc3339()}],
                "thread_id": "Thread-0",
                "execution_time": check.seconds,
            })
        })
        .collect();
    let value = json!({
        "metadata": metadata(SOURCES_SCHEMA, c, chrono::Utc::now().to_rfc3339()),
        "results": results,
        "elapsed_time": elapsed,
    });
    project.secrets.redact_json(value)
}

/// Write the manifest of `c` to `target-path/manifest.json`, secrets redacted.
pub fn write_manifest(project: &Project, c: &Compilation) -> Result<PathBuf, ArtifactError> {
    let path = project.target_dir().join("manifest.json");
    let clock = std::time::Instant::now();
    let written = if project.secrets.is_empty() {
        write(path, &manifest(project, c))
    } else {
        // Redacted string by string, before JSON escaping could disguise a secret.
        write(path, &manifest_json(project, c))
    };
    tracing::debug!(
        "manifest written in {:.1} ms",
        clock.elapsed().as_secs_f64() * 1e3
    );
    written
}

/// Write a run's results, with the `args` `retry` replays, to `target-path/run_results.json`;
/// returns where.
pub fn write_run_results(
    project: &Project,
    c: &Compilation,
    results: &[NodeResult],
    elapsed: f64,
    args: &RunArgs,
) -> Result<PathBuf, ArtifactError> {
    let path = project.target_dir().join("run_results.json");
    write(
        path,
        &run_results(project, c, results, elapsed, args.to_json()),
    )
}

/// Write freshness checks to `output`, by default `target-path/sources.json`; returns where.
pub fn write_sources(
    project: &Project,
    c: &Compilation,
    checks: &[Check],
    elapsed: f64,
    output: Option<&Path>,
) -> Result<PathBuf, ArtifactError> {
    let path = output.map_or_else(
        || project.target_dir().join("sources.json"),
        Path::to_path_buf,
    );
    write(path, &sources(project, c, checks, elapsed))
}

fn write(path: PathBuf, value: &impl Serialize) -> Result<PathBuf, ArtifactError> {
    match write_json(&path, value) {
        Ok(()) => Ok(path),
        Err(source) => Err(ArtifactError::Write { path, source }),
    }
}

/// Write JSON atomically: readers never see a half-written artifact.
pub fn write_json(path: &Path, value: &impl Serialize) -> std::io::Result<()> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    let tmp = path.with_extension("json.tmp");
    let mut out = std::io::BufWriter::new(std::fs::File::create(&tmp)?);
    serde_json::to_writer(&mut out, value).map_err(std::io::Error::other)?;
    std::io::Write::flush(&mut out)?;
    drop(out);
    std::fs::rename(&tmp, path)
}

//! The executor: builds the selected nodes over the DAG with bounded parallelism.
//!
//! A node starts as soon as its parents have finished, on one of `threads` workers each with
//! its own connection. A failure marks the node's descendants skipped and the rest of the graph
//! goes on (or everything stops with `fail_fast`). Progress goes to a `Reporter` as events; the
//! executor itself prints nothing.

use std::collections::{HashMap, VecDeque};
use std::sync::{Condvar, Mutex};
use std::time::Instant;

use chrono::{DateTime, Utc};
use serde::Serialize;

use crate::adapter::{Adapter, Catalog, Connection, RelationKind, Table};
use crate::compile::{Compilation, CompiledNode};
use crate::materialize::{self, Situation, Strategy, Target};
use crate::project::{Project, ResourceType};
use crate::template::Relation;

#[derive(Debug, Clone)]
pub struct RunOptions {
    /// The relations that existed when the run started.
    pub catalog: Catalog,
    pub threads: usize,
    pub fail_fast: bool,
    pub full_refresh: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    Success,
    Error,
    Skipped,
    /// Tests: no failing rows (or fewer than the thresholds).
    Pass,
    /// Tests: failing rows at error severity.
    Fail,
    /// Tests: failing rows at warn severity.
    Warn,
}

impl Status {
    /// Whether the nodes that wait on this one may go on.
    pub fn lets_children_run(self) -> bool {
        matches!(self, Status::Success | Status::Pass | Status::Warn)
    }

    /// Whether this makes the command exit 1.
    pub fn is_failure(self) -> bool {
        matches!(self, Status::Error | Status::Fail)
    }
}

#[derive(Debug, Clone)]
pub struct NodeResult {
    pub unique_id: String,
    pub status: Status,
    pub message: Option<String>,
    pub rows_affected: Option<u64>,
    pub started_at: DateTime<Utc>,
    pub completed_at: DateTime<Utc>,
    pub seconds: f64,
    pub thread: usize,
    /// Tests: the number of failing rows, and the first few of them.
    pub failures: Option<u64>,
    pub sample: Option<Table>,
}

impl NodeResult {
    pub fn new(
        unique_id: &str,
        status: Status,
        started_at: DateTime<Utc>,
        seconds: f64,
        thread: usize,
    ) -> NodeResult {
        NodeResult {
            unique_id: unique_id.to_string(),
            status,
            message: None,
            rows_affected: None,
            started_at,
            completed_at: Utc::now(),
            seconds,
            thread,
            failures: None,
            sample: None,
        }
    }
}

pub enum Event<'a> {
    Started {
        unique_id: &'a str,
        thread: usize,
        total: usize,
    },
    Finished {
        result: &'a NodeResult,
        index: usize,
        total: usize,
    },
}

pub trait Reporter: Sync {
    fn event(&self, event: Event<'_>);
}

/// Nodes this run builds: selected models that are relations, and seeds.
fn runnable(c: &Compilation) -> Vec<&CompiledNode> {
    c.selected
        .iter()
        .filter_map(|id| c.nodes.get(id))
        .filter(|n| match n.resource_type {
            ResourceType::Seed | ResourceType::Test | ResourceType::UnitTest => true,
            ResourceType::Model => n.config.materialized() != "ephemeral",
            _ => false,
        })
        .collect()
}

/// Parents of `node` among `index`, looking through ephemeral models (they run inside their
/// readers).
fn runnable_parents(
    c: &Compilation,
    node: &CompiledNode,
    index: &HashMap<&str, usize>,
) -> Vec<usize> {
    let mut out = Vec::new();
    let mut stack: Vec<&str> = node.depends_on.iter().map(String::as_str).collect();
    let mut seen = std::collections::HashSet::new();
    while let Some(id) = stack.pop() {
        if !seen.insert(id) {
            continue;
        }
        if let Some(i) = index.get(id) {
            out.push(*i);
        } else if let Some(parent) = c
            .nodes
            .get(id)
            .filter(|p| p.config.materialized() == "ephemeral")
        {
            stack.extend(parent.depends_on.iter().map(String::as_str));
        }
    }
    out
}

/// In `build`, a node waits for the tests of its parents, so a failing test stops bad data
/// from flowing on. Only tests of a single node gate: a test that reads two nodes (such as
/// `relationships`) could otherwise wait on a descendant of its own.
fn gate_on_tests(nodes: &[&CompiledNode], parents: &mut [Vec<usize>]) {
    let mut tests_of: HashMap<usize, Vec<usize>> = HashMap::new();
    for (t, node) in nodes.iter().enumerate() {
        if let (ResourceType::Test, [only]) = (node.resource_type, parents[t].as_slice()) {
            tests_of.entry(*only).or_default().push(t);
        }
    }
    for (i, node) in nodes.iter().enumerate() {
        if node.resource_type == ResourceType::Test {
            continue;
        }
        let extra: Vec<usize> = parents[i]
            .iter()
            .flat_map(|p| tests_of.get(p).into_iter().flatten().copied())
            .collect();
        parents[i].extend(extra);
    }
}

/// A unit test reads no warehouse table, so it runs first and its model waits for it: a
/// model whose logic is wrong is not built (dbt's `build` does the same).
fn gate_on_unit_tests(
    nodes: &[&CompiledNode],
    index: &HashMap<&str, usize>,
    parents: &mut [Vec<usize>],
) {
    for (t, node) in nodes.iter().enumerate() {
        if node.resource_type != ResourceType::UnitTest {
            continue;
        }
        parents[t].clear();
        if let Some(plan) = &node.unit
            && let Some(&model) = index.get(plan.model_id.as_str())
        {
            parents[model].push(t);
        }
    }
}

struct Schedule {
    ready: VecDeque<usize>,
    waiting_on: Vec<usize>,
    results: Vec<Option<NodeResult>>,
    finished: usize,
    stopped: bool,
}

pub fn execute(
    project: &Project,
    c: &Compilation,
    adapter: &dyn Adapter,
    opts: &RunOptions,
    reporter: &dyn Reporter,
) -> Vec<NodeResult> {
    let _interruptible = crate::cancel::arm();
    let nodes = runnable(c);
    let index: HashMap<&str, usize> = nodes
        .iter()
        .enumerate()
        .map(|(i, n)| (n.unique_id.as_str(), i))
        .collect();
    let mut parents: Vec<Vec<usize>> = nodes
        .iter()
        .map(|n| runnable_parents(c, n, &index))
        .collect();
    gate_on_tests(&nodes, &mut parents);
    gate_on_unit_tests(&nodes, &index, &mut parents);
    let mut children = vec![Vec::new(); nodes.len()];
    for (child, ps) in parents.iter().enumerate() {
        for p in ps {
            children[*p].push(child);
        }
    }
    let schedule = Mutex::new(Schedule {
        ready: (0..nodes.len())
            .filter(|i| parents[*i].is_empty())
            .collect(),
        waiting_on: parents.iter().map(Vec::len).collect(),
        results: vec![None; nodes.len()],
        finished: 0,
        stopped: false,
    });
    let sources = crate::prepare::sources_read(project, c, &nodes);
    let loads = crate::prepare::loaded(project, &sources);
    let start = [
        c.on_run_start.clone(),
        missing_schemas(&nodes, &loads, adapter.dialect(), &opts.catalog),
    ]
    .concat();
    let failure = run_project_hook(project, adapter, "on-run-start", &start).map(|f| vec![f]);
    let mut loaded = Vec::new();
    if let Some(failed) = failure.or_else(|| {
        crate::prepare::prepare(project, c, adapter, opts, &sources, reporter, &mut loaded)
    }) {
        let reason = failed
            .iter()
            .find(|r| r.status == Status::Error)
            .and_then(|r| r.message.as_deref())
            .unwrap_or("on-run-start failed");
        let reason = format!("skipped: {reason}");
        let now = Utc::now();
        return loaded
            .into_iter()
            .chain(failed)
            .chain(nodes.iter().map(|n| skipped(n, now, &reason)))
            .collect();
    }
    let wake = Condvar::new();
    let total = nodes.len();
    let workers = opts.threads.clamp(1, total.max(1));
    std::thread::scope(|scope| {
        for thread in 0..workers {
            let (schedule, wake, nodes, children) = (&schedule, &wake, &nodes, &children);
            scope.spawn(move || {
                let mut conn = adapter.connect();
                while let Some(i) = next_job(schedule, wake, total) {
                    let node = nodes[i];
                    reporter.event(Event::Started {
                        unique_id: &node.unique_id,
                        thread,
                        total,
                    });
                    let mut result = match conn.as_mut() {
                        Ok(conn) => build_or_report_panic(project, node, conn.as_mut(), opts, thread),
                        Err(e) => failed(node, thread, Utc::now(), Instant::now(), e.to_string()),
                    };
                    if let (Some(signal), Status::Error) = (crate::cancel::reason(), result.status) {
                        let cause = result.message.take().unwrap_or_default();
                        result.message = Some(format!(
                            "interrupted by {signal}; its transaction was rolled back, the previous version stays ({cause})"
                        ));
                    }
                    finish(
                        schedule,
                        wake,
                        children,
                        nodes,
                        i,
                        result,
                        opts.fail_fast,
                        reporter,
                        total,
                    );
                }
            });
        }
    });
    let end_failure = match crate::cancel::is_requested() {
        true => None,
        false => run_project_hook(project, adapter, "on-run-end", &c.on_run_end),
    };
    let mut state = schedule.into_inner().unwrap_or_else(|e| e.into_inner());
    // Anything never started was cut off by a signal or by --fail-fast.
    let why = match crate::cancel::reason() {
        Some(signal) => format!("skipped: the run was interrupted by {signal}"),
        None => "skipped: the run stopped at the first failure (--fail-fast)".to_string(),
    };
    let now = Utc::now();
    for (i, slot) in state.results.iter_mut().enumerate() {
        if slot.is_none() {
            *slot = Some(skipped(nodes[i], now, &why));
        }
    }
    loaded
        .into_iter()
        .chain(state.results.into_iter().flatten())
        .chain(end_failure)
        .collect()
}

/// `create schema` for each schema the run builds or loads into that does not exist yet, once.
fn missing_schemas(
    nodes: &[&CompiledNode],
    loads: &[&crate::project::Source],
    dialect: crate::sql::Dialect,
    catalog: &Catalog,
) -> Vec<String> {
    let built = nodes.iter().filter_map(|n| match &n.relation {
        Relation::Table { schema, .. } => Some(schema.as_str()),
        _ => None,
    });
    let loaded = loads.iter().map(|s| s.schema.as_str());
    let mut schemas: Vec<String> = Vec::new();
    for schema in loaded.chain(built) {
        let sql = materialize::create_schema(&Target {
            schema,
            name: "",
            dialect,
        });
        if !catalog.has_schema(schema) && !schemas.contains(&sql) {
            schemas.push(sql);
        }
    }
    schemas
}

/// Run `on-run-start` or `on-run-end`; a failure becomes an error result of its own
/// (`operation.<project>.<hook>`), so it shows in the exit code and in run_results.json.
fn run_project_hook(
    project: &Project,
    adapter: &dyn Adapter,
    hook: &str,
    statements: &[String],
) -> Option<NodeResult> {
    if statements.is_empty() {
        return None;
    }
    let (started_at, clock) = (Utc::now(), Instant::now());
    let outcome = adapter
        .connect()
        .map_err(|e| e.to_string())
        .and_then(|mut conn| run_statements(conn.as_mut(), statements));
    let message = outcome.err()?;
    let id = format!("operation.{}.{hook}", project.name);
    let seconds = clock.elapsed().as_secs_f64();
    Some(NodeResult {
        message: Some(format!(
            "{hook} failed: {}",
            project.secrets.redact(&message)
        )),
        ..NodeResult::new(&id, Status::Error, started_at, seconds, 0)
    })
}

fn next_job(schedule: &Mutex<Schedule>, wake: &Condvar, total: usize) -> Option<usize> {
    let mut s = schedule.lock().unwrap_or_else(|e| e.into_inner());
    loop {
        if s.stopped || s.finished == total || crate::cancel::is_requested() {
            return None;
        }
        if let Some(i) = s.ready.pop_front() {
            return Some(i);
        }
        s = wake.wait(s).unwrap_or_else(|e| e.into_inner());
    }
}

#[allow(clippy::too_many_arguments)]
fn finish(
    schedule: &Mutex<Schedule>,
    wake: &Condvar,
    children: &[Vec<usize>],
    nodes: &[&CompiledNode],
    i: usize,
    result: NodeResult,
    fail_fast: bool,
    reporter: &dyn Reporter,
    total: usize,
) {
    let mut s = schedule.lock().unwrap_or_else(|e| e.into_inner());
    let ok = result.status.lets_children_run();
    s.finished += 1;
    let index = s.finished;
    reporter.event(Event::Finished {
        result: &result,
        index,
        total,
    });
    s.results[i] = Some(result);
    if ok {
        for &child in &children[i] {
            s.waiting_on[child] -= 1;
            if s.waiting_on[child] == 0 && s.results[child].is_none() {
                s.ready.push_back(child);
            }
        }
    } else {
        let mut stack = children[i].clone();
        let now = Utc::now();
        while let Some(child) = stack.pop() {
            if s.results[child].is_some() {
                continue;
            }
            let message = format!("skipped: upstream {} failed", nodes[i].name);
            let r = skipped(nodes[child], now, &message);
            s.finished += 1;
            reporter.event(Event::Finished {
                result: &r,
                index: s.finished,
                total,
            });
            s.results[child] = Some(r);
            stack.extend(children[child].iter().copied());
        }
        if fail_fast {
            s.stopped = true;
        }
    }
    wake.notify_all();
}

fn skipped(node: &CompiledNode, now: DateTime<Utc>, message: &str) -> NodeResult {
    NodeResult {
        message: Some(message.to_string()),
        completed_at: now,
        ..NodeResult::new(&node.unique_id, Status::Skipped, now, 0.0, 0)
    }
}

fn failed(
    node: &CompiledNode,
    thread: usize,
    started_at: DateTime<Utc>,
    clock: Instant,
    message: String,
) -> NodeResult {
    let seconds = clock.elapsed().as_secs_f64();
    NodeResult {
        message: Some(message),
        ..NodeResult::new(&node.unique_id, Status::Error, started_at, seconds, thread)
    }
}

/// `build`, with a panic (a bug in etlx or in a library) turned into this node's failure:
/// otherwise the worker would die, the nodes waiting on it would wait forever, and no
/// run_results.json would be written.
fn build_or_report_panic(
    project: &Project,
    node: &CompiledNode,
    conn: &mut dyn Connection,
    opts: &RunOptions,
    thread: usize,
) -> NodeResult {
    let (started_at, clock) = (Utc::now(), Instant::now());
    let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        build(project, node, &mut *conn, opts, thread)
    }));
    outcome.unwrap_or_else(|panic| {
        let _ = conn.execute("rollback");
        let what = panic
            .downcast_ref::<&str>()
            .map(|s| s.to_string())
            .or_else(|| panic.downcast_ref::<String>().cloned())
            .unwrap_or_else(|| "no message".into());
        let message = format!(
            "etlx stopped building {} after an internal error (a bug, please report it): {what}",
            node.name
        );
        failed(
            node,
            thread,
            started_at,
            clock,
            project.secrets.redact(&message),
        )
    })
}

/// Build one node; on any error roll back, so the previous version stays.
fn build(
    project: &Project,
    node: &CompiledNode,
    conn: &mut dyn Connection,
    opts: &RunOptions,
    thread: usize,
) -> NodeResult {
    let started_at = Utc::now();
    let clock = Instant::now();
    // A failpoint for the tests of panic handling; compiled out of release builds.
    if cfg!(debug_assertions)
        && std::env::var("ETLX_FAILPOINT_PANIC").is_ok_and(|name| name == node.name)
    {
        panic!("failpoint ETLX_FAILPOINT_PANIC at {}", node.name);
    }
    let tested = match node.resource_type {
        ResourceType::UnitTest => Some(unit_test_outcome(project, node)),
        ResourceType::Test => Some(crate::data_test::evaluate(node, &project.target, conn)),
        _ => None,
    };
    if let Some(outcome) = tested {
        return match outcome {
            Ok(outcome) => NodeResult {
                message: outcome.message,
                failures: Some(outcome.failures),
                sample: outcome.sample,
                ..NodeResult::new(
                    &node.unique_id,
                    outcome.status,
                    started_at,
                    clock.elapsed().as_secs_f64(),
                    thread,
                )
            },
            Err(message) => failed(
                node,
                thread,
                started_at,
                clock,
                project.secrets.redact(&message),
            ),
        };
    }
    match build_statements(project, node, conn, opts) {
        Ok(rows) => NodeResult {
            rows_affected: rows,
            ..NodeResult::new(
                &node.unique_id,
                Status::Success,
                started_at,
                clock.elapsed().as_secs_f64(),
                thread,
            )
        },
        Err(message) => {
            let _ = conn.execute("rollback");
            failed(
                node,
                thread,
                started_at,
                clock,
                project.secrets.redact(&message),
            )
        }
    }
}

/// A unit test's verdict in the shape of a data test's outcome: the diff is its sample.
fn unit_test_outcome(
    project: &Project,
    node: &CompiledNode,
) -> Result<crate::data_test::Outcome, String> {
    let plan = node
        .unit
        .as_ref()
        .ok_or_else(|| format!("unit test {} was not compiled", node.name))?;
    let verdict = crate::unit_test::run(project, plan)?;
    Ok(crate::data_test::Outcome {
        status: if verdict.passed {
            Status::Pass
        } else {
            Status::Fail
        },
        failures: verdict.differing,
        sample: (!verdict.passed).then_some(verdict.diff),
        message: Some(verdict.message),
    })
}

fn build_statements(
    project: &Project,
    node: &CompiledNode,
    conn: &mut dyn Connection,
    opts: &RunOptions,
) -> Result<Option<u64>, String> {
    let Relation::Table {
        schema,
        identifier,
        dialect,
        ..
    } = &node.relation
    else {
        return Err(format!("{} has no relation to build", node.name));
    };
    let t = Target {
        schema,
        name: identifier,
        dialect: *dialect,
    };
    let full_refresh = opts.full_refresh || node.config.get_bool("full_refresh") == Some(true);
    let mut situation = situation(&opts.catalog, schema, identifier, full_refresh);
    // On a server, rebuilding a relation drops the views that read it (`cascade`), so what
    // the catalog said at the start may be gone: ask again. One query; DuckDB never drops.
    if *dialect != crate::sql::Dialect::DuckDb {
        situation.existing = conn
            .relation_kind(schema, identifier)
            .map_err(|e| e.to_string())?;
    }
    run_statements(conn, &node.pre_hooks)?;
    let rows = build_relation(project, node, conn, &t, &situation)?;
    // The build has committed: a failing post-hook cannot take it back, so say what is live.
    run_statements(conn, &node.post_hooks).map_err(|e| {
        format!(
            "built, but its post-hook failed: {} now holds the new version; the post-hook's work is not done: {e}",
            t.qualified()
        )
    })?;
    Ok(rows)
}

/// What exists before a relation is built. Each relation is built once per run, so what the
/// catalog said at the start still holds.
pub(crate) fn situation(
    catalog: &Catalog,
    schema: &str,
    name: &str,
    full_refresh: bool,
) -> Situation {
    Situation {
        existing: catalog.kind(schema, name),
        full_refresh,
        leftover_building: catalog.kind(schema, &format!("{name}__etlx_tmp")),
        leftover_previous: catalog.kind(schema, &format!("{name}__etlx_old")),
    }
}

/// Run statements in order; the rows written by the statements that write rows, if reported.
pub fn run_statements(
    conn: &mut dyn Connection,
    statements: &[String],
) -> Result<Option<u64>, String> {
    let mut rows = None;
    for sql in statements {
        let n = conn.execute(sql).map_err(|e| e.to_string())?;
        let writes = [
            "create table",
            "create or replace table",
            "insert",
            "merge",
            "delete",
            "copy",
        ]
        .iter()
        .any(|k| sql.starts_with(k));
        if let (true, Some(n)) = (writes, n) {
            rows = Some(rows.unwrap_or(0) + n);
        }
    }
    Ok(rows)
}

fn build_relation(
    project: &Project,
    node: &CompiledNode,
    conn: &mut dyn Connection,
    t: &Target,
    s: &Situation,
) -> Result<Option<u64>, String> {
    let sql = node.compiled_sql.as_deref().unwrap_or_default();
    let config = &node.config;
    match config.materialized() {
        "view" => run_statements(conn, &materialize::view(t, sql, s, config)),
        "table" => run_statements(conn, &materialize::table(t, sql, s, config)),
        "seed" => {
            let path = project
                .nodes
                .get(&node.unique_id)
                .map(|n| crate::diag::display_path(&n.file.path))
                .unwrap_or_default();
            materialize::duckdb::check_seed_shape(&project.root.join(&path), &path, config)?;
            let select =
                materialize::duckdb::seed_select(&path, config).map_err(|e| e.to_string())?;
            let aws = crate::aws::AwsSettings::from_target(&project.target);
            let through_s3 = t.dialect == crate::sql::Dialect::Redshift
                && aws.iam_role.is_some()
                && aws.staging.is_some()
                && config.get("delimiter").is_none();
            match t.dialect {
                crate::sql::Dialect::DuckDb => {
                    run_statements(conn, &materialize::table(t, &select, s, config))
                }
                _ if through_s3 => {
                    let aws = crate::aws::Aws::connect(aws).map_err(|e| e.to_string())?;
                    crate::ingest::seed_via_s3(&aws, &project.root, &path, conn, t, s, config)
                        .map(Some)
                }
                _ => crate::ingest::load(&project.root, &select, conn, t, s, config).map(Some),
            }
        }
        "external" => crate::publish::external(project, conn, t, sql, config),
        "incremental" if s.existing != Some(RelationKind::Table) || s.full_refresh => {
            run_statements(conn, &materialize::table(t, sql, s, config))
        }
        "incremental" => {
            let strategy = Strategy::from_config(config, t.dialect).map_err(|e| e.to_string())?;
            run_statements(conn, &materialize::stage(t, sql))?;
            let incoming = conn
                .describe(&format!("select * from {}", materialize::stage_name(t)))
                .map_err(|e| e.to_string())?;
            let current = conn.columns(t.schema, t.name).map_err(|e| e.to_string())?;
            let (added, removed) = materialize::schema_changes(config, &current, &incoming)
                .map_err(|e| e.to_string())?;
            // Columns the batch does not carry are left alone (NULL in new rows).
            let keep: Vec<_> = current
                .into_iter()
                .filter(|c| {
                    incoming
                        .iter()
                        .any(|i| i.name.eq_ignore_ascii_case(&c.name))
                })
                .collect();
            run_statements(
                conn,
                &materialize::apply(t, &strategy, &keep, &added, &removed),
            )
        }
        other => Err(materialize::PlanError::UnknownMaterialization(other.to_string()).to_string()),
    }
}

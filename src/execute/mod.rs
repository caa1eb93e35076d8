//! The executor: builds the selected nodes over the DAG with bounded parallelism.
//!
//! A node starts as soon as its parents have finished, on one of `threads` workers each with
//! its own connection. A failure marks the node's descendants skipped and the rest of the graph
//! goes on (or everything stops with `fail_fast`). Progress goes to a `Reporter` as events; the
//! executor itself prints nothing.
//!
//! The steps a node can take live beside this file: loading sources (`prepare`, `ingest`),
//! building a relation (`node`), publishing an external table (`publish`), data tests and
//! unit tests (`data_tests`, `unit_tests`); `warehouse` opens and locks the target before a
//! run; `freshness` checks sources outside a run.

pub mod clone;
pub mod data_tests;
mod error;
pub mod freshness;
pub(crate) mod ingest;
pub mod ledger;
pub mod microbatch;
mod node;
pub mod prepare;
pub mod publish;
mod results;
mod reuse;
mod schedule;
mod source_lines;
mod statements;
pub mod unit_tests;
mod warehouse;

use std::collections::{HashMap, HashSet};
use std::time::Instant;

use chrono::Utc;

pub use error::RunError;
use ledger::Ledger;
pub use node::situation;
use node::{Job, build_or_report_panic};
pub use results::{BatchResults, Event, NodeResult, Reporter, RunOptions, Status, Tally};
use results::{failed, skipped};
use reuse::Reuse;
use schedule::Scheduler;
pub use statements::run_statements;
pub use warehouse::{Warehouse, open_for_run};

use crate::adapter::{Adapter, Catalog};
use crate::compile::{Compilation, CompiledNode};
use crate::materialize::{self, QualifiedName};
use crate::project::Project;
use crate::template::Relation;

/// Build the selected nodes of `c` on `adapter`: load sources, run `on-run-start`, then every
/// node over the DAG on `opts.threads` workers, then `on-run-end`. Returns one result per
/// node (and per failed hook or loaded source), in the order they appear in the DAG.
pub fn execute(
    project: &Project,
    c: &Compilation,
    adapter: &dyn Adapter,
    opts: &RunOptions,
    reporter: &dyn Reporter,
) -> Vec<NodeResult> {
    let _interruptible = crate::cancel::arm();
    let scheduler = Scheduler::new(c, opts.fail_fast, reporter);
    let sources = prepare::sources_read(project, c, &scheduler.nodes);
    let loads = prepare::loaded(project, &sources);
    let ledger = Ledger::plan(project, c);
    let batches = microbatch::Inputs::plan(c, &ledger);
    let ledger_table = match ledger.is_used() {
        true => materialize::ledger::create(adapter.dialect()),
        false => Vec::new(),
    };
    let records_table = match opts.skip_unchanged {
        true => materialize::node_state::create(adapter.dialect()),
        false => Vec::new(),
    };
    let start = [
        c.on_run_start.clone(),
        missing_schemas(&scheduler.nodes, &loads, adapter.dialect(), &opts.catalog),
        ledger_table,
        records_table,
    ]
    .concat();
    let failure = run_project_hook(project, adapter, "on-run-start", &start).map(|f| vec![f]);
    let mut loaded = Vec::new();
    let run = prepare::Run {
        project,
        c,
        adapter,
        opts,
        ledger: &ledger,
    };
    if let Some(failed) =
        failure.or_else(|| prepare::prepare(&run, &sources, reporter, &mut loaded))
    {
        return skip_all_after(loaded, failed, &scheduler);
    }
    let reuse = match Reuse::plan(&run, &scheduler.nodes) {
        Ok(reuse) => reuse,
        Err(e) => {
            let id = format!("operation.{}.skip-unchanged", project.name);
            let message = format!("cannot tell what is unchanged: {e}");
            let failed = NodeResult {
                message: Some(project.secrets.redact(&message)),
                ..NodeResult::new(&id, Status::Error, Utc::now(), 0.0, 0)
            };
            return skip_all_after(loaded, vec![failed], &scheduler);
        }
    };
    let unbuilt = unbuilt_relations(c, &scheduler.nodes, &opts.catalog);
    let plan = Plan {
        run: &run,
        ledger: &ledger,
        batches: &batches,
        reuse: &reuse,
        unbuilt: &unbuilt,
    };
    run_workers(&plan, &scheduler);
    let end_failure = match crate::cancel::is_requested() {
        true => None,
        false => run_project_hook(project, adapter, "on-run-end", &c.on_run_end),
    };
    // Anything never started was cut off by a signal or by --fail-fast.
    let why = match crate::cancel::reason() {
        Some(signal) => format!("skipped: the run was interrupted by {signal}"),
        None => "skipped: the run stopped at the first failure (--fail-fast)".to_string(),
    };
    drop_temp_models(adapter, &scheduler.nodes);
    let results = scheduler.into_results(&why);
    record_fingerprints(&run, &reuse, &results);
    loaded
        .into_iter()
        .chain(results)
        .chain(end_failure)
        .collect()
}

/// Record what the run built for the next `--skip-unchanged`. A failure here loses only
/// that: the next run rebuilds what it cannot prove unchanged.
fn record_fingerprints(run: &prepare::Run, reuse: &Reuse, results: &[NodeResult]) {
    let statements = reuse.record(run, results);
    if statements.is_empty() {
        return;
    }
    if let Err(e) = run_on_own_connection(run.adapter, &statements) {
        tracing::warn!("could not record node fingerprints for --skip-unchanged: {e}");
    }
}

/// `temp` models live as long as their run: dropped once it has ended, `on-run-end` included.
/// On DuckDB they would vanish with the process; dropping them frees their memory now, and
/// on a server it is what keeps them out of the warehouse. A failure here leaves a table
/// the next run replaces, so it is only logged.
fn drop_temp_models(adapter: &dyn Adapter, nodes: &[&CompiledNode]) {
    let drops: Vec<String> = nodes
        .iter()
        .filter(|n| n.is_temp())
        .map(|n| format!("drop table if exists {}", n.relation.to_sql()))
        .collect();
    if drops.is_empty() {
        return;
    }
    if let Err(e) = run_on_own_connection(adapter, &drops) {
        tracing::warn!("could not drop the run's temp models: {e}");
    }
}

/// `statements` on a connection of their own, outside any worker.
fn run_on_own_connection(adapter: &dyn Adapter, statements: &[String]) -> Result<(), RunError> {
    let mut conn = adapter.connect()?;
    run_statements(conn.as_mut(), statements).map(drop)
}

/// Everything a worker needs besides its connection.
struct Plan<'p, 'a> {
    run: &'p prepare::Run<'a>,
    ledger: &'p Ledger,
    batches: &'p microbatch::Inputs,
    reuse: &'p Reuse,
    /// Tests whose relation does not exist (see `unbuilt_relations`).
    unbuilt: &'p HashMap<String, String>,
}

/// The results when loading or `on-run-start` failed: that failure, and every node skipped.
fn skip_all_after(
    loaded: Vec<NodeResult>,
    failed: Vec<NodeResult>,
    scheduler: &Scheduler,
) -> Vec<NodeResult> {
    let reason = failed
        .iter()
        .find(|r| r.status == Status::Error)
        .and_then(|r| r.message.as_deref())
        .unwrap_or("on-run-start failed");
    let reason = format!("skipped: {reason}");
    let now = Utc::now();
    loaded
        .into_iter()
        .chain(failed)
        .chain(scheduler.nodes.iter().map(|n| skipped(n, now, &reason)))
        .collect()
}

/// The data tests of this run whose relation neither exists nor is built by the run (`etlx
/// test` before any build), with that relation: they are not run, and say why in one line
/// instead of the warehouse's "does not exist" with its suggestions, once per test.
fn unbuilt_relations(
    c: &Compilation,
    nodes: &[&CompiledNode],
    catalog: &Catalog,
) -> HashMap<String, String> {
    let in_run: HashSet<&str> = nodes.iter().map(|n| n.unique_id.as_str()).collect();
    let mut out = HashMap::new();
    for test in nodes
        .iter()
        .filter(|n| n.resource_type == crate::project::ResourceType::Test)
    {
        let missing = test.depends_on.iter().find_map(|id| {
            let parent = c.nodes.get(id)?;
            let built_elsewhere = !parent.resource_type.is_relation()
                || parent.is_ephemeral()
                || in_run.contains(id.as_str());
            match &parent.relation {
                Relation::Table {
                    schema, identifier, ..
                } if !built_elsewhere && catalog.kind(schema, identifier).is_none() => {
                    Some(parent.relation.to_sql())
                }
                _ => None,
            }
        });
        if let Some(relation) = missing {
            out.insert(test.unique_id.clone(), relation);
        }
    }
    out
}

/// What a test whose relation was never built says (see `unbuilt_relations`); the reporter
/// gathers these into one line.
pub const NOT_BUILT: &str = "not run: the relation it tests does not exist yet: ";

/// `opts.threads` workers, each with its own connection, building nodes until none is left.
fn run_workers(plan: &Plan, scheduler: &Scheduler) {
    let prepare::Run {
        project,
        adapter,
        opts,
        ..
    } = *plan.run;
    let (ledger, batches, unbuilt) = (plan.ledger, plan.batches, plan.unbuilt);
    let total = scheduler.total();
    let workers = opts.threads.clamp(1, total.max(1));
    std::thread::scope(|scope| {
        for thread in 0..workers {
            scope.spawn(move || {
                let mut conn = adapter.connect();
                while let Some(i) = scheduler.next_job() {
                    let node = scheduler.nodes[i];
                    scheduler.reporter.event(Event::Started {
                        unique_id: &node.unique_id,
                        thread,
                        total,
                    });
                    let reused = plan.reuse.reused(plan.run, node);
                    let result = match conn.as_mut() {
                        _ if let Some(reused) = reused => reused,
                        _ if unbuilt.contains_key(&node.unique_id) => failed(
                            node,
                            thread,
                            Utc::now(),
                            Instant::now(),
                            format!("{NOT_BUILT}{}", unbuilt[&node.unique_id]),
                        ),
                        Ok(conn) => {
                            let job = Job {
                                project,
                                node,
                                opts,
                                thread,
                                ledger,
                                batches,
                            };
                            build_or_report_panic(job, conn.as_mut())
                        }
                        Err(e) => failed(node, thread, Utc::now(), Instant::now(), e.to_string()),
                    };
                    scheduler.finish(i, explain_interruption(result));
                }
            });
        }
    });
}

/// A node that failed because the run was interrupted says so, and that nothing was lost.
fn explain_interruption(mut result: NodeResult) -> NodeResult {
    if let (Some(signal), Status::Error) = (crate::cancel::reason(), result.status) {
        let cause = result.message.take().unwrap_or_default();
        result.message = Some(format!(
            "interrupted by {signal}; its transaction was rolled back, the previous version stays ({cause})"
        ));
    }
    result
}

/// `create schema` for each schema the run builds or loads into that does not exist yet, once.
fn missing_schemas(
    nodes: &[&CompiledNode],
    loads: &[&crate::project::Source],
    dialect: crate::sql::Dialect,
    catalog: &Catalog,
) -> Vec<String> {
    // DuckDB keeps temp models in the run's own catalog (their plan makes the schema there).
    let built = nodes.iter().filter_map(|n| match &n.relation {
        _ if n.is_temp() && dialect == crate::sql::Dialect::DuckDb => None,
        Relation::Table { schema, .. } => Some(schema.as_str()),
        _ => None,
    });
    let loaded = loads.iter().map(|s| s.schema.as_str());
    let mut schemas: Vec<String> = Vec::new();
    for schema in loaded.chain(built) {
        let sql = materialize::create_schema(&QualifiedName {
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
    let message = run_on_own_connection(adapter, statements).err()?;
    let id = format!("operation.{}.{hook}", project.name);
    let seconds = clock.elapsed().as_secs_f64();
    Some(NodeResult {
        message: Some(format!(
            "{hook} failed: {}",
            project.secrets.redact(&message.to_string())
        )),
        ..NodeResult::new(&id, Status::Error, started_at, seconds, 0)
    })
}

//! Building one node: the statements its materialization needs, run in order on one
//! connection, with hooks around them; tests and unit tests judged instead of built.
//!
//! Whatever goes wrong, including a panic, becomes this node's result: one node's failure
//! must never take the run (and the results of every other node) down with it.

use std::time::Instant;

use chrono::Utc;

use super::RunError;
use super::data_tests::TestOutcome;
use super::ledger::Ledger;
use super::results::{NodeResult, RunOptions, Status, failed};
use super::statements::{run_model_statements, run_statements};
use super::unit_tests;
use crate::adapter::{Catalog, Connection, RelationKind};
use crate::compile::CompiledNode;
use crate::materialize::{self, QualifiedName, Situation, Strategy};
use crate::project::{Project, ResourceType};
use crate::template::Relation;

/// One node to build, and what it is built with.
#[derive(Clone, Copy)]
pub(super) struct Job<'a> {
    pub(super) project: &'a Project,
    pub(super) node: &'a CompiledNode,
    pub(super) opts: &'a RunOptions,
    /// The worker's number, reported with the result.
    pub(super) thread: usize,
    pub(super) ledger: &'a Ledger,
    pub(super) batches: &'a super::microbatch::Inputs,
}

/// `build`, with a panic (a bug in etlx or in a library) turned into this node's failure:
/// otherwise the worker would die, the nodes waiting on it would wait forever, and no
/// run_results.json would be written.
pub(super) fn build_or_report_panic(job: Job, conn: &mut dyn Connection) -> NodeResult {
    let Job {
        project,
        node,
        thread,
        ..
    } = job;
    let (started_at, clock) = (Utc::now(), Instant::now());
    let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| build(job, &mut *conn)));
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
fn build(job: Job, conn: &mut dyn Connection) -> NodeResult {
    let Job {
        project,
        node,
        thread,
        ..
    } = job;
    let started_at = Utc::now();
    let clock = Instant::now();
    // A failpoint for the tests of panic handling; compiled out of release builds.
    if cfg!(debug_assertions)
        && std::env::var("ETLX_FAILPOINT_PANIC").is_ok_and(|name| name == node.name)
    {
        panic!("failpoint ETLX_FAILPOINT_PANIC at {}", node.name);
    }
    let tested = match node.resource_type {
        ResourceType::UnitTest => Some(unit_test_outcome(job, conn)),
        ResourceType::Test => Some(crate::execute::data_tests::evaluate(
            node,
            &project.target,
            conn,
        )),
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
                project.secrets.redact(&message.to_string()),
            ),
        };
    }
    if node.is_microbatch() {
        return match build_microbatch(job, conn) {
            Ok(result) => NodeResult {
                started_at,
                seconds: clock.elapsed().as_secs_f64(),
                message: result.message.map(|m| project.secrets.redact(&m)),
                ..result
            },
            Err(e) => failed(
                node,
                thread,
                started_at,
                clock,
                project.secrets.redact(&e.to_string()),
            ),
        };
    }
    match build_statements(job, conn) {
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
        Err(error) => {
            let _ = conn.execute("rollback");
            let mut message = match node.resource_type {
                ResourceType::Seed => super::source_lines::tidy_seed_error(&error.to_string()),
                _ => error.to_string(),
            };
            if let Some(at) = error_location(project, node, &error) {
                message = format!("{message}\n{at}");
            }
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

/// Where in the model's file a warehouse error is, when it names a line (see `source_lines`);
/// for a seed, the line of the CSV file or the `column_types` entry the error is about.
fn error_location(project: &Project, node: &CompiledNode, error: &RunError) -> Option<String> {
    let source_node = project.nodes.get(&node.unique_id)?;
    if node.resource_type == ResourceType::Seed {
        return super::source_lines::locate_in_seed(project, source_node, &error.to_string());
    }
    let RunError::Statement { source, statement } = error else {
        return None;
    };
    let file = &source_node.file;
    super::source_lines::locate(
        &source.to_string(),
        statement,
        node.compiled_sql.as_deref()?,
        &crate::compile::compiled_path(project, project.nodes.get(&node.unique_id)?),
        &file.path,
        &file.text,
    )
}

/// A unit test's verdict in the shape of a data test's outcome: the diff is its sample.
fn unit_test_outcome(job: Job, conn: &mut dyn Connection) -> Result<TestOutcome, RunError> {
    let Job { project, node, .. } = job;
    let plan = node.unit.as_ref().ok_or_else(|| RunError::NotCompiled {
        what: "unit test",
        name: node.name.clone(),
    })?;
    let columns = unit_tests::warehouse_columns(plan, conn);
    let verdict = unit_tests::run(project, plan, &columns)?;
    Ok(TestOutcome {
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

/// A microbatch model: hooks around its batches (see `microbatch`).
fn build_microbatch(job: Job, conn: &mut dyn Connection) -> Result<NodeResult, RunError> {
    let node = job.node;
    let t = target_of(node)?;
    let situation = current_situation(job, conn, &t)?;
    run_statements(conn, &node.pre_hooks)?;
    let batch_job = super::microbatch::Job {
        node,
        opts: job.opts,
        ledger: job.ledger,
        batches: job.batches,
        thread: job.thread,
    };
    let result = super::microbatch::build(batch_job, conn, &t, &situation)?;
    if result.status != super::Status::Error {
        run_statements(conn, &node.post_hooks)?;
    }
    Ok(result)
}

/// The relation a node builds.
fn target_of(node: &CompiledNode) -> Result<QualifiedName<'_>, RunError> {
    match &node.relation {
        Relation::Table {
            schema,
            identifier,
            dialect,
            ..
        } => Ok(QualifiedName {
            schema,
            name: identifier,
            dialect: *dialect,
        }),
        _ => Err(RunError::NoRelation(node.name.clone())),
    }
}

/// What the warehouse holds under the node's name now, and whether to rebuild it.
fn current_situation(
    job: Job,
    conn: &mut dyn Connection,
    t: &QualifiedName,
) -> Result<Situation, RunError> {
    let (node, opts) = (job.node, job.opts);
    let full_refresh = opts.full_refresh || node.config.get_bool("full_refresh") == Some(true);
    let mut situation = situation(&opts.catalog, t.schema, t.name, full_refresh);
    // On a server, rebuilding a relation drops the views that read it (`cascade`), so what
    // the catalog said at the start may be gone: ask again. One query; DuckDB never drops.
    if t.dialect != crate::sql::Dialect::DuckDb {
        situation.existing = conn.relation_kind(t.schema, t.name)?;
    }
    Ok(situation)
}

fn build_statements(job: Job, conn: &mut dyn Connection) -> Result<Option<u64>, RunError> {
    let Job {
        project,
        node,
        ledger,
        ..
    } = job;
    let t = target_of(node)?;
    let situation = current_situation(job, conn, &t)?;
    run_statements(conn, &node.pre_hooks)?;
    let rows = build_relation(project, node, conn, &t, &situation, ledger)?;
    // The build has committed: a failing post-hook cannot take it back, so say what is live.
    run_statements(conn, &node.post_hooks).map_err(|e| {
        RunError::Hook(format!(
            "built, but its post-hook failed: {} now holds the new version; the post-hook's work is not done: {e}",
            t.qualified()
        ))
    })?;
    Ok(rows)
}

/// What exists before a relation is built. Each relation is built once per run, so what the
/// catalog said at the start still holds.
pub fn situation(catalog: &Catalog, schema: &str, name: &str, full_refresh: bool) -> Situation {
    Situation {
        existing: catalog.kind(schema, name),
        full_refresh,
        leftover_building: catalog.kind(schema, &format!("{name}__etlx_tmp")),
        leftover_previous: catalog.kind(schema, &format!("{name}__etlx_old")),
    }
}

fn build_relation(
    project: &Project,
    node: &CompiledNode,
    conn: &mut dyn Connection,
    t: &QualifiedName,
    s: &Situation,
    ledger: &Ledger,
) -> Result<Option<u64>, RunError> {
    let sql = node.compiled_sql.as_deref().unwrap_or_default();
    let config = &node.config;
    let existing_table = s.existing == Some(RelationKind::Table);
    // The landing files the relation now holds (or has consumed), recorded in its own
    // transaction: an incremental update adds to its record, a rebuild replaces it.
    let recorded = |plan: Vec<String>, accumulate: bool| {
        let record = ledger.record(&node.unique_id, t.dialect, accumulate);
        materialize::ledger::inside_transaction(plan, record)
    };
    match config.materialized() {
        "view" => run_statements(conn, &recorded(materialize::view(t, sql, s, config), false)),
        "temp" if t.dialect == crate::sql::Dialect::DuckDb => {
            let rows = run_model_statements(conn, &materialize::duckdb::temp(t, sql))?;
            // The run's catalog and the ledger are two databases, and DuckDB writes one per
            // transaction: the record follows in its own (the table dies with the run anyway).
            run_statements(conn, &recorded(Vec::new(), false))?;
            Ok(rows)
        }
        // On a server a temp model is a table of the run, dropped when the run ends.
        "table" | "temp" => run_model_statements(
            conn,
            &recorded(materialize::table(t, sql, s, config), false),
        ),
        "seed" => {
            let path = project
                .nodes
                .get(&node.unique_id)
                .map(|n| crate::diag::display_path(&n.file.path))
                .unwrap_or_default();
            materialize::duckdb::check_seed_shape(&project.root.join(&path), &path, config)?;
            let select = materialize::duckdb::seed_select(&path, config)?;
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
                    let aws = crate::aws::Aws::connect(aws)?;
                    crate::execute::ingest::seed_via_s3(
                        &aws,
                        &project.root,
                        &path,
                        conn,
                        t,
                        s,
                        config,
                    )
                    .map(Some)
                }
                _ => crate::execute::ingest::load(&project.root, &select, conn, t, s, config, &[])
                    .map(Some),
            }
        }
        "external" => crate::execute::publish::external(project, conn, t, sql, config),
        "snapshot" => build_snapshot(conn, t, sql, s, config, &recorded),
        "incremental" if !existing_table || s.full_refresh => run_statements(
            conn,
            &recorded(materialize::table(t, sql, s, config), false),
        ),
        "incremental" => {
            let strategy = Strategy::from_config(config, t.dialect)?;
            run_statements(conn, &materialize::stage(t, sql))?;
            let incoming =
                conn.describe(&format!("select * from {}", materialize::stage_name(t)))?;
            let current = conn.columns(t.schema, t.name)?;
            let (added, removed) = materialize::schema_changes(config, &current, &incoming)?;
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
                &recorded(
                    materialize::apply(t, &strategy, &keep, &added, &removed),
                    true,
                ),
            )
        }
        other => Err(materialize::PlanError::UnknownMaterialization(other.to_string()).into()),
    }
}

/// A snapshot's first build copies the query; later runs stage the changes and apply them.
/// dbt never rebuilds a snapshot from scratch (its history cannot be queried again), and
/// neither does `--full-refresh` here.
fn build_snapshot(
    conn: &mut dyn Connection,
    t: &QualifiedName,
    sql: &str,
    s: &Situation,
    config: &crate::project::Config,
    recorded: &dyn Fn(Vec<String>, bool) -> Vec<String>,
) -> Result<Option<u64>, RunError> {
    let snapshot = materialize::snapshot::Snapshot::from_config(config)?;
    if s.existing != Some(RelationKind::Table) {
        let first = Situation {
            full_refresh: false,
            ..s.clone()
        };
        let select = snapshot.first_build(sql, t.dialect);
        let plan = materialize::table(t, &select, &first, config);
        return run_statements(conn, &recorded(plan, false));
    }
    let query = conn.describe(&format!(
        "select * from (\n{}\n) as q",
        sql.trim().trim_end_matches(';')
    ))?;
    let existing = conn.columns(t.schema, t.name)?;
    let changes = snapshot.changes(t, sql, &query, &existing);
    run_statements(conn, &materialize::stage(t, &changes))?;
    let staged = conn.describe(&format!("select * from {}", materialize::stage_name(t)))?;
    run_statements(conn, &recorded(snapshot.apply(t, &staged, &existing), true))
}

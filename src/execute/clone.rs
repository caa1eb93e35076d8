//! `etlx clone`: the selected nodes' relations of a previous run's target (`--state`), made
//! available in the current one, as dbt's `clone` does, so a CI schema or a developer's
//! DuckDB file starts from production without building anything.
//!
//! What can be referenced is referenced (a view over the state's relation: same DuckDB
//! file, or another schema of the same server database); a state in another DuckDB file is
//! copied (`create table ... as`), since a view into an attached file breaks once it is
//! detached. Relations the target already has are kept unless `--full-refresh`. Each clone
//! goes through the materializations' atomic plans: a failure leaves the previous relation.

use std::time::Instant;

use chrono::Utc;

use super::{Event, NodeResult, Reporter, RunError, Status, run_statements, situation};
use crate::adapter::{Adapter, Catalog};
use crate::compile::{Compilation, CompiledNode};
use crate::materialize::{self, QualifiedName};
use crate::project::Project;
use crate::state::{State, StateRelation};
use crate::template::Relation;

/// What a clone is told.
pub struct CloneRun<'a> {
    pub project: &'a Project,
    pub c: &'a Compilation,
    pub state: &'a State,
    pub catalog: &'a Catalog,
    pub full_refresh: bool,
}

/// Clone each selected model, seed and snapshot that the state has a relation for.
pub fn clone(run: &CloneRun, adapter: &dyn Adapter, reporter: &dyn Reporter) -> Vec<NodeResult> {
    let nodes: Vec<&CompiledNode> = run
        .c
        .selected
        .iter()
        .filter_map(|id| run.c.nodes.get(id))
        .filter(|n| n.resource_type.is_relation() && !n.is_ephemeral() && !n.is_temp())
        .collect();
    let total = nodes.len();
    let mut results = Vec::with_capacity(total);
    let mut conn = adapter.connect();
    // Where the state's relations are read from: the same answer for every node.
    let database = run.state.deferred_database(run.project);
    for (index, node) in nodes.into_iter().enumerate() {
        reporter.event(Event::Started {
            unique_id: &node.unique_id,
            thread: 0,
            total,
        });
        let (started_at, clock) = (Utc::now(), Instant::now());
        let outcome = match (conn.as_mut(), &database) {
            (_, Err(reason)) => Err(RunError::Config(reason.clone())),
            (Err(e), _) => Err(RunError::Config(format!(
                "cannot connect to the target: {e}"
            ))),
            (Ok(conn), Ok(database)) => clone_one(run, node, database.as_deref(), conn.as_mut()),
        };
        let seconds = clock.elapsed().as_secs_f64();
        let result = match outcome {
            Ok(message) => NodeResult {
                message: Some(message),
                ..NodeResult::new(&node.unique_id, Status::Success, started_at, seconds, 0)
            },
            Err(e) => NodeResult {
                message: Some(run.project.secrets.redact(&e.to_string())),
                ..NodeResult::new(&node.unique_id, Status::Error, started_at, seconds, 0)
            },
        };
        reporter.event(Event::Finished {
            result: &result,
            index: index + 1,
            total,
        });
        results.push(result);
    }
    results
}

/// Clone one node from the state's relation, read from `database` (`None`: this catalog).
fn clone_one(
    run: &CloneRun,
    node: &CompiledNode,
    database: Option<&str>,
    conn: &mut dyn crate::adapter::Connection,
) -> Result<String, RunError> {
    let Relation::Table {
        schema, identifier, ..
    } = &node.relation
    else {
        return Ok("nothing to clone (not a relation)".into());
    };
    let Some(theirs) = run.state.relations.get(&node.unique_id) else {
        return Ok("not in the state; nothing to clone".into());
    };
    let dialect = run.project.target.dialect;
    let from = Relation::table(
        dialect,
        database.map(str::to_string),
        theirs.schema.clone(),
        theirs.identifier.clone(),
    );
    let t = QualifiedName {
        schema,
        name: identifier,
        dialect,
    };
    if same_relation(&t, theirs, database) {
        return Ok("the state's relation is this one; kept".into());
    }
    let s = situation(run.catalog, schema, identifier, run.full_refresh);
    if s.existing.is_some() && !run.full_refresh {
        return Ok("exists here; kept (--full-refresh replaces it)".into());
    }
    let sql = format!("select * from {}", from.to_sql());
    // A view into another DuckDB file would break once the file is detached: copy instead.
    let copy = database.is_some();
    let mut plan = vec![materialize::create_schema(&t)];
    plan.extend(match copy {
        true => materialize::table(&t, &sql, &s, &node.config),
        false => materialize::view(&t, &sql, &s, &node.config),
    });
    run_statements(conn, &plan)?;
    Ok(match copy {
        true => format!("copied from {}", from.to_sql()),
        false => format!("view over {}", from.to_sql()),
    })
}

/// Cloning a relation onto itself (the state is this target) would drop it.
fn same_relation(t: &QualifiedName, theirs: &StateRelation, database: Option<&str>) -> bool {
    database.is_none()
        && theirs.schema.eq_ignore_ascii_case(t.schema)
        && theirs.identifier.eq_ignore_ascii_case(t.name)
}

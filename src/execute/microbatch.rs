//! Running a microbatch model: its batches, each its own transaction.
//!
//! dbt's batches (see `materialize::microbatch`) are extended with those that new landing
//! data touched: a microbatch model fed, through incremental models, by a source read
//! through the file ledger also recomputes every batch holding an event of the files that
//! landed since it last committed, so a late file (old event times) corrects old batches
//! that a lookback window would never reach again. A first build or `--full-refresh` is one
//! transaction over all its batches (the previous table stays until the new one is whole)
//! and skips batches whose inputs have no rows; an incremental run commits batch by batch,
//! and a failed batch leaves the others committed (status `partial success`).

use std::collections::{BTreeSet, HashMap};

use chrono::NaiveDateTime;

use super::RunError;
use super::results::{BatchResults, NodeResult, Status};
use super::run_statements;
use crate::adapter::{Connection, RelationKind};
use crate::compile::Compilation;
use crate::materialize::microbatch::{Batch, Microbatch, Window, parse_time};
use crate::materialize::{self, QualifiedName, Situation};
use crate::template::{BATCH_END, BATCH_ID, BATCH_START};

/// Per microbatch model: the inputs it reads filtered to a batch, and the file-fed models
/// whose rows say which batches new data touched. Both as `(relation, event_time column)`.
#[derive(Debug, Default)]
pub struct Inputs {
    filtered: HashMap<String, Vec<(String, String)>>,
    pub(super) touched_by: HashMap<String, Vec<(String, String)>>,
}

impl Inputs {
    pub fn plan(c: &Compilation, ledger: &super::ledger::Ledger) -> Inputs {
        let mut out = Inputs::default();
        for node in c.nodes.values().filter(|n| n.is_microbatch()) {
            let with_time = |id: &String| {
                let parent = c.nodes.get(id)?;
                let column = parent.config.get_str("event_time")?;
                Some((parent.relation.to_sql(), column.to_string()))
            };
            out.filtered.insert(
                node.unique_id.clone(),
                node.depends_on.iter().filter_map(with_time).collect(),
            );
            let touched: Vec<(String, String)> = ledger
                .file_fed_ancestors(c, &node.unique_id)
                .iter()
                .filter_map(with_time)
                .collect();
            out.touched_by.insert(node.unique_id.clone(), touched);
        }
        out
    }
}

/// What building one microbatch model needs from the run.
#[derive(Clone, Copy)]
pub(super) struct Job<'a> {
    pub(super) node: &'a crate::compile::CompiledNode,
    pub(super) opts: &'a super::RunOptions,
    pub(super) ledger: &'a super::ledger::Ledger,
    pub(super) batches: &'a Inputs,
    pub(super) thread: usize,
}

/// Build a microbatch model; its result says which batches succeeded and which failed.
pub(super) fn build(
    job: Job,
    conn: &mut dyn Connection,
    t: &QualifiedName,
    s: &Situation,
) -> Result<NodeResult, RunError> {
    let node = job.node;
    let m = Microbatch::from_config(&node.config)?;
    let sql = node.compiled_sql.as_deref().unwrap_or_default();
    let incremental = s.existing == Some(RelationKind::Table) && !s.full_refresh;
    let window = Window {
        flags: job.opts.event_time,
        incremental,
        now: chrono::Utc::now().naive_utc(),
    };
    let mut batches: BTreeSet<Batch> = match job.opts.retry_batches.get(&node.unique_id) {
        Some(failed) => failed.iter().copied().collect(),
        None => m.batches(window)?.into_iter().collect(),
    };
    let inputs = job.batches;
    if incremental {
        for (relation, column) in inputs.touched_by.get(&node.unique_id).into_iter().flatten() {
            batches.extend(periods(conn, &m, relation, column, None)?);
        }
    } else {
        batches = with_rows(conn, &m, inputs, &node.unique_id, batches)?;
    }
    let batches: Vec<Batch> = batches.into_iter().collect();
    let record = job.ledger.record(&node.unique_id, t.dialect, incremental);
    let model = Model {
        t,
        m: &m,
        sql,
        config: &node.config,
        record: &record,
    };
    let outcome = match incremental {
        true => batch_by_batch(conn, &model, &batches),
        false => all_at_once(conn, &model, s, &batches),
    };
    let (status, rows, results, message) = outcome;
    Ok(NodeResult {
        rows_affected: rows,
        message,
        batches: Some(results),
        ..NodeResult::new(&node.unique_id, status, chrono::Utc::now(), 0.0, job.thread)
    })
}

/// The batches an input has rows in (within `window`, if given).
fn periods(
    conn: &mut dyn Connection,
    m: &Microbatch,
    relation: &str,
    column: &str,
    window: Option<&Batch>,
) -> Result<Vec<Batch>, RunError> {
    let rows = conn.query(&m.periods_of(relation, column, window))?;
    Ok(rows
        .rows
        .iter()
        .filter_map(|r| r.first().cloned().flatten())
        .filter_map(|text| parse_time(&text))
        .map(|t| m.batch_of(t))
        .collect())
}

/// A first build's batches, less those none of the filtered inputs has a row in (the table
/// is new, so an empty batch has nothing to replace). Without filtered inputs, all of them.
fn with_rows(
    conn: &mut dyn Connection,
    m: &Microbatch,
    inputs: &Inputs,
    id: &str,
    batches: BTreeSet<Batch>,
) -> Result<BTreeSet<Batch>, RunError> {
    let filtered = inputs.filtered.get(id).map_or(&[][..], Vec::as_slice);
    let (Some(first), Some(last)) = (batches.first().copied(), batches.last().copied()) else {
        return Ok(batches);
    };
    if filtered.is_empty() {
        return Ok(batches);
    }
    let span = Batch {
        start: first.start,
        end: last.end,
    };
    let mut with_rows = BTreeSet::new();
    for (relation, column) in filtered {
        with_rows.extend(periods(conn, m, relation, column, Some(&span))?);
    }
    let kept: BTreeSet<Batch> = batches
        .iter()
        .filter(|b| with_rows.iter().any(|p| p.start == b.start))
        .copied()
        .collect();
    // An empty table still needs building: keep the first batch to type it.
    Ok(if kept.is_empty() {
        BTreeSet::from([first])
    } else {
        kept
    })
}

type Outcome = (Status, Option<u64>, BatchResults, Option<String>);

/// A first build or full refresh: the first batch creates the table beside the old one, the
/// others are inserted into it, and it is swapped in once, in one transaction.
/// The model being built, and what goes into its transactions.
struct Model<'a> {
    t: &'a QualifiedName<'a>,
    m: &'a Microbatch,
    sql: &'a str,
    config: &'a crate::project::Config,
    /// The file ledger's statements (see `Ledger::record`).
    record: &'a [String],
}

impl Model<'_> {
    /// The model's SQL for one batch: the placeholders of its filtered inputs filled in.
    fn for_batch(&self, batch: &Batch) -> String {
        self.sql
            .replace(BATCH_START, &Batch::bound(batch.start))
            .replace(BATCH_END, &Batch::bound(batch.end))
            .replace(BATCH_ID, &batch.id(self.m.size))
    }
}

fn all_at_once(
    conn: &mut dyn Connection,
    model: &Model,
    s: &Situation,
    batches: &[Batch],
) -> Outcome {
    let Model {
        t,
        sql,
        config,
        record,
        ..
    } = *model;
    // The other batches go in before the plan's commit: by then the new table has the
    // model's name (DuckDB replaces it in place, a server has renamed it into place), and
    // readers still see the old one until the commit.
    let building = t.qualified();
    let (first, rest) = batches
        .split_first()
        .map_or((None, &[][..]), |(f, r)| (Some(f), r));
    let first_sql = first.map_or(sql.to_string(), |b| model.for_batch(b));
    let inserts: Vec<String> = rest
        .iter()
        .map(|b| {
            format!(
                "insert into {building}\nselect * from (\n{}\n) as etlx_batch",
                model.for_batch(b).trim().trim_end_matches(';')
            )
        })
        .chain(record.iter().cloned())
        .collect();
    let plan = materialize::ledger::inside_transaction(
        materialize::table(t, &first_sql, s, config),
        inserts,
    );
    let all = BatchResults::of(batches);
    match run_statements(conn, &plan) {
        Ok(rows) => (Status::Success, rows, all, Some(batch_note(batches))),
        Err(e) => {
            let _ = conn.execute("rollback");
            let failed = BatchResults {
                successful: Vec::new(),
                failed: all.successful,
            };
            (Status::Error, None, failed, Some(e.to_string()))
        }
    }
}

/// An incremental run. The batches new data touched are first applied together, in one
/// transaction, from one query that is the union of each batch's own SQL: a run that
/// touches 30 days pays one stage, one delete and one insert instead of 30 of each, and
/// computes exactly the rows the batches would one by one. If that fails, each batch is
/// staged, replaced and committed on its own, so the batches that work are kept and the
/// result says which failed (dbt's partial success). The files the model consumed are
/// recorded with the last batch, when every batch worked.
fn batch_by_batch(conn: &mut dyn Connection, model: &Model, batches: &[Batch]) -> Outcome {
    if batches.len() > 1 {
        match apply_batches(conn, model, batches, model.record) {
            Ok(rows) => {
                let note = batch_note(batches);
                return (Status::Success, rows, BatchResults::of(batches), Some(note));
            }
            Err(e) => {
                let _ = conn.execute("rollback");
                tracing::debug!("batches together failed ({e}); now one by one");
            }
        }
    }
    let mut results = BatchResults::default();
    let mut rows = 0;
    let mut first_error = None;
    for (i, batch) in batches.iter().enumerate() {
        let last_and_clean = i + 1 == batches.len() && results.failed.is_empty();
        let extra = if last_and_clean { model.record } else { &[] };
        match apply_batches(conn, model, std::slice::from_ref(batch), extra) {
            Ok(n) => {
                rows += n.unwrap_or(0);
                results.successful.push(range(batch));
            }
            Err(e) => {
                let _ = conn.execute("rollback");
                results.failed.push(range(batch));
                first_error.get_or_insert(format!("batch {}: {e}", Batch::bound(batch.start)));
                // dbt: when the first batch fails, the others would too; skip them.
                if i == 0 {
                    results.failed.extend(batches[1..].iter().map(range));
                    break;
                }
            }
        }
    }
    let (ok, total) = (results.successful.len(), batches.len());
    let (status, message) = match (ok, first_error) {
        (_, None) => (Status::Success, Some(batch_note(batches))),
        (0, Some(e)) => (Status::Error, Some(e)),
        (_, Some(e)) => (
            Status::PartialSuccess,
            Some(format!("PARTIAL SUCCESS ({ok}/{total}); {e}")),
        ),
    };
    (status, Some(rows), results, message)
}

/// Stage `batches`, replace their ranges, record, commit.
fn apply_batches(
    conn: &mut dyn Connection,
    model: &Model,
    batches: &[Batch],
    record: &[String],
) -> Result<Option<u64>, RunError> {
    let Model { t, m, config, .. } = *model;
    let sql = match batches {
        [one] => model.for_batch(one),
        many => materialize::microbatch::union_of(many.iter().map(|b| model.for_batch(b))),
    };
    run_statements(conn, &materialize::stage(t, &sql))?;
    let incoming = conn.describe(&format!("select * from {}", materialize::stage_name(t)))?;
    let current = conn.columns(t.schema, t.name)?;
    let (added, removed) = materialize::schema_changes(config, &current, &incoming)?;
    let mut plan = materialize::alter_columns(t, &added, &removed);
    // Columns the batch does not carry are left alone (NULL in new rows), as in `apply`.
    let carried: Vec<_> = current
        .into_iter()
        .filter(|c| {
            incoming
                .iter()
                .any(|i| i.name.eq_ignore_ascii_case(&c.name))
        })
        .collect();
    let columns = materialize::kept_columns(&carried, &added, &removed);
    plan.extend(materialize::microbatch::apply(t, m, batches, &columns));
    plan.push(format!(
        "drop table if exists {}",
        materialize::stage_name(t)
    ));
    plan.extend(record.iter().cloned());
    plan.push("commit".into());
    run_statements(conn, &plan)
}

fn range(b: &Batch) -> (String, String) {
    let iso = |t: NaiveDateTime| t.format("%Y-%m-%dT%H:%M:%S+00:00").to_string();
    (iso(b.start), iso(b.end))
}

/// `3 batches, 2024-01-01 .. 2024-01-04`: what a successful build reports.
fn batch_note(batches: &[Batch]) -> String {
    match (batches.first(), batches.last()) {
        (Some(first), Some(last)) => format!(
            "{} batch(es), {} .. {}",
            batches.len(),
            Batch::bound(first.start),
            Batch::bound(last.end)
        ),
        _ => "no batch".into(),
    }
}

impl BatchResults {
    fn of(batches: &[Batch]) -> BatchResults {
        BatchResults {
            successful: batches.iter().map(range).collect(),
            failed: Vec::new(),
        }
    }
}

/// `(start, end)` pairs of a previous run's failed batches, as `run_results.json` has them.
pub fn parse_batches(pairs: &[(String, String)]) -> Vec<Batch> {
    pairs
        .iter()
        .filter_map(|(s, e)| {
            Some(Batch {
                start: parse_time(s)?,
                end: parse_time(e)?,
            })
        })
        .collect()
}

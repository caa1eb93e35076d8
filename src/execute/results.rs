//! What a run reports: each node's status and result, and the events a `Reporter` is sent as
//! nodes start and finish. Plain data, shared by the executor, the CLI and `run_results.json`.

use std::time::Instant;

use chrono::{DateTime, Utc};
use serde::Serialize;

use crate::adapter::{Catalog, Table};
use crate::compile::CompiledNode;

#[derive(Debug, Clone)]
pub struct RunOptions {
    /// The relations that existed when the run started.
    pub catalog: Catalog,
    pub threads: usize,
    pub fail_fast: bool,
    pub full_refresh: bool,
    /// `--event-time-start` / `--event-time-end`: the window microbatch models rebuild.
    pub event_time: Option<(chrono::NaiveDateTime, chrono::NaiveDateTime)>,
    /// `etlx retry`: per microbatch model, the batches that failed last time (only those run).
    pub retry_batches:
        std::collections::HashMap<String, Vec<crate::materialize::microbatch::Batch>>,
    /// `--skip-unchanged`: reuse what is as it was at its last good build.
    pub skip_unchanged: bool,
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
    /// A microbatch model some of whose batches failed (the others are committed).
    #[serde(rename = "partial success")]
    PartialSuccess,
    /// `--skip-unchanged`: not built, its code and inputs being as they were at its last
    /// good build.
    Reused,
}

impl Status {
    /// Whether the nodes that wait on this one may go on.
    pub fn lets_children_run(self) -> bool {
        matches!(
            self,
            Status::Success | Status::Pass | Status::Warn | Status::Reused
        )
    }

    /// Whether this makes the command exit 1.
    pub fn is_failure(self) -> bool {
        matches!(self, Status::Error | Status::Fail | Status::PartialSuccess)
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
    /// Microbatch models: which batches were committed and which failed.
    pub batches: Option<BatchResults>,
}

/// dbt's `batch_results`: `[start, end]` pairs in ISO 8601, UTC.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct BatchResults {
    pub successful: Vec<(String, String)>,
    pub failed: Vec<(String, String)>,
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
            batches: None,
        }
    }
}

/// How a run's results add up: what its summary line says.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Tally {
    /// Built, or tests that passed.
    pub ok: usize,
    pub warned: usize,
    pub reused: usize,
    /// Errors and failed tests: what makes the command exit 1.
    pub failed: usize,
    pub skipped: usize,
    pub total: usize,
}

impl Tally {
    pub fn of(results: &[NodeResult]) -> Tally {
        let count = |f: fn(Status) -> bool| results.iter().filter(|r| f(r.status)).count();
        Tally {
            ok: count(|s| matches!(s, Status::Success | Status::Pass)),
            warned: count(|s| s == Status::Warn),
            reused: count(|s| s == Status::Reused),
            failed: count(Status::is_failure),
            skipped: count(|s| s == Status::Skipped),
            total: results.len(),
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

pub(super) fn skipped(node: &CompiledNode, now: DateTime<Utc>, message: &str) -> NodeResult {
    NodeResult {
        message: Some(message.to_string()),
        completed_at: now,
        ..NodeResult::new(&node.unique_id, Status::Skipped, now, 0.0, 0)
    }
}

pub(super) fn failed(
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_tally_counts_passes_as_ok_and_fails_as_failures() {
        let now = Utc::now();
        let results: Vec<NodeResult> = [
            Status::Success,
            Status::Pass,
            Status::Warn,
            Status::Error,
            Status::Fail,
            Status::Skipped,
            Status::Skipped,
        ]
        .into_iter()
        .enumerate()
        .map(|(i, status)| NodeResult::new(&format!("model.p.m{i}"), status, now, 0.0, 0))
        .collect();
        let tally = Tally::of(&results);
        assert_eq!(
            tally,
            Tally {
                ok: 2,
                warned: 1,
                reused: 0,
                failed: 2,
                skipped: 2,
                total: 7
            }
        );
    }
}

//! `--skip-unchanged`: a node whose code and inputs are what they were at its last good build
//! is not built again, and reports `reused`.
//!
//! Each node's fingerprint covers what it renders to (target-neutral, both incremental
//! branches), its config and relation, and the version of each input: for a parent node its
//! fingerprint, for a source with files the list of files (path, size, mtime or ETag), for a
//! warehouse table its row count and newest `loaded_at_field`. Fingerprints are content
//! addresses, so a descendant of reused nodes has the fingerprint it had and is reused too,
//! and new landing files change exactly the fingerprints of what they feed. The records live
//! in the warehouse (`materialize::node_state`).

use std::collections::{HashMap, HashSet};

use chrono::Utc;

use super::ledger::exists;
use super::prepare::{Run, listed_files};
use super::{NodeResult, RunError, Status};
use crate::adapter::Connection;
use crate::aws::Aws;
use crate::compile::CompiledNode;
use crate::materialize::node_state;
use crate::project::{ResourceType, Source};
use crate::state::digest_text;

/// What this run may reuse.
#[derive(Debug, Default)]
pub struct Reuse {
    /// This run's fingerprint of each node it looked at, and each source's version.
    fingerprints: HashMap<String, String>,
    /// `etlx.node_state`: each node's fingerprint at its last good build, and when.
    recorded: HashMap<String, (String, String)>,
    /// The nodes of the run.
    in_run: HashSet<String>,
    enabled: bool,
}

impl Reuse {
    /// Fingerprint the nodes of the run and read the records. Off unless the run asked for
    /// it; never on `--full-refresh` or an explicit microbatch window, which ask to rebuild.
    pub fn plan(run: &Run, nodes: &[&CompiledNode]) -> Result<Reuse, RunError> {
        let opts = run.opts;
        if !opts.skip_unchanged || opts.full_refresh || opts.event_time.is_some() {
            return Ok(Reuse::default());
        }
        let mut conn = run.adapter.connect()?;
        let mut walk = Walk {
            run,
            conn: conn.as_mut(),
            aws: None,
            versions: HashMap::new(),
        };
        for node in nodes {
            walk.version(&node.unique_id)?;
        }
        let fingerprints = walk.versions;
        let table = conn.query(&node_state::read(run.adapter.dialect()))?;
        let recorded = table
            .rows
            .into_iter()
            .filter_map(|row| match &row[..] {
                [Some(node), Some(fingerprint), at] => Some((
                    node.clone(),
                    (fingerprint.clone(), at.clone().unwrap_or_default()),
                )),
                _ => None,
            })
            .collect();
        Ok(Reuse {
            fingerprints,
            recorded,
            in_run: nodes.iter().map(|n| n.unique_id.clone()).collect(),
            enabled: true,
        })
    }

    /// The result of `node` if it can be reused: its record matches this run's fingerprint
    /// and its relation is still there.
    pub fn reused(&self, run: &Run, node: &CompiledNode) -> Option<NodeResult> {
        if !self.enabled || !self.reusable(run, node) {
            return None;
        }
        let (_, at) = self.recorded.get(&node.unique_id)?;
        let now = Utc::now();
        Some(NodeResult {
            message: Some(format!("unchanged since {}", at.trim_end_matches(".000"))),
            completed_at: now,
            ..NodeResult::new(&node.unique_id, Status::Reused, now, 0.0, 0)
        })
    }

    /// Whether `node` is as at its last good build, and so is what it built. A temp model
    /// keeps nothing between runs: it is skipped only when nothing of this run reads it, that
    /// is when every reader in the run is reused (through ephemerals too).
    fn reusable(&self, run: &Run, node: &CompiledNode) -> bool {
        let readers_reused = || {
            run.c
                .graph
                .children(&node.unique_id)
                .iter()
                .all(|id| match run.c.nodes.get(id) {
                    Some(child) if self.in_run.contains(id) || child.is_ephemeral() => {
                        self.reusable(run, child)
                    }
                    _ => true,
                })
        };
        if node.is_ephemeral() {
            return readers_reused();
        }
        let Some((recorded, _)) = self.recorded.get(&node.unique_id) else {
            return false;
        };
        if self.fingerprints.get(&node.unique_id) != Some(recorded)
            || run.opts.retry_batches.contains_key(&node.unique_id)
        {
            return false;
        }
        if node.is_temp() {
            return readers_reused();
        }
        !node.resource_type.is_relation()
            || node.resource_type == ResourceType::UnitTest
            || exists(&run.opts.catalog, &node.relation)
    }

    /// The statements that record what this run built (or, for tests, saw pass).
    pub fn record(&self, run: &Run, results: &[NodeResult]) -> Vec<String> {
        if !self.enabled {
            return Vec::new();
        }
        let good: Vec<(&str, &str)> = results
            .iter()
            .filter(|r| matches!(r.status, Status::Success | Status::Pass))
            .filter_map(|r| {
                let fingerprint = self.fingerprints.get(&r.unique_id)?;
                Some((r.unique_id.as_str(), fingerprint.as_str()))
            })
            .collect();
        let at = Utc::now().format("%Y-%m-%d %H:%M:%S").to_string();
        node_state::record(run.adapter.dialect(), &good, &run.c.invocation_id, &at)
    }
}

/// The depth-first walk that versions a node after its inputs.
struct Walk<'r, 'a> {
    run: &'r Run<'a>,
    conn: &'r mut dyn Connection,
    aws: Option<Aws>,
    versions: HashMap<String, String>,
}

impl Walk<'_, '_> {
    fn version(&mut self, id: &str) -> Result<String, RunError> {
        if let Some(v) = self.versions.get(id) {
            return Ok(v.clone());
        }
        let run = self.run;
        let version = match (run.c.nodes.get(id), run.project.sources.get(id)) {
            (Some(node), _) => {
                let mut parents = node.depends_on.clone();
                parents.sort();
                let mut text = format!(
                    "etlx node 1\n{}\n{}\n{}\n",
                    node.neutral_sql,
                    crate::state::digest_json(
                        &serde_json::to_value(&node.config).unwrap_or_default()
                    ),
                    node.relation.to_sql()
                );
                for parent in parents {
                    let v = self.version(&parent)?;
                    text.push_str(&format!("{parent}={v}\n"));
                }
                digest_text(&text)
            }
            (None, Some(source)) => self.source_version(source)?,
            (None, None) => String::new(),
        };
        self.versions.insert(id.to_string(), version.clone());
        Ok(version)
    }

    /// Files: their list. A warehouse table: its row count and newest `loaded_at_field`; a
    /// table that cannot be read gets a version of its own this run, so nothing is reused
    /// over it.
    fn source_version(&mut self, source: &Source) -> Result<String, RunError> {
        let run = self.run;
        if run.c.source_locations.contains_key(&source.unique_id) {
            let listed = listed_files(run, source, &mut self.aws)?;
            let lines: Vec<String> = listed
                .files
                .iter()
                .map(|f| format!("{} {} {}", f.file, f.size, f.fingerprint))
                .collect();
            return Ok(digest_text(&lines.join("\n")));
        }
        let key = (source.source_name.clone(), source.name.clone());
        let Some(relation) = run.c.source_relations.get(&key) else {
            return Ok(run.c.invocation_id.clone());
        };
        let newest = source
            .loaded_at_field
            .as_deref()
            .map(|f| format!(", cast(max({f}) as varchar)"))
            .unwrap_or_default();
        let sql = format!("select count(*){newest} from {}", relation.to_sql());
        Ok(match self.conn.query(&sql) {
            Ok(table) => digest_text(&format!("{:?}", table.rows)),
            Err(_) => run.c.invocation_id.clone(),
        })
    }
}

//! Exactly-once landing files: which files of a source the run reads, and what each node
//! records about them.
//!
//! A source with `incremental_files: true` is read through the file ledger. Before the run,
//! its files are listed and compared with what its *consumers* (the incremental models and
//! snapshots fed by it, directly or through views and tables rebuilt each run) have recorded:
//! a file is pending while any consumer has not consumed it. The pending files become the
//! source's relation for the whole run (a view over exactly those files on DuckDB, the
//! source's table on a server), and a file that lands during the run waits for the next one.
//! Every node that reads them records, inside its own transaction, the files its parents
//! hold: a view or table holds its parents' files, an incremental model adds them to what it
//! has consumed. A crash therefore keeps a model's rows and its record together, and the next
//! run reads again whatever some consumer has not committed.

use std::collections::{HashMap, HashSet};
use std::path::Path;

use crate::adapter::{Catalog, Connection};
use crate::compile::{Compilation, CompiledNode};
use crate::execute::{RunError, RunOptions};
use crate::materialize::ledger::{self, LedgerFile, Writer};
use crate::project::{Project, Source};
use crate::sql::Dialect;
use crate::template::Relation;

/// Who reads which ledger source's files in a project.
#[derive(Debug, Default)]
pub struct Ledger {
    /// Per node: the parents whose files it holds (a source, or a model holding files).
    holds: HashMap<String, Vec<String>>,
    /// Per node: the ledger sources its files come from.
    sources: HashMap<String, HashSet<String>>,
    invocation_id: String,
}

impl Ledger {
    /// Follow the files of every ledger source through the graph of `c`.
    pub fn plan(project: &Project, c: &Compilation) -> Ledger {
        let mut ledger = Ledger {
            invocation_id: c.invocation_id.clone(),
            ..Ledger::default()
        };
        let ledgered: HashSet<&str> = project
            .sources
            .values()
            .filter(|s| s.reads_new_files())
            .map(|s| s.unique_id.as_str())
            .collect();
        if ledgered.is_empty() {
            return ledger;
        }
        for id in c.nodes.keys() {
            ledger.visit(c, &ledgered, id);
        }
        // A microbatch model recomputes the batches its file-fed ancestors' rows fall in (those
        // with an `event_time`, which says where), so it consumes their files: until it
        // commits, they stay pending.
        for node in c.nodes.values().filter(|n| n.is_microbatch()) {
            let fed = ledger.file_fed_ancestors(c, &node.unique_id);
            let sources: HashSet<String> = fed
                .iter()
                .filter_map(|a| ledger.sources.get(a))
                .flatten()
                .cloned()
                .collect();
            if fed.is_empty() {
                continue;
            }
            let holds = ledger.holds.entry(node.unique_id.clone()).or_default();
            holds.extend(fed);
            holds.sort();
            holds.dedup();
            ledger
                .sources
                .entry(node.unique_id.clone())
                .or_default()
                .extend(sources);
        }
        ledger.holds.retain(|_, parents| !parents.is_empty());
        ledger
    }

    /// The ancestors of `id` that hold only the files of their run (views and tables fed by
    /// a ledger source) and say which column is their rows' time (`event_time`), whatever
    /// lies between.
    pub fn file_fed_ancestors(&self, c: &Compilation, id: &str) -> Vec<String> {
        let mut out = Vec::new();
        let mut seen = HashSet::new();
        let mut stack: Vec<&str> = c
            .nodes
            .get(id)
            .map(|n| n.depends_on.iter().map(String::as_str).collect())
            .unwrap_or_default();
        while let Some(parent) = stack.pop() {
            if !seen.insert(parent) {
                continue;
            }
            let Some(p) = c.nodes.get(parent) else {
                continue;
            };
            let holds_files = matches!(p.config.materialized(), "view" | "table" | "temp")
                && self.sources.contains_key(parent)
                && p.config.get_str("event_time").is_some();
            if holds_files {
                out.push(parent.to_string());
            }
            stack.extend(p.depends_on.iter().map(String::as_str));
        }
        out.sort();
        out
    }

    /// Whether any source of the project is read through the ledger.
    pub fn is_used(&self) -> bool {
        !self.holds.is_empty()
    }

    fn visit(&mut self, c: &Compilation, ledgered: &HashSet<&str>, id: &str) {
        if self.holds.contains_key(id) {
            return;
        }
        self.holds.insert(id.to_string(), Vec::new());
        let Some(node) = c.nodes.get(id).filter(|n| records(n)) else {
            return;
        };
        let mut parents = Vec::new();
        let mut sources = HashSet::new();
        let mut stack: Vec<&str> = node.depends_on.iter().map(String::as_str).collect();
        while let Some(parent) = stack.pop() {
            if ledgered.contains(parent) {
                parents.push(parent.to_string());
                sources.insert(parent.to_string());
                continue;
            }
            let Some(p) = c.nodes.get(parent) else {
                continue;
            };
            match p.config.materialized() {
                "ephemeral" => stack.extend(p.depends_on.iter().map(String::as_str)),
                "view" | "table" | "temp" => {
                    self.visit(c, ledgered, parent);
                    if let Some(upstream) = self.sources.get(parent) {
                        parents.push(parent.to_string());
                        sources.extend(upstream.iter().cloned());
                    }
                }
                _ => {}
            }
        }
        parents.sort();
        parents.dedup();
        if !parents.is_empty() {
            self.sources.insert(id.to_string(), sources);
        }
        self.holds.insert(id.to_string(), parents);
    }

    /// The statements `node` runs inside its transaction: the files it now holds.
    /// `accumulate` for an incremental update, which adds to what the model consumed before.
    pub fn record(&self, node: &str, dialect: Dialect, accumulate: bool) -> Vec<String> {
        let Some(parents) = self.holds.get(node) else {
            return Vec::new();
        };
        let at = now();
        let w = Writer {
            dialect,
            invocation_id: &self.invocation_id,
            at: &at,
        };
        let parents: Vec<&str> = parents.iter().map(String::as_str).collect();
        ledger::record_node(&w, node, &parents, accumulate)
    }

    /// The consumers of `source` whose record decides what is pending: those the run builds,
    /// or every consumer in the project when the run builds none (then nothing consumes the
    /// files, and the run reads what any consumer still lacks).
    fn consumers<'a>(&'a self, c: &'a Compilation, source: &str) -> Vec<&'a CompiledNode> {
        let all: Vec<&CompiledNode> = self
            .sources
            .iter()
            .filter(|(_, sources)| sources.contains(source))
            .filter_map(|(id, _)| c.nodes.get(id))
            .filter(|n| consumes(n))
            .collect();
        let selected: Vec<&CompiledNode> = all
            .iter()
            .copied()
            .filter(|n| c.selected.contains(&n.unique_id))
            .collect();
        if selected.is_empty() { all } else { selected }
    }
}

/// Nodes that hold files in their relation: models and snapshots (not seeds or tests). A
/// `temp` model holds its files for the run, as a table would between runs.
fn records(node: &CompiledNode) -> bool {
    matches!(
        node.config.materialized(),
        "view" | "table" | "temp" | "incremental" | "snapshot"
    )
}

/// Nodes whose relation keeps rows across runs: what they have consumed is never read again.
fn consumes(node: &CompiledNode) -> bool {
    matches!(node.config.materialized(), "incremental" | "snapshot")
}

/// A timestamp literal's text for now, in UTC, the same on every dialect.
fn now() -> String {
    chrono::Utc::now()
        .format("%Y-%m-%d %H:%M:%S%.6f")
        .to_string()
}

/// The files of a source this run reads, and the statements that record them as the
/// source's holding (run in the transaction that makes them readable).
pub struct Claim {
    pub files: Vec<LedgerFile>,
    /// Every listed file, pending or not: one of them types an empty relation.
    pub listed: usize,
    pub record: Vec<String>,
}

impl Claim {
    /// What the step reports: how many files are new, out of how many listed.
    pub fn summary(&self) -> String {
        let bytes: u64 = self.files.iter().map(|f| f.size).sum();
        format!(
            "{} new file(s) ({bytes} bytes) of {} listed",
            self.files.len(),
            self.listed
        )
    }
}

/// Decide which of `listed` the run reads: those some consumer of `source` has not consumed
/// with the same size and fingerprint. A consumer without a table (first build, or dropped)
/// or rebuilt by `--full-refresh` has consumed nothing. A consumed file that changed is read
/// again with `changed_files: reprocess`, and stops the run otherwise.
pub fn claim(
    c: &Compilation,
    plan: &Ledger,
    conn: &mut dyn Connection,
    dialect: Dialect,
    opts: &RunOptions,
    source: &Source,
    listed: Vec<LedgerFile>,
) -> Result<Claim, RunError> {
    let consumers = plan.consumers(c, &source.unique_id);
    let keeping: Vec<&str> = consumers
        .iter()
        .filter(|n| !opts.full_refresh && n.config.get_bool("full_refresh") != Some(true))
        .filter(|n| exists(&opts.catalog, &n.relation))
        .map(|n| n.unique_id.as_str())
        .collect();
    let mut consumed: HashMap<&str, HashMap<String, (u64, String)>> = HashMap::new();
    if !keeping.is_empty() {
        let rows = conn.query(&ledger::read(dialect, &source.unique_id, &keeping))?;
        for row in rows.rows {
            let [Some(model), Some(file), size, fingerprint] = &row[..] else {
                continue;
            };
            let Some(model) = keeping.iter().find(|k| **k == model.as_str()) else {
                continue;
            };
            let size = size.as_deref().and_then(|s| s.parse().ok()).unwrap_or(0);
            consumed.entry(model).or_default().insert(
                file.clone(),
                (size, fingerprint.clone().unwrap_or_default()),
            );
        }
    }
    let total = listed.len();
    let mut files = Vec::new();
    // By file: its size when consumed, and by whom.
    let mut changed: std::collections::BTreeMap<String, (u64, u64, Vec<&str>)> = Default::default();
    // A consumer that has consumed nothing (or none at all) needs every file.
    let all_pending = consumers.len() != keeping.len() || consumers.is_empty();
    for file in listed {
        let mut pending = all_pending;
        for model in &keeping {
            match consumed.get(model).and_then(|m| m.get(&file.file)) {
                None => pending = true,
                Some((size, fp)) if *size == file.size && *fp == file.fingerprint => {}
                Some((size, _)) => {
                    let entry =
                        changed
                            .entry(file.file.clone())
                            .or_insert((*size, file.size, Vec::new()));
                    entry.2.push(model);
                    pending = true;
                }
            }
        }
        if pending {
            files.push(file);
        }
    }
    if !changed.is_empty() && !source.reprocesses_changed_files() {
        return Err(RunError::ChangedFiles(format!(
            "{} landing file(s) of source {}.{} changed after they were consumed: {}. etlx never \
             re-reads a file silently: set `changed_files: reprocess` in the source's config to \
             read changed files again, or rebuild from every file with --full-refresh",
            changed.len(),
            source.source_name,
            source.name,
            describe_changed(&changed)
        )));
    }
    let at = now();
    let w = Writer {
        dialect,
        invocation_id: &c.invocation_id,
        at: &at,
    };
    let record = ledger::record_source(&w, &source.unique_id, &files);
    Ok(Claim {
        files,
        listed: total,
        record,
    })
}

/// The first few changed files, each once however many models consumed it.
fn describe_changed(changed: &std::collections::BTreeMap<String, (u64, u64, Vec<&str>)>) -> String {
    const SHOWN: usize = 5;
    let mut parts: Vec<String> = changed
        .iter()
        .take(SHOWN)
        .map(|(file, (then, now, models))| {
            let what = match then == now {
                true => format!("{now} bytes as before, but a new mtime or ETag"),
                false => format!("{then} bytes when consumed, {now} now"),
            };
            let by = match &models[..] {
                [one] => one.to_string(),
                [first, rest @ ..] => format!("{first} and {} more", rest.len()),
                [] => String::new(),
            };
            format!("{file} ({what}; consumed by {by})")
        })
        .collect();
    if changed.len() > SHOWN {
        parts.push(format!("and {} more", changed.len() - SHOWN));
    }
    parts.join("; ")
}

/// Whether the catalog read at the start of the run has `relation`.
pub(super) fn exists(catalog: &Catalog, relation: &Relation) -> bool {
    match relation {
        Relation::Table {
            schema, identifier, ..
        } => catalog.kind(schema, identifier).is_some(),
        _ => false,
    }
}

/// A location's glob with DuckDB's rules: `*` stays within a folder, `**` crosses them.
pub fn glob_matcher(glob: &str) -> Result<globset::GlobMatcher, RunError> {
    Ok(globset::GlobBuilder::new(glob)
        .literal_separator(true)
        .build()
        .map_err(|e| RunError::Config(format!("the location {glob} is not a valid glob: {e}")))?
        .compile_matcher())
}

/// The local files a source's reader would read (`glob` relative to `root`), with their
/// size and modification time, in path order.
pub fn list_local(root: &Path, glob: &str) -> Result<Vec<LedgerFile>, RunError> {
    let matcher = glob_matcher(glob)?;
    let prefix = crate::aws::literal_prefix(glob);
    // The folder to walk: the literal prefix up to its last separator.
    let folder = match prefix.rfind('/') {
        Some(at) => &prefix[..at],
        None => ".",
    };
    let mut files = Vec::new();
    let start = root.join(folder);
    if !start.exists() {
        return Ok(files);
    }
    for entry in walkdir::WalkDir::new(&start).follow_links(true) {
        let entry = entry.map_err(|e| RunError::Config(format!("cannot list {glob}: {e}")))?;
        if !entry.file_type().is_file() {
            continue;
        }
        let Ok(relative) = entry.path().strip_prefix(root) else {
            continue;
        };
        let shown = relative.to_string_lossy().replace('\\', "/");
        if !matcher.is_match(&shown) {
            continue;
        }
        let meta = entry.metadata().map_err(|e| RunError::Io {
            doing: "read the metadata of",
            path: entry.path().to_path_buf(),
            source: e.into(),
        })?;
        let modified = meta
            .modified()
            .ok()
            .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
            .map_or(0, |d| d.as_nanos());
        files.push(LedgerFile {
            file: shown,
            size: meta.len(),
            fingerprint: modified.to_string(),
        });
    }
    files.sort_by(|a, b| a.file.cmp(&b.file));
    Ok(files)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn local_listing_follows_duckdbs_glob_rules() {
        let dir = tempfile::tempdir().unwrap();
        for f in [
            "landing/events/batch_001/a.json",
            "landing/events/batch_001/deep/b.jsonl",
            "landing/events/batch_002/c.json",
            "landing/events/batch_002/notes.txt",
            "landing/songs/s.json",
        ] {
            let path = dir.path().join(f);
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(&path, "{}\n").unwrap();
        }
        let names = |glob: &str| -> Vec<String> {
            list_local(dir.path(), glob)
                .unwrap()
                .into_iter()
                .map(|f| f.file)
                .collect()
        };
        assert_eq!(
            names("landing/events/*/**/*.json*"),
            [
                "landing/events/batch_001/a.json",
                "landing/events/batch_001/deep/b.jsonl",
                "landing/events/batch_002/c.json"
            ]
        );
        assert_eq!(
            names("landing/events/batch_002/**/*.json*"),
            ["landing/events/batch_002/c.json"]
        );
        assert!(names("landing/nothing/**/*.json").is_empty());
    }
}

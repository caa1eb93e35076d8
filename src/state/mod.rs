//! A previous run's artifacts, read back for `--state <dir>`: what changed since (the
//! `state:` selectors), how nodes ended (`result:`), which sources got fresher
//! (`source_status:`), and where the previous target keeps each relation (`--defer`, `clone`).
//!
//! dbt decides "modified" from file checksums and unrendered configs, which marks every model
//! under an edited macro (even when no SQL changed) and misses var and env changes. etlx
//! compiles fast enough to be exact: each node's manifest entry carries a [`Fingerprint`] of
//! what it renders to, made neutral to the things that differ between a CI target and
//! production (schema names, run ids), and the comparison is between fingerprints.

mod compare;

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::project::Project;
use crate::sql::Dialect;

pub use compare::{Current, MacroDigests, marks};

/// A state directory that cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum StateError {
    #[error(
        "--state {}: no manifest.json there (point --state at the target/ directory of the run to compare with)",
        dir.display()
    )]
    NoManifest {
        dir: PathBuf,
        source: std::io::Error,
    },
    #[error("{} is not valid JSON", path.display())]
    NotJson {
        path: PathBuf,
        source: serde_json::Error,
    },
}

/// The name a state's DuckDB file is attached under.
pub const STATE_CATALOG: &str = "etlx_state";

/// What decides whether a node changed, as digests (nothing here reveals the SQL or values).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Fingerprint {
    /// What the node renders to, with relations as logical names, warehouse queries left
    /// unanswered and each run's ids blanked; for an incremental model, both branches of
    /// `is_incremental()`. Seeds: the file.
    pub sql: String,
    /// The file as written.
    pub file: String,
    /// The final config (after `config()` calls), keys sorted.
    pub config: String,
    /// Database, schema and name, with the target's own schema and database as placeholders.
    pub relation: String,
    pub description: String,
    pub column_descriptions: String,
    /// Column names and types when a contract is enforced.
    pub contract: Option<String>,
    /// Whether descriptions are persisted to the warehouse (`persist_docs`).
    pub persist_relation: bool,
    pub persist_columns: bool,
    /// The macros its render called, by name.
    pub macros: Vec<String>,
}

/// Where a previous run's node lives: what `--defer` reads and `clone` copies.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StateRelation {
    pub database: Option<String>,
    pub schema: String,
    pub identifier: String,
    pub materialized: String,
}

/// The previous run's target, as its manifest records it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
pub struct StateTarget {
    #[serde(rename = "type", default)]
    pub dialect: String,
    #[serde(default)]
    pub schema: String,
    #[serde(default)]
    pub database: Option<String>,
    /// DuckDB: the database file, absolute.
    #[serde(default)]
    pub path: Option<PathBuf>,
}

/// A previous run, read from its target directory.
#[derive(Debug, Clone, Default)]
pub struct State {
    pub dir: PathBuf,
    /// Fingerprints by unique id; `None` for a node of a manifest written without them
    /// (by dbt, or an older etlx): those compare by file checksum, as dbt does.
    pub fingerprints: HashMap<String, Option<Fingerprint>>,
    /// Each macro's text, by name, as its manifest recorded it (`macro_sql`).
    pub macros: MacroDigests,
    pub relations: HashMap<String, StateRelation>,
    pub target: Option<StateTarget>,
    /// `run_results.json`: each node's status, when the directory has one.
    pub results: HashMap<String, String>,
    /// `sources.json`: each source's `max_loaded_at`, when the directory has one.
    pub loaded_at: HashMap<String, String>,
}

impl State {
    /// Read `dir/manifest.json`, and `run_results.json` and `sources.json` when present.
    pub fn read(dir: &Path) -> Result<State, StateError> {
        let path = dir.join("manifest.json");
        let text = std::fs::read_to_string(&path).map_err(|source| StateError::NoManifest {
            dir: dir.to_path_buf(),
            source,
        })?;
        let manifest: Value =
            serde_json::from_str(&text).map_err(|source| StateError::NotJson { path, source })?;
        let mut state = State::from_manifest(&manifest);
        state.dir = dir.to_path_buf();
        if let Some(results) = read_optional(&dir.join("run_results.json"))? {
            state.results = by_unique_id(&results, "status");
        }
        if let Some(sources) = read_optional(&dir.join("sources.json"))? {
            state.loaded_at = by_unique_id(&sources, "max_loaded_at");
        }
        Ok(state)
    }

    pub fn from_manifest(manifest: &Value) -> State {
        let entries = ["nodes", "sources", "unit_tests"]
            .iter()
            .filter_map(|k| manifest[k].as_object())
            .flatten();
        let mut state = State::default();
        for (id, node) in entries {
            let fingerprint = serde_json::from_value(node["etlx_state"].clone()).ok();
            let fingerprint = fingerprint.or_else(|| dbt_fingerprint(node));
            state.fingerprints.insert(id.clone(), fingerprint);
            if let Some(relation) = state_relation(node) {
                state.relations.insert(id.clone(), relation);
            }
        }
        state.macros = manifest["macros"]
            .as_object()
            .into_iter()
            .flatten()
            .filter_map(|(_, m)| {
                let sql = m["macro_sql"].as_str()?;
                Some((m["name"].as_str()?.to_string(), digest_text(sql)))
            })
            .collect();
        state.target = serde_json::from_value(manifest["metadata"]["etlx_target"].clone()).ok();
        state
    }

    /// The catalog the state's relations are read from, when it is not the current one: a
    /// DuckDB file attached read-only as [`STATE_CATALOG`]. An error says why the state's
    /// relations cannot be read from the current target.
    pub fn deferred_database(&self, project: &Project) -> Result<Option<String>, String> {
        let Some(target) = &self.target else {
            return Ok(None);
        };
        let current = &project.target;
        if current.dialect != Dialect::DuckDb {
            return match (&target.database, &current.database) {
                (Some(theirs), Some(ours)) if theirs != ours => Err(format!(
                    "the state's relations are in database '{theirs}' and this target is in '{ours}': one query cannot read across databases, so --defer and clone need the state's target in the same database (another schema)"
                )),
                _ => Ok(None),
            };
        }
        let Some(theirs) = &target.path else {
            return Ok(None);
        };
        let ours = current
            .setting_str("path")
            .map(|p| absolute(&project.root, p));
        if ours.as_ref() == Some(theirs) {
            return Ok(None);
        }
        if !theirs.exists() {
            return Err(format!(
                "the state's relations are in {}, which does not exist here",
                theirs.display()
            ));
        }
        Ok(Some(STATE_CATALOG.to_string()))
    }

    /// The statement that attaches the state's DuckDB file, when its relations are in one.
    pub fn attach_sql(&self, project: &Project) -> Option<String> {
        self.deferred_database(project).ok()??;
        let path = self.target.as_ref()?.path.as_ref()?;
        let path = path.display().to_string().replace('\'', "''");
        Some(format!(
            "ATTACH IF NOT EXISTS '{path}' AS {STATE_CATALOG} (READ_ONLY)"
        ))
    }

    /// Whether the manifest was written by etlx with fingerprints (not by dbt).
    pub fn has_fingerprints(&self) -> bool {
        self.fingerprints
            .values()
            .any(|f| f.as_ref().is_some_and(|f| !f.sql.is_empty()))
    }
}

/// A dbt manifest's node has only its file's checksum: that stands for both the file and
/// the SQL, and config is left out of the comparison (dbt writes every default into it).
fn dbt_fingerprint(node: &Value) -> Option<Fingerprint> {
    let checksum = node["checksum"]["checksum"].as_str()?;
    Some(Fingerprint {
        file: checksum.to_string(),
        ..Fingerprint::default()
    })
}

fn state_relation(node: &Value) -> Option<StateRelation> {
    let materialized = node["config"]["materialized"].as_str().unwrap_or("view");
    if materialized == "ephemeral" || node["relation_name"].is_null() {
        return None;
    }
    Some(StateRelation {
        database: node["database"].as_str().map(str::to_string),
        schema: node["schema"].as_str()?.to_string(),
        identifier: node["alias"]
            .as_str()
            .or(node["identifier"].as_str())?
            .to_string(),
        materialized: materialized.to_string(),
    })
}

fn read_optional(path: &Path) -> Result<Option<Value>, StateError> {
    match std::fs::read_to_string(path) {
        Ok(text) => serde_json::from_str(&text)
            .map(Some)
            .map_err(|source| StateError::NotJson {
                path: path.to_path_buf(),
                source,
            }),
        Err(_) => Ok(None),
    }
}

/// `field` of each entry of an artifact's `results`, by unique id.
fn by_unique_id(artifact: &Value, field: &str) -> HashMap<String, String> {
    artifact["results"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|r| {
            Some((
                r["unique_id"].as_str()?.to_string(),
                r[field].as_str()?.to_string(),
            ))
        })
        .collect()
}

/// Each source's `max_loaded_at` in `dir/sources.json` (empty when there is none).
pub fn read_loaded_at(dir: &Path) -> HashMap<String, String> {
    read_optional(&dir.join("sources.json"))
        .ok()
        .flatten()
        .map(|sources| by_unique_id(&sources, "max_loaded_at"))
        .unwrap_or_default()
}

/// The digest of a JSON value with every object's keys sorted, so the order keys were
/// merged in (project file, YAML, `config()`) does not count as a change.
pub fn digest_json(value: &Value) -> String {
    fn sorted(value: &Value) -> Value {
        match value {
            Value::Object(map) => {
                let mut keys: Vec<&String> = map.keys().collect();
                keys.sort();
                Value::Object(
                    keys.into_iter()
                        .map(|k| (k.clone(), sorted(&map[k])))
                        .collect(),
                )
            }
            Value::Array(items) => Value::Array(items.iter().map(sorted).collect()),
            other => other.clone(),
        }
    }
    digest_text(&sorted(value).to_string())
}

/// `path` made absolute against `root`, and canonical when it exists, so two spellings of
/// one DuckDB file compare equal.
pub fn absolute(root: &Path, path: &str) -> PathBuf {
    let joined = root.join(path);
    joined.canonicalize().unwrap_or(joined)
}

pub fn digest_text(text: &str) -> String {
    crate::project::hex_sha256(text.as_bytes())
}

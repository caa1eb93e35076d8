//! The resources a project holds (nodes, sources, macros, columns, tests) and the project
//! itself: plain data, filled by loading and read by every later stage.

use std::path::PathBuf;
use std::sync::Arc;

use indexmap::IndexMap;
use serde::Serialize;
use sha2::Digest;

use super::{Config, Secrets, Target, UnitTest};
use crate::diag::Location;
use crate::sql::StaticAnalysis;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ResourceType {
    Model,
    Seed,
    Snapshot,
    Source,
    Test,
    UnitTest,
}

impl ResourceType {
    pub fn parse(text: &str) -> Option<ResourceType> {
        match text {
            "model" => Some(ResourceType::Model),
            "seed" => Some(ResourceType::Seed),
            "snapshot" => Some(ResourceType::Snapshot),
            "source" => Some(ResourceType::Source),
            "test" => Some(ResourceType::Test),
            "unit_test" => Some(ResourceType::UnitTest),
            _ => None,
        }
    }

    /// Models, seeds and snapshots: what `ref()` can name.
    pub fn is_relation(self) -> bool {
        matches!(
            self,
            ResourceType::Model | ResourceType::Seed | ResourceType::Snapshot
        )
    }

    pub fn name(self) -> &'static str {
        match self {
            ResourceType::Model => "model",
            ResourceType::Seed => "seed",
            ResourceType::Snapshot => "snapshot",
            ResourceType::Source => "source",
            ResourceType::Test => "test",
            ResourceType::UnitTest => "unit_test",
        }
    }
}

/// A file of the project: its path relative to the project root and its text.
#[derive(Debug, Clone)]
pub struct SourceFile {
    pub path: PathBuf,
    pub text: Arc<str>,
}

impl SourceFile {
    pub fn location(&self, span: std::ops::Range<usize>) -> Location {
        Location::new(&self.path, self.text.clone(), span)
    }
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct Column {
    pub name: String,
    pub description: String,
    pub data_type: Option<String>,
    pub meta: serde_json::Value,
    pub tags: Vec<String>,
}

/// How recent a source's newest row must be: `etlx source freshness`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Freshness {
    pub warn_after: Option<Period>,
    pub error_after: Option<Period>,
    /// A `where` condition that limits the rows looked at.
    pub filter: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Period {
    pub count: u64,
    pub period: PeriodUnit,
}

impl Period {
    pub fn seconds(self) -> f64 {
        let unit = match self.period {
            PeriodUnit::Minute => 60.0,
            PeriodUnit::Hour => 3600.0,
            PeriodUnit::Day => 86400.0,
        };
        self.count as f64 * unit
    }
}

impl std::fmt::Display for Period {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let unit = match self.period {
            PeriodUnit::Minute => "minute",
            PeriodUnit::Hour => "hour",
            PeriodUnit::Day => "day",
        };
        let s = if self.count == 1 { "" } else { "s" };
        write!(f, "{} {unit}{s}", self.count)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum PeriodUnit {
    Minute,
    Hour,
    Day,
}

impl PeriodUnit {
    pub fn parse(text: &str) -> Option<PeriodUnit> {
        match text {
            "minute" => Some(PeriodUnit::Minute),
            "hour" => Some(PeriodUnit::Hour),
            "day" => Some(PeriodUnit::Day),
            _ => None,
        }
    }
}

/// A data test declared in YAML, kept for `etlx test`.
#[derive(Debug, Clone, Serialize)]
pub struct TestDecl {
    pub column: Option<String>,
    pub name: String,
    pub args: serde_json::Value,
    #[serde(skip)]
    pub location: Option<Location>,
}

/// A model, seed or snapshot (or a test): something with a file that becomes a relation.
#[derive(Debug, Clone)]
pub struct Node {
    pub unique_id: String,
    pub name: String,
    pub resource_type: ResourceType,
    pub file: SourceFile,
    /// Path relative to its resource folder (`staging/stg_events.sql`), as dbt's `path`.
    pub path: PathBuf,
    pub fqn: Vec<String>,
    /// Project-file and YAML config; `config()` calls in SQL are applied at compile time.
    pub config: Config,
    pub description: String,
    pub columns: IndexMap<String, Column>,
    pub tests: Vec<TestDecl>,
    pub patch_path: Option<PathBuf>,
    /// Tests: what they check, for people reading a failure.
    pub tested: Option<Tested>,
}

/// The subject of a test: `model stg_events` or `source landing.events`, and the column.
#[derive(Debug, Clone, Serialize)]
pub struct Tested {
    pub relation: String,
    /// The unique id of what a generic test is declared under (dbt's `attached_node`).
    pub attached_node: Option<String>,
    pub column: Option<String>,
    /// The YAML entry a generic test came from: its template is generated, so an error in
    /// it also points here.
    #[serde(skip)]
    pub declared_at: Option<crate::diag::Location>,
}

impl std::fmt::Display for Tested {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", self.relation)?;
        if let Some(column) = &self.column {
            write!(f, ", column {column}")?;
        }
        Ok(())
    }
}

/// A table declared under `sources:` in YAML.
#[derive(Debug, Clone)]
pub struct Source {
    pub unique_id: String,
    pub source_name: String,
    pub name: String,
    pub schema: String,
    pub database: Option<String>,
    pub identifier: String,
    /// Landing files: a path, glob or folder, and their format (parquet, csv, json).
    pub location: Option<String>,
    pub format: Option<String>,
    pub options: serde_json::Map<String, serde_json::Value>,
    pub description: String,
    pub loaded_at_field: Option<String>,
    pub freshness: Option<Freshness>,
    pub columns: IndexMap<String, Column>,
    pub tests: Vec<TestDecl>,
    pub config: Config,
    pub fqn: Vec<String>,
    pub file: PathBuf,
    pub location_in_yaml: Location,
}

impl Source {
    /// Whether models read only the files they have not consumed yet (`incremental_files:
    /// true` in the source's config): the run's pending files, kept in the file ledger.
    pub fn reads_new_files(&self) -> bool {
        self.location.is_some() && self.config.get_bool("incremental_files") == Some(true)
    }

    /// `changed_files: reprocess` reads a consumed file again when its size or fingerprint
    /// changed; the default, `fail`, stops the run and names the file.
    pub fn reprocesses_changed_files(&self) -> bool {
        self.config.get_str("changed_files") == Some("reprocess")
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct MacroDef {
    pub unique_id: String,
    pub name: String,
    pub path: PathBuf,
    pub line: usize,
    /// `{% test %}` blocks are generic tests, stored as macros named `test_<name>`.
    pub is_test: bool,
}

#[derive(Debug, Clone, Default)]
pub struct Paths {
    pub models: Vec<String>,
    pub macros: Vec<String>,
    pub seeds: Vec<String>,
    pub tests: Vec<String>,
    pub snapshots: Vec<String>,
    pub target: String,
    pub clean_targets: Vec<String>,
    /// `packages-install-path`: where `etlx deps` installs packages.
    pub packages: String,
}

/// Options from the command line that change how a project loads.
#[derive(Debug, Clone, Default)]
pub struct LoadOptions {
    pub project_dir: Option<PathBuf>,
    pub profiles_dir: Option<PathBuf>,
    pub target: Option<String>,
    /// `--vars`, already parsed from YAML or JSON.
    pub vars: serde_json::Map<String, serde_json::Value>,
    pub static_analysis: Option<StaticAnalysis>,
    /// `--no-version-check`: do not hold the project to its `require-dbt-version`.
    pub skip_version_check: bool,
}

#[derive(Debug, Clone)]
pub struct Project {
    pub root: PathBuf,
    pub name: String,
    pub project_file: PathBuf,
    pub profile_name: String,
    pub paths: Paths,
    pub vars: serde_json::Map<String, serde_json::Value>,
    pub target: Target,
    pub secrets: Secrets,
    pub nodes: IndexMap<String, Node>,
    pub sources: IndexMap<String, Source>,
    pub macro_files: Vec<SourceFile>,
    pub macros: IndexMap<String, MacroDef>,
    pub on_run_start: Vec<String>,
    pub on_run_end: Vec<String>,
    pub static_analysis: StaticAnalysis,
    /// Unit tests by unique id; each is also a node, for selection.
    pub unit_tests: IndexMap<String, UnitTest>,
}

impl Project {
    /// A node from a file, with no properties yet; its unique id is `<type>.<package>.<name>`
    /// (the package is the project's own name for its own nodes).
    pub fn add_node(
        &mut self,
        resource_type: ResourceType,
        package: &str,
        name: String,
        file: SourceFile,
        path: PathBuf,
        fqn: Vec<String>,
    ) {
        let unique_id = format!("{}.{package}.{name}", resource_type.name());
        self.nodes.insert(
            unique_id.clone(),
            Node {
                unique_id,
                name,
                resource_type,
                file,
                path,
                fqn,
                config: Config::default(),
                description: String::new(),
                columns: IndexMap::new(),
                tests: Vec::new(),
                patch_path: None,
                tested: None,
            },
        );
    }

    /// The text of a macro's definition, `{% macro ... %}` to its end (dbt's `macro_sql`);
    /// `None` for etlx's built-in macros, which are not project files.
    pub fn macro_sql(&self, def: &MacroDef) -> Option<&str> {
        let file = self.macro_files.iter().find(|f| f.path == def.path)?;
        let text: &str = &file.text;
        let start = text
            .split_inclusive('\n')
            .take(def.line.saturating_sub(1))
            .map(str::len)
            .sum::<usize>();
        let rest = text.get(start..)?;
        let end = ["endmacro", "endtest"]
            .iter()
            .filter_map(|k| rest.find(k))
            .min()
            .and_then(|at| rest[at..].find("%}").map(|close| at + close + 2))
            .unwrap_or(rest.len());
        Some(&rest[..end])
    }

    pub fn target_dir(&self) -> PathBuf {
        self.root.join(&self.paths.target)
    }

    /// Whether the project (not etlx's built-in copy of dbt's macros) defines `name` or a
    /// dispatched version of it (`default__name`, `duckdb__name`, ...).
    pub fn overrides_macro(&self, name: &str) -> bool {
        self.macros.iter().any(|(defined, m)| {
            m.path != std::path::Path::new(super::load::DBT_MACROS_PATH)
                && (defined == name
                    || defined
                        .strip_suffix(name)
                        .is_some_and(|p| p.ends_with("__")))
        })
    }
}

/// Lowercase hex SHA-256: the checksum dbt writes for files and the stable suffix of test names.
pub fn hex_sha256(bytes: &[u8]) -> String {
    sha2::Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

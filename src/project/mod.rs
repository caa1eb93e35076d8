//! Reading a project from disk into a `Project`.
//!
//! Loading never stops at the first problem: every file is read (in parallel), every YAML
//! document checked, and all problems are returned as diagnostics beside whatever could be
//! loaded, so one `etlx compile` lists every mistake with its location.

pub mod config;
pub mod data_tests;
pub mod macros;
pub mod profile;
pub mod properties;
pub mod unit_tests;
pub mod yaml;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use indexmap::IndexMap;
use rayon::prelude::*;
use serde::Serialize;
use sha2::Digest;

pub use config::Config;
pub use profile::{Secrets, Target};
pub use unit_tests::UnitTest;
use yaml::{Document, Node as Yaml};

use crate::diag::{Diagnostic, Diagnostics, Location};
use crate::sql::StaticAnalysis;

/// Project files etlx reads, in order of preference.
pub const PROJECT_FILES: &[&str] = &["etlx_project.yml", "dbt_project.yml"];

const PROJECT_KEYS: &[&str] = &[
    "name",
    "version",
    "config-version",
    "profile",
    "model-paths",
    "source-paths",
    "macro-paths",
    "seed-paths",
    "data-paths",
    "test-paths",
    "analysis-paths",
    "snapshot-paths",
    "docs-paths",
    "asset-paths",
    "target-path",
    "log-path",
    "packages-install-path",
    "clean-targets",
    "vars",
    "models",
    "seeds",
    "data_tests",
    "tests",
    "sources",
    "snapshots",
    "on-run-start",
    "on-run-end",
    "require-dbt-version",
    "quoting",
    "query-comment",
    "dispatch",
    "flags",
    "static_analysis",
];

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ResourceType {
    Model,
    Seed,
    Source,
    Test,
    UnitTest,
}

impl ResourceType {
    pub fn parse(text: &str) -> Option<ResourceType> {
        match text {
            "model" => Some(ResourceType::Model),
            "seed" => Some(ResourceType::Seed),
            "source" => Some(ResourceType::Source),
            "test" => Some(ResourceType::Test),
            "unit_test" => Some(ResourceType::UnitTest),
            _ => None,
        }
    }

    /// Models and seeds: what `ref()` can name.
    pub fn is_relation(self) -> bool {
        matches!(self, ResourceType::Model | ResourceType::Seed)
    }

    pub fn name(self) -> &'static str {
        match self {
            ResourceType::Model => "model",
            ResourceType::Seed => "seed",
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

/// A model or seed: something with a file that becomes a relation.
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
    pub target: String,
    pub clean_targets: Vec<String>,
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
    pub fn target_dir(&self) -> PathBuf {
        self.root.join(&self.paths.target)
    }
}

/// Errors that stop loading before there is a project to report on.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    #[error("no etlx_project.yml or dbt_project.yml in {0} or any parent directory")]
    NotAProject(PathBuf),
    #[error("cannot read {path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
}

/// Find the project root: the given directory, else the nearest ancestor with a project file.
pub fn find_root(start: &Path) -> Result<PathBuf, LoadError> {
    let start = std::fs::canonicalize(start).map_err(|source| LoadError::Io {
        path: start.to_path_buf(),
        source,
    })?;
    start
        .ancestors()
        .find(|dir| PROJECT_FILES.iter().any(|f| dir.join(f).is_file()))
        .map(Path::to_path_buf)
        .ok_or(LoadError::NotAProject(start))
}

/// Load everything. Returns the project (when the project file itself was readable) and all
/// diagnostics found on the way.
pub fn load(opts: &LoadOptions) -> Result<(Option<Project>, Diagnostics), LoadError> {
    let cwd = std::env::current_dir().map_err(|source| LoadError::Io {
        path: ".".into(),
        source,
    })?;
    let root = find_root(opts.project_dir.as_deref().unwrap_or(&cwd))?;
    let mut diags = Diagnostics::default();
    let clock = std::time::Instant::now();
    let project = load_root(&root, opts, &mut diags)?;
    tracing::debug!(
        "loaded project in {:.1} ms",
        clock.elapsed().as_secs_f64() * 1e3
    );
    Ok((project, diags))
}

fn load_root(
    root: &Path,
    opts: &LoadOptions,
    diags: &mut Diagnostics,
) -> Result<Option<Project>, LoadError> {
    let file_name = PROJECT_FILES
        .iter()
        .find(|f| root.join(f).is_file())
        .copied()
        .unwrap_or(PROJECT_FILES[0]);
    let text = match read(root, Path::new(file_name)) {
        Ok(text) => text,
        Err(ReadError::Io(e)) => return Err(e),
        Err(ReadError::Unusable(d)) => {
            diags.push(*d);
            return Ok(None);
        }
    };
    let doc = match Document::parse(Path::new(file_name), text) {
        Ok(doc) => doc,
        Err(d) => {
            diags.push(*d);
            return Ok(None);
        }
    };
    let Some(header) = read_header(&doc, diags) else {
        return Ok(None);
    };
    let files = discover_files(root, &header.paths);
    let texts = read_all(root, &files, diags);

    let mut project = Project {
        root: root.to_path_buf(),
        name: header.name.clone(),
        project_file: PathBuf::from(file_name),
        profile_name: header.profile.clone(),
        paths: header.paths.clone(),
        vars: merged_vars(&doc, &header.name, &opts.vars),
        target: Target::default_duckdb(&header.name, &header.paths.target),
        secrets: Secrets::new(Vec::new()),
        nodes: IndexMap::new(),
        sources: IndexMap::new(),
        macro_files: Vec::new(),
        macros: IndexMap::new(),
        on_run_start: hook_list(doc.root.get("on-run-start")),
        on_run_end: hook_list(doc.root.get("on-run-end")),
        static_analysis: opts
            .static_analysis
            .unwrap_or_else(|| header.static_analysis.unwrap_or_default()),
        unit_tests: IndexMap::new(),
    };

    let req = profile::ProfileRequest {
        profile_name: &header.profile,
        target_name: opts.target.as_deref(),
        explicit_dir: opts.profiles_dir.as_deref(),
        project_root: root,
        project_name: &header.name,
        target_path: &header.paths.target,
    };
    if let Some((target, secrets)) = profile::resolve(&req, diags) {
        project.target = target;
        project.secrets = secrets;
    }

    add_sql_nodes(&mut project, &texts, diags);
    add_macros(&mut project, &texts, diags);
    let yaml_docs = parse_yaml_files(&texts, diags);
    properties::apply(&mut project, &yaml_docs, diags);
    data_tests::add_generic_tests(&mut project, diags);
    unit_tests::check_models(&project, diags);
    apply_project_config(&mut project, &doc, diags);
    Ok(Some(project))
}

struct Header {
    name: String,
    profile: String,
    paths: Paths,
    static_analysis: Option<StaticAnalysis>,
}

fn read_header(doc: &Document, diags: &mut Diagnostics) -> Option<Header> {
    if !doc.root.is_map() {
        diags.push(doc.error_at(
            doc.root.pos,
            "project-file",
            "the project file must be a mapping of settings",
        ));
        return None;
    }
    for (key, _) in doc.root.entries() {
        if !PROJECT_KEYS.contains(&key.name.as_str()) {
            let mut d = doc.warning_at(
                key.pos,
                "unknown-key",
                format!("unknown key '{}' in the project file", key.name),
            );
            if let Some(close) = crate::diag::closest(&key.name, PROJECT_KEYS.iter().copied()) {
                d = d.hint(format!("did you mean '{close}'?"));
            }
            diags.push(d);
        }
    }
    if let Some(node) = doc
        .root
        .get("name")
        .filter(|n| n.as_scalar_string().is_none())
    {
        diags.push(doc.error_at(
            node.pos,
            "project-file",
            format!("`name:` must be a single word, not {}", node.kind()),
        ));
        return None;
    }
    let Some(name) = doc.root.get("name").and_then(Yaml::as_scalar_string) else {
        diags.push(
            doc.error_at(
                doc.root.pos,
                "project-file",
                "the project file has no `name:`",
            )
            .hint("add `name: my_project` at the top"),
        );
        return None;
    };
    if !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
        diags.push(doc.error_at(
            doc.root.get("name").map_or(doc.root.pos, |n| n.pos),
            "project-file",
            format!("project name '{name}' must contain only letters, digits and underscores"),
        ));
    }
    let profile = doc
        .root
        .get("profile")
        .and_then(Yaml::as_scalar_string)
        .unwrap_or_else(|| name.clone());
    let mut list = |keys: &[&str], default: &str| -> Vec<String> {
        match keys
            .iter()
            .find_map(|k| doc.root.get(k).map(|n| (*k, n)))
            .filter(|(_, n)| !n.is_null())
        {
            Some((key, node)) => folder_list(doc, key, node, diags),
            None => vec![default.to_string()],
        }
    };
    let target = doc
        .root
        .get("target-path")
        .and_then(Yaml::as_scalar_string)
        .unwrap_or_else(|| "target".into());
    let paths = Paths {
        models: list(&["model-paths", "source-paths"], "models"),
        macros: list(&["macro-paths"], "macros"),
        seeds: list(&["seed-paths", "data-paths"], "seeds"),
        tests: list(&["test-paths"], "tests"),
        clean_targets: list(&["clean-targets"], &target),
        target,
    };
    let static_analysis = doc.root.get("static_analysis").and_then(|n| {
        let parsed = StaticAnalysis::from_json(&n.to_json());
        if parsed.is_none() {
            diags.push(doc.error_at(
                n.pos,
                "config-value",
                "static_analysis must be one of strict, warn, off",
            ));
        }
        parsed
    });
    Some(Header {
        name,
        profile,
        paths,
        static_analysis,
    })
}

/// A `*-paths` list. A bare `model-paths: models` or a nested list used to be read as no
/// folders at all, so the project silently compiled nothing: each is an error at its place,
/// and what can be used is kept so that loading goes on to find other problems.
fn folder_list(doc: &Document, key: &str, node: &Yaml, diags: &mut Diagnostics) -> Vec<String> {
    if let Some(single) = node.as_scalar_string() {
        diags.push(
            doc.error_at(
                node.pos,
                "project-file",
                format!("`{key}` must be a list of folders"),
            )
            .hint(format!("write `{key}: [\"{single}\"]`")),
        );
        return vec![single];
    }
    if !matches!(node.value, yaml::Value::Seq(_)) {
        diags.push(doc.error_at(
            node.pos,
            "project-file",
            format!("`{key}` must be a list of folders, not {}", node.kind()),
        ));
        return Vec::new();
    }
    let mut folders = Vec::new();
    for item in node.items() {
        match item.as_scalar_string() {
            Some(folder) => folders.push(folder),
            None => diags.push(doc.error_at(
                item.pos,
                "project-file",
                format!("`{key}` must list folder names, not {}", item.kind()),
            )),
        }
    }
    folders
}

fn merged_vars(
    doc: &Document,
    project_name: &str,
    cli: &serde_json::Map<String, serde_json::Value>,
) -> serde_json::Map<String, serde_json::Value> {
    let mut vars = serde_json::Map::new();
    if let Some(node) = doc.root.get("vars") {
        for (key, value) in node.entries() {
            // `vars: {my_project: {...}}` scopes vars to a project; ours are the only ones.
            if key.name == project_name && value.is_map() {
                for (k, v) in value.entries() {
                    vars.insert(k.name.clone(), v.to_json());
                }
            } else {
                vars.insert(key.name.clone(), value.to_json());
            }
        }
    }
    vars.extend(cli.clone());
    vars
}

fn hook_list(node: Option<&Yaml>) -> Vec<String> {
    match node {
        Some(n) => match n.as_scalar_string() {
            Some(s) => vec![s],
            None => n
                .items()
                .iter()
                .filter_map(Yaml::as_scalar_string)
                .collect(),
        },
        None => Vec::new(),
    }
}

/// Which kind of file a discovered path is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum FileKind {
    Model,
    Macro,
    Seed,
    Singular,
    Yaml,
}

fn discover_files(root: &Path, paths: &Paths) -> Vec<(FileKind, PathBuf)> {
    let mut files = Vec::new();
    let mut walk = |dirs: &[String], kinds: &dyn Fn(&str) -> Option<FileKind>| {
        for dir in dirs {
            for path in walk_dir(root, Path::new(dir)) {
                let ext = path.extension().and_then(|e| e.to_str()).unwrap_or("");
                if let Some(kind) = kinds(ext) {
                    files.push((kind, path));
                }
            }
        }
    };
    walk(&paths.models, &|ext| match ext {
        "sql" => Some(FileKind::Model),
        "yml" | "yaml" => Some(FileKind::Yaml),
        _ => None,
    });
    walk(&paths.macros, &|ext| match ext {
        "sql" | "jinja" => Some(FileKind::Macro),
        "yml" | "yaml" => Some(FileKind::Yaml),
        _ => None,
    });
    walk(&paths.seeds, &|ext| match ext {
        "csv" => Some(FileKind::Seed),
        "yml" | "yaml" => Some(FileKind::Yaml),
        _ => None,
    });
    walk(&paths.tests, &|ext| match ext {
        "sql" => Some(FileKind::Singular),
        "yml" | "yaml" => Some(FileKind::Yaml),
        _ => None,
    });
    // `tests/generic/*.sql` hold `{% test %}` blocks: macros, not singular tests.
    for (kind, path) in &mut files {
        if *kind == FileKind::Singular && path.components().any(|c| c.as_os_str() == "generic") {
            *kind = FileKind::Macro;
        }
    }
    files.sort_by(|a, b| a.1.cmp(&b.1));
    files.dedup_by(|a, b| a.1 == b.1);
    files
}

/// Files under `dir`, relative to `root`, sorted. Hidden folders and nested projects (a folder
/// with its own project file, such as test fixtures) belong to someone else and are skipped.
fn walk_dir(root: &Path, dir: &Path) -> Vec<PathBuf> {
    let base = root.join(dir);
    walkdir::WalkDir::new(&base)
        .sort_by_file_name()
        .into_iter()
        .filter_entry(|e| {
            let name = e.file_name().to_string_lossy();
            if e.depth() == 0 {
                return true;
            }
            let nested_project =
                e.file_type().is_dir() && PROJECT_FILES.iter().any(|f| e.path().join(f).is_file());
            !name.starts_with('.') && !nested_project
        })
        .filter_map(Result::ok)
        .filter(|e| e.file_type().is_file())
        .filter_map(|e| e.path().strip_prefix(root).ok().map(Path::to_path_buf))
        .collect()
}

/// Why a file could not be read as text.
enum ReadError {
    Io(LoadError),
    /// Readable, but not usable (not UTF-8, an empty seed): a diagnostic at its place.
    Unusable(Box<Diagnostic>),
}

fn read(root: &Path, rel: &Path) -> Result<Arc<str>, ReadError> {
    let bytes = std::fs::read(root.join(rel)).map_err(|source| {
        ReadError::Io(LoadError::Io {
            path: rel.to_path_buf(),
            source,
        })
    })?;
    utf8_text(rel, bytes).map_err(ReadError::Unusable)
}

/// A file's bytes as text. Files saved in a legacy encoding (Latin-1, UTF-16) are common, and
/// "stream did not contain valid UTF-8" names neither the place nor the fix, so the error
/// points at the first byte that is not UTF-8, shown in a lossy copy of the text.
pub(crate) fn utf8_text(rel: &Path, bytes: Vec<u8>) -> Result<Arc<str>, Box<Diagnostic>> {
    match String::from_utf8(bytes) {
        // Editors on Windows save a byte-order mark that no parser here expects (sqlparser
        // stops at it); it is not part of the text.
        Ok(text) => Ok(Arc::from(text.strip_prefix('\u{feff}').unwrap_or(&text))),
        Err(err) => {
            let at = err.utf8_error().valid_up_to();
            let lossy = String::from_utf8_lossy(err.as_bytes()).into_owned();
            // The valid prefix is copied unchanged, so `at` is the same offset in `lossy`, where
            // the bad bytes became one U+FFFD.
            let location = Location::new(rel, Arc::from(lossy), at..at + '\u{fffd}'.len_utf8())
                .with_label("not UTF-8");
            Err(Box::new(
                Diagnostic::error(
                    "not-utf8",
                    format!("{} is not UTF-8 text", crate::diag::display_path(rel)),
                )
                .at(location)
                .hint("save the file as UTF-8"),
            ))
        }
    }
}

fn read_all(
    root: &Path,
    files: &[(FileKind, PathBuf)],
    diags: &mut Diagnostics,
) -> Vec<(FileKind, SourceFile)> {
    let results: Vec<_> = files
        .par_iter()
        .map(|(kind, path)| {
            // Seeds can be large and are read by the database, not by us; an empty one
            // would load as a table with no rows and a made-up column, so it is refused here.
            let text = if *kind == FileKind::Seed {
                match std::fs::metadata(root.join(path)) {
                    Ok(meta) if meta.len() == 0 => Err(ReadError::Unusable(Box::new(
                        Diagnostic::error(
                            "empty-seed",
                            format!("seed {} is empty", crate::diag::display_path(path)),
                        )
                        .at(Location::new(path, Arc::from(""), 0..0))
                        .hint("a seed needs at least a header line naming its columns"),
                    ))),
                    _ => Ok(Arc::from("")),
                }
            } else {
                read(root, path)
            };
            (kind, path, text)
        })
        .collect();
    let mut out = Vec::with_capacity(results.len());
    for (kind, path, text) in results {
        match text {
            Ok(text) => out.push((
                *kind,
                SourceFile {
                    path: path.clone(),
                    text,
                },
            )),
            Err(ReadError::Io(e)) => diags.push(Diagnostic::error("io", e.to_string())),
            Err(ReadError::Unusable(d)) => diags.push(*d),
        }
    }
    out
}

fn add_sql_nodes(project: &mut Project, files: &[(FileKind, SourceFile)], diags: &mut Diagnostics) {
    // Models and seeds share one namespace (`ref` cannot tell them apart); tests have their own.
    let mut seen: HashMap<(bool, String), PathBuf> = HashMap::new();
    for (kind, file) in files {
        let (resource_type, roots) = match kind {
            FileKind::Model => (ResourceType::Model, &project.paths.models),
            FileKind::Seed => (ResourceType::Seed, &project.paths.seeds),
            FileKind::Singular => (ResourceType::Test, &project.paths.tests),
            _ => continue,
        };
        let name = file
            .path
            .file_stem()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_default();
        let rel = roots
            .iter()
            .find_map(|r| file.path.strip_prefix(r).ok())
            .unwrap_or(&file.path)
            .to_path_buf();
        let clash_key = (resource_type == ResourceType::Test, name.clone());
        if let Some(first) = seen.get(&clash_key) {
            diags.push(
                Diagnostic::error(
                    "duplicate-name",
                    format!("two {}s are named '{name}'", resource_type.name()),
                )
                .at(file.location(0..0).with_label("second definition"))
                .note(format!(
                    "also defined in {}",
                    crate::diag::display_path(first)
                ))
                .hint("rename one of the files: `ref` needs model and seed names to be unique"),
            );
            continue;
        }
        seen.insert(clash_key, file.path.clone());
        let mut fqn = vec![project.name.clone()];
        fqn.extend(
            rel.parent()
                .into_iter()
                .flat_map(|p| p.iter().map(|c| c.to_string_lossy().into_owned())),
        );
        fqn.push(name.clone());
        let unique_id = format!("{}.{}.{}", resource_type.name(), project.name, name);
        project.nodes.insert(
            unique_id.clone(),
            Node {
                unique_id,
                name,
                resource_type,
                file: file.clone(),
                path: rel,
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
}

fn add_macros(project: &mut Project, files: &[(FileKind, SourceFile)], diags: &mut Diagnostics) {
    for (kind, file) in files {
        if *kind != FileKind::Macro {
            continue;
        }
        for def in macros::macro_definitions(&file.text) {
            let name = if def.is_test {
                format!("test_{}", def.name)
            } else {
                def.name.clone()
            };
            if let Some(first) = project.macros.get(&name) {
                diags.push(
                    Diagnostic::error(
                        "duplicate-macro",
                        format!("macro '{name}' is defined twice"),
                    )
                    .at(file
                        .location(def.span.clone())
                        .with_label("second definition"))
                    .note(format!(
                        "first defined in {}:{}",
                        crate::diag::display_path(&first.path),
                        first.line
                    )),
                );
                continue;
            }
            let line = crate::diag::line_col(&file.text, def.span.start).0;
            project.macros.insert(
                name.clone(),
                MacroDef {
                    unique_id: format!("macro.{}.{}", project.name, name),
                    name,
                    path: file.path.clone(),
                    line,
                    is_test: def.is_test,
                },
            );
        }
        project.macro_files.push(file.clone());
    }
    add_builtin_tests(project);
}

/// etlx's own generic tests, as a macro file read before the project's, so that a project's
/// `{% test not_null(...) %}` replaces the built-in one.
fn add_builtin_tests(project: &mut Project) {
    let file = SourceFile {
        path: PathBuf::from(BUILTIN_TESTS_PATH),
        text: Arc::from(include_str!("../template/builtin_tests.sql")),
    };
    for def in macros::macro_definitions(&file.text) {
        let name = format!("test_{}", def.name);
        if project.macros.contains_key(&name) {
            continue;
        }
        let line = crate::diag::line_col(&file.text, def.span.start).0;
        project.macros.insert(
            name.clone(),
            MacroDef {
                unique_id: format!("macro.etlx.{name}"),
                name,
                path: file.path.clone(),
                line,
                is_test: true,
            },
        );
    }
    project.macro_files.insert(0, file);
}

/// Where the built-in generic tests appear to live, in error messages and the manifest.
pub const BUILTIN_TESTS_PATH: &str = "<etlx>/builtin_tests.sql";

fn parse_yaml_files(files: &[(FileKind, SourceFile)], diags: &mut Diagnostics) -> Vec<Document> {
    let parsed: Vec<_> = files
        .par_iter()
        .filter(|(kind, _)| *kind == FileKind::Yaml)
        .map(|(_, f)| Document::parse(&f.path, f.text.clone()))
        .collect();
    let mut docs = Vec::new();
    for result in parsed {
        match result {
            Ok(doc) => docs.push(doc),
            Err(d) => diags.push(*d),
        }
    }
    docs
}

/// Apply folder-level `+key` config from the project file. Each resource's config path is its
/// fqn; a config path that matches nothing is reported, since it is almost always a typo.
fn apply_project_config(project: &mut Project, doc: &Document, diags: &mut Diagnostics) {
    for (section, resource_type) in [
        ("models", ResourceType::Model),
        ("seeds", ResourceType::Seed),
        ("data_tests", ResourceType::Test),
        ("tests", ResourceType::Test),
        ("sources", ResourceType::Source),
    ] {
        let Some(tree) = doc.root.get(section) else {
            continue;
        };
        let mut used = Vec::new();
        let fqns: Vec<(String, Vec<String>)> = match resource_type {
            ResourceType::Source => project
                .sources
                .values()
                .map(|s| (s.unique_id.clone(), s.fqn.clone()))
                .collect(),
            _ => project
                .nodes
                .values()
                .filter(|n| n.resource_type == resource_type)
                .map(|n| (n.unique_id.clone(), n.fqn.clone()))
                .collect(),
        };
        for (id, fqn) in fqns {
            let layer = folder_config(tree, &fqn, &mut used);
            let config = match resource_type {
                ResourceType::Source => project.sources.get_mut(&id).map(|s| &mut s.config),
                _ => project.nodes.get_mut(&id).map(|n| &mut n.config),
            };
            if let Some(config) = config {
                // Project config is the weakest layer: YAML config already read goes on top.
                let mut merged = layer;
                merged.merge_all(config);
                *config = merged;
            }
        }
        report_unused_paths(tree, section, &project.name, doc, &used, diags);
    }
}

fn folder_config(tree: &Yaml, fqn: &[String], used: &mut Vec<(usize, usize)>) -> Config {
    let mut config = Config::default();
    let mut level = Some(tree);
    let mut parts = fqn.iter();
    while let Some(node) = level {
        for (key, value) in node.entries() {
            if is_config_entry(&key.name, value) {
                config.merge(&key.name, value.to_json());
            }
        }
        used.push((node.pos.line, node.pos.col));
        level = parts.next().and_then(|part| node.get(part));
    }
    config
}

/// In the project file `+key` is always config; a bare known key is config unless it holds a
/// mapping (then it is a folder that happens to share a config key's name).
fn is_config_entry(key: &str, value: &Yaml) -> bool {
    key.starts_with('+') || (Config::is_known(key) && !value.is_map())
}

fn report_unused_paths(
    tree: &Yaml,
    section: &str,
    project_name: &str,
    doc: &Document,
    used: &[(usize, usize)],
    diags: &mut Diagnostics,
) {
    let mut stack = vec![(tree, vec![section.to_string()])];
    while let Some((node, path)) = stack.pop() {
        for (key, value) in node.entries() {
            if key.name.starts_with('+') && !Config::is_known(&key.name) {
                // Custom config keys are allowed (macros may read them), but most are typos.
                if let Some(close) = crate::diag::closest(
                    &Config::normalize_key(&key.name),
                    config::KNOWN_KEYS.iter().copied(),
                ) {
                    diags.push(
                        doc.warning_at(
                            key.pos,
                            "unknown-config",
                            format!("unknown config '{}'", key.name),
                        )
                        .hint(format!("did you mean '+{close}'?")),
                    );
                }
            }
            if is_config_entry(&key.name, value) {
                if let Some(problem) = Config::value_problem(&key.name, &value.to_json()) {
                    diags.push(doc.error_at(value.pos, "config-value", problem));
                }
                continue;
            }
            if !value.is_map() {
                diags.push(
                    doc.warning_at(
                        key.pos,
                        "unknown-key",
                        format!(
                            "'{}' under {} is neither a folder nor a known config",
                            key.name,
                            path.join(".")
                        ),
                    )
                    .hint(format!(
                        "config keys in the project file start with '+': `+{}`",
                        key.name
                    )),
                );
                continue;
            }
            let mut sub = path.clone();
            sub.push(key.name.clone());
            if !used.contains(&(value.pos.line, value.pos.col)) {
                let is_other_package = path.len() == 1 && key.name != project_name;
                let message = if is_other_package {
                    format!(
                        "config path {} matches no resource: '{}' is not this project (`{project_name}`)",
                        sub.join("."),
                        key.name
                    )
                } else {
                    format!("config path {} matches no resource", sub.join("."))
                };
                diags.push(doc.warning_at(key.pos, "unused-config-path", message));
                continue;
            }
            stack.push((value, sub));
        }
    }
}

/// Lowercase hex SHA-256: the checksum dbt writes for files and the stable suffix of test names.
pub fn hex_sha256(bytes: &[u8]) -> String {
    sha2::Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

//! Loading: from a directory to a `Project` and its diagnostics.
//!
//! The order matters and is fixed here: the project file first (it says where everything
//! else is), then every file read in parallel, then SQL nodes and macros, then YAML
//! properties, then the project file's folder configs applied over them.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use indexmap::IndexMap;
use rayon::prelude::*;

use super::folder_config::apply_project_config;
use super::packages;
use super::project_file::{PROJECT_FILES, hook_list, merged_vars, read_header};
use super::yaml::Document;
use super::*;
use crate::diag::{Diagnostic, Diagnostics, Location};

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
    if !opts.skip_version_check {
        super::dbt_version::check_required_version(&doc, diags);
    }
    let mut files = discover_files(root, &header.paths);
    let installed = packages::installed(root, &header.paths.packages);
    files.extend(package_macro_files(root, &header.paths, &installed, diags));
    files.extend(package_node_files(root, &installed));
    let texts = read_all(root, &files, diags);

    let mut project = Project {
        root: root.to_path_buf(),
        name: header.name.clone(),
        project_file: PathBuf::from(file_name),
        profile_name: header.profile.clone(),
        paths: header.paths.clone(),
        vars: merged_vars(&doc, &header.name, &installed, &opts.vars),
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

    add_sql_nodes(&mut project, &texts, &installed, diags);
    add_macros(&mut project, &texts, diags);
    let yaml_docs = parse_yaml_files(&texts, diags);
    properties::apply(&mut project, &yaml_docs, diags);
    super::data_test_specs::add_generic_tests(&mut project, diags);
    super::unit_test_specs::check_models(&project, diags);
    apply_project_config(&mut project, &doc, diags);
    // A package's own folder configs come after (weaker than) the project's; paths in them
    // that match nothing are the package's business, not the user's.
    for package in &installed {
        if let Some(package_doc) = packages::package_project(&root.join(&package.dir)) {
            apply_project_config(&mut project, &package_doc, &mut Diagnostics::default());
        }
    }
    Ok(Some(project))
}

/// Which kind of file a discovered path is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum FileKind {
    Model,
    Macro,
    /// A macro file of an installed package: the root project's macros win over it.
    PackageMacro,
    Seed,
    Singular,
    Snapshot,
    Yaml,
}

/// The macro files of every installed package; an error when `packages.yml` declares more
/// packages than are installed.
fn package_macro_files(
    root: &Path,
    paths: &Paths,
    installed: &[packages::Installed],
    diags: &mut Diagnostics,
) -> Vec<(FileKind, PathBuf)> {
    let declared = packages::declared(root, diags);
    if let Some(d) = packages::check_installed(&declared, installed, &paths.packages) {
        diags.push(d);
    }
    let mut files = Vec::new();
    for package in installed {
        for dir in &package.macro_paths {
            for path in walk_dir(root, &package.dir.join(dir)) {
                if path.extension().is_some_and(|e| e == "sql" || e == "jinja") {
                    files.push((FileKind::PackageMacro, path));
                }
            }
        }
    }
    files
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
    walk(&paths.snapshots, &|ext| match ext {
        "sql" => Some(FileKind::Snapshot),
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
pub fn utf8_text(rel: &Path, bytes: Vec<u8>) -> Result<Arc<str>, Box<Diagnostic>> {
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

/// The model and seed files of every installed package, and the YAML beside them.
fn package_node_files(root: &Path, installed: &[packages::Installed]) -> Vec<(FileKind, PathBuf)> {
    let mut files = Vec::new();
    for package in installed {
        let folders = [
            (&package.model_paths, FileKind::Model, "sql"),
            (&package.seed_paths, FileKind::Seed, "csv"),
        ];
        for (dirs, kind, ext) in folders {
            for dir in dirs {
                for path in walk_dir(root, &package.dir.join(dir)) {
                    match path.extension().and_then(|e| e.to_str()) {
                        Some(e) if e == ext => files.push((kind, path)),
                        Some("yml" | "yaml") => files.push((FileKind::Yaml, path)),
                        _ => {}
                    }
                }
            }
        }
    }
    files
}

fn add_sql_nodes(
    project: &mut Project,
    files: &[(FileKind, SourceFile)],
    installed: &[packages::Installed],
    diags: &mut Diagnostics,
) {
    // Models, seeds and snapshots share one namespace (`ref` cannot tell them apart); tests
    // have their own.
    let mut seen: HashMap<(bool, String), PathBuf> = HashMap::new();
    for (kind, file) in files {
        // A package's models and seeds are nodes of that package, named by it in their fqn.
        let package = installed.iter().find(|p| file.path.starts_with(&p.dir));
        let (resource_type, roots): (ResourceType, Vec<PathBuf>) = match (kind, package) {
            (FileKind::Model, Some(p)) => (ResourceType::Model, in_package(p, &p.model_paths)),
            (FileKind::Seed, Some(p)) => (ResourceType::Seed, in_package(p, &p.seed_paths)),
            (FileKind::Model, None) => (ResourceType::Model, as_paths(&project.paths.models)),
            (FileKind::Seed, None) => (ResourceType::Seed, as_paths(&project.paths.seeds)),
            (FileKind::Singular, _) => (ResourceType::Test, as_paths(&project.paths.tests)),
            (FileKind::Snapshot, _) => (ResourceType::Snapshot, as_paths(&project.paths.snapshots)),
            _ => continue,
        };
        let package_name = package.map_or(project.name.clone(), |p| p.name.clone());
        let stem = file
            .path
            .file_stem()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_default();
        let rel = roots
            .iter()
            .find_map(|r| file.path.strip_prefix(r).ok())
            .unwrap_or(&file.path)
            .to_path_buf();
        let mut folder_fqn = vec![package_name.clone()];
        folder_fqn.extend(
            rel.parent()
                .into_iter()
                .flat_map(|p| p.iter().map(|c| c.to_string_lossy().into_owned())),
        );
        // A snapshot file may hold several blocks; dbt names each by the file, then the block.
        let entries = match kind {
            FileKind::Snapshot => {
                folder_fqn.push(stem);
                snapshot_entries(file, diags)
            }
            _ => vec![(stem, file.clone())],
        };
        for (name, file) in entries {
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
                    .hint("rename one of them: `ref` needs model, seed and snapshot names to be unique"),
                );
                continue;
            }
            seen.insert(clash_key, file.path.clone());
            let mut fqn = folder_fqn.clone();
            fqn.push(name.clone());
            project.add_node(resource_type, &package_name, name, file, rel.clone(), fqn);
        }
    }
}

fn as_paths(folders: &[String]) -> Vec<PathBuf> {
    folders.iter().map(PathBuf::from).collect()
}

fn in_package(package: &packages::Installed, folders: &[String]) -> Vec<PathBuf> {
    folders.iter().map(|f| package.dir.join(f)).collect()
}

/// Each `{% snapshot %}` block of a file, as a name and the file with only its body left.
fn snapshot_entries(file: &SourceFile, diags: &mut Diagnostics) -> Vec<(String, SourceFile)> {
    match super::snapshot_blocks::snapshot_blocks(&file.text) {
        Ok(blocks) if blocks.is_empty() => {
            diags.push(
                Diagnostic::error(
                    "snapshot-block",
                    "this file in a snapshot folder holds no snapshot",
                )
                .at(file.location(0..0))
                .hint("wrap the query in {% snapshot name %} ... {% endsnapshot %}, or move the file to the models folder"),
            );
            Vec::new()
        }
        Ok(blocks) => blocks
            .into_iter()
            .map(|b| {
                let text = super::snapshot_blocks::blank_outside(&file.text, &b.body);
                let file = SourceFile {
                    path: file.path.clone(),
                    text: Arc::from(text),
                };
                (b.name, file)
            })
            .collect(),
        Err(e) => {
            diags.push(Diagnostic::error("snapshot-block", e.message).at(file.location(e.span)));
            Vec::new()
        }
    }
}

fn add_macros(project: &mut Project, files: &[(FileKind, SourceFile)], diags: &mut Diagnostics) {
    let own = files.iter().filter(|(kind, _)| *kind == FileKind::Macro);
    for (_, file) in own.clone() {
        for def in macros::macro_definitions(&file.text) {
            let name = macro_name(&def);
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
            let unique_id = format!("macro.{}.{}", project.name, name);
            insert_macro(project, file, &def, unique_id);
        }
    }
    // A package's macro of a name the project defines stays out: the project's wins, as in
    // dbt's dispatch order. Package files come first in the imports for the same reason.
    let packaged = files
        .iter()
        .filter(|(kind, _)| *kind == FileKind::PackageMacro);
    for (_, file) in packaged.clone() {
        let package = package_of(&project.paths.packages, &file.path);
        for def in macros::macro_definitions(&file.text) {
            let name = macro_name(&def);
            if !project.macros.contains_key(&name) {
                let unique_id = format!("macro.{package}.{name}");
                insert_macro(project, file, &def, unique_id);
            }
        }
    }
    project.macro_files = packaged.chain(own).map(|(_, f)| f.clone()).collect();
    add_builtin_macros(project);
}

fn macro_name(def: &macros::MacroDefinition) -> String {
    match def.is_test {
        true => format!("test_{}", def.name),
        false => def.name.clone(),
    }
}

fn insert_macro(
    project: &mut Project,
    file: &SourceFile,
    def: &macros::MacroDefinition,
    unique_id: String,
) {
    let name = macro_name(def);
    let line = crate::diag::line_col(&file.text, def.span.start).0;
    project.macros.insert(
        name.clone(),
        MacroDef {
            unique_id,
            name,
            path: file.path.clone(),
            line,
            is_test: def.is_test,
        },
    );
}

/// The package a file under `install_path` belongs to: the folder it is installed in.
fn package_of(install_path: &str, file: &Path) -> String {
    file.strip_prefix(install_path)
        .ok()
        .and_then(|rest| rest.components().next())
        .map(|c| c.as_os_str().to_string_lossy().into_owned())
        .unwrap_or_default()
}

/// etlx's own macro files, read before the project's so that a project's macro of the same
/// name (a `{% test not_null(...) %}`, a `default__date_trunc`) replaces the built-in one:
/// the generic tests, and dbt's global macros (`dbt.date_trunc`, `type_string`, ...).
fn add_builtin_macros(project: &mut Project) {
    let builtins = [
        (
            BUILTIN_TESTS_PATH,
            include_str!("../template/builtin_tests.sql"),
        ),
        (DBT_MACROS_PATH, include_str!("../template/dbt_macros.sql")),
    ];
    for (i, (path, text)) in builtins.into_iter().enumerate() {
        let file = SourceFile {
            path: PathBuf::from(path),
            text: Arc::from(text),
        };
        for def in macros::macro_definitions(&file.text) {
            let name = match def.is_test {
                true => format!("test_{}", def.name),
                false => def.name,
            };
            if project.macros.contains_key(&name) {
                continue;
            }
            let line = crate::diag::line_col(&file.text, def.span.start).0;
            let package = if def.is_test { "etlx" } else { "dbt" };
            project.macros.insert(
                name.clone(),
                MacroDef {
                    unique_id: format!("macro.{package}.{name}"),
                    name,
                    path: file.path.clone(),
                    line,
                    is_test: def.is_test,
                },
            );
        }
        project.macro_files.insert(i, file);
    }
}

/// Where the built-in generic tests appear to live, in error messages and the manifest.
pub const BUILTIN_TESTS_PATH: &str = "<etlx>/builtin_tests.sql";

/// Where dbt's global macros appear to live.
pub const DBT_MACROS_PATH: &str = "<etlx>/dbt_macros.sql";

/// Whether `path` is one of etlx's own macro files rather than the project's.
pub fn is_builtin_macro_file(path: &std::path::Path) -> bool {
    path == std::path::Path::new(BUILTIN_TESTS_PATH)
        || path == std::path::Path::new(DBT_MACROS_PATH)
}

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

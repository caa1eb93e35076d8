//! The packages a project depends on: what `packages.yml` asks for, and what `etlx deps`
//! installed under `dbt_packages/`.
//!
//! Most dbt projects lean on packages (dbt_utils, dbt_date, ...) for macros and generic
//! tests. Loading reads each installed package's project file for where its macros are, and
//! a project that declares packages nobody installed is stopped before it compiles into
//! "no macro named ..." errors far from the cause.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use super::yaml::{Document, Yaml};
use crate::diag::{Diagnostic, Diagnostics};

/// Files that declare packages, in dbt's order of preference.
pub const PACKAGE_FILES: &[&str] = &["packages.yml", "dependencies.yml"];

/// Where `etlx deps` installs packages, unless `packages-install-path` says otherwise.
pub const DEFAULT_INSTALL_PATH: &str = "dbt_packages";

/// One entry of `packages:`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PackageSpec {
    /// `- local: ../shared_macros`
    Local { path: String },
    /// `- git: https://...` with an optional `revision` (branch, tag or commit) and
    /// `subdirectory` (a package inside a bigger repository).
    Git {
        url: String,
        revision: Option<String>,
        subdirectory: Option<String>,
    },
    /// `- package: dbt-labs/dbt_utils` with `version` (ranges joined by `, `), from dbt's
    /// package hub; `prerelease` is `install_prerelease`.
    Hub {
        package: String,
        version: String,
        prerelease: bool,
    },
}

/// An installed package: its name (from its own project file) and where its macros are.
#[derive(Debug, Clone)]
pub struct Installed {
    pub name: String,
    /// Relative to the project root, e.g. `dbt_packages/dbt_utils`.
    pub dir: PathBuf,
    pub macro_paths: Vec<String>,
    /// Its model and seed folders: their models and seeds are nodes of the package.
    pub model_paths: Vec<String>,
    pub seed_paths: Vec<String>,
    /// The `vars:` of its project file: defaults its macros read (`"dbt_date:time_zone"`).
    pub vars: serde_json::Map<String, serde_json::Value>,
}

/// The packages file of `root` (`packages.yml`, else `dependencies.yml`), parsed; `None`
/// when there is none or it does not parse (loading reports that).
pub fn declaration(root: &Path) -> Option<(&'static str, Document)> {
    let (file, text) = PACKAGE_FILES
        .iter()
        .find_map(|f| std::fs::read_to_string(root.join(f)).ok().map(|t| (*f, t)))?;
    Document::parse(Path::new(file), Arc::from(text))
        .ok()
        .map(|doc| (file, doc))
}

/// The packages `root` declares, with problems in the file as diagnostics.
pub fn declared(root: &Path, diags: &mut Diagnostics) -> Vec<PackageSpec> {
    let Some((file, text)) = PACKAGE_FILES
        .iter()
        .find_map(|f| std::fs::read_to_string(root.join(f)).ok().map(|t| (*f, t)))
    else {
        return Vec::new();
    };
    let doc = match Document::parse(Path::new(file), Arc::from(text)) {
        Ok(doc) => doc,
        Err(d) => {
            diags.push(*d);
            return Vec::new();
        }
    };
    let Some(list) = doc.root.get("packages") else {
        return Vec::new();
    };
    list.items()
        .iter()
        .filter_map(|entry| spec(&doc, entry, diags))
        .collect()
}

fn spec(doc: &Document, entry: &Yaml, diags: &mut Diagnostics) -> Option<PackageSpec> {
    let text = |key: &str| entry.get(key).and_then(Yaml::as_scalar_string);
    if let Some(path) = text("local") {
        return Some(PackageSpec::Local { path });
    }
    if let Some(url) = text("git") {
        return Some(PackageSpec::Git {
            url,
            revision: text("revision"),
            subdirectory: text("subdirectory"),
        });
    }
    if let Some(package) = text("package") {
        let prerelease = ["install_prerelease", "install-prerelease"]
            .iter()
            .any(|k| entry.get(k).map(Yaml::to_json) == Some(serde_json::Value::Bool(true)));
        return Some(PackageSpec::Hub {
            package,
            version: entry.get("version").map(version_text).unwrap_or_default(),
            prerelease,
        });
    }
    diags.push(
        doc.error_at(
            entry.pos,
            "packages",
            "a package entry needs `local:`, `git:` or `package:`",
        )
        .hint("e.g. `- git: https://github.com/dbt-labs/dbt-utils.git` with `revision: 1.3.0`"),
    );
    None
}

/// `version: 1.3.0` or a range list `[">=1.0.0", "<2.0.0"]`, as one string.
fn version_text(node: &Yaml) -> String {
    match node.items() {
        [] => node.as_scalar_string().unwrap_or_default(),
        items => items
            .iter()
            .filter_map(Yaml::as_scalar_string)
            .collect::<Vec<_>>()
            .join(", "),
    }
}

/// The packages installed under `install_path`, in name order.
pub fn installed(root: &Path, install_path: &str) -> Vec<Installed> {
    let Ok(entries) = std::fs::read_dir(root.join(install_path)) else {
        return Vec::new();
    };
    let mut out: Vec<Installed> = entries
        .filter_map(Result::ok)
        .filter_map(|e| read_installed(root, &Path::new(install_path).join(e.file_name())))
        .collect();
    out.sort_by(|a, b| a.name.cmp(&b.name));
    out
}

fn read_installed(root: &Path, dir: &Path) -> Option<Installed> {
    let (doc, name) = read_package_file(&root.join(dir))?;
    let vars = doc
        .root
        .get("vars")
        .map(Yaml::to_json)
        .and_then(|v| v.as_object().cloned())
        .unwrap_or_default();
    Some(Installed {
        name,
        dir: dir.to_path_buf(),
        macro_paths: folders(&doc, &["macro-paths"], "macros"),
        model_paths: folders(&doc, &["model-paths", "source-paths"], "models"),
        seed_paths: folders(&doc, &["seed-paths", "data-paths"], "seeds"),
        vars,
    })
}

/// The name of the package in `dir`, from its project file.
pub fn package_name(dir: &Path) -> Option<String> {
    read_package_file(dir).map(|(_, name)| name)
}

/// The project file of the package in `dir`, parsed (for its folder configs).
pub fn package_project(dir: &Path) -> Option<Document> {
    read_package_file(dir).map(|(doc, _)| doc)
}

fn read_package_file(dir: &Path) -> Option<(Document, String)> {
    let file = super::PROJECT_FILES
        .iter()
        .map(|f| dir.join(f))
        .find(|f| f.is_file())?;
    let text = std::fs::read_to_string(&file).ok()?;
    let doc = Document::parse(&file, Arc::from(text)).ok()?;
    let name = doc.root.get("name").and_then(Yaml::as_scalar_string)?;
    Some((doc, name))
}

/// A `*-paths` list of a package's project file, or its default.
fn folders(doc: &Document, keys: &[&str], default: &str) -> Vec<String> {
    keys.iter()
        .find_map(|k| doc.root.get(k))
        .map(|n| {
            n.items()
                .iter()
                .filter_map(Yaml::as_scalar_string)
                .collect()
        })
        .filter(|p: &Vec<String>| !p.is_empty())
        .unwrap_or_else(|| vec![default.to_string()])
}

/// `packages-install-path` of the project at `root`, read without loading the project (a
/// project whose packages are missing does not load, and installing them must still work).
pub fn install_path(root: &Path) -> String {
    super::PROJECT_FILES
        .iter()
        .find_map(|f| std::fs::read_to_string(root.join(f)).ok().map(|t| (*f, t)))
        .and_then(|(f, text)| Document::parse(Path::new(f), Arc::from(text)).ok())
        .map_or_else(
            || DEFAULT_INSTALL_PATH.to_string(),
            |doc| install_path_in(&doc),
        )
}

/// `packages-install-path` of a parsed project file, or dbt's default.
pub(super) fn install_path_in(doc: &Document) -> String {
    doc.root
        .get("packages-install-path")
        .and_then(Yaml::as_scalar_string)
        .unwrap_or_else(|| DEFAULT_INSTALL_PATH.to_string())
}

/// An error when packages are declared but not all installed.
pub fn check_installed(
    declared: &[PackageSpec],
    installed: &[Installed],
    install_path: &str,
) -> Option<Diagnostic> {
    (installed.len() < declared.len()).then(|| {
        Diagnostic::error(
            "packages",
            format!(
                "{} package(s) are declared in packages.yml but {} installed in {install_path}/",
                declared.len(),
                installed.len()
            ),
        )
        .hint("run `etlx deps` to install them")
    })
}

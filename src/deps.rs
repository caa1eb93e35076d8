//! `etlx deps`: install the packages a project declares into its `dbt_packages/`.
//!
//! Installing writes into the user's project and runs `git`, so it is its own command and its
//! own module; loading only reads what is installed (`project::packages`). Local packages are
//! linked, not copied, so editing one shows at once, as with dbt. Each package's own
//! `packages.yml` is installed too; two packages of one name are an error, not a silent pick.

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::diag::Diagnostics;
use crate::project::packages::{self, PackageSpec};

#[derive(Debug, thiserror::Error)]
pub enum DepsError {
    #[error(
        "hub package '{package}' (version {version}): the dbt package hub is not supported yet; \
         declare it with `- git: <its repository URL>` and `revision: <its version tag>`"
    )]
    Hub { package: String, version: String },
    #[error("{0} has no dbt_project.yml, so it is not a dbt package")]
    NotAPackage(String),
    #[error("two packages are named '{name}': {first} and {second}")]
    Duplicate {
        name: String,
        first: String,
        second: String,
    },
    #[error("git {args}: {message}")]
    Git { args: String, message: String },
    #[error("cannot {doing} {}: {source}", path.display())]
    Io {
        doing: &'static str,
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("packages.yml has errors")]
    Declared(Diagnostics),
}

/// A package `install` put in place.
#[derive(Debug, Clone)]
pub struct Installed {
    pub name: String,
    /// Where it came from: the local path or `url@revision`.
    pub from: String,
}

/// Install the packages `root` declares (and theirs) into `root/install_path`, replacing
/// what was there; returns them in install order.
pub fn install(root: &Path, install_path: &str) -> Result<Vec<Installed>, DepsError> {
    let dir = root.join(install_path);
    std::fs::create_dir_all(&dir).map_err(io("create", &dir))?;
    let mut done: Vec<Installed> = Vec::new();
    let mut queue = vec![(root.to_path_buf(), declared(root)?)];
    while let Some((declaring, specs)) = queue.pop() {
        for spec in specs {
            let (source, from, _checkout) = fetch(&declaring, &dir, &spec)?;
            let name = package_name(&source)?;
            if let Some(first) = done.iter().find(|p| p.name == name) {
                if first.from == from {
                    continue;
                }
                return Err(DepsError::Duplicate {
                    name,
                    first: first.from.clone(),
                    second: from,
                });
            }
            let target = dir.join(&name);
            remove(&target)?;
            place(&spec, &source, &target)?;
            queue.push((target.clone(), declared(&target)?));
            done.push(Installed { name, from });
        }
    }
    Ok(done)
}

fn declared(root: &Path) -> Result<Vec<PackageSpec>, DepsError> {
    let mut diags = Diagnostics::default();
    let specs = packages::declared(root, &mut diags);
    match diags.has_errors() {
        true => Err(DepsError::Declared(diags)),
        false => Ok(specs),
    }
}

/// Where the package's files are, how to name its origin, and the temporary checkout that
/// holds them (removed when dropped).
fn fetch(
    declaring: &Path,
    dir: &Path,
    spec: &PackageSpec,
) -> Result<(PathBuf, String, Option<TempCheckout>), DepsError> {
    match spec {
        PackageSpec::Local { path } => {
            let source = declaring.join(path);
            let source = source.canonicalize().map_err(io("read", &source))?;
            Ok((source, path.clone(), None))
        }
        PackageSpec::Git {
            url,
            revision,
            subdirectory,
        } => {
            let checkout = TempCheckout::clone(dir, url, revision.as_deref())?;
            let source = match subdirectory {
                Some(sub) => checkout.path.join(sub),
                None => checkout.path.clone(),
            };
            let from = format!("{url}@{}", revision.as_deref().unwrap_or("HEAD"));
            Ok((source, from, Some(checkout)))
        }
        PackageSpec::Hub { package, version } => Err(DepsError::Hub {
            package: package.clone(),
            version: version.clone(),
        }),
    }
}

/// A package's name: the `name:` of its project file.
fn package_name(source: &Path) -> Result<String, DepsError> {
    packages::read_package(source)
        .map(|(name, _)| name)
        .ok_or_else(|| DepsError::NotAPackage(source.display().to_string()))
}

/// Local packages are linked; fetched ones are moved out of their checkout.
fn place(spec: &PackageSpec, source: &Path, target: &Path) -> Result<(), DepsError> {
    match spec {
        PackageSpec::Local { .. } => link(source, target),
        _ => copy_dir(source, target),
    }
}

#[cfg(unix)]
fn link(source: &Path, target: &Path) -> Result<(), DepsError> {
    std::os::unix::fs::symlink(source, target).map_err(io("link", target))
}

#[cfg(not(unix))]
fn link(source: &Path, target: &Path) -> Result<(), DepsError> {
    copy_dir(source, target)
}

/// Copy a folder, leaving out version-control metadata.
fn copy_dir(source: &Path, target: &Path) -> Result<(), DepsError> {
    for entry in walkdir::WalkDir::new(source)
        .into_iter()
        .filter_entry(|e| e.file_name() != ".git")
    {
        let entry = entry.map_err(|e| DepsError::Io {
            doing: "read",
            path: source.to_path_buf(),
            source: e.into(),
        })?;
        let rel = entry.path().strip_prefix(source).unwrap_or(entry.path());
        let to = target.join(rel);
        if entry.file_type().is_dir() {
            std::fs::create_dir_all(&to).map_err(io("create", &to))?;
        } else {
            std::fs::copy(entry.path(), &to).map_err(io("write", &to))?;
        }
    }
    Ok(())
}

/// Remove an installed package (a link or a folder), if there.
fn remove(target: &Path) -> Result<(), DepsError> {
    let Ok(meta) = std::fs::symlink_metadata(target) else {
        return Ok(());
    };
    match meta.is_dir() {
        true => std::fs::remove_dir_all(target),
        false => std::fs::remove_file(target),
    }
    .map_err(io("remove", target))
}

fn io(doing: &'static str, path: &Path) -> impl FnOnce(std::io::Error) -> DepsError {
    let path = path.to_path_buf();
    move |source| DepsError::Io {
        doing,
        path,
        source,
    }
}

/// A git checkout in a temporary folder beside the installed packages (same file system).
struct TempCheckout {
    path: PathBuf,
}

impl TempCheckout {
    fn clone(dir: &Path, url: &str, revision: Option<&str>) -> Result<TempCheckout, DepsError> {
        let path = dir.join(format!(".etlx-checkout-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&path);
        let checkout = TempCheckout { path };
        let target = checkout.path.display().to_string();
        git(&["clone", "--quiet", url, &target])?;
        if let Some(revision) = revision {
            git(&["-C", &target, "checkout", "--quiet", revision])?;
        }
        Ok(checkout)
    }
}

impl Drop for TempCheckout {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.path);
    }
}

fn git(args: &[&str]) -> Result<(), DepsError> {
    let shown = args.join(" ");
    let out = Command::new("git")
        .args(args)
        .output()
        .map_err(|e| DepsError::Git {
            args: shown.clone(),
            message: format!("cannot run git ({e}); install git to use git packages"),
        })?;
    match out.status.success() {
        true => Ok(()),
        false => Err(DepsError::Git {
            args: shown,
            message: String::from_utf8_lossy(&out.stderr).trim().to_string(),
        }),
    }
}

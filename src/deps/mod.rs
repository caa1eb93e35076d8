//! `etlx deps`: install the packages a project declares into its `dbt_packages/`.
//!
//! Installing writes into the user's project and reaches the network (git, dbt's package
//! hub), so it is its own command and its own module; loading only reads what is installed
//! (`project::packages`). Local packages are linked, not copied, so editing one shows at once,
//! as with dbt. Each package's own `packages.yml` is installed too; hub packages declared in
//! several places get the newest release all their ranges allow; two different packages of
//! one name are an error, not a silent pick. What was installed is written to
//! `package-lock.yml`, and installed again as it is until `packages.yml` changes.

mod hub;
pub mod lock;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::Command;

use indexmap::IndexMap;

use crate::diag::Diagnostics;
use crate::project::packages::{self, PackageSpec};

#[derive(Debug, thiserror::Error)]
pub enum DepsError {
    #[error("package hub, {url}: {message}")]
    Hub { url: String, message: String },
    #[error("hub package '{package}': {message}")]
    Version { package: String, message: String },
    #[error("hub package '{0}' was not read")]
    Missing(String),
    #[error(
        "hub packages keep changing each other's versions ({0}); pin their versions in packages.yml"
    )]
    Unsettled(String),
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
    /// Where it came from: the local path, `url@revision` or `org/package@version`.
    pub from: String,
    /// The spec that installs exactly this again, for the lock file.
    pub pinned: PackageSpec,
    /// A git package that follows a branch: a later install may get other code.
    pub unpinned: bool,
}

/// How `install` chose what it installed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Resolution {
    /// From `package-lock.yml`, which matched `packages.yml`.
    Locked,
    /// Resolved anew (no lock, a changed `packages.yml`, or `--upgrade`); the lock rewritten.
    Resolved,
}

/// Install the packages `root` declares (and theirs) into `root/install_path`, replacing
/// what was there; returns them in install order. `upgrade` ignores the lock file.
pub fn install(
    root: &Path,
    install_path: &str,
    upgrade: bool,
) -> Result<(Vec<Installed>, Resolution), DepsError> {
    let dir = root.join(install_path);
    std::fs::create_dir_all(&dir).map_err(io("create", &dir))?;
    let declared_specs = declared(root)?;
    let Some(hash) = lock::declared_hash(root) else {
        return Ok((Vec::new(), Resolution::Resolved));
    };
    let locked = lock::read(root).filter(|l| !upgrade && l.sha1_hash == hash);
    let mut run = Installing::new(dir);
    let resolution = match locked {
        Some(lock) => {
            for spec in &lock.packages {
                run.fetch_and_place(root, spec)?;
            }
            Resolution::Locked
        }
        None => {
            run.resolve(root, declared_specs)?;
            Resolution::Resolved
        }
    };
    lock::write(root, &run.done, &hash)?;
    Ok((run.done, resolution))
}

/// One install under way: what is in place, and what the hub packages must satisfy.
struct Installing {
    dir: PathBuf,
    done: Vec<Installed>,
    hub: Option<hub::Hub>,
    /// Hub packages: every range declared for each, and whether pre-releases are allowed.
    wanted: IndexMap<String, (Vec<String>, bool)>,
    /// The version installed of each hub package.
    picked: HashMap<String, String>,
    /// The folder of each local package, by name: two packages may name the same folder
    /// by different paths (`../dbt_utils` from the project and from another package).
    local_folders: HashMap<String, PathBuf>,
}

impl Installing {
    fn new(dir: PathBuf) -> Installing {
        Installing {
            dir,
            done: Vec::new(),
            hub: None,
            wanted: IndexMap::new(),
            picked: HashMap::new(),
            local_folders: HashMap::new(),
        }
    }

    /// Install `specs` and what they declare, then the hub packages at the newest release
    /// every range allows; a release's own dependencies can narrow the others, so this goes
    /// on until nothing changes.
    fn resolve(&mut self, root: &Path, specs: Vec<PackageSpec>) -> Result<(), DepsError> {
        let mut queue = vec![(root.to_path_buf(), specs)];
        for _round in 0..50 {
            while let Some((declaring, specs)) = queue.pop() {
                for spec in specs {
                    if let PackageSpec::Hub {
                        package,
                        version,
                        prerelease,
                    } = &spec
                    {
                        let entry = self.wanted.entry(package.clone()).or_default();
                        entry.0.extend(version.split(", ").map(str::to_string));
                        entry.1 |= prerelease;
                        continue;
                    }
                    if let Some(target) = self.fetch_and_place(&declaring, &spec)? {
                        queue.push((target.clone(), declared(&target)?));
                    }
                }
            }
            let mut changed = false;
            for (package, (ranges, prerelease)) in self.wanted.clone() {
                let release = self.hub().pick(&package, &ranges, prerelease)?;
                if self.picked.get(&package) == Some(&release.version) {
                    continue;
                }
                changed = true;
                self.picked.insert(package.clone(), release.version.clone());
                let spec = PackageSpec::Hub {
                    package,
                    version: release.version,
                    prerelease,
                };
                if let Some(target) = self.fetch_and_place(root, &spec)? {
                    queue.push((target.clone(), declared(&target)?));
                }
            }
            if !changed && queue.is_empty() {
                return Ok(());
            }
        }
        Err(DepsError::Unsettled(
            self.wanted.keys().cloned().collect::<Vec<_>>().join(", "),
        ))
    }

    fn hub(&mut self) -> &mut hub::Hub {
        self.hub.get_or_insert_with(hub::Hub::from_env)
    }

    /// Put one package in place; where, unless it was there already from the same origin.
    fn fetch_and_place(
        &mut self,
        declaring: &Path,
        spec: &PackageSpec,
    ) -> Result<Option<PathBuf>, DepsError> {
        let fetched = self.fetch(declaring, spec)?;
        let name = package_name(&fetched.source)?;
        let is_local = matches!(spec, PackageSpec::Local { .. });
        if let Some(first) = self.done.iter().position(|p| p.name == name) {
            let same_folder = is_local && self.local_folders.get(&name) == Some(&fetched.source);
            match (&self.done[first].pinned, spec) {
                _ if self.done[first].from == fetched.from || same_folder => return Ok(None),
                // A hub package picked again at another version replaces the first pick.
                (PackageSpec::Hub { package: a, .. }, PackageSpec::Hub { package: b, .. })
                    if a == b =>
                {
                    self.done.remove(first);
                }
                _ => {
                    return Err(DepsError::Duplicate {
                        name,
                        first: self.done[first].from.clone(),
                        second: fetched.from,
                    });
                }
            }
        }
        let target = self.dir.join(&name);
        remove(&target)?;
        place(spec, &fetched.source, &target)?;
        if is_local {
            self.local_folders
                .insert(name.clone(), fetched.source.clone());
        }
        self.done.push(Installed {
            name,
            from: fetched.from,
            pinned: fetched.pinned,
            unpinned: fetched.unpinned,
        });
        Ok(Some(target))
    }

    /// Where the package's files are, and how it is named and pinned.
    fn fetch(&mut self, declaring: &Path, spec: &PackageSpec) -> Result<Fetched, DepsError> {
        match spec {
            PackageSpec::Local { path } => {
                let source = declaring.join(path);
                let source = source.canonicalize().map_err(io("read", &source))?;
                Ok(Fetched {
                    source,
                    from: path.clone(),
                    pinned: spec.clone(),
                    unpinned: false,
                    _temp: None,
                })
            }
            PackageSpec::Git {
                url,
                revision,
                subdirectory,
            } => {
                let checkout = TempFolder::clone(&self.dir, url, revision.as_deref())?;
                let dir = checkout.path.display().to_string();
                let commit = git(&["-C", &dir, "rev-parse", "HEAD"])?;
                let branch = revision.as_deref().is_none_or(|r| {
                    let remote = format!("refs/remotes/origin/{r}");
                    git(&["-C", &dir, "show-ref", "--verify", "--quiet", &remote]).is_ok()
                });
                let source = match subdirectory {
                    Some(sub) => checkout.path.join(sub),
                    None => checkout.path.clone(),
                };
                Ok(Fetched {
                    source,
                    from: format!("{url}@{}", revision.as_deref().unwrap_or("HEAD")),
                    pinned: PackageSpec::Git {
                        url: url.clone(),
                        revision: Some(commit),
                        subdirectory: subdirectory.clone(),
                    },
                    unpinned: branch,
                    _temp: Some(checkout),
                })
            }
            PackageSpec::Hub {
                package,
                version,
                prerelease,
            } => {
                let ranges: Vec<String> = version.split(", ").map(str::to_string).collect();
                let release = self.hub().pick(package, &ranges, *prerelease)?;
                let temp = TempFolder::new(&self.dir, "hub");
                let source = self.hub().unpack(&release, &temp.path)?;
                Ok(Fetched {
                    source,
                    from: format!("{package}@{}", release.version),
                    pinned: PackageSpec::Hub {
                        package: package.clone(),
                        version: release.version,
                        prerelease: *prerelease,
                    },
                    unpinned: false,
                    _temp: Some(temp),
                })
            }
        }
    }
}

/// A package's files, ready to be placed, and the temporary folder that holds them.
struct Fetched {
    source: PathBuf,
    from: String,
    pinned: PackageSpec,
    unpinned: bool,
    _temp: Option<TempFolder>,
}

fn declared(root: &Path) -> Result<Vec<PackageSpec>, DepsError> {
    let mut diags = Diagnostics::default();
    let specs = packages::declared(root, &mut diags);
    match diags.has_errors() {
        true => Err(DepsError::Declared(diags)),
        false => Ok(specs),
    }
}

/// A package's name: the `name:` of its project file.
fn package_name(source: &Path) -> Result<String, DepsError> {
    packages::package_name(source)
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

/// A temporary folder beside the installed packages (same file system), removed when dropped:
/// a git checkout or an unpacked hub tarball.
struct TempFolder {
    path: PathBuf,
}

impl TempFolder {
    fn new(dir: &Path, what: &str) -> TempFolder {
        let path = dir.join(format!(".etlx-{what}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&path);
        TempFolder { path }
    }

    fn clone(dir: &Path, url: &str, revision: Option<&str>) -> Result<TempFolder, DepsError> {
        let checkout = TempFolder::new(dir, "checkout");
        let target = checkout.path.display().to_string();
        git(&["clone", "--quiet", url, &target])?;
        if let Some(revision) = revision {
            git(&["-C", &target, "checkout", "--quiet", revision])?;
        }
        Ok(checkout)
    }
}

impl Drop for TempFolder {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.path);
    }
}

/// Run git; what it printed.
fn git(args: &[&str]) -> Result<String, DepsError> {
    let shown = args.join(" ");
    let out = Command::new("git")
        .args(args)
        .output()
        .map_err(|e| DepsError::Git {
            args: shown.clone(),
            message: format!("cannot run git ({e}); install git to use git packages"),
        })?;
    match out.status.success() {
        true => Ok(String::from_utf8_lossy(&out.stdout).trim().to_string()),
        false => Err(DepsError::Git {
            args: shown,
            message: String::from_utf8_lossy(&out.stderr).trim().to_string(),
        }),
    }
}

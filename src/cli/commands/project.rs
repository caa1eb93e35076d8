//! `init`, `debug`, `clean` and `generate`: commands about the project and its folders
//! rather than its models.

use std::time::Instant;

use etlx::clean::Cleaned;
use etlx::project::ResourceType;

use super::{Global, Outcome, Printer, load_options};
use crate::cli::{GenerateArgs, LandingFormat};

pub(super) fn init(global: &Global, name: &str, printer: &Printer) -> anyhow::Result<Outcome> {
    let parent = match &global.project_dir {
        Some(dir) => dir.clone(),
        None => std::env::current_dir()?,
    };
    let files = etlx::scaffold::init(&parent, name)?;
    printer.info(
        "init",
        &format!(
            "Created project '{name}' with {} files in {}",
            files.len(),
            parent.join(name).display()
        ),
    );
    printer.info("init", &format!("Next: cd {name} && etlx build"));
    Ok(Outcome::Success)
}

/// The resolved project, profile and target, and whether the target can be reached.
pub(super) fn debug(global: &Global, printer: &Printer) -> anyhow::Result<Outcome> {
    let (project, diags) = etlx::project::load(&load_options(global)?)?;
    printer.diagnostics(diags.iter());
    let Some(project) = project else {
        return Ok(Outcome::Invalid);
    };
    printer.set_secrets(project.secrets.clone());
    let t = &project.target;
    let profile_file = t
        .source
        .as_deref()
        .map_or("(none: built-in DuckDB target)".to_string(), |p| {
            p.display().to_string()
        });
    let settings = serde_json::to_value(t).unwrap_or_default();
    let count = |kind: ResourceType| {
        let nodes = project.nodes.values();
        nodes.filter(|n| n.resource_type == kind).count()
    };
    printer.result(&format!("etlx {}", env!("CARGO_PKG_VERSION")));
    printer.result(&format!(
        "project:  {} ({})",
        project.name,
        project.root.join(&project.project_file).display()
    ));
    printer.result(&format!("profile:  {} from {profile_file}", t.profile));
    printer.result(&format!(
        "target:   {} ({}), schema {}, {} threads",
        t.name, t.dialect, t.schema, t.threads
    ));
    printer.result(&format!("settings: {}", settings["settings"]));
    printer.result(&format!(
        "found:    {} models, {} seeds, {} snapshots, {} sources, {} macros",
        count(ResourceType::Model),
        count(ResourceType::Seed),
        count(ResourceType::Snapshot),
        project.sources.len(),
        project.macros.len()
    ));
    if diags.has_errors() {
        return Ok(Outcome::Invalid);
    }
    // The connection check: what a new profile most often gets wrong.
    match etlx::adapter::open(&project, 1).and_then(|a| a.describe()) {
        Ok(server) => {
            printer.result(&format!("connection: OK, {server}"));
            Ok(Outcome::Success)
        }
        Err(e) => {
            printer.result(&format!("connection: FAILED, {e}"));
            Ok(Outcome::Failed)
        }
    }
}

/// Delete the clean targets, as `etlx::clean` decides.
pub(super) fn clean(global: &Global, printer: &Printer) -> anyhow::Result<Outcome> {
    let (project, diags) = etlx::project::load(&load_options(global)?)?;
    printer.diagnostics(diags.iter());
    let Some(project) = project else {
        return Ok(Outcome::Invalid);
    };
    etlx::clean::clean(&project, |cleaned| {
        let done = match cleaned {
            Cleaned::Folder(target) => format!("Deleted {target}/"),
            Cleaned::EtlxFiles(target) => {
                format!("Deleted etlx's files in {target}/ (Cargo's build there is kept)")
            }
        };
        printer.info("clean", &done);
    })?;
    Ok(Outcome::Success)
}

pub(super) fn deps(global: &Global, upgrade: bool, printer: &Printer) -> anyhow::Result<Outcome> {
    let cwd = std::env::current_dir()?;
    let root = etlx::project::find_root(global.project_dir.as_deref().unwrap_or(&cwd))?;
    let install_path = etlx::project::packages::install_path(&root);
    match etlx::deps::install(&root, &install_path, upgrade) {
        Ok((installed, resolution)) => {
            if installed.is_empty() {
                printer.info(
                    "deps",
                    "No packages to install (no packages.yml or dependencies.yml)",
                );
                return Ok(Outcome::Success);
            }
            if resolution == etlx::deps::Resolution::Locked {
                printer.info(
                    "deps",
                    &format!(
                        "Installing the versions pinned in {} (`etlx deps --upgrade` resolves again)",
                        etlx::deps::lock::LOCK_FILE
                    ),
                );
            }
            for package in &installed {
                printer.info(
                    "deps",
                    &format!("Installed {} from {}", package.name, package.from),
                );
                if package.unpinned {
                    printer.error_line(&format!(
                        "warning: {} follows a branch ({}): a later `etlx deps --upgrade` may install other code; pin a tag or a commit as its `revision` (package-lock.yml pins this commit meanwhile)",
                        package.name, package.from
                    ));
                }
            }
            if resolution == etlx::deps::Resolution::Resolved {
                printer.info("deps", &format!("Wrote {}", etlx::deps::lock::LOCK_FILE));
            }
            Ok(Outcome::Success)
        }
        Err(etlx::deps::DepsError::Declared(diags)) => {
            printer.diagnostics(diags.iter());
            Ok(Outcome::Invalid)
        }
        Err(e) => {
            printer.error_line(&e.to_string());
            Ok(Outcome::Invalid)
        }
    }
}

pub(super) fn generate(args: &GenerateArgs, printer: &Printer) -> anyhow::Result<Outcome> {
    let started = Instant::now();
    let opts = etlx::demo::Options {
        out: args.out.clone(),
        force: args.force,
        batches: args.batches,
        events: args.events,
        users: args.users,
        songs: args.songs,
        seed: args.seed,
        format: match args.format {
            LandingFormat::Json => etlx::demo::Format::Json,
            LandingFormat::Parquet => etlx::demo::Format::Parquet,
        },
    };
    let written = etlx::demo::generate(&opts)?;
    let (mut events, mut bytes) = (0, 0);
    for w in &written {
        printer.info(
            "generated",
            &format!(
                "{:>9} rows  {:>8.1} MB  {}",
                w.events,
                w.bytes as f64 / 1e6,
                w.path.display()
            ),
        );
        events += w.events;
        bytes += w.bytes;
    }
    printer.info(
        "summary",
        &format!(
            "Wrote {events} rows, {:.1} MB, in {:.2}s",
            bytes as f64 / 1e6,
            started.elapsed().as_secs_f64()
        ),
    );
    Ok(Outcome::Success)
}

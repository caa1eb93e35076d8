//! `etlx clean`: deleting what etlx wrote, and nothing else.
//!
//! Deleting is the one thing etlx does to a user's folders that cannot be undone, so the
//! whole policy lives here, small enough to read at once and tested on its own: only the
//! project's `clean-targets`, only folders inside the project, and in a folder shared with
//! Cargo only the files etlx writes. It is not part of `project`, which only reads a project
//! and has no business deleting it, nor of `artifacts`, which writes dbt's JSON files: what
//! etlx leaves in its target folder is more than those (compiled SQL, the S3 cache, the DuckDB
//! database).

use std::path::{Path, PathBuf};

use crate::project::Project;

/// What was deleted, per clean target (as the project file names it).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Cleaned<'a> {
    /// The folder and everything in it.
    Folder(&'a str),
    /// A folder Cargo builds in too: only etlx's files in it; Cargo's build is kept.
    EtlxFiles(&'a str),
}

#[derive(Debug, thiserror::Error)]
pub enum CleanError {
    #[error("refusing to delete '{0}': clean-targets must be folders inside the project")]
    Outside(String),
    #[error("cannot clean {}", path.display())]
    Clean {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("cannot delete {}", path.display())]
    Delete {
        path: PathBuf,
        source: std::io::Error,
    },
}

/// What etlx writes into its target folder besides the warehouse files below.
const ETLX_OUTPUTS: [&str; 6] = [
    "compiled",
    "s3_cache",
    "manifest.json",
    "run_results.json",
    "sources.json",
    "lineage.json",
];

/// A DuckDB database and the files it keeps beside it.
const WAREHOUSE_SUFFIXES: [&str; 3] = [".duckdb", ".duckdb.wal", ".duckdb.tmp"];

/// Delete the project's clean targets in order, telling `on_cleaned` of each as it is done.
/// Targets that do not exist are passed over; one outside the project stops the clean there.
pub fn clean(project: &Project, mut on_cleaned: impl FnMut(Cleaned)) -> Result<(), CleanError> {
    for target in &project.paths.clean_targets {
        if let Some(cleaned) = clean_target(&project.root, target)? {
            on_cleaned(cleaned);
        }
    }
    Ok(())
}

fn clean_target<'a>(root: &Path, target: &'a str) -> Result<Option<Cleaned<'a>>, CleanError> {
    let path = root.join(target);
    // Never delete outside the project, whatever clean-targets says.
    let inside = path
        .canonicalize()
        .map(|p| p.starts_with(root) && p != root)
        .unwrap_or(false);
    if !path.exists() {
        return Ok(None);
    }
    if !inside {
        return Err(CleanError::Outside(target.to_string()));
    }
    if is_cargo_target(&path) {
        delete_etlx_outputs(&path).map_err(|source| CleanError::Clean { path, source })?;
        return Ok(Some(Cleaned::EtlxFiles(target)));
    }
    std::fs::remove_dir_all(&path).map_err(|source| CleanError::Delete { path, source })?;
    Ok(Some(Cleaned::Folder(target)))
}

/// A project at the root of a Rust repository (this one's demo) shares `target/` with Cargo:
/// deleting it would throw away a build that takes DuckDB 20 minutes to compile.
fn is_cargo_target(dir: &Path) -> bool {
    std::fs::read_to_string(dir.join("CACHEDIR.TAG"))
        .is_ok_and(|tag| tag.contains("created by cargo"))
}

/// What etlx writes into its target folder, and nothing else: beside Cargo, whose folder
/// also holds other tools' caches (rust-analyzer, criterion), what etlx did not write stays.
fn delete_etlx_outputs(dir: &Path) -> std::io::Result<()> {
    for entry in std::fs::read_dir(dir)? {
        let path = entry?.path();
        let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("");
        let warehouse = WAREHOUSE_SUFFIXES.iter().any(|ext| name.ends_with(ext));
        if !(ETLX_OUTPUTS.contains(&name) || warehouse) {
            continue;
        }
        if path.is_dir() {
            std::fs::remove_dir_all(&path)?;
        } else {
            std::fs::remove_file(&path)?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::project::testing;

    fn cleaned(project: &Project) -> Result<Vec<String>, CleanError> {
        let mut done = Vec::new();
        clean(project, |c| done.push(format!("{c:?}")))?;
        Ok(done)
    }

    fn touch(path: &Path) {
        std::fs::create_dir_all(path.parent().expect("parent")).expect("mkdir");
        std::fs::write(path, "").expect("write");
    }

    fn names_in(dir: &Path) -> Vec<String> {
        let mut names: Vec<String> = std::fs::read_dir(dir)
            .expect("read_dir")
            .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        names
    }

    #[test]
    fn the_clean_targets_are_deleted_and_missing_ones_passed_over() {
        let dir = tempfile::tempdir().expect("tempdir");
        let project_file =
            "name: demo\nprofile: demo\nclean-targets: [target, logs, dbt_packages]\n";
        let project = testing::project(dir.path(), &[("etlx_project.yml", project_file)]);
        touch(&dir.path().join("target/compiled/demo/models/m.sql"));
        touch(&dir.path().join("logs/etlx.log"));
        touch(&dir.path().join("models/m.sql"));
        let done = cleaned(&project).expect("clean");
        assert_eq!(done, ["Folder(\"target\")", "Folder(\"logs\")"]);
        assert_eq!(
            names_in(dir.path()),
            ["etlx_project.yml", "models", "profiles.yml"]
        );
    }

    #[test]
    fn beside_cargo_only_etlx_files_are_deleted() {
        let dir = tempfile::tempdir().expect("tempdir");
        let project = testing::project(dir.path(), &[]);
        let target = dir.path().join("target");
        std::fs::create_dir_all(&target).expect("mkdir");
        std::fs::write(
            target.join("CACHEDIR.TAG"),
            "Signature: 8a477f597d28d172789f06886806bc55\n# This file is a cache directory tag created by cargo.\n",
        )
        .expect("tag");
        for ours in [
            "compiled/demo/m.sql",
            "s3_cache/lake/a.parquet",
            "manifest.json",
            "run_results.json",
            "sources.json",
            "demo.duckdb",
            "demo.duckdb.wal",
        ] {
            touch(&target.join(ours));
        }
        for theirs in [
            "debug/.fingerprint/x",
            "rust-analyzer/metadata",
            "notes.json",
        ] {
            touch(&target.join(theirs));
        }
        assert_eq!(cleaned(&project).expect("clean"), ["EtlxFiles(\"target\")"]);
        assert_eq!(
            names_in(&target),
            ["CACHEDIR.TAG", "debug", "notes.json", "rust-analyzer"]
        );
    }

    #[test]
    fn a_target_outside_the_project_is_refused_and_left_alone() {
        let outer = tempfile::tempdir().expect("tempdir");
        let dir = outer.path().join("demo");
        let elsewhere = outer.path().join("elsewhere");
        touch(&elsewhere.join("keep.txt"));
        for target in ["../elsewhere", "."] {
            let project_file = format!("name: demo\nprofile: demo\nclean-targets: ['{target}']\n");
            let project = testing::project(&dir, &[("etlx_project.yml", &project_file)]);
            let refused = cleaned(&project).expect_err("outside");
            assert_eq!(
                refused.to_string(),
                format!(
                    "refusing to delete '{target}': clean-targets must be folders inside the project"
                )
            );
        }
        assert!(elsewhere.join("keep.txt").is_file());
        assert!(dir.join("etlx_project.yml").is_file());
    }
}

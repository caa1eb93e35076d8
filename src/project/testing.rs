//! Real projects on disk for the library's unit tests.
//!
//! Code that reads a project's folders, opens its warehouse or deletes its outputs is tested
//! on a project written into a temporary folder and loaded the way the binary loads one, so a
//! test exercises the same paths (`target-path`, `clean-targets`, the profile) a user's does.

use std::path::Path;

use super::{LoadOptions, Project};

/// The project file every test project starts from, unless it brings its own.
const PROJECT_FILE: &str = "name: demo\nprofile: demo\n";

/// A DuckDB profile whose database is a file under `target/`.
const PROFILES: &str = "demo:\n  target: dev\n  outputs:\n    dev:\n      type: duckdb\n      path: target/demo.duckdb\n      threads: 1\n";

/// Write `files` (relative path, text) into `dir`, adding a project file and a DuckDB profile
/// when they are not among them, and load the project. Panics on any problem: a test's
/// project that does not load is a broken test.
pub(crate) fn project(dir: &Path, files: &[(&str, &str)]) -> Project {
    let named = |name: &str| files.iter().any(|(path, _)| *path == name);
    let defaults = [
        ("etlx_project.yml", PROJECT_FILE),
        ("profiles.yml", PROFILES),
    ];
    let missing = defaults.iter().filter(|(name, _)| !named(name));
    for (path, text) in files.iter().chain(missing) {
        let path = dir.join(path);
        std::fs::create_dir_all(path.parent().expect("a parent")).expect("create the folder");
        std::fs::write(&path, text).expect("write the file");
    }
    let opts = LoadOptions {
        project_dir: Some(dir.to_path_buf()),
        profiles_dir: Some(dir.to_path_buf()),
        ..LoadOptions::default()
    };
    let (project, diags) = super::load(&opts).expect("load the project");
    assert!(!diags.has_errors(), "{diags:?}");
    project.expect("a project")
}

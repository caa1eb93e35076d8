//! `target/compiled`: the compiled SQL of each node, written as a batch.
//!
//! A 5,000-model project writes ~15,000 files. Creating each file's folder as it is written
//! made one `mkdir` per file (all but a few failing, every one a system call), so folders are
//! created once, up front; files whose content did not change are left alone, so editors and
//! watchers see no churn and a warm compile writes nothing.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use rayon::prelude::*;

use crate::diag::Diagnostic;

/// Write `files` (paths relative to `root`), each only if its content changed; a diagnostic
/// per file that could not be written.
pub(super) fn write_all(root: &Path, files: &[(PathBuf, String)]) -> Vec<Diagnostic> {
    let folders: BTreeSet<&Path> = files.iter().filter_map(|(p, _)| p.parent()).collect();
    let mut problems = Vec::new();
    for folder in folders {
        if let Err(e) = std::fs::create_dir_all(root.join(folder)) {
            problems.push(cannot_write(folder, &e));
        }
    }
    if !problems.is_empty() {
        return problems;
    }
    files
        .par_iter()
        .filter_map(|(path, text)| {
            write_if_changed(&root.join(path), text)
                .err()
                .map(|e| cannot_write(path, &e))
        })
        .collect()
}

fn write_if_changed(path: &Path, text: &str) -> std::io::Result<()> {
    // Same length first: most changed files differ in length, and reading is skipped.
    let same_length = std::fs::metadata(path).is_ok_and(|m| m.len() == text.len() as u64);
    if same_length && std::fs::read(path).is_ok_and(|old| old == text.as_bytes()) {
        return Ok(());
    }
    std::fs::write(path, text)
}

fn cannot_write(path: &Path, e: &std::io::Error) -> Diagnostic {
    Diagnostic::error("io", format!("cannot write {}: {e}", path.display()))
}

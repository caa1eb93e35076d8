//! The library's layering, checked: each top-level module may use (`crate::…`) only modules
//! in strictly lower tiers, so the tiers form a stack with no cycles and each can be read,
//! tested and changed knowing only what is below it.
//!
//! A new top-level module must be given a tier here, or this test fails; the binary
//! (`src/main.rs`, `src/cli/`) is outside the library and may use all of it.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

/// Tiers, lowest first.
const TIERS: &[&[&str]] = &[
    &["diag", "cancel"],
    &["sql"],
    &["project"],
    &["graph", "adapter", "aws"],
    &["template", "materialize"],
    &["compile"],
    &["execute"],
    &["artifacts", "landing", "scaffold", "clean"],
];

/// Modules of the library that are not part of it proper: this test itself.
const UNTIERED: &[&str] = &["layers"];

fn tier(module: &str) -> Option<usize> {
    TIERS.iter().position(|tier| tier.contains(&module))
}

/// The `src/` files of a top-level module: `src/m.rs`, or every `.rs` file under `src/m/`.
fn files_of(src: &Path, module: &str) -> Vec<PathBuf> {
    let file = src.join(format!("{module}.rs"));
    if file.is_file() {
        return vec![file];
    }
    walkdir::WalkDir::new(src.join(module))
        .into_iter()
        .filter_map(Result::ok)
        .map(|e| e.into_path())
        .filter(|p| p.extension().is_some_and(|e| e == "rs"))
        .collect()
}

/// The top-level modules `text` names after `crate::`, outside comments, including each
/// one in a `crate::{a, b::c}` group.
fn used_modules(text: &str) -> BTreeSet<String> {
    let mut used = BTreeSet::new();
    for line in text.lines() {
        let code = line.split("//").next().unwrap_or_default();
        for (at, _) in code.match_indices("crate::") {
            let rest = &code[at + "crate::".len()..];
            let names = match rest.strip_prefix('{') {
                Some(group) => group.split(',').map(str::trim).collect(),
                None => vec![rest],
            };
            for name in names {
                let ident: String = name
                    .chars()
                    .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                    .collect();
                if !ident.is_empty() {
                    used.insert(ident);
                }
            }
        }
    }
    used
}

/// `pub mod m;` and `mod m;` lines of `src/lib.rs`.
fn top_level_modules(src: &Path) -> Vec<String> {
    let lib = std::fs::read_to_string(src.join("lib.rs")).expect("src/lib.rs");
    lib.lines()
        .filter_map(|l| {
            let l = l.trim().strip_prefix("pub ").unwrap_or(l.trim());
            Some(l.strip_prefix("mod ")?.trim_end_matches(';').to_string())
        })
        .collect()
}

#[test]
fn modules_use_only_lower_tiers() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut broken = Vec::new();
    for module in top_level_modules(&src) {
        if UNTIERED.contains(&module.as_str()) {
            continue;
        }
        let Some(own) = tier(&module) else {
            broken.push(format!("{module} has no tier in src/layers.rs"));
            continue;
        };
        for file in files_of(&src, &module) {
            let text = std::fs::read_to_string(&file).expect("a source file");
            for used in used_modules(&text) {
                let allowed = used == module || tier(&used).is_some_and(|t| t < own);
                if !allowed {
                    broken.push(format!(
                        "{} (tier {own}) uses crate::{used} (tier {:?})",
                        file.strip_prefix(&src).unwrap_or(&file).display(),
                        tier(&used)
                    ));
                }
            }
        }
    }
    assert!(broken.is_empty(), "{}", broken.join("\n"));
}

#[test]
fn grouped_and_nested_uses_are_seen() {
    let text = "use crate::{adapter::Connection, sql};\nlet x = crate::project::load(); // crate::execute\n";
    let used: Vec<String> = used_modules(text).into_iter().collect();
    assert_eq!(used, ["adapter", "project", "sql"]);
}

//! The library's layers, checked: a module may use only modules in layers below its own.
//!
//! The layout is what lets a newcomer change one part without reading the rest; it decays one
//! convenient import at a time, and nothing else notices until the modules form one knot
//! (as they once did: eight modules in one cycle). So this test reads every `crate::` path in
//! `src/` and fails on an import that points up or sideways, and on a cycle between the
//! files of one module folder. The table below is the architecture; README's "Architecture"
//! section explains it.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// Bottom first. Modules in one layer may not use each other.
const LAYERS: &[&[&str]] = &[
    &["diag", "cancel"],
    &["sql"],
    &["project"],
    &["graph", "adapter", "aws"],
    &["template", "materialize", "state"],
    &["compile"],
    &["execute", "lineage"],
    &["artifacts", "clean", "demo", "deps", "docs", "scaffold"],
];

/// One `crate::<module>` or `super::<file>` path found in a source file.
struct Use {
    file: PathBuf,
    line: usize,
    target: String,
}

fn layer_of(module: &str) -> Option<usize> {
    LAYERS.iter().position(|layer| layer.contains(&module))
}

fn src_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("src")
}

/// Library source files (the binary's `main.rs` and `cli/` sit above every layer).
fn library_files() -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![src_dir()];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).expect("src/ is readable") {
            let path = entry.expect("a directory entry").path();
            if path.is_dir() && !path.ends_with("cli") {
                stack.push(path);
            } else if path.extension().is_some_and(|e| e == "rs")
                && !matches!(
                    path.file_name().and_then(|n| n.to_str()),
                    Some("main.rs" | "lib.rs")
                )
                && !path.starts_with(src_dir().join("cli"))
            {
                out.push(path);
            }
        }
    }
    out.sort();
    out
}

/// The module path of a file: `src/compile/render.rs` is `["compile", "render"]`.
fn module_path(file: &Path) -> Vec<String> {
    let rel = file.strip_prefix(src_dir()).expect("a file under src/");
    let mut parts: Vec<String> = rel
        .with_extension("")
        .iter()
        .map(|p| p.to_string_lossy().into_owned())
        .collect();
    if parts.last().is_some_and(|p| p == "mod") {
        parts.pop();
    }
    parts
}

/// Every name that follows `prefix` in `line`: `crate::a::b` and `crate::{a, b::c}` give `a`
/// (and `b`). Comments are skipped.
fn names_after(line: &str, prefix: &str) -> Vec<String> {
    let code = line.split("//").next().unwrap_or("");
    let mut out = Vec::new();
    for (at, _) in code.match_indices(prefix) {
        if code[..at].ends_with(|c: char| c.is_alphanumeric() || c == '_') {
            continue;
        }
        let rest = &code[at + prefix.len()..];
        if let Some(group) = rest.strip_prefix('{') {
            let group = group.split('}').next().unwrap_or("");
            out.extend(group.split(',').filter_map(|item| first_ident(item.trim())));
        } else if let Some(name) = first_ident(rest) {
            out.push(name);
        }
    }
    out
}

fn first_ident(s: &str) -> Option<String> {
    let end = s
        .find(|c: char| !(c.is_alphanumeric() || c == '_'))
        .unwrap_or(s.len());
    (end > 0 && s != "self").then(|| s[..end].to_string())
}

fn uses_in(file: &Path, prefix: &str) -> Vec<Use> {
    let text = std::fs::read_to_string(file).expect("a readable source file");
    text.lines()
        .enumerate()
        .flat_map(|(i, line)| {
            names_after(line, prefix)
                .into_iter()
                .map(move |target| Use {
                    file: file.to_path_buf(),
                    line: i + 1,
                    target,
                })
        })
        .collect()
}

fn shown(u: &Use) -> String {
    let rel = u.file.strip_prefix(src_dir()).unwrap_or(&u.file);
    format!("src/{}:{}", rel.display(), u.line)
}

#[test]
fn no_module_uses_a_layer_above_or_beside_it() {
    let mut problems = Vec::new();
    let mut seen = BTreeSet::new();
    for file in library_files() {
        let module = module_path(&file);
        let from = module[0].as_str();
        seen.insert(from.to_string());
        let Some(from_layer) = layer_of(from) else {
            problems.push(format!(
                "src/{from}: a module not in LAYERS (tests/it/layers.rs); give it a layer"
            ));
            continue;
        };
        for u in uses_in(&file, "crate::") {
            if u.target == from {
                continue;
            }
            match layer_of(&u.target) {
                Some(to_layer) if to_layer < from_layer => {}
                Some(_) => problems.push(format!(
                    "{}: `{from}` uses `{}`, which is not in a layer below it",
                    shown(&u),
                    u.target
                )),
                None => {}
            }
        }
    }
    let missing: Vec<&&str> = LAYERS
        .iter()
        .flat_map(|l| l.iter())
        .filter(|m| !seen.contains(**m))
        .collect();
    assert!(
        problems.is_empty(),
        "layer violations:\n  {}",
        problems.join("\n  ")
    );
    assert!(
        missing.is_empty(),
        "modules in LAYERS with no file under src/ (renamed? update LAYERS): {missing:?}"
    );
}

#[test]
fn the_files_of_a_module_folder_form_no_cycle() {
    // Edges between sibling files: `super::<sibling>` or `crate::<module>::<sibling>`.
    let mut edges: BTreeMap<Vec<String>, BTreeSet<Vec<String>>> = BTreeMap::new();
    for file in library_files() {
        let module = module_path(&file);
        if module.len() < 2 {
            continue;
        }
        let parent = &module[..module.len() - 1];
        let crate_prefix = format!("crate::{}::", parent.join("::"));
        let siblings = uses_in(&file, "super::")
            .into_iter()
            .chain(uses_in(&file, &crate_prefix));
        for u in siblings {
            let folder = src_dir().join(parent.join("/"));
            let is_file = folder.join(format!("{}.rs", u.target)).exists()
                || folder.join(&u.target).join("mod.rs").exists();
            let mut to = parent.to_vec();
            to.push(u.target);
            if is_file && to != module {
                edges.entry(module.clone()).or_default().insert(to);
            }
        }
    }
    let cycles = find_cycles(&edges);
    assert!(
        cycles.is_empty(),
        "files of one module use each other in a circle (move the shared part down into its own file): {cycles:?}"
    );
}

/// Each cycle once, as the path around it, by depth-first search over the edges.
fn find_cycles(edges: &BTreeMap<Vec<String>, BTreeSet<Vec<String>>>) -> Vec<String> {
    fn visit(
        node: &Vec<String>,
        edges: &BTreeMap<Vec<String>, BTreeSet<Vec<String>>>,
        path: &mut Vec<Vec<String>>,
        done: &mut BTreeSet<Vec<String>>,
        cycles: &mut Vec<String>,
    ) {
        if let Some(at) = path.iter().position(|p| p == node) {
            let names: Vec<String> = path[at..]
                .iter()
                .chain([node])
                .map(|m| m.join("::"))
                .collect();
            cycles.push(names.join(" -> "));
            return;
        }
        if !done.insert(node.clone()) {
            return;
        }
        path.push(node.clone());
        for next in edges.get(node).into_iter().flatten() {
            visit(next, edges, path, done, cycles);
        }
        path.pop();
    }
    let mut cycles = Vec::new();
    let mut done = BTreeSet::new();
    for node in edges.keys() {
        visit(node, edges, &mut Vec::new(), &mut done, &mut cycles);
    }
    cycles
}

#[test]
fn names_are_read_from_paths_and_groups() {
    assert_eq!(
        names_after("use crate::{adapter::X, sql::Dialect};", "crate::"),
        ["adapter", "sql"]
    );
    assert_eq!(
        names_after(
            "let x = crate::diag::closest(a); // crate::compile",
            "crate::"
        ),
        ["diag"]
    );
    assert_eq!(names_after("use super::{self, load};", "super::"), ["load"]);
    assert_eq!(names_after("notcrate::x", "crate::"), Vec::<String>::new());
}

#[test]
fn a_cycle_is_found_and_shown_as_a_path() {
    let m = |s: &str| vec!["m".to_string(), s.to_string()];
    let edges = BTreeMap::from([
        (m("a"), BTreeSet::from([m("b")])),
        (m("b"), BTreeSet::from([m("a")])),
        (m("c"), BTreeSet::from([m("a")])),
    ]);
    assert_eq!(find_cycles(&edges), ["m::a -> m::b -> m::a"]);
}

//! dbt's node selection syntax: `-s 'tag:nightly,+fct_orders path:models/staging'`.
//!
//! Space-separated terms are a union, comma-separated atoms an intersection; each atom is a
//! method (`tag:`, `path:`, `config.materialized:` …, or a bare name) with optional graph
//! operators (`+x`, `2+x`, `x+`, `x+1`, `@x`). `--exclude` uses the same syntax.
//!
//! `state:`, `result:` and `source_status:` select from what a previous run left behind; the
//! sets they name are computed elsewhere (`crate::state`) and handed in as [`Marks`].

use std::collections::{HashMap, HashSet};

use globset::{Glob, GlobMatcher};
use indexmap::IndexSet;
use petgraph::Direction;

use super::Graph;
use crate::project::{Config, ResourceType};

/// What a selector can see of a node.
#[derive(Debug, Clone)]
pub struct Candidate<'a> {
    pub unique_id: &'a str,
    pub name: &'a str,
    pub resource_type: ResourceType,
    pub fqn: &'a [String],
    /// Path from the project root, `/`-separated.
    pub path: String,
    pub config: &'a Config,
    /// For sources: (source name, table name).
    pub source: Option<(&'a str, &'a str)>,
    /// For tests: "data" or "unit"; for a test, the node it tests.
    pub test_type: Option<&'a str>,
    pub package: &'a str,
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum SelectorError {
    #[error("unknown selector method '{method}' in '{atom}'{hint}")]
    UnknownMethod {
        method: String,
        atom: String,
        hint: String,
    },
    #[error("invalid selector '{atom}': {reason}")]
    Invalid { atom: String, reason: String },
}

/// Sets of nodes named by selector values that the graph alone cannot answer, keyed by
/// `method:value` (`state:modified.body`, `result:error`), for the methods in `known`.
#[derive(Debug, Clone, Default)]
pub struct Marks {
    pub known: HashSet<&'static str>,
    pub sets: HashMap<String, HashSet<String>>,
}

/// Methods answered by [`Marks`], with what they need.
const MARKED: [(&str, &str); 3] = [
    (
        "state",
        "--state <dir> (the target/ directory of the run to compare with)",
    ),
    (
        "result",
        "--state <dir> holding the previous run's run_results.json",
    ),
    (
        "source_status",
        "--state <dir> holding the previous sources.json",
    ),
];

const METHODS: &[&str] = &[
    "state",
    "result",
    "source_status",
    "tag",
    "path",
    "file",
    "fqn",
    "source",
    "resource_type",
    "package",
    "test_type",
    "config",
    "test_name",
];

/// Resolve `select` minus `exclude`. An empty `select` means every node. Returns the selected
/// ids (in `nodes` order) and the terms that matched nothing, which deserve a warning.
pub fn select(
    graph: &Graph,
    nodes: &[Candidate],
    marks: &Marks,
    select: &[String],
    exclude: &[String],
) -> Result<(IndexSet<String>, Vec<String>), SelectorError> {
    let mut unmatched = Vec::new();
    let from = Universe {
        graph,
        nodes,
        marks,
    };
    let chosen: HashSet<String> = if select.iter().all(|s| s.trim().is_empty()) {
        nodes.iter().map(|n| n.unique_id.to_string()).collect()
    } else {
        union(&from, select, &mut unmatched)?
    };
    let excluded = union(&from, exclude, &mut unmatched)?;
    let selected = nodes
        .iter()
        .map(|n| n.unique_id)
        .filter(|id| chosen.contains(*id) && !excluded.contains(*id))
        .map(str::to_string)
        .collect();
    Ok((selected, unmatched))
}

/// What an atom is resolved against.
struct Universe<'a, 'b> {
    graph: &'a Graph,
    nodes: &'a [Candidate<'b>],
    marks: &'a Marks,
}

fn union(
    from: &Universe,
    args: &[String],
    unmatched: &mut Vec<String>,
) -> Result<HashSet<String>, SelectorError> {
    let mut out = HashSet::new();
    for term in args.iter().flat_map(|a| a.split_whitespace()) {
        let mut acc: Option<HashSet<String>> = None;
        for atom in term.split(',').filter(|a| !a.is_empty()) {
            let ids = resolve_atom(from, atom)?;
            acc = Some(match acc {
                None => ids,
                Some(prev) => prev.intersection(&ids).cloned().collect(),
            });
        }
        let ids = acc.unwrap_or_default();
        if ids.is_empty() {
            unmatched.push(term.to_string());
        }
        out.extend(ids);
    }
    Ok(out)
}

/// One atom with its graph operators split off.
#[derive(Debug, PartialEq, Eq)]
struct Atom<'s> {
    at: bool,
    parents: Option<Option<usize>>,
    children: Option<Option<usize>>,
    method: Option<&'s str>,
    value: &'s str,
}

fn parse_atom(atom: &str) -> Result<Atom<'_>, SelectorError> {
    let invalid = |reason: &str| SelectorError::Invalid {
        atom: atom.to_string(),
        reason: reason.to_string(),
    };
    let mut rest = atom;
    let at = rest.starts_with('@');
    if at {
        rest = &rest[1..];
    }
    let mut parents = None;
    if let Some(plus) = rest
        .find('+')
        .filter(|i| rest[..*i].chars().all(|c| c.is_ascii_digit()))
    {
        let depth = &rest[..plus];
        parents = Some(if depth.is_empty() {
            None
        } else {
            Some(depth.parse().map_err(|_| invalid("bad depth"))?)
        });
        rest = &rest[plus + 1..];
    }
    let mut children = None;
    if let Some(plus) = rest.rfind('+') {
        let depth = &rest[plus + 1..];
        if depth.chars().all(|c| c.is_ascii_digit()) {
            children = Some(if depth.is_empty() {
                None
            } else {
                Some(depth.parse().map_err(|_| invalid("bad depth"))?)
            });
            rest = &rest[..plus];
        }
    }
    if at && (parents.is_some() || children.is_some()) {
        return Err(invalid("'@' cannot be combined with '+'"));
    }
    if rest.is_empty() {
        return Err(invalid("nothing to select"));
    }
    let (method, value) = match rest.split_once(':') {
        Some((m, v)) => (Some(m), v),
        None => (None, rest),
    };
    Ok(Atom {
        at,
        parents,
        children,
        method,
        value,
    })
}

fn resolve_atom(from: &Universe, text: &str) -> Result<HashSet<String>, SelectorError> {
    let atom = parse_atom(text)?;
    let base = match atom.method {
        Some(method) if MARKED.iter().any(|(m, _)| *m == method) => {
            marked(from.marks, method, atom.value, text)?
        }
        _ => {
            let matcher = glob(atom.value, text)?;
            let mut base = HashSet::new();
            for node in from.nodes {
                if matches(&atom, &matcher, node, text)? {
                    base.insert(node.unique_id.to_string());
                }
            }
            base
        }
    };
    let graph = from.graph;
    let mut out = base.clone();
    for id in &base {
        if atom.at {
            let descendants = graph.reachable(id, Direction::Outgoing, None);
            for d in descendants.iter().chain(std::iter::once(id)) {
                out.extend(graph.reachable(d, Direction::Incoming, None));
            }
            out.extend(descendants);
        }
        if let Some(depth) = atom.parents {
            out.extend(graph.reachable(id, Direction::Incoming, depth));
        }
        if let Some(depth) = atom.children {
            out.extend(graph.reachable(id, Direction::Outgoing, depth));
        }
    }
    Ok(out)
}

/// The set a `state:`/`result:`/`source_status:` atom names; an unknown `state:` value is an
/// error (a typo would otherwise select nothing and build nothing, silently).
fn marked(
    marks: &Marks,
    method: &str,
    value: &str,
    atom: &str,
) -> Result<HashSet<String>, SelectorError> {
    let invalid = |reason: String| SelectorError::Invalid {
        atom: atom.to_string(),
        reason,
    };
    if !marks.known.contains(method) {
        let needs = MARKED
            .iter()
            .find(|(m, _)| *m == method)
            .map_or("--state <dir>", |(_, needs)| *needs);
        return Err(invalid(format!("'{method}:' needs {needs}")));
    }
    let key = format!("{method}:{value}");
    match marks.sets.get(&key) {
        Some(ids) => Ok(ids.clone()),
        None if method == "result" => Ok(HashSet::new()),
        None => {
            let prefix = format!("{method}:");
            let known = marks.sets.keys().filter_map(|k| k.strip_prefix(&prefix));
            let hint = crate::diag::closest(value, known.clone())
                .map(|c| format!("; did you mean '{method}:{c}'?"))
                .unwrap_or_default();
            let mut values: Vec<&str> = known.collect();
            values.sort();
            Err(invalid(format!(
                "unknown value '{value}' (one of: {}){hint}",
                values.join(", ")
            )))
        }
    }
}

fn glob(value: &str, atom: &str) -> Result<GlobMatcher, SelectorError> {
    Glob::new(value)
        .map(|g| g.compile_matcher())
        .map_err(|e| SelectorError::Invalid {
            atom: atom.to_string(),
            reason: e.to_string(),
        })
}

fn matches(
    atom: &Atom,
    glob: &GlobMatcher,
    node: &Candidate,
    text: &str,
) -> Result<bool, SelectorError> {
    let value = atom.value;
    Ok(match atom.method {
        None => {
            if value.contains('/') || value.ends_with(".sql") || value.ends_with(".csv") {
                path_matches(value, &node.path)
            } else {
                fqn_matches(value, glob, node)
            }
        }
        Some("tag") => node.config.tags().iter().any(|t| glob.is_match(t)),
        Some("path") => path_matches(value, &node.path),
        Some("file") => node
            .path
            .rsplit('/')
            .next()
            .is_some_and(|f| glob.is_match(f) || f.split('.').next() == Some(value)),
        Some("fqn") => fqn_matches(value, glob, node),
        Some("package") => glob.is_match(node.package),
        Some("resource_type") => node.resource_type.name() == value,
        Some("test_type") => {
            node.test_type == Some(value)
                || (value == "data" && matches!(node.test_type, Some("singular" | "generic")))
        }
        Some("test_name") => {
            matches!(
                node.resource_type,
                ResourceType::Test | ResourceType::UnitTest
            ) && glob.is_match(node.name)
        }
        Some("source") => node
            .source
            .is_some_and(|(s, t)| match value.split_once('.') {
                Some((sv, tv)) => sv == s && glob_str(tv, t),
                None => glob_str(value, s),
            }),
        Some(m) if m.starts_with("config.") => {
            let key = Config::normalize_key(&m["config.".len()..]);
            match node.config.get(&key) {
                Some(serde_json::Value::Array(items)) => items
                    .iter()
                    .any(|i| json_text(i).is_some_and(|t| glob.is_match(t))),
                Some(v) => json_text(v).is_some_and(|t| glob.is_match(t)),
                None => false,
            }
        }
        Some(m) => {
            let hint = crate::diag::closest(m, METHODS.iter().copied())
                .map(|c| format!(" (did you mean '{c}:'?)"))
                .unwrap_or_default();
            return Err(SelectorError::UnknownMethod {
                method: m.to_string(),
                atom: text.to_string(),
                hint,
            });
        }
    })
}

fn json_text(v: &serde_json::Value) -> Option<String> {
    match v {
        serde_json::Value::String(s) => Some(s.clone()),
        serde_json::Value::Null => None,
        other => Some(other.to_string()),
    }
}

fn glob_str(pattern: &str, text: &str) -> bool {
    // Most terms are plain names; compiling a glob per node made selection quadratic-slow.
    if !pattern.contains(['*', '?', '[', '{']) {
        return pattern == text;
    }
    Glob::new(pattern)
        .map(|g| g.compile_matcher().is_match(text))
        .unwrap_or(pattern == text)
}

/// `path:models/staging` selects everything under the folder; a file path selects that file.
fn path_matches(value: &str, path: &str) -> bool {
    let value = value.trim_end_matches('/').trim_start_matches("./");
    path == value || path.starts_with(&format!("{value}/")) || glob_str(value, path)
}

/// A bare name matches the node's name, or a dotted prefix of its fqn with or without the
/// project name (`staging` and `demo.staging` select everything in models/staging).
fn fqn_matches(value: &str, glob: &GlobMatcher, node: &Candidate) -> bool {
    if glob.is_match(node.name) {
        return true;
    }
    let parts: Vec<&str> = value.split('.').collect();
    let prefix_of = |fqn: &[String]| {
        parts.len() <= fqn.len() && parts.iter().zip(fqn).all(|(p, f)| glob_str(p, f))
    };
    prefix_of(node.fqn) || (node.fqn.len() > 1 && prefix_of(&node.fqn[1..]))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_graph_operators() {
        let a = parse_atom("2+tag:nightly+1").unwrap();
        assert_eq!(
            (a.parents, a.children, a.method, a.value),
            (Some(Some(2)), Some(Some(1)), Some("tag"), "nightly")
        );
        let b = parse_atom("@fct").unwrap();
        assert!(b.at && b.parents.is_none());
        assert!(parse_atom("@+x").is_err());
    }

    fn candidate<'a>(id: &'a str, fqn: &'a [String], config: &'a Config) -> Candidate<'a> {
        Candidate {
            unique_id: id,
            name: id,
            resource_type: ResourceType::Model,
            fqn,
            path: format!("models/{id}.sql"),
            config,
            source: None,
            test_type: None,
            package: "p",
        }
    }

    #[test]
    fn selects_union_intersection_and_exclusion() {
        let graph = Graph::new(["a", "b", "c"], [("a", "b"), ("b", "c")]);
        let tagged = Config(
            serde_json::from_value(serde_json::json!({"tags": ["t"], "materialized": "table"}))
                .unwrap(),
        );
        let plain = Config::default();
        let fqns: Vec<Vec<String>> = ["a", "b", "c"]
            .iter()
            .map(|n| vec!["p".to_string(), n.to_string()])
            .collect();
        let nodes = vec![
            candidate("a", &fqns[0], &plain),
            candidate("b", &fqns[1], &tagged),
            candidate("c", &fqns[2], &plain),
        ];
        let run = |s: &[&str], e: &[&str]| {
            let s: Vec<String> = s.iter().map(|x| x.to_string()).collect();
            let e: Vec<String> = e.iter().map(|x| x.to_string()).collect();
            select(&graph, &nodes, &Marks::default(), &s, &e)
                .unwrap()
                .0
                .into_iter()
                .collect::<Vec<_>>()
        };
        assert_eq!(run(&["+b"], &[]), ["a", "b"]);
        assert_eq!(run(&["b+"], &[]), ["b", "c"]);
        assert_eq!(run(&["tag:t+"], &["c"]), ["b"]);
        assert_eq!(run(&["+c,config.materialized:table"], &[]), ["b"]);
        assert_eq!(run(&["a c"], &[]), ["a", "c"]);
        assert_eq!(run(&["@b"], &[]), ["a", "b", "c"]);
        assert_eq!(run(&["path:models"], &["a"]), ["b", "c"]);
        let err = select(
            &graph,
            &nodes,
            &Marks::default(),
            &["tga:x".to_string()],
            &[],
        )
        .unwrap_err();
        assert!(err.to_string().contains("did you mean 'tag:'"), "{err}");
    }
}

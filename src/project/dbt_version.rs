//! `require-dbt-version`: the dbt versions a project says it works with, checked against the
//! dbt version etlx follows.
//!
//! A project pins dbt versions because its macros and packages rely on what those versions
//! do. etlx follows dbt's behaviour as of one version, so a project that asks for a newer
//! one is told before it compiles to something subtly different; `--no-version-check` (dbt's
//! flag) skips the check for a project known to work.

use super::yaml::{Document, Yaml};
use crate::diag::Diagnostics;

/// The dbt version whose behaviour etlx follows (checked against dbt-core 1.10–1.12 with
/// dbt-duckdb on the fixtures under `tests/fixtures/dbt_*`).
pub const DBT_VERSION: &str = "1.10.0";

/// Report each constraint of `require-dbt-version` that `DBT_VERSION` does not meet.
pub(super) fn check_required_version(doc: &Document, diags: &mut Diagnostics) {
    let Some(node) = doc.root.get("require-dbt-version") else {
        return;
    };
    let items: Vec<&Yaml> = match node.items() {
        [] => vec![node],
        items => items.iter().collect(),
    };
    let ours = parse_version(DBT_VERSION).unwrap_or_default();
    for item in items {
        let Some(text) = item.as_scalar_string() else {
            diags.push(doc.error_at(
                item.pos,
                "project-file",
                "require-dbt-version takes a version constraint such as \">=1.5.0\", or a list of them",
            ));
            continue;
        };
        for constraint in text.split(',').map(str::trim).filter(|c| !c.is_empty()) {
            match satisfies(ours, constraint) {
                Some(true) => {}
                Some(false) => diags.push(
                    doc.error_at(
                        item.pos,
                        "dbt-version",
                        format!(
                            "this project requires dbt {constraint}; etlx follows dbt {DBT_VERSION}"
                        ),
                    )
                    .hint("if the project works with etlx anyway, run with --no-version-check"),
                ),
                None => diags.push(doc.error_at(
                    item.pos,
                    "project-file",
                    format!(
                        "'{constraint}' is not a version constraint: use an operator (>=, <=, >, <, =) and a version such as 1.8.0"
                    ),
                )),
            }
        }
    }
}

type Version = (u64, u64, u64);

/// `1.8`, `1.8.0`, `1.8.0b1` (a pre-release counts as its release).
fn parse_version(text: &str) -> Option<Version> {
    let mut parts = text.trim().split('.');
    let mut number = |required: bool| -> Option<u64> {
        match parts.next() {
            Some(p) => {
                let digits: String = p.chars().take_while(char::is_ascii_digit).collect();
                digits.parse().ok()
            }
            None if required => None,
            None => Some(0),
        }
    };
    let version = (number(true)?, number(false)?, number(false)?);
    parts.next().is_none().then_some(version)
}

/// Whether `version` meets one constraint (`>=1.5.0`); `None` when it cannot be read.
fn satisfies(version: Version, constraint: &str) -> Option<bool> {
    let (op, rest) = [">=", "<=", "==", ">", "<", "="]
        .iter()
        .find_map(|op| constraint.strip_prefix(op).map(|rest| (*op, rest)))
        .unwrap_or(("=", constraint));
    let wanted = parse_version(rest)?;
    Some(match op {
        ">=" => version >= wanted,
        "<=" => version <= wanted,
        ">" => version > wanted,
        "<" => version < wanted,
        _ => version == wanted,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn constraints_compare_versions_as_numbers() {
        let v = (1, 10, 0);
        assert_eq!(satisfies(v, ">=1.5.0"), Some(true));
        assert_eq!(satisfies(v, ">=1.9"), Some(true));
        assert_eq!(satisfies(v, "<2.0.0"), Some(true));
        assert_eq!(satisfies(v, ">1.10.0"), Some(false));
        assert_eq!(satisfies(v, "1.10.0"), Some(true));
        assert_eq!(satisfies(v, ">=1.11.0b2"), Some(false));
        assert_eq!(satisfies(v, ">=latest"), None);
    }
}

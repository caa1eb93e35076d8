//! Ephemeral models, inlined into their readers as CTEs (merged into an existing `with`), in
//! dependency order so one ephemeral may read another.

use super::Compilation;
use std::collections::{HashMap, HashSet};

/// Ephemeral models this node reads, directly or through other ephemerals, parents first
/// (`position` is each node's place in the graph's dependency order).
pub(super) fn ephemeral_ancestors(
    c: &Compilation,
    id: &str,
    position: &HashMap<String, usize>,
) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    let mut stack: Vec<String> = c
        .nodes
        .get(id)
        .map(|n| n.depends_on.clone())
        .unwrap_or_default();
    let mut seen = HashSet::new();
    while let Some(dep) = stack.pop() {
        let Some(node) = c.nodes.get(&dep) else {
            continue;
        };
        if !node.is_ephemeral() || !seen.insert(dep.clone()) {
            continue;
        }
        stack.extend(node.depends_on.iter().cloned());
        out.push(dep);
    }
    out.sort_by_key(|id| position.get(id).copied().unwrap_or(usize::MAX));
    out
}

/// Prepend the ephemeral models a node reads as CTEs (merged into its own WITH if it has one).
pub(super) fn inline_ephemerals(
    c: &Compilation,
    ancestors: &[String],
    sql: &str,
    raw: &HashMap<String, String>,
) -> Inlined {
    let ctes: Vec<String> = ancestors
        .iter()
        .filter_map(|dep| {
            let node = c.nodes.get(dep)?;
            let body = raw.get(dep)?.trim().trim_end_matches(';').trim_end();
            Some(format!("{} as (\n{body}\n)", node.relation.to_sql()))
        })
        .collect();
    if ctes.is_empty() {
        return Inlined {
            sql: sql.to_string(),
            at: 0,
            len: 0,
        };
    }
    let ctes = ctes.join(", ");
    let (at, inserted) = match with_clause_end(sql) {
        Some(at) => (at, format!("{ctes}, ")),
        None => (0, format!("with {ctes}\n")),
    };
    Inlined {
        sql: format!("{}{inserted}{}", &sql[..at], &sql[at..]),
        at,
        len: inserted.len(),
    }
}

/// A node's SQL with its ephemeral parents inlined: `len` bytes inserted at byte `at` of the
/// node's own SQL, so positions in the one map to the other.
pub(super) struct Inlined {
    pub(super) sql: String,
    at: usize,
    len: usize,
}

impl Inlined {
    /// The bytes inserted, if any.
    pub(super) fn inserted(&self) -> Option<std::ops::Range<usize>> {
        (self.len > 0).then(|| self.at..self.at + self.len)
    }

    /// The offset in the inlined SQL of `own_offset` in the model's own SQL.
    pub(super) fn map(&self, own_offset: usize) -> usize {
        offset_after_inlining(self.inserted().as_ref(), own_offset)
    }
}

/// The offset, in SQL where the bytes `inserted` were inlined, of `own_offset` in the SQL
/// without them.
pub(super) fn offset_after_inlining(
    inserted: Option<&std::ops::Range<usize>>,
    own_offset: usize,
) -> usize {
    match inserted {
        Some(range) if own_offset >= range.start => own_offset + range.len(),
        _ => own_offset,
    }
}

/// If `sql` starts with `WITH [RECURSIVE]`, the offset just after it.
pub(super) fn with_clause_end(sql: &str) -> Option<usize> {
    let mut rest = sql;
    loop {
        let trimmed = rest.trim_start();
        if let Some(after) = trimmed.strip_prefix("--") {
            rest = after.find('\n').map_or("", |i| &after[i..]);
        } else if let Some(after) = trimmed.strip_prefix("/*") {
            rest = after.find("*/").map_or("", |i| &after[i + 2..]);
        } else {
            rest = trimmed;
            break;
        }
    }
    let start = sql.len() - rest.len();
    // `get`, not slicing: the first word may be `clients_été`, and byte 9 of it is inside `é`.
    let word = |text: &str, w: &str| {
        text.get(..w.len())
            .is_some_and(|head| head.eq_ignore_ascii_case(w))
            && text[w.len()..].starts_with(char::is_whitespace)
    };
    if !word(rest, "with") {
        return None;
    }
    let mut at = start + 4;
    let after = sql[at..].trim_start();
    at = sql.len() - after.len();
    if word(after, "recursive") {
        let next = sql[at + 9..].trim_start();
        at = sql.len() - next.len();
    }
    Some(at)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn merges_into_an_existing_with() {
        assert_eq!(
            with_clause_end("-- c\nWITH x as (select 1) select * from x"),
            Some(10)
        );
        assert_eq!(
            with_clause_end("with recursive t as (select 1) select 1"),
            Some(15)
        );
        assert_eq!(with_clause_end("select 1 with"), None);
        assert_eq!(with_clause_end("withdrawals"), None);
        assert_eq!(
            with_clause_end("with clients_été as (select 1) select 1"),
            Some(5)
        );
        assert_eq!(with_clause_end("with été as (select 1) select 1"), Some(5));
    }
}

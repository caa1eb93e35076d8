//! Static analysis: each compiled model parsed with sqlparser in its target's dialect, so a
//! syntax error is reported at the model and position before the warehouse sees it.

use super::CompiledNode;
use super::ephemeral::Inlined;
use crate::diag::{Diagnostic, Location};
use crate::project::{Config, Node, Project, ResourceType};
use crate::sql::{self, StaticAnalysis};
use std::sync::Arc;

/// What a model's SQL problems are: errors, warnings, or not looked for.
pub fn static_analysis_of(project: &Project, config: &Config) -> StaticAnalysis {
    config
        .0
        .get("static_analysis")
        .and_then(StaticAnalysis::from_json)
        .unwrap_or(project.static_analysis)
}

/// What parsing a node's own SQL gave: its problem, and, for a model or snapshot, the query
/// itself, kept so column lineage does not parse it again.
#[derive(Default)]
pub(super) struct Analysed {
    pub problem: Option<Diagnostic>,
    pub query: Option<Arc<sqlparser::ast::Query>>,
}

/// Parse compiled SQL in the target dialect; what a failure means depends on `static_analysis`.
pub(super) fn analyze(
    project: &Project,
    node: &Node,
    compiled: &CompiledNode,
    own_sql: &str,
    written: &Inlined,
    path: &std::path::Path,
) -> Analysed {
    if node.resource_type == ResourceType::Model && !has_statement(own_sql) {
        // The warehouse would say `syntax error at ")"`, about SQL the user never wrote.
        let problem = Some(
            Diagnostic::error(
                "empty-model",
                format!(
                    "model '{}' has no SQL: after rendering, the file holds only whitespace and comments",
                    node.name
                ),
            )
            .at(node.file.location(0..0))
            .hint("a model is one select statement; write it, delete the file, or disable the model with {{ config(enabled=false) }}"),
        );
        return Analysed {
            problem,
            query: None,
        };
    }
    let mode = static_analysis_of(project, &compiled.config);
    if mode == StaticAnalysis::Off || own_sql.trim().is_empty() {
        return Analysed::default();
    }
    let err = match sql::parse(project.target.dialect, own_sql) {
        Ok(statements) => {
            let is_query = matches!(
                node.resource_type,
                ResourceType::Model | ResourceType::Snapshot
            );
            return Analysed {
                problem: None,
                query: is_query
                    .then(|| sql::single_query(statements).map(Arc::new))
                    .flatten(),
            };
        }
        Err(err) => err,
    };
    // Point into the file as written (with inlined CTEs), where the user will look.
    let offset = written.map(crate::diag::offset_of(own_sql, err.line, err.column));
    let (location, compiled_at) = source_location(node, path, &written.sql, offset);
    let message = format!(
        "SQL syntax error in {} '{}' ({}): {}",
        node.resource_type.name(),
        node.name,
        project.target.dialect,
        err.message
    );
    let d = match mode {
        StaticAnalysis::Strict => Diagnostic::error("sql-syntax", message).hint(
            "fix the SQL; if the warehouse accepts it and the parser does not, set `static_analysis: warn` on this model",
        ),
        _ => Diagnostic::warning("sql-syntax", message)
            .note("the model will still run (static_analysis: warn); the warehouse has the final word"),
    };
    Analysed {
        problem: Some(d.at(location).note(compiled_at)),
        query: None,
    }
}

/// The place of an error at `offset` of the compiled SQL (`compiled`, written to `path`): in
/// the model's own file when that line reads the same there, else in the compiled file; and
/// a note naming the other one.
pub fn source_location(
    node: &Node,
    path: &std::path::Path,
    compiled: &str,
    offset: usize,
) -> (Location, String) {
    let line_start = compiled[..offset].rfind('\n').map_or(0, |i| i + 1);
    let line_index = compiled[..line_start].matches('\n').count();
    let line = compiled[line_start..].lines().next().unwrap_or("");
    let column = compiled[line_start..offset].chars().count();
    let compiled_at = format!(
        "compiled: {}:{}:{}",
        crate::diag::display_path(path),
        line_index + 1,
        column + 1
    );
    let source = &node.file.text;
    let found = crate::diag::same_line_in(source, line, line_index).and_then(|i| {
        let indent = |l: &str| l.len() - l.trim_start().len();
        let text = source.lines().nth(i)?;
        let col = column.checked_sub(indent(line))? + indent(text);
        Some(crate::diag::offset_of(source, i + 1, col + 1))
    });
    match found {
        Some(at) => (
            node.file.location(at..at).moved_to(at).with_label("here"),
            compiled_at,
        ),
        None => (
            Location::new(path, Arc::from(compiled), offset..offset)
                .moved_to(offset)
                .with_label("here"),
            match node.tested.as_ref().and_then(|t| t.declared_at.as_ref()) {
                Some(at) => {
                    let (line, col) = at.line_col();
                    format!(
                        "generated for the test declared at [{}:{line}:{col}]",
                        crate::diag::display_path(&at.file)
                    )
                }
                None => format!(
                    "compiled from {}, by Jinja",
                    crate::diag::display_path(&node.file.path)
                ),
            },
        ),
    }
}

/// Whether `sql` holds anything but whitespace and comments.
pub(super) fn has_statement(sql: &str) -> bool {
    let mut rest = sql.trim_start();
    loop {
        if let Some(after) = rest.strip_prefix("--") {
            rest = after.find('\n').map_or("", |i| &after[i..]).trim_start();
        } else if let Some(after) = rest.strip_prefix("/*") {
            rest = after
                .find("*/")
                .map_or("", |i| &after[i + 2..])
                .trim_start();
        } else {
            return !rest.trim().trim_end_matches(';').trim().is_empty();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn comments_and_whitespace_are_no_statement() {
        assert!(!has_statement(
            "  \n-- only a comment\n/* and a block */\n;\n"
        ));
        assert!(!has_statement(""));
        assert!(has_statement("-- a comment\nselect 1"));
        assert!(has_statement("/* x */ select 1"));
    }
}

//! Where in the user's file a warehouse error is.
//!
//! DuckDB and PostgreSQL name a `LINE n` of the statement they were sent, which is the
//! compiled model wrapped in etlx's own SQL (`create table ... as (`), after Jinja. The user
//! edits the model file, so the line is mapped back: out of the wrapper into the compiled
//! file, and from there to the source line that reads the same (Jinja keeps most lines as
//! they were; a line a macro wrote has no source line, and then the compiled one is named).

use std::path::Path;

/// The `LINE n` a warehouse error names, if any, and the column its `^` marks in that
/// line of `statement` (0-based), when it can be told.
fn error_line(message: &str, statement: &str) -> Option<(usize, Option<usize>)> {
    let at = message.find("LINE ")?;
    let rest = &message[at + 5..];
    let digits: String = rest.chars().take_while(char::is_ascii_digit).collect();
    let n: usize = digits.parse().ok().filter(|n| *n > 0)?;
    let prefix = format!("LINE {n}: ");
    let mut lines = message[at..].lines();
    let shown = lines.next()?.strip_prefix(&prefix)?;
    let caret = lines.next()?.find('^')?.checked_sub(prefix.len());
    // DuckDB shows a long line's middle, behind `...`.
    let (shown, cut) = match shown.strip_prefix("...") {
        Some(s) => (s, 3),
        None => (shown, 0),
    };
    let line = statement.lines().nth(n - 1)?;
    let base = line.find(shown.trim_end_matches("...")).unwrap_or(0);
    Some((n, caret.and_then(|c| c.checked_sub(cut)).map(|c| base + c)))
}

/// `at [models/x.sql:5:3] (compiled: [target/compiled/p/models/x.sql:5:3])` for an error `message`
/// raised by `statement`, which holds `compiled` (the model's compiled SQL); `None` when the
/// error names no line of the model.
pub fn locate(
    message: &str,
    statement: &str,
    compiled: &str,
    compiled_path: &Path,
    source_path: &Path,
    source: &str,
) -> Option<String> {
    let (n, column) = error_line(message, statement)?;
    let line = statement.lines().nth(n - 1)?;
    let body = compiled.trim();
    let start = statement.find(body)?;
    let lines_before = statement[..start].matches('\n').count();
    // The compiled file keeps the leading blank lines that `trim` dropped here.
    let leading = compiled[..compiled.find(body)?].matches('\n').count();
    let in_body = n.checked_sub(lines_before)?;
    if in_body == 0 || in_body > body.lines().count() {
        return None;
    }
    let compiled_line = in_body + leading;
    // Columns count from 1, in the line as each file has it (indentation may differ).
    let indent = |l: &str| l.len() - l.trim_start().len();
    let col_in = |l: &str| {
        column
            .and_then(|c| c.checked_sub(indent(line)))
            .map_or(String::new(), |c| format!(":{}", c + indent(l) + 1))
    };
    let compiled_text = compiled.lines().nth(compiled_line - 1).unwrap_or(line);
    let compiled_at = format!(
        "[{}:{compiled_line}{}]",
        crate::diag::display_path(compiled_path),
        col_in(compiled_text)
    );
    let source_line = crate::diag::same_line_in(source, line, compiled_line - 1)
        .and_then(|i| Some((i, source.lines().nth(i)?)));
    Some(match source_line {
        Some((i, text)) => format!(
            "at [{}:{}{}] (compiled: {compiled_at})",
            crate::diag::display_path(source_path),
            i + 1,
            col_in(text)
        ),
        None => format!(
            "at {compiled_at}, a line written by Jinja in {}",
            crate::diag::display_path(source_path)
        ),
    })
}

/// DuckDB's CSV error, without what is noise for a seed: the reader's options, its advice to
/// skip bad rows (a seed must load whole), and the `read_csv(...)` call etlx wrote.
pub fn tidy_seed_error(message: &str) -> String {
    if !message.contains("CSV Error") {
        return message.to_string();
    }
    let head = message.split("\n  file = ").next().unwrap_or(message);
    head.lines()
        .filter(|l| !l.contains("ignore_errors"))
        .collect::<Vec<_>>()
        .join("\n")
        .trim_end()
        .to_string()
}

/// For a seed: `at [seeds/x.csv:7:1]` when DuckDB names a line of the file (`CSV Error on
/// Line: 7`), or the place in the YAML or project file of a `column_types` entry DuckDB
/// refused (a type it does not know, a column the file does not have).
pub fn locate_in_seed(
    project: &crate::project::Project,
    seed: &crate::project::Node,
    message: &str,
) -> Option<String> {
    let shown = crate::diag::display_path;
    if let Some(at) = message.find("CSV Error on Line: ") {
        let digits: String = message[at + 19..]
            .chars()
            .take_while(char::is_ascii_digit)
            .collect();
        let line: usize = digits.parse().ok()?;
        return Some(format!("at [{}:{line}:1]", shown(&seed.file.path)));
    }
    // `Type with name not_a_type does not exist`, or `Columns with names: "amont" do not
    // exist in the CSV File`: a `column_types` entry names either.
    let (name, what) = if let Some(at) = message.find("Type with name ") {
        let name: String = message[at + 15..]
            .chars()
            .take_while(|c| !c.is_whitespace())
            .collect();
        (name, "names a type the warehouse does not know")
    } else {
        let at = message.find("Columns with names: \"")?;
        let rest = &message[at + 21..];
        (
            rest[..rest.find('"')?].to_string(),
            "names a column the file does not have",
        )
    };
    let files = seed
        .patch_path
        .iter()
        .chain(std::iter::once(&project.project_file));
    for file in files {
        let text = std::fs::read_to_string(project.root.join(file)).ok()?;
        if let Some(offset) = text.find(&name) {
            let (line, col) = crate::diag::line_col(&text, offset);
            return Some(format!(
                "at [{}:{line}:{col}]: a `column_types` entry {what}",
                shown(file)
            ));
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_line_of_the_statement_maps_to_the_model_file() {
        let source = "{{ config(materialized='table') }}\n-- note\nselect\n  1 as id,\n  {{ col }} as x\nfrom t\n";
        let compiled = "\n-- note\nselect\n  1 as id,\n  nope as x\nfrom t\n";
        let statement = "begin;\ncreate table \"main\".\"a__etlx_tmp\" as (\n-- note\nselect\n  1 as id,\n  nope as x\nfrom t\n)";
        let message = "Binder Error: Referenced column \"nope\" not found\n\nLINE 6:   nope as x\n          ^^^^";
        let at = locate(
            message,
            statement,
            compiled,
            Path::new("target/compiled/p/models/a.sql"),
            Path::new("models/a.sql"),
            source,
        );
        // `nope as x` was written by Jinja (`{{ col }}`): the compiled line is named.
        assert_eq!(
            at.as_deref(),
            Some(
                "at [target/compiled/p/models/a.sql:5:3], a line written by Jinja in models/a.sql"
            )
        );
        let message = "Conversion Error\n\nLINE 5:   1 as id,\n            ^^";
        let at = locate(
            message,
            statement,
            compiled,
            Path::new("target/compiled/p/models/a.sql"),
            Path::new("models/a.sql"),
            source,
        );
        assert_eq!(
            at.as_deref(),
            Some("at [models/a.sql:4:5] (compiled: [target/compiled/p/models/a.sql:4:5])")
        );
        assert_eq!(
            locate(
                "no line here",
                statement,
                compiled,
                Path::new("c"),
                Path::new("s"),
                source
            ),
            None
        );
    }
}

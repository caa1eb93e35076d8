//! Problems in the user's project, as plain data.
//!
//! Every stage (YAML loading, templating, graph building, SQL analysis) reports what it finds
//! as `Diagnostic`s instead of failing on the first one, so a single `etlx compile` shows every
//! mistake at once. Diagnostics carry their own copy of the source text they point into, which
//! keeps rendering independent of the file system and lets one printer (`render`) draw them all.

use std::fmt;
use std::ops::Range;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use miette::{
    GraphicalReportHandler, GraphicalTheme, LabeledSpan, MietteError, MietteSpanContents,
    SourceCode, SourceSpan, SpanContents,
};
use serde::Serialize;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    Warning,
    Error,
}

/// A place in a file: the file (relative to the project root), its text, and a byte range.
#[derive(Debug, Clone)]
pub struct Location {
    pub file: PathBuf,
    pub source: Arc<str>,
    pub span: Range<usize>,
    pub label: Option<String>,
}

impl Location {
    pub fn new(file: impl Into<PathBuf>, source: Arc<str>, span: Range<usize>) -> Self {
        let span = clamp_span(&source, span);
        Location {
            file: file.into(),
            source,
            span,
            label: None,
        }
    }

    /// A location given as 1-based line and column, as YAML and SQL parsers report them.
    pub fn at_line_col(
        file: impl Into<PathBuf>,
        source: Arc<str>,
        line: usize,
        col: usize,
    ) -> Self {
        let start = offset_of(&source, line, col);
        let end = token_end(&source, start);
        Location::new(file, source, start..end)
    }

    /// The same file, pointing at the token that starts at byte `start`.
    pub fn moved_to(self, start: usize) -> Self {
        let end = token_end(&self.source, start.min(self.source.len()));
        let span = clamp_span(&self.source, start..end);
        Location { span, ..self }
    }

    pub fn with_label(mut self, label: impl Into<String>) -> Self {
        self.label = Some(label.into());
        self
    }

    /// 1-based (line, column) of the start of the span.
    pub fn line_col(&self) -> (usize, usize) {
        line_col(&self.source, self.span.start)
    }
}

#[derive(Debug, Clone)]
pub struct Diagnostic {
    pub severity: Severity,
    /// A short stable code, e.g. `ref-not-found`, for tooling and for tests.
    pub code: &'static str,
    pub message: String,
    /// Where it happened; `None` for problems that have no place (e.g. a missing profile).
    pub location: Option<Location>,
    /// Other places that explain it: the caller of a failing macro, the other duplicate file.
    pub related: Vec<(String, Location)>,
    pub notes: Vec<String>,
    pub hint: Option<String>,
}

impl Diagnostic {
    pub fn error(code: &'static str, message: impl Into<String>) -> Self {
        Diagnostic {
            severity: Severity::Error,
            code,
            message: message.into(),
            location: None,
            related: Vec::new(),
            notes: Vec::new(),
            hint: None,
        }
    }

    pub fn warning(code: &'static str, message: impl Into<String>) -> Self {
        Diagnostic {
            severity: Severity::Warning,
            ..Diagnostic::error(code, message)
        }
    }

    pub fn at(mut self, location: Location) -> Self {
        self.location = Some(location);
        self
    }

    pub fn related(mut self, message: impl Into<String>, location: Location) -> Self {
        self.related.push((message.into(), location));
        self
    }

    pub fn note(mut self, note: impl Into<String>) -> Self {
        self.notes.push(note.into());
        self
    }

    pub fn hint(mut self, hint: impl Into<String>) -> Self {
        self.hint = Some(hint.into());
        self
    }

    pub fn is_error(&self) -> bool {
        self.severity == Severity::Error
    }

    /// `file:line:col` of the primary location, the way editors and CI annotate.
    pub fn position(&self) -> Option<String> {
        self.location.as_ref().map(|loc| {
            let (line, col) = loc.line_col();
            format!("{}:{line}:{col}", display_path(&loc.file))
        })
    }
}

/// The diagnostics of one run, in the order they were found.
#[derive(Debug, Default, Clone)]
pub struct Diagnostics(Vec<Diagnostic>);

impl Diagnostics {
    pub fn iter_mut(&mut self) -> impl Iterator<Item = &mut Diagnostic> {
        self.0.iter_mut()
    }

    pub fn push(&mut self, diagnostic: Diagnostic) {
        self.0.push(diagnostic);
    }

    pub fn extend(&mut self, other: impl IntoIterator<Item = Diagnostic>) {
        self.0.extend(other);
    }

    pub fn has_errors(&self) -> bool {
        self.0.iter().any(Diagnostic::is_error)
    }

    pub fn error_count(&self) -> usize {
        self.0.iter().filter(|d| d.is_error()).count()
    }

    pub fn iter(&self) -> impl Iterator<Item = &Diagnostic> {
        self.0.iter()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl IntoIterator for Diagnostics {
    type Item = Diagnostic;
    type IntoIter = std::vec::IntoIter<Diagnostic>;
    fn into_iter(self) -> Self::IntoIter {
        self.0.into_iter()
    }
}

/// How diagnostics are drawn: with colour for terminals, plain for logs and snapshot tests.
#[derive(Debug, Clone, Copy)]
pub struct RenderStyle {
    pub color: bool,
    pub width: usize,
}

/// The one printer: a diagnostic as text with a source snippet, `file:line:col` and notes.
pub fn render(diagnostic: &Diagnostic, style: RenderStyle) -> String {
    let theme = if style.color {
        GraphicalTheme::unicode()
    } else {
        GraphicalTheme::unicode_nocolor()
    };
    let handler = GraphicalReportHandler::new_themed(theme)
        .with_width(style.width)
        .with_links(false)
        .with_context_lines(2);
    let mut out = String::new();
    let report = Report::from(diagnostic);
    if handler.render_report(&mut out, &report).is_err() {
        // Rendering only fails on a broken span; the message alone still helps.
        out = format!("{}: {}\n", diagnostic.code, diagnostic.message);
    }
    out
}

/// A diagnostic as one JSON object, for `--log-format json`.
pub fn to_json(diagnostic: &Diagnostic) -> serde_json::Value {
    let loc = diagnostic.location.as_ref().map(|l| {
        let (line, column) = l.line_col();
        serde_json::json!({"file": display_path(&l.file), "line": line, "column": column})
    });
    serde_json::json!({
        "severity": diagnostic.severity,
        "code": diagnostic.code,
        "message": diagnostic.message,
        "location": loc,
        "notes": diagnostic.notes,
        "hint": diagnostic.hint,
    })
}

/// Paths in messages use `/` on every platform so output is the same everywhere.
pub fn display_path(path: &Path) -> String {
    path.to_string_lossy().replace('\\', "/")
}

/// 1-based line and column (in characters) of a byte offset.
pub fn line_col(text: &str, offset: usize) -> (usize, usize) {
    let offset = floor_char_boundary(text, offset.min(text.len()));
    let before = &text[..offset];
    let line = before.matches('\n').count() + 1;
    let line_start = before.rfind('\n').map_or(0, |i| i + 1);
    (line, text[line_start..offset].chars().count() + 1)
}

/// Byte offset of a 1-based line and column (in characters); clamps to the text.
pub fn offset_of(text: &str, line: usize, col: usize) -> usize {
    let mut start = 0;
    for _ in 1..line.max(1) {
        match text[start..].find('\n') {
            Some(i) => start += i + 1,
            None => return text.len(),
        }
    }
    let line_text = &text[start..text[start..].find('\n').map_or(text.len(), |i| start + i)];
    start
        + line_text
            .char_indices()
            .nth(col.saturating_sub(1))
            .map_or(line_text.len(), |(i, _)| i)
}

/// The line of `source` (0-based) that reads as `line` does, ignoring indentation, the one
/// nearest `near` if several do: how a line of compiled SQL is found in the file it came from
/// (Jinja keeps most lines as written). `None` for a blank line or one Jinja wrote.
pub fn same_line_in(source: &str, line: &str, near: usize) -> Option<usize> {
    let wanted = line.trim();
    if wanted.is_empty() {
        return None;
    }
    source
        .lines()
        .enumerate()
        .filter(|(_, l)| l.trim() == wanted)
        .map(|(i, _)| i)
        .min_by_key(|i| i.abs_diff(near))
}

/// The end of the word or quoted token starting at `start`, so a label underlines something.
fn token_end(text: &str, start: usize) -> usize {
    let rest = &text[start.min(text.len())..];
    let len = rest
        .char_indices()
        .find(|(_, c)| c.is_whitespace() || matches!(c, ',' | ')' | '(' | ';'))
        .map_or(rest.len(), |(i, _)| i);
    start + len.max(rest.chars().next().map_or(0, char::len_utf8))
}

fn clamp_span(text: &str, span: Range<usize>) -> Range<usize> {
    let start = floor_char_boundary(text, span.start.min(text.len()));
    let end = floor_char_boundary(text, span.end.clamp(start, text.len()));
    start..end
}

fn floor_char_boundary(text: &str, mut i: usize) -> usize {
    while i > 0 && !text.is_char_boundary(i) {
        i -= 1;
    }
    i
}

/// Adapter from our plain data to miette's trait objects, used only while rendering.
struct Report {
    severity: Severity,
    code: &'static str,
    message: String,
    source: Option<Source>,
    labels: Vec<LabeledSpan>,
    related: Vec<Report>,
    help: Option<String>,
}

impl From<&Diagnostic> for Report {
    fn from(d: &Diagnostic) -> Self {
        let mut help = Vec::new();
        help.extend(d.hint.iter().cloned());
        help.extend(d.notes.iter().map(|n| format!("note: {n}")));
        let mut report = Report::at(d.severity, d.code, d.message.clone(), d.location.as_ref());
        report.help = (!help.is_empty()).then(|| help.join("\n"));
        report.related = d
            .related
            .iter()
            .map(|(message, loc)| Report::at(Severity::Warning, "", message.clone(), Some(loc)))
            .collect();
        report
    }
}

impl Report {
    fn at(severity: Severity, code: &'static str, message: String, loc: Option<&Location>) -> Self {
        let (source, labels) = match loc {
            Some(loc) => (
                Some(Source {
                    name: display_path(&loc.file),
                    text: loc.source.clone(),
                }),
                vec![LabeledSpan::new_primary_with_span(
                    loc.label.clone(),
                    loc.span.clone(),
                )],
            ),
            None => (None, Vec::new()),
        };
        Report {
            severity,
            code,
            message,
            source,
            labels,
            related: Vec::new(),
            help: None,
        }
    }
}

/// A file's text for miette. miette counts the column of the `[file:line:col]` header in
/// bytes and takes a lone `\r` for a line break, so after a non-ASCII character it named
/// another column than `Diagnostic::position` and `--log-format json` do; the header's
/// position is taken from `line_col` instead, the one count everything else uses.
struct Source {
    name: String,
    text: Arc<str>,
}

impl SourceCode for Source {
    fn read_span<'a>(
        &'a self,
        span: &SourceSpan,
        context_lines_before: usize,
        context_lines_after: usize,
    ) -> Result<Box<dyn SpanContents<'a> + 'a>, MietteError> {
        let inner = self
            .text
            .read_span(span, context_lines_before, context_lines_after)?;
        // Only a read without context gives the header its position; with context miette
        // reports column 0 and numbers the snippet's lines itself.
        let (line, column) = if context_lines_before == 0 && context_lines_after == 0 {
            let (line, col) = line_col(&self.text, span.offset());
            (line - 1, col - 1)
        } else {
            (inner.line(), inner.column())
        };
        Ok(Box::new(MietteSpanContents::new_named(
            self.name.clone(),
            inner.data(),
            *inner.span(),
            line,
            column,
            inner.line_count(),
        )))
    }
}

impl fmt::Debug for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl fmt::Display for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for Report {}

impl miette::Diagnostic for Report {
    fn code<'a>(&'a self) -> Option<Box<dyn fmt::Display + 'a>> {
        (!self.code.is_empty()).then(|| Box::new(self.code) as Box<dyn fmt::Display>)
    }

    fn severity(&self) -> Option<miette::Severity> {
        Some(match self.severity {
            Severity::Error => miette::Severity::Error,
            Severity::Warning if self.code.is_empty() => miette::Severity::Advice,
            Severity::Warning => miette::Severity::Warning,
        })
    }

    fn help<'a>(&'a self) -> Option<Box<dyn fmt::Display + 'a>> {
        self.help
            .as_ref()
            .map(|h| Box::new(h) as Box<dyn fmt::Display>)
    }

    fn source_code(&self) -> Option<&dyn SourceCode> {
        self.source.as_ref().map(|s| s as &dyn SourceCode)
    }

    fn labels(&self) -> Option<Box<dyn Iterator<Item = LabeledSpan> + '_>> {
        (!self.labels.is_empty()).then(|| Box::new(self.labels.iter().cloned()) as Box<_>)
    }

    fn related<'a>(&'a self) -> Option<Box<dyn Iterator<Item = &'a dyn miette::Diagnostic> + 'a>> {
        (!self.related.is_empty())
            .then(|| Box::new(self.related.iter().map(|r| r as &dyn miette::Diagnostic)) as Box<_>)
    }
}

/// The candidate closest to `name`, if close enough to be a plausible typo: a couple of
/// edits (a transposition counts as one) or a high Jaro-Winkler similarity.
pub fn closest<'a>(name: &str, candidates: impl IntoIterator<Item = &'a str>) -> Option<String> {
    let name_lower = name.to_ascii_lowercase();
    let max_edits = (name.chars().count() / 4).max(1);
    candidates
        .into_iter()
        .filter(|c| *c != name)
        .map(|c| {
            let lower = c.to_ascii_lowercase();
            (
                strsim::osa_distance(&name_lower, &lower),
                strsim::jaro_winkler(&name_lower, &lower),
                c,
            )
        })
        .filter(|(edits, score, _)| *edits <= max_edits || *score >= 0.9)
        .min_by(|a, b| {
            a.0.cmp(&b.0)
                .then(b.1.total_cmp(&a.1))
                .then_with(|| a.2.cmp(b.2))
        })
        .map(|(_, _, c)| c.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn line_col_round_trips() {
        let text = "select 1\nfrom tëst\nwhere x";
        let off = offset_of(text, 2, 6);
        assert!(text[off..].starts_with("tëst"));
        assert_eq!(line_col(text, off), (2, 6));
        assert_eq!(offset_of(text, 9, 1), text.len());
    }

    #[test]
    fn renders_position_and_hint() {
        let src: Arc<str> = Arc::from("select * from {{ ref('orderz') }}\n");
        let d = Diagnostic::error("ref-not-found", "model 'orderz' not found")
            .at(Location::new("models/a.sql", src, 22..28))
            .hint("did you mean 'orders'?");
        assert_eq!(d.position().as_deref(), Some("models/a.sql:1:23"));
        let text = render(
            &d,
            RenderStyle {
                color: false,
                width: 100,
            },
        );
        assert!(text.contains("models/a.sql:1:23"), "{text}");
        assert!(text.contains("did you mean 'orders'?"), "{text}");
    }

    /// Found by the property tests: the drawn header counted bytes, `position()` characters.
    #[test]
    fn drawn_position_counts_characters_like_position() {
        let style = RenderStyle {
            color: false,
            width: 100,
        };
        for (text, at) in [("größe union all $$", 16), ("a\r: b\né: x", 9)] {
            let d = Diagnostic::error("sql-syntax", "broken").at(Location::new(
                "x.sql",
                Arc::from(text),
                at..at + 1,
            ));
            let position = d.position().unwrap_or_default();
            let drawn = render(&d, style);
            assert!(
                drawn.contains(&format!("[{position}]")),
                "{position}\n{drawn}"
            );
        }
    }

    #[test]
    fn suggests_close_names_only() {
        assert_eq!(
            closest("stg_evnts", ["stg_events", "dim_users"]).as_deref(),
            Some("stg_events")
        );
        assert_eq!(closest("zzz", ["stg_events"]), None);
    }
}

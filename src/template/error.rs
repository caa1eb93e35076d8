//! Turning minijinja errors into diagnostics that point at the user's files.
//!
//! minijinja reports positions in the text it compiled, which for models includes the macro
//! prelude and for macro files includes renamed definitions; both are mapped back here so the
//! user sees the line and column of their own file. An error inside a macro also names the
//! model that called it.

use minijinja::{Error, ErrorKind};

use super::{MACRO_PREFIX, RewrittenFile, Templates};
use crate::diag::{Diagnostic, Location};
use crate::project::SourceFile;
use crate::project::macros::macro_definitions;

/// An error raised while rendering `model` (a model, test or hook file). `stack` holds the
/// macros that were being called, outermost first; each call site becomes a related location.
pub(crate) fn render_diagnostic(
    err: &Error,
    model: &SourceFile,
    prelude_len: usize,
    stack: &[String],
    templates: &Templates,
) -> Diagnostic {
    let model_name = crate::diag::display_path(&model.path);
    let failing = err.name().unwrap_or(&model_name).to_string();
    let mut diag = match templates
        .files
        .get(&failing)
        .filter(|_| failing != model_name)
    {
        Some((file, rewritten)) => {
            let span = span_of(err, &rewritten.text)
                .map(|r| rewritten.original_offset(r.start)..rewritten.original_offset(r.end));
            diagnostic(err, file, span, templates)
        }
        None => {
            let source = format!("{}{}", " ".repeat(prelude_len), model.text);
            let span = span_of(err, &source)
                .map(|r| r.start.saturating_sub(prelude_len)..r.end.saturating_sub(prelude_len));
            diagnostic(err, model, span, templates)
        }
    };
    let mut caller = (model_name.clone(), model);
    for name in stack {
        diag = diag.related(
            format!("{} calls {name}()", caller.0),
            call_site(caller.1, name),
        );
        match templates.macro_file(name) {
            Some(file) => {
                caller = (
                    format!("{name}() in {}", crate::diag::display_path(&file.path)),
                    file,
                )
            }
            None => break,
        }
    }
    diag
}

/// A syntax error found when compiling a macro file.
pub(crate) fn syntax_diagnostic(
    err: &Error,
    file: &SourceFile,
    rewritten: &RewrittenFile,
    _prelude: usize,
) -> Diagnostic {
    let span = span_of(err, &rewritten.text)
        .map(|r| rewritten.original_offset(r.start)..rewritten.original_offset(r.end));
    let message = message_of(err);
    Diagnostic::error(code_of(err), message).at(file.location(span.unwrap_or(0..0)))
}

fn diagnostic(
    err: &Error,
    file: &SourceFile,
    span: Option<std::ops::Range<usize>>,
    templates: &Templates,
) -> Diagnostic {
    let span = span.unwrap_or(0..0);
    let mut diag = Diagnostic::error(code_of(err), message_of(err)).at(file.location(span.clone()));
    if err.kind() == ErrorKind::OutOfFuel {
        diag = diag.hint(format!(
            "rendering was stopped after {} million template steps; look for a loop that never ends or runs far more often than meant (nested range() loops, a macro calling itself)",
            super::TEMPLATE_FUEL / 1_000_000
        ));
    }
    if err.kind() == ErrorKind::UndefinedError || err.kind() == ErrorKind::UnknownFunction {
        let word = identifier_at(&file.text, span.start);
        if let Some(word) = word.filter(|w| !w.is_empty()) {
            let names = templates
                .files
                .values()
                .flat_map(|(f, _)| macro_definitions(&f.text))
                .map(|d| d.name);
            let builtins = [
                "ref",
                "source",
                "config",
                "var",
                "env_var",
                "this",
                "target",
                "is_incremental",
                "adapter",
                "return",
                "log",
                "exceptions",
                "model",
                "execute",
            ];
            let candidates: Vec<String> = names
                .chain(builtins.iter().map(|s| s.to_string()))
                .collect();
            if let Some(close) = crate::diag::closest(&word, candidates.iter().map(String::as_str))
            {
                diag = diag.hint(format!("did you mean '{close}'?"));
            }
        }
    }
    diag
}

/// minijinja's message without its own location suffix; renamed macros get their names back.
fn message_of(err: &Error) -> String {
    let detail = err.detail().map(str::to_string);
    let text = match (err.kind(), detail) {
        (ErrorKind::UndefinedError, None) => "undefined value".to_string(),
        (ErrorKind::UndefinedError, Some(d)) => format!("undefined value: {d}"),
        (ErrorKind::SyntaxError, Some(d)) => format!("template syntax error: {d}"),
        (ErrorKind::OutOfFuel, _) => {
            "the template did not finish rendering (out of fuel)".to_string()
        }
        (_, Some(d)) => d,
        (kind, None) => kind.to_string(),
    };
    text.replace(MACRO_PREFIX, "")
}

fn code_of(err: &Error) -> &'static str {
    match err.kind() {
        ErrorKind::SyntaxError => "jinja-syntax",
        ErrorKind::UndefinedError => "jinja-undefined",
        ErrorKind::UnknownFunction => "jinja-unknown-function",
        ErrorKind::OutOfFuel => "jinja-out-of-fuel",
        _ if err
            .detail()
            .is_some_and(|d| d.starts_with("compiler error:")) =>
        {
            "compiler-error"
        }
        _ => "jinja-error",
    }
}

/// The byte range minijinja reports, or the start of the line it names.
fn span_of(err: &Error, source: &str) -> Option<std::ops::Range<usize>> {
    if let Some(range) = err.range() {
        return Some(range);
    }
    let start = crate::diag::offset_of(source, err.line()?, 1);
    Some(start..start)
}

fn identifier_at(text: &str, offset: usize) -> Option<String> {
    let rest = text.get(offset..)?;
    let word: String = rest
        .chars()
        .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
        .collect();
    Some(word)
}

/// Where `file` calls `name(`; the start of the file when the call is indirect (dispatch).
fn call_site(file: &SourceFile, name: &str) -> Location {
    let found = Some(name).and_then(|n| {
        let text = &file.text;
        let mut from = 0;
        while let Some(i) = text[from..].find(n) {
            let at = from + i;
            let before = &text[..at];
            let is_definition =
                before.trim_end().ends_with("macro") || before.trim_end().ends_with("test");
            let before_ok = !is_definition
                && !before.ends_with(|c: char| c.is_ascii_alphanumeric() || c == '_' || c == '.');
            if before_ok && text[at + n.len()..].trim_start().starts_with('(') {
                return Some(at..at + n.len());
            }
            from = at + n.len();
        }
        None
    });
    file.location(found.unwrap_or(0..0))
        .with_label("called here")
}

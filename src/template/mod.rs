//! The minijinja environment that renders models the way dbt renders them.
//!
//! dbt's macros are global: any model or macro may call any macro by name, and `return()` hands
//! back a value rather than text. minijinja scopes macros to the template that imports them and
//! binds each macro to the render state it was created in, so every render imports the
//! project's macro files into its own state through a one-line prelude (line numbers stay
//! exact), and bare names resolve through the render's root context, which wraps each macro to
//! implement `return()`. Macro definitions are renamed (`etlx__macro__<name>`: minijinja
//! exports no names starting with `_`) so that even calls between macros of the same file go
//! through that wrapper.
//!
//! Defining a macro costs every render that imports it, and etlx's own macro files (the generic
//! tests, dbt's global macros) hold far more macros than most renders call. For those the
//! prelude only defines a loader macro, which imports the file into the render the first time
//! one of its macros is called (minijinja evaluates an import in a context of its own, so the
//! file's macros see the render's globals wherever that first call happens).

mod collections;
mod context;
#[cfg(test)]
mod dbt_macros_tests;
mod error;
mod relation;
mod warehouse;

use std::collections::HashMap;
use std::ops::Range;
use std::sync::Arc;

use minijinja::{Environment, UndefinedBehavior, Value};

pub use context::{Captured, Mode, NodeContext, RefCall, RenderRequest, Shared};
pub use relation::{BATCH_END, BATCH_ID, BATCH_START, Relation};

use crate::diag::{Diagnostic, Diagnostics};
use crate::project::is_builtin_macro_file;
use crate::project::macros::macro_definitions;
use crate::project::{Project, SourceFile};

/// Prefix given to macro definitions in macro files (see the module comment).
pub(crate) const MACRO_PREFIX: &str = "etlx__macro__";

/// A macro file as minijinja sees it: definitions renamed, `{% test %}` turned into macros.
/// `anchors` pairs the end of each edit in the rewritten text with the same place in the
/// original, so error positions can be mapped back.
#[derive(Debug, Clone)]
pub(crate) struct RewrittenFile {
    pub text: String,
    anchors: Vec<(usize, usize)>,
}

impl RewrittenFile {
    fn new(original: &str) -> RewrittenFile {
        let mut edits: Vec<(Range<usize>, String)> = Vec::new();
        for def in macro_definitions(original) {
            let keyword = if def.is_test { "test" } else { "macro" };
            let kw_start = original[..def.span.start]
                .rfind(keyword)
                .unwrap_or(def.span.start);
            let prefix = if def.is_test { "test_" } else { "" };
            edits.push((
                kw_start..def.span.start,
                format!("macro {MACRO_PREFIX}{prefix}"),
            ));
        }
        edits.extend(collections::mutable_literal_edits(original));
        let mut search = 0;
        while let Some(i) = original[search..].find("endtest") {
            let at = search + i;
            if original[..at].trim_end_matches([' ', '-']).ends_with("{%") {
                edits.push((at..at + "endtest".len(), "endmacro".to_string()));
            }
            search = at + "endtest".len();
        }
        edits.sort_by_key(|(range, _)| range.start);
        let mut text = String::with_capacity(original.len() + 16 * edits.len());
        let mut anchors = Vec::with_capacity(edits.len());
        let mut last = 0;
        for (range, replacement) in edits {
            text.push_str(&original[last..range.start]);
            text.push_str(&replacement);
            last = range.end;
            anchors.push((text.len(), range.end));
        }
        text.push_str(&original[last..]);
        RewrittenFile { text, anchors }
    }

    /// Map a byte offset in the rewritten text back to the original file.
    pub fn original_offset(&self, offset: usize) -> usize {
        match self
            .anchors
            .iter()
            .rev()
            .find(|(rewritten, _)| *rewritten <= offset)
        {
            Some((rewritten, original)) => original + (offset - rewritten),
            None => offset,
        }
    }
}

/// The environment of one project: macro files compiled once, shared by every render.
pub struct Templates {
    env: Environment<'static>,
    /// Imports the project's macro files into the render's state, and defines the loaders of
    /// etlx's own; prepended to each model on line 1.
    prelude: String,
    pub(crate) files: HashMap<String, (SourceFile, RewrittenFile)>,
    /// Which prelude module (by position) defines each macro.
    pub macro_index: Arc<HashMap<String, usize>>,
}

/// Instructions one render may run before it is stopped (see `Templates::new`).
pub const TEMPLATE_FUEL: u64 = 50_000_000;

impl Templates {
    pub fn new(project: &Project, diags: &mut Diagnostics) -> Templates {
        let mut env = Environment::new();
        env.set_undefined_behavior(UndefinedBehavior::Strict);
        env.set_debug(false);
        // minijinja escapes by file name (`.yml` as JSON); SQL is never escaped, and a snapshot
        // defined in YAML renders under its `.yml` file's name.
        env.set_auto_escape_callback(|_| minijinja::AutoEscape::None);
        // Model files end with a newline; compiled SQL should too.
        if let Ok(syntax) = minijinja::syntax::SyntaxConfig::builder()
            .keep_trailing_newline(true)
            .build()
        {
            env.set_syntax(syntax);
        }
        env.set_recursion_limit(500);
        // A loop that never ends (or nested `range(100000)`s) must stop compile with an error
        // naming the model, not hang it. Each render gets this many instructions: a thousand
        // times what the largest package macros take.
        env.set_fuel(Some(TEMPLATE_FUEL));
        context::register_globals(&mut env);
        collections::register(&mut env);
        let mut files = HashMap::new();
        let mut imports = Vec::new();
        let mut macro_index = HashMap::new();
        for file in &project.macro_files {
            let name = crate::diag::display_path(&file.path);
            let rewritten = RewrittenFile::new(&file.text);
            match env.add_template_owned(name.clone(), rewritten.text.clone()) {
                Ok(()) => {
                    for def in macro_definitions(&file.text) {
                        let macro_name = if def.is_test {
                            format!("test_{}", def.name)
                        } else {
                            def.name
                        };
                        macro_index.insert(macro_name, imports.len());
                    }
                    imports.push((name.clone(), is_builtin_macro_file(&file.path)));
                }
                Err(err) => diags.push(error::syntax_diagnostic(&err, file, &rewritten, 0)),
            }
            files.insert(name, (file.clone(), rewritten));
        }
        let mut prelude = String::new();
        let mut slots = Vec::with_capacity(imports.len());
        let mut lazy = Vec::new();
        for (i, (name, builtin)) in imports.iter().enumerate() {
            if *builtin {
                prelude.push_str(&format!(
                    "{{% macro __etlx_load{i}() %}}{{% import {name:?} as m %}}{{% do __etlx_loaded({i}, m) %}}{{% endmacro %}}"
                ));
                slots.push(format!("__etlx_load{i}"));
                lazy.push(i.to_string());
            } else {
                prelude.push_str(&format!("{{% import {name:?} as __etlx_m{i} %}}"));
                slots.push(format!("__etlx_m{i}"));
            }
        }
        if !imports.is_empty() {
            prelude.push_str(&format!(
                "{{% do __etlx_register({}, lazy=[{}]) %}}",
                slots.join(", "),
                lazy.join(", ")
            ));
        }
        Templates {
            env,
            prelude,
            files,
            macro_index: Arc::new(macro_index),
        }
    }

    /// Render `file` (a model, test or hook) for `request`. Errors become diagnostics that point
    /// into the file, or into the macro that failed with a note at the model.
    pub fn render(
        &self,
        file: &SourceFile,
        request: RenderRequest,
    ) -> Result<(String, Captured), Box<Diagnostic>> {
        // Lists and dicts set from literals become mutable (see `collections`); the edits
        // insert text within a line, so line numbers in errors stay right.
        let edits = collections::mutable_literal_edits(&file.text);
        let mut text = file.text.to_string();
        for (range, insert) in edits.into_iter().rev() {
            text.replace_range(range, &insert);
        }
        let source = format!("{}{}", self.prelude, text);
        let name = crate::diag::display_path(&file.path);
        let prelude_len = self.prelude.len();
        let ctx = context::RenderContext::new(request);
        let root = Value::from_dyn_object(ctx.clone());
        let result = self
            .env
            .template_from_named_str(&name, &source)
            .and_then(|t| t.render(root));
        let captured = ctx.take_captured();
        match result {
            Ok(text) => Ok((text, captured)),
            Err(err) => {
                let stack = ctx.error_stack();
                Err(Box::new(error::render_diagnostic(
                    &err,
                    file,
                    prelude_len,
                    &stack,
                    self,
                )))
            }
        }
    }

    /// Render a small expression-like string (hooks, config values) with a context.
    pub fn render_str(
        &self,
        name: &str,
        text: &str,
        request: RenderRequest,
    ) -> Result<String, Box<Diagnostic>> {
        let file = SourceFile {
            path: name.into(),
            text: Arc::from(text),
        };
        self.render(&file, request).map(|(text, _)| text)
    }

    /// The file that defines macro `name`.
    pub(crate) fn macro_file(&self, name: &str) -> Option<&SourceFile> {
        let defined_in = |text: &str| {
            macro_definitions(text).iter().any(|d| {
                name == d.name || name.strip_prefix("test_") == Some(d.name.as_str()) && d.is_test
            })
        };
        self.files
            .values()
            .map(|(file, _)| file)
            .find(|f| defined_in(&f.text))
    }
}

/// Any serializable value as a template value.
pub fn to_value<T: serde::Serialize>(value: T) -> Value {
    Value::from(minijinja::value::Serde(value))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rewritten_offsets_map_back() {
        let text = "{% macro a() %}x{% endmacro %}\n{% macro b() %}{{ oops( }}{% endmacro %}";
        let rw = RewrittenFile::new(text);
        assert!(rw.text.contains("macro etlx__macro__a()"));
        let at = rw.text.find("oops").unwrap();
        assert_eq!(rw.original_offset(at), text.find("oops").unwrap());
    }

    /// etlx's own macro files are imported by a render when it first calls one of their
    /// macros, which may be deep inside a project macro: they must still see the render's
    /// globals rather than that macro's arguments, and a project's own version of a
    /// dispatched macro must still win.
    #[test]
    fn built_in_macros_load_on_first_call_from_anywhere() {
        let dir = tempfile::tempdir().expect("tempdir");
        let wrap = "{% macro wrap(target, adapter, dbt) %}{{ generate_schema_name('sales', none) }} {{ generate_database_name(none, none) }} {{ datediff('a', 'b', 'day') }}{% endmacro %}\n";
        let alias = "{% macro default__generate_alias_name(custom_alias_name=none, node=none) %}alias_{{ custom_alias_name }}{% endmacro %}\n";
        let project = crate::project::testing::project(
            dir.path(),
            &[("macros/wrap.sql", wrap), ("macros/alias.sql", alias)],
        );
        let mut diags = Diagnostics::default();
        let templates = Templates::new(&project, &mut diags);
        assert!(!diags.has_errors(), "{diags:?}");
        let shared = Arc::new(Shared {
            target: to_value(
                serde_json::json!({"schema": "main", "database": "dev", "name": "dev"}),
            ),
            macro_index: templates.macro_index.clone(),
            ..Shared::default()
        });
        let render = |text: &str| {
            templates
                .render_str("<model>", text, RenderRequest::without_node(&shared))
                .unwrap_or_else(|d| panic!("{}", d.message))
        };
        assert_eq!(
            render("{{ wrap('a target', 'an adapter', 'a namespace') }}"),
            "main_sales dev (date_diff('day', a::timestamp, b::timestamp))"
        );
        assert_eq!(render("{{ dbt.generate_alias_name('x') }}"), "alias_x");
    }

    #[test]
    fn end_test_becomes_end_macro() {
        let text = "{% test t(model) %}select 1{% endtest %} {{ x }}";
        let rw = RewrittenFile::new(text);
        assert!(rw.text.contains("{% endmacro %}"), "{}", rw.text);
        let at = rw.text.find("{{ x").unwrap();
        assert_eq!(rw.original_offset(at), text.find("{{ x").unwrap());
    }
}

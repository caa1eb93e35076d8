//! Where macros and generic tests are defined in a file, found without rendering it.
//!
//! Loading indexes every macro name before anything renders (a model may call a macro from any
//! file, and "did you mean" needs the full list), and a file that fails to render must still
//! contribute its names; so this is a light scan of `{% macro name(` tags, not a parse.

use std::ops::Range;

/// A `{% macro name(...) %}` or `{% test name(...) %}` found in a file.
#[derive(Debug, Clone)]
pub struct MacroDefinition {
    pub name: String,
    /// Byte range of the name in the original file.
    pub span: Range<usize>,
    pub is_test: bool,
}

/// Find macro and generic-test definitions without a full parse (loading must not depend on
/// a file rendering).
pub fn macro_definitions(text: &str) -> Vec<MacroDefinition> {
    let mut defs = Vec::new();
    let mut rest = 0;
    while let Some(found) = text[rest..].find("{%") {
        let tag_start = rest + found + 2;
        rest = tag_start;
        let after = text[tag_start..].trim_start_matches('-');
        let after_ws = after.trim_start();
        let (keyword, is_test) =
            if after_ws.starts_with("macro ") || after_ws.starts_with("macro\t") {
                ("macro", false)
            } else if after_ws.starts_with("test ") || after_ws.starts_with("test\t") {
                ("test", true)
            } else {
                continue;
            };
        let name_region = after_ws[keyword.len()..].trim_start();
        let name_len = name_region
            .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
            .unwrap_or(name_region.len());
        if name_len == 0 || !name_region[name_len..].trim_start().starts_with('(') {
            continue;
        }
        let start = text.len() - name_region.len();
        defs.push(MacroDefinition {
            name: name_region[..name_len].to_string(),
            span: start..start + name_len,
            is_test,
        });
    }
    defs
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_macro_and_test_definitions() {
        let text = "{% macro cents(x) %}{{ x }}{% endmacro %}\n{%- test positive(model, column_name) -%}select 1{%- endtest %}";
        let defs = macro_definitions(text);
        assert_eq!(defs.len(), 2);
        assert_eq!(&text[defs[0].span.clone()], "cents");
        assert!(defs[1].is_test);
        assert_eq!(&text[defs[1].span.clone()], "positive");
    }
}

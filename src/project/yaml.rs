//! YAML with a position on every node.
//!
//! Project, property and profile files are read into this tree instead of typed structs so that
//! each problem (an unknown key, a wrong type, a missing name) is reported at its own line and
//! column and all of them are reported in one pass, rather than serde stopping at the first.

use std::fmt;
use std::path::Path;
use std::sync::Arc;

use serde::de::{self, Deserialize, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_saphyr::Spanned;

use crate::diag::{Diagnostic, Diagnostics, Location};

/// 1-based line and column of a YAML node.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Pos {
    pub line: usize,
    pub col: usize,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    Null,
    Bool(bool),
    Int(i64),
    Float(f64),
    Str(String),
    Seq(Vec<Yaml>),
    Map(Vec<(Key, Yaml)>),
}

#[derive(Debug, Clone, PartialEq)]
pub struct Key {
    pub name: String,
    pub pos: Pos,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Yaml {
    pub value: Value,
    pub pos: Pos,
}

/// A YAML file as read: its path relative to the project, its text, and its tree.
#[derive(Debug, Clone)]
pub struct Document {
    pub path: std::path::PathBuf,
    pub text: Arc<str>,
    pub root: Yaml,
    /// Byte offset of each line's start: property files with thousands of entries ask for
    /// thousands of locations.
    line_starts: Vec<usize>,
}

impl Document {
    /// Parse `text`; a syntax error becomes a diagnostic at its line and column.
    pub fn parse(path: &Path, text: Arc<str>) -> Result<Document, Box<Diagnostic>> {
        if text.trim().is_empty() {
            return Ok(Document {
                path: path.to_path_buf(),
                line_starts: line_starts(&text),
                text,
                root: Yaml {
                    value: Value::Null,
                    pos: Pos { line: 1, col: 1 },
                },
            });
        }
        match serde_saphyr::from_str::<Yaml>(&text) {
            Ok(root) => Ok(Document {
                path: path.to_path_buf(),
                line_starts: line_starts(&text),
                text,
                root,
            }),
            Err(err) => {
                let raw = strip_location(&err.without_snippet().to_string());
                let (message, hint) = in_user_terms(&raw);
                let mut diag = Diagnostic::error("yaml-syntax", message);
                if let Some(hint) = hint {
                    diag = diag.hint(hint);
                }
                let at = match err.location() {
                    Some(loc) => Location::at_line_col(
                        path,
                        text.clone(),
                        loc.line() as usize,
                        loc.column() as usize,
                    ),
                    None => Location::new(path, text.clone(), 0..0),
                };
                // The parser reports a tab where the scalar before it started; the tab is
                // what to fix.
                let at = match is_tab_error(&raw) {
                    true => {
                        let start = at.span.start.min(text.len());
                        let line_start = text[..start].rfind('\n').map_or(0, |i| i + 1);
                        match text[line_start..].find('\t') {
                            Some(i) => at.clone().moved_to(line_start + i),
                            None => at,
                        }
                    }
                    false => at,
                };
                Err(Box::new(diag.at(at)))
            }
        }
    }

    pub fn location(&self, pos: Pos) -> Location {
        let Some(&start) = self.line_starts.get(pos.line.saturating_sub(1)) else {
            return Location::at_line_col(&self.path, self.text.clone(), pos.line, pos.col);
        };
        let line_end = self.text[start..]
            .find('\n')
            .map_or(self.text.len(), |i| start + i);
        let col = crate::diag::offset_of(&self.text[start..line_end], 1, pos.col);
        Location::at_line_col(&self.path, self.text.clone(), 1, 1).moved_to(start + col)
    }

    /// A diagnostic pointing at `pos` in this document.
    pub fn error_at(&self, pos: Pos, code: &'static str, message: impl Into<String>) -> Diagnostic {
        Diagnostic::error(code, message).at(self.location(pos))
    }

    pub fn warning_at(
        &self,
        pos: Pos,
        code: &'static str,
        message: impl Into<String>,
    ) -> Diagnostic {
        Diagnostic::warning(code, message).at(self.location(pos))
    }

    /// Warn about each key of mapping `node` that is not one of `known`, suggesting the closest.
    pub fn check_keys(&self, node: &Yaml, known: &[&str], what: &str, diags: &mut Diagnostics) {
        for (key, _) in node.entries() {
            if !known.contains(&key.name.as_str()) {
                let mut d = self.warning_at(
                    key.pos,
                    "unknown-key",
                    format!("unknown key '{}' in {what}", key.name),
                );
                if let Some(close) = crate::diag::closest(&key.name, known.iter().copied()) {
                    d = d.hint(format!("did you mean '{close}'?"));
                }
                diags.push(d);
            }
        }
    }
}

fn line_starts(text: &str) -> Vec<usize> {
    std::iter::once(0)
        .chain(text.match_indices('\n').map(|(i, _)| i + 1))
        .collect()
}

/// The parser appends " at line L, column C" (shown by the snippet instead). Only that final
/// suffix goes: some messages name other places inside (an alias bomb's anchor and alias).
fn strip_location(message: &str) -> String {
    let Some(i) = message.rfind(" at line ") else {
        return message.to_string();
    };
    let is_position = message[i + " at line ".len()..]
        .split_once(", column ")
        .is_some_and(|(line, col)| {
            [line, col]
                .iter()
                .all(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()))
        });
    if is_position {
        message[..i].to_string()
    } else {
        message.to_string()
    }
}

impl Yaml {
    pub fn get(&self, key: &str) -> Option<&Yaml> {
        match &self.value {
            Value::Map(entries) => entries.iter().find(|(k, _)| k.name == key).map(|(_, v)| v),
            _ => None,
        }
    }

    pub fn entries(&self) -> &[(Key, Yaml)] {
        match &self.value {
            Value::Map(entries) => entries,
            _ => &[],
        }
    }

    pub fn items(&self) -> &[Yaml] {
        match &self.value {
            Value::Seq(items) => items,
            _ => &[],
        }
    }

    pub fn as_str(&self) -> Option<&str> {
        match &self.value {
            Value::Str(s) => Some(s),
            _ => None,
        }
    }

    pub fn is_null(&self) -> bool {
        matches!(self.value, Value::Null)
    }

    pub fn is_map(&self) -> bool {
        matches!(self.value, Value::Map(_))
    }

    /// A scalar as text, the way YAML authors expect `version: 1.0` or `name: 2024` to read.
    pub fn as_scalar_string(&self) -> Option<String> {
        match &self.value {
            Value::Str(s) => Some(s.clone()),
            Value::Int(i) => Some(i.to_string()),
            Value::Float(f) => Some(f.to_string()),
            Value::Bool(b) => Some(b.to_string()),
            _ => None,
        }
    }

    pub fn kind(&self) -> &'static str {
        match self.value {
            Value::Null => "null",
            Value::Bool(_) => "a boolean",
            Value::Int(_) | Value::Float(_) => "a number",
            Value::Str(_) => "a string",
            Value::Seq(_) => "a list",
            Value::Map(_) => "a mapping",
        }
    }

    pub fn to_json(&self) -> serde_json::Value {
        match &self.value {
            Value::Null => serde_json::Value::Null,
            Value::Bool(b) => (*b).into(),
            Value::Int(i) => (*i).into(),
            Value::Float(f) => {
                serde_json::Number::from_f64(*f).map_or(serde_json::Value::Null, Into::into)
            }
            Value::Str(s) => s.clone().into(),
            Value::Seq(items) => items.iter().map(Yaml::to_json).collect(),
            Value::Map(entries) => entries
                .iter()
                .map(|(k, v)| (k.name.clone(), v.to_json()))
                .collect::<serde_json::Map<_, _>>()
                .into(),
        }
    }
}

impl<'de> Deserialize<'de> for Yaml {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let spanned = Spanned::<Value>::deserialize(d)?;
        Ok(Yaml {
            value: spanned.value,
            pos: Pos {
                line: spanned.referenced.line() as usize,
                col: spanned.referenced.column() as usize,
            },
        })
    }
}

impl<'de> Deserialize<'de> for Value {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(ValueVisitor)
    }
}

struct ValueVisitor;

impl<'de> Visitor<'de> for ValueVisitor {
    type Value = Value;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("any YAML value")
    }

    fn visit_bool<E: de::Error>(self, v: bool) -> Result<Value, E> {
        Ok(Value::Bool(v))
    }
    fn visit_i64<E: de::Error>(self, v: i64) -> Result<Value, E> {
        Ok(Value::Int(v))
    }
    fn visit_u64<E: de::Error>(self, v: u64) -> Result<Value, E> {
        Ok(i64::try_from(v).map_or(Value::Float(v as f64), Value::Int))
    }
    fn visit_f64<E: de::Error>(self, v: f64) -> Result<Value, E> {
        Ok(Value::Float(v))
    }
    fn visit_str<E: de::Error>(self, v: &str) -> Result<Value, E> {
        Ok(Value::Str(v.to_string()))
    }
    fn visit_string<E: de::Error>(self, v: String) -> Result<Value, E> {
        Ok(Value::Str(v))
    }
    fn visit_unit<E: de::Error>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }
    fn visit_none<E: de::Error>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }
    fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Value, D::Error> {
        Value::deserialize(d)
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
        let mut items = Vec::new();
        while let Some(item) = seq.next_element::<Yaml>()? {
            items.push(item);
        }
        Ok(Value::Seq(items))
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Value, A::Error> {
        let mut entries = Vec::new();
        while let Some(key) = map.next_key::<Spanned<KeyText>>()? {
            let value = map.next_value::<Yaml>()?;
            let pos = Pos {
                line: key.referenced.line() as usize,
                col: key.referenced.column() as usize,
            };
            entries.push((
                Key {
                    name: key.value.0,
                    pos,
                },
                value,
            ));
        }
        Ok(Value::Map(entries))
    }
}

/// Mapping keys as text: YAML allows `1:` or `true:` as keys; config files mean the text.
struct KeyText(String);

impl<'de> Deserialize<'de> for KeyText {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let value = Value::deserialize(d)?;
        let node = Yaml {
            value,
            pos: Pos::default(),
        };
        node.as_scalar_string()
            .map(KeyText)
            .ok_or_else(|| de::Error::custom("mapping keys must be scalars"))
    }
}

fn is_tab_error(raw: &str) -> bool {
    raw.contains("found a tab") || raw.contains("tabs disallowed")
}

/// The YAML parser's message, said in the user's terms, with a hint where the fix is clear.
fn in_user_terms(raw: &str) -> (String, Option<&'static str>) {
    if is_tab_error(raw) {
        return (
            "a tab character in YAML indentation".into(),
            Some("YAML indents with spaces only: replace the tab with spaces"),
        );
    }
    if let Some(rest) = raw.strip_prefix("duplicate mapping key: ") {
        let key = rest.split(',').next().unwrap_or(rest).trim();
        return (
            format!("`{key}` is set twice in this mapping"),
            Some("keep one of them: which one was meant cannot be told"),
        );
    }
    if raw.starts_with("budget breached") {
        return (
            format!("invalid YAML: {raw}"),
            Some(
                "its anchors and aliases expand to more than etlx reads (an alias bomb?): \
                 write the values out, or nest fewer aliases",
            ),
        );
    }
    (format!("invalid YAML: {raw}"), None)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nodes_know_their_positions() {
        let text: Arc<str> = Arc::from("name: demo\nmodels:\n  demo:\n    +materialized: view\n");
        let doc = Document::parse(Path::new("etlx_project.yml"), text).unwrap();
        let models = doc.root.get("models").unwrap();
        let (key, value) = &models.get("demo").unwrap().entries()[0];
        assert_eq!(key.name, "+materialized");
        assert_eq!(key.pos, Pos { line: 4, col: 5 });
        assert_eq!(value.as_str(), Some("view"));
    }

    #[test]
    fn syntax_errors_have_a_location() {
        let text: Arc<str> = Arc::from("name: demo\nmodels: [a, b\n");
        let err = Document::parse(Path::new("x.yml"), text).unwrap_err();
        assert_eq!(err.code, "yaml-syntax");
        assert!(
            err.position().unwrap().starts_with("x.yml:"),
            "{:?}",
            err.position()
        );
    }
}

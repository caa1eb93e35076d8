//! Jinja lists and dicts that methods change in place, as in dbt.
//!
//! dbt renders with Python's Jinja, where `{% set fields = [] %}` is a Python list and
//! `{% do fields.append(x) %}` grows it; package macros (dbt_utils' `generate_surrogate_key`,
//! `star`, `union_relations`, ...) are written that way. minijinja's values are immutable, so
//! the macro files are rewritten to make each list or dict that a `set` assigns from a literal
//! one of these objects (see [`mutable_literal_edits`]); Python's other methods (`lower`,
//! `items`, `split`, ...) come from minijinja-contrib's pycompat.

use std::sync::{Arc, Mutex};

use indexmap::IndexMap;
use minijinja::value::{Enumerator, Object, ObjectRepr, Value, ValueKind};
use minijinja::{Error, ErrorKind, State};

/// The functions the rewritten literals call.
pub const LIST: &str = "__etlx_list";
pub const DICT: &str = "__etlx_dict";

pub fn register(env: &mut minijinja::Environment<'static>) {
    env.add_function(LIST, |value: Value| Ok(mutable(&value)));
    env.add_function(DICT, |value: Value| Ok(mutable(&value)));
    env.set_unknown_method_callback(minijinja_contrib::pycompat::unknown_method_callback);
}

/// A mutable copy of a list or dict literal, nested literals included; other values as
/// they are (a relation, a column, a string).
fn mutable(value: &Value) -> Value {
    let plain_seq = value.downcast_object_ref::<Vec<Value>>().is_some();
    let plain_map = value.kind() == ValueKind::Map
        && value.as_object().is_some_and(|o| {
            o.downcast_ref::<IndexMap<Value, Value>>().is_some()
                || o.downcast_ref::<std::collections::BTreeMap<Value, Value>>()
                    .is_some()
        });
    if plain_seq {
        let items = value.try_iter().map(|it| it.map(|v| mutable(&v)).collect());
        return Value::from_object(List(Mutex::new(items.unwrap_or_default())));
    }
    if plain_map {
        let entries = value
            .try_iter()
            .map(|keys| {
                keys.map(|k| {
                    let v = value.get_item(&k).unwrap_or_default();
                    (k, mutable(&v))
                })
                .collect()
            })
            .unwrap_or_default();
        return Value::from_object(Dict(Mutex::new(entries)));
    }
    value.clone()
}

fn poisoned() -> Error {
    Error::new(
        ErrorKind::InvalidOperation,
        "a list was changed while it was read",
    )
}

fn arg<'a>(args: &'a [Value], i: usize, method: &str) -> Result<&'a Value, Error> {
    args.get(i).ok_or_else(|| {
        Error::new(
            ErrorKind::MissingArgument,
            format!("{method}() takes an argument"),
        )
    })
}

/// A list that `append`, `extend`, `insert`, `pop`, `remove`, `reverse` and `sort` change.
#[derive(Debug)]
pub struct List(Mutex<Vec<Value>>);

impl List {
    fn items(&self) -> Vec<Value> {
        self.0.lock().map(|v| v.clone()).unwrap_or_default()
    }
}

impl Object for List {
    fn repr(self: &Arc<Self>) -> ObjectRepr {
        ObjectRepr::Seq
    }

    fn get_value(self: &Arc<Self>, key: &Value) -> Option<Value> {
        let items = self.0.lock().ok()?;
        let index = key.as_i64()?;
        let index = if index < 0 {
            items.len() as i64 + index
        } else {
            index
        };
        items.get(usize::try_from(index).ok()?).cloned()
    }

    fn enumerate(self: &Arc<Self>) -> Enumerator {
        Enumerator::Values(self.items())
    }

    fn enumerator_len(self: &Arc<Self>) -> Option<usize> {
        self.0.lock().ok().map(|v| v.len())
    }

    fn call_method(
        self: &Arc<Self>,
        _state: &mut State<'_, '_>,
        method: &str,
        args: &[Value],
    ) -> Result<Value, Error> {
        let mut items = self.0.lock().map_err(|_| poisoned())?;
        match method {
            "append" => items.push(mutable(arg(args, 0, method)?)),
            "extend" => items.extend(arg(args, 0, method)?.try_iter()?.map(|v| mutable(&v))),
            "insert" => {
                let at = arg(args, 0, method)?.as_i64().unwrap_or(0).max(0) as usize;
                let at = at.min(items.len());
                items.insert(at, mutable(arg(args, 1, method)?));
            }
            "pop" => {
                let at = match args.first().and_then(Value::as_i64) {
                    Some(i) if i < 0 => items.len() as i64 + i,
                    Some(i) => i,
                    None => items.len() as i64 - 1,
                };
                return match usize::try_from(at).ok().filter(|&i| i < items.len()) {
                    Some(i) => Ok(items.remove(i)),
                    None => Err(Error::new(
                        ErrorKind::InvalidOperation,
                        "pop from an empty list or past its end",
                    )),
                };
            }
            "remove" => {
                let x = arg(args, 0, method)?;
                match items.iter().position(|v| v == x) {
                    Some(i) => {
                        items.remove(i);
                    }
                    None => {
                        return Err(Error::new(
                            ErrorKind::InvalidOperation,
                            format!("list.remove({x}): not in the list"),
                        ));
                    }
                }
            }
            "reverse" => items.reverse(),
            "sort" => items.sort(),
            "index" => {
                let x = arg(args, 0, method)?;
                return items
                    .iter()
                    .position(|v| v == x)
                    .map(Value::from)
                    .ok_or_else(|| {
                        Error::new(
                            ErrorKind::InvalidOperation,
                            format!("{x} is not in the list"),
                        )
                    });
            }
            "count" => {
                let x = arg(args, 0, method)?;
                return Ok(Value::from(items.iter().filter(|v| *v == x).count()));
            }
            _ => return Err(Error::from(ErrorKind::UnknownMethod)),
        }
        Ok(Value::from(()))
    }

    fn render(self: &Arc<Self>, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", Value::from(self.items()))
    }
}

/// A dict that `update`, `pop` and `setdefault` change.
#[derive(Debug)]
pub struct Dict(Mutex<IndexMap<Value, Value>>);

impl Dict {
    fn entries(&self) -> IndexMap<Value, Value> {
        self.0.lock().map(|m| m.clone()).unwrap_or_default()
    }
}

impl Object for Dict {
    fn repr(self: &Arc<Self>) -> ObjectRepr {
        ObjectRepr::Map
    }

    fn get_value(self: &Arc<Self>, key: &Value) -> Option<Value> {
        self.0.lock().ok()?.get(key).cloned()
    }

    fn enumerate(self: &Arc<Self>) -> Enumerator {
        Enumerator::Values(self.entries().into_keys().collect())
    }

    fn enumerator_len(self: &Arc<Self>) -> Option<usize> {
        self.0.lock().ok().map(|m| m.len())
    }

    fn call_method(
        self: &Arc<Self>,
        _state: &mut State<'_, '_>,
        method: &str,
        args: &[Value],
    ) -> Result<Value, Error> {
        let mut entries = self.0.lock().map_err(|_| poisoned())?;
        match method {
            "update" => {
                let other = arg(args, 0, method)?;
                for key in other.try_iter()? {
                    let value = other.get_item(&key)?;
                    entries.insert(key, mutable(&value));
                }
                Ok(Value::from(()))
            }
            "pop" => {
                let key = arg(args, 0, method)?;
                match (entries.shift_remove(key), args.get(1)) {
                    (Some(v), _) => Ok(v),
                    (None, Some(default)) => Ok(default.clone()),
                    (None, None) => Err(Error::new(
                        ErrorKind::InvalidOperation,
                        format!("dict.pop({key}): no such key"),
                    )),
                }
            }
            "setdefault" => {
                let key = arg(args, 0, method)?.clone();
                let default = mutable(&args.get(1).cloned().unwrap_or(Value::from(())));
                Ok(entries.entry(key).or_insert(default).clone())
            }
            _ => Err(Error::from(ErrorKind::UnknownMethod)),
        }
    }

    fn render(self: &Arc<Self>, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", Value::from_iter(self.entries()))
    }
}

/// Edits that make `{% set name = [...] %}` and `{% set name = {...} %}` assign a mutable
/// list or dict: the literal is wrapped in a call of [`LIST`] or [`DICT`]. Only a whole
/// literal is wrapped (`[a] + b` is left alone: its result is a new value in Python too).
pub fn mutable_literal_edits(text: &str) -> Vec<(std::ops::Range<usize>, String)> {
    let mut edits = Vec::new();
    let mut at = 0;
    while let Some(found) = text[at..].find("{%") {
        let start = at + found + 2;
        let Some(len) = text[start..].find("%}") else {
            break;
        };
        let end = start + len;
        at = end + 2;
        let inner = text[start..end].trim_end_matches('-');
        let body = inner.trim_start_matches('-').trim_start();
        let Some(rest) = body.strip_prefix("set ") else {
            continue;
        };
        let Some(eq) = rest.find('=') else {
            continue;
        };
        let name = rest[..eq].trim();
        if name.is_empty()
            || !name
                .chars()
                .all(|c| c.is_alphanumeric() || c == '_' || c == '.')
        {
            continue;
        }
        let value = rest[eq + 1..].trim();
        let function = match (value.chars().next(), value.chars().last()) {
            (Some('['), Some(']')) => LIST,
            (Some('{'), Some('}')) => DICT,
            _ => continue,
        };
        if !is_one_literal(value) {
            continue;
        }
        let value_start = start + inner.rfind(value).unwrap_or(0);
        let value_end = value_start + value.len();
        edits.push((value_start..value_start, format!("{function}(")));
        edits.push((value_end..value_end, ")".to_string()));
    }
    edits
}

/// Whether `value` is one bracketed literal: its first bracket closes at its last character.
fn is_one_literal(value: &str) -> bool {
    let mut depth = 0usize;
    let mut quote: Option<char> = None;
    for (i, c) in value.char_indices() {
        match (quote, c) {
            (Some(q), c) if c == q => quote = None,
            (Some(_), _) => {}
            (None, '\'' | '"') => quote = Some(c),
            (None, '[' | '{' | '(') => depth += 1,
            (None, ']' | '}' | ')') => {
                depth = depth.saturating_sub(1);
                if depth == 0 && i + c.len_utf8() != value.len() {
                    return false;
                }
            }
            _ => {}
        }
    }
    depth == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    fn render(template: &str) -> String {
        let mut env = minijinja::Environment::new();
        register(&mut env);
        let edits = mutable_literal_edits(template);
        let mut text = template.to_string();
        for (range, insert) in edits.into_iter().rev() {
            text.replace_range(range, &insert);
        }
        env.render_str(&text, ())
            .unwrap_or_else(|e| format!("error: {e}"))
    }

    #[test]
    fn lists_and_dicts_change_in_place_as_in_python() {
        let out = render(
            "{%- set fields = [] -%}{%- for f in ['a', 'b'] -%}{%- do fields.append(f ~ '!') -%}{%- endfor -%}\
             {{ fields | join(',') }} {{ fields | length }} {{ fields[-1] }}",
        );
        assert_eq!(out, "a!,b! 2 b!");
        let out = render(
            "{%- set cols = {} -%}{%- for r in ['x', 'y'] -%}{%- do cols.update({r: []}) -%}\
             {%- do cols[r].append(r | upper) -%}{%- endfor -%}\
             {%- for k, v in cols.items() %}{{ k }}={{ v | join('') }};{% endfor %}",
        );
        assert_eq!(out, "x=X;y=Y;");
        assert_eq!(
            render("{% set l = [3, 1, 2] %}{% do l.sort() %}{{ l.pop() }}{{ l }}"),
            "3[1, 2]"
        );
        assert_eq!(
            render("{{ 'ABC'.lower() }} {{ 'a,b'.split(',') | length }}"),
            "abc 2"
        );
    }

    #[test]
    fn only_whole_literals_assigned_by_set_are_rewritten() {
        let text = "{% set a = [1, [2]] %}{% set b = [1] + c %}{%- set d={'k': ']'} -%}{{ [1] }}";
        let edits = mutable_literal_edits(text);
        let wrapped: Vec<&str> = edits.iter().map(|(_, s)| s.as_str()).collect();
        assert_eq!(wrapped, ["__etlx_list(", ")", "__etlx_dict(", ")"]);
    }
}

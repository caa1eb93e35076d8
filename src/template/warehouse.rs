//! Query results as templates see them: what `run_query`, `load_result` and
//! `adapter.get_columns_in_relation` return.
//!
//! dbt hands macros agate tables: `results.columns[0].values()`, `results.rows[0]['name']`,
//! `for row in results`. These objects answer the same way, with values typed from the
//! column types the warehouse reports, so `{% if n > 0 %}` compares numbers, not text.

use std::sync::Arc;

use minijinja::value::{Enumerator, Object, ObjectRepr, from_args};
use minijinja::{Error, ErrorKind, State, Value};

use crate::adapter::{ColumnInfo, Table};

/// A sequence that can also be indexed by name: agate's rows and column lists.
#[derive(Debug)]
struct Named {
    names: Arc<Vec<String>>,
    items: Vec<Value>,
}

impl Object for Named {
    fn repr(self: &Arc<Self>) -> ObjectRepr {
        ObjectRepr::Seq
    }

    fn get_value(self: &Arc<Self>, key: &Value) -> Option<Value> {
        if let Some(name) = key.as_str() {
            let i = self
                .names
                .iter()
                .position(|n| n.eq_ignore_ascii_case(name))?;
            return self.items.get(i).cloned();
        }
        let i = key.as_i64()?;
        let i = if i < 0 {
            self.items.len() as i64 + i
        } else {
            i
        };
        self.items.get(usize::try_from(i).ok()?).cloned()
    }

    fn enumerate(self: &Arc<Self>) -> Enumerator {
        Enumerator::Seq(self.items.len())
    }
}

/// One result column: `.name`, `.data_type`, `.values()`.
#[derive(Debug)]
struct Column {
    name: String,
    data_type: String,
    values: Vec<Value>,
}

impl Object for Column {
    fn repr(self: &Arc<Self>) -> ObjectRepr {
        ObjectRepr::Plain
    }

    fn get_value(self: &Arc<Self>, key: &Value) -> Option<Value> {
        Some(match key.as_str()? {
            "name" | "column" => Value::from(self.name.clone()),
            "data_type" | "dtype" => Value::from(self.data_type.clone()),
            _ => return None,
        })
    }

    fn call_method(
        self: &Arc<Self>,
        _state: &mut State<'_, '_>,
        method: &str,
        args: &[Value],
    ) -> Result<Value, Error> {
        let () = from_args(args)?;
        match method {
            "values" => Ok(Value::from(self.values.clone())),
            "values_distinct" => {
                let mut out: Vec<Value> = Vec::new();
                for v in &self.values {
                    if !out.contains(v) {
                        out.push(v.clone());
                    }
                }
                Ok(Value::from(out))
            }
            _ => Err(Error::from(ErrorKind::UnknownMethod)),
        }
    }

    fn render(self: &Arc<Self>, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.name)
    }
}

/// A query result: iterates over rows, and answers `.rows`, `.columns`, `.column_names`.
#[derive(Debug)]
pub(crate) struct QueryResult {
    rows: Vec<Value>,
    columns: Value,
    column_names: Arc<Vec<String>>,
}

impl QueryResult {
    pub(crate) fn new(table: Table, types: &[ColumnInfo]) -> QueryResult {
        let names = Arc::new(table.columns.clone());
        let type_of = |i: usize| types.get(i).map_or("", |c| c.data_type.as_str());
        let rows: Vec<Vec<Value>> = table
            .rows
            .into_iter()
            .map(|row| {
                row.into_iter()
                    .enumerate()
                    .map(|(i, v)| typed(v, type_of(i)))
                    .collect()
            })
            .collect();
        let columns = names
            .iter()
            .enumerate()
            .map(|(i, name)| {
                Value::from_object(Column {
                    name: name.clone(),
                    data_type: type_of(i).to_string(),
                    values: rows.iter().map(|r| r[i].clone()).collect(),
                })
            })
            .collect();
        QueryResult {
            rows: rows
                .into_iter()
                .map(|items| {
                    Value::from_object(Named {
                        names: names.clone(),
                        items,
                    })
                })
                .collect(),
            columns: Value::from_object(Named {
                names: names.clone(),
                items: columns,
            }),
            column_names: names,
        }
    }

    /// What `load_result()['data']` holds: rows as plain lists.
    pub(crate) fn data(&self) -> Value {
        Value::from(self.rows.clone())
    }
}

impl Object for QueryResult {
    fn repr(self: &Arc<Self>) -> ObjectRepr {
        ObjectRepr::Seq
    }

    fn get_value(self: &Arc<Self>, key: &Value) -> Option<Value> {
        if let Some(i) = key.as_i64() {
            let i = if i < 0 { self.rows.len() as i64 + i } else { i };
            return self.rows.get(usize::try_from(i).ok()?).cloned();
        }
        Some(match key.as_str()? {
            "rows" => Value::from(self.rows.clone()),
            "columns" => self.columns.clone(),
            "column_names" => Value::from(self.column_names.to_vec()),
            _ => return None,
        })
    }

    fn enumerate(self: &Arc<Self>) -> Enumerator {
        Enumerator::Seq(self.rows.len())
    }
}

/// The columns of a relation, as `adapter.get_columns_in_relation` returns them.
pub(crate) fn columns_value(columns: Vec<ColumnInfo>) -> Value {
    Value::from(
        columns
            .into_iter()
            .map(|c| {
                Value::from_object(Column {
                    name: c.name,
                    data_type: c.data_type,
                    values: Vec::new(),
                })
            })
            .collect::<Vec<_>>(),
    )
}

/// A value as the type of its column makes it: numbers and booleans for the types that hold
/// them, text for everything else (dates stay ISO text, as they print in SQL).
fn typed(text: Option<String>, data_type: &str) -> Value {
    let Some(text) = text else {
        return Value::from(());
    };
    let t = data_type.to_ascii_uppercase();
    let integer = ["INT", "BIGINT", "SMALLINT", "TINYINT", "HUGEINT", "UBIGINT"]
        .iter()
        .any(|k| t.starts_with(k) || t.starts_with(&format!("U{k}")));
    let float = ["DOUBLE", "FLOAT", "REAL", "DECIMAL", "NUMERIC"]
        .iter()
        .any(|k| t.starts_with(k));
    if integer && let Ok(n) = text.parse::<i64>() {
        return Value::from(n);
    }
    if (integer || float)
        && let Ok(x) = text.parse::<f64>()
    {
        return Value::from(x);
    }
    if t == "BOOLEAN" {
        return Value::from(text == "true");
    }
    Value::from(text)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_take_the_type_of_their_column() {
        assert_eq!(typed(Some("42".into()), "BIGINT"), Value::from(42));
        assert_eq!(typed(Some("1.5".into()), "DECIMAL(10,2)"), Value::from(1.5));
        assert_eq!(typed(Some("true".into()), "BOOLEAN"), Value::from(true));
        assert_eq!(typed(Some("007".into()), "VARCHAR"), Value::from("007"));
        assert!(typed(None, "BIGINT").is_none());
    }
}

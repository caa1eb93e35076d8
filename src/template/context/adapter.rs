//! dbt's `adapter` object, `run_query` and `statement`/`load_result`: everything a template can
//! ask of the warehouse. Kept in one place because they share one rule: queries run only in
//! compile renders (dbt's `execute`), so discovery renders, which run before anything is
//! known, never touch the warehouse.

use std::collections::BTreeMap;

use minijinja::value::{Kwargs, from_args};
use minijinja::{Error, ErrorKind, State, Value};

use super::super::relation::Relation;
use super::super::warehouse::{QueryResult, columns_value};
use super::{BuiltinFn, Mode, lock};
use crate::adapter::Connection;

impl BuiltinFn {
    pub(super) fn call_adapter(
        &self,
        state: &mut State<'_, '_>,
        method: &str,
        args: &[Value],
    ) -> Result<Value, Error> {
        let dialect = self.ctx.shared().dialect();
        match method {
            "dispatch" => {
                let (name, _namespace): (String, Option<Value>) = from_args(args)?;
                for prefix in dialect.dispatch_prefixes() {
                    if let Some(found) = state
                        .lookup(&format!("{prefix}__{name}"))
                        .filter(|v| !v.is_undefined())
                    {
                        return Ok(found);
                    }
                }
                Err(Error::new(
                    ErrorKind::UnknownFunction,
                    format!(
                        "adapter.dispatch('{name}'): no macro {dialect}__{name} or default__{name}"
                    ),
                ))
            }
            "type" => Ok(Value::from(dialect.name())),
            "quote" => {
                let (ident,): (String,) = from_args(args)?;
                Ok(Value::from(dialect.quote(&ident)))
            }
            "get_relation" => {
                let [_, schema, identifier] =
                    named_args(method, args, ["database", "schema", "identifier"])?;
                let text = |v: Value| v.as_str().map(str::to_string).unwrap_or_default();
                self.existing_relation(&text(schema), &text(identifier))
            }
            "load_relation" => {
                let [relation] = named_args(method, args, ["relation"])?;
                let (schema, identifier) = relation_parts(&relation)?;
                self.existing_relation(&schema, &identifier)
            }
            "get_columns_in_relation" => {
                let [relation] = named_args(method, args, ["relation"])?;
                let (schema, identifier) = relation_parts(&relation)?;
                let columns = self
                    .with_connection(|conn| conn.columns(&schema, &identifier))?
                    .unwrap_or_default();
                Ok(columns_value(columns))
            }
            "execute" => {
                let (sql, _kwargs): (String, Kwargs) = from_args(args)?;
                self.with_connection(|conn| conn.execute(&sql))?;
                Ok(Value::from(()))
            }
            _ => Err(Error::new(
                ErrorKind::UnknownMethod,
                format!("adapter.{method} is not supported"),
            )),
        }
    }

    /// Run `f` on the warehouse connection; `None` in a discovery render.
    fn with_connection<T>(
        &self,
        f: impl FnOnce(&mut dyn Connection) -> Result<T, crate::adapter::AdapterError>,
    ) -> Result<Option<T>, Error> {
        if self.ctx.req.mode == Mode::Discover {
            return Ok(None);
        }
        let Some(conn) = &self.ctx.shared().connection else {
            return Err(Error::new(
                ErrorKind::InvalidOperation,
                "this needs a connection to the warehouse, and none is open (could the target be reached?)",
            ));
        };
        conn.with(f)
            .map(Some)
            .map_err(|e| Error::new(ErrorKind::InvalidOperation, format!("query failed: {e}")))
    }

    /// `run_query(sql)`: the rows as a table object; an empty one in a discovery render.
    /// A statement that returns no rows (`create`, `insert`, `drop`, ...) is run as such, as
    /// dbt does, and gives an empty table.
    pub(super) fn query(&self, sql: &str) -> Result<Value, Error> {
        let result = self.with_connection(|conn| {
            if !returns_rows(sql) {
                conn.execute(sql)?;
                return Ok(Default::default());
            }
            let types = conn.describe(sql)?;
            Ok((conn.query(sql)?, types))
        })?;
        let (table, types) = result.unwrap_or_default();
        Ok(Value::from_object(QueryResult::new(table, &types)))
    }

    /// `{% call statement('name', fetch_result=True) %}sql{% endcall %}`: runs the body and
    /// keeps the result for `load_result('name')`.
    pub(super) fn call_statement(
        &self,
        state: &mut State<'_, '_>,
        args: &[Value],
    ) -> Result<Value, Error> {
        let (name, kwargs): (Option<String>, Kwargs) = from_args(args)?;
        let fetch: bool = kwargs.get::<Option<bool>>("fetch_result")?.unwrap_or(false);
        let _: Option<bool> = kwargs.get("auto_begin")?;
        let caller: Value = kwargs.get("caller")?;
        kwargs.assert_all_used()?;
        let sql = caller.call(state, &[])?.to_string();
        let name = name.unwrap_or_else(|| "main".to_string());
        let (result, rows) = if fetch {
            let table = self.query(&sql)?;
            let rows = table.len();
            (Some(table), rows)
        } else {
            let rows = self.with_connection(|conn| conn.execute(&sql))?.flatten();
            (None, rows.map(|n| n as usize))
        };
        if self.ctx.req.mode == Mode::Compile {
            let data = result
                .as_ref()
                .and_then(|t| {
                    t.downcast_object_ref::<QueryResult>()
                        .map(QueryResult::data)
                })
                .unwrap_or(Value::from(Vec::<Value>::new()));
            let response = BTreeMap::from([("rows_affected", Value::from(rows))]);
            let loaded = Value::from(BTreeMap::from([
                ("data", data),
                ("table", result.unwrap_or(Value::from(()))),
                ("response", Value::from(response)),
            ]));
            lock(&self.ctx.results).insert(name, loaded);
        }
        Ok(Value::from(""))
    }

    /// `adapter.get_relation`: the relation when it exists in the warehouse, else none.
    fn existing_relation(&self, schema: &str, identifier: &str) -> Result<Value, Error> {
        let kind = self
            .with_connection(|conn| conn.relation_kind(schema, identifier))?
            .flatten();
        Ok(match kind {
            Some(_) => Value::from_object(Relation::table(
                self.ctx.shared().dialect(),
                None,
                schema,
                identifier,
            )),
            None => Value::from(()),
        })
    }
}

/// Arguments given by position or by keyword, in the order of `names` (macros written for
/// dbt use both: `adapter.get_relation(database=none, schema=s, identifier=t)`).
fn named_args<const N: usize>(
    method: &str,
    args: &[Value],
    names: [&str; N],
) -> Result<[Value; N], Error> {
    let (positional, kwargs): (&[Value], Kwargs) = from_args(args)?;
    let mut out: [Value; N] = std::array::from_fn(|_| Value::from(()));
    for (i, name) in names.iter().enumerate() {
        out[i] = match positional.get(i) {
            Some(v) => v.clone(),
            None => kwargs
                .get::<Option<Value>>(name)?
                .unwrap_or(Value::from(())),
        };
    }
    if positional.len() > N {
        return Err(Error::new(
            ErrorKind::TooManyArguments,
            format!("adapter.{method} takes {}", names.join(", ")),
        ));
    }
    kwargs.assert_all_used()?;
    Ok(out)
}

/// Schema and name of a relation argument.
fn relation_parts(value: &Value) -> Result<(String, String), Error> {
    let field = |key: &str| {
        value
            .get_attr(key)
            .ok()
            .and_then(|v| v.as_str().map(str::to_string))
    };
    match (field("schema"), field("identifier")) {
        (Some(schema), Some(identifier)) => Ok((schema, identifier)),
        _ => Err(Error::new(
            ErrorKind::InvalidOperation,
            format!("expected a relation (from ref, source or this), got {value}"),
        )),
    }
}

/// Whether `sql` is a query (its first word, after comments and parentheses, is one that
/// starts a query), rather than a statement that changes something.
fn returns_rows(sql: &str) -> bool {
    let mut rest = sql.trim_start();
    loop {
        if let Some(after) = rest.strip_prefix("--") {
            rest = after.find('\n').map_or("", |i| &after[i..]).trim_start();
        } else if let Some(after) = rest.strip_prefix("/*") {
            rest = after
                .find("*/")
                .map_or("", |i| &after[i + 2..])
                .trim_start();
        } else if let Some(after) = rest.strip_prefix('(') {
            rest = after.trim_start();
        } else {
            break;
        }
    }
    let word: String = rest
        .chars()
        .take_while(|c| c.is_ascii_alphabetic())
        .collect::<String>()
        .to_ascii_lowercase();
    matches!(
        word.as_str(),
        "select"
            | "with"
            | "values"
            | "from"
            | "table"
            | "show"
            | "describe"
            | "summarize"
            | "pivot"
            | "unpivot"
            | "explain"
            | "call"
    )
}

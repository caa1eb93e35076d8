//! Relations as templates see them: what `ref()`, `source()` and `this` return.
//!
//! In SQL a relation renders as its quoted name; in Jinja it also answers `.schema`,
//! `.identifier` and friends, which macros use to build DDL.

use std::fmt;
use std::sync::Arc;

use minijinja::value::{Enumerator, Object, ObjectRepr};
use minijinja::{Error, State, Value};
use serde::Serialize;

use crate::sql::Dialect;

#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Relation {
    /// A table or view in the warehouse.
    Table {
        database: Option<String>,
        schema: String,
        identifier: String,
        dialect: Dialect,
    },
    /// An ephemeral model, inlined as a CTE with this name.
    Cte { name: String },
    /// Landing files read in place (DuckDB): `read_parquet('…')` and friends.
    Files {
        reader: String,
        schema: String,
        identifier: String,
    },
}

/// Where a microbatch model's SQL holds its batch's bounds until the executor fills them in.
pub const BATCH_START: &str = "__etlx_batch_start__";
pub const BATCH_END: &str = "__etlx_batch_end__";
/// dbt's `model.batch.id`: the batch's start, `20240102` (`20240102T05` for hours).
pub const BATCH_ID: &str = "__etlx_batch_id__";

impl Relation {
    /// `(select * from <relation> where <column> >= '<start>' and <column> < '<end>')`, dbt's
    /// filter of a microbatch model's input; servers get the alias dbt-postgres gives it.
    pub fn in_batch(&self, column: &str) -> Relation {
        let alias = match self {
            Relation::Table { dialect, .. } if *dialect != Dialect::DuckDb => {
                format!(" _dbt_et_filter_subq_{}", self.identifier())
            }
            _ => String::new(),
        };
        Relation::Files {
            reader: format!(
                "(select * from {} where {column} >= '{BATCH_START}' and {column} < '{BATCH_END}'){alias}",
                self.to_sql()
            ),
            schema: self.schema().unwrap_or_default().to_string(),
            identifier: self.identifier().to_string(),
        }
    }

    pub fn table(
        dialect: Dialect,
        database: Option<String>,
        schema: impl Into<String>,
        identifier: impl Into<String>,
    ) -> Self {
        Relation::Table {
            database,
            schema: schema.into(),
            identifier: identifier.into(),
            dialect,
        }
    }

    pub fn schema(&self) -> Option<&str> {
        match self {
            Relation::Table { schema, .. } | Relation::Files { schema, .. } => Some(schema),
            Relation::Cte { .. } => None,
        }
    }

    pub fn identifier(&self) -> &str {
        match self {
            Relation::Table { identifier, .. } | Relation::Files { identifier, .. } => identifier,
            Relation::Cte { name } => name,
        }
    }

    /// The relation as SQL: `"schema"."name"`, a CTE name, or a file reader call.
    pub fn to_sql(&self) -> String {
        match self {
            Relation::Table {
                database,
                schema,
                identifier,
                dialect,
            } => {
                let mut parts = Vec::with_capacity(3);
                if let Some(db) = database {
                    parts.push(dialect.quote(db));
                }
                parts.push(dialect.quote(schema));
                parts.push(dialect.quote(identifier));
                parts.join(".")
            }
            Relation::Cte { name } => name.clone(),
            Relation::Files { reader, .. } => reader.clone(),
        }
    }
}

impl fmt::Display for Relation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_sql())
    }
}

const ATTRS: &[&str] = &[
    "database",
    "schema",
    "identifier",
    "name",
    "table",
    "type",
    "is_table",
    "is_view",
    "is_cte",
];

impl Object for Relation {
    fn repr(self: &Arc<Self>) -> ObjectRepr {
        ObjectRepr::Plain
    }

    fn get_value(self: &Arc<Self>, key: &Value) -> Option<Value> {
        let database = match &**self {
            Relation::Table { database, .. } => database.clone(),
            _ => None,
        };
        Some(match key.as_str()? {
            "database" => Value::from(database),
            "schema" => Value::from(self.schema()),
            "identifier" | "name" | "table" => Value::from(self.identifier()),
            "is_cte" => Value::from(matches!(**self, Relation::Cte { .. })),
            "type" | "is_table" | "is_view" => Value::from(()),
            _ => return None,
        })
    }

    fn enumerate(self: &Arc<Self>) -> Enumerator {
        Enumerator::Str(ATTRS)
    }

    fn call_method(
        self: &Arc<Self>,
        _state: &mut State<'_, '_>,
        method: &str,
        args: &[Value],
    ) -> Result<Value, Error> {
        match method {
            // dbt relations answer these; rendering is the same whatever they are asked to include.
            "render" | "include" | "quote" | "incorporate" => {
                if method == "render" || args.is_empty() {
                    Ok(Value::from(self.to_sql()))
                } else {
                    Ok(Value::from_object((**self).clone()))
                }
            }
            _ => Err(Error::from(minijinja::ErrorKind::UnknownMethod)),
        }
    }

    fn render(self: &Arc<Self>, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_sql())
    }
}

//! The columns one query reads for each column it returns, from its syntax tree.
//!
//! Scopes are followed as SQL defines them: CTEs (each sees the ones before it), subqueries in
//! FROM, joins, table aliases, `select *` and `t.*` (with `exclude`), and set operations (by
//! position). A column that is copied or renamed is a direct edge; anything computed from it is
//! derived. What cannot be known (a `*` over a relation whose columns are unknown, a table
//! function) is said, never guessed.

use std::collections::HashMap;
use std::ops::ControlFlow;
use std::rc::Rc;

use sqlparser::ast::{
    Expr, Ident, ObjectName, ObjectNamePart, Query, Select, SelectItem,
    SelectItemQualifiedWildcardKind, SetExpr, TableFactor, WildcardAdditionalOptions,
};

/// How an output column comes from an input column.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Kind {
    /// Copied, possibly renamed.
    Direct,
    /// Computed from it (a cast, a function, an aggregate, an expression).
    Derived,
}

/// A column of a relation outside the query: the relation's key (as the caller resolves it)
/// and the column's name.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Origin {
    pub relation: String,
    pub column: String,
}

/// One column the query returns.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Output {
    pub name: String,
    pub from: Vec<(Origin, Kind)>,
    /// Why its inputs are not known, if they are not.
    pub unknown: Option<String>,
}

/// What the analysis needs from outside: which relation a FROM item names, and its columns.
pub trait Relations {
    /// The key of the relation `name` (as written, e.g. `"main"."orders"` or a table
    /// function call) names, if it is one the caller knows.
    fn resolve(&self, written: &str) -> Option<String>;
    /// The columns of a relation, if known, and whether that list is complete (a seed's
    /// header, a model's own lineage) or maybe partial (columns described in YAML).
    fn columns(&self, relation: &str) -> Option<(Vec<String>, bool)>;
}

/// What a FROM item provides to the select that reads it.
#[derive(Debug, Clone)]
enum Input {
    /// A relation outside the query, with its columns if known (and whether all of them are).
    Relation {
        key: String,
        columns: Option<Vec<String>>,
        complete: bool,
    },
    /// A CTE or subquery, with the lineage of its columns (shared: a CTE is read often).
    Query(Rc<Vec<Output>>),
    /// Something whose columns cannot be followed (a table function, `unnest`).
    Opaque(String),
}

/// A column the query reads that none of its inputs has, where every input's columns are
/// known: a misspelling, most often. Its place is in the SQL given to `analyse`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Unresolved {
    pub name: String,
    pub line: u64,
    pub column: u64,
    /// The columns it could have meant.
    pub candidates: Vec<String>,
}

/// The outputs of `query`, and the columns it reads that do not exist.
pub fn analyse(query: &Query, relations: &dyn Relations) -> (Vec<Output>, Vec<Unresolved>) {
    let analysis = Analysis {
        relations,
        unresolved: Default::default(),
    };
    let outputs = analysis.query(query, &HashMap::new());
    (outputs, analysis.unresolved.into_inner())
}

struct Analysis<'a> {
    relations: &'a dyn Relations,
    unresolved: std::cell::RefCell<Vec<Unresolved>>,
}

/// Words that parse as a column name but are not one.
const NOT_COLUMNS: &[&str] = &[
    "current_date",
    "current_time",
    "current_timestamp",
    "localtime",
    "localtimestamp",
    "current_user",
    "session_user",
    "current_role",
    "current_schema",
    "current_catalog",
    "user",
    "true",
    "false",
    "null",
];

/// The columns an input is known to have, all of them; `None` when some are unknown.
fn all_columns(input: &Input) -> Option<Vec<String>> {
    match input {
        Input::Relation {
            columns: Some(columns),
            complete: true,
            ..
        } => Some(columns.clone()),
        Input::Query(outputs) if outputs.iter().all(|o| o.name != "*") => {
            Some(outputs.iter().map(|o| o.name.clone()).collect())
        }
        _ => None,
    }
}

fn lower(ident: &Ident) -> String {
    ident.value.to_lowercase()
}

fn last_part(name: &ObjectName) -> String {
    match name.0.last() {
        Some(ObjectNamePart::Identifier(i)) => lower(i),
        _ => name.to_string().to_lowercase(),
    }
}

impl Analysis<'_> {
    fn query(&self, query: &Query, outer: &HashMap<String, Rc<Vec<Output>>>) -> Vec<Output> {
        let mut ctes = outer.clone();
        if let Some(with) = &query.with {
            for cte in &with.cte_tables {
                let mut outputs = self.query(&cte.query, &ctes);
                // `with t (a, b) as (...)` renames by position.
                for (out, renamed) in outputs.iter_mut().zip(&cte.alias.columns) {
                    out.name = renamed.name.value.clone();
                }
                ctes.insert(lower(&cte.alias.name), Rc::new(outputs));
            }
        }
        self.set_expr(&query.body, &ctes)
    }

    fn set_expr(&self, body: &SetExpr, ctes: &HashMap<String, Rc<Vec<Output>>>) -> Vec<Output> {
        match body {
            SetExpr::Select(select) => self.select(select, ctes),
            SetExpr::Query(query) => self.query(query, ctes),
            SetExpr::SetOperation { left, right, .. } => {
                let (mut left, right) = (self.set_expr(left, ctes), self.set_expr(right, ctes));
                for (l, r) in left.iter_mut().zip(right) {
                    l.from.extend(r.from);
                    l.from.sort();
                    l.from.dedup();
                    l.unknown = l.unknown.take().or(r.unknown);
                }
                left
            }
            // `values (...)`: constants, in columns named by position (an alias renames them).
            SetExpr::Values(values) => {
                let width = values.rows.first().map_or(0, |row| row.len());
                (1..=width)
                    .map(|i| Output {
                        name: format!("column{i}"),
                        from: Vec::new(),
                        unknown: None,
                    })
                    .collect()
            }
            other => vec![unknown_star(&format!(
                "not followed: {}",
                first_word(&other.to_string())
            ))],
        }
    }

    fn select(&self, select: &Select, ctes: &HashMap<String, Rc<Vec<Output>>>) -> Vec<Output> {
        let mut inputs: Vec<(String, Input)> = Vec::new();
        for table in &select.from {
            inputs.push(self.input(&table.relation, ctes));
            for join in &table.joins {
                inputs.push(self.input(&join.relation, ctes));
            }
        }
        let mut out: Vec<Output> = Vec::new();
        for item in &select.projection {
            // DuckDB lets a select item read an alias given earlier in the same list.
            let earlier: Vec<String> = out.iter().map(|o| o.name.to_lowercase()).collect();
            match item {
                SelectItem::UnnamedExpr(expr) => {
                    out.push(self.column(expr_name(expr), expr, &inputs, &earlier))
                }
                SelectItem::ExprWithAlias { expr, alias } => {
                    out.push(self.column(alias.value.clone(), expr, &inputs, &earlier))
                }
                SelectItem::ExprWithAliases { expr, aliases } => {
                    for alias in aliases {
                        out.push(self.column(alias.value.clone(), expr, &inputs, &earlier));
                    }
                }
                SelectItem::Wildcard(options) => {
                    for (_, input) in &inputs {
                        out.extend(star(input, options));
                    }
                }
                SelectItem::QualifiedWildcard(kind, options) => {
                    let qualifier = match kind {
                        SelectItemQualifiedWildcardKind::ObjectName(name) => last_part(name),
                        SelectItemQualifiedWildcardKind::Expr(e) => e.to_string().to_lowercase(),
                    };
                    match inputs.iter().find(|(alias, _)| *alias == qualifier) {
                        Some((_, input)) => out.extend(star(input, options)),
                        None => {
                            out.push(unknown_star(&format!("{qualifier}.* names no FROM item")))
                        }
                    }
                }
            }
        }
        out
    }

    /// A FROM item: the name it is known by in the select, and what it provides.
    fn input(
        &self,
        factor: &TableFactor,
        ctes: &HashMap<String, Rc<Vec<Output>>>,
    ) -> (String, Input) {
        match factor {
            TableFactor::Table {
                name, alias, args, ..
            } => {
                let called = alias.as_ref().map(|a| lower(&a.name));
                let single = name.0.len() == 1 && args.is_none();
                if let Some(cte) = ctes.get(&last_part(name)).filter(|_| single) {
                    return (called.unwrap_or(last_part(name)), Input::Query(cte.clone()));
                }
                let written = factor_text(factor);
                let input = match self.relations.resolve(&written) {
                    Some(key) => {
                        let (columns, complete) = match self.relations.columns(&key) {
                            Some((columns, complete)) => (Some(columns), complete),
                            None => (None, false),
                        };
                        Input::Relation {
                            columns,
                            complete,
                            key,
                        }
                    }
                    None => Input::Opaque(format!("{} is not a known relation", name)),
                };
                (called.unwrap_or(last_part(name)), input)
            }
            TableFactor::Derived {
                subquery, alias, ..
            } => {
                let mut outputs = self.query(subquery, ctes);
                // `(...) as t (a, b)` renames by position.
                let renamed = alias.iter().flat_map(|a| &a.columns);
                for (out, column) in outputs.iter_mut().zip(renamed) {
                    out.name = column.name.value.clone();
                }
                let called = alias.as_ref().map(|a| lower(&a.name)).unwrap_or_default();
                (called, Input::Query(Rc::new(outputs)))
            }
            other => {
                let text = other.to_string();
                (
                    String::new(),
                    Input::Opaque(format!("not followed: {}", first_word(&text))),
                )
            }
        }
    }

    /// One output column: the input columns `expr` reads.
    fn column(
        &self,
        name: String,
        expr: &Expr,
        inputs: &[(String, Input)],
        earlier: &[String],
    ) -> Output {
        let mut bound: Vec<String> = Vec::new();
        let _ = sqlparser::ast::visit_expressions(expr, |e| {
            if let Expr::Lambda(lambda) = e {
                bound.extend(lambda.params.iter().map(|p| lower(&p.name)));
            }
            ControlFlow::<()>::Continue(())
        });
        let direct = matches!(expr, Expr::Identifier(_) | Expr::CompoundIdentifier(_))
            || matches!(expr, Expr::Nested(inner) if matches!(**inner, Expr::Identifier(_) | Expr::CompoundIdentifier(_)));
        let mut from = Vec::new();
        let mut unknown = None;
        let _ = sqlparser::ast::visit_expressions(expr, |e| {
            let parts: Vec<&Ident> = match e {
                Expr::Identifier(i) => vec![i],
                Expr::CompoundIdentifier(parts) => parts.iter().collect(),
                _ => return ControlFlow::<()>::Continue(()),
            };
            match resolve(&parts, inputs) {
                Resolved::Columns(found) => {
                    for (origin, kind) in found {
                        let kind = match (direct, kind) {
                            (true, Kind::Direct) => Kind::Direct,
                            _ => Kind::Derived,
                        };
                        from.push((origin, kind));
                    }
                }
                Resolved::Unknown(why) => unknown = unknown.take().or(Some(why)),
                Resolved::NotAColumn => self.check_missing(&parts, inputs, earlier, &bound),
            }
            ControlFlow::Continue(())
        });
        from.sort();
        from.dedup();
        Output {
            name,
            from,
            unknown,
        }
    }
}

impl Analysis<'_> {
    /// A column reference no input has, when every input it could come from is fully known:
    /// `o.amont` against `orders as o`, or `amont` against inputs that are all known.
    fn check_missing(
        &self,
        parts: &[&Ident],
        inputs: &[(String, Input)],
        earlier: &[String],
        bound: &[String],
    ) {
        let Some(written) = parts.last() else {
            return;
        };
        let name = lower(written);
        let candidates = match parts {
            [qualifier, _] => {
                let qualifier = lower(qualifier);
                match inputs.iter().find(|(alias, _)| *alias == qualifier) {
                    Some((_, input)) => all_columns(input),
                    None => None,
                }
            }
            [_] if !inputs.is_empty()
                && !earlier.contains(&name)
                && !bound.contains(&name)
                && !NOT_COLUMNS.contains(&name.as_str()) =>
            {
                inputs
                    .iter()
                    .map(|(_, input)| all_columns(input))
                    .collect::<Option<Vec<_>>>()
                    .map(|all| all.concat())
            }
            _ => None,
        };
        if let Some(candidates) = candidates {
            self.unresolved.borrow_mut().push(Unresolved {
                name: written.value.clone(),
                line: written.span.start.line,
                column: written.span.start.column,
                candidates,
            });
        }
    }
}

enum Resolved {
    Columns(Vec<(Origin, Kind)>),
    Unknown(String),
    /// A name that is no column of any input (a keyword such as `current_date`, a lambda's
    /// parameter): not a dependency.
    NotAColumn,
}

/// A column reference (`c`, `t.c`, `schema.t.c`) among the select's inputs.
fn resolve(parts: &[&Ident], inputs: &[(String, Input)]) -> Resolved {
    let Some(written) = parts.last() else {
        return Resolved::NotAColumn;
    };
    let column = lower(written);
    if parts.len() >= 2 {
        let qualifier = lower(parts[parts.len() - 2]);
        return match inputs.iter().find(|(alias, _)| *alias == qualifier) {
            Some((_, input)) => from_input(input, written, true).unwrap_or(Resolved::NotAColumn),
            // `struct_column.field`: the first part is the column.
            None => match parts.first() {
                Some(first) if parts.len() == 2 => resolve(&[first], inputs),
                _ => Resolved::NotAColumn,
            },
        };
    }
    // An input that has the column by name first, then one that has it through a `*`.
    for through_star in [false, true] {
        if let Some(found) = inputs
            .iter()
            .find_map(|(_, input)| from_input(input, written, through_star))
        {
            return found;
        }
    }
    // Not among the known columns: the one input whose columns are unknown holds it.
    let unknown: Vec<&Input> = inputs
        .iter()
        .map(|(_, i)| i)
        .filter(|i| matches!(i, Input::Relation { columns: None, .. } | Input::Opaque(_)))
        .collect();
    match unknown.as_slice() {
        [Input::Relation { key, .. }] => Resolved::Columns(vec![(
            Origin {
                relation: key.clone(),
                column: written.value.clone(),
            },
            Kind::Direct,
        )]),
        [Input::Opaque(why)] => Resolved::Unknown(why.clone()),
        [] => Resolved::NotAColumn,
        _ => Resolved::Unknown(format!(
            "{column} may come from several relations whose columns are unknown"
        )),
    }
}

/// The column `written` of one input, if the input is known to have it, or has it through
/// a `*` over a relation whose columns are not known (then that relation's column of the name).
fn from_input(input: &Input, written: &Ident, through_star: bool) -> Option<Resolved> {
    let column = lower(written);
    match input {
        Input::Relation {
            key,
            columns: Some(columns),
            ..
        } => columns
            .iter()
            .find(|c| c.to_lowercase() == column)
            .map(|c| {
                Resolved::Columns(vec![(
                    Origin {
                        relation: key.clone(),
                        column: c.clone(),
                    },
                    Kind::Direct,
                )])
            }),
        Input::Query(outputs) => {
            if let Some(o) = outputs.iter().find(|o| o.name.to_lowercase() == column) {
                return Some(match &o.unknown {
                    Some(why) if o.from.is_empty() => Resolved::Unknown(why.clone()),
                    _ => Resolved::Columns(o.from.clone()),
                });
            }
            let star = outputs
                .iter()
                .find(|o| o.name == "*")
                .filter(|_| through_star)?;
            Some(match star.from.as_slice() {
                [(origin, kind)] if origin.column == "*" => Resolved::Columns(vec![(
                    Origin {
                        relation: origin.relation.clone(),
                        column: written.value.clone(),
                    },
                    *kind,
                )]),
                _ => Resolved::Unknown(star.unknown.clone().unwrap_or_default()),
            })
        }
        _ => None,
    }
}

/// `*` over one input: each of its columns, directly; `exclude` leaves some out.
fn star(input: &Input, options: &WildcardAdditionalOptions) -> Vec<Output> {
    let excluded: Vec<String> = match &options.opt_exclude {
        Some(sqlparser::ast::ExcludeSelectItem::Single(name)) => vec![last_part(name)],
        Some(sqlparser::ast::ExcludeSelectItem::Multiple(names)) => {
            names.iter().map(last_part).collect()
        }
        None => Vec::new(),
    };
    let kept = |name: &str| !excluded.contains(&name.to_lowercase());
    match input {
        Input::Relation {
            key,
            columns: Some(columns),
            ..
        } => columns
            .iter()
            .filter(|c| kept(c))
            .map(|c| Output {
                name: c.clone(),
                from: vec![(
                    Origin {
                        relation: key.clone(),
                        column: c.clone(),
                    },
                    Kind::Direct,
                )],
                unknown: None,
            })
            .collect(),
        // Its columns are followed by name when a reader asks for them (see `from_input`).
        Input::Relation {
            key, columns: None, ..
        } => vec![Output {
            from: vec![(
                Origin {
                    relation: key.clone(),
                    column: "*".into(),
                },
                Kind::Direct,
            )],
            ..unknown_star(&format!("the columns of {key} are not known"))
        }],
        Input::Query(outputs) => outputs.iter().filter(|o| kept(&o.name)).cloned().collect(),
        Input::Opaque(why) => vec![unknown_star(why)],
    }
}

fn unknown_star(why: &str) -> Output {
    Output {
        name: "*".into(),
        from: Vec::new(),
        unknown: Some(why.to_string()),
    }
}

/// The name a database gives an unaliased expression: a column's own name, else its text.
fn expr_name(expr: &Expr) -> String {
    match expr {
        Expr::Identifier(i) => i.value.clone(),
        Expr::CompoundIdentifier(parts) => {
            parts.last().map(|i| i.value.clone()).unwrap_or_default()
        }
        Expr::Nested(inner) => expr_name(inner),
        other => other.to_string(),
    }
}

/// A FROM item as text, for the caller to match against the relations it rendered.
fn factor_text(factor: &TableFactor) -> String {
    match factor {
        TableFactor::Table { name, args, .. } => match args {
            Some(args) => format!(
                "{name}({})",
                args.args
                    .iter()
                    .map(|a| a.to_string())
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
            None => name.to_string(),
        },
        other => other.to_string(),
    }
}

fn first_word(text: &str) -> String {
    text.split_whitespace().next().unwrap_or("").to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Two relations: `orders` with known columns, `events` whose columns are not known.
    struct Fake;

    impl Relations for Fake {
        fn resolve(&self, written: &str) -> Option<String> {
            let name = written.replace('"', "").to_lowercase();
            ["main.orders", "main.events"]
                .into_iter()
                .find(|r| *r == name)
                .map(str::to_string)
        }

        fn columns(&self, relation: &str) -> Option<(Vec<String>, bool)> {
            (relation == "main.orders").then(|| {
                let columns = ["order_id", "customer_id", "amount"].map(str::to_string);
                (columns.to_vec(), true)
            })
        }
    }

    /// Each output column as `name <- relation.column:kind, ...` (or `?why`).
    fn lineage(sql: &str) -> Vec<String> {
        let query = crate::sql::parse_query(crate::sql::Dialect::DuckDb, sql).expect("parses");
        analyse(&query, &Fake)
            .0
            .into_iter()
            .map(|o| {
                let from: Vec<String> = o
                    .from
                    .iter()
                    .map(|(origin, kind)| {
                        let k = if *kind == Kind::Direct { "d" } else { "x" };
                        format!("{}.{}:{k}", origin.relation, origin.column)
                    })
                    .collect();
                match o.unknown {
                    Some(why) if from.is_empty() => format!("{} ?{why}", o.name),
                    _ => format!("{} <- {}", o.name, from.join(", ")),
                }
            })
            .collect()
    }

    #[test]
    fn columns_are_followed_through_ctes_aliases_joins_and_stars() {
        let sql = "with o as (select order_id as id, amount * 100 as cents, customer_id from \"main\".\"orders\"), \
                   e as (select * from main.events) \
                   select o.*, e.user_id, upper(e.page) as page from o join e on o.id = e.order_id";
        assert_eq!(
            lineage(sql),
            [
                "id <- main.orders.order_id:d",
                "cents <- main.orders.amount:x",
                "customer_id <- main.orders.customer_id:d",
                "user_id <- main.events.user_id:d",
                "page <- main.events.page:x",
            ]
        );
    }

    #[test]
    fn an_unknown_relation_alone_holds_the_columns_it_is_asked_for() {
        assert_eq!(
            lineage("select \"userId\" as user_id, cast(ts as bigint) as ts from main.events"),
            ["user_id <- main.events.userId:d", "ts <- main.events.ts:x"]
        );
    }

    #[test]
    fn exclude_unions_and_subqueries() {
        assert_eq!(
            lineage("select * exclude (amount) from (select * from main.orders) as s"),
            [
                "order_id <- main.orders.order_id:d",
                "customer_id <- main.orders.customer_id:d"
            ]
        );
        assert_eq!(
            lineage(
                "select order_id from main.orders union all select customer_id from main.orders"
            ),
            ["order_id <- main.orders.customer_id:d, main.orders.order_id:d"]
        );
        assert_eq!(
            lineage("select count(*) as n, sum(amount) as total, 1 as one from main.orders"),
            ["n <- ", "total <- main.orders.amount:x", "one <- "]
        );
    }
}

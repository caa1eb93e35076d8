//! dbt's cross-database macros (`dbt_macros.sql`) as each warehouse receives them: every call
//! rendered for DuckDB, PostgreSQL and Redshift and pinned in one snapshot, to be read beside
//! what dbt-duckdb, dbt-postgres and dbt-redshift write. The values they give on DuckDB are
//! checked against dbt-duckdb itself by `tests/it/dbt_compat.rs`.

use std::sync::{Arc, Mutex};

use super::{RenderRequest, Shared, Templates};
use crate::adapter::{AdapterError, ColumnInfo, Connection, RowSink, SharedConnection, Table};
use crate::diag::Diagnostics;
use crate::project::testing;
use crate::sql::Dialect;

/// A warehouse that answers every query with the integer 9 and remembers what it was asked:
/// `date_spine` counts its periods with a query at compile time.
struct Recorder(Arc<Mutex<Vec<String>>>);

impl Connection for Recorder {
    fn execute(&mut self, sql: &str) -> Result<Option<u64>, AdapterError> {
        self.0.lock().unwrap().push(sql.to_string());
        Ok(None)
    }

    fn query(&mut self, sql: &str) -> Result<Table, AdapterError> {
        self.0.lock().unwrap().push(sql.to_string());
        Ok(Table {
            columns: vec!["n".to_string()],
            rows: vec![vec![Some("9".to_string())]],
        })
    }

    fn columns(&mut self, _: &str, _: &str) -> Result<Vec<ColumnInfo>, AdapterError> {
        Ok(Vec::new())
    }

    fn describe(&mut self, _: &str) -> Result<Vec<ColumnInfo>, AdapterError> {
        Ok(vec![ColumnInfo {
            name: "n".to_string(),
            data_type: "INTEGER".to_string(),
        }])
    }

    fn copy_in<'a>(
        &'a mut self,
        _: &str,
        _: &[String],
    ) -> Result<Box<dyn RowSink + 'a>, AdapterError> {
        unreachable!("macros load no rows")
    }
}

/// Every public macro, with the arguments that take different paths through it.
const CALLS: &[&str] = &[
    "dbt.type_string()",
    "dbt.type_timestamp()",
    "dbt.type_float()",
    "dbt.type_numeric()",
    "dbt.type_bigint()",
    "dbt.type_int()",
    "dbt.type_boolean()",
    "dbt.current_timestamp()",
    "dbt.current_timestamp_backcompat()",
    "dbt.current_timestamp_in_utc_backcompat()",
    "dbt.date_trunc('month', 'ordered_at')",
    "dbt.dateadd('day', 3, 'ordered_at')",
    "dbt.dateadd('week', 'n', 'ordered_at')",
    "dbt.dateadd('quarter', -1, 'ordered_at')",
    "dbt.datediff('a', 'b', 'year')",
    "dbt.datediff('a', 'b', 'quarter')",
    "dbt.datediff('a', 'b', 'month')",
    "dbt.datediff('a', 'b', 'week')",
    "dbt.datediff('a', 'b', 'day')",
    "dbt.datediff('a', 'b', 'hour')",
    "dbt.datediff('a', 'b', 'minute')",
    "dbt.datediff('a', 'b', 'second')",
    "dbt.datediff('a', 'b', 'millisecond')",
    "dbt.datediff('a', 'b', 'microsecond')",
    "dbt.datediff('a', 'b', 'fortnight')",
    "datediff('a', 'b', 'day')",
    "dbt.last_day('ordered_at', 'month')",
    "dbt.last_day('ordered_at', 'quarter')",
    "dbt.date(2024, 2, 29)",
    "dbt.date(2023, 2, 29)",
    "dbt.date('2024', 1, 1)",
    "dbt.date_spine('day', \"cast('2024-01-01' as date)\", \"cast('2024-01-10' as date)\")",
    "dbt.get_intervals_between(\"cast('2024-01-01' as date)\", \"cast('2024-03-01' as date)\", 'month')",
    "dbt.get_powers_of_two(9)",
    "dbt.get_powers_of_two(0)",
    "dbt.generate_series(9)",
    "dbt.safe_cast('amount', 'integer')",
    "dbt.cast('amount', dbt.type_numeric())",
    "dbt.cast_bool_to_text('is_paid')",
    "dbt.concat(['first_name', \"' '\", 'last_name'])",
    "dbt.hash('email')",
    "dbt.length('email')",
    "dbt.position(\"'@'\", 'email')",
    "dbt.replace('email', \"'@'\", \"' at '\")",
    "dbt.right('email', 3)",
    "dbt.split_part('path', \"'/'\", 2)",
    "dbt.split_part('path', \"'/'\", -1)",
    "dbt.listagg('name')",
    "dbt.listagg('name', \"', '\", 'order by name')",
    "dbt.listagg('name', \"', '\", 'order by name', 2)",
    "dbt.listagg('name', \"'|'\", none, 3)",
    "dbt.any_value('name')",
    "dbt.bool_or('is_paid')",
    "dbt.escape_single_quotes(\"it's\")",
    "dbt.string_literal('shop')",
    "dbt.except()",
    "dbt.intersect()",
    "dbt.equals('a', 'b')",
    "dbt.array_construct(['1', '2'])",
    "dbt.array_construct([], 'text')",
    "dbt.array_construct()",
    "dbt.array_append('tags', \"'new'\")",
    "dbt.array_concat('tags', 'more_tags')",
];

const DIALECTS: [Dialect; 3] = [Dialect::DuckDb, Dialect::Postgres, Dialect::Redshift];

/// `call` as `dialect` renders it: its SQL with blank lines and indentation removed, then any
/// query it ran; or the error it raised.
fn rendered(templates: &Templates, dialect: Dialect, call: &str) -> String {
    let queries = Arc::new(Mutex::new(Vec::new()));
    let shared = Arc::new(Shared {
        dialect: Some(dialect),
        macro_index: templates.macro_index.clone(),
        connection: Some(SharedConnection::new(Box::new(Recorder(queries.clone())))),
        ..Shared::default()
    });
    let request = RenderRequest::without_node(&shared);
    let mut out = match templates.render_str("<call>", &format!("{{{{ {call} }}}}"), request) {
        Ok(sql) => tidy(&sql),
        Err(d) => format!("error: {}", d.message),
    };
    for query in queries.lock().unwrap().iter() {
        out.push_str(&format!("\n(queried at compile time: {})", tidy(query)));
    }
    out
}

fn tidy(sql: &str) -> String {
    sql.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect::<Vec<_>>()
        .join("\n")
}

#[test]
fn every_cross_database_macro_on_every_warehouse() {
    let dir = tempfile::tempdir().expect("tempdir");
    let project = testing::project(dir.path(), &[]);
    let mut diags = Diagnostics::default();
    let templates = Templates::new(&project, &mut diags);
    assert!(!diags.has_errors(), "{diags:?}");
    let mut shown = Vec::new();
    for call in CALLS {
        shown.push(call.to_string());
        // Warehouses that get the same SQL are shown together.
        let mut groups: Vec<(Vec<&str>, String)> = Vec::new();
        for dialect in DIALECTS {
            let sql = rendered(&templates, dialect, call);
            match groups.iter_mut().find(|(_, s)| *s == sql) {
                Some((names, _)) => names.push(dialect.name()),
                None => groups.push((vec![dialect.name()], sql)),
            }
        }
        for (names, sql) in groups {
            shown.push(format!("  {}:", names.join(", ")));
            shown.extend(sql.lines().map(|l| format!("    {l}")));
        }
    }
    insta::assert_snapshot!(shown.join("\n"));
}

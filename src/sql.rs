//! SQL dialects and static analysis of compiled SQL.
//!
//! Each target speaks its own SQL. Parsing compiled models with sqlparser in the target's
//! dialect catches syntax errors before any database is touched; because the parser does not
//! know every construct a warehouse accepts, a failure here is only as fatal as the
//! `static_analysis` setting says.

use std::fmt;

use serde::Serialize;
use sqlparser::ast::Statement;
use sqlparser::dialect::{DuckDbDialect, PostgreSqlDialect, RedshiftSqlDialect};
use sqlparser::parser::Parser;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
pub enum Dialect {
    #[serde(rename = "duckdb")]
    DuckDb,
    #[serde(rename = "postgres")]
    Postgres,
    #[serde(rename = "redshift")]
    Redshift,
}

impl Dialect {
    pub fn from_type(name: &str) -> Option<Dialect> {
        match name.to_ascii_lowercase().as_str() {
            "duckdb" => Some(Dialect::DuckDb),
            "postgres" | "postgresql" => Some(Dialect::Postgres),
            "redshift" => Some(Dialect::Redshift),
            _ => None,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Dialect::DuckDb => "duckdb",
            Dialect::Postgres => "postgres",
            Dialect::Redshift => "redshift",
        }
    }

    pub fn default_schema(self) -> &'static str {
        match self {
            Dialect::DuckDb => "main",
            Dialect::Postgres | Dialect::Redshift => "public",
        }
    }

    /// Prefixes tried by `adapter.dispatch`, most specific first. Redshift inherits the
    /// Postgres implementations, as in dbt.
    pub fn dispatch_prefixes(self) -> &'static [&'static str] {
        match self {
            Dialect::DuckDb => &["duckdb", "default"],
            Dialect::Postgres => &["postgres", "default"],
            Dialect::Redshift => &["redshift", "postgres", "default"],
        }
    }

    /// Quote an identifier, doubling embedded quotes.
    pub fn quote(self, ident: &str) -> String {
        format!("\"{}\"", ident.replace('"', "\"\""))
    }

    /// Quote a string literal. Redshift reads backslash escapes in every literal (as
    /// PostgreSQL did before `standard_conforming_strings`), so there a backslash is doubled
    /// too: otherwise `a\` would swallow the closing quote.
    pub fn literal(self, value: &str) -> String {
        match self {
            Dialect::Redshift => format!("'{}'", value.replace('\\', "\\\\").replace('\'', "''")),
            Dialect::DuckDb | Dialect::Postgres => format!("'{}'", value.replace('\'', "''")),
        }
    }
}

impl fmt::Display for Dialect {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// What a parse failure does to the run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum StaticAnalysis {
    /// A parse failure is an error: nothing runs.
    Strict,
    /// A parse failure is reported and the model still runs; the warehouse has the last word.
    #[default]
    Warn,
    /// Compiled SQL is not parsed.
    Off,
}

impl StaticAnalysis {
    /// From a config value. YAML 1.1 reads a bare `off` as `false` (PyYAML too), so booleans
    /// are accepted: `false` is off, `true` is the default.
    pub fn from_json(value: &serde_json::Value) -> Option<StaticAnalysis> {
        match value {
            serde_json::Value::Bool(false) => Some(StaticAnalysis::Off),
            serde_json::Value::Bool(true) => Some(StaticAnalysis::Warn),
            serde_json::Value::String(s) => StaticAnalysis::parse(s),
            _ => None,
        }
    }

    pub fn parse(text: &str) -> Option<StaticAnalysis> {
        match text.to_ascii_lowercase().as_str() {
            "strict" => Some(StaticAnalysis::Strict),
            "warn" => Some(StaticAnalysis::Warn),
            "off" => Some(StaticAnalysis::Off),
            _ => None,
        }
    }
}

/// A syntax error in compiled SQL, at a 1-based line and column of that SQL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SyntaxError {
    pub message: String,
    pub line: usize,
    pub column: usize,
}

/// The one query of `sql` (a model), parsed as the target would; `None` if it does not parse
/// or is not a single query.
pub fn parse_query(dialect: Dialect, sql: &str) -> Option<sqlparser::ast::Query> {
    parse(dialect, sql).ok().and_then(single_query)
}

/// The statements of `sql`, parsed as the target would receive it.
pub fn parse(dialect: Dialect, sql: &str) -> Result<Vec<Statement>, SyntaxError> {
    let result = match dialect {
        Dialect::DuckDb => Parser::parse_sql(&DuckDbDialect {}, sql),
        Dialect::Postgres => Parser::parse_sql(&PostgreSqlDialect {}, sql),
        Dialect::Redshift => Parser::parse_sql(&RedshiftSqlDialect {}, sql),
    };
    result.map_err(|e| syntax_error(&e.to_string(), sql))
}

/// The query of a model's statements: `None` unless there is exactly one and it is a query.
pub fn single_query(mut statements: Vec<Statement>) -> Option<sqlparser::ast::Query> {
    if statements.len() != 1 {
        return None;
    }
    match statements.pop()? {
        Statement::Query(query) => Some(*query),
        _ => None,
    }
}

/// Parse `sql` as the target would receive it.
pub fn check(dialect: Dialect, sql: &str) -> Result<(), SyntaxError> {
    parse(dialect, sql).map(drop)
}

/// sqlparser reports positions only inside its message text ("... at Line: 3, Column: 7").
fn syntax_error(text: &str, sql: &str) -> SyntaxError {
    let text = text.strip_prefix("sql parser error: ").unwrap_or(text);
    let (message, position) = match text.rfind(" at Line: ") {
        Some(i) => (&text[..i], Some(&text[i + " at Line: ".len()..])),
        None => (text, None),
    };
    let (line, column) = position
        .and_then(|p| {
            let (l, c) = p.split_once(", Column: ")?;
            Some((l.trim().parse().ok()?, c.trim().parse().ok()?))
        })
        .unwrap_or_else(|| end_of(sql));
    SyntaxError {
        message: message.to_string(),
        line,
        column,
    }
}

/// Errors at end of input come without a position; point just past the last character.
fn end_of(sql: &str) -> (usize, usize) {
    let trimmed = sql.trim_end();
    crate::diag::line_col(trimmed, trimmed.len())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The literals every dialect writes for the strings that break naive quoting (the same
    /// corpus `tests/it/postgres.rs` round-trips through PostgreSQL read as Redshift reads).
    #[test]
    fn literals_of_nasty_strings() {
        let corpus = [
            "it's",
            "\\",
            "a\\",
            "\\'",
            "\\\\''",
            "\\n",
            "two\nlines",
            "été 🎵",
        ];
        let shown: Vec<String> = corpus
            .iter()
            .map(|s| {
                format!(
                    "{s:?}\n  duckdb:   {}\n  postgres: {}\n  redshift: {}",
                    Dialect::DuckDb.literal(s),
                    Dialect::Postgres.literal(s),
                    Dialect::Redshift.literal(s)
                )
            })
            .collect();
        insta::assert_snapshot!(shown.join("\n"));
    }

    #[test]
    fn bare_off_in_yaml_means_off() {
        assert_eq!(
            StaticAnalysis::from_json(&serde_json::json!(false)),
            Some(StaticAnalysis::Off)
        );
        assert_eq!(
            StaticAnalysis::from_json(&serde_json::json!("strict")),
            Some(StaticAnalysis::Strict)
        );
        assert_eq!(StaticAnalysis::from_json(&serde_json::json!(3)), None);
    }

    #[test]
    fn reports_line_and_column() {
        let err = check(Dialect::DuckDb, "select a,\nfrom t where").unwrap_err();
        assert_eq!(err.line, 2);
        assert!(err.message.starts_with("Expected"), "{}", err.message);
    }

    #[test]
    fn accepts_each_dialect_s_own_syntax() {
        check(
            Dialect::DuckDb,
            "select * from read_parquet('landing/*.parquet')",
        )
        .unwrap();
        check(
            Dialect::Postgres,
            "select x::int from t on conflict do nothing",
        )
        .ok();
        check(
            Dialect::Redshift,
            "select * from t qualify row_number() over (partition by a order by b) = 1",
        )
        .unwrap();
    }
}

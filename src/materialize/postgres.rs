//! PostgreSQL's and Redshift's SQL for each materialization.
//!
//! Both have transactional DDL, so a relation is built under a temporary name and renamed into
//! place inside one transaction: readers see the old version until the commit, and a failure
//! or a killed client leaves it untouched. The old version is dropped after the commit. Where
//! Redshift differs (late-binding views, table attributes, `MERGE` needing both clauses,
//! `DELETE` without aliases), the difference is spelled out here.

use super::{Situation, Strategy, Target};
use crate::adapter::{ColumnInfo, RelationKind};
use crate::project::Config;
use crate::sql::Dialect;

/// Where a new version is built before it is renamed into place.
pub fn building(t: &Target) -> String {
    t.sibling("__etlx_tmp")
}

/// Where the previous version waits between the swap and its drop.
fn previous(t: &Target) -> String {
    t.sibling("__etlx_old")
}

fn drop_relation(kind: RelationKind, qualified: &str) -> String {
    match kind {
        RelationKind::Table => format!("drop table if exists {qualified} cascade"),
        RelationKind::View => format!("drop view if exists {qualified} cascade"),
    }
}

fn rename(kind: RelationKind, qualified: &str, to: &str, dialect: Dialect) -> String {
    let what = match kind {
        RelationKind::Table => "table",
        RelationKind::View => "view",
    };
    format!("alter {what} {qualified} rename to {}", dialect.quote(to))
}

/// The new version (`kind`, built under the temporary name) takes the relation's name; the
/// old one is dropped once the swap is committed.
fn swap_in(t: &Target, kind: RelationKind, s: &Situation) -> Vec<String> {
    let mut out = Vec::new();
    if let Some(old) = s.existing {
        out.push(rename(
            old,
            &t.qualified(),
            &format!("{}__etlx_old", t.name),
            t.dialect,
        ));
    }
    out.push(rename(kind, &building(t), t.name, t.dialect));
    out.push("commit".to_string());
    if let Some(old) = s.existing {
        out.push(drop_relation(old, &previous(t)));
    }
    out
}

/// Clear the temporary names a killed run may have left behind.
fn clear_leftovers(t: &Target, s: &Situation) -> Vec<String> {
    let mut out = vec!["begin".to_string()];
    if let Some(kind) = s.leftover_building {
        out.push(drop_relation(kind, &building(t)));
    }
    if let Some(kind) = s.leftover_previous {
        out.push(drop_relation(kind, &previous(t)));
    }
    out
}

pub fn view(t: &Target, sql: &str, s: &Situation, config: &Config) -> Vec<String> {
    let mut out = clear_leftovers(t, s);
    // Redshift's late-binding view checks its tables when queried, not when created, so
    // rebuilding a table under it does not need the view dropped and rebuilt.
    let late = t.dialect == Dialect::Redshift && config.get_bool("bind") == Some(false);
    let binding = if late { "\nwith no schema binding" } else { "" };
    out.push(format!(
        "create view {} as\n{}{binding}",
        building(t),
        body(sql)
    ));
    out.extend(swap_in(t, RelationKind::View, s));
    out
}

pub fn table(t: &Target, sql: &str, s: &Situation, config: &Config) -> Vec<String> {
    let mut out = clear_leftovers(t, s);
    out.push(format!(
        "create table {}{} as\n{}",
        building(t),
        table_attributes(t.dialect, config),
        body(sql)
    ));
    out.extend(swap_in(t, RelationKind::Table, s));
    out
}

/// An empty table under the temporary name, to be filled (COPY or INSERT) and then swapped
/// in with `finish_load`: how seeds and file sources reach a server warehouse.
pub fn start_load(
    t: &Target,
    columns: &[ColumnInfo],
    s: &Situation,
    config: &Config,
) -> Vec<String> {
    let mut out = clear_leftovers(t, s);
    let list = columns
        .iter()
        .map(|c| format!("{} {}", t.dialect.quote(&c.name), c.data_type))
        .collect::<Vec<_>>()
        .join(", ");
    out.push(format!(
        "create table {} ({list}){}",
        building(t),
        table_attributes(t.dialect, config)
    ));
    out
}

pub fn finish_load(t: &Target, s: &Situation) -> Vec<String> {
    swap_in(t, RelationKind::Table, s)
}

/// Redshift's physical design from the model's config: `dist`, `sort`, `sort_type`, `backup`.
fn table_attributes(dialect: Dialect, config: &Config) -> String {
    if dialect != Dialect::Redshift {
        return String::new();
    }
    let mut out = String::new();
    if config.get_bool("backup") == Some(false) {
        out.push_str(" backup no");
    }
    match config
        .get_str("dist")
        .map(str::to_ascii_lowercase)
        .as_deref()
    {
        None => {}
        Some(style @ ("even" | "all" | "auto")) => out.push_str(&format!(" diststyle {style}")),
        Some(_) => {
            let column = config.get_str("dist").unwrap_or_default();
            out.push_str(&format!(
                " diststyle key distkey({})",
                dialect.quote(column)
            ));
        }
    }
    let sort = config.strings("sort");
    if !sort.is_empty() {
        let kind = match config.get_str("sort_type") {
            Some(k) if k.eq_ignore_ascii_case("interleaved") => "interleaved",
            _ => "compound",
        };
        let keys: Vec<String> = sort.iter().map(|k| dialect.quote(k)).collect();
        out.push_str(&format!(" {kind} sortkey({})", keys.join(", ")));
    }
    out
}

/// The batch of an incremental model, staged once in a temporary table so it is read once.
pub fn stage_name(t: &Target) -> String {
    t.dialect
        .quote(&format!("etlx_stage__{}__{}", t.schema, t.name))
}

pub fn stage(t: &Target, sql: &str) -> Vec<String> {
    let stage = stage_name(t);
    vec![
        "begin".to_string(),
        format!("drop table if exists {stage}"),
        format!("create temporary table {stage} as\n{}", body(sql)),
    ]
}

/// Apply the staged batch to the existing table, then commit.
pub fn apply(
    t: &Target,
    strategy: &Strategy,
    target_columns: &[ColumnInfo],
    added: &[ColumnInfo],
    removed: &[String],
) -> Vec<String> {
    let q = |c: &str| t.dialect.quote(c);
    let target = t.qualified();
    let stage = stage_name(t);
    let mut out = Vec::new();
    for c in added {
        out.push(format!(
            "alter table {target} add column {} {}",
            q(&c.name),
            c.data_type
        ));
    }
    for c in removed {
        out.push(format!("alter table {target} drop column {}", q(c)));
    }
    let columns = super::kept_columns(target_columns, added, removed);
    let list = columns.iter().map(|c| q(c)).collect::<Vec<_>>().join(", ");
    let insert = format!("insert into {target} ({list})\nselect {list} from {stage}");
    match strategy {
        Strategy::Append => out.push(insert),
        Strategy::DeleteInsert(keys) => {
            // Redshift's DELETE takes no alias: the target is named by its own name.
            let name = q(t.name);
            let on = keys
                .iter()
                .map(|k| format!("{name}.{} = {stage}.{}", q(k), q(k)))
                .collect::<Vec<_>>()
                .join(" and ");
            out.push(format!("delete from {target}\nusing {stage}\nwhere {on}"));
            out.push(insert);
        }
        Strategy::Merge(keys) => out.push(merge(t, keys, &columns)),
    }
    out.push(format!("drop table if exists {stage}"));
    out.push("commit".to_string());
    out
}

fn merge(t: &Target, keys: &[String], columns: &[&str]) -> String {
    let q = |c: &str| t.dialect.quote(c);
    let is_key = |c: &str| keys.iter().any(|k| k.eq_ignore_ascii_case(c));
    let on = keys
        .iter()
        .map(|k| format!("t.{} = s.{}", q(k), q(k)))
        .collect::<Vec<_>>()
        .join(" and ");
    let mut updates: Vec<String> = columns
        .iter()
        .filter(|c| !is_key(c))
        .map(|c| format!("{} = s.{}", q(c), q(c)))
        .collect();
    // Redshift's MERGE needs a WHEN MATCHED clause; with only key columns, a no-op update.
    if updates.is_empty() && t.dialect == Dialect::Redshift {
        updates = keys
            .iter()
            .map(|k| format!("{} = s.{}", q(k), q(k)))
            .collect();
    }
    let matched = if updates.is_empty() {
        String::new()
    } else {
        format!("\nwhen matched then update set {}", updates.join(", "))
    };
    let list = columns.iter().map(|c| q(c)).collect::<Vec<_>>().join(", ");
    let values = columns
        .iter()
        .map(|c| format!("s.{}", q(c)))
        .collect::<Vec<_>>()
        .join(", ");
    format!(
        "merge into {} as t\nusing {} as s\non {on}{matched}\nwhen not matched then insert ({list}) values ({values})",
        t.qualified(),
        stage_name(t)
    )
}

/// The column type on this warehouse for a type DuckDB reported while reading files.
pub fn column_type(duckdb_type: &str, dialect: Dialect) -> String {
    let upper = duckdb_type.to_ascii_uppercase();
    let text = if dialect == Dialect::Redshift {
        "varchar(65535)"
    } else {
        "text"
    };
    let mapped = match upper.as_str() {
        "VARCHAR" | "UUID" | "JSON" | "BLOB" | "INTERVAL" => text,
        "BIGINT" | "INT8" | "LONG" => "bigint",
        "INTEGER" | "INT" | "INT4" | "UINTEGER" | "USMALLINT" => {
            if upper == "UINTEGER" {
                "bigint"
            } else {
                "integer"
            }
        }
        "SMALLINT" | "TINYINT" | "UTINYINT" => "smallint",
        "UBIGINT" | "HUGEINT" | "UHUGEINT" => "numeric(38,0)",
        "DOUBLE" | "FLOAT8" => "double precision",
        "FLOAT" | "REAL" | "FLOAT4" => "real",
        "BOOLEAN" | "BOOL" => "boolean",
        "DATE" => "date",
        "TIME" => "time",
        "TIMESTAMP" | "TIMESTAMP_NS" | "TIMESTAMP_MS" | "TIMESTAMP_S" | "DATETIME" => "timestamp",
        "TIMESTAMP WITH TIME ZONE" | "TIMESTAMPTZ" => "timestamptz",
        _ if upper.starts_with("DECIMAL") || upper.starts_with("NUMERIC") => {
            return upper.replace("DECIMAL", "numeric").to_lowercase();
        }
        // Lists, structs and maps arrive as their text form.
        _ => text,
    };
    mapped.to_string()
}

/// A type as `format_type` spells it, so a type written in DDL compares with the catalog's.
pub fn canonical_type(ddl: &str) -> String {
    let t = ddl.trim().to_ascii_lowercase();
    let renamed = [
        ("timestamptz", "timestamp with time zone"),
        ("timestamp", "timestamp without time zone"),
        ("varchar", "character varying"),
        ("int8", "bigint"),
        ("int4", "integer"),
        ("int", "integer"),
        ("float8", "double precision"),
        ("bool", "boolean"),
    ];
    for (short, long) in renamed {
        if let Some(rest) = t.strip_prefix(short)
            && (rest.is_empty() || rest.starts_with('('))
        {
            return format!("{long}{rest}");
        }
    }
    t
}

/// Compiled SQL as the body of a statement: no trailing semicolon.
fn body(sql: &str) -> &str {
    sql.trim().trim_end_matches(';').trim_end()
}

//! PostgreSQL's and Redshift's SQL for each materialization.
//!
//! Both have transactional DDL, so a relation is built under a temporary name and renamed into
//! place inside one transaction: readers see the old version until the commit, and a failure
//! or a killed client leaves it untouched. The old version is dropped after the commit. Where
//! Redshift differs (late-binding views, table attributes, `MERGE` needing both clauses,
//! `DELETE` without aliases), the difference is spelled out here.

use super::{QualifiedName, Situation};
use crate::adapter::{ColumnInfo, RelationKind};
use crate::project::Config;
use crate::sql::Dialect;

/// Where a new version is built before it is renamed into place.
pub fn building(t: &QualifiedName) -> String {
    t.sibling("__etlx_tmp")
}

/// Where the previous version waits between the swap and its drop.
fn previous(t: &QualifiedName) -> String {
    t.sibling("__etlx_old")
}

fn drop_relation(kind: RelationKind, qualified: &str) -> String {
    match kind {
        RelationKind::Table => format!("drop table if exists {qualified} cascade"),
        RelationKind::View => format!("drop view if exists {qualified} cascade"),
    }
}

/// `alter table … rename` renames views too, on PostgreSQL and on Redshift alike.
fn rename(qualified: &str, to: &str, dialect: Dialect) -> String {
    format!("alter table {qualified} rename to {}", dialect.quote(to))
}

/// The new version, built under the temporary name, takes the relation's name; the old one
/// is dropped once the swap is committed.
fn swap_in(t: &QualifiedName, s: &Situation) -> Vec<String> {
    let mut out = Vec::new();
    if s.existing.is_some() {
        out.push(rename(
            &t.qualified(),
            &format!("{}__etlx_old", t.name),
            t.dialect,
        ));
    }
    out.push(rename(&building(t), t.name, t.dialect));
    out.push("commit".to_string());
    if let Some(old) = s.existing {
        out.push(drop_relation(old, &previous(t)));
    }
    out
}

/// Clear the temporary names a killed run may have left behind.
fn clear_leftovers(t: &QualifiedName, s: &Situation) -> Vec<String> {
    let mut out = vec!["begin".to_string()];
    if let Some(kind) = s.leftover_building {
        out.push(drop_relation(kind, &building(t)));
    }
    if let Some(kind) = s.leftover_previous {
        out.push(drop_relation(kind, &previous(t)));
    }
    out
}

pub fn view(t: &QualifiedName, sql: &str, s: &Situation, config: &Config) -> Vec<String> {
    let mut out = clear_leftovers(t, s);
    // Redshift's late-binding view checks its tables when queried, not when created, so
    // rebuilding a table under it does not need the view dropped and rebuilt.
    let late = t.dialect == Dialect::Redshift && config.get_bool("bind") == Some(false);
    let binding = if late { "\nwith no schema binding" } else { "" };
    out.push(format!(
        "create view {} as\n{}{binding}",
        building(t),
        super::body(sql)
    ));
    out.extend(swap_in(t, s));
    out
}

pub fn table(t: &QualifiedName, sql: &str, s: &Situation, config: &Config) -> Vec<String> {
    let mut out = clear_leftovers(t, s);
    out.push(format!(
        "create table {}{} as\n{}",
        building(t),
        table_attributes(t.dialect, config),
        super::body(sql)
    ));
    out.extend(swap_in(t, s));
    out
}

/// An empty table under the temporary name, to be filled (COPY or INSERT) and then swapped
/// in with `finish_load`: how seeds and file sources reach a server warehouse.
pub fn start_load(
    t: &QualifiedName,
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

pub fn finish_load(t: &QualifiedName, s: &Situation) -> Vec<String> {
    swap_in(t, s)
}

/// The start of a refill in place (same columns, so the views over the table stay): empty
/// it inside the transaction that loads it. Redshift's TRUNCATE commits on the spot, so a
/// load failing after it would leave the table empty; DELETE waits for the commit.
pub fn start_refill(t: &QualifiedName) -> Vec<String> {
    let empty = match t.dialect {
        Dialect::Redshift => format!("delete from {}", t.qualified()),
        Dialect::Postgres | Dialect::DuckDb => format!("truncate table {}", t.qualified()),
    };
    vec!["begin".to_string(), empty]
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::materialize::{Strategy, Upsert, apply, stage};

    fn col(name: &str, data_type: &str) -> ColumnInfo {
        ColumnInfo {
            name: name.to_string(),
            data_type: data_type.to_string(),
        }
    }

    fn config(value: serde_json::Value) -> Config {
        Config(serde_json::from_value(value).expect("config"))
    }

    /// Every plan for one dialect, as the text etlx sends.
    fn plans(dialect: Dialect) -> Vec<(&'static str, Vec<String>)> {
        let t = QualifiedName {
            schema: "analytics",
            name: "songplays",
            dialect,
        };
        let fresh = Situation::default();
        let over_table = Situation {
            existing: Some(RelationKind::Table),
            ..Situation::default()
        };
        let after_a_crash = Situation {
            existing: Some(RelationKind::View),
            leftover_building: Some(RelationKind::Table),
            leftover_previous: Some(RelationKind::Table),
            ..Situation::default()
        };
        let none = config(serde_json::json!({}));
        let physical = config(serde_json::json!({
            "dist": "user_id", "sort": ["played_at", "user_id"], "sort_type": "interleaved", "backup": false
        }));
        let late = config(serde_json::json!({"bind": false}));
        let cols = [col("songplay_id", "text"), col("played_at", "timestamp")];
        let sql = "select songplay_id, played_at from analytics.stg_events -- trailing comment";
        let upsert = Upsert::on(&["songplay_id"]);
        let recent = Upsert {
            predicates: vec![
                "DBT_INTERNAL_DEST.played_at >= (select min(played_at) from DBT_INTERNAL_SOURCE)"
                    .into(),
                "DBT_INTERNAL_SOURCE.played_at > DBT_INTERNAL_DEST.played_at - interval '1 day'"
                    .into(),
            ],
            ..upsert.clone()
        };
        vec![
            ("view, new", view(&t, sql, &fresh, &none)),
            (
                "view replacing a table, bind: false",
                view(&t, sql, &over_table, &late),
            ),
            ("table, new", table(&t, sql, &fresh, &none)),
            (
                "table over a view after a killed run, dist/sort/backup",
                table(&t, sql, &after_a_crash, &physical),
            ),
            (
                "seed or file load into a new table",
                [
                    start_load(&t, &cols, &fresh, &physical),
                    finish_load(&t, &fresh),
                ]
                .concat(),
            ),
            (
                "seed or file load into the same columns, in place",
                [start_refill(&t), vec!["commit".to_string()]].concat(),
            ),
            ("incremental stage", stage(&t, sql)),
            ("append", apply(&t, &Strategy::Append, &cols, &[], &[])),
            (
                "delete+insert",
                apply(&t, &Strategy::DeleteInsert(upsert.clone()), &cols, &[], &[]),
            ),
            (
                "merge, a column added and one removed",
                apply(
                    &t,
                    &Strategy::Merge(upsert.clone()),
                    &cols,
                    &[col("level", "text")],
                    &["played_at".to_string()],
                ),
            ),
            (
                "merge, key columns only",
                apply(&t, &Strategy::Merge(upsert.clone()), &cols[..1], &[], &[]),
            ),
            (
                "delete+insert, incremental_predicates",
                apply(&t, &Strategy::DeleteInsert(recent.clone()), &cols, &[], &[]),
            ),
            (
                "merge, incremental_predicates",
                apply(&t, &Strategy::Merge(recent), &cols, &[], &[]),
            ),
        ]
        .into_iter()
        .chain(snapshot_plans(&t))
        .collect()
    }

    /// A snapshot's first build, and a later run: by timestamp with deletes invalidated, and
    /// by checked columns under a composite key with deleted rows kept as versions.
    fn snapshot_plans(t: &QualifiedName) -> Vec<(&'static str, Vec<String>)> {
        use crate::materialize::snapshot::Snapshot;
        let by_time = Snapshot::from_config(&config(serde_json::json!({
            "unique_key": "user_id", "strategy": "timestamp", "updated_at": "updated_at",
            "hard_deletes": "invalidate"
        })))
        .expect("timestamp snapshot");
        let by_columns = Snapshot::from_config(&config(serde_json::json!({
            "unique_key": ["org", "user_id"], "strategy": "check", "check_cols": ["level"],
            "hard_deletes": "new_record", "dbt_valid_to_current": "'9999-12-31'::timestamp"
        })))
        .expect("check snapshot");
        let sql = "select org, user_id, level, updated_at from analytics.dim_users";
        let query = [
            col("org", "text"),
            col("user_id", "integer"),
            col("level", "text"),
            col("updated_at", "timestamp"),
        ];
        let mut existing = query.to_vec();
        for meta in [
            "dbt_scd_id",
            "dbt_updated_at",
            "dbt_valid_from",
            "dbt_valid_to",
        ] {
            existing.push(col(meta, "text"));
        }
        let mut staged = vec![col("dbt_change_type", "text")];
        staged.extend(query.iter().cloned());
        staged.push(col("dbt_unique_key", "integer"));
        staged.extend(existing[4..].iter().cloned());
        staged.push(col("region", "text"));
        vec![
            (
                "snapshot, first build",
                table(
                    t,
                    &by_time.first_build(sql, t.dialect),
                    &Situation::default(),
                    &config(serde_json::json!({})),
                ),
            ),
            (
                "snapshot by timestamp, changes staged",
                stage(t, &by_time.changes(t, sql, &query, &existing)),
            ),
            (
                "snapshot by check_cols, composite key, new_record, changes staged",
                stage(t, &by_columns.changes(t, sql, &query, &existing)),
            ),
            (
                "snapshot, changes applied (a new source column added)",
                by_time.apply(t, &staged, &existing),
            ),
        ]
    }

    fn render(plans: &[(&str, Vec<String>)]) -> String {
        plans
            .iter()
            .map(|(name, stmts)| format!("-- {name}\n{};\n", stmts.join(";\n")))
            .collect::<Vec<_>>()
            .join("\n")
    }

    #[test]
    fn postgres_sql_of_each_materialization() {
        insta::assert_snapshot!(render(&plans(Dialect::Postgres)));
    }

    #[test]
    fn redshift_sql_of_each_materialization() {
        insta::assert_snapshot!(render(&plans(Dialect::Redshift)));
    }

    /// What sqlparser's dialect accepts is a check on spelling, not proof: the statements
    /// it cannot parse are listed, so a new one shows up in review.
    #[test]
    fn every_statement_parses_in_its_dialect() {
        for dialect in [Dialect::Postgres, Dialect::Redshift] {
            let mut unparsed = Vec::new();
            for (name, stmts) in plans(dialect) {
                for sql in stmts {
                    if crate::sql::check(dialect, &sql).is_err() {
                        unparsed.push(format!("{name}: {}", sql.lines().next().unwrap_or("")));
                    }
                }
            }
            insta::assert_snapshot!(format!("unparsed_{dialect}"), unparsed.join("\n"));
        }
    }

    #[test]
    fn duckdb_types_map_to_each_warehouse() {
        let types = [
            "VARCHAR",
            "BIGINT",
            "DOUBLE",
            "TIMESTAMP",
            "DECIMAL(10,2)",
            "BOOLEAN",
            "STRUCT(a INTEGER)",
        ];
        let mapped: Vec<String> = types
            .iter()
            .map(|t| {
                format!(
                    "{t} -> {} / {}",
                    column_type(t, Dialect::Postgres),
                    column_type(t, Dialect::Redshift)
                )
            })
            .collect();
        insta::assert_snapshot!(mapped.join("\n"));
    }

    #[test]
    fn catalog_and_ddl_type_names_compare_equal() {
        assert_eq!(
            canonical_type("timestamp"),
            canonical_type("timestamp without time zone")
        );
        assert_eq!(
            canonical_type("varchar(65535)"),
            canonical_type("character varying(65535)")
        );
        assert_ne!(canonical_type("text"), canonical_type("bigint"));
    }
}

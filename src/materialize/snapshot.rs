//! Snapshots: dbt's slowly changing dimensions of type 2, as SQL.
//!
//! A snapshot table keeps every version of each row of a query, with the period it was
//! current (`dbt_valid_from`, `dbt_valid_to`). People move from dbt with years of such
//! history, so the rows written here are the ones dbt writes: the same columns, the same
//! `dbt_scd_id` hash, the same rules for a changed, a new and a deleted row. A run stages the
//! changes once in a temporary table, then closes the old versions and inserts the new ones
//! in one transaction, so a failure leaves the table as it was.

use super::{PlanError, QualifiedName, stage_name};
use crate::adapter::ColumnInfo;
use crate::project::Config;
use crate::sql::Dialect;

/// How a snapshot tells that a row changed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ChangeRule {
    /// A newer `updated_at` than the current version's.
    Timestamp { updated_at: String },
    /// Any of these columns differs; versions are stamped with `updated_at`, or the time of
    /// the run.
    Check {
        columns: CheckColumns,
        updated_at: Option<String>,
    },
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CheckColumns {
    All,
    Listed(Vec<String>),
}

/// What happens to a version whose row left the query.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HardDeletes {
    /// It stays current.
    Ignore,
    /// It is closed at the time of the run.
    Invalidate,
    /// It is closed, and a version marked `dbt_is_deleted = 'True'` starts.
    NewRecord,
}

/// The names of the columns a snapshot adds (`snapshot_meta_column_names`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MetaColumns {
    pub valid_from: String,
    pub valid_to: String,
    pub scd_id: String,
    pub updated_at: String,
    pub is_deleted: String,
}

/// A snapshot's config, checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Snapshot {
    pub keys: Vec<String>,
    /// `unique_key` given as a list (even of one): the staged key columns are then numbered.
    pub composite: bool,
    pub rule: ChangeRule,
    pub hard_deletes: HardDeletes,
    pub meta: MetaColumns,
    /// `dbt_valid_to_current`: what current versions hold in `dbt_valid_to` instead of NULL.
    pub valid_to_current: Option<String>,
}

/// The staged batch's bookkeeping columns, which the snapshot table does not get.
pub fn is_staging_only(column: &str) -> bool {
    let c = column.to_ascii_lowercase();
    c == "dbt_change_type" || c == "dbt_unique_key" || c.starts_with("dbt_unique_key_")
}

impl Snapshot {
    pub fn from_config(config: &Config) -> Result<Snapshot, PlanError> {
        let missing = |key: &'static str, message: &str| PlanError::Snapshot {
            key,
            message: message.to_string(),
        };
        let keys = config.strings("unique_key");
        if keys.is_empty() {
            return Err(missing(
                "unique_key",
                "a snapshot needs a unique_key: config(unique_key='id'), or a list for a composite key",
            ));
        }
        let updated_at = config.get_str("updated_at").map(str::to_string);
        let rule = match config.get_str("strategy") {
            Some("timestamp") => ChangeRule::Timestamp {
                updated_at: updated_at.ok_or_else(|| {
                    missing("updated_at", "strategy 'timestamp' needs updated_at: the column that says when a row last changed")
                })?,
            },
            Some("check") => ChangeRule::Check {
                columns: match config.get("check_cols") {
                    Some(serde_json::Value::String(all)) if all == "all" => CheckColumns::All,
                    Some(serde_json::Value::Array(_)) if !config.strings("check_cols").is_empty() => {
                        CheckColumns::Listed(config.strings("check_cols"))
                    }
                    _ => {
                        return Err(missing(
                            "check_cols",
                            "strategy 'check' needs check_cols: a list of columns, or 'all'",
                        ));
                    }
                },
                updated_at,
            },
            Some(other) => {
                return Err(missing(
                    "strategy",
                    &format!("unknown snapshot strategy '{other}'; use timestamp or check"),
                ));
            }
            None => {
                return Err(missing(
                    "strategy",
                    "a snapshot needs a strategy: config(strategy='timestamp', updated_at='updated_at') or strategy='check'",
                ));
            }
        };
        Ok(Snapshot {
            composite: matches!(config.get("unique_key"), Some(serde_json::Value::Array(_))),
            keys,
            rule,
            hard_deletes: hard_deletes(config)?,
            meta: meta_columns(config),
            valid_to_current: config.get_str("dbt_valid_to_current").map(str::to_string),
        })
    }

    /// The columns a snapshot adds to its query's, in the order the first build writes them.
    pub fn meta_column_names(&self) -> Vec<String> {
        let m = &self.meta;
        let mut names = vec![
            m.scd_id.clone(),
            m.updated_at.clone(),
            m.valid_from.clone(),
            m.valid_to.clone(),
        ];
        if self.hard_deletes == HardDeletes::NewRecord {
            names.push(m.is_deleted.clone());
        }
        names
    }

    /// The first build's query: every row of `sql` as its first version.
    pub fn first_build(&self, sql: &str, dialect: Dialect) -> String {
        let m = &self.meta;
        let updated = self.updated_at(dialect);
        let deleted = match self.hard_deletes {
            HardDeletes::NewRecord => format!(",\n    'False' as {}", m.is_deleted),
            _ => String::new(),
        };
        format!(
            "select *,\n    {} as {},\n    {updated} as {},\n    {updated} as {},\n    {} as {}{deleted}\nfrom (\n{}\n) as sbq",
            self.scd_id(dialect),
            m.scd_id,
            m.updated_at,
            m.valid_from,
            self.valid_to_of_new(dialect),
            m.valid_to,
            super::body(sql)
        )
    }

    /// The changes a run brings, one row each, marked `insert` (a new version), `update` (a
    /// version closed by a newer one) or `delete` (a version whose row left the query).
    /// `query` are the columns of `sql`, `existing` those of the snapshot table.
    pub fn changes(
        &self,
        t: &QualifiedName,
        sql: &str,
        query: &[ColumnInfo],
        existing: &[ColumnInfo],
    ) -> String {
        let m = &self.meta;
        let now = snapshot_time(t.dialect);
        let updated = self.updated_at(t.dialect);
        let keys = self.key_fields();
        let changed = self.row_changed(t.dialect, query, existing);
        let new_record = self.hard_deletes == HardDeletes::NewRecord;
        let was_deleted = match new_record {
            true => format!(" or snapshotted_data.{} = 'True'", m.is_deleted),
            false => String::new(),
        };
        let mut ctes = vec![
            format!("snapshot_query as (\n{}\n)", super::body(sql)),
            format!(
                "snapshotted_data as (\n    select *, {keys}\n    from {}\n    where {}\n)",
                t.qualified(),
                self.is_current("")
            ),
            format!(
                "insertions_source_data as (\n    select *, {keys},\n        {updated} as {},\n        {updated} as {},\n        {} as {},\n        {} as {}\n    from snapshot_query\n)",
                m.updated_at,
                m.valid_from,
                self.valid_to_of_new(t.dialect),
                m.valid_to,
                self.scd_id(t.dialect),
                m.scd_id
            ),
            format!(
                "updates_source_data as (\n    select *, {keys},\n        {updated} as {},\n        {updated} as {},\n        {updated} as {}\n    from snapshot_query\n)",
                m.updated_at, m.valid_from, m.valid_to
            ),
        ];
        if self.hard_deletes != HardDeletes::Ignore {
            ctes.push(format!(
                "deletes_source_data as (\n    select *, {keys}\n    from snapshot_query\n)"
            ));
        }
        let join = self.key_join("snapshotted_data", "source_data");
        ctes.push(format!(
            "insertions as (\n    select 'insert' as dbt_change_type, source_data.*{}\n    from insertions_source_data as source_data\n    left outer join snapshotted_data on {join}\n    where {} or ({} and ({changed}{was_deleted}))\n)",
            if new_record {
                format!(", 'False' as {}", m.is_deleted)
            } else {
                String::new()
            },
            self.key_is("snapshotted_data", "is null"),
            self.key_is("snapshotted_data", "is not null"),
        ));
        let carried_deleted = match new_record {
            true => format!(", snapshotted_data.{}", m.is_deleted),
            false => String::new(),
        };
        ctes.push(format!(
            "updates as (\n    select 'update' as dbt_change_type, source_data.*, snapshotted_data.{}{carried_deleted}\n    from updates_source_data as source_data\n    join snapshotted_data on {join}\n    where ({changed}{was_deleted})\n)",
            m.scd_id
        ));
        let still_deleted = match new_record {
            true => format!(
                "\n    and not (snapshotted_data.{} = 'True' and {})",
                m.is_deleted,
                self.is_current_exactly("snapshotted_data.")
            ),
            false => String::new(),
        };
        let gone = format!(
            "from snapshotted_data\n    left join deletes_source_data as source_data on {join}\n    where {}{still_deleted}",
            self.key_is("source_data", "is null")
        );
        let mut parts = vec!["insertions", "updates"];
        if self.hard_deletes != HardDeletes::Ignore {
            ctes.push(format!(
                "deletes as (\n    select 'delete' as dbt_change_type, source_data.*,\n        {now} as {}, {now} as {}, {now} as {},\n        snapshotted_data.{}{carried_deleted}\n    {gone}\n)",
                m.valid_from, m.updated_at, m.valid_to, m.scd_id
            ));
            parts.push("deletes");
        }
        if new_record {
            ctes.push(self.deletion_records(t.dialect, query, existing, &gone));
            parts.push("deletion_records");
        }
        let selects: Vec<String> = parts.iter().map(|p| format!("select * from {p}")).collect();
        format!(
            "with {}\n{}",
            ctes.join(",\n"),
            selects.join("\nunion all\n")
        )
    }

    /// Close the versions the staged changes replace and insert the new ones; `staged` are the
    /// staged table's columns, `existing` the snapshot table's. Ends the transaction that
    /// [`super::stage`] began.
    pub fn apply(
        &self,
        t: &QualifiedName,
        staged: &[ColumnInfo],
        existing: &[ColumnInfo],
    ) -> Vec<String> {
        let q = |c: &str| t.dialect.quote(c);
        let (target, stage, name) = (t.qualified(), stage_name(t), q(t.name));
        let kept: Vec<&ColumnInfo> = staged
            .iter()
            .filter(|c| !is_staging_only(&c.name))
            .collect();
        let added: Vec<ColumnInfo> = kept
            .iter()
            .filter(|c| {
                !existing
                    .iter()
                    .any(|e| e.name.eq_ignore_ascii_case(&c.name))
            })
            .map(|c| (*c).clone())
            .collect();
        let mut out = super::alter_columns(t, &added, &[]);
        let m = &self.meta;
        out.push(format!(
            "update {target}\nset {valid_to} = s.{valid_to}\nfrom {stage} as s\nwhere s.{scd} = {name}.{scd}\n  and s.dbt_change_type in ('update', 'delete')\n  and {}",
            self.is_current(&format!("{name}.")),
            valid_to = m.valid_to,
            scd = m.scd_id,
        ));
        let list = kept
            .iter()
            .map(|c| q(&c.name))
            .collect::<Vec<_>>()
            .join(", ");
        out.push(format!(
            "insert into {target} ({list})\nselect {list} from {stage}\nwhere dbt_change_type = 'insert'"
        ));
        out.push(format!("drop table if exists {stage}"));
        out.push("commit".to_string());
        out
    }

    fn updated_at(&self, dialect: Dialect) -> String {
        match &self.rule {
            ChangeRule::Timestamp { updated_at } => updated_at.clone(),
            ChangeRule::Check { updated_at, .. } => updated_at
                .clone()
                .unwrap_or_else(|| snapshot_time(dialect).to_string()),
        }
    }

    /// dbt's `dbt_scd_id`: an MD5 of the key and the version's `updated_at`.
    fn scd_id(&self, dialect: Dialect) -> String {
        let mut args = self.keys.clone();
        args.push(self.updated_at(dialect));
        hash(&args)
    }

    /// What a new version holds in `dbt_valid_to`: NULL of `updated_at`'s type, or
    /// `dbt_valid_to_current`.
    fn valid_to_of_new(&self, dialect: Dialect) -> String {
        let updated = self.updated_at(dialect);
        let current = self.valid_to_current.as_deref().unwrap_or("null");
        format!("coalesce(nullif({updated}, {updated}), {current})")
    }

    /// Whether a version (columns prefixed by `prefix`) is the current one.
    fn is_current(&self, prefix: &str) -> String {
        let valid_to = format!("{prefix}{}", self.meta.valid_to);
        match &self.valid_to_current {
            Some(current) => format!("({valid_to} = {current} or {valid_to} is null)"),
            None => format!("{valid_to} is null"),
        }
    }

    fn is_current_exactly(&self, prefix: &str) -> String {
        let valid_to = format!("{prefix}{}", self.meta.valid_to);
        match &self.valid_to_current {
            Some(current) => format!("{valid_to} = {current}"),
            None => format!("{valid_to} is null"),
        }
    }

    fn key_names(&self) -> Vec<String> {
        match self.composite {
            true => (1..=self.keys.len())
                .map(|i| format!("dbt_unique_key_{i}"))
                .collect(),
            false => vec!["dbt_unique_key".to_string()],
        }
    }

    fn key_fields(&self) -> String {
        self.keys
            .iter()
            .zip(self.key_names())
            .map(|(key, name)| format!("{key} as {name}"))
            .collect::<Vec<_>>()
            .join(", ")
    }

    fn key_join(&self, left: &str, right: &str) -> String {
        self.key_names()
            .iter()
            .map(|k| format!("{left}.{k} = {right}.{k}"))
            .collect::<Vec<_>>()
            .join(" and ")
    }

    /// A test of the first key column, which is NULL exactly when an outer join found no row.
    fn key_is(&self, side: &str, test: &str) -> String {
        format!("{side}.{} {test}", self.key_names()[0])
    }

    /// The change test: a newer timestamp, or a checked column that differs (NULL-safe).
    /// A checked column the table lacks means every row changed, as in dbt.
    fn row_changed(
        &self,
        dialect: Dialect,
        query: &[ColumnInfo],
        existing: &[ColumnInfo],
    ) -> String {
        let columns = match &self.rule {
            ChangeRule::Timestamp { updated_at } => {
                return format!(
                    "(snapshotted_data.{} < source_data.{updated_at})",
                    self.meta.valid_from
                );
            }
            ChangeRule::Check { columns, .. } => columns,
        };
        let checked: Vec<String> = match columns {
            CheckColumns::All => query.iter().map(|c| c.name.clone()).collect(),
            CheckColumns::Listed(list) => list.clone(),
        };
        let has = |c: &str| existing.iter().any(|e| e.name.eq_ignore_ascii_case(c));
        if checked.iter().any(|c| !has(c)) {
            return "(TRUE)".to_string();
        }
        let differs: Vec<String> = checked
            .iter()
            .map(|c| {
                let (old, new) = (
                    format!("snapshotted_data.{}", dialect.quote(c)),
                    format!("source_data.{}", dialect.quote(c)),
                );
                format!(
                    "{old} != {new} or (({old} is null) and not ({new} is null)) or ((not {old} is null) and ({new} is null))"
                )
            })
            .collect();
        format!("({})", differs.join(" or "))
    }

    /// `hard_deletes: new_record`: a version marked deleted for each row that left the query.
    fn deletion_records(
        &self,
        dialect: Dialect,
        query: &[ColumnInfo],
        existing: &[ColumnInfo],
        gone: &str,
    ) -> String {
        let m = &self.meta;
        let now = snapshot_time(dialect);
        let mut columns: Vec<String> = query
            .iter()
            .map(|c| {
                let side = match existing
                    .iter()
                    .any(|e| e.name.eq_ignore_ascii_case(&c.name))
                {
                    true => "snapshotted_data",
                    false => "source_data",
                };
                format!("{side}.{}", dialect.quote(&c.name))
            })
            .collect();
        let keys = match self.composite {
            true => self
                .keys
                .iter()
                .zip(self.key_names())
                .map(|(k, name)| format!("snapshotted_data.{k} as {name}"))
                .collect(),
            false => vec!["snapshotted_data.dbt_unique_key as dbt_unique_key".to_string()],
        };
        columns.extend(keys);
        columns.push(format!("{now} as {}", m.valid_from));
        columns.push(format!("{now} as {}", m.updated_at));
        columns.push(format!("snapshotted_data.{} as {}", m.valid_to, m.valid_to));
        columns.push(format!(
            "{} as {}",
            hash(&[format!("snapshotted_data.{}", m.scd_id), now.to_string()]),
            m.scd_id
        ));
        columns.push(format!("'True' as {}", m.is_deleted));
        format!(
            "deletion_records as (\n    select 'insert' as dbt_change_type,\n        {}\n    {gone}\n)",
            columns.join(",\n        ")
        )
    }
}

/// The time of the run, as dbt stamps snapshot versions on each warehouse: a timestamp
/// without time zone.
pub fn snapshot_time(dialect: Dialect) -> &'static str {
    match dialect {
        Dialect::DuckDb => "now()::timestamp",
        Dialect::Redshift => "getdate()",
        _ => "now()::timestamp without time zone",
    }
}

/// dbt's `snapshot_hash_arguments`: the MD5 of the values as text, joined by `|`.
fn hash(args: &[String]) -> String {
    let parts: Vec<String> = args
        .iter()
        .map(|a| format!("coalesce(cast({a} as varchar), '')"))
        .collect();
    format!("md5({})", parts.join(" || '|' || "))
}

fn hard_deletes(config: &Config) -> Result<HardDeletes, PlanError> {
    match config.get_str("hard_deletes") {
        Some("ignore") => Ok(HardDeletes::Ignore),
        Some("invalidate") => Ok(HardDeletes::Invalidate),
        Some("new_record") => Ok(HardDeletes::NewRecord),
        Some(other) => Err(PlanError::Snapshot {
            key: "hard_deletes",
            message: format!(
                "unknown hard_deletes '{other}'; use ignore, invalidate or new_record"
            ),
        }),
        None if config.get_bool("invalidate_hard_deletes") == Some(true) => {
            Ok(HardDeletes::Invalidate)
        }
        None => Ok(HardDeletes::Ignore),
    }
}

fn meta_columns(config: &Config) -> MetaColumns {
    let names = config.get("snapshot_meta_column_names");
    let name = |key: &str| {
        names
            .and_then(|n| n.get(key))
            .and_then(serde_json::Value::as_str)
            .unwrap_or(key)
            .to_string()
    };
    MetaColumns {
        valid_from: name("dbt_valid_from"),
        valid_to: name("dbt_valid_to"),
        scd_id: name("dbt_scd_id"),
        updated_at: name("dbt_updated_at"),
        is_deleted: name("dbt_is_deleted"),
    }
}

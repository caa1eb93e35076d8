//! Source freshness: is new data still arriving in the landing zone?
//!
//! A pipeline that runs every few minutes can succeed for days on stale input. For each
//! source with a `loaded_at_field` and a `freshness` block, this asks the warehouse how long
//! ago the newest row was loaded and judges that age against `warn_after` / `error_after`,
//! as `dbt source freshness` does. The age is computed by the warehouse (`current_timestamp`
//! minus the newest value), so clock skew between etlx and the warehouse does not matter.

use std::time::Instant;

use chrono::{DateTime, Utc};
use serde::Serialize;

use crate::adapter::{Adapter, AdapterError, Connection};
use crate::compile::Compilation;
use crate::project::{Freshness, Project, Source};
use crate::sql::Dialect;
use crate::template::Relation;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum FreshnessStatus {
    Pass,
    Warn,
    Error,
    /// The query itself failed (missing table or files, bad `loaded_at_field`).
    RuntimeError,
}

impl FreshnessStatus {
    pub fn is_failure(self) -> bool {
        matches!(self, FreshnessStatus::Error | FreshnessStatus::RuntimeError)
    }
}

#[derive(Debug, Clone)]
pub struct Check {
    pub unique_id: String,
    pub status: FreshnessStatus,
    /// The newest `loaded_at_field` value, as the warehouse prints it.
    pub max_loaded_at: Option<String>,
    pub age_seconds: Option<f64>,
    pub criteria: Freshness,
    pub message: Option<String>,
    pub started_at: DateTime<Utc>,
    pub seconds: f64,
}

/// Sources that can be checked: a `loaded_at_field` and a `freshness` block.
pub fn checkable(source: &Source) -> bool {
    source.loaded_at_field.is_some() && source.freshness.is_some()
}

/// `select max(...)` and its age in seconds. DuckDB is built without ICU here, so the time
/// zone arithmetic of `timestamptz` is not available: both sides become UTC timestamps first.
pub fn query(
    dialect: Dialect,
    loaded_at_field: &str,
    relation: &Relation,
    filter: Option<&str>,
) -> String {
    let filter = filter.map_or(String::new(), |f| format!("\nwhere {f}"));
    let newest = format!("max({loaded_at_field})");
    let age = match dialect {
        Dialect::DuckDb => format!(
            "epoch(cast(current_timestamp as timestamp)) - epoch(cast({newest} as timestamp))"
        ),
        _ => format!("extract(epoch from current_timestamp) - extract(epoch from {newest})"),
    };
    format!(
        "select cast({newest} as varchar) as max_loaded_at,\n       {age} as age_seconds\nfrom {}{filter}",
        relation.to_sql()
    )
}

/// The status of an age: past `error_after` is an error, past `warn_after` a warning.
pub fn judge(age_seconds: f64, criteria: &Freshness) -> FreshnessStatus {
    let past = |p: Option<crate::project::Period>| p.is_some_and(|p| age_seconds > p.seconds());
    if past(criteria.error_after) {
        FreshnessStatus::Error
    } else if past(criteria.warn_after) {
        FreshnessStatus::Warn
    } else {
        FreshnessStatus::Pass
    }
}

/// Check one source over `conn`.
pub fn check(
    dialect: Dialect,
    source: &Source,
    relation: &Relation,
    conn: &mut dyn Connection,
) -> Option<Check> {
    let (field, criteria) = (
        source.loaded_at_field.as_deref()?,
        source.freshness.clone()?,
    );
    let (started_at, clock) = (Utc::now(), Instant::now());
    let sql = query(dialect, field, relation, criteria.filter.as_deref());
    let row = conn
        .query(&sql)
        .map_err(|e| e.to_string())
        .map(|t| t.rows.into_iter().next().unwrap_or_default());
    let (status, max_loaded_at, age_seconds, message) = match row {
        Err(e) => (FreshnessStatus::RuntimeError, None, None, Some(e)),
        Ok(row) => {
            let max = row.first().cloned().flatten();
            let age = row
                .get(1)
                .cloned()
                .flatten()
                .and_then(|a| a.parse::<f64>().ok());
            match age {
                Some(age) => (judge(age, &criteria), max, Some(age), None),
                None => (
                    FreshnessStatus::Error,
                    None,
                    None,
                    Some(format!("no rows: max({field}) is null")),
                ),
            }
        }
    };
    Some(Check {
        unique_id: source.unique_id.clone(),
        status,
        max_loaded_at,
        age_seconds,
        criteria,
        message,
        started_at,
        seconds: clock.elapsed().as_secs_f64(),
    })
}

/// The sources `c` selected that can be checked, in the order they were selected.
pub fn checkable_sources<'a>(project: &'a Project, c: &Compilation) -> Vec<&'a Source> {
    c.selected
        .iter()
        .filter_map(|id| project.sources.get(id))
        .filter(|s| checkable(s))
        .collect()
}

/// Check `sources` one after another over one connection to `adapter`. `on_check` is told of
/// each check as it finishes, with its position (from 1), so progress can be shown. A source
/// whose query fails is a `RuntimeError` check; only a connection that cannot be made is an
/// error.
pub fn check_sources(
    project: &Project,
    c: &Compilation,
    adapter: &dyn Adapter,
    sources: &[&Source],
    mut on_check: impl FnMut(usize, &Source, &Check),
) -> Result<Vec<Check>, AdapterError> {
    let mut conn = adapter.connect()?;
    let mut checks = Vec::new();
    for (i, source) in sources.iter().enumerate() {
        let key = (source.source_name.clone(), source.name.clone());
        // A source read through the file ledger is, on DuckDB, a view of the last run's new
        // files only: freshness asks about every file landed, so it reads them all.
        let every_file = c
            .source_readers
            .get(&source.unique_id)
            .filter(|_| source.reads_new_files() && adapter.dialect() == Dialect::DuckDb)
            .map(|reader| Relation::Files {
                reader: reader.clone(),
                schema: source.schema.clone(),
                identifier: source.identifier.clone(),
            });
        let relation = every_file
            .or_else(|| c.source_relations.get(&key).cloned())
            .unwrap_or_else(|| crate::compile::source_relation(project.target.dialect, source));
        if let Some(check) = check(adapter.dialect(), source, &relation, conn.as_mut()) {
            on_check(i + 1, source, &check);
            checks.push(check);
        }
    }
    Ok(checks)
}

/// An age for people: `45s`, `12m`, `3h 5m`, `2d 4h`, rounded to the minute past an hour.
pub fn describe_age(seconds: f64) -> String {
    let s = seconds.max(0.0).round() as u64;
    let minutes = (seconds.max(0.0) / 60.0).round() as u64;
    match s {
        0..60 => format!("{s}s"),
        60..3600 => format!("{minutes}m"),
        3600..86400 => format!("{}h {}m", minutes / 60, minutes % 60),
        _ => format!("{}d {}h", minutes / 1440, (minutes % 1440) / 60),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::project::{Period, PeriodUnit};

    fn criteria(warn: u64, error: u64) -> Freshness {
        Freshness {
            warn_after: Some(Period {
                count: warn,
                period: PeriodUnit::Hour,
            }),
            error_after: Some(Period {
                count: error,
                period: PeriodUnit::Day,
            }),
            filter: None,
        }
    }

    #[test]
    fn ages_are_judged_against_both_thresholds() {
        let c = criteria(12, 1);
        assert_eq!(judge(3600.0, &c), FreshnessStatus::Pass);
        assert_eq!(judge(13.0 * 3600.0, &c), FreshnessStatus::Warn);
        assert_eq!(judge(25.0 * 3600.0, &c), FreshnessStatus::Error);
        let only_error = Freshness {
            warn_after: None,
            ..c
        };
        assert_eq!(judge(13.0 * 3600.0, &only_error), FreshnessStatus::Pass);
    }

    /// Landing files with their `loaded_at` times, one source checked and one without
    /// thresholds left out. The location is absolute: a connection from `Adapter::connect`
    /// resolves a relative one from the working directory, not from the project.
    #[test]
    fn the_selected_sources_are_checked_against_their_files() {
        let dir = tempfile::tempdir().expect("tempdir");
        let csv = dir.path().join("landing/archive.csv");
        let sources = format!(
            "version: 2\nsources:\n  - name: landing\n    freshness:\n      warn_after: {{count: 1, period: hour}}\n    tables:\n      - name: archive\n        location: {0}\n        loaded_at_field: loaded_at\n      - name: unchecked\n        location: {0}\n        freshness: null\n",
            csv.display()
        );
        let project = crate::project::testing::project(
            dir.path(),
            &[
                ("models/sources.yml", &sources),
                (
                    "landing/archive.csv",
                    "id,loaded_at\n1,2020-01-01 00:00:00\n2,2020-01-02 00:00:00\n",
                ),
            ],
        );
        let opts = crate::compile::CompileOptions {
            render: true,
            resource_types: vec![crate::project::ResourceType::Source],
            ..Default::default()
        };
        let c = crate::compile::compile(&project, &opts);
        assert!(!c.has_errors(), "{:?}", c.diagnostics);
        let sources = checkable_sources(&project, &c);
        let names: Vec<&str> = sources.iter().map(|s| s.name.as_str()).collect();
        assert_eq!(names, ["archive"]);
        let adapter = crate::adapter::open(&project, 1).expect("open");
        let mut heard = Vec::new();
        let checks = check_sources(&project, &c, adapter.as_ref(), &sources, |i, s, check| {
            heard.push((i, s.name.clone(), check.status));
        })
        .expect("checked");
        assert_eq!(heard, [(1, "archive".to_string(), FreshnessStatus::Warn)]);
        assert_eq!(
            checks[0].max_loaded_at.as_deref(),
            Some("2020-01-02 00:00:00")
        );
        assert!(
            checks[0]
                .age_seconds
                .is_some_and(|age| age > 86400.0 * 365.0)
        );
    }

    #[test]
    fn ages_read_well() {
        assert_eq!(describe_age(42.2), "42s");
        assert_eq!(describe_age(10_799.9), "3h 0m");
        assert_eq!(describe_age(3.0 * 86400.0 + 7200.0), "3d 2h");
    }
}

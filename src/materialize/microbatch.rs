//! dbt's `microbatch` incremental strategy: a model cut into time batches by its
//! `event_time`, each replacing its own time range of the table.
//!
//! The batch list follows dbt-core 1.9+ exactly (the window from `--event-time-start/end`, or
//! `begin` on a first build, or `lookback` batches before now; bounds truncated in UTC, end
//! exclusive), so a project gives the same tables on etlx as on dbt. The executor may add
//! batches (those new landing data touched) and drop empty ones on a first build; the SQL
//! of one batch is here.

use chrono::{Datelike, Duration, NaiveDate, NaiveDateTime, Timelike};

use super::{PlanError, QualifiedName};
use crate::project::Config;

/// How long one batch is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BatchSize {
    Hour,
    Day,
    Month,
    Year,
}

impl BatchSize {
    fn parse(text: &str) -> Option<BatchSize> {
        match text {
            "hour" => Some(BatchSize::Hour),
            "day" => Some(BatchSize::Day),
            "month" => Some(BatchSize::Month),
            "year" => Some(BatchSize::Year),
            _ => None,
        }
    }

    /// The unit's name, as `date_trunc` takes it on every warehouse etlx targets.
    pub fn unit(self) -> &'static str {
        match self {
            BatchSize::Hour => "hour",
            BatchSize::Day => "day",
            BatchSize::Month => "month",
            BatchSize::Year => "year",
        }
    }

    /// The start of the batch holding `t`.
    pub fn truncate(self, t: NaiveDateTime) -> NaiveDateTime {
        let day = t.date();
        let midnight = |d: NaiveDate| d.and_hms_opt(0, 0, 0).unwrap_or(t);
        match self {
            BatchSize::Hour => day.and_hms_opt(t.hour(), 0, 0).unwrap_or(t),
            BatchSize::Day => midnight(day),
            BatchSize::Month => midnight(day.with_day(1).unwrap_or(day)),
            BatchSize::Year => midnight(day.with_ordinal(1).unwrap_or(day)),
        }
    }

    /// The start of the batch after the one starting at `t`.
    pub fn next(self, t: NaiveDateTime) -> NaiveDateTime {
        match self {
            BatchSize::Hour => t + Duration::hours(1),
            BatchSize::Day => t + Duration::days(1),
            BatchSize::Month => t.checked_add_months(chrono::Months::new(1)).unwrap_or(t),
            BatchSize::Year => t.checked_add_months(chrono::Months::new(12)).unwrap_or(t),
        }
    }

    /// The start of the first batch at or after `t`.
    fn ceil(self, t: NaiveDateTime) -> NaiveDateTime {
        let start = self.truncate(t);
        if start == t { t } else { self.next(start) }
    }

    fn back(self, t: NaiveDateTime, n: u32) -> NaiveDateTime {
        match self {
            BatchSize::Hour => t - Duration::hours(n.into()),
            BatchSize::Day => t - Duration::days(n.into()),
            BatchSize::Month => t.checked_sub_months(chrono::Months::new(n)).unwrap_or(t),
            BatchSize::Year => t
                .checked_sub_months(chrono::Months::new(n * 12))
                .unwrap_or(t),
        }
    }
}

/// One batch: `[start, end)` in UTC.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Batch {
    pub start: NaiveDateTime,
    pub end: NaiveDateTime,
}

impl Batch {
    /// dbt's spelling of a bound, in SQL and in `run_results.json`.
    pub fn bound(t: NaiveDateTime) -> String {
        t.format("%Y-%m-%d %H:%M:%S+00:00").to_string()
    }

    /// dbt's `model.batch.id`: the start without separators (`20240102`, `20240102T05`).
    pub fn id(&self, size: BatchSize) -> String {
        self.label(size).replace('-', "")
    }

    /// The batch's start at its size's precision (`2024-01-02`, `2024-01-02T05`).
    pub fn label(&self, size: BatchSize) -> String {
        let format = match size {
            BatchSize::Hour => "%Y-%m-%dT%H",
            BatchSize::Day => "%Y-%m-%d",
            BatchSize::Month => "%Y-%m",
            BatchSize::Year => "%Y",
        };
        self.start.format(format).to_string()
    }
}

/// A microbatch model's config.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Microbatch {
    pub event_time: String,
    pub size: BatchSize,
    pub begin: Option<NaiveDateTime>,
    pub lookback: u32,
}

/// Where the batches of a run come from.
#[derive(Debug, Clone, Copy)]
pub struct Window {
    /// `--event-time-start` / `--event-time-end`.
    pub flags: Option<(NaiveDateTime, NaiveDateTime)>,
    /// Whether the table exists and is not being rebuilt.
    pub incremental: bool,
    pub now: NaiveDateTime,
}

impl Microbatch {
    pub fn from_config(config: &Config) -> Result<Microbatch, PlanError> {
        let missing = |key: &'static str, what: &str| PlanError::Microbatch {
            key,
            message: format!("the microbatch strategy needs `{key}`: {what}"),
        };
        let event_time = config
            .get_str("event_time")
            .ok_or_else(|| {
                missing(
                    "event_time",
                    "the column of the model's rows that batches are cut by",
                )
            })?
            .to_string();
        let size_text = config
            .get_str("batch_size")
            .ok_or_else(|| missing("batch_size", "hour, day, month or year"))?;
        let size = BatchSize::parse(size_text).ok_or_else(|| PlanError::Microbatch {
            key: "batch_size",
            message: format!("unknown batch_size '{size_text}'; use hour, day, month or year"),
        })?;
        let begin = match config.get_str("begin") {
            Some(text) => Some(parse_time(text).ok_or_else(|| PlanError::Microbatch {
                key: "begin",
                message: format!(
                    "begin '{text}' is not a date or time (2024-01-01, 2024-01-01T06:00:00)"
                ),
            })?),
            None => None,
        };
        let lookback = match config.get("lookback") {
            None => 1,
            Some(v) => v
                .as_u64()
                .and_then(|n| u32::try_from(n).ok())
                .ok_or_else(|| PlanError::Microbatch {
                    key: "lookback",
                    message: format!("lookback must be a whole number of batches, not {v}"),
                })?,
        };
        if config.get("unique_key").is_some_and(|v| !v.is_null()) {
            return Err(PlanError::Microbatch {
                key: "unique_key",
                message: "the microbatch strategy replaces rows by event_time range, not by key; remove unique_key".into(),
            });
        }
        Ok(Microbatch {
            event_time,
            size,
            begin,
            lookback,
        })
    }

    /// dbt's batches for a run: `[start, end)` cut at batch boundaries, the last one ending
    /// at `end`.
    pub fn batches(&self, w: Window) -> Result<Vec<Batch>, PlanError> {
        let size = self.size;
        let end = size.ceil(w.flags.map_or(w.now, |(_, end)| end));
        let start = match (w.flags, w.incremental) {
            (Some((start, _)), _) => size.truncate(start),
            (None, false) => size.truncate(self.begin.ok_or_else(|| PlanError::Microbatch {
                key: "begin",
                message: "the microbatch strategy needs `begin` (the first event time to build) for a first build or --full-refresh".into(),
            })?),
            (None, true) => size.back(end, self.lookback + 1),
        };
        let mut out = Vec::new();
        let mut at = start;
        while at < end {
            let next = size.next(at).min(end);
            out.push(Batch {
                start: at,
                end: next,
            });
            if next <= at {
                break;
            }
            at = next;
        }
        Ok(out)
    }

    /// The batch holding `t`.
    pub fn batch_of(&self, t: NaiveDateTime) -> Batch {
        let start = self.size.truncate(t);
        Batch {
            start,
            end: self.size.next(start),
        }
    }

    /// `column >= 'start' and column < 'end'`, as dbt writes it (the column unquoted).
    pub fn predicate(&self, batch: &Batch) -> String {
        let e = &self.event_time;
        format!(
            "{e} >= '{}' and {e} < '{}'",
            Batch::bound(batch.start),
            Batch::bound(batch.end)
        )
    }

    /// `select distinct date_trunc(unit, column) from relation [where ...]`: the batches an
    /// input has rows in.
    pub fn periods_of(&self, relation: &str, column: &str, within: Option<&Batch>) -> String {
        let filter = within.map_or(String::new(), |b| {
            format!(
                " where {column} >= '{}' and {column} < '{}'",
                Batch::bound(b.start),
                Batch::bound(b.end)
            )
        });
        format!(
            "select distinct cast(date_trunc('{}', {column}) as varchar) from {relation}{filter}",
            self.size.unit()
        )
    }
}

/// A date or time as dbt reads `begin` and the flags: a time zone, if any, is dropped.
pub fn parse_time(text: &str) -> Option<NaiveDateTime> {
    let text = text.trim();
    let text = text
        .strip_suffix('Z')
        .or_else(|| text.get(..19).filter(|_| text.len() > 19))
        .unwrap_or(text);
    [
        "%Y-%m-%dT%H:%M:%S",
        "%Y-%m-%d %H:%M:%S",
        "%Y-%m-%dT%H:%M",
        "%Y-%m-%d %H:%M",
    ]
    .iter()
    .find_map(|f| NaiveDateTime::parse_from_str(text, f).ok())
    .or_else(|| {
        ["%Y-%m-%dT%H", "%Y-%m-%d %H"].iter().find_map(|f| {
            NaiveDateTime::parse_from_str(&format!("{text}:00"), &format!("{f}:%M")).ok()
        })
    })
    .or_else(|| {
        NaiveDate::parse_from_str(text, "%Y-%m-%d")
            .ok()
            .and_then(|d| d.and_hms_opt(0, 0, 0))
    })
}

/// Batches applied to the existing table from the temporary table they were staged in: their
/// time ranges deleted (adjacent batches as one range), then the staged rows of those ranges
/// inserted. The caller commits.
pub fn apply(
    t: &QualifiedName,
    m: &Microbatch,
    batches: &[Batch],
    columns: &[&str],
) -> Vec<String> {
    let target = t.qualified();
    let stage = super::stage_name(t);
    let ranges = merged(batches);
    let range = match &ranges[..] {
        [one] => m.predicate(one),
        many => many
            .iter()
            .map(|r| format!("({})", m.predicate(r)))
            .collect::<Vec<_>>()
            .join("\n   or "),
    };
    let list = columns
        .iter()
        .map(|c| t.dialect.quote(c))
        .collect::<Vec<_>>()
        .join(", ");
    vec![
        format!("delete from {target}\nwhere {range}"),
        format!("insert into {target} ({list})\nselect {list} from {stage}\nwhere {range}"),
    ]
}

/// Sorted batches with each run of adjacent ones joined into one.
fn merged(batches: &[Batch]) -> Vec<Batch> {
    let mut out: Vec<Batch> = Vec::new();
    for b in batches {
        match out.last_mut() {
            Some(last) if last.end == b.start => last.end = b.end,
            _ => out.push(*b),
        }
    }
    out
}

/// The SQL of several batches as one query, each batch's own SQL unchanged: a model whose
/// rows are computed per batch keeps exactly those rows.
pub fn union_of(batch_sql: impl IntoIterator<Item = String>) -> String {
    let parts: Vec<String> = batch_sql
        .into_iter()
        .enumerate()
        .map(|(i, sql)| {
            format!(
                "select * from (\n{}\n) as etlx_batch_{i}",
                sql.trim().trim_end_matches(';')
            )
        })
        .collect();
    parts.join("\nunion all\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn adjacent_batches_are_deleted_as_one_range() {
        let m = daily(1);
        let day = |d: &str| Batch {
            start: at(&format!("2024-01-{d}")),
            end: at(&format!("2024-01-{d}")) + chrono::Duration::days(1),
        };
        let t = QualifiedName {
            schema: "main",
            name: "daily",
            dialect: crate::sql::Dialect::DuckDb,
        };
        let plan = apply(&t, &m, &[day("01"), day("02"), day("05")], &["event_day"]);
        assert_eq!(
            plan[0],
            "delete from \"main\".\"daily\"\nwhere (event_day >= '2024-01-01 00:00:00+00:00' and event_day < '2024-01-03 00:00:00+00:00')\n   or (event_day >= '2024-01-05 00:00:00+00:00' and event_day < '2024-01-06 00:00:00+00:00')"
        );
        assert!(
            plan[1].contains("or (event_day >= '2024-01-05"),
            "{}",
            plan[1]
        );
    }

    fn at(text: &str) -> NaiveDateTime {
        parse_time(text).unwrap()
    }

    fn daily(lookback: u32) -> Microbatch {
        Microbatch {
            event_time: "event_day".into(),
            size: BatchSize::Day,
            begin: Some(at("2024-01-01")),
            lookback,
        }
    }

    fn starts(batches: &[Batch]) -> Vec<String> {
        batches.iter().map(|b| b.label(BatchSize::Day)).collect()
    }

    #[test]
    fn flags_are_widened_to_whole_batches() {
        let w = Window {
            flags: Some((at("2024-01-01T06:00:00"), at("2024-01-02T06:00:00"))),
            incremental: true,
            now: at("2026-12-01T05:21:00"),
        };
        assert_eq!(
            starts(&daily(1).batches(w).unwrap()),
            ["2024-01-01", "2024-01-02"]
        );
    }

    #[test]
    fn an_incremental_run_takes_lookback_batches_and_the_current_one() {
        let w = Window {
            flags: None,
            incremental: true,
            now: at("2026-12-01T05:21:00"),
        };
        assert_eq!(
            starts(&daily(2).batches(w).unwrap()),
            ["2026-11-29", "2026-11-30", "2026-12-01"]
        );
    }

    #[test]
    fn a_first_build_starts_at_begin() {
        let w = Window {
            flags: None,
            incremental: false,
            now: at("2024-01-03T10:00:00"),
        };
        let batches = daily(1).batches(w).unwrap();
        assert_eq!(starts(&batches), ["2024-01-01", "2024-01-02", "2024-01-03"]);
        assert_eq!(batches[2].end, at("2024-01-04"));
    }

    #[test]
    fn months_and_years_step_by_the_calendar() {
        let t = at("2024-01-31T12:00:00");
        assert_eq!(
            BatchSize::Month.next(BatchSize::Month.truncate(t)),
            at("2024-02-01")
        );
        assert_eq!(BatchSize::Year.truncate(t), at("2024-01-01"));
        assert_eq!(
            parse_time("2024-01-01T23:00:00-05:00"),
            Some(at("2024-01-01T23:00:00"))
        );
    }
}

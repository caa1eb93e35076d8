//! Microbatch models beyond what dbt's own output pins (`dbt_compat`): a failed batch leaves
//! the others committed, and `etlx retry` runs only that batch again.

use crate::harness::{Fixture, duckdb_rows};

/// One row per day; the day named by var `fail_day` raises an error (per row, so DuckDB
/// cannot fold it away while planning).
const FRAGILE: &str = "{{ config(materialized='incremental', incremental_strategy='microbatch',
    event_time='event_day', batch_size='day', begin='2024-01-01') }}
select
    event_at::date as event_day,
    count(*) as events,
    sum(case when event_at::date = cast('{{ var(\"fail_day\", \"1900-01-01\") }}' as date)
        then cast(error('boom ' || event_id) as integer) else 0 end) as boom
from {{ ref('stg_events') }}
group by 1
";

fn batch_results(f: &Fixture, model: &str) -> (String, serde_json::Value) {
    let results: serde_json::Value =
        serde_json::from_str(&f.read("target/run_results.json")).expect("run_results.json");
    let r = results["results"]
        .as_array()
        .expect("results")
        .iter()
        .find(|r| {
            r["unique_id"]
                .as_str()
                .is_some_and(|id| id.ends_with(model))
        })
        .expect("the model's result")
        .clone();
    (
        r["status"].as_str().unwrap_or_default().to_string(),
        r["batch_results"].clone(),
    )
}

#[test]
fn a_failed_batch_is_reported_and_retry_runs_only_it() {
    let f = Fixture::new("dbt_microbatch");
    std::fs::write(f.path().join("models/fragile.sql"), FRAGILE).expect("model");
    let window = [
        "--event-time-start",
        "2024-01-01",
        "--event-time-end",
        "2024-01-05",
    ];
    let run = |extra: &[&str]| {
        let mut args = vec!["build", "-s", "+fragile"];
        args.extend(window);
        args.extend(extra);
        f.etlx(&args)
    };
    let out = run(&[]);
    assert_eq!(out.code, 0, "{}\n{}", out.stdout, out.stderr);

    let out = run(&["--vars", "{fail_day: '2024-01-03'}"]);
    assert_eq!(out.code, 1, "{}\n{}", out.stdout, out.stderr);
    assert!(out.stdout.contains("PARTIAL"), "{}", out.stdout);
    let (status, batches) = batch_results(&f, "fragile");
    assert_eq!(status, "partial success");
    assert_eq!(
        batches["failed"],
        serde_json::json!([["2024-01-03T00:00:00+00:00", "2024-01-04T00:00:00+00:00"]])
    );
    assert_eq!(batches["successful"].as_array().map(Vec::len), Some(3));

    let out = f.etlx(&["retry", "--vars", "{fail_day: '1900-01-01'}"]);
    assert_eq!(out.code, 0, "{}\n{}", out.stdout, out.stderr);
    let (status, batches) = batch_results(&f, "fragile");
    assert_eq!(status, "success");
    assert_eq!(
        batches["successful"],
        serde_json::json!([["2024-01-03T00:00:00+00:00", "2024-01-04T00:00:00+00:00"]])
    );
    let days = duckdb_rows(
        &f.path().join("target/microbatch.duckdb"),
        "select count(*), count(distinct event_day) from fragile",
    );
    assert_eq!(
        days,
        [["4", "4"]],
        "one row per day of the window, none lost or doubled"
    );
}

/// dbt's `model.batch`: each batch renders with its own id and bounds.
#[test]
fn model_batch_holds_each_batchs_id_and_bounds() {
    let f = Fixture::new("dbt_microbatch");
    std::fs::write(
        f.path().join("models/batch_ids.sql"),
        "{{ config(materialized='incremental', incremental_strategy='microbatch',
    event_time='event_day', batch_size='day', begin='2024-01-01') }}
select distinct
    event_at::date as event_day,
    '{{ model.batch.id }}' as batch_id,
    '{{ model.batch.event_time_start }}' as batch_start
from {{ ref('stg_events') }}
",
    )
    .expect("model");
    let out = f.etlx(&[
        "build",
        "-s",
        "+batch_ids",
        "--event-time-start",
        "2024-01-02",
        "--event-time-end",
        "2024-01-04",
    ]);
    assert_eq!(out.code, 0, "{}\n{}", out.stdout, out.stderr);
    let rows = duckdb_rows(
        &f.path().join("target/microbatch.duckdb"),
        "select event_day::varchar, batch_id, batch_start from batch_ids order by 1",
    );
    assert_eq!(
        rows,
        [
            ["2024-01-02", "20240102", "2024-01-02 00:00:00+00:00"],
            ["2024-01-03", "20240103", "2024-01-03 00:00:00+00:00"]
        ]
    );
}

-- One row per distinct play timestamp, broken into calendar parts. Upserted on start_time:
-- a timestamp seen in an earlier batch is rewritten with the same values.
-- Upserted with delete+insert, not merge: most keys of a batch already exist, and replacing
-- whole rows is several times faster than DuckDB's column-by-column MERGE update.
{{ config(
    materialized='incremental',
    unique_key='start_time',
    incremental_strategy='delete+insert',
    on_schema_change='fail'
) }}

with times as (
    select distinct played_at as start_time
    from {{ ref('stg_events') }}
)

select
    start_time,
    cast(start_time as date) as date_day,
    cast(extract(hour from start_time) as integer) as hour,
    cast(extract(day from start_time) as integer) as day,
    cast(extract(week from start_time) as integer) as week,
    cast(extract(month from start_time) as integer) as month,
    cast(extract(year from start_time) as integer) as year,
    -- 0 = Sunday .. 6 = Saturday
    cast(extract(dow from start_time) as integer) as weekday,
    extract(dow from start_time) in (0, 6) as is_weekend
from times

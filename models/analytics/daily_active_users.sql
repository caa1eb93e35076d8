-- Active users, sessions and plays per day and level. A user who upgrades during a day
-- counts once under each level.
--
-- A microbatch model, one batch per day: a batch reads fct_songplays filtered to its day
-- (fct_songplays sets `event_time='played_at'`) and replaces that day's rows. Besides dbt's
-- window (yesterday and today), every run recomputes the days the newly landed plays fall on
-- (stg_events sets `event_time` too), so a late file corrects old days. A run costs the days
-- it touches, not the whole history; re-runs and any landing order give the same rows.
{{ config(
    materialized='incremental',
    incremental_strategy='microbatch',
    event_time='activity_date',
    batch_size='day',
    begin='2018-01-01',
    on_schema_change='fail'
) }}

select
    cast(played_at as date) as activity_date,
    level,
    count(distinct user_id) as active_users,
    count(distinct user_id || ':' || cast(session_id as varchar)) as sessions,
    count(*) as plays
from {{ ref('fct_songplays') }}
group by 1, 2

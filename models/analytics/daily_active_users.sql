-- Active users, sessions and plays per day and level. A user who upgrades during a day
-- counts once under each level.
--
-- Incremental without adding to old counts: the days the batch has plays on are
-- recomputed in full from fct_songplays (already de-duplicated, and holding every batch
-- run so far) and replace their old rows (delete+insert on the day). A batch costs the
-- days it touches, not the whole history; re-runs and any batch order give the same rows.
{{ config(
    materialized='incremental',
    unique_key='activity_date',
    incremental_strategy='delete+insert',
    on_schema_change='fail'
) }}

select
    cast(played_at as date) as activity_date,
    level,
    count(distinct user_id) as active_users,
    count(distinct user_id || ':' || cast(session_id as varchar)) as sessions,
    count(*) as plays
from {{ ref('fct_songplays') }}
where cast(played_at as date) in {{ batch_days() }}
group by 1, 2

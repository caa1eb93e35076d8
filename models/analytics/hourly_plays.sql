-- Plays and listeners per day and hour of day. A microbatch model by day, as
-- daily_active_users: each day it touches is recomputed from fct_songplays.
{{ config(
    materialized='incremental',
    incremental_strategy='microbatch',
    event_time='play_date',
    batch_size='day',
    begin='2018-01-01',
    on_schema_change='fail'
) }}

select
    cast(played_at as date) as play_date,
    cast(extract(hour from played_at) as integer) as hour_of_day,
    count(*) as plays,
    count(distinct user_id) as listeners
from {{ ref('fct_songplays') }}
group by 1, 2

-- Plays and listeners per day and hour of day. The days of the batch are recomputed from
-- fct_songplays and replace their old rows (delete+insert on the day).
{{ config(
    materialized='incremental',
    unique_key='play_date',
    incremental_strategy='delete+insert',
    on_schema_change='fail'
) }}

select
    cast(played_at as date) as play_date,
    cast(extract(hour from played_at) as integer) as hour_of_day,
    count(*) as plays,
    count(distinct user_id) as listeners
from {{ ref('fct_songplays') }}
where cast(played_at as date) in {{ batch_days() }}
group by 1, 2

-- Plays and listeners per day and catalog song (plays of songs missing from the catalog
-- are left out). A microbatch model by day, as daily_active_users: each day it touches is
-- recomputed from fct_songplays and replaces its old rows, so counts are never added to counts.
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
    song_id,
    artist_id,
    count(*) as plays,
    count(distinct user_id) as listeners
from {{ ref('fct_songplays') }}
where song_id is not null
group by 1, 2, 3

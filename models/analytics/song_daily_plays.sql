-- Plays and listeners per day and catalog song (plays of songs missing from the catalog
-- are left out). The days of the batch are recomputed from fct_songplays and replace their
-- old rows (delete+insert on the day), so counts are never added to counts.
{{ config(
    materialized='incremental',
    unique_key='play_date',
    incremental_strategy='delete+insert',
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
  and cast(played_at as date) in {{ batch_days() }}
group by 1, 2, 3

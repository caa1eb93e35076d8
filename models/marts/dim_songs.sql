-- One row per song of the catalog. The catalog lands whole, not in batches: each run merges
-- it on song_id, so a corrected title or a new song lands and nothing is duplicated.
{{ config(
    materialized='incremental',
    unique_key='song_id',
    incremental_strategy='merge',
    on_schema_change='fail'
) }}

select
    song_id,
    title,
    artist_id,
    release_year,
    duration_s
from {{ ref('stg_songs') }}

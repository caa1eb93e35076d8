-- One row per song of the catalog. The catalog lands whole, not in batches: each run upserts
-- it on song_id, so a corrected title or a new song lands and nothing is duplicated.
-- Upserted with delete+insert, not merge: most keys of a batch already exist, and replacing
-- whole rows is several times faster than DuckDB's column-by-column MERGE update.
{{ config(
    materialized='incremental',
    unique_key='song_id',
    incremental_strategy='delete+insert',
    on_schema_change='fail'
) }}

select
    song_id,
    title,
    artist_id,
    release_year,
    duration_s
from {{ ref('stg_songs') }}

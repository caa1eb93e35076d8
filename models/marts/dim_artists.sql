-- One row per artist of the catalog. An artist's name and location are repeated on each of
-- their songs; if the copies disagree, the most complete one wins (a location over none),
-- then the smallest, so the pick does not depend on file order. The pick is numbered in a
-- subquery and filtered: PostgreSQL has no qualify.
-- Upserted with delete+insert, not merge: most keys of a batch already exist, and replacing
-- whole rows is several times faster than DuckDB's column-by-column MERGE update.
{{ config(
    materialized='incremental',
    unique_key='artist_id',
    incremental_strategy='delete+insert',
    on_schema_change='fail'
) }}

select artist_id, artist_name, artist_location, catalog_songs
from (
    select
        artist_id,
        artist_name,
        artist_location,
        count(*) over (partition by artist_id) as catalog_songs,
        row_number() over (
            partition by artist_id
            order by artist_location is null, artist_name, artist_location
        ) as preference
    from {{ ref('stg_songs') }}
) as copies
where preference = 1

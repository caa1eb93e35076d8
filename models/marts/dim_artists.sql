-- One row per artist of the catalog. An artist's name and location are repeated on each of
-- their songs; if the copies disagree, the most complete one wins (a location over none),
-- then the smallest, so the pick does not depend on file order.
{{ config(
    materialized='incremental',
    unique_key='artist_id',
    incremental_strategy='merge',
    on_schema_change='fail'
) }}

select
    artist_id,
    artist_name,
    artist_location,
    count(*) over (partition by artist_id) as catalog_songs
from {{ ref('stg_songs') }}
qualify row_number() over (
    partition by artist_id
    order by artist_location is null, artist_name, artist_location
) = 1

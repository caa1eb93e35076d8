-- The song catalog, one row per song_id. Empty strings and year 0 mean "unknown": null here.
with typed as (
    select
        nullif(trim(cast(song_id as varchar)), '') as song_id,
        cast(title as varchar) as title,
        nullif(trim(cast(artist_id as varchar)), '') as artist_id,
        cast(artist_name as varchar) as artist_name,
        nullif(trim(cast(artist_location as varchar)), '') as artist_location,
        nullif({{ safe_cast('year', 'integer') }}, 0) as release_year,
        {{ safe_cast('duration', 'double') }} as duration_s
    from {{ source('landing', 'songs') }}
),

-- a song listed twice under one id: keep one, deterministically (row_number in a subquery: PostgreSQL has no qualify)
numbered as (
    select
        *,
        row_number() over (
            partition by song_id
            order by title, artist_id, artist_name, artist_location, release_year, duration_s
        ) as copy_number
    from typed
    where song_id is not null
      and artist_id is not null
)

select song_id, title, artist_id, artist_name, artist_location, release_year, duration_s
from numbered
where copy_number = 1

select distinct
    song_id,
    title,
    artist_id,
    artist_name,
    artist_location,
    year,
    duration
from {{ source('landing', 'songs') }}
where song_id is not null

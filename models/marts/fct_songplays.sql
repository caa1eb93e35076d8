select
    {{ surrogate_key(['e.user_id', 'e.session_id', 'e.item_in_session']) }} as songplay_id,
    e.played_at,
    e.user_id,
    e.level,
    s.song_id,
    s.artist_id,
    e.session_id,
    e.location,
    e.user_agent
from {{ ref('stg_events') }} as e
left join {{ ref('stg_songs') }} as s
    on e.song = s.title and e.artist = s.artist_name

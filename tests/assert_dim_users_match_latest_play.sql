-- dim_users is built batch by batch, in whatever order the batches ran. Recomputed from the
-- whole of fct_songplays, each user's level must be the level of their latest play, and
-- first/last seen must span all their plays. Returns the users where the two disagree.
-- This runs on every batch over the whole history, so it uses aggregates and hash joins
-- instead of window functions: sorting every user's plays was most of its cost.
-- Reads all of history: tagged `audit`, to run on a schedule rather than every batch.
{{ config(tags=['audit']) }}
with spans as (
    select user_id, min(played_at) as first_seen_at, max(played_at) as last_seen_at
    from {{ ref('fct_songplays') }}
    group by user_id
),

-- The latest play: the last time, and among plays at that time the greatest id.
latest_ids as (
    select f.user_id, max(f.songplay_id) as songplay_id
    from {{ ref('fct_songplays') }} as f
    join spans as s
        on f.user_id = s.user_id
        and f.played_at = s.last_seen_at
    group by f.user_id
),

latest as (
    select s.user_id, f.level, i.songplay_id, s.first_seen_at, s.last_seen_at
    from spans as s
    join latest_ids as i on i.user_id = s.user_id
    join {{ ref('fct_songplays') }} as f on f.songplay_id = i.songplay_id
)

select
    coalesce(d.user_id, l.user_id) as user_id,
    d.level as dim_level,
    l.level as latest_play_level,
    d.first_seen_at,
    l.first_seen_at as first_play_at,
    d.last_seen_at,
    l.last_seen_at as last_play_at
from {{ ref('dim_users') }} as d
full join latest as l
    on d.user_id = l.user_id
where d.user_id is null
   or l.user_id is null
   or d.level <> l.level
   or d.first_seen_at <> l.first_seen_at
   or d.last_seen_at <> l.last_seen_at
   or d.last_event_id <> l.songplay_id

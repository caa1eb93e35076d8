-- dim_users is built batch by batch, in whatever order the batches ran. Recomputed from the
-- whole of fct_songplays, each user's level must be the level of their latest play, and
-- first/last seen must span all their plays. Returns the users where the two disagree.
-- (The latest play is numbered, then filtered: PostgreSQL has no qualify.)
with plays as (
    select
        user_id,
        level,
        songplay_id,
        min(played_at) over (partition by user_id) as first_seen_at,
        max(played_at) over (partition by user_id) as last_seen_at,
        row_number() over (
            partition by user_id order by played_at desc, songplay_id desc
        ) as recency
    from {{ ref('fct_songplays') }}
),

latest as (
    select * from plays where recency = 1
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

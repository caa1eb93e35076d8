-- One row per user seen in the batch(es) read: the attributes of the user's latest play
-- (level, name, location, ...), and when the user was first and last seen in the batch.
-- "Latest" is by play time, ties broken by event_id, so the pick never depends on file order.
-- The latest play is numbered 1 and kept by a filter: PostgreSQL has no qualify.
with plays as (
    select
        *,
        min(played_at) over (partition by user_id) as first_seen_at,
        max(played_at) over (partition by user_id) as last_seen_at,
        row_number() over (
            partition by user_id order by played_at desc, event_id desc
        ) as recency
    from {{ ref('stg_events') }}
)

select
    user_id,
    first_name,
    last_name,
    gender,
    level,
    location,
    -- "San Jose-Sunnyvale-Santa Clara, CA" -> CA; "New York-Newark-Jersey City, NY-NJ-PA" -> NY
    nullif({{ regexp_first_group('location', ',\s*([A-Z]{2})(-[A-Z]{2})*\s*$') }}, '') as state_code,
    user_agent,
    registered_at,
    first_seen_at,
    last_seen_at,
    event_id as last_event_id
from plays
where recency = 1

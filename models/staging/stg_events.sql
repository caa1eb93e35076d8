-- One row per song play, typed and de-duplicated; bad rows stay in the landing zone.
with plays as (
    select
        try_cast(nullif("userId", '') as bigint) as user_id,
        {{ epoch_ms_to_timestamp('ts') }} as played_at,
        "sessionId" as session_id,
        "itemInSession" as item_in_session,
        level,
        song,
        artist,
        length as duration_s,
        location,
        "userAgent" as user_agent,
        "firstName" as first_name,
        "lastName" as last_name,
        gender
    from {{ source('landing', 'events') }}
    where page = 'NextSong'
      and nullif("userId", '') is not null
      and ts is not null
)
select *
from plays
qualify row_number() over (
    partition by user_id, session_id, item_in_session order by played_at
) = 1

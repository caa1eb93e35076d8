-- One row per song play of the batch(es) read (var `batch`), typed, filtered and
-- de-duplicated. Bad rows (no user, not a NextSong, malformed ts) stay in the landing zone.
-- Every column is cast here, not in the reader, so the model reads JSON (text ts) and Parquet
-- alike.
with parsed as (
    select
        nullif(trim(cast("userId" as varchar)), '') as user_id,
        {{ safe_cast('"sessionId"', 'bigint') }} as session_id,
        {{ safe_cast('"itemInSession"', 'bigint') }} as item_in_session,
        -- ts is epoch milliseconds; a malformed one ('2025-13-45T99', '') becomes null.
        -- Through double so '1541030400000.0' and 1.5410304e12 still count (bigint in `typed`).
        {{ safe_cast('cast(ts as varchar)', 'double') }} as ts_double,
        cast(level as varchar) as level,
        cast(song as varchar) as song_title,
        cast(artist as varchar) as artist_name,
        {{ safe_cast('length', 'double') }} as duration_s,
        cast("firstName" as varchar) as first_name,
        cast("lastName" as varchar) as last_name,
        cast(gender as varchar) as gender,
        cast(location as varchar) as location,
        cast("userAgent" as varchar) as user_agent,
        {{ safe_cast('registration', 'double') }} as registration_double,
        cast(auth as varchar) as auth,
        {{ safe_cast('status', 'integer') }} as http_status
    from {{ source('landing', 'events') }}
    where page = 'NextSong'
),

-- A safe cast again, so 'NaN' or 'inf' do not fail the cast to bigint. A step of its own: on
-- PostgreSQL a safe cast repeats its argument, and a nested one would repeat it fourfold.
typed as (
    select
        *,
        {{ safe_cast('ts_double', 'bigint') }} as ts_ms,
        {{ safe_cast('registration_double', 'bigint') }} as registration_ms
    from parsed
),

valid as (
    select *
    from typed
    where user_id is not null
      and session_id is not null
      and item_in_session is not null
      -- 1970 .. 2100: anything else is a malformed timestamp, not a play
      and ts_ms > 0
      and ts_ms < 4102444800000
),

-- The same play can arrive twice (re-sent in a later batch, or twice in one file): keep one.
-- Re-sent events are exact copies; the order by only makes the pick deterministic if not.
-- row_number in a step of its own, then a filter: PostgreSQL has no qualify.
numbered as (
    select
        *,
        row_number() over (
            partition by user_id, session_id, item_in_session, ts_ms
            order by level, song_title, artist_name, duration_s, location, first_name, last_name
        ) as copy_number
    from valid
),

deduplicated as (
    select *
    from numbered
    where copy_number = 1
)

select
    {{ surrogate_key(['user_id', 'session_id', 'item_in_session', 'ts_ms']) }} as event_id,
    user_id,
    session_id,
    item_in_session,
    ts_ms,
    {{ epoch_ms_to_timestamp('ts_ms') }} as played_at,
    level,
    song_title,
    artist_name,
    duration_s,
    first_name,
    last_name,
    gender,
    location,
    user_agent,
    {{ epoch_ms_to_timestamp('registration_ms') }} as registered_at,
    auth,
    http_status
from deduplicated

-- The latest known state of each user: level changes free -> paid show up here.
select
    user_id,
    first_name,
    last_name,
    gender,
    level,
    played_at as last_seen_at
from {{ ref('stg_events') }}
qualify row_number() over (partition by user_id order by played_at desc) = 1

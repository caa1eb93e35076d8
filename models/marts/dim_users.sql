-- One row per user: the attributes of the user's latest play (so `level` is the current
-- level, and a free -> paid change shows up), and the first and last time the user played.
--
-- Batches can arrive late and be run in any order, so "latest" is decided by play time,
-- never by which batch ran last: the batch's users are compared with their rows already in
-- the table, and a row is only overwritten by a newer play. first_seen_at/last_seen_at are
-- a min/max over both. Running a batch twice, or batches in any order, gives the same table.
-- Upserted with delete+insert, not merge: most keys of a batch already exist, and replacing
-- whole rows is several times faster than DuckDB's column-by-column MERGE update.
{{ config(
    materialized='incremental',
    unique_key='user_id',
    incremental_strategy='delete+insert',
    on_schema_change='fail'
) }}

{#- The columns read from the batch and from the table already built, and kept from the newest
    row: the same list. #}
{%- set columns = ['user_id', 'first_name', 'last_name', 'gender', 'level', 'location',
    'state_code', 'user_agent', 'registered_at', 'first_seen_at', 'last_seen_at',
    'last_event_id'] %}

with incoming as (
    select {{ columns | join(', ') }}
    from {{ ref('stg_users') }}
),

candidates as (
    select * from incoming
    {% if is_incremental() %}
    union all
    select {{ columns | join(', ') }}
    from {{ this }}
    where user_id in (select user_id from incoming)
    {% endif %}
),

-- the row of the newest play wins (ties by event id: a total order, whatever the batch order)
-- (row_number in a subquery: PostgreSQL has no qualify)
latest as (
    select {{ columns | join(', ') }}
    from (
        select
            *,
            row_number() over (
                partition by user_id order by last_seen_at desc, last_event_id desc
            ) as recency
        from candidates
    ) as ranked
    where recency = 1
),

seen as (
    select
        user_id,
        min(first_seen_at) as first_seen_at,
        max(last_seen_at) as last_seen_at
    from candidates
    group by user_id
)

select
    l.user_id,
    l.first_name,
    l.last_name,
    l.gender,
    l.level,
    l.location,
    l.state_code,
    st.state_name,
    st.region,
    l.user_agent,
    l.registered_at,
    s.first_seen_at,
    s.last_seen_at,
    l.last_event_id
from latest as l
join seen as s
    on l.user_id = s.user_id
left join {{ ref('us_states') }} as st
    on l.state_code = st.state_code

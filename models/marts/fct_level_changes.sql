-- One row per change of a user's level (free -> paid is an upgrade, paid -> free a downgrade),
-- found by comparing each play with the user's previous play in time, over the user's whole
-- history in fct_songplays.
--
-- A late batch can insert plays between two known ones and move a change, so a batch
-- recomputes the changes of every user it has plays of, and replaces that user's rows
-- (delete+insert on user_id). When the last batch holding a user's plays has run, all of
-- them are in fct_songplays, whatever the batch order: the result does not depend on it.
{{ config(
    materialized='incremental',
    unique_key='user_id',
    incremental_strategy='delete+insert',
    on_schema_change='fail'
) }}

with batch_users as (
    select distinct user_id
    from {{ ref('stg_events') }}
),

history as (
    select
        user_id,
        songplay_id,
        played_at,
        level,
        lag(level) over (
            partition by user_id order by played_at, songplay_id
        ) as previous_level
    from {{ ref('fct_songplays') }}
    where user_id in (select user_id from batch_users)
)

select
    user_id,
    songplay_id,
    played_at as changed_at,
    cast(played_at as date) as change_date,
    previous_level as from_level,
    level as to_level,
    case
        when previous_level = 'free' and level = 'paid' then 'upgrade'
        when previous_level = 'paid' and level = 'free' then 'downgrade'
        else 'other'
    end as change_type
from history
where previous_level is not null
  and level <> previous_level

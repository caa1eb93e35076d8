-- A user's level over time: one `start` row at the user's first play, then one row per
-- change of level between two consecutive plays (free -> paid an upgrade, paid -> free a
-- downgrade), found by comparing each play with the user's previous play in time.
--
-- Batches arrive late and run in any order, but every play a batch brings is at or after the
-- batch's earliest play (the window start), so no row before the window can change. A batch
-- recomputes, for the users it has plays of, the rows from the window start on: over their
-- plays in fct_songplays from then on (which already hold the batch), starting from the level
-- each user had just before the window (their last row before it). Those rows are replaced:
-- delete+insert on user_id, narrowed to the window by incremental_predicates. So a batch's
-- cost follows the batch, not the whole history, and any batch order gives the same table.
--
-- Two assumptions, both checked by the `audit` test assert_level_changes_match_history:
-- - a play's level never changes once loaded (a re-sent play is an exact copy). A batch user
--   whose recomputed window has no rows keeps the rows they had there, which is right only
--   if their plays there still have the levels they had;
-- - every batch that loaded fct_songplays also ran this model. If it failed or was skipped,
--   re-run that batch (`etlx retry`): its window covers the rows it missed. A first run or
--   --full-refresh reads every user's whole history, so it repairs anything.
{{ config(
    materialized='incremental',
    unique_key='user_id',
    incremental_strategy='delete+insert',
    incremental_predicates=["DBT_INTERNAL_DEST.changed_at >= " ~ batch_start()],
    on_schema_change='fail'
) }}

with
{% if is_incremental() %}
batch_users as (
    select distinct user_id
    from {{ ref('stg_events') }}
),

window_start as (
    select {{ batch_start() }} as played_at
),

-- the level each batch user had just before the window (row_number: PostgreSQL has no qualify)
level_before as (
    select user_id, level
    from (
        select
            user_id,
            to_level as level,
            row_number() over (
                partition by user_id order by changed_at desc, songplay_id desc
            ) as recency
        from {{ this }}
        where changed_at < (select played_at from window_start)
          and user_id in (select user_id from batch_users)
    ) as ranked
    where recency = 1
),
{% endif %}

plays as (
    select user_id, songplay_id, played_at, level, 0 as is_level_before
    from {{ ref('fct_songplays') }}
    {% if is_incremental() %}
    where user_id in (select user_id from batch_users)
      and played_at >= (select played_at from window_start)
    union all
    select user_id, null, null, level, 1
    from level_before
    {% endif %}
),

history as (
    select
        *,
        lag(level) over (
            partition by user_id order by is_level_before desc, played_at, songplay_id
        ) as previous_level
    from plays
)

select
    user_id,
    songplay_id,
    played_at as changed_at,
    cast(played_at as date) as change_date,
    previous_level as from_level,
    level as to_level,
    case
        when previous_level is null then 'start'
        when previous_level = 'free' and level = 'paid' then 'upgrade'
        when previous_level = 'paid' and level = 'free' then 'downgrade'
        else 'other'
    end as change_type
from history
where is_level_before = 0
  and (previous_level is null or level <> previous_level)

-- fct_level_changes is recomputed batch by batch, from each batch's earliest play on. It must
-- equal the starts and level changes found over the whole of fct_songplays at once. Returns
-- the rows only one side has. Reads all of history: tagged `audit`, to run on a schedule.
{{ config(tags=['audit']) }}
with recomputed as (
    select user_id, songplay_id, previous_level as from_level, level as to_level
    from (
        select
            user_id,
            songplay_id,
            level,
            lag(level) over (partition by user_id order by played_at, songplay_id) as previous_level
        from {{ ref('fct_songplays') }}
    ) as h
    where previous_level is null
       or level <> previous_level
),

built as (
    select user_id, songplay_id, from_level, to_level
    from {{ ref('fct_level_changes') }}
)

(select 'missing' as problem, * from recomputed except select 'missing', * from built)
union all
(select 'extra' as problem, * from built except select 'extra', * from recomputed)

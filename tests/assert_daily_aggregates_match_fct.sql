-- The per-day analytics tables are recomputed by day, batch by batch. Their daily totals
-- must equal the plays of fct_songplays on that day. Returns the days that disagree.
-- Reads all of history: tagged `audit`, to run on a schedule rather than every batch.
{{ config(tags=['audit']) }}
with fct as (
    select
        cast(played_at as date) as day,
        count(*) as plays,
        count(song_id) as catalog_plays
    from {{ ref('fct_songplays') }}
    group by 1
),

dau as (
    select activity_date as day, sum(plays) as plays
    from {{ ref('daily_active_users') }}
    group by 1
),

hourly as (
    select play_date as day, sum(plays) as plays
    from {{ ref('hourly_plays') }}
    group by 1
),

songs as (
    select play_date as day, sum(plays) as plays
    from {{ ref('song_daily_plays') }}
    group by 1
),

days as (
    select day from fct
    union
    select day from dau
    union
    select day from hourly
    union
    select day from songs
)

select
    days.day,
    fct.plays,
    dau.plays as dau_plays,
    hourly.plays as hourly_plays,
    fct.catalog_plays,
    songs.plays as song_daily_plays
from days
left join fct on days.day = fct.day
left join dau on days.day = dau.day
left join hourly on days.day = hourly.day
left join songs on days.day = songs.day
where fct.day is null
   or dau.plays is distinct from fct.plays
   or hourly.plays is distinct from fct.plays
   or coalesce(songs.plays, 0) <> fct.catalog_plays

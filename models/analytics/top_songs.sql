-- The 20 most played catalog songs of all time, from the per-day counts. Ranked in a subquery
-- and filtered outside: PostgreSQL has no qualify.
select *
from (
    select
        row_number() over (order by d.plays desc, d.song_id) as song_rank,
        d.song_id,
        s.title,
        d.artist_id,
        a.artist_name,
        d.plays,
        d.days_played
    from (
        select
            song_id,
            artist_id,
            sum(plays) as plays,
            count(*) as days_played
        from {{ ref('song_daily_plays') }}
        group by 1, 2
    ) as d
    left join {{ ref('dim_songs') }} as s
        on d.song_id = s.song_id
    left join {{ ref('dim_artists') }} as a
        on d.artist_id = a.artist_id
) as ranked
where song_rank <= 20

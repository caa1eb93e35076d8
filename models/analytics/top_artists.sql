-- The 20 most played artists of all time, from the per-day song counts. Ranked in a subquery
-- and filtered outside: PostgreSQL has no qualify.
select *
from (
    select
        row_number() over (order by d.plays desc, d.artist_id) as artist_rank,
        d.artist_id,
        a.artist_name,
        d.plays,
        d.songs_played
    from (
        select
            artist_id,
            sum(plays) as plays,
            count(distinct song_id) as songs_played
        from {{ ref('song_daily_plays') }}
        group by 1
    ) as d
    left join {{ ref('dim_artists') }} as a
        on d.artist_id = a.artist_id
) as ranked
where artist_rank <= 20

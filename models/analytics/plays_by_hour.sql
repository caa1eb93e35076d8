-- Plays by hour of day (UTC) over all days, and each hour's share of all plays.
select
    hour_of_day,
    sum(plays) as plays,
    count(*) as days_with_plays,
    -- a double everywhere: PostgreSQL's round() returns numeric
    cast(round(sum(plays) * 1.0 / sum(sum(plays)) over (), 4) as double precision) as share_of_plays
from {{ ref('hourly_plays') }}
group by 1

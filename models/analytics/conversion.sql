-- Per day: users who went free -> paid (upgrades) and paid -> free (downgrades), against
-- the day's free users. A table over two small tables: one row per level change, and two
-- per day. upgrades_per_free_user can pass 1: a user whose last free play was the day
-- before upgrades on a day they were never free, and a user can upgrade twice in a day.
with changes as (
    select
        change_date,
        -- count(case ...), not count(*) filter (...): Redshift has no filter clause
        count(case when change_type = 'upgrade' then 1 end) as upgrades,
        count(case when change_type = 'downgrade' then 1 end) as downgrades
    from {{ ref('fct_level_changes') }}
    group by 1
),

active as (
    select
        activity_date,
        sum(case when level = 'free' then active_users end) as free_users,
        sum(case when level = 'paid' then active_users end) as paid_users
    from {{ ref('daily_active_users') }}
    group by 1
)

select
    a.activity_date,
    coalesce(a.free_users, 0) as free_users,
    coalesce(a.paid_users, 0) as paid_users,
    coalesce(c.upgrades, 0) as upgrades,
    coalesce(c.downgrades, 0) as downgrades,
    -- * 1.0: integers divide without truncation everywhere; PostgreSQL's round() returns
    -- numeric, the cast keeps the column a double as in DuckDB
    case
        when coalesce(a.free_users, 0) > 0
            then cast(round(coalesce(c.upgrades, 0) * 1.0 / a.free_users, 4) as double precision)
    end as upgrades_per_free_user
from active as a
left join changes as c
    on a.activity_date = c.change_date

-- conversion must count every upgrade and downgrade of fct_level_changes, once.
select *
from (
    select
        (select coalesce(sum(upgrades), 0) from {{ ref('conversion') }}) as conversion_upgrades,
        (select count(*) from {{ ref('fct_level_changes') }} where change_type = 'upgrade') as upgrades,
        (select coalesce(sum(downgrades), 0) from {{ ref('conversion') }}) as conversion_downgrades,
        (select count(*) from {{ ref('fct_level_changes') }} where change_type = 'downgrade') as downgrades
) as totals
where conversion_upgrades is distinct from upgrades
   or conversion_downgrades is distinct from downgrades

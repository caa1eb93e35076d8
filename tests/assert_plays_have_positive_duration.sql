-- A song play that lasted no time at all is a bad event that slipped through staging.
select *
from {{ ref('stg_events') }}
where duration_s <= 0

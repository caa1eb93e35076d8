{% snapshot user_levels %}
{{
    config(
      unique_key='user_id',
      strategy='check',
      check_cols=['level'],
      updated_at='last_seen_at',
    )
}}
-- Each user's subscription level over time (slowly changing dimension, type 2): a new
-- version whenever dim_users shows another level (free -> paid, paid -> free), stamped with
-- the play that showed it, so a re-run of a batch adds nothing and the history is
-- deterministic.
select user_id, level, first_name, last_name, state_code, last_seen_at
from {{ ref('dim_users') }}
{% endsnapshot %}

{# The days the current batch has plays on, as a subquery: incremental per-day aggregates
   recompute exactly these days from fct_songplays and replace them (delete+insert on the day).
   stg_events reads only the batch selected by var('batch'). #}
{% macro batch_days() -%}
    (select distinct cast(played_at as date) from {{ ref('stg_events') }})
{%- endmacro %}

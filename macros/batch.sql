{# What the current run's new plays cover: their time span from the earliest play on. #}

{# A filter for the data tests of tables that grow with every batch (`where:` in their YAML):
   only rows at or after the current batch's earliest play are tested, so a test's cost follows
   the batch, not the history. Rows before it were tested by the batches that wrote them, and
   the batch cannot change them: every key these tables have fixes the row's play time. #}
{% macro since_batch_start(column) -%}
    {{ column }} >= {{ batch_start() }}
{%- endmacro %}

{# The current batch's earliest play, as a scalar subquery. Every play a batch brings is at or
   after it, so nothing the batch can change lies before it. #}
{% macro batch_start() -%}
    (select min(played_at) from {{ ref('stg_events') }})
{%- endmacro %}

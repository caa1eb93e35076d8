{# Event times arrive as epoch milliseconds; each warehouse spells the conversion differently.
   The result is a timestamp without time zone, in UTC, on every warehouse. #}
{% macro epoch_ms_to_timestamp(column) -%}
    {{ return(adapter.dispatch('epoch_ms_to_timestamp')(column)) }}
{%- endmacro %}

{# PostgreSQL's to_timestamp gives a timestamptz, which would print and cast in the session's
   time zone: its UTC wall time is the plain timestamp DuckDB's epoch_ms gives. #}
{% macro default__epoch_ms_to_timestamp(column) -%}
    (to_timestamp({{ column }} / 1000.0) at time zone 'UTC')
{%- endmacro %}

{% macro duckdb__epoch_ms_to_timestamp(column) -%}
    epoch_ms(cast({{ column }} as bigint))
{%- endmacro %}

{% macro redshift__epoch_ms_to_timestamp(column) -%}
    timestamp 'epoch' + ({{ column }} / 1000.0) * interval '1 second'
{%- endmacro %}

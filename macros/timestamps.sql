{# Event times arrive as epoch milliseconds; each warehouse spells the conversion differently. #}
{% macro epoch_ms_to_timestamp(column) -%}
    {{ return(adapter.dispatch('epoch_ms_to_timestamp')(column)) }}
{%- endmacro %}

{% macro default__epoch_ms_to_timestamp(column) -%}
    to_timestamp({{ column }} / 1000.0)
{%- endmacro %}

{% macro duckdb__epoch_ms_to_timestamp(column) -%}
    epoch_ms(cast({{ column }} as bigint))
{%- endmacro %}

{% macro redshift__epoch_ms_to_timestamp(column) -%}
    timestamp 'epoch' + ({{ column }} / 1000.0) * interval '1 second'
{%- endmacro %}

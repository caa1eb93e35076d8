{# The text matched by the first parenthesized group of a regular expression. Without a match
   DuckDB gives '' and the others null: wrap it in nullif(..., '') to get null everywhere. #}
{% macro regexp_first_group(expression, pattern) -%}
    {{ return(adapter.dispatch('regexp_first_group')(expression, pattern)) }}
{%- endmacro %}

{% macro duckdb__regexp_first_group(expression, pattern) -%}
    regexp_extract({{ expression }}, '{{ pattern }}', 1)
{%- endmacro %}

{% macro default__regexp_first_group(expression, pattern) -%}
    substring({{ expression }} from '{{ pattern }}')
{%- endmacro %}

{% macro redshift__regexp_first_group(expression, pattern) -%}
    regexp_substr({{ expression }}, '{{ pattern }}', 1, 1, 'e')
{%- endmacro %}

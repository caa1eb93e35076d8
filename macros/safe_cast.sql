{# A cast of text that may be malformed ('2025-13-45T99', '', 'NaN'): a bad value becomes
   null instead of failing the whole model, so one bad row never stops a load. DuckDB has
   try_cast. PostgreSQL and Redshift have no such cast, so a regular expression lets through
   only text the cast is sure to accept, at a size the type is sure to hold. #}
{% macro safe_cast(expression, type) -%}
    {{ return(adapter.dispatch('safe_cast')(expression, type)) }}
{%- endmacro %}

{% macro duckdb__safe_cast(expression, type) -%}
    try_cast({{ expression }} as {{ type }})
{%- endmacro %}

{#- The expression may also be a number (a column the loader typed): it goes through text,
    which loses nothing, as PostgreSQL prints a double in its shortest exact form. Only plain
    decimal notation is let through ('1e3', '0x1F' and '1_000' become null, where DuckDB reads
    them), and only as many digits as the type always holds. #}
{% macro default__safe_cast(expression, type) -%}
    {%- set text = 'cast(' ~ expression ~ ' as varchar)' -%}
    {%- set kind = type | lower -%}
    {%- set integer_digits = {'smallint': 4, 'integer': 9, 'int': 9, 'bigint': 18} -%}
    {%- if kind in integer_digits -%}
        {%- set digits = '[0-9]{1,' ~ integer_digits[kind] ~ '}' -%}
        {#- a fraction goes through double, which rounds half to even as DuckDB rounds a double
            (DuckDB rounds the text '42.5' away from zero, to 43; this gives 42) -#}
        case
            when {{ text }} ~ '^\s*[-+]?{{ digits }}\s*$' then cast({{ text }} as {{ kind }})
            when {{ text }} ~ '^\s*[-+]?{{ digits }}\.[0-9]*\s*$'
                then cast(cast({{ text }} as double precision) as {{ kind }})
        end
    {%- elif kind in ['double', 'double precision', 'float', 'float8'] -%}
        {#- digits and exponent short enough that the value can neither overflow nor underflow
            (both are errors in PostgreSQL); NaN and infinity are doubles in both engines -#}
        {%- set pattern = '^\s*[-+]?([0-9]{1,200}(\.[0-9]{0,200})?|\.[0-9]{1,200})(e[-+]?[0-9]{1,2})?\s*$|^\s*[-+]?(nan|inf|infinity)\s*$' -%}
        case when lower({{ text }}) ~ '{{ pattern }}' then cast({{ text }} as double precision) end
    {%- else -%}
        {{ exceptions.raise_compiler_error("safe_cast: no safe cast to " ~ type ~ " outside DuckDB") }}
    {%- endif %}
{%- endmacro %}

{# A stable key from several columns: md5 of their text joined by '-', nulls as ''. #}
{% macro surrogate_key(columns) -%}
    md5({% for column in columns -%}
        coalesce(cast({{ column }} as varchar), '')
        {%- if not loop.last %} || '-' || {% endif %}
    {%- endfor %})
{%- endmacro %}

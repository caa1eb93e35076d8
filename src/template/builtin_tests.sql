{#- The generic data tests etlx ships. A project's own `{% test name(...) %}` of the same
    name takes precedence. Each selects the failing rows. -#}

{% test not_null(model, column_name) %}
select {{ column_name }}
from {{ model }}
where {{ column_name }} is null
{% endtest %}

{% test unique(model, column_name) %}
select {{ column_name }} as unique_field, count(*) as n_records
from {{ model }}
where {{ column_name }} is not null
group by {{ column_name }}
having count(*) > 1
{% endtest %}

{% test accepted_values(model, column_name, values, quote=true) %}
with all_values as (
    select {{ column_name }} as value_field, count(*) as n_records
    from {{ model }}
    group by {{ column_name }}
)
select * from all_values
where value_field not in (
    {%- for value in values -%}
    {%- if quote %}'{{ value | string | replace("'", "''") }}'{% else %}{{ value }}{% endif %}{{ ", " if not loop.last }}
    {%- endfor -%}
)
{% endtest %}

{% test relationships(model, column_name, to, field) %}
with child as (
    select {{ column_name }} as from_field
    from {{ model }}
    where {{ column_name }} is not null
),
parent as (
    select {{ field }} as to_field
    from {{ to }}
)
select from_field
from child
left join parent on child.from_field = parent.to_field
where parent.to_field is null
{% endtest %}

{#- dbt_utils' relationships with a condition on each side: with both sides narrowed to what a
    batch can touch, a test of a growing table need not read the whole parent. #}
{% test relationships_where(model, column_name, to, field, from_condition="1=1", to_condition="1=1") %}
with child as (
    select {{ column_name }} as from_field
    from {{ model }}
    where {{ column_name }} is not null
      and {{ from_condition }}
),
parent as (
    select {{ field }} as to_field
    from {{ to }}
    where {{ to_condition }}
)
select from_field
from child
left join parent on child.from_field = parent.to_field
where parent.to_field is null
{% endtest %}

{% test unique_combination_of_columns(model, combination_of_columns) %}
select {{ combination_of_columns | join(", ") }}, count(*) as n_records
from {{ model }}
group by {{ combination_of_columns | join(", ") }}
having count(*) > 1
{% endtest %}

{% test expression_is_true(model, expression, column_name=none) %}
select *
from {{ model }}
where not ({% if column_name %}{{ column_name }} {% endif %}{{ expression }})
{% endtest %}

{% test row_count(model, min=none, max=none) %}
select n_records
from (select count(*) as n_records from {{ model }}) as counted
where {% if min is not none %}n_records < {{ min }}{% endif -%}
{%- if min is not none and max is not none %} or {% endif -%}
{%- if max is not none %}n_records > {{ max }}{% endif -%}
{%- if min is none and max is none %}false{% endif %}
{% endtest %}

{% test not_empty(model) %}
select n_records
from (select count(*) as n_records from {{ model }}) as counted
where n_records = 0
{% endtest %}

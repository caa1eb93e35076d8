{#- dbt's global macros, written for etlx from dbt's documented behaviour. Each public macro
    dispatches (`adapter.dispatch(name, 'dbt')`), so a project or package may replace any
    warehouse's version by defining `<warehouse>__<name>` or `default__<name>`. -#}

{% macro generate_schema_name(custom_schema_name, node) -%}
  {{ return(adapter.dispatch('generate_schema_name', 'dbt')(custom_schema_name, node)) }}
{%- endmacro %}

{% macro default__generate_schema_name(custom_schema_name, node) -%}
  {%- if custom_schema_name is none -%}{{ target.schema }}{%- else -%}{{ target.schema }}_{{ custom_schema_name | trim }}{%- endif -%}
{%- endmacro %}

{% macro generate_schema_name_for_env(custom_schema_name, node) -%}
  {%- if target.name == 'prod' and custom_schema_name is not none -%}{{ custom_schema_name | trim }}{%- else -%}{{ target.schema }}{%- endif -%}
{%- endmacro %}

{#- Whether a test keeps its failing rows, or a model rebuilds from scratch: the node's config
    first, the command line's flag otherwise. -#}
{% macro should_store_failures() -%}
  {%- set configured = config.get('store_failures') -%}
  {{ return(flags.STORE_FAILURES if configured is none else configured) }}
{%- endmacro %}

{% macro should_full_refresh() -%}
  {%- set configured = config.get('full_refresh') -%}
  {{ return(flags.FULL_REFRESH if configured is none else configured) }}
{%- endmacro %}

{% macro generate_alias_name(custom_alias_name=none, node=none) -%}
  {{ return(adapter.dispatch('generate_alias_name', 'dbt')(custom_alias_name, node)) }}
{%- endmacro %}

{% macro default__generate_alias_name(custom_alias_name=none, node=none) -%}
  {%- if custom_alias_name -%}{{ custom_alias_name | trim }}{%- elif node.version -%}{{ node.name ~ "_v" ~ (node.version | replace(".", "_")) }}{%- else -%}{{ node.name }}{%- endif -%}
{%- endmacro %}

{% macro generate_database_name(custom_database_name=none, node=none) -%}
  {{ return(adapter.dispatch('generate_database_name', 'dbt')(custom_database_name, node)) }}
{%- endmacro %}

{% macro default__generate_database_name(custom_database_name=none, node=none) -%}
  {%- if custom_database_name is none -%}{{ target.database }}{%- else -%}{{ custom_database_name | trim }}{%- endif -%}
{%- endmacro %}

{#- ─── Cross-database macros ───────────────────────────────────────────────────────────────
    The SQL dbt's `dbt.<name>` utilities give on each warehouse: `default__` is what dbt's own
    package writes, `duckdb__`/`postgres__`/`redshift__` what dbt-duckdb, dbt-postgres and
    dbt-redshift write instead. Redshift dispatches to `postgres__` when it has no version of
    its own, so wherever dbt-redshift keeps dbt's default over dbt-postgres's version, a
    `redshift__` macro here says so. -#}

{#- Data types: what dbt's Column.translate_type answers on these three warehouses (only
    `string` is renamed, to TEXT), and numeric with dbt's default precision and scale. -#}

{% macro type_string() -%}{{ return(adapter.dispatch('type_string', 'dbt')()) }}{%- endmacro %}
{% macro default__type_string() -%}{{ return('TEXT') }}{%- endmacro %}

{% macro type_timestamp() -%}{{ return(adapter.dispatch('type_timestamp', 'dbt')()) }}{%- endmacro %}
{% macro default__type_timestamp() -%}{{ return('timestamp') }}{%- endmacro %}

{% macro type_float() -%}{{ return(adapter.dispatch('type_float', 'dbt')()) }}{%- endmacro %}
{% macro default__type_float() -%}{{ return('float') }}{%- endmacro %}

{% macro type_numeric() -%}{{ return(adapter.dispatch('type_numeric', 'dbt')()) }}{%- endmacro %}
{% macro default__type_numeric() -%}{{ return('numeric(28,6)') }}{%- endmacro %}

{% macro type_bigint() -%}{{ return(adapter.dispatch('type_bigint', 'dbt')()) }}{%- endmacro %}
{% macro default__type_bigint() -%}{{ return('bigint') }}{%- endmacro %}

{% macro type_int() -%}{{ return(adapter.dispatch('type_int', 'dbt')()) }}{%- endmacro %}
{% macro default__type_int() -%}{{ return('integer') }}{%- endmacro %}

{% macro type_boolean() -%}{{ return(adapter.dispatch('type_boolean', 'dbt')()) }}{%- endmacro %}
{% macro default__type_boolean() -%}{{ return('boolean') }}{%- endmacro %}

{#- The current time. The two `_backcompat` macros keep what dbt_utils' old
    `current_timestamp` gave: a timestamp without time zone. -#}

{% macro current_timestamp() -%}{{ return(adapter.dispatch('current_timestamp', 'dbt')()) }}{%- endmacro %}
{% macro default__current_timestamp() -%}
  {{- exceptions.raise_not_implemented('current_timestamp is not implemented for adapter ' ~ adapter.type()) -}}
{%- endmacro %}
{% macro duckdb__current_timestamp() -%}now(){%- endmacro %}
{% macro postgres__current_timestamp() -%}now(){%- endmacro %}
{% macro redshift__current_timestamp() -%}getdate(){%- endmacro %}

{% macro current_timestamp_backcompat() -%}{{ return(adapter.dispatch('current_timestamp_backcompat', 'dbt')()) }}{%- endmacro %}
{% macro default__current_timestamp_backcompat() -%}current_timestamp::timestamp{%- endmacro %}
{% macro redshift__current_timestamp_backcompat() -%}getdate(){%- endmacro %}

{% macro current_timestamp_in_utc_backcompat() -%}{{ return(adapter.dispatch('current_timestamp_in_utc_backcompat', 'dbt')()) }}{%- endmacro %}
{% macro default__current_timestamp_in_utc_backcompat() -%}{{ return(adapter.dispatch('current_timestamp_backcompat', 'dbt')()) }}{%- endmacro %}
{% macro postgres__current_timestamp_in_utc_backcompat() -%}(current_timestamp at time zone 'utc')::timestamp{%- endmacro %}
{% macro redshift__current_timestamp_in_utc_backcompat() -%}getdate(){%- endmacro %}

{#- Dates. `datepart` is a bare SQL date part (day, week, month, ...); dates are SQL
    expressions. -#}

{% macro date_trunc(datepart, date) -%}{{ return(adapter.dispatch('date_trunc', 'dbt')(datepart, date)) }}{%- endmacro %}
{% macro default__date_trunc(datepart, date) -%}date_trunc('{{ datepart }}', {{ date }}){%- endmacro %}

{% macro dateadd(datepart, interval, from_date_or_timestamp) -%}
  {{ return(adapter.dispatch('dateadd', 'dbt')(datepart, interval, from_date_or_timestamp)) }}
{%- endmacro %}
{% macro default__dateadd(datepart, interval, from_date_or_timestamp) -%}
  dateadd({{ datepart }}, {{ interval }}, {{ from_date_or_timestamp }})
{%- endmacro %}
{#- DuckDB: the interval may be any expression, so it multiplies a one-unit interval; DuckDB
    has no quarter interval, and a week is spelled out as seven days. -#}
{% macro duckdb__dateadd(datepart, interval, from_date_or_timestamp) -%}
  {%- set unit = datepart | lower -%}
  {%- set count = 'cast(' ~ interval ~ ' as bigint)' -%}
  {%- if unit == 'quarter' -%}
    ({{ from_date_or_timestamp }} + ({{ count }} * 3) * interval 1 month)
  {%- elif unit == 'week' -%}
    ({{ from_date_or_timestamp }} + ({{ count }} * 7) * interval 1 day)
  {%- else -%}
    ({{ from_date_or_timestamp }} + {{ count }} * interval 1 {{ unit }})
  {%- endif -%}
{%- endmacro %}
{#- PostgreSQL's intervals have no quarter: dbt-postgres writes `interval '1 quarter'`, which
    PostgreSQL rejects, so a quarter is three months here (as dbt-postgres's last_day counts it). -#}
{% macro postgres__dateadd(datepart, interval, from_date_or_timestamp) -%}
  {%- if datepart | lower == 'quarter' -%}
    {{ from_date_or_timestamp }} + ((interval '3 month') * ({{ interval }}))
  {%- else -%}
    {{ from_date_or_timestamp }} + ((interval '1 {{ datepart }}') * ({{ interval }}))
  {%- endif -%}
{%- endmacro %}
{% macro redshift__dateadd(datepart, interval, from_date_or_timestamp) -%}
  {{ default__dateadd(datepart, interval, from_date_or_timestamp) }}
{%- endmacro %}

{#- The number of `datepart` boundaries crossed going from `first_date` to `second_date`. -#}
{% macro datediff(first_date, second_date, datepart) -%}
  {{ return(adapter.dispatch('datediff', 'dbt')(first_date, second_date, datepart)) }}
{%- endmacro %}
{% macro default__datediff(first_date, second_date, datepart) -%}
  datediff({{ datepart }}, {{ first_date }}, {{ second_date }})
{%- endmacro %}
{% macro duckdb__datediff(first_date, second_date, datepart) -%}
  {%- if datepart == 'week' -%}
    {#- Weeks start on Sunday: the whole weeks between the two days, corrected by one when
        the days left over cross a Sunday. -#}
    ({{ datediff(first_date, second_date, 'day') }} // 7 + case
      when date_part('dow', ({{ first_date }})::timestamp) <= date_part('dow', ({{ second_date }})::timestamp)
        then case when {{ first_date }} <= {{ second_date }} then 0 else -1 end
      else case when {{ first_date }} <= {{ second_date }} then 1 else 0 end
    end)
  {%- else -%}
    (date_diff('{{ datepart }}', {{ first_date }}::timestamp, {{ second_date }}::timestamp))
  {%- endif -%}
{%- endmacro %}
{#- PostgreSQL has no datediff: each part is the difference in the next coarser part, scaled,
    plus the difference of the part itself. -#}
{% macro postgres__datediff(first_date, second_date, datepart) -%}
  {%- set coarser = {
      'quarter': ('year', 4, 'date'), 'month': ('year', 12, 'date'),
      'hour': ('day', 24, 'timestamp'), 'minute': ('hour', 60, 'timestamp'),
      'second': ('minute', 60, 'timestamp'), 'millisecond': ('minute', 60000, 'timestamp'),
      'microsecond': ('minute', 60000000, 'timestamp')} -%}
  {%- if datepart == 'year' -%}
    (date_part('year', ({{ second_date }})::date) - date_part('year', ({{ first_date }})::date))
  {%- elif datepart == 'day' -%}
    (({{ second_date }})::date - ({{ first_date }})::date)
  {%- elif datepart == 'week' -%}
    {#- As on DuckDB; a difference of dates is an integer here, so / divides whole. -#}
    ({{ datediff(first_date, second_date, 'day') }} / 7 + case
      when date_part('dow', ({{ first_date }})::timestamp) <= date_part('dow', ({{ second_date }})::timestamp)
        then case when {{ first_date }} <= {{ second_date }} then 0 else -1 end
      else case when {{ first_date }} <= {{ second_date }} then 1 else 0 end
    end)
  {%- elif datepart in coarser -%}
    {%- set part, scale, cast_to = coarser[datepart] -%}
    {%- set later = "date_part('" ~ datepart ~ "', (" ~ second_date ~ ")::" ~ cast_to ~ ")" -%}
    {%- set earlier = "date_part('" ~ datepart ~ "', (" ~ first_date ~ ")::" ~ cast_to ~ ")" -%}
    {%- if datepart in ('second', 'millisecond', 'microsecond') -%}
      {%- set later, earlier = 'floor(' ~ later ~ ')', 'floor(' ~ earlier ~ ')' -%}
    {%- endif -%}
    ({{ datediff(first_date, second_date, part) }} * {{ scale }} + {{ later }} - {{ earlier }})
  {%- else -%}
    {{ exceptions.raise_compiler_error("Unsupported datepart for macro datediff in postgres: '" ~ datepart ~ "'") }}
  {%- endif -%}
{%- endmacro %}
{% macro redshift__datediff(first_date, second_date, datepart) -%}
  {{ default__datediff(first_date, second_date, datepart) }}
{%- endmacro %}

{#- The last day of the `datepart` (month, quarter, year, ...) that `date` falls in. -#}
{% macro last_day(date, datepart) -%}{{ return(adapter.dispatch('last_day', 'dbt')(date, datepart)) }}{%- endmacro %}
{% macro default_last_day(date, datepart) -%}
  cast({{ dbt.dateadd('day', '-1', dbt.dateadd(datepart, '1', dbt.date_trunc(datepart, date))) }} as date)
{%- endmacro %}
{% macro default__last_day(date, datepart) -%}{{ dbt.default_last_day(date, datepart) }}{%- endmacro %}
{#- DuckDB's and PostgreSQL's dateadd have no quarter: three months instead. -#}
{% macro duckdb__last_day(date, datepart) -%}
  {%- if datepart == 'quarter' -%}
    cast({{ dbt.dateadd('day', '-1', dbt.dateadd('month', '3', dbt.date_trunc(datepart, date))) }} as date)
  {%- else -%}
    {{ dbt.default_last_day(date, datepart) }}
  {%- endif -%}
{%- endmacro %}
{% macro postgres__last_day(date, datepart) -%}
  {%- if datepart == 'quarter' -%}
    cast({{ dbt.dateadd('day', '-1', dbt.dateadd('month', '3', dbt.date_trunc(datepart, date))) }} as date)
  {%- else -%}
    {{ dbt.default_last_day(date, datepart) }}
  {%- endif -%}
{%- endmacro %}
{% macro redshift__last_day(date, datepart) -%}{{ dbt.default_last_day(date, datepart) }}{%- endmacro %}

{#- A date literal: `dbt.date(2024, 2, 29)`. -#}
{% macro date(year, month, day) -%}{{ return(adapter.dispatch('date', 'dbt')(year, month, day)) }}{%- endmacro %}
{% macro default__date(year, month, day) -%}
  {%- if year is not integer or month is not integer or day is not integer -%}
    {{ exceptions.raise_compiler_error("date(year, month, day) takes three whole numbers, not " ~ year ~ ", " ~ month ~ ", " ~ day) }}
  {%- endif -%}
  {%- set leap = (year % 4 == 0 and year % 100 != 0) or year % 400 == 0 -%}
  {%- set month_days = [31, 29 if leap else 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31] -%}
  {%- if year < 1 or year > 9999 or month < 1 or month > 12 or day < 1 or day > month_days[month - 1] -%}
    {{ exceptions.raise_compiler_error("date(" ~ year ~ ", " ~ month ~ ", " ~ day ~ ") is not a day of the calendar") }}
  {%- endif -%}
  to_date('{{ "%04d-%02d-%02d" | format(year, month, day) }}', 'YYYY-MM-DD')
{%- endmacro %}
{% macro duckdb__date(year, month, day) -%}make_date({{ year }}, {{ month }}, {{ day }}){%- endmacro %}

{#- One row per `datepart` from `start_date` up to (not including) `end_date`, in a column
    named `date_<datepart>`. The number of rows is asked of the warehouse at compile time. -#}
{% macro date_spine(datepart, start_date, end_date) -%}
  {{ return(adapter.dispatch('date_spine', 'dbt')(datepart, start_date, end_date)) }}
{%- endmacro %}
{% macro default__date_spine(datepart, start_date, end_date) -%}
with rawdata as (
{{ dbt.generate_series(dbt.get_intervals_between(start_date, end_date, datepart)) }}
),
all_periods as (
  select ({{ dbt.dateadd(datepart, 'row_number() over (order by 1) - 1', start_date) }}) as date_{{ datepart }}
  from rawdata
),
filtered as (
  select * from all_periods where date_{{ datepart }} <= {{ end_date }}
)
select * from filtered
{%- endmacro %}

{#- How many `datepart`s lie between the two dates: one query at compile time (1 while
    etlx only discovers the graph, when nothing is queried, as dbt does when parsing). -#}
{% macro get_intervals_between(start_date, end_date, datepart) -%}
  {{ return(adapter.dispatch('get_intervals_between', 'dbt')(start_date, end_date, datepart)) }}
{%- endmacro %}
{% macro default__get_intervals_between(start_date, end_date, datepart) -%}
  {%- call statement('get_intervals_between', fetch_result=True) -%}
    select {{ dbt.datediff(start_date, end_date, datepart) }}
  {%- endcall -%}
  {%- set result = load_result('get_intervals_between') -%}
  {%- if result and result['data'] -%}
    {{ return(result['data'][0][0]) }}
  {%- else -%}
    {{ return(1) }}
  {%- endif -%}
{%- endmacro %}

{#- The smallest n with upper_bound <= 2^n (at least 1). -#}
{% macro get_powers_of_two(upper_bound) -%}{{ return(adapter.dispatch('get_powers_of_two', 'dbt')(upper_bound)) }}{%- endmacro %}
{% macro default__get_powers_of_two(upper_bound) -%}
  {%- if upper_bound <= 0 -%}
    {{ exceptions.raise_compiler_error("upper bound must be positive") }}
  {%- endif -%}
  {%- for power in range(1, 100) if upper_bound <= 2 ** power -%}
    {%- if loop.first -%}{{ return(power) }}{%- endif -%}
  {%- endfor -%}
{%- endmacro %}

{#- The numbers 1 to upper_bound in a column `generated_number`; without a series function,
    the cross join of enough two-row tables counts in binary. -#}
{% macro generate_series(upper_bound) -%}{{ return(adapter.dispatch('generate_series', 'dbt')(upper_bound)) }}{%- endmacro %}
{% macro default__generate_series(upper_bound) -%}
  {%- set bits = range(dbt.get_powers_of_two(upper_bound)) -%}
with p as (
  select 0 as generated_number union all select 1
), unioned as (
  select
  {% for bit in bits %}p{{ bit }}.generated_number * power(2, {{ bit }}) + {% endfor %}1 as generated_number
  from {% for bit in bits %}p as p{{ bit }}{% if not loop.last %} cross join {% endif %}{% endfor %}
)
select * from unioned where generated_number <= {{ upper_bound }} order by generated_number
{%- endmacro %}
{% macro duckdb__generate_series(upper_bound) -%}
  select generate_series as generated_number from generate_series(1, {{ upper_bound }})
{%- endmacro %}

{#- Casts. dbt's safe_cast is a plain cast on these three warehouses. -#}

{% macro cast(field, type) -%}{{ return(adapter.dispatch('cast', 'dbt')(field, type)) }}{%- endmacro %}
{% macro default__cast(field, type) -%}cast({{ field }} as {{ type }}){%- endmacro %}

{% macro safe_cast(field, type) -%}{{ return(adapter.dispatch('safe_cast', 'dbt')(field, type)) }}{%- endmacro %}
{% macro default__safe_cast(field, type) -%}cast({{ field }} as {{ type }}){%- endmacro %}

{% macro cast_bool_to_text(field) -%}{{ return(adapter.dispatch('cast_bool_to_text', 'dbt')(field)) }}{%- endmacro %}
{% macro default__cast_bool_to_text(field) -%}cast({{ field }} as TEXT){%- endmacro %}
{% macro redshift__cast_bool_to_text(field) -%}
  case when {{ field }} is true then 'true' when {{ field }} is false then 'false' end::text
{%- endmacro %}

{#- Strings. -#}

{% macro concat(fields) -%}{{ return(adapter.dispatch('concat', 'dbt')(fields)) }}{%- endmacro %}
{% macro default__concat(fields) -%}{{ fields | join(' || ') }}{%- endmacro %}

{% macro hash(field) -%}{{ return(adapter.dispatch('hash', 'dbt')(field)) }}{%- endmacro %}
{% macro default__hash(field) -%}md5(cast({{ field }} as TEXT)){%- endmacro %}

{% macro length(expression) -%}{{ return(adapter.dispatch('length', 'dbt')(expression)) }}{%- endmacro %}
{% macro default__length(expression) -%}length({{ expression }}){%- endmacro %}
{% macro redshift__length(expression) -%}len({{ expression }}){%- endmacro %}

{% macro position(substring_text, string_text) -%}
  {{ return(adapter.dispatch('position', 'dbt')(substring_text, string_text)) }}
{%- endmacro %}
{% macro default__position(substring_text, string_text) -%}position({{ substring_text }} in {{ string_text }}){%- endmacro %}

{% macro replace(field, old_chars, new_chars) -%}
  {{ return(adapter.dispatch('replace', 'dbt')(field, old_chars, new_chars)) }}
{%- endmacro %}
{% macro default__replace(field, old_chars, new_chars) -%}replace({{ field }}, {{ old_chars }}, {{ new_chars }}){%- endmacro %}

{% macro right(string_text, length_expression) -%}
  {{ return(adapter.dispatch('right', 'dbt')(string_text, length_expression)) }}
{%- endmacro %}
{% macro default__right(string_text, length_expression) -%}right({{ string_text }}, {{ length_expression }}){%- endmacro %}

{#- The part_number-th piece of the string cut at each delimiter; a negative part_number
    counts from the end. -#}
{% macro split_part(string_text, delimiter_text, part_number) -%}
  {{ return(adapter.dispatch('split_part', 'dbt')(string_text, delimiter_text, part_number)) }}
{%- endmacro %}
{% macro default__split_part(string_text, delimiter_text, part_number) -%}
  split_part({{ string_text }}, {{ delimiter_text }}, {{ part_number }})
{%- endmacro %}
{#- For warehouses whose split_part takes no negative part: count the pieces (how much shorter
    the string gets without its delimiters) and take the piece that many from the start. -#}
{% macro _split_part_negative(string_text, delimiter_text, part_number) -%}
  split_part({{ string_text }}, {{ delimiter_text }},
    length({{ string_text }}) - length(replace({{ string_text }}, {{ delimiter_text }}, '')) + 2 + {{ part_number }})
{%- endmacro %}
{% macro duckdb__split_part(string_text, delimiter_text, part_number) -%}
  string_split({{ string_text }}, {{ delimiter_text }})[{{ part_number }}]
{%- endmacro %}
{% macro postgres__split_part(string_text, delimiter_text, part_number) -%}
  {%- if part_number >= 0 -%}
    {{ dbt.default__split_part(string_text, delimiter_text, part_number) }}
  {%- else -%}
    {{ dbt._split_part_negative(string_text, delimiter_text, part_number) }}
  {%- endif -%}
{%- endmacro %}

{#- A quoted SQL string, as written (quotes inside are not escaped: see escape_single_quotes). -#}
{% macro string_literal(value) -%}{{ return(adapter.dispatch('string_literal', 'dbt')(value)) }}{%- endmacro %}
{% macro default__string_literal(value) -%}'{{ value }}'{%- endmacro %}

{% macro escape_single_quotes(expression) -%}{{ return(adapter.dispatch('escape_single_quotes', 'dbt')(expression)) }}{%- endmacro %}
{% macro default__escape_single_quotes(expression) -%}{{ expression | replace("'", "''") }}{%- endmacro %}

{#- Aggregates. -#}

{#- The measure's values joined by delimiter_text (a SQL expression, a quoted ',' unless
    given), in the order of order_by_clause ("order by ..."), at most limit_num of them. -#}
{% macro listagg(measure, delimiter_text="','", order_by_clause=none, limit_num=none) -%}
  {{ return(adapter.dispatch('listagg', 'dbt')(measure, delimiter_text, order_by_clause, limit_num)) }}
{%- endmacro %}
{% macro default__listagg(measure, delimiter_text, order_by_clause, limit_num) -%}
  {%- set within = ' within group (' ~ order_by_clause ~ ')' if order_by_clause else '' -%}
  {%- if limit_num -%}
    array_to_string(array_slice(array_agg({{ measure }}){{ within }}, 0, {{ limit_num }}), {{ delimiter_text }})
  {%- else -%}
    listagg({{ measure }}, {{ delimiter_text }}){{ within }}
  {%- endif -%}
{%- endmacro %}
{% macro duckdb__listagg(measure, delimiter_text, order_by_clause, limit_num) -%}
  {%- set ordered = ' ' ~ order_by_clause if order_by_clause else '' -%}
  {%- if limit_num -%}
    list_aggr((array_agg({{ measure }}{{ ordered }}))[1:{{ limit_num }}], 'string_agg', {{ delimiter_text }})
  {%- else -%}
    string_agg({{ measure }}, {{ delimiter_text }}{{ ordered }})
  {%- endif -%}
{%- endmacro %}
{% macro postgres__listagg(measure, delimiter_text, order_by_clause, limit_num) -%}
  {%- set ordered = ' ' ~ order_by_clause if order_by_clause else '' -%}
  {%- if limit_num -%}
    array_to_string((array_agg({{ measure }}{{ ordered }}))[1:{{ limit_num }}], {{ delimiter_text }})
  {%- else -%}
    string_agg({{ measure }}, {{ delimiter_text }}{{ ordered }})
  {%- endif -%}
{%- endmacro %}
{#- Redshift has no arrays to cut: the limit keeps the first limit_num pieces of the joined
    text with a regular expression, so it is wrong when the values contain the delimiter. -#}
{% macro redshift__listagg(measure, delimiter_text, order_by_clause, limit_num) -%}
  {%- set within = ' within group (' ~ order_by_clause ~ ')' if order_by_clause else '' -%}
  {%- if limit_num -%}
    {%- set ns = namespace(delimiter=delimiter_text | trim("'")) -%}
    {%- for special in ['\\', '^', '$', '.', '|', '?', '*', '+', '(', ')', '[', ']', '{', '}'] -%}
      {%- set ns.delimiter = ns.delimiter | replace(special, '\\\\' ~ special) -%}
    {%- endfor -%}
    {%- set d = ns.delimiter -%}
    regexp_substr(listagg({{ measure }}, {{ delimiter_text }}){{ within }}, '([^{{ d }}]+{{ d }}){1,{{ limit_num - 1 }}}[^{{ d }}]+')
  {%- else -%}
    listagg({{ measure }}, {{ delimiter_text }}){{ within }}
  {%- endif -%}
{%- endmacro %}

{#- Any one value of the group. PostgreSQL has no any_value (before 16): the smallest. -#}
{% macro any_value(expression) -%}{{ return(adapter.dispatch('any_value', 'dbt')(expression)) }}{%- endmacro %}
{% macro default__any_value(expression) -%}any_value({{ expression }}){%- endmacro %}
{% macro duckdb__any_value(expression) -%}arbitrary({{ expression }}){%- endmacro %}
{% macro postgres__any_value(expression) -%}min({{ expression }}){%- endmacro %}

{% macro bool_or(expression) -%}{{ return(adapter.dispatch('bool_or', 'dbt')(expression)) }}{%- endmacro %}
{% macro default__bool_or(expression) -%}bool_or({{ expression }}){%- endmacro %}

{#- Set operators and comparison. -#}

{% macro except() -%}{{ return(adapter.dispatch('except', 'dbt')()) }}{%- endmacro %}
{% macro default__except() -%}except{%- endmacro %}

{% macro intersect() -%}{{ return(adapter.dispatch('intersect', 'dbt')()) }}{%- endmacro %}
{% macro default__intersect() -%}intersect{%- endmacro %}

{#- True when the two are equal; null when either is null (dbt's default, without the
    `enable_truthy_nulls_equals_macro` behaviour flag, which etlx does not read). -#}
{% macro equals(expr1, expr2) -%}{{ return(adapter.dispatch('equals', 'dbt')(expr1, expr2)) }}{%- endmacro %}
{% macro default__equals(expr1, expr2) -%}({{ expr1 }} = {{ expr2 }}){%- endmacro %}

{#- Arrays. Elements must share one type; Redshift's arrays are SUPER values. -#}

{% macro array_construct(inputs=[], data_type='integer') -%}
  {{ return(adapter.dispatch('array_construct', 'dbt')(inputs, data_type)) }}
{%- endmacro %}
{% macro default__array_construct(inputs, data_type) -%}
  {%- if inputs | length > 0 -%}array[{{ inputs | join(', ') }}]{%- else -%}array[]::{{ data_type }}[]{%- endif -%}
{%- endmacro %}
{% macro redshift__array_construct(inputs, data_type) -%}array({{ inputs | join(', ') }}){%- endmacro %}

{% macro array_append(array, new_element) -%}{{ return(adapter.dispatch('array_append', 'dbt')(array, new_element)) }}{%- endmacro %}
{% macro default__array_append(array, new_element) -%}array_append({{ array }}, {{ new_element }}){%- endmacro %}
{% macro redshift__array_append(array, new_element) -%}{{ array_concat(array, array_construct([new_element])) }}{%- endmacro %}

{% macro array_concat(array_1, array_2) -%}{{ return(adapter.dispatch('array_concat', 'dbt')(array_1, array_2)) }}{%- endmacro %}
{% macro default__array_concat(array_1, array_2) -%}array_cat({{ array_1 }}, {{ array_2 }}){%- endmacro %}
{% macro redshift__array_concat(array_1, array_2) -%}array_concat({{ array_1 }}, {{ array_2 }}){%- endmacro %}

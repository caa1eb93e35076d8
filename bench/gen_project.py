#!/usr/bin/env python3
"""Write a synthetic etlx project of N layered models for benchmarks.

Layers: a quarter staging views over file sources, half intermediate models that each ref
2-3 earlier models, a quarter marts. Every model calls macros (one dispatched per dialect)
and every model has YAML properties with column tests, so loading, rendering, parsing and
graph building all do real work.

With --trivial, the models are instead a runnable DuckDB project of N tiny models (each
selects a few rows from an earlier one; alternately tables and views), for timing what
`etlx run` itself costs per model.

With --dbt, the same project is one dbt runs unchanged too, for timing etlx against dbt on
identical input: `dbt_project.yml` (etlx reads it as well) with a `profiles.yml` whose duckdb
target is `bench.duckdb` in the project (run both tools from the project directory: dbt-duckdb
takes the path from the working directory, etlx from the project), the sources as tables in
the warehouse instead of etlx's file locations (the macro `create_landing` creates them: run
it once with `run-operation create_landing`). Every model keeps an `amount` column, so the
layered project is valid SQL either way.

usage: gen_project.py [--trivial] [--dbt] DIR N_MODELS
"""
import os
import random
import sys


def main():
    flags = {"--trivial", "--dbt"}
    args = [a for a in sys.argv[1:] if a not in flags]
    out, n = args[0], int(args[1])
    dbt = "--dbt" in sys.argv
    if "--trivial" in sys.argv:
        return trivial(out, n, dbt)
    rng = random.Random(42)
    n_stg, n_mart = max(1, n // 4), max(1, n // 4)
    n_int = max(0, n - n_stg - n_mart)
    for d in ("models/staging", "models/intermediate", "models/marts", "macros"):
        os.makedirs(os.path.join(out, d), exist_ok=True)
    if dbt:
        write(out, "dbt_project.yml", DBT_PROJECT_HEAD + PROJECT)
        write(out, "profiles.yml", DBT_PROFILE)
        write(out, "macros/helpers.sql", MACROS + CREATE_LANDING.replace("N_SOURCES", str(n_stg)))
        sources = "\n".join(f"      - name: t{i}" for i in range(n_stg))
    else:
        write(out, "etlx_project.yml", PROJECT)
        write(out, "macros/helpers.sql", MACROS)
        sources = "\n".join(f"      - name: t{i}\n        location: landing/t{i}/\n        format: parquet" for i in range(n_stg))
    write(out, "models/staging/sources.yml", f"version: 2\nsources:\n  - name: landing\n    tables:\n{sources}\n")
    names = []
    for i in range(n_stg):
        name = f"stg_{i}"
        write(out, f"models/staging/{name}.sql", STAGING.format(i=i))
        names.append(name)
    for layer, count, folder in (("int", n_int, "intermediate"), ("mart", n_mart, "marts")):
        for i in range(count):
            name = f"{layer}_{i}"
            parents = rng.sample(names, k=min(len(names), rng.randint(2, 3)))
            joins = "\n".join(
                f"left join {{{{ ref('{p}') }}}} as p{j} on p{j}.id = p0.id" for j, p in enumerate(parents[1:], start=1)
            )
            cols = [f"p{j}.amount as amount_{j}" for j in range(len(parents))]
            # Children read `amount`: keep it, so the project is valid SQL (etlx's column
            # checks would otherwise report every read of it) and builds, not only compiles.
            cols[0] = "p0.amount"
            sql = MODEL.format(first=parents[0], joins=joins, cols=", ".join(cols))
            write(out, f"models/{folder}/{name}.sql", sql)
            names.append(name)
    props = "\n".join(
        f"  - name: {m}\n    description: Synthetic model {m}.\n    columns:\n      - name: id\n        data_tests: [unique, not_null]"
        for m in names
    )
    write(out, "models/schema.yml", f"version: 2\nmodels:\n{props}\n")


def trivial(out, n, dbt=False):
    rng = random.Random(42)
    os.makedirs(os.path.join(out, "models"), exist_ok=True)
    if dbt:
        write(out, "dbt_project.yml", DBT_PROJECT_HEAD + "name: bench\n")
    else:
        write(out, "etlx_project.yml", "name: bench\n")
    write(out, "profiles.yml", TRIVIAL_PROFILE)
    write(out, "models/m_0.sql", "{{ config(materialized='table') }}\nselect range as id, range * 2 as v from range(10)\n")
    for i in range(1, n):
        kind = "table" if i % 2 else "view"
        parent = rng.randrange(max(0, i - 20), i)
        write(out, f"models/m_{i}.sql", f"{{{{ config(materialized='{kind}') }}}}\nselect id, v + {i} as v from {{{{ ref('m_{parent}') }}}}\n")


TRIVIAL_PROFILE = """bench:
  target: dev
  outputs:
    dev:
      type: duckdb
      path: target/bench.duckdb
      threads: 1
"""


DBT_PROJECT_HEAD = """config-version: 2
version: "1.0"
profile: bench
"""

# Relative to the working directory for dbt-duckdb, to the project for etlx: run from it.
DBT_PROFILE = """bench:
  target: dev
  outputs:
    dev:
      type: duckdb
      path: bench.duckdb
      threads: 4
"""

# The sources' tables, in the warehouse (dbt has no file sources without adapter-specific
# config): `run-operation create_landing` once before building, with either tool.
CREATE_LANDING = """
{% macro create_landing() -%}
    {% do run_query('create schema if not exists landing') %}
    {% for i in range(N_SOURCES) %}
        {% do run_query('create or replace table landing.t' ~ i ~ ' as select range as id, range * 137 as amount_cents, 1700000000000 + range * 1000 as created_ms from range(20)') %}
    {% endfor %}
{%- endmacro %}
"""


def write(root, rel, text):
    with open(os.path.join(root, rel), "w") as f:
        f.write(text)


PROJECT = """name: bench
vars:
  min_amount: 0
models:
  bench:
    staging:
      +materialized: view
    intermediate:
      +materialized: ephemeral
    marts:
      +materialized: table
"""

MACROS = """{% macro cents(column) -%}
    round({{ column }} / 100.0, 2)
{%- endmacro %}

{% macro ts(column) -%}
    {{ return(adapter.dispatch('ts')(column)) }}
{%- endmacro %}

{% macro default__ts(column) -%}
    to_timestamp({{ column }} / 1000.0)
{%- endmacro %}

{% macro duckdb__ts(column) -%}
    epoch_ms({{ column }})
{%- endmacro %}
"""

STAGING = """select
    id,
    {{{{ cents('amount_cents') }}}} as amount,
    {{{{ ts('created_ms') }}}} as created_at
from {{{{ source('landing', 't{i}') }}}}
where amount_cents >= {{{{ var('min_amount') }}}}
"""

MODEL = """{{% set metrics = ['amount'] %}}
select
    p0.id,
    {cols},
    {{% for m in metrics %}}sum(p0.{{{{ m }}}}) over (partition by p0.id) as total_{{{{ m }}}}{{% endfor %}}
from {{{{ ref('{first}') }}}} as p0
{joins}
"""

if __name__ == "__main__":
    main()

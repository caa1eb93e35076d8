#!/usr/bin/env bash
# Times `etlx docs generate` against dbt's `dbt docs generate` (dbt-core + dbt-duckdb) on the
# same generated projects (default 1000 and 5000 models; gen_project.py --dbt, which both
# tools run unchanged), on the same machine, in the same run; and `etlx lineage` of the last
# mart (every column's upstream tree), which dbt has no counterpart for.
#
#   bench/docs.sh               # sizes 1000 5000
#   bench/docs.sh 200 2000      # other sizes
#   SKIP_ETLX=1 bench/docs.sh   # the dbt side only (SKIP_DBT=1: the etlx side only)
#
# Does not build etlx: it times whatever binary ETLX_BIN names (default: the dev-profile
# build, $CARGO_TARGET_DIR/debug/etlx, CARGO_TARGET_DIR defaulting to ~/.cache/etlx-build),
# and says when that is a debug build (the tool's own Rust unoptimised, DuckDB at -O2).
# dbt is the one in DBT_VENV (default ~/.cache/dbt-venv), installed by
# ../shared/bench/install_dbt.sh when missing.
#
# Each tool gets its own copy of the project and database (bench.duckdb in the project; both
# tools run from the project directory). Before timing, each creates the sources' tables
# (`run-operation create_landing`) and builds the models once (`run`: 1/4 views, 1/4 tables,
# 1/2 ephemeral), so the catalog has every relation's columns. If dbt's build takes longer
# than BUILD_TIMEOUT seconds (default 600), that size is measured without a build for both
# tools (the catalog then has the sources only), and the output says so.
#
# Each timing is the mean of 3 runs after one unmeasured warm-up run (hyperfine when present,
# else date arithmetic). dbt runs as its users run it: partial parsing on (the warm-up leaves
# target/partial_parse.msgpack), anonymous usage stats off. Prints a markdown table.
set -euo pipefail
cd "$(dirname "$0")/.."
repo=$(pwd)
sizes=("$@")
[ $# -eq 0 ] && sizes=(1000 5000)
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/etlx-build}"
etlx="${ETLX_BIN:-$CARGO_TARGET_DIR/debug/etlx}"
venv="${DBT_VENV:-$HOME/.cache/dbt-venv}"
dbt="$venv/bin/dbt"
skip_etlx="${SKIP_ETLX:-}"
skip_dbt="${SKIP_DBT:-}"
build_timeout="${BUILD_TIMEOUT:-600}"
export DBT_SEND_ANONYMOUS_USAGE_STATS=false DO_NOT_TRACK=1

if [ -z "$skip_etlx" ]; then
  [ -x "$etlx" ] || { echo "no etlx binary at $etlx (set ETLX_BIN, or SKIP_ETLX=1)" >&2; exit 2; }
  "$etlx" docs generate --help > /dev/null 2>&1 ||
    { echo "$etlx has no 'docs generate' (set ETLX_BIN, or SKIP_ETLX=1)" >&2; exit 2; }
fi
if [ -z "$skip_dbt" ] && [ ! -x "$dbt" ]; then
  installer="$repo/../shared/bench/install_dbt.sh"
  [ -f "$installer" ] || { echo "no dbt at $dbt (set DBT_VENV, or SKIP_DBT=1)" >&2; exit 2; }
  echo "installing dbt into $venv ..." >&2
  VENV="$venv" bash "$installer" > /dev/null
fi

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
shopt -s inherit_errexit
now() { date +%s.%N; }

# quietly CMD...: CMD with its output in a log, shown (and the script stopped) if it fails.
quietly() {
  "$@" > "$work/cmd.log" 2>&1 ||
    { echo "failed in $(pwd): $*" >&2; tail -20 "$work/cmd.log" >&2; return 1; }
}

# mean DIR CMD...: seconds, mean of 3 runs of CMD in DIR after one warm-up run.
mean() {
  local dir=$1; shift
  (
    cd "$dir"
    if command -v hyperfine > /dev/null; then
      hyperfine --warmup 1 --runs 3 --style none --export-json "$work/h.json" \
        -- "$(printf '%q ' "$@")" > /dev/null
      python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["results"][0]["mean"])' "$work/h.json"
    else
      quietly "$@" || exit 1
      local start; start=$(now)
      for _ in 1 2 3; do quietly "$@" || exit 1; done
      echo "($(now) - $start) / 3" | bc -l
    fi
  )
}

# setup TOOL DIR: the sources' tables, then (unless $no_build) the models, once. Prints the
# build's seconds; exits 124 when dbt's build timed out.
setup() {
  local tool=$1 dir=$2
  (
    cd "$dir"
    if [ "$tool" = dbt ]; then
      quietly "$dbt" run-operation create_landing --profiles-dir . || exit 1
      [ -n "$no_build" ] && { echo 0; exit 0; }
      local start; start=$(now)
      local rc=0
      timeout "$build_timeout" "$dbt" run --profiles-dir . > "$work/cmd.log" 2>&1 || rc=$?
      [ $rc -eq 124 ] && exit 124
      [ $rc -ne 0 ] && { echo "dbt run failed in $dir:" >&2; tail -20 "$work/cmd.log" >&2; exit 1; }
    else
      quietly "$etlx" --project-dir . --quiet run-operation create_landing || exit 1
      [ -n "$no_build" ] && { echo 0; exit 0; }
      local start; start=$(now)
      quietly "$etlx" --project-dir . --quiet run || exit 1
    fi
    echo "$(now) - $start" | bc -l
  )
}

secs() { [ -n "$1" ] && printf "%.2f s" "$1" || printf "–"; }

echo "machine: $(nproc) cores, $(uname -m), $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs), load average at start: $(cut -d' ' -f1-3 /proc/loadavg)"
if [ -z "$skip_etlx" ]; then
  case "$etlx" in
    */debug/*) profile="debug build: the tool's own Rust unoptimised, DuckDB at -O2" ;;
    */release/*) profile="release build" ;;
    *) profile="build profile unknown" ;;
  esac
  echo "etlx: $etlx ($profile)"
fi
if [ -z "$skip_dbt" ]; then
  echo "dbt: $("$venv/bin/python" -c 'import importlib.metadata as m; print("dbt-core", m.version("dbt-core") + ", dbt-duckdb", m.version("dbt-duckdb"))') ($venv)"
fi
echo
echo "| models | etlx docs generate | dbt docs generate | ratio (dbt/etlx) | etlx lineage |"
echo "|---:|---:|---:|---:|---:|"
notes=()
for n in "${sizes[@]}"; do
  python3 bench/gen_project.py --dbt "$work/dbt$n" "$n"
  cp -r "$work/dbt$n" "$work/etlx$n"
  last_mart="mart_$(( (n / 4 > 1 ? n / 4 : 1) - 1 ))"
  no_build=""
  dbt_build="" etlx_build=""
  if [ -z "$skip_dbt" ]; then
    rc=0
    dbt_build=$(setup dbt "$work/dbt$n") || rc=$?
    if [ $rc -eq 124 ]; then
      # Too long to build: measure both tools on the sources' tables alone.
      no_build=1
      rm -f "$work/dbt$n/bench.duckdb" "$work/dbt$n/bench.duckdb.wal"
      dbt_build=$(setup dbt "$work/dbt$n")
      notes+=("$n models: \`dbt run\` took over ${build_timeout} s, so neither tool built the models: both docs generate ran with only the sources' tables in the warehouse.")
    elif [ $rc -ne 0 ]; then
      exit 1
    fi
  fi
  [ -z "$skip_etlx" ] && etlx_build=$(setup etlx "$work/etlx$n")
  e_docs="" d_docs="" e_lin="" ratio="–"
  [ -z "$skip_dbt" ] && d_docs=$(mean "$work/dbt$n" "$dbt" docs generate --profiles-dir .)
  if [ -z "$skip_etlx" ]; then
    e_docs=$(mean "$work/etlx$n" "$etlx" --project-dir . --quiet docs generate)
    e_lin=$(mean "$work/etlx$n" "$etlx" --project-dir . --quiet lineage "$last_mart")
  fi
  [ -n "$e_docs" ] && [ -n "$d_docs" ] && ratio=$(printf "%.1f×" "$(echo "$d_docs / $e_docs" | bc -l)")
  printf "| %d | %s | %s | %s | %s |\n" "$n" "$(secs "$e_docs")" "$(secs "$d_docs")" "$ratio" "$(secs "$e_lin")"
  if [ -z "$no_build" ]; then
    built=()
    [ -z "$skip_dbt" ] && built+=("dbt run $(secs "$dbt_build")")
    [ -z "$skip_etlx" ] && built+=("etlx run $(secs "$etlx_build")")
    notes+=("$n models: built once before timing (not part of the comparison): $(IFS=,; echo "${built[*]}" | sed 's/,/, /g').")
  fi
done
echo
echo "Each cell: mean of 3 runs after one warm-up run. etlx lineage: the last mart (mart_<n/4 - 1>), every column's upstream tree."
for note in "${notes[@]}"; do echo "$note"; done

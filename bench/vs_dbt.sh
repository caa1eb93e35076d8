#!/usr/bin/env bash
# etlx against dbt-core + dbt-duckdb on generated projects, in the same run, on the same
# machine: `compile` of N layered models (bench/gen_project.py: macros, dispatch, ephemerals,
# YAML tests) and `run` of N trivial models (`--trivial`: tables and views over `range()`),
# both at 1 thread. dbt is installed offline by ../shared/bench/install_dbt.sh.
#
#   bench/vs_dbt.sh            # N = 1000
#   bench/vs_dbt.sh 200        # a quick run
set -euo pipefail
cd "$(dirname "$0")/.."
n="${1:-1000}"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/etlx-build}"
profile="${ETLX_BENCH_PROFILE:-release}"
cargo build --quiet --profile "$profile" --bin etlx
etlx="$CARGO_TARGET_DIR/$([ "$profile" = dev ] && echo debug || echo "$profile")/etlx"
venv="${DBT_VENV:-$HOME/.cache/dbt-venv}"
[ -x "$venv/bin/dbt" ] || VENV="$venv" bash ../shared/bench/install_dbt.sh
dbt="$venv/bin/dbt"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

# Seconds and peak RSS (MB) of a command, into $seconds and $rss; the command must succeed.
timed() {
  local start
  start=$(date +%s.%N)
  if ! /usr/bin/time -f %M -o "$work/rss" "$@" > "$work/out" 2>&1; then
    tail -20 "$work/out"
    echo "failed: $*" >&2
    exit 1
  fi
  seconds=$(echo "$(date +%s.%N) - $start" | bc -l)
  rss=$(( $(cat "$work/rss") / 1024 ))
}

row() {
  printf "| %s | %.2f s | %d MB | %.2f s | %d MB | %.1f× |\n" "$1" "$2" "$3" "$4" "$5" "$(echo "$4 / $2" | bc -l)"
}

# `--dbt`: projects both tools read unchanged (dbt_project.yml, profiles.yml).
python3 bench/gen_project.py --dbt "$work/compile" "$n" > /dev/null
python3 bench/gen_project.py --trivial --dbt "$work/run" "$n" > /dev/null

echo "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs), $(date -u +%Y-%m-%d); etlx $profile build; dbt-core $("$dbt" --version | awk '/installed/{print $3}') + dbt-duckdb"
echo
echo "| $n models | etlx | etlx peak RSS | dbt | dbt peak RSS | dbt / etlx |"
echo "|---|---:|---:|---:|---:|---:|"
cd "$work/compile"
timed "$etlx" compile -q
e=$seconds er=$rss
rm -rf target
timed "$dbt" compile --profiles-dir . --threads 1
row "compile" "$e" "$er" "$seconds" "$rss"
cd "$work/run"
timed "$etlx" run -q --threads 1
e=$seconds er=$rss
rm -rf target
timed "$dbt" run --profiles-dir . --threads 1
row "run (trivial models, 1 thread)" "$e" "$er" "$seconds" "$rss"

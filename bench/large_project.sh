#!/usr/bin/env bash
# A large real dbt project built by etlx and by dbt-core + dbt-duckdb, in the same run:
# jaffle-shop-expand (1,058 models, dbt_utils, dbt_date, audit_helper), or any project dir.
#
#   bench/large_project.sh DIR [--exclude ...]
#
# DIR is a checkout of https://github.com/DataRecce/jaffle-shop-expand whose packages.yml
# names the packages as `local:` folders (there is no network here). Its two largest seeds
# (raw_orders, raw_items) are not in every snapshot of the repository; when missing they are
# generated (seeded, 60,000 orders). Both tools get a copy of DIR, run `deps` and `seed`
# (untimed), then `build` of the same selection, timed with peak memory, at the profile's 4
# threads; then etlx alone at 1 thread, and the SQL it sent replayed by the duckdb crate
# (examples/replay_sql.rs): what DuckDB itself spent, and what is left for etlx.
#
# Extra arguments are passed to both builds. Models that need DuckDB's ICU extension (which
# the bundled DuckDB lacks; dbt-duckdb has it) are left out by default, from both.
set -euo pipefail
cd "$(dirname "$0")/.."
src="$(cd "${1:?usage: bench/large_project.sh DIR [build args]}" && pwd)"
shift
select=("$@")
[ ${#select[@]} -gt 0 ] || select=(--exclude metricflow_time_spine+ util_date_spine+ \
  dq_missing_inventory_counts+ int_stock_depletion_rate+ rpt_warehouse_capacity_forecast+)
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/etlx-build}"
profile="${ETLX_BENCH_PROFILE:-release}"
cargo build --quiet --profile "$profile" --bin etlx --example replay_sql
dir=$([ "$profile" = dev ] && echo debug || echo "$profile")
etlx="$CARGO_TARGET_DIR/$dir/etlx"
replay="$CARGO_TARGET_DIR/$dir/examples/replay_sql"
venv="${DBT_VENV:-$HOME/.cache/dbt-venv}"
[ -x "$venv/bin/dbt" ] || VENV="$venv" bash ../shared/bench/install_dbt.sh
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
vars='{load_source_data: true}'

for tool in etlx dbt; do
  cp -r "$src" "$work/$tool"
  rm -rf "$work/$tool/target" "$work/$tool/dbt_packages" "$work/$tool"/*.duckdb
  # Local packages are relative to the project: keep them where they were.
  sed -i "s#local: \.\./#local: $(dirname "$src")/#" "$work/$tool/packages.yml"
done
seeds="$work/etlx/seeds/jaffle-data"
if [ -d "$seeds" ] && [ ! -s "$seeds/raw_orders.csv" ]; then
  python3 bench/jaffle_orders.py "$seeds"
  cp "$seeds"/raw_orders.csv "$seeds"/raw_items.csv "$work/dbt/seeds/jaffle-data/"
fi

# Seconds and peak RSS (MB) of a command, into $seconds and $rss.
timed() {
  local start
  start=$(date +%s.%N)
  /usr/bin/time -f %M -o "$work/rss" "$@" > "$work/out" 2>&1 || {
    tail -20 "$work/out"
    echo "failed: $*" >&2
  }
  seconds=$(echo "$(date +%s.%N) - $start" | bc -l)
  rss=$(( $(tail -1 "$work/rss") / 1024 ))
}

(cd "$work/etlx" && "$etlx" deps -q && "$etlx" seed -q --vars "$vars") > /dev/null
(cd "$work/dbt" && "$venv/bin/dbt" deps --profiles-dir . && "$venv/bin/dbt" seed --profiles-dir . --vars "$vars") > /dev/null
# Models the bundled DuckDB cannot run (ICU: time zones, timestamptz arithmetic) fail in
# etlx and skip what is downstream: found in an untimed build, they and their descendants
# are left out of both tools' timed builds, so both do the same work.
(cd "$work/etlx" && "$etlx" build -q --vars "$vars" --exclude resource_type:seed "${select[@]}") > /dev/null 2>&1 || true
failing=$(grep -o '"unique_id":"model\.[^"]*","status":"error"' "$work/etlx/target/run_results.json" | sed 's/.*model\.[^.]*\.\([^"]*\)".*/\1+/' || true)
if [ -n "$failing" ]; then
  [ "${select[0]}" = --exclude ] || select+=(--exclude)
  # shellcheck disable=SC2206
  select+=($failing)
fi
rm -f "$work/etlx"/*.duckdb && (cd "$work/etlx" && "$etlx" seed -q --vars "$vars") > /dev/null
models=$(cd "$work/etlx" && "$etlx" ls -q --vars "$vars" --resource-type model "${select[@]}" | wc -l)

cd "$work/dbt"
timed "$venv/bin/dbt" build --profiles-dir . --vars "$vars" --exclude resource_type:seed "${select[@]}"
dbt_s=$seconds dbt_rss=$rss
dbt_ok=$(grep -o '"status": *"\(success\|pass\)"' target/run_results.json | wc -l)
cd "$work/etlx"
timed "$etlx" build -q --vars "$vars" --exclude resource_type:seed "${select[@]}"
etlx_s=$seconds etlx_rss=$rss
etlx_ok=$(grep -o '"status":"[a-z]*"' target/run_results.json | grep -c 'success\|pass' || true)
rm -f ./*.duckdb && "$etlx" seed -q --vars "$vars" > /dev/null
ETLX_SQL_LOG="$work/sql.log" timed "$etlx" build -q --threads 1 --vars "$vars" --exclude resource_type:seed "${select[@]}"
one_s=$seconds
rm -f ./*.duckdb && "$etlx" seed -q --vars "$vars" > /dev/null
cp ./*.duckdb "$work/replay.duckdb"
timed "$replay" "$work/sql.log" "$work/replay.duckdb"
replay_s=$seconds

echo "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs), $(date -u +%Y-%m-%d); etlx $profile build; dbt-core $("$venv/bin/dbt" --version | awk '/installed/{print $3}') with dbt-duckdb"
echo "project: $(basename "$src"), $models models selected; build after seed, 4 threads"
echo
echo "| | time | peak RSS | nodes ok | dbt / etlx |"
echo "|---|---:|---:|---:|---:|"
printf "| dbt build | %.1f s | %d MB | %d | |\n" "$dbt_s" "$dbt_rss" "$dbt_ok"
printf "| etlx build | %.1f s | %d MB | %d | %.1f× |\n" "$etlx_s" "$etlx_rss" "$etlx_ok" "$(echo "$dbt_s / $etlx_s" | bc -l)"
printf "| etlx build, 1 thread | %.1f s | | | |\n" "$one_s"
printf "| its SQL replayed by DuckDB alone, 1 connection | %.1f s | | | |\n" "$replay_s"
printf "\netlx's own share at 1 thread: %.1f s of %.1f s (%.0f%%)\n" "$(echo "$one_s - $replay_s" | bc -l)" "$one_s" "$(echo "100 * ($one_s - $replay_s) / $one_s" | bc -l)"

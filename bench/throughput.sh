#!/usr/bin/env bash
# End-to-end throughput of the demo warehouse: `etlx generate` writes a landing zone of
# BATCHES batches of EVENTS events (default 10 x 250,000, about 1 GB of JSON lines) held
# back, then lands them one at a time, running a plain `etlx build` (no vars: the file ledger
# finds the new files) after each: staging, star schema upserts, analytics and every data
# test, as a pipeline running every few minutes would. Flat per-batch times mean the cost of
# a run follows the batch, not the history. The whole-history
# reconciliation tests (tag:audit) run once at the end, as a nightly job would, and are timed
# apart. Each build logs the SQL it sends (ETLX_SQL_LOG); the reference
# replays exactly those statements through the duckdb crate with nothing around them
# (examples/replay_sql.rs), in the same run, on the same machine. The same again from Parquet.
#
#   bench/throughput.sh                 # 10 batches x 250,000 events
#   bench/throughput.sh 4 50000         # a quick run
#   THROUGHPUT_FORMATS=json THROUGHPUT_MEMORY_LIMIT=300MB bench/throughput.sh 8
#                                       # JSON only; DuckDB's memory_limit set in the profile
#
# Prints a markdown table per format: per-batch time, events/s, MB/s of raw input, peak
# memory (max RSS) and the etlx/reference ratio.
set -euo pipefail
cd "$(dirname "$0")/.."
batches="${1:-10}"
events="${2:-250000}"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/etlx-build}"
profile="${ETLX_BENCH_PROFILE:-release}"   # ETLX_BENCH_PROFILE=dev: no release build needed
bin="$CARGO_TARGET_DIR/$([ "$profile" = dev ] && echo debug || echo "$profile")"
cargo build --quiet --profile "$profile" --bin etlx --example replay_sql
etlx="$bin/etlx"
replay="$bin/examples/replay_sql"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

# The demo project without its sample landing zone.
mkdir -p "$work/p"
cp -r models macros seeds etlx_project.yml profiles.yml "$work/p/"
mkdir -p "$work/p/tests" && cp tests/*.sql "$work/p/tests/"
cd "$work/p"
if [ -n "${THROUGHPUT_MEMORY_LIMIT:-}" ]; then
  sed -i "s/^      path: etlx_demo.duckdb$/&\n      memory_limit: $THROUGHPUT_MEMORY_LIMIT/" profiles.yml
  grep -q "memory_limit: $THROUGHPUT_MEMORY_LIMIT" profiles.yml
  echo "DuckDB memory_limit: $THROUGHPUT_MEMORY_LIMIT"
fi
"$etlx" generate --out held --batches "$batches" --events "$events" --quiet
"$etlx" generate --out held --batches "$batches" --events "$events" --format parquet --quiet
mkdir -p landing/events && cp -r held/songs landing/

now() { date +%s.%N; }
echo "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs), $(free -g | awk '/Mem:/{print $2}') GB RAM"
echo "etlx and the reference: $profile builds (DuckDB at its default threads);"
echo "per batch: land it, then etlx build --threads 1 --exclude tag:audit --exclude-resource-type unit_test"
echo "floor: DuckDB alone copying the batch's files into one table (read once, write once)"
for format in ${THROUGHPUT_FORMATS:-json parquet}; do
  # Each format starts from an empty warehouse and an empty landing zone.
  rm -rf target ref.duckdb floor.duckdb etlx_demo.duckdb ./*.log landing/events/*
  echo
  echo "### $format: $batches batches of ~$events events"
  echo
  echo "| batch | events | input MB | etlx build | reference | etlx/reference | events/s | MB/s (JSON) | peak RSS | floor |"
  echo "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
  te=0; tr=0; tf=0; tev=0; tmb=0; peak=0
  for k in $(seq -f "%03g" 1 "$batches"); do
    dir="landing/events/batch_$k"
    cp -r "held/events/batch_$k" "$dir"
    n=$(wc -l < "$dir/events.json")
    # MB/s counts the raw JSON lines either way: the input the pipeline stands for.
    mb=$(echo "$(stat -c %s "$dir/events.json") / 1000000" | bc -l)
    start=$(now)
    ETLX_SQL_LOG="$work/p/batch_$k.log" /usr/bin/time -f %M -o rss.txt \
      "$etlx" build --quiet --threads 1 --exclude tag:audit --exclude-resource-type unit_test \
      --vars "{landing_format: $format}"
    e=$(echo "$(now) - $start" | bc -l)
    rss=$(( $(cat rss.txt) / 1024 ))
    start=$(now)
    "$replay" "batch_$k.log" ref.duckdb > /dev/null
    r=$(echo "$(now) - $start" | bc -l)
    # The floor: the least any pipeline that keeps the batch must pay, on the same engine.
    # The reader is the one the build used (its explicit columns), taken from its SQL log.
    reader=$(grep -o -m1 -E "read_(json|parquet)\(\[?'landing/events/[^)]*\)" "batch_$k.log")
    printf 'create or replace table floor_copy as select * from %s\n-- etlx:end-of-statement\n' \
      "$reader" > floor.sql
    start=$(now)
    "$replay" floor.sql floor.duckdb > /dev/null
    fl=$(echo "$(now) - $start" | bc -l)
    printf "| %s | %d | %.1f | %.2f s | %.2f s | %.2f× | %.0f | %.1f | %d MB | %.2f s |\n" \
      "$k" "$n" "$mb" "$e" "$r" "$(echo "$e / $r" | bc -l)" "$(echo "$n / $e" | bc -l)" \
      "$(echo "$mb / $e" | bc -l)" "$rss" "$fl"
    te=$(echo "$te + $e" | bc -l); tr=$(echo "$tr + $r" | bc -l); tf=$(echo "$tf + $fl" | bc -l)
    tev=$((tev + n)); tmb=$(echo "$tmb + $mb" | bc -l); peak=$(( rss > peak ? rss : peak ))
  done
  printf "| **all** | %d | %.1f | %.2f s | %.2f s | %.2f× | %.0f | %.1f | %d MB | %.2f s |\n" \
    "$tev" "$tmb" "$te" "$tr" "$(echo "$te / $tr" | bc -l)" "$(echo "$tev / $te" | bc -l)" \
    "$(echo "$tmb / $te" | bc -l)" "$peak" "$tf"
  echo
  printf "The floor alone: %.0f events/s, %.1f MB/s of JSON.\n" "$(echo "$tev / $tf" | bc -l)" \
    "$(echo "$tmb / $tf" | bc -l)"
  start=$(now)
  "$etlx" test --quiet --threads 1 --select tag:audit
  echo
  printf "Audit (the reconciliation tests over all %d events, once): %.2f s\n" "$tev" \
    "$(echo "$(now) - $start" | bc -l)"
done

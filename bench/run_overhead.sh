#!/usr/bin/env bash
# What `etlx run` itself costs per model: a generated project of N trivial models (default
# 1000; a chain of tables and views, each selecting a few rows from its parent) built by
# `etlx run`, against the same compiled SQL executed by the duckdb crate directly
# (examples/duckdb_reference.rs), on the same machine, in the same run.
#
#   bench/run_overhead.sh          # 1000 models
#   bench/run_overhead.sh 5000
#
# Release builds of both by default (ETLX_BENCH_PROFILE=dev for the dev profile, whose Rust
# code is unoptimised: an upper bound of the overhead).
set -euo pipefail
cd "$(dirname "$0")/.."
n="${1:-1000}"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/etlx-build}"
profile="${ETLX_BENCH_PROFILE:-release}"   # ETLX_BENCH_PROFILE=dev: no release build needed
bin="$CARGO_TARGET_DIR/$([ "$profile" = dev ] && echo debug || echo "$profile")"
cargo build --quiet --profile "$profile" --bin etlx --example duckdb_reference
etlx="$bin/etlx"
reference="$bin/examples/duckdb_reference"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
python3 bench/gen_project.py --trivial "$work/p" "$n"

median() { sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
# Seconds of one run of "$@".
seconds() {
  local start
  start=$(date +%s.%N)
  "$@" > /dev/null
  echo "$(date +%s.%N) - $start" | bc -l
}
# A/B pairs, interleaved: on a shared machine the load drifts, and a pair sees the same load.
runs=5
etlx_times=() ref_times=() ratios=()
for _ in $(seq $runs); do
  rm -f "$work/p/target/bench.duckdb" "$work/ref.duckdb"
  e=$(seconds "$etlx" --project-dir "$work/p" run --quiet --threads 1)
  r=$(seconds "$reference" "$work/p/target/manifest.json" "$work/ref.duckdb")
  etlx_times+=("$e") ref_times+=("$r") ratios+=("$(echo "$e / $r" | bc -l)")
done
e=$(printf '%s\n' "${etlx_times[@]}" | median)
r=$(printf '%s\n' "${ref_times[@]}" | median)
ratio=$(printf '%s\n' "${ratios[@]}" | median)
echo "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs)"
echo
echo "| models | etlx run (median of $runs, 1 thread) | DuckDB direct (median) | ratio (median of $runs pairs) | etlx overhead per model |"
echo "|---:|---:|---:|---:|---:|"
printf "| %d | %.3f s | %.3f s | %.2f× | %.2f ms |\n" "$n" "$e" "$r" "$ratio" \
  "$(echo "($e - $r) * 1000 / $n" | bc -l)"

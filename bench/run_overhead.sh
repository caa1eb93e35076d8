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

best() { sort -n | head -1; }
runs=3
etlx_times=()
for _ in $(seq $runs); do
  rm -f "$work/p/target/bench.duckdb"
  start=$(date +%s.%N)
  "$etlx" --project-dir "$work/p" run --quiet --threads 1
  etlx_times+=("$(echo "$(date +%s.%N) - $start" | bc -l)")
done
ref_times=()
for _ in $(seq $runs); do
  rm -f "$work/ref.duckdb"
  start=$(date +%s.%N)
  "$reference" "$work/p/target/manifest.json" "$work/ref.duckdb" > /dev/null
  ref_times+=("$(echo "$(date +%s.%N) - $start" | bc -l)")
done
e=$(printf '%s\n' "${etlx_times[@]}" | best)
r=$(printf '%s\n' "${ref_times[@]}" | best)
echo "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs)"
echo
echo "| models | etlx run (best of $runs, 1 thread) | DuckDB direct | ratio | etlx overhead per model |"
echo "|---:|---:|---:|---:|---:|"
printf "| %d | %.3f s | %.3f s | %.2f× | %.2f ms |\n" "$n" "$e" "$r" "$(echo "$e / $r" | bc -l)" \
  "$(echo "($e - $r) * 1000 / $n" | bc -l)"

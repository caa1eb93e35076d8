#!/usr/bin/env bash
# Every figure of the README's "Performance" section, regenerated in one run, with the
# machine and the date: paste the output over that section's tables.
#
#   bench/all.sh [JAFFLE_DIR]     # JAFFLE_DIR: see bench/large_project.sh (skipped without)
#
# Each script builds what it needs (release profile unless ETLX_BENCH_PROFILE=dev) and
# measures its reference in the same invocation. Nothing else should run meanwhile: on 2
# cores, another build doubles every figure.
set -euo pipefail
cd "$(dirname "$0")/.."
section() { printf '\n#### %s\n\n' "$1"; }
echo "# etlx performance, $(date -u +%Y-%m-%d), $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs)"
section "Compile (bench/compile.sh)"
bash bench/compile.sh
section "etlx against dbt-core on generated projects (bench/vs_dbt.sh)"
bash bench/vs_dbt.sh 1000
section "What etlx run adds to DuckDB (bench/run_overhead.sh)"
bash bench/run_overhead.sh 1000
section "The demo pipeline (bench/throughput.sh)"
bash bench/throughput.sh "${THROUGHPUT_BATCHES:-6}" "${THROUGHPUT_EVENTS:-250000}"
section "Skipping what is unchanged (bench/skip_unchanged.sh)"
bash bench/skip_unchanged.sh
if [ $# -gt 0 ]; then
  section "A large public project (bench/large_project.sh)"
  bash bench/large_project.sh "$1"
fi

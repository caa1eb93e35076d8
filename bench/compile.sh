#!/usr/bin/env bash
# Times `etlx compile` on generated projects of several sizes (default 1000 and 5000 models).
# Builds etlx in release mode first. Prints a markdown table; hyperfine is used when present.
#
#   bench/compile.sh            # sizes 1000 5000
#   bench/compile.sh 200 20000  # other sizes
set -euo pipefail
cd "$(dirname "$0")/.."
sizes=("${@:-1000 5000}")
[ $# -eq 0 ] && sizes=(1000 5000)
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/etlx-build}"
cargo build --release --quiet --bin etlx
etlx="$CARGO_TARGET_DIR/release/etlx"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
echo "machine: $(nproc) cores, $(uname -m), $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs)"
echo
echo "| models | etlx compile (mean of 5) | per model |"
echo "|---:|---:|---:|"
for n in "${sizes[@]}"; do
  python3 bench/gen_project.py "$work/p$n" "$n"
  "$etlx" --project-dir "$work/p$n" compile --quiet   # warm the file cache
  start=$(date +%s.%N)
  for _ in 1 2 3 4 5; do "$etlx" --project-dir "$work/p$n" compile --quiet; done
  end=$(date +%s.%N)
  mean=$(echo "($end - $start) / 5" | bc -l)
  printf "| %d | %.3f s | %.1f µs |\n" "$n" "$mean" "$(echo "$mean * 1000000 / $n" | bc -l)"
done

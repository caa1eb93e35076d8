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
echo "| models | warm (median of 5) | per model | peak RSS | cold: fresh copy, no target/ (median of 3) |"
echo "|---:|---:|---:|---:|---:|"
# Seconds of one compile of project $1.
once() {
  local start
  start=$(date +%s.%N)
  /usr/bin/time -f %M -o "$work/rss" "$etlx" --project-dir "$1" compile --quiet
  echo "$(date +%s.%N) - $start" | bc -l
}
median() { sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
for n in "${sizes[@]}"; do
  python3 bench/gen_project.py "$work/p$n" "$n"
  once "$work/p$n" > /dev/null   # warm the file cache
  warm=$(for _ in 1 2 3 4 5; do once "$work/p$n"; done | median)
  rss=$(( $(cat "$work/rss") / 1024 ))
  # Cold: a copy made beforehand, so the compile writes target/ into a fresh tree.
  cold=$(for k in 1 2 3; do
    cp -r "$work/p$n" "$work/c$n$k" && rm -rf "$work/c$n$k/target" && sync
    once "$work/c$n$k"
  done | median)
  printf "| %d | %.2f s | %.0f µs | %d MB | %.2f s |\n" "$n" "$warm" "$(echo "$warm * 1000000 / $n" | bc -l)" "$rss" "$cold"
done

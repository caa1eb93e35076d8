#!/usr/bin/env bash
# What `--skip-unchanged` saves on the demo warehouse: BATCHES batches of EVENTS events land,
# then `etlx build --skip-unchanged` runs three times, as a pipeline scheduled every few
# minutes would: a full build (nothing recorded yet), a build with no new landing file (every
# node is reused), and a build after one more batch lands (only what the events feed is
# rebuilt; the song catalog's side is reused). The reference is the full build of the same
# run. Prints a markdown table: time, peak memory, nodes built and reused, share of the full
# build.
#
#   bench/skip_unchanged.sh             # 4 batches x 100,000 events (~160 MB of JSON), +1
#   bench/skip_unchanged.sh 2 5000      # a quick run
set -euo pipefail
cd "$(dirname "$0")/.."
batches="${1:-4}"
events="${2:-100000}"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/etlx-build}"
profile="${ETLX_BENCH_PROFILE:-release}"   # ETLX_BENCH_PROFILE=dev: no release build needed
bin="$CARGO_TARGET_DIR/$([ "$profile" = dev ] && echo debug || echo "$profile")"
cargo build --quiet --profile "$profile" --bin etlx
etlx="$bin/etlx"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

mkdir -p "$work/p"
cp -r models macros seeds snapshots etlx_project.yml profiles.yml "$work/p/"
mkdir -p "$work/p/tests" && cp tests/*.sql "$work/p/tests/"
cd "$work/p"
"$etlx" generate --out held --batches "$((batches + 1))" --events "$events" --quiet
mkdir -p landing/events && cp -r held/songs landing/
for k in $(seq -f "%03g" 1 "$batches"); do cp -r "held/events/batch_$k" landing/events/; done

now() { date +%s.%N; }
# Seconds, peak RSS and the status counts of one build.
build() {
  local start end
  start=$(now)
  /usr/bin/time -f %M -o rss.txt "$etlx" build --quiet --skip-unchanged
  end=$(now)
  seconds=$(echo "$end - $start" | bc -l)
  rss=$(( $(cat rss.txt) / 1024 ))
  local statuses
  statuses=$(grep -o '"status":"[a-z ]*"' target/run_results.json || true)
  built=$(echo "$statuses" | grep -vc reused || true)
  reused=$(echo "$statuses" | grep -c reused || true)
}

echo "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs), $(date -u +%Y-%m-%d)"
echo "etlx: $profile build; $batches batches of ~$events events landed, then one more"
echo
echo "| build | time | peak RSS | built | reused | share of the full build |"
echo "|---|---:|---:|---:|---:|---:|"
build
full=$seconds
printf "| full (nothing recorded) | %.2f s | %d MB | %d | %d | 100%% |\n" "$seconds" "$rss" "$built" "$reused"
build
printf "| no new landing file | %.2f s | %d MB | %d | %d | %.1f%% |\n" "$seconds" "$rss" "$built" "$reused" "$(echo "100 * $seconds / $full" | bc -l)"
cp -r "held/events/batch_$(printf %03d $((batches + 1)))" landing/events/
build
printf "| one new batch | %.2f s | %d MB | %d | %d | %.1f%% |\n" "$seconds" "$rss" "$built" "$reused" "$(echo "100 * $seconds / $full" | bc -l)"

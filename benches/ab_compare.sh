#!/usr/bin/env bash
# Before/after comparison of two weir builds on one job, in alternating runs (the 2-core VM drifts, so the
# two are interleaved rather than run back to back), 1 and 2 workers; prints the median wall time of each
# and the ratio. INPUT is the job's input file (passed as WEIR_VIBRATION_INPUT and WEIR_LOCATIONS_INPUT, which
# the reference jobs read). Build the "before" binary from another commit first, e.g.
#
#   git worktree add /tmp/before HEAD~3 && (cd /tmp/before && CARGO_TARGET_DIR=/tmp/before-target cargo build --release)
#   benches/ab_compare.sh /tmp/before-target/release/weir /tmp/before/config/vibration-rollup.toml \
#       target/release/weir config/vibration-rollup.toml target/bench-data/vibration-200x14h.jsonl 5
set -euo pipefail
[ $# -eq 6 ] || { echo "usage: $0 BEFORE_BIN BEFORE_JOB AFTER_BIN AFTER_JOB INPUT RUNS" >&2; exit 2; }
before_bin=$1 before_job=$2 after_bin=$3 after_job=$4 input=$5 runs=$6
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
run() { # BIN JOB WORKERS → wall seconds
  local start end
  start=$(date +%s.%N)
  WEIR_OUT="$out" WEIR_VIBRATION_INPUT="$input" WEIR_LOCATIONS_INPUT="$input" "$1" run "$2" --workers "$3" --quiet --fresh >/dev/null 2>&1
  end=$(date +%s.%N)
  awk -v a="$start" -v b="$end" 'BEGIN { printf "%.3f\n", b - a }' 
}
median() { sort -n | awk '{a[NR]=$1} END {print (NR % 2) ? a[(NR+1)/2] : (a[NR/2] + a[NR/2+1]) / 2}'; }
for w in 1 2; do
  b=() a=()
  for _ in $(seq "$runs"); do
    b+=("$(run "$before_bin" "$before_job" "$w")")
    a+=("$(run "$after_bin" "$after_job" "$w")")
  done
  mb=$(printf '%s\n' "${b[@]}" | median)
  ma=$(printf '%s\n' "${a[@]}" | median)
  printf 'workers %d: before %s s (runs %s), after %s s (runs %s), after/before %.3f\n' \
    "$w" "$mb" "${b[*]}" "$ma" "${a[*]}" "$(awk -v a="$ma" -v b="$mb" 'BEGIN { print a / b }')"
done

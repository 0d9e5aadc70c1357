#!/usr/bin/env bash
# Measures what a TCG capture costs in guest time: guest seconds per host-core second, for 1,
# 2 and 5 PostgreSQL guests (and one busybox sorting guest), with the access plugin and
# -icount, without the plugin (--content-only), and without either (--icount-shift off).
# Each run warms up for WARMUP, then captures DURATION; the capture reads every guest's clock
# over QMP at the trace's start and end and prints the figure (snapshots included in the wall
# time). Prints one table row per run. Needs scripts/capture-setup.sh --server first; run it on
# an otherwise idle machine (the figure is a share of the host's cores).
# Usage: bash scripts/capture-speed.sh [OUT_DIR]   (WARMUP=40s DURATION=90s by default)
. "$(dirname "$0")/lib.sh"
out=${1:-$(mktemp -d)}
mkdir -p "$out"
warmup=${WARMUP:-40s}
duration=${DURATION:-90s}
tt_build checked
modes=("plugin|" "content-only|--content-only" "content-only, host clock|--content-only --icount-shift off")
printf '| workload | guests | mode | guest s | wall s | guest s per host-core s |\n|---|---|---|---|---|---|\n'
run() {
  local workload=$1 count=$2 mode=$3 flags=$4
  local log="$out/${workload%%,*}-$count-${mode//[ ,]/_}.log"
  # shellcheck disable=SC2086
  "$tt" capture --vm "$workload,count=$count" $flags --warmup "$warmup" --duration "$duration" \
    --interval 30s --level 1 -o "$out/t.mtr.zst" 2>"$log" >/dev/null
  rm -f "$out/t.mtr.zst"
  awk -v w="${workload%%,*}" -v n="$count" -v m="$mode" '
    /guest seconds in/ { printf "| %s | %d | %s | %s | %s | %s |\n", w, n, m, $2, $6, $(NF-5) }' "$log"
}
for count in 1 2 5; do
  for m in "${modes[@]}"; do run postgres,mem=768,seed=7 "$count" "${m%%|*}" "${m#*|}"; done
done
for m in "${modes[@]}"; do run sort,mem=256,seed=3 1 "${m%%|*}" "${m#*|}"; done

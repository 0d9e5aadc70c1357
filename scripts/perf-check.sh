#!/usr/bin/env bash
# A short performance-regression check (part of the test command): replays a small generated
# trace and compares the replay's time with a decode-only pass of the same trace in the same
# run. Fails when the ratio is more than 2x the baseline below: a ratio, not a time, so a busy
# machine does not fail it, but a replay that got twice as slow against decoding does.
. "$(dirname "$0")/lib.sh"
# replay / decode-only time on a 3 M-record `bench` trace, this 2-core machine (medians of 5;
# 4.3-6.2 seen across runs; 5.85 once with the tests' build). It uses the checked build the tests built: `bench` turns
# the per-record check off, so that build times the same work as a release build (and the test
# command builds one configuration fewer).
baseline=5.0
if [ -n "${TT_BIN:-}" ]; then tt=$TT_BIN; else tt_build checked; fi
out=$("$tt" bench replay --records 3000000 --runs 5)
ratio=$(printf '%s\n' "$out" | awk '/^ratio/ {print $NF}')
limit=$(awk -v b="$baseline" 'BEGIN {print 2 * b}')
if awk -v r="$ratio" -v l="$limit" 'BEGIN {exit !(r > l)}'; then
  printf '%s\n' "$out" >&2
  echo "perf-check: replay / decode-only = $ratio, more than 2x the baseline $baseline" >&2
  exit 1
fi
echo "perf-check: replay / decode-only = $ratio (baseline $baseline, limit $limit)"

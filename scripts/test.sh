#!/usr/bin/env bash
# The whole test suite: install what is missing, build, run every test, check every bundled
# trace with zstd -t and tracetool validate, then fuzz each parser briefly.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/deps.sh
swift build --product tracetool
swift test --parallel
for f in traces/*.mtr.zst traces/*.txt.zst; do
  [ -e "$f" ] || continue
  zstd -tq "$f"
  .build/debug/tracetool validate "$f"
done
# Each fuzz target for 20 s (address sanitizer, leak checks): fails on a crash, leak or timeout.
bash scripts/fuzz.sh all 20

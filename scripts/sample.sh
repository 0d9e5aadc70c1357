#!/usr/bin/env bash
# The main job on the bundled sample: install what is missing, build, then inspect, validate
# and replay traces/sample.mtr.zst.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/deps.sh
swift build -c release --product tracetool
bin=.build/release/tracetool
$bin info traces/sample.mtr.zst
$bin validate traces/sample.mtr.zst
if $bin help replay >/dev/null 2>&1; then
  $bin replay traces/sample.mtr.zst --settle 10m
fi

#!/usr/bin/env bash
# The main job on the bundled sample: install what is missing, build, then inspect, validate
# and replay traces/sample.mtr.zst (4 VMs, 200,000 records) with the ESX defaults.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/deps.sh
swift build -c release --product tracetool
bin=.build/release/tracetool
$bin info traces/sample.mtr.zst
$bin validate traces/sample.mtr.zst
$bin replay traces/sample.mtr.zst --settle 5m

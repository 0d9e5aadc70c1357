#!/usr/bin/env bash
# The main job on the bundled sample: install what is missing, build, then inspect, validate
# and replay traces/sample.mtr.zst (4 VMs, 200,000 records) with the ESX defaults.
. "$(dirname "$0")/lib.sh"
bash scripts/deps.sh
tt_build
bin=$tt
$bin info traces/sample.mtr.zst
$bin validate traces/sample.mtr.zst
$bin replay traces/sample.mtr.zst --settle 5m

#!/usr/bin/env bash
# Regenerates docs/REPRODUCTION.md: the paper's experiments rerun in full (`tracetool
# reproduce --format md`, a few seconds to minutes on two cores), and the HTML report beside it
# in a temporary folder (printed). The tests check the file against the golden reports and the
# README's summary rows against the file.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/deps.sh
swift build -c release --product tracetool >/dev/null
tt=.build/release/tracetool
out=$(mktemp -d)
$tt reproduce --quiet --format md -o docs/REPRODUCTION.md
$tt reproduce --quiet -o "$out/reproduce.html"
echo "wrote docs/REPRODUCTION.md and $out/reproduce.html"

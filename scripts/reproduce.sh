#!/usr/bin/env bash
# Regenerates docs/REPRODUCTION.md: the paper's experiments rerun in full (`tracetool
# reproduce --format md`, a few seconds to minutes on two cores), and the HTML report beside it
# in a temporary folder (printed). The tests check the file against the golden reports and the
# summary rows of docs/GUIDE.md against the file.
. "$(dirname "$0")/lib.sh"
bash scripts/deps.sh
tt_build
out=$(mktemp -d)
$tt reproduce --quiet --format md -o docs/REPRODUCTION.md
# The document is the model's, not one build's: the build line under the title is dropped.
sed -i '/^tracetool [^ ]* (commit .*, built .*)$/{N;d}' docs/REPRODUCTION.md
$tt reproduce --quiet -o "$out/reproduce.html"
echo "wrote docs/REPRODUCTION.md and $out/reproduce.html"

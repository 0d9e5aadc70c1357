#!/usr/bin/env bash
# Man pages and shell completions for a tracetool binary, generated from its command
# definitions (swift-argument-parser): `bash scripts/manpages.sh BIN OUT` writes
#   OUT/man1/tracetool.1 and OUT/man1/tracetool-SUB.1, one page per subcommand and nested
#     subcommand (`man tracetool-replay`, `man tracetool-study-run`), git-style names;
#   OUT/completions/tracetool.bash, _tracetool (zsh), tracetool.fish.
# The pages' date is SOURCE_DATE_EPOCH's (else the last commit's), so they are reproducible.
# generate-manual is argument-parser's own tool, built from the checkout SwiftPM fetched.
. "$(dirname "$0")/lib.sh"
[ $# -eq 2 ] || { echo "usage: scripts/manpages.sh TRACETOOL-BINARY OUT-DIR" >&2; exit 64; }
bin=$(realpath "$1")
out=$2
[ -x "$bin" ] || { echo "manpages: $1 is not an executable" >&2; exit 1; }
checkout=""
for d in .build/checkouts .build/checked/checkouts "${TRACETOOL_PACKAGE_DIR:-/var/tmp/tracetool-package}/build/checkouts"; do
  [ -f "$d/swift-argument-parser/Tools/generate-manual/GenerateManual.swift" ] && { checkout=$d/swift-argument-parser; break; }
done
if [ -z "$checkout" ]; then
  swift package resolve >/dev/null
  checkout=.build/checkouts/swift-argument-parser
fi
swift build --package-path "$checkout" --scratch-path .build-manual --product generate-manual >/dev/null
gen=.build-manual/debug/generate-manual
epoch=${SOURCE_DATE_EPOCH:-$(git log -1 --format=%ct 2>/dev/null || date +%s)}
rm -rf "$out/man1" "$out/completions"
mkdir -p "$out/man1" "$out/completions"
"$gen" "$bin" --multi-page --section 1 --date "$(date -u -d "@$epoch" +%Y-%m-%d)" \
  --authors "the tracetool authors" --output-directory "$out/man1" >/dev/null
# generate-manual names subcommand pages tracetool.replay.1: rename them tracetool-replay.1, and
# their titles and cross-references with them.
for page in "$out"/man1/tracetool.*.1; do
  [ "$page" = "$out/man1/tracetool.1" ] && continue
  name=$(basename "$page" .1)
  mv "$page" "$out/man1/${name//./-}.1"
done
sed -i -E -e '/^\.(Xr|Dt) /{s/(TRACETOOL|tracetool)\.([A-Za-z.-]+)/\1-\2/; s/([A-Za-z])\.([A-Za-z])/\1-\2/g}' "$out"/man1/*.1
"$bin" --generate-completion-script bash >"$out/completions/tracetool.bash"
"$bin" --generate-completion-script zsh >"$out/completions/_tracetool"
"$bin" --generate-completion-script fish >"$out/completions/tracetool.fish"

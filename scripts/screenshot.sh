#!/usr/bin/env bash
# Renders HTML reports of the bundled capture-4vm trace in headless Chromium (Debian's package)
# and saves full-page screenshots in docs/: replay.png (esx at overcommit 2), compare.png (three
# policies at overcommit 2), sweep.png (three policies over an overcommit × idleTax grid with
# three seeds), plan.png (`plan` for three policies with three seeds), and compare-summary.png,
# the top of compare.png. ImageMagick trims the blank space below each page.
# Usage: bash scripts/screenshot.sh [OUTDIR]
. "$(dirname "$0")/lib.sh"
out=${1:-docs}
tt_install chromium fonts-dejavu-core imagemagick
tt_build
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
trace=traces/capture-4vm.mtr.zst
tt=.build/release/tracetool
$tt replay $trace --overcommit 2 --settle 60s --quiet --html "$tmp/replay.html" >/dev/null
$tt compare $trace --policy esx --policy swap-only --policy no-tax --overcommit 2 --settle 60s --quiet \
  --html "$tmp/compare.html" >/dev/null
$tt compare $trace --policy esx --policy swap-only --policy lru-swap --sweep overcommit=1,1.5,2,3 --sweep idleTax=0,0.75 \
  --seeds 3 --jobs 2 --quiet --html "$tmp/sweep.html" >/dev/null
$tt plan $trace --policy esx --policy swap-only --policy no-tax --seeds 3 --jobs 2 --quiet --html "$tmp/plan.html" >/dev/null
mkdir -p "$out"
for page in replay compare sweep plan; do
  chromium --headless --no-sandbox --disable-gpu --hide-scrollbars --window-size=1000,12000 \
    --screenshot="$tmp/$page.png" "file://$tmp/$page.html" >/dev/null 2>&1
  # Trim the blank space below the page, keep a 16-pixel white border; 256 colours keep it small.
  convert "$tmp/$page.png" -trim +repage -bordercolor white -border 16 -strip -dither None -colors 256 PNG8:"$tmp/$page.trimmed.png"
  mv "$tmp/$page.trimmed.png" "$out/$page.png"
  echo "wrote $out/$page.png"
done
# The top of the compare report (summary, table, first bars) for docs/GUIDE.md.
convert "$out/compare.png" -crop 984x1500+0+0 +repage -strip -dither None -colors 256 PNG8:"$tmp/top.png"
mv "$tmp/top.png" "$out/compare-summary.png"
echo "wrote $out/compare-summary.png"

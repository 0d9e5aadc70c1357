#!/usr/bin/env bash
# Renders the HTML report of a bundled trace in headless Chromium (Debian's package) and saves a
# screenshot: docs/report.png (a compare of three policies on traces/sample.mtr.zst, under pressure).
# Usage: bash scripts/screenshot.sh [OUT.png]
set -euo pipefail
cd "$(dirname "$0")/.."
out=${1:-docs/report.png}
command -v chromium >/dev/null 2>&1 || {
  sudo=""; [ "$(id -u)" -eq 0 ] || sudo="sudo"
  $sudo apt-get update -qq && DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq chromium fonts-dejavu-core >/dev/null
}
swift build -c release --product tracetool >/dev/null
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
.build/release/tracetool compare traces/sample.mtr.zst --policy esx --policy no-sharing --policy swap-only \
  --overcommit 1.5 --settle 60s --quiet --html "$tmp/report.html" >/dev/null
chromium --headless --no-sandbox --disable-gpu --hide-scrollbars --window-size=1000,5200 \
  --screenshot="$tmp/report.png" "file://$tmp/report.html" >/dev/null 2>&1
mv "$tmp/report.png" "$out"
echo "wrote $out"

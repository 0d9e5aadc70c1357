#!/usr/bin/env bash
# How time and memory grow with a trace's length: `gen mix` traces of a 1 TiB host (64 VMs of
# 16 GiB, 268,435,456 guest pages) over a day, with 10^7, 10^8 and 10^9 records (or RECORDS="…"),
# each generated to a file, then replayed from it (esx, no pressure), then the largest also
# generated straight into the replay through a pipe (`gen … - | replay -`). Wall and CPU
# seconds and peak RSS from /usr/bin/time; one run each (the 10^9 file is 5.7 GB and takes
# minutes). The replay needs --max-memory: the model plans for the worst case of 48 bytes per
# guest page (12 GiB here), more than the default budget of half this machine's memory.
# Usage: bash scripts/bench-scale.sh [DIR]   (DIR: where the traces go; default a temporary folder)
. "$(dirname "$0")/lib.sh"
tt_build
tt=$(realpath "$tt")
dir=${1:-}
if [ -z "$dir" ]; then
  dir=$(mktemp -d)
  trap 'rm -rf "$dir"' EXIT
fi
scenario=(mix --vms 64 --pages 4194304 --duration 24h)
budget=(--max-memory 16G)
# "LABEL: S s wall, U s user, Y s system, R KiB peak RSS"
measure() {
  local label=$1
  shift
  /usr/bin/time -f "$label: %e s wall, %U s user, %S s system, %M KiB peak RSS" -o "$dir/time.txt" "$@"
  cat "$dir/time.txt"
}
last=""
for n in ${RECORDS:-10000000 100000000 1000000000}; do
  measure "gen $n records" "$tt" gen "${scenario[@]}" --records "$n" "$dir/t.mtr.zst" >/dev/null
  echo "  file $(stat -c %s "$dir/t.mtr.zst") bytes"
  measure "replay $n records" "$tt" replay "$dir/t.mtr.zst" -q "${budget[@]}" -o "$dir/r-$n.txt"
  grep -m1 '^replayed' "$dir/r-$n.txt" | sed 's/^/  /'
  rm -f "$dir/t.mtr.zst"
  last=$n
done
echo "piped: gen $last records - | replay -"
/usr/bin/time -f "  gen: %e s wall, %U s user" -o "$dir/gen-time.txt" \
  "$tt" gen "${scenario[@]}" --records "$last" - 2>/dev/null |
  /usr/bin/time -f "  replay: %e s wall, %U s user, %S s system, %M KiB peak RSS" -o "$dir/replay-time.txt" \
    "$tt" replay - -q "${budget[@]}" -o "$dir/r-pipe.txt"
cat "$dir/gen-time.txt" "$dir/replay-time.txt"
if cmp -s <(tail -n +3 "$dir/r-pipe.txt") <(tail -n +3 "$dir/r-$last.txt"); then
  echo "  the piped report equals the file's (but for the trace's name)"
else
  echo "  the piped report differs from the file's" >&2
  exit 1
fi

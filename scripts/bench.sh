#!/usr/bin/env bash
# Every performance figure of the "Performance" table of docs/GUIDE.md, in one run (release build,
# medians; ratios are measured within one run, so they hold on a busy machine).
# Usage: bash scripts/bench.sh     (RUNS=5 by default; the peer row: scripts/bench-peer.sh)
. "$(dirname "$0")/lib.sh"
runs=${RUNS:-5}
tt_build
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
$tt gen mix "$tmp/bench.mtr.zst" --vms 32 --pages 65536 --records 50000000 --duration 10m --content-fraction 0.05 >/dev/null
echo "== decode";  $tt bench decode --trace "$tmp/bench.mtr.zst" --runs "$runs"
echo "== replay";  $tt bench replay --trace "$tmp/bench.mtr.zst" --runs "$runs" --overcommit 1.5
echo "== stats";   $tt bench stats --trace "$tmp/bench.mtr.zst" --runs "$runs"
echo "== compare"; $tt bench compare --runs "$runs" --records 5000000
echo "== memory: 16 VMs x 4 GiB fully backed"
$tt gen snapshot "$tmp/big.mtr.zst" --vms 16 --pages 1048576 >/dev/null
for _ in $(seq "$runs"); do
  /usr/bin/time -f "%M" $tt replay "$tmp/big.mtr.zst" --quiet -o "$tmp/big.txt" 2>>"$tmp/rss.txt"
done
sort -n "$tmp/rss.txt" | awk -v pages=16777216 '{a[NR]=$1} END {m=a[int((NR+1)/2)]; printf "peak RSS median %d KiB = %.1f bytes per guest page (runs: ", m, m*1024/pages; for(i=1;i<=NR;i++) printf "%s%d", (i>1?" ":""), a[i]; print ")"}'
# The same replay of one VM of 16 pages: what the process holds with no page state to speak of.
$tt gen snapshot "$tmp/tiny.mtr.zst" --vms 1 --pages 16 >/dev/null
for _ in $(seq "$runs"); do
  /usr/bin/time -f "%M" $tt replay "$tmp/tiny.mtr.zst" --quiet -o "$tmp/tiny.txt" 2>>"$tmp/rss-tiny.txt"
done
big=$(sort -n "$tmp/rss.txt" | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}')
sort -n "$tmp/rss-tiny.txt" | awk -v pages=16777216 -v big="$big" '{a[NR]=$1} END {m=a[int((NR+1)/2)]; printf "the same replay of 16 pages: peak RSS median %d KiB; the difference, %.1f bytes per guest page, is what the pages cost (12 of them page state)\n", m, (big-m)*1024/pages}'

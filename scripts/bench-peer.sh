#!/usr/bin/env bash
# tracetool against a cache simulator on the same page accesses: libCacheSim (PyPI
# `libcachesim`, its C core through Python bindings) replays every page access of the
# benchmark trace under LRU, Random and FIFO at a cache of the host's size, beside
# `tracetool replay` (esx, no pressure) on that trace, in one run. tracetool does far more per
# access (pmap, shadow tables, sampling, sharing), so the ratio is a floor, not a like-for-like.
# Usage: bash scripts/bench-peer.sh        (RECORDS=50000000 RUNS=3 by default)
. "$(dirname "$0")/lib.sh"
records=${RECORDS:-50000000}
runs=${RUNS:-3}
venv=.build/peer-venv
python3 -c 'import venv, ensurepip' 2>/dev/null || tt_install python3-venv
[ -x "$venv/bin/python" ] || python3 -m venv "$venv"
"$venv/bin/pip" install -q --disable-pip-version-check "libcachesim==0.3.5"
tt_build
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
# The benchmark trace of `tracetool bench` (32 VMs of 65,536 pages, 5% content records).
$tt gen mix "$tmp/bench.mtr.zst" --vms 32 --pages 65536 --records "$records" --duration 10m --content-fraction 0.05 >/dev/null
$tt bench peer --trace "$tmp/bench.mtr.zst" --runs "$runs" --oracle-out "$tmp/accesses.oracleGeneral" | tee "$tmp/tt.txt"
"$venv/bin/python" - "$tmp/accesses.oracleGeneral" "$tmp/tt.txt" "$runs" <<'PY'
import re, statistics, sys, time
import libcachesim as lcs
path, ttfile, runs = sys.argv[1], sys.argv[2], int(sys.argv[3])
tt = open(ttfile).read()
host_pages = int(re.search(r"host (\d+) pages", tt).group(1))
tt_rate = float(re.search(r"= ([\d.]+) M page accesses/s", tt).group(1))
requests = int(re.search(r"(\d+) page accesses", tt).group(1))
print(f"libCacheSim {lcs.__version__}: cache of {host_pages} pages (the host's size), {requests} requests")
for name in ["LRU", "Random", "FIFO"]:
    times, miss = [], None
    for _ in range(runs):
        reader = lcs.TraceReader(path, lcs.TraceType.ORACLE_GENERAL_TRACE)
        cache = getattr(lcs, name)(cache_size=host_pages * 4096)
        t0 = time.perf_counter()
        miss = cache.process_trace(reader)
        times.append(time.perf_counter() - t0)
    m = statistics.median(times)
    rate = requests / m / 1e6
    print(f"{name:<7} median {m:.3f} s = {rate:.1f} M page accesses/s (runs: {' '.join(f'{t:.3f}' for t in times)}), "
          f"miss ratio {miss[0]:.4f}; tracetool / {name} = {tt_rate / rate:.2f}x")
PY

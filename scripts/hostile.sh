#!/usr/bin/env bash
# Runs tracetool (release build) on hostile inputs, options and outputs, and checks that each
# ends in under 10 s and 2 GiB with exit 0, or with exactly one line on stderr and an exit
# status in 1…127; outputs that must be refused must leave the target as it was. Every case
# runs twice: as it is, and under `ulimit -v 2097152` (2 GiB of address space), where the
# memory budget comes from the limit (docs/GUIDE.md "Every command").
# Usage: bash scripts/hostile.sh            (prints one row per case; exits 1 if any fails)
# The same cases' messages are pinned by the CLI tests (LimitTests, OutputSafetyTests); this
# script adds wall time and peak memory, which tests do not time.
. "$(dirname "$0")/lib.sh"
bash scripts/deps.sh
tt_build
tt=$PWD/$tt
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
max_seconds=10
max_kib=$((2 * 1024 * 1024))
failed=0
printf '%-58s %5s %6s %9s  %s\n' case exit sec "peak MiB" "stderr (first line)"

# check NAME ARGS...: runs tracetool ARGS as it is and under a 2 GiB address-space limit.
check() {
  judge "$1" "" "${@:2}"
  judge "$1 [ulimit -v 2GiB]" 2097152 "${@:2}"
}

# check_stdin NAME FILE ARGS...: check, with FILE on stdin.
check_stdin() {
  stdin_file=$2
  check "$1" "${@:3}"
  stdin_file=/dev/null
}
stdin_file=/dev/null

# judge NAME LIMIT ARGS...: runs tracetool ARGS (under ulimit -v LIMIT KiB unless empty, with
# $stdin_file on stdin), judges it.
judge() {
  local name=$1 limit=$2; shift 2
  local status=0
  if [ -n "$limit" ]; then
    (ulimit -v "$limit"; exec /usr/bin/time -f '%e %M' -o "$dir/time" "$tt" "$@") <"$stdin_file" >"$dir/out" 2>"$dir/err" || status=$?
  else
    /usr/bin/time -f '%e %M' -o "$dir/time" "$tt" "$@" <"$stdin_file" >"$dir/out" 2>"$dir/err" || status=$?
  fi
  read -r secs kib < <(tail -1 "$dir/time")
  local lines
  lines=$(grep -c '' "$dir/err" || true)
  local verdict=ok
  if [ "$status" -ge 128 ]; then verdict="FAIL: killed by a signal"
  elif [ "$status" -ne 0 ] && [ "$lines" -ne 1 ]; then verdict="FAIL: $lines lines on stderr"
  elif awk -v s="$secs" -v m="$max_seconds" 'BEGIN { exit !(s > m) }'; then verdict="FAIL: over ${max_seconds} s"
  elif [ "$kib" -gt "$max_kib" ]; then verdict="FAIL: over 2 GiB"
  fi
  [ "$verdict" = ok ] || failed=1
  printf '%-58s %5s %6s %9s  %s%s\n' "$name" "$status" "$secs" "$((kib / 1024))" "$(head -c 110 "$dir/err" | head -1)" \
    "$([ "$verdict" = ok ] || echo "  <- $verdict")"
}

# unchanged NAME FILE SUM: the refused target must be as it was.
unchanged() {
  if [ "$(stat -c '%F %s %Y' "$2")" != "$3" ]; then echo "FAIL: $1 changed $2"; failed=1; fi
}

sample=traces/sample.mtr.zst
t="$dir/t"; mkdir -p "$t"

# Files.
mkfifo "$t/fifo"; ln -s "$PWD/$sample" "$t/link"; mkdir "$t/folder"
cp "$sample" "$t/in.mtr.zst"; ln "$t/in.mtr.zst" "$t/hard.mtr.zst"
before_in=$(stat -c '%F %s %Y' "$t/in.mtr.zst"); before_link=$(stat -c '%F %s %Y' "$t/link")
check "replay -o FIFO" replay "$sample" -o "$t/fifo" --quiet
check "replay -o symlink" replay "$sample" -o "$t/link" --quiet
check "replay -o directory" replay "$sample" -o "$t/folder" --quiet
check "replay -o its own input" replay "$t/in.mtr.zst" -o "$t/in.mtr.zst" --quiet
check "stats -o its own input (other spelling)" stats "$t/in.mtr.zst" -o "$t/../t/in.mtr.zst"
check "convert X X (hard link)" convert "$t/in.mtr.zst" "$t/hard.mtr.zst"
cp traces/capture-4vm.mtr.zst "$t/capture-4vm.mtr.zst"; before_rep=$(stat -c '%F %s %Y' "$t/capture-4vm.mtr.zst")
check "reproduce -o a trace it reads" reproduce --quick --traces "$t" -o "$t/capture-4vm.mtr.zst"
unchanged "refused outputs" "$t/capture-4vm.mtr.zst" "$before_rep"
unchanged "refused outputs" "$t/in.mtr.zst" "$before_in"
unchanged "refused outputs" "$t/link" "$before_link"
[ -p "$t/fifo" ] || { echo "FAIL: the FIFO was replaced"; failed=1; }

# Time.
printf 'hash,xxh3-64\nvm,0,a,16\n0,0,R,5\n18446744073709551615,0,R,5\n' > "$t/far.mtr.txt"
check "replay of a 2^64 us span (45 bytes)" replay "$t/far.mtr.txt" --quiet
printf 'hash,xxh3-64\nvm,0,a,1024\nvm,1,b,1024\n0,0,W,0,64\n0,1,W,0,64\n0,0,C,3,0000000000000077\n0,1,C,3,0000000000000077\n94670208000000,0,R,1\n94670208000000,1,R,2\n' > "$t/years.mtr.txt"
check "replay of a 3-year span" replay "$t/years.mtr.txt" --quiet
check "replay of a 3-year span, --overcommit 2" replay "$t/years.mtr.txt" --overcommit 2 --quiet
check "replay --settle 1000000h" replay "$sample" --settle 1000000h --quiet
check "replay --settle 1000000h --until 2h" replay "$sample" --settle 1000000h --until 2h --quiet
check "stats --interval 1us" stats "$sample" --interval 1us
check "replay --timeline-interval 1us" replay "$sample" --timeline "$t/tl.csv" --timeline-interval 1us --quiet
check "replay 3-year span --timeline-interval 1s" replay "$t/years.mtr.txt" --timeline "$t/tl.csv" --timeline-interval 1s --quiet
# Traces on stdin.
head -c 1048576 /dev/urandom >"$t/random.bin"
head -c 30000 "$sample" >"$t/cut.mtr.zst"
python3 - "$t/bigvms.mtr.txt" <<'PY'
import sys
with open(sys.argv[1], "w") as f:
    for i in range(65536): f.write(f"vm,{i},v{i},1048576\n")
PY
"$tt" convert "$t/bigvms.mtr.txt" "$t/bigvms.mtr.zst" >/dev/null
check_stdin "replay - of 1 MiB of random bytes" "$t/random.bin" replay - --quiet
check_stdin "replay - of a cut zstd stream" "$t/cut.mtr.zst" replay - --quiet
check_stdin "stats - of a cut zstd stream" "$t/cut.mtr.zst" stats -
check_stdin "replay - of 65,536 VMs of 4 GiB and no records" "$t/bigvms.mtr.zst" replay - --quiet
check_stdin "replay - of a text trace" "$t/bigvms.mtr.txt" replay - --quiet
check_stdin "replay - of nothing" /dev/null replay - --quiet
check "gen --records 18446744073709551615" gen mix "$t/g.mtr.zst" --records 18446744073709551615

# Overcommit path.
printf 'hash,xxh3-64\nvm,0,a,262144\n0,0,R,0\n' > "$t/1g.mtr.txt"
printf 'hash,xxh3-64\nvm,0,a,1048576\n0,0,R,0\n' > "$t/4g.mtr.txt"
check "1 GiB VM, one record, --overcommit 2" replay "$t/1g.mtr.txt" --overcommit 2 --quiet
check "4 GiB VM, one record, --host-memory 1GiB" replay "$t/4g.mtr.txt" --host-memory 1GiB --quiet

# Limits.
printf 'hash,xxh3-64\nvm,0,big,268435456\n0,0,R,5\n' > "$t/p28.mtr.txt"
printf 'hash,xxh3-64\nvm,0,big,4294967295\n0,0,R,5\n' > "$t/p32.mtr.txt"
check "replay, VM of 2^28 pages" replay "$t/p28.mtr.txt" --quiet
check "stats, VM of 2^32-1 pages" stats "$t/p32.mtr.txt"
{ echo 'hash,xxh3-64'; awk 'BEGIN { for (i = 0; i < 65536; i++) printf "vm,%d,v%d,16\n", i, i }'; echo '0,0,R,5'; } > "$t/many.mtr.txt"
check "stats, 65,536 declared VMs" stats "$t/many.mtr.txt"
printf 'vm,0,big,134217728\n0,0,R,0\n' > "$t/p27.mtr.txt"
check "replay --host-memory 1GiB, VM of 2^27 pages" replay -q --host-memory 1GiB "$t/p27.mtr.txt"
{ echo 'hash,xxh3-64'; awk 'BEGIN { for (i = 0; i < 65536; i++) printf "vm,%d,v%d,4096\n", i, i }'; echo '0,0,R,5'; } > "$t/many4k.mtr.txt"
check "stats, 65,536 declared VMs of 4,096 pages" stats "$t/many4k.mtr.txt"
printf 'vm,0,a,16\n94608000000000,0,R,0\n' > "$t/one-late.mtr.txt"
check "stats of one record three years in" stats "$t/one-late.mtr.txt"
check "replay, 65,536 declared VMs" replay "$t/many.mtr.txt" --quiet
check "--set shareScanVM=1e300" replay "$sample" --set shareScanVM=1e300 --quiet
check "--set overhead=1e300" replay "$sample" --set overhead=1e300 --quiet
check "--overcommit 1e-20" replay "$sample" --overcommit 1e-20 --quiet
printf '==1== x\n L  04000010,8\n S  05000000,4\n' > "$t/l.out"
check "lackey --micros-per-access 2^64-1" convert "$t/l.out" "$t/l.mtr.zst" --from lackey --micros-per-access 18446744073709551615

# Messages.
check "--host-memory -1" replay "$sample" --host-memory -1 --quiet
check "--host-memory 114928 (no unit)" replay "$sample" --host-memory 114928 --quiet
printf '{"idleTax": 7}' > "$t/p.json"
check "bad knob in a --policy file" replay "$sample" --policy "$t/p.json" --quiet
check "unknown option" replay "$sample" --bogus

# Studies.
python3 -c "print('[' * 400000 + ']' * 400000)" > "$t/deep.json"
check "study plan of 400,000 nested arrays" study plan "$t/deep.json"
printf '{"traces": ["%s"], "sweep": [{"key": "seed", "values": [%s]}, {"key": "idleTax", "values": [0, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.71, 0.72]}, {"key": "overcommit", "values": [1, 2, 3, 4, 5, 6, 7, 8, 9, 10]}]}' \
  "$PWD/$sample" "$(seq -s, 1 1001)" > "$t/cells.json"
check "study plan of 100,100 cells" study plan "$t/cells.json"
printf '{"traces": ["%s"], "output": "%s/res"}' "$PWD/$sample" "$t" > "$t/one.json"
check "study run --cells 0..18446744073709551615" study run "$t/one.json" --cells 0..18446744073709551615
check "study run --cells 0..99999" study run "$t/one.json" --cells 0..99999
mkdir -p "$t/res/cells"; head -c 100000 /dev/urandom > "$t/res/cells/0.json"
check "study merge over a garbage result file" study merge "$t/one.json"

# merge: inputs whose one chunk holds 4 Mi one-byte power records each (raw streams, no zstd:
# 200 MiB decoded per input, held at once), the same under a small --max-memory, a time that
# overflows with its offset, too many VMs, its own input as output.
python3 - "$t/huge1.mtr" <<'PY'
import json, struct, sys
n = 4 << 20
h = json.dumps({"pageSize": 4096, "vms": [{"id": 0, "name": "a", "pages": 1}],
                "capture": {"source": "text", "tool": "t", "toolVersion": "1", "timeUnit": "us",
                            "accesses": "exact"}}).encode()
f = json.dumps({"records": n, "chunks": 1, "firstTime": 0, "lastTime": 0,
                "kinds": {"read": 0, "write": 0, "content": 0, "zero": 0, "free": 0, "powerOn": n,
                          "powerOff": 0, "virtualAccesses": 0},
                "vms": [{"id": 0, "records": n, "pages": n}]}).encode()
with open(sys.argv[1], "wb") as out:
    out.write(b"\x89MTR\r\n\x1a\n" + struct.pack("<HHI", 2, 0, len(h)) + h)
    out.write(b"CHNK" + struct.pack("<IIQ", n + 2, n, 0) + b"\x02\x00" + b"\x30" * n)
    out.write(b"FOOT" + struct.pack("<I", len(f)) + f)
PY
cp "$t/huge1.mtr" "$t/huge2.mtr"
check "merge of two 4 Mi-record chunks" merge "$t/huge1.mtr" "$t/huge2.mtr" -o "$t/m1.mtr.zst" --quiet
check "merge of two 4 Mi-record chunks, --max-memory 256MiB" merge "$t/huge1.mtr" "$t/huge2.mtr" -o "$t/m1.mtr.zst" --max-memory 256MiB
check "merge, 2^64 us span --offset 1us" merge "$t/far.mtr.txt" "$t/far.mtr.txt" --offset 0 --offset 1us -o "$t/m2.mtr.zst"
check "merge of 65,536 VMs and 4 more" merge "$t/many.mtr.txt" "$sample" -o "$t/m3.mtr.zst"
check "merge -o its own input" merge "$t/in.mtr.zst" "$sample" -o "$t/in.mtr.zst"
unchanged "merge -o its own input" "$t/in.mtr.zst" "$before_in"

# Memory dumps (convert --from elf-dump): a 1 GiB sparse dump (read and hashed: time grows with
# the file), a segment of 4 TiB in memory with one page in the file (one zero record), a
# segment claiming 1 TiB of file bytes (truncated), 2^32-1 program headers through PN_XNUM,
# overlapping segments, a segment past a VM's 2^32 pages.
python3 - "$t" <<'PY'
import os, struct, sys
d = sys.argv[1]
def elf(loads, phnum=None, shinfo=None, tail=b""):
    n = len(loads) if phnum is None else phnum
    h = b"\x7fELF" + bytes([2, 1, 1, 0]) + b"\0" * 8
    shoff = 64 + 56 * len(loads) if shinfo is not None else 0
    h += struct.pack("<HHIQQQIHHHHHH", 4, 62, 1, 0, 64, shoff, 0, 64, 56, n, 64, 1 if shinfo else 0, 0)
    ph = b"".join(struct.pack("<IIQQQQQQ", 1, 7, off, 0, paddr, filesz, memsz, 0) for off, paddr, filesz, memsz in loads)
    sh = struct.pack("<IIQQQQIIQQ", 0, 0, 0, 0, 0, 0, 0, shinfo, 0, 0) if shinfo is not None else b""
    return h + ph + sh + tail
page = b"\x11" * 4096
open(d + "/tail.elf", "wb").write(elf([(4096, 0, 4096, 1 << 42)]) + b"\0" * (4096 - 64 - 56) + page)
open(d + "/claims.elf", "wb").write(elf([(120, 0, 1 << 40, 1 << 40)], tail=page))
open(d + "/xnum.elf", "wb").write(elf([], phnum=0xFFFF, shinfo=0xFFFFFFFF))
open(d + "/overlap.elf", "wb").write(elf([(176, 0, 8192, 8192), (176, 4096, 4096, 4096)], tail=page * 2))
open(d + "/past.elf", "wb").write(elf([(120, (1 << 44) - 4096, 4096, 8192)], tail=page))
with open(d + "/sparse.elf", "wb") as f:
    f.write(elf([(4096, 0, 1 << 30, 1 << 30)]))
    f.truncate(4096 + (1 << 30))
PY
check "elf-dump, 1 GiB sparse" convert "$t/sparse.elf" "$t/d1.mtr.zst" --from elf-dump
check "elf-dump, 4 TiB zero tail" convert "$t/tail.elf" "$t/d2.mtr.zst" --from elf-dump
check "elf-dump, segment claims 1 TiB of file" convert "$t/claims.elf" "$t/d3.mtr.zst" --from elf-dump
check "elf-dump, 2^32-1 program headers (PN_XNUM)" convert "$t/xnum.elf" "$t/d4.mtr.zst" --from elf-dump
check "elf-dump, overlapping segments" convert "$t/overlap.elf" "$t/d5.mtr.zst" --from elf-dump
check "elf-dump, segment past 2^32 pages" convert "$t/past.elf" "$t/d6.mtr.zst" --from elf-dump
check "elf-dump of a trace" convert "$sample" "$t/d7.mtr.zst" --from elf-dump
check "elf-dump -o its own input" convert "$t/in.mtr.zst" "$t/in.mtr.zst" --from elf-dump
unchanged "elf-dump -o its own input" "$t/in.mtr.zst" "$before_in"

# Fingerprints and placement: a VM of 2^32-1 pages (the budget), 65,536 declared VMs (placed:
# thousands of hosts, each of which would read the whole trace; on 3 hosts: 21,845 VMs a host),
# a fingerprint file of garbage, of 20,000 VMs whose traces do not exist, one whose sketch
# claims more values than it has, the output over an input.
check "fingerprint, VM of 2^32-1 pages" fingerprint "$t/p32.mtr.txt"
check "fingerprint, 65,536 declared VMs" fingerprint "$t/many.mtr.txt" --pairs 0
{ printf '{'; head -c 100000 /dev/urandom | base64 -w0; } > "$t/garbage-fp.json"
check "fingerprint of a garbage fingerprint file" fingerprint "$t/garbage-fp.json"
python3 - "$t" <<'PY'
import base64, json, struct, sys
d = sys.argv[1]
vms = []
for i in range(20000):
    sk = sorted({(i * 7919 + j * 104729) * 0x9E3779B97F4A7C15 % (1 << 64) for j in range(16)})
    vms.append({"name": f"v{i}", "trace": f"{d}/none-{i}.mtr.zst", "vm": 0, "atMicros": 0, "pageSize": 4096,
                "pages": 1024, "hash": "xxh3-64", "contentPages": 1000, "zeroPages": 10, "unknownPages": 5,
                "distinct": 900, "sketch": base64.b64encode(b"".join(struct.pack("<Q", v) for v in sk)).decode()})
json.dump({"format": "tracetool-fingerprints", "version": 1, "k": 16, "vms": vms}, open(d + "/fleet-fp.json", "w"))
bad = json.load(open(d + "/fleet-fp.json"))
bad["vms"] = bad["vms"][:1]
bad["vms"][0]["distinct"] = 1 << 60
bad["vms"][0]["contentPages"] = 1 << 61
json.dump(bad, open(d + "/claims-fp.json", "w"))
PY
check "fingerprint of 20,000 VMs (no pairs)" fingerprint "$t/fleet-fp.json" --k 16
check "place 20,000 VMs, traces missing (refused before placing)" place "$t/fleet-fp.json" --k 16 --host-memory 64GiB -o "$t/pl1" --no-replay -q
check "place 65,536 VMs of one trace" place "$t/many.mtr.txt" --host-memory 1GiB -o "$t/pl2" --no-replay -q
check "place 65,536 VMs of one trace on --hosts 3" place "$t/many.mtr.txt" --host-memory 1GiB --hosts 3 -o "$t/pl5" --no-replay -q
check "fingerprint file whose sketch claims 2^60 values" place "$t/claims-fp.json" --k 16 --host-memory 1GiB -o "$t/pl3"
check "place, a host smaller than its overhead" place "$sample" --host-memory 1MiB -o "$t/pl4"
check "fingerprint -o its own input" fingerprint "$t/in.mtr.zst" -o "$t/in.mtr.zst"
unchanged "fingerprint -o its own input" "$t/in.mtr.zst" "$before_in"

# The bundled traces under --overcommit 2.
for f in traces/*.mtr.zst; do
  check "$(basename "$f") --overcommit 2" replay "$f" --overcommit 2 --quiet
done

if [ "$failed" -ne 0 ]; then echo "hostile.sh: some cases failed" >&2; exit 1; fi
echo "hostile.sh: every case ended in time and memory, with exit 0 or one line"

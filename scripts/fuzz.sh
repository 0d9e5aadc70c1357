#!/usr/bin/env bash
# Fuzzes tracetool's input parsers with libFuzzer (address sanitizer and leak checks on).
# Usage: bash scripts/fuzz.sh TARGET|all SECONDS
#   TARGET: FuzzTraceBinary (binary reader), FuzzTraceText (text reader), FuzzLackey (valgrind
#   lackey importer), FuzzOptions (sizes, durations, knobs, policy JSON, --vm settings, host),
#   FuzzStudy (the study file, and planning its cells; fingerprint files), FuzzCapture (capture
#   --vm and --attach specifications, /proc/PID/maps and cmdline, pagemap words, QMP replies;
#   guest memory dumps in ELF form).
# Each target starts from a seed corpus made from the bundled traces (prefixes of their raw
# and text forms) and small generated traces, kept and grown in .fuzz/TARGET/corpus; a crash,
# leak or timeout (10 s per input) ends the run with a non-zero status and leaves the input in
# .fuzz/TARGET/ (replay it with `swift run TARGET FILE`).
. "$(dirname "$0")/lib.sh"
target=${1:?usage: scripts/fuzz.sh TARGET|all SECONDS}
seconds=${2:?usage: scripts/fuzz.sh TARGET|all SECONDS}
all=(FuzzTraceBinary FuzzTraceText FuzzLackey FuzzOptions FuzzStudy FuzzCapture)
if [ "$target" = all ]; then
  # The packages and the checked build once, not once per target.
  bash scripts/deps.sh
  if [ -n "${TT_BIN:-}" ]; then tt=$TT_BIN; else tt_build checked; fi
  for t in "${all[@]}"; do TT_BIN="$tt" TT_FUZZ_NESTED=1 bash "$0" "$t" "$seconds"; done
  exit 0
fi
case " ${all[*]} " in *" $target "*) ;; *) echo "unknown fuzz target $target (${all[*]})" >&2; exit 2 ;; esac
[ -n "${TT_FUZZ_NESTED:-}" ] || bash scripts/deps.sh
if [ -n "${TT_BIN:-}" ]; then tt=$TT_BIN; else tt_build checked; fi
flags=(-c release -Xswiftc -DFUZZING -Xswiftc -sanitize=fuzzer,address -Xswiftc -Xclang-linker -Xswiftc -fuse-ld=lld)
swift build --scratch-path .build-fuzz "${flags[@]}" --product "$target" >/dev/null
dir=.fuzz/$target
mkdir -p "$dir/corpus"
seeds=$(mktemp -d)
trap 'rm -rf "$seeds"' EXIT
case $target in
  FuzzTraceBinary)
    for f in traces/*.mtr.zst; do
      zstd -dcq "$f" | head -c 65536 > "$seeds/$(basename "$f").raw-prefix" || true
    done
    $tt gen mix "$seeds/mix.mtr.zst" --vms 3 --pages 64 --records 300 --seed 5 >/dev/null
    $tt gen mix "$seeds/virt.mtr.zst" --vms 2 --pages 32 --records 100 --virtual-addresses >/dev/null
    $tt gen fig8 "$seeds/fig8.mtr.zst" --pages 64 --duration 20s >/dev/null
    for f in "$seeds"/*.mtr.zst; do zstd -dcq "$f" > "$f.raw"; done
    ;;
  FuzzTraceText)
    # Text prefixes of the small traces (converting the large ones whole for 16 KiB of text
    # would cost more than the fuzzing).
    for f in $(find traces -name '*.mtr.zst' -size -5M | sort); do
      $tt convert "$f" "$seeds/full.mtr.txt" >/dev/null
      head -c 16384 "$seeds/full.mtr.txt" > "$seeds/$(basename "$f").txt-prefix"
      rm "$seeds/full.mtr.txt"
    done
    $tt gen mix "$seeds/mix.mtr.txt" --vms 3 --pages 64 --records 300 --seed 5 >/dev/null
    $tt gen mix "$seeds/virt.mtr.txt" --vms 2 --pages 32 --records 100 --virtual-addresses >/dev/null
    $tt gen fig8 "$seeds/fig8.mtr.txt" --pages 64 --duration 20s >/dev/null
    ;;
  FuzzLackey)
    printf '==1== Lackey\nI  04000000,3\n L 7ff000398,8\n S 04000ff0,8\n M 04001ffc,8\nout\nI  7ff000000,2\n==1== Counted\n' > "$seeds/hand.out"
    if command -v valgrind >/dev/null 2>&1; then
      valgrind --tool=lackey --trace-mem=yes --log-file="$seeds/true.full" /bin/true >/dev/null 2>&1 || true
      head -c 32768 "$seeds/true.full" > "$seeds/true.out" 2>/dev/null || true
      rm -f "$seeds/true.full"
    fi
    ;;
  FuzzOptions)
    for s in 512MiB 1.5G "4096 pages" 30s 15m 500ms "idleTax=0.5,sharing=ksm" "shareScanVM=100,hashBits=32" \
             '{"idleTax": 0.5, "swapVictim": "lru"}' "0:min=64MiB,shares=5000,balloon=off" 2.5; do
      printf '%s' "$s" > "$seeds/$(printf '%s' "$s" | md5sum | cut -c1-12)"
    done
    ;;
  FuzzStudy)
    cp scripts/study-example.json "$seeds/example.json"
    printf '{"traces": ["*.mtr.zst"], "policies": ["esx", "swap-only"], "seeds": [1, 2], "host": {"overcommit": 2}, "settle": "60s", "output": "out"}' > "$seeds/small.json"
    printf '{"traces": ["a.mtr.zst"], "sweep": [{"key": "idleTax", "values": [0, 0.75]}, {"key": "overcommit", "values": [1, 2]}], "until": "10m"}' > "$seeds/sweep.json"
    $tt fingerprint traces/sample.mtr.zst -o "$seeds/sample-fp.json" --k 16 --pairs 0 >/dev/null
    $tt fingerprint traces/capture-identical5.mtr.zst -o "$seeds/twins-fp.json" --k 64 --pairs 0 >/dev/null
    ;;
  FuzzCapture)
    # Recorded samples: this process's maps, a QEMU command line, pagemap words, QMP replies.
    head -c 16384 /proc/self/maps > "$seeds/maps"
    printf 'qemu-system-x86_64\0-machine\0q35\0-m\0size=256M,slots=2\0-smp\0001\0-qmp\0unix:/tmp/q,server\0' > "$seeds/cmdline"
    head -c 512 /proc/self/pagemap > "$seeds/pagemap" 2>/dev/null || true
    printf '{"QMP": {"version": {"qemu": {"major": 8}}, "capabilities": []}}\n{"return": {}}\n{"event": "STOP", "timestamp": {"seconds": 1}}\n{"error": {"class": "GenericError", "desc": "no"}}\n' > "$seeds/qmp"
    for s in "idle,mem=128" "mixed,start=30s,stop=2m,seed=7,name=m" "toucher,schedule=64:30s;16:1m" "sort,count=3" \
             "1234,name=a,qmp=/tmp/q.sock" "99"; do
      printf '%s' "$s" > "$seeds/spec-$(printf '%s' "$s" | md5sum | cut -c1-12)"
    done
    # A dump as dump-guest-memory lays it out: a note, two memory segments (one with a zero tail).
    python3 - "$seeds/dump.elf" <<'PY'
import struct, sys
pages = [bytes([b]) * 4096 for b in (1, 2, 0, 1)]
note = b"\0" * 64
phnum = 3
data_at = 64 + 56 * phnum + len(note)
h = b"\x7fELF" + bytes([2, 1, 1, 0]) + b"\0" * 8
h += struct.pack("<HHIQQQIHHHHHH", 4, 62, 1, 0, 64, 0, 0, 64, 56, phnum, 64, 0, 0)
ph = struct.pack("<IIQQQQQQ", 4, 0, 64 + 56 * phnum, 0, 0, 64, 64, 0)
ph += struct.pack("<IIQQQQQQ", 1, 7, data_at, 0, 0, 2 * 4096, 2 * 4096, 0)
ph += struct.pack("<IIQQQQQQ", 1, 7, data_at + 2 * 4096, 0, 0x100000, 2 * 4096, 3 * 4096, 0)
open(sys.argv[1], "wb").write(h + ph + note + b"".join(pages))
PY
    ;;
esac
cp -n "$seeds"/* "$dir/corpus/" 2>/dev/null || true
echo "fuzzing $target for $seconds s ($(ls "$dir/corpus" | wc -l) inputs in $dir/corpus)" >&2
".build-fuzz/release/$target" "$dir/corpus" -max_total_time="$seconds" -max_len=65536 -timeout=10 \
  -rss_limit_mb=2048 -artifact_prefix="$dir/" -print_final_stats=1 2> "$dir/last.log" || {
  status=$?
  tail -40 "$dir/last.log" >&2
  echo "$target: libFuzzer found a problem (status $status); the input is in $dir/" >&2
  exit 1
}
grep -E "stat::number_of_executed_units|cov:" "$dir/last.log" | tail -2 >&2

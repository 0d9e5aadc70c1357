#!/usr/bin/env python3
"""Checks tracetool's JSON and CSV outputs with Python's json and csv modules (docs/REPORT.md,
"Units"): every quantity names its unit by suffix, byte counts are whole, no key speaks of
microseconds, per-seed rows exist, and docs/REPORT.md names every key and column.

  check_units.py --doc docs/REPORT.md --json F… --csv F… [--seeds-csv F N]

Prints "ok" and exits 0, or prints each problem and exits 1.
"""
import csv
import json
import re
import sys

JSON_SUFFIXES = ("Pages", "MiB", "Bytes", "Seconds", "Percent")
CSV_SUFFIXES = ("_pages", "_mib", "_bytes", "_seconds", "_percent")
SUMMARY_SUFFIXES = ("_mean", "_ci95_low", "_ci95_high")

# Numbers without a unit suffix: counts of events or things, ids, seeds, ratios named as such.
# A new key that is a quantity (a size, a time) must carry its unit instead of joining this list.
UNITLESS_JSON = {
    # counts of events
    "balloonDeflated", "balloonInflated", "balloonInflatedFreeing", "cowBreaks", "cowFaults",
    "contentChanges", "decompressions", "demandZeroFaults", "doublePaging", "evictedToSwap",
    "falseMatches", "guestAllocations", "guestRefaults", "hiddenFaults", "impliedWrites", "invalidations",
    "pageAccesses", "records", "samplingTraps", "scanTicks", "shadowHits", "sharedBeforeSwap",
    "skippedRecords", "staleHints", "swapIn", "swapOut", "swappedIncompressible",
    "swappedSizeUnknown", "syncReclaims", "volatileSkipped", "contentRecordsWithSize",
    "formed", "released", "splits", "lostShares", "scanSkips", "rises", "falls", "missed",
    "riseLagPeriods", "fallLagPeriods", "periods", "replays", "rounds",
    # counts of things (fingerprint, place: VMs, hosts, moves; k is a sketch's values)
    "hosts", "overfullHosts", "refusedVMs", "scanUnfinishedVMs", "tooLargeVMs", "passes", "moves",
    "hostsEmptied", "k", "vm", "traceVM", "vmA", "vmB",
    "distinctContents", "hintFrames", "overflowFrames", "sharedFrames", "shares", "vms", "seeds",
    # ids, seeds, versions
    "id", "vmId", "worstVMId", "salt", "seed", "schemaVersion",
    # ratios, named as such
    "slowdown", "worstVMSlowdown", "worstHostSlowdown", "scanPasses", "coverageEnd", "overcommit", "fromOvercommit",
    "toOvercommit", "precisionOvercommit", "kneeOvercommit", "relativeError",
    # a rate whose unit is its name
    "ratePerVMPagesPerSecond",
    # compare's summaries[].metrics[]: the unit is the suffix of the metric's id (stall_seconds)
    "mean", "ci95Low", "ci95High",
}
# Objects whose members take the object's unit (breakdownSeconds.swapIn is seconds) or are
# counts by construction (transitions: "high->soft" is how often).
UNIT_PARENTS = JSON_SUFFIXES
COUNT_PARENTS = {"transitions"}

UNITLESS_CSV = {
    "policy", "trace", "measure", "state", "vm_id", "vm_name", "worst_vm_id", "worst_vm_name",
    "seed", "seeds", "overcommit", "overcommit_ratio", "vms_refused", "cow_breaks", "swap_ins",
    "guest_refaults", "double_paging", "hidden_faults", "within_budget", "unpressured", "on_grid",
    "answer",
}

problems = []


def problem(s):
    problems.append(s)


def check_json(path, doc_words):
    data = json.load(open(path))

    def walk(o, parent, where):
        if isinstance(o, dict):
            for k, v in o.items():
                here = where + "." + k
                if re.search(r"micro|millis", k, re.I):
                    problem(f"{path}: {here}: a key in micro- or milliseconds")
                if parent == "policy":
                    continue  # knobs, by the names --set takes (units: tracetool policy show)
                if k != "policy" and "->" not in k and k not in doc_words:
                    problem(f"{path}: {here}: not in docs/REPORT.md")
                if isinstance(v, (int, float)) and not isinstance(v, bool):
                    unit_named = k.endswith(JSON_SUFFIXES) or parent.endswith(UNIT_PARENTS)
                    if not unit_named and k not in UNITLESS_JSON and parent not in COUNT_PARENTS:
                        problem(f"{path}: {here}: a number without a unit suffix")
                    if (k.endswith("Bytes") or parent.endswith("Bytes")) and not isinstance(v, int):
                        problem(f"{path}: {here}: bytes not whole ({v})")
                walk(v, k, here)
        elif isinstance(o, list):
            for i, x in enumerate(o):
                walk(x, parent, f"{where}[{i}]")

    walk(data, "", "")
    return data


def base(col):
    for s in SUMMARY_SUFFIXES:
        if col.endswith(s):
            return col[: -len(s)]
    return col


def check_csv(path, doc_words, swept):
    rows = list(csv.DictReader(open(path, newline="")))
    if not rows:
        problem(f"{path}: no rows")
        return rows
    for col in rows[0].keys():
        b = base(col)
        if b in swept:
            continue  # a swept knob's column, named after the knob
        if not b.endswith(CSV_SUFFIXES) and b not in UNITLESS_CSV:
            problem(f"{path}: column {col}: no unit suffix")
        if b not in doc_words and col not in doc_words:
            problem(f"{path}: column {col}: not in docs/REPORT.md")
    for r in rows:
        for col, v in r.items():
            if base(col).endswith(CSV_SUFFIXES) and v != "" and col != "seed_slowdown_percent":
                try:
                    float(v)
                except ValueError:
                    problem(f"{path}: {col} = {v!r} is not a number")
        if "vm_id" in r and "vm_name" in r:
            if (r["vm_id"] == "") != (r["vm_name"] == "all"):
                problem(f"{path}: vm_id {r['vm_id']!r} with vm_name {r['vm_name']!r}")
    return rows


def check_seed_rows(path, n):
    """A long compare CSV or timeline: for every run (policy and grid cell), n seeds, each with
    the same VMs' rows (and, in a report's CSV, a host row first)."""
    rows = list(csv.DictReader(open(path, newline="")))
    if "seed" not in rows[0]:
        problem(f"{path}: no seed column")
        return
    fixed = {"policy", "host_mib", "overcommit_ratio", "seed", "vm_id", "vm_name"}
    runs = {}
    for r in rows:
        cell = tuple((k, v) for k, v in r.items() if k not in fixed and not base(k).endswith(CSV_SUFFIXES)
                     and k not in UNITLESS_CSV)
        runs.setdefault((r["policy"], cell), {}).setdefault(r["seed"], []).append(r["vm_name"])
    if not runs:
        problem(f"{path}: no runs")
    # A report's CSV has a host row ("all") before each run's VMs; a timeline has VM rows only.
    host_rows = any(r["vm_name"] == "all" for r in rows)
    for key, seeds in runs.items():
        if len(seeds) != n:
            problem(f"{path}: {key}: {len(seeds)} seeds, expected {n}")
        names = None
        for s, vms in seeds.items():
            if host_rows and (vms[0] != "all" or len(vms) < 2):
                problem(f"{path}: {key} seed {s}: expected a host row, then one per VM ({vms})")
            if not vms:
                problem(f"{path}: {key} seed {s}: no rows")
            if names is not None and vms != names:
                problem(f"{path}: {key} seed {s}: other VMs than the first seed's")
            names = vms


def main(argv):
    doc = None
    jsons, csvs, seed_csvs, swept = [], [], [], set()
    i = 1
    mode = None
    while i < len(argv):
        a = argv[i]
        if a == "--doc":
            doc = argv[i + 1]
            i += 2
            continue
        if a == "--seeds-csv":
            seed_csvs.append((argv[i + 1], int(argv[i + 2])))
            i += 3
            continue
        if a == "--swept":
            swept.add(argv[i + 1])
            i += 2
            continue
        if a in ("--json", "--csv"):
            mode = a
        elif mode == "--json":
            jsons.append(a)
        elif mode == "--csv":
            csvs.append(a)
        else:
            print(f"usage: {__doc__}")
            return 2
        i += 1
    text = open(doc).read()
    words = set()
    for t in re.findall(r"`([^`]+)`", text):
        words.update(w for w in re.split(r"[^A-Za-z0-9_]+", t) if w)
    for j in jsons:
        check_json(j, words)
    for c in csvs:
        check_csv(c, words, swept)
    for c, n in seed_csvs:
        check_seed_rows(c, n)
    if problems:
        print("\n".join(problems))
        return 1
    print("ok")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))

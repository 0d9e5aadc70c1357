#!/usr/bin/env python3
"""How close a `gen fleet` fleet's sharing is to its templates' (docs/FLEET.md).

  python3 scripts/fleet-closeness.py TRACETOOL FLEET-FOLDER TEMPLATE-FOLDER

For every fleet VM, its distinct contents (exact fingerprints at its end) against its template
VM's at the same moment of the template trace (shift + length); for every pair of fleet VMs,
the contents both hold against the contents their templates hold in common at those moments.
With --private-fraction P the expected shares are 1 - P and (1 - P)^2.
"""
import base64
import json
import re
import struct
import subprocess
import sys
import tempfile

tt, fleet, templates = sys.argv[1:4]
tmp = tempfile.mkdtemp()


def fingerprints(args):
    subprocess.run([tt, "fingerprint", *args, "--k", "1048576", "-o", tmp + "/fp.json", "--pairs", "0"],
                   capture_output=True, check=True)
    return json.load(open(tmp + "/fp.json"))["vms"]


def digests(vm):
    raw = base64.b64decode(vm["sketch"])
    return set(struct.unpack("<%dQ" % (len(raw) // 8), raw))


rows = [line.rstrip("\n").split("\t") for line in open(fleet + "/fleet.tsv")][1:]
own, theirs = [], []
for r in rows:
    path = fleet + "/" + r[1]
    info = subprocess.run([tt, "info", path], capture_output=True, text=True, check=True).stdout
    fact = lambda key: re.search(re.escape(key) + r" = (\S+)", info).group(1)
    end = int(fact("shiftMicros")) + int(fact("lengthMicros"))
    own.append(digests(fingerprints([path])[0]))
    at_end = fingerprints([templates + "/" + fact("template.trace"), "--at", f"{end}us"])
    theirs.append(digests([v for v in at_end if v["name"] == fact("template.name")][0]))
kept = sum(len(a & b) for a, b in zip(own, theirs)) / max(1, sum(len(b) for b in theirs))
both = common = 0
for i in range(len(own)):
    for j in range(i + 1, len(own)):
        both += len(own[i] & own[j])
        common += len(theirs[i] & theirs[j])
print(f"{len(own)} VMs: {100 * kept:.1f}% of each template's distinct contents kept in its fleet VM; "
      f"pairs hold {100 * both / max(1, common):.1f}% of the contents their templates hold in common")

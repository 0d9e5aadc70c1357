#!/usr/bin/env python3
"""Checks Kubernetes manifests for a tracetool study offline, without a cluster (kubectl's
client-side dry run still asks a server for its API groups): the YAML parses, and the Jobs
have what an Indexed Job running a study needs.

  check_manifests.py FILE --cells N [--memory-bytes B] [--image REF]

  - an Indexed Job (completionMode Indexed) with completions = N cells, 1 ≤ parallelism ≤ N,
    restartPolicy Never, a container running `tracetool study run STUDY --cell-from-env`
    (the index comes from JOB_COMPLETION_INDEX, which Kubernetes sets in an Indexed Job's pods,
    so nothing may set it by hand), memory requested and limited, at least B bytes when given;
  - a merge Job running `tracetool study merge` on the same study file, backoffLimit 0;
  - both mount one volume at /study from the same PersistentVolumeClaim, which, when the file
    defines it, is ReadWriteMany with a storage request;
  - the image, when --image is given, is the one every container runs;
  - the cell Job and the merge Job carry different tracetool/stage labels, so that
    `kubectl apply -l tracetool/stage=merge` applies the merge only after the cells.
Prints "ok" or one problem per line (exit 1).
"""
import re
import sys

import yaml

UNITS = {"": 1, "Ki": 1 << 10, "Mi": 1 << 20, "Gi": 1 << 30, "Ti": 1 << 40, "k": 10**3, "M": 10**6, "G": 10**9, "T": 10**12}


def quantity(q):
    m = re.fullmatch(r"(\d+(?:\.\d+)?)([KMGT]i|[kMGT])?", str(q))
    if not m:
        raise ValueError("not a Kubernetes quantity: %r" % (q,))
    return float(m.group(1)) * UNITS[m.group(2) or ""]


def main(argv):
    args = argv[1:]
    if not args or "--cells" not in args:
        print(__doc__, file=sys.stderr)
        return 64
    path = args[0]
    opts = dict(zip(args[1::2], args[2::2]))
    cells = int(opts["--cells"])
    need = int(opts.get("--memory-bytes", 0))
    image = opts.get("--image")
    problems = []

    def p(s):
        problems.append(s)

    try:
        docs = [d for d in yaml.safe_load_all(open(path, encoding="utf-8")) if d is not None]
    except yaml.YAMLError as e:
        print("%s: not YAML: %s" % (path, str(e).splitlines()[0]))
        return 1
    jobs = [d for d in docs if d.get("kind") == "Job" and d.get("apiVersion") == "batch/v1"]
    pvcs = {d["metadata"]["name"]: d for d in docs if d.get("kind") == "PersistentVolumeClaim"}
    indexed = [j for j in jobs if j.get("spec", {}).get("completionMode") == "Indexed"]
    merges = [j for j in jobs if j.get("spec", {}).get("completionMode") != "Indexed"]
    if len(indexed) != 1:
        p("expected one Indexed Job (completionMode: Indexed), found %d" % len(indexed))
    if len(merges) != 1:
        p("expected one merge Job, found %d" % len(merges))
    studies, claims = set(), set()

    def pod(job, role):
        name = job.get("metadata", {}).get("name", "?")
        spec = job.get("spec", {}).get("template", {}).get("spec", {})
        if spec.get("restartPolicy") != "Never":
            p("%s: restartPolicy is %r, not Never (a failed cell is retried per index)" % (name, spec.get("restartPolicy")))
        cs = spec.get("containers") or []
        if len(cs) != 1:
            p("%s: expected one container, found %d" % (name, len(cs)))
            return None
        c = cs[0]
        if image is not None and c.get("image") != image:
            p("%s: image %r, not %r" % (name, c.get("image"), image))
        if not c.get("image"):
            p("%s: no image" % name)
        for e in c.get("env") or []:
            if e.get("name") == "JOB_COMPLETION_INDEX":
                p("%s: sets JOB_COMPLETION_INDEX by hand (Kubernetes sets it per pod)" % name)
        vols = {v.get("name"): v for v in spec.get("volumes") or []}
        mounts = [m for m in c.get("volumeMounts") or [] if m.get("mountPath") == "/study"]
        if len(mounts) != 1:
            p("%s: the study volume is not mounted at /study" % name)
        else:
            v = vols.get(mounts[0].get("name"))
            claim = (v or {}).get("persistentVolumeClaim", {}).get("claimName")
            if not claim:
                p("%s: /study is not a PersistentVolumeClaim" % name)
            claims.add(claim)
        res = c.get("resources") or {}
        for kind in ("requests", "limits"):
            mem = (res.get(kind) or {}).get("memory")
            if mem is None:
                p("%s: no memory %s" % (name, kind))
            elif role == "cell" and need and quantity(mem) < need:
                p("%s: memory %s %s is below the %d bytes the study needs" % (name, kind, mem, need))
        return c.get("command") or []

    for j in indexed:
        s = j["spec"]
        if s.get("completions") != cells:
            p("%s: completions %r, the study has %d cells" % (j["metadata"]["name"], s.get("completions"), cells))
        par = s.get("parallelism", 1)
        if not isinstance(par, int) or not 1 <= par <= cells:
            p("%s: parallelism %r is not in 1…%d" % (j["metadata"]["name"], par, cells))
        cmd = pod(j, "cell")
        if cmd is not None:
            if cmd[:3] != ["tracetool", "study", "run"] or "--cell-from-env" not in cmd or len(cmd) < 4:
                p("%s: command %r is not tracetool study run STUDY --cell-from-env" % (j["metadata"]["name"], cmd))
            else:
                studies.add(cmd[3])
    for j in merges:
        if j["spec"].get("backoffLimit") != 0:
            p("%s: backoffLimit is not 0 (a merge that lists missing cells must not be retried)" % j["metadata"]["name"])
        cmd = pod(j, "merge")
        if cmd is not None:
            if cmd[:3] != ["tracetool", "study", "merge"] or len(cmd) < 4:
                p("%s: command %r is not tracetool study merge STUDY" % (j["metadata"]["name"], cmd))
            else:
                studies.add(cmd[3])
    for j in indexed:
        for m in merges:
            a = (j.get("metadata", {}).get("labels") or {}).get("tracetool/stage")
            b = (m.get("metadata", {}).get("labels") or {}).get("tracetool/stage")
            if a is None or b is None or a == b:
                p("the Jobs need different tracetool/stage labels (run, merge) so the merge is applied after the cells")
    if len(studies) > 1:
        p("the Jobs name different study files: %s" % ", ".join(sorted(studies)))
    if len(claims) > 1:
        p("the Jobs mount different claims: %s" % ", ".join(sorted(str(c) for c in claims)))
    for claim in claims:
        pvc = pvcs.get(claim)
        if pvc is None:
            continue  # defined elsewhere in the cluster
        modes = pvc.get("spec", {}).get("accessModes") or []
        if "ReadWriteMany" not in modes:
            p("claim %s: accessModes %r lacks ReadWriteMany (every pod writes results)" % (claim, modes))
        storage = (pvc.get("spec", {}).get("resources", {}).get("requests") or {}).get("storage")
        if storage is None:
            p("claim %s: no storage request" % claim)
        else:
            quantity(storage)
    if problems:
        print("\n".join(problems))
        return 1
    print("ok")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))

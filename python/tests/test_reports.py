"""Reports into DataFrames, from real tracetool outputs: the numbers and units match what the
JSON and CSV say (docs/REPORT.md), the tidy forms add up, and a bad file is one ReportError."""

import json
import os
import subprocess
import sys

import pytest

pd = pytest.importorskip("pandas")
import tracetool as tt
from conftest import ROOT, run

SAMPLE = os.path.join(ROOT, "traces", "sample.mtr.zst")


@pytest.fixture(scope="module")
def outputs(tracetool, tmp_path_factory):
    d = tmp_path_factory.mktemp("reports")
    common = ["--until", "30s", "--quiet"]
    cmds = {
        "replay.json": ["replay", SAMPLE, "--overcommit", "1.5", "--format", "json"] + common,
        "compare.csv": ["compare", SAMPLE, "--policy", "esx", "--policy", "swap-only", "--sweep", "overcommit=1,2",
                        "--seeds", "2", "--format", "csv"] + common,
        "summary.csv": ["compare", SAMPLE, "--policy", "esx", "--policy", "swap-only", "--sweep", "overcommit=1,2",
                        "--seeds", "2", "--format", "csv-summary"] + common,
        "compare.json": ["compare", SAMPLE, "--policy", "esx", "--policy", "swap-only", "--overcommit", "2",
                         "--seeds", "2", "--format", "json"] + common,
        "plan.json": ["plan", SAMPLE, "--policy", "esx", "--format", "json"] + common,
        "stats.json": ["stats", SAMPLE, "--format", "json"],
        "fingerprint.json": ["fingerprint", SAMPLE, "--format", "json", "--report"],
    }
    for name, args in cmds.items():
        p = run([tracetool] + args + ([] if args[-1] == "--report" else ["-o"]) + [str(d / name)])
        assert p.returncode == 0, (name, p.stderr)
    p = run([tracetool, "place", SAMPLE, "--host-memory", "64MiB", "-o", str(d / "place"), "--format", "json", "--quiet"])
    assert p.returncode == 0, p.stderr
    study = d / "study.json"
    study.write_text(json.dumps({"traces": [SAMPLE], "policies": ["esx", "swap-only"],
                                 "host": {"overcommit": 1.5}, "until": "20s", "output": str(d / "study")}))
    for step in (["local", str(study), "--jobs", "2", "--quiet"], ["merge", str(study)]):
        p = run([tracetool, "study"] + step)
        assert p.returncode == 0, (step, p.stderr)
    return d


def test_units_by_suffix():
    assert tt.units_of(["host_mib", "stall_seconds", "slowdown_percent", "cow_breaks", "sharing.savedPages",
                        "cost.breakdownSeconds.swapIn", "tableBytes", "slowdown_percent_ci95_low"]) == {
        "host_mib": "MiB", "stall_seconds": "seconds", "slowdown_percent": "percent", "cow_breaks": "count",
        "sharing.savedPages": "pages", "cost.breakdownSeconds.swapIn": "seconds", "tableBytes": "bytes",
        "slowdown_percent_ci95_low": "percent"}


def test_replay_report_tables(outputs):
    doc = tt.read_report(str(outputs / "replay.json"))
    assert doc["tool"]["name"] == "tracetool"
    t = tt.report_tables(doc)
    host, vms = t["host"], t["vms"]
    assert len(host) == 1 and len(vms) == len(doc["vms"])
    assert host.loc[0, "sharing.savedPages"] == doc["sharing"]["savedPages"]
    assert host.attrs["units"]["sharing.savedPages"] == "pages"
    assert host.attrs["units"]["cost.stallSeconds"] == "seconds"
    assert list(vms["id"]) == [vm["id"] for vm in doc["vms"]]


def test_compare_csv_wide_and_long(outputs):
    path = str(outputs / "compare.csv")
    df = tt.read_compare_csv(path)
    raw = open(path).read().splitlines()
    assert len(df) == len(raw) - 1
    assert df.attrs["units"]["stall_seconds"] == "seconds" and df.attrs["units"]["host_mib"] == "MiB"
    host = df[df["vm_name"] == "all"]
    assert len(host) == 2 * 2 * 2  # policies × cells × seeds
    assert str(df["vm_id"].dtype) == "Int64" and df.loc[host.index, "vm_id"].isna().all()
    # Counts add up over the VMs' rows to the host's row.
    for (pol, oc, seed), rows in df.groupby(["policy", "overcommit", "seed"]):
        vm_rows = rows[rows["vm_name"] != "all"]
        assert int(vm_rows["cow_breaks"].sum()) == int(rows[rows["vm_name"] == "all"]["cow_breaks"].iloc[0])
    long = tt.read_compare_csv(path, long=True)
    metrics = [c for c in df.columns if c not in ("policy", "overcommit", "host_mib", "overcommit_ratio", "seed", "vm_id", "vm_name")]
    assert len(long) == len(df) * len(metrics)
    assert set(long.loc[long["metric"] == "slowdown_percent", "unit"]) == {"percent"}
    s = tt.read_compare_csv(str(outputs / "summary.csv"))
    assert (s["slowdown_percent_mean"] >= s["slowdown_percent_ci95_low"]).all()


def test_compare_json_summaries(outputs):
    df = tt.read_compare_json(str(outputs / "compare.json"))
    assert set(df["policy"]) == {"esx", "swap-only"}
    assert (df["seeds"] == 2).all()
    row = df[(df["vm_name"] == "all") & (df["metric"] == "stall_seconds") & (df["policy"] == "esx")]
    assert len(row) == 1 and row["unit"].iloc[0] == "seconds"
    assert len(df.attrs["runs"]) == 4


def test_plan_and_stats(outputs):
    plan = tt.read_plan_json(str(outputs / "plan.json"))
    assert set(plan["policy"]) == {"esx"} and len(plan) >= 2
    assert plan.attrs["units"]["slowdownPercent"] == "percent" and plan.attrs["units"]["hostMiB"] == "MiB"
    st = tt.read_stats_json(str(outputs / "stats.json"))
    doc = json.load(open(outputs / "stats.json"))
    assert len(st["vms"]) == len(doc["vms"])
    iv = st["intervals"]
    assert len(iv) == len(doc["intervals"])
    assert [c for c in iv.columns if c.startswith("workingSetPages.")] == ["workingSetPages.%d" % v["id"] for v in doc["vms"]]
    assert iv.attrs["units"]["timeSeconds"] == "seconds"


def test_fingerprints_and_place(outputs):
    fp = tt.read_fingerprints(str(outputs / "fingerprint.json"))
    doc = json.load(open(outputs / "fingerprint.json"))
    assert len(fp["vms"]) == len(doc["vms"]) == 4 and fp["vms"].attrs["k"] == 4096
    assert fp["vms"]["heldPages"].sum() == doc["group"]["heldPages"]
    assert fp["vms"].attrs["units"]["heldMiB"] == "MiB" and fp["group"]["exact"] is True
    assert set(fp["pairs"]["nameA"]) <= set(fp["vms"]["name"])
    pl = tt.read_place(str(outputs / "place"))
    assert list(pl["placements"]["method"]) == ["ffd", "sharing-aware"]
    hosts = pl["hosts"]
    assert len(hosts) == pl["placements"]["hosts"].sum()
    for m, g in hosts.groupby("method"):
        total = pl["placements"].set_index("method").loc[m, "replayedSavedMiB"]
        assert abs(g["replayed.savedMiB"].sum() - total) < 0.01
    assert hosts.attrs["units"]["replayed.savedMiB"] == "MiB"
    assert pl["placements"].attrs["place"]["arrival"] == "staggered"


def test_study_csv_and_json_agree(outputs):
    a = tt.read_study(str(outputs / "study"))
    b = tt.read_study(str(outputs / "study" / "merged.json"))
    assert list(a.columns) == list(b.columns) and len(a) == len(b) > 0
    assert a["stall_seconds"].astype(float).round(6).tolist() == b["stall_seconds"].astype(float).round(6).tolist()
    assert b.attrs["missing"] == []
    long = tt.read_study(str(outputs / "study"), long=True)
    assert {"metric", "value", "unit"} <= set(long.columns)


@pytest.mark.parametrize(
    "content,reader,what",
    [
        ("", tt.read_report, "empty file"),
        ("{not json", tt.read_report, "not JSON"),
        ('{"schemaVersion": 99, "host": {}, "vms": []}', tt.read_report, "newer than this reader knows"),
        ("[1, 2]", tt.read_compare_json, "not an object"),
        ('{"schemaVersion": 1, "vms": []}', tt.read_fingerprints, "not a fingerprint report"),
        ('{"schemaVersion": 2, "placements": []}', tt.read_place, "newer than this reader knows"),
        ("a,b\n1,2\n", tt.read_compare_csv, "not a compare CSV"),
        ("policy,host_mib,overcommit_ratio,vm_id,vm_name\nesx,1\n", tt.read_compare_csv, "line 2 has 2 fields"),
    ],
)
def test_bad_report_files(tmp_path, content, reader, what):
    p = tmp_path / "bad"
    p.write_text(content)
    with pytest.raises(tt.ReportError) as e:
        reader(str(p))
    msg = str(e.value)
    assert msg.startswith(str(p) + ": ") and what in msg and "\n" not in msg


def test_sweep_example_plots(outputs, tmp_path):
    pytest.importorskip("matplotlib")
    png = tmp_path / "sweep.png"
    ex = os.path.join(ROOT, "docs", "examples", "plot_sweep.py")
    p = subprocess.run([sys.executable, ex, str(outputs / "compare.csv"), str(png)], capture_output=True, text=True)
    assert p.returncode == 0, p.stderr
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and png.stat().st_size > 10000

"""Every bundled trace decoded by the Python reader agrees with tracetool's own decoding:
record counts and totals (tracetool info's footer, which tracetool validate checks against
the body) and a checksum of every record (SHA-256 of the canonical text tracetool convert
writes)."""

import glob
import hashlib
import json
import os

import pytest

import tracetool as tt
from conftest import ROOT, run

TRACES = sorted(glob.glob(os.path.join(ROOT, "traces", "*.zst")))


def test_there_are_bundled_traces():
    assert len(TRACES) >= 5


@pytest.mark.parametrize("path", TRACES, ids=os.path.basename)
def test_trace_matches_tracetool(path, tracetool, tmp_path):
    info = run([tracetool, "info", path, "--format", "json"])
    assert info.returncode == 0, info.stderr
    info = json.loads(info.stdout)
    with tt.open_trace(path) as t:
        assert t.encoding == info["encoding"]
        assert t.header["vms"] == [{k: v for k, v in vm.items()} for vm in info["header"]["vms"]]
        digest = t.checksum()
        totals = t.totals.as_footer()
    if t.encoding == "binary":
        assert totals == info["footer"], "totals differ from the footer tracetool read"
    else:
        assert totals["records"] == info["footer"]["records"]
        assert totals["kinds"] == info["footer"]["kinds"]
    out = tmp_path / "canonical.mtr.txt"
    conv = run([tracetool, "convert", path, str(out)])
    assert conv.returncode == 0, conv.stderr
    assert digest == hashlib.sha256(out.read_bytes()).hexdigest(), "records differ from tracetool's decoding"


def test_dataframes_by_chunk_add_up(tracetool):
    pytest.importorskip("pandas")
    path = os.path.join(ROOT, "traces", "sample.mtr.zst")
    with tt.open_trace(path) as t:
        frames = list(t.dataframes())
        footer = t.footer
    assert len(frames) == footer["chunks"]
    assert sum(len(f) for f in frames) == footer["records"]
    kinds = {k: 0 for k in tt.KINDS}
    for f in frames:
        for k, n in f["kind"].value_counts().items():
            kinds[k] += int(n)
    assert all(kinds[k] == footer["kinds"][k] for k in tt.KINDS)
    pages = {}
    for f in frames:
        for vm, n in f.groupby("vm")["count"].sum().items():
            pages[int(vm)] = pages.get(int(vm), 0) + int(n)
    assert pages == {v["id"]: v["pages"] for v in footer["vms"]}
    f = frames[0]
    assert list(f.columns) == list(tt.Record._fields)
    assert str(f["time_us"].dtype) == "UInt64" and str(f["kind"].dtype) == "category"


def test_text_trace_by_chunk(tmp_path):
    pd = pytest.importorskip("pandas")
    p = tmp_path / "t.mtr.txt"
    p.write_text("vm,3,web,100,8192,min=10,shares=2000\n0,3,R,5,4\n10,3,WV,7,1,99\n20,3,C,9,00000000000000ff,100\n30,3,OFF\n")
    with tt.open_trace(str(p)) as t:
        assert t.header["pageSize"] == 8192
        assert t.header["vms"] == [{"id": 3, "name": "web", "pages": 100, "minPages": 10, "shares": 2000}]
        frames = list(t.dataframes(per_chunk=2))
    assert [len(f) for f in frames] == [2, 2]
    df = pd.concat(frames, ignore_index=True)
    assert list(df["kind"]) == ["read", "write", "content", "powerOff"]
    assert df["asid"].isna().tolist() == [True, False, True, True]
    assert int(df.loc[2, "hash"]) == 255 and int(df.loc[2, "size"]) == 100
    with tt.open_trace(str(p)) as t:
        lines = list(t.canonical_text())
    assert lines[0] == "vm,3,web,100,8192,min=10,shares=2000"
    assert lines[2] == "10,3,WV,7,1,99"


def test_records_read_once():
    path = os.path.join(ROOT, "traces", "sample.mtr.zst")
    with tt.open_trace(path) as t:
        next(t.records())
        with pytest.raises(RuntimeError):
            next(t.records())

"""Hostile inputs: the Python reader raises TraceError with tracetool's one-line shape
("FILE: record N, byte X: what", text: "line N"); for the binary format's problems the line is
tracetool's own, word for word (tracetool adds the offset in the compressed file, which the
Python reader, decompressing through a stream, does not know)."""

import os
import re
import struct

import pytest
import zstandard

import tracetool as tt
from conftest import ROOT, run

SAMPLE = os.path.join(ROOT, "traces", "sample.mtr.zst")


def raw_sample():
    with open(SAMPLE, "rb") as f:
        return zstandard.ZstdDecompressor().stream_reader(f, read_across_frames=True).read()


def first_chunk_offset(raw):
    (hlen,) = struct.unpack_from("<I", raw, 12)
    return 16 + hlen


def header_bytes(vms='[{"id":0,"name":"a","pages":16}]', version=2, flags=0):
    js = ('{"pageSize":4096,"vms":%s,"capture":{"source":"text","tool":"t","toolVersion":"1",'
          '"timeUnit":"us","accesses":"exact"}}' % vms).encode()
    return b"\x89MTR\r\n\x1a\n" + struct.pack("<HHI", version, flags, len(js)) + js


def chunk(payload, records, base=0):
    return b"CHNK" + struct.pack("<IIQ", len(payload), records, base) + payload


def footer(obj):
    import json

    js = json.dumps(obj).encode()
    return b"FOOT" + struct.pack("<I", len(js)) + js


def cases():
    raw = raw_sample()
    c0 = first_chunk_offset(raw)
    (plen,) = struct.unpack_from("<I", raw, c0 + 4)
    yield "empty", b""
    yield "version-3", header_bytes(version=3)
    yield "version-0", header_bytes(version=0)
    yield "flags", header_bytes(flags=4)
    yield "header-cut", raw[:40]
    yield "no-footer", raw[:c0]
    yield "chunk-cut", raw[: c0 + 20 + plen // 2]
    yield "chunk-header-cut", raw[: c0 + 10]
    yield "bad-tag", raw[:c0] + b"XXXX" + raw[c0 + 4 :]
    yield "trailing", raw + b"\x00\x01"
    yield "unknown-opcode", header_bytes() + chunk(b"\x02\x00\x7e", 1) + footer({})
    yield "no-vm", header_bytes() + chunk(b"\x10\x00", 1) + footer({})
    yield "undeclared", header_bytes() + chunk(b"\x02\x05\x10\x00", 1) + footer({})
    yield "ppn", header_bytes() + chunk(b"\x02\x00\x10\x40", 1) + footer({})
    yield "run", header_bytes() + chunk(b"\x02\x00\x12\x00\x20", 1) + footer({})
    yield "run0", header_bytes() + chunk(b"\x02\x00\x12\x00\x00", 1) + footer({})
    yield "varint", header_bytes() + chunk(b"\x02\x00\x01" + b"\xff" * 11, 0) + footer({})
    yield "count-short", header_bytes() + chunk(b"\x02\x00\x10\x00\x10\x00", 3) + footer({})
    yield "count-over", header_bytes() + chunk(b"\x02\x00\x10\x00\x10\x00", 1) + footer({})
    yield "backwards", header_bytes() + chunk(b"", 0, 100) + chunk(b"", 0, 50) + footer({})
    yield "content-cut", header_bytes() + chunk(b"\x02\x00\x20\x00\x01\x02", 1) + footer({})
    yield "size", header_bytes() + chunk(b"\x02\x00\x25\x00" + b"\x01" * 8 + b"\x80\x40", 1) + footer({})
    good = {"records": 1, "chunks": 1, "firstTime": 0, "lastTime": 0,
            "kinds": {"read": 1, "write": 0, "content": 0, "zero": 0, "free": 0, "powerOn": 0, "powerOff": 0,
                      "virtualAccesses": 0},
            "vms": [{"id": 0, "records": 1, "pages": 1}]}
    yield "footer-ok", header_bytes() + chunk(b"\x02\x00\x10\x00", 1) + footer(good)
    bad = dict(good, kinds=dict(good["kinds"], read=2))
    yield "footer-kinds", header_bytes() + chunk(b"\x02\x00\x10\x00", 1) + footer(bad)
    yield "footer-vm", header_bytes() + chunk(b"\x02\x00\x10\x00", 1) + footer(dict(good, vms=[{"id": 0, "records": 1, "pages": 9}]))
    yield "footer-span", header_bytes() + chunk(b"\x02\x00\x10\x00", 1) + footer(dict(good, lastTime=7))
    yield "compressed-cut", zstandard.ZstdCompressor(write_checksum=True).compress(raw)[:5000]
    yield "zeros-after-header", zstandard.ZstdCompressor().compress(header_bytes() + bytes(64 << 20))


def test_a_bomb_is_read_in_bounded_memory(tmp_path):
    """1 GiB of zeros after a valid header, compressed to a few dozen KiB: the reader stops at
    the first bad tag, holding a few MiB, not the gigabyte."""
    import subprocess
    import sys

    path = tmp_path / "bomb.mtr.zst"
    cctx = zstandard.ZstdCompressor(level=1)
    with open(path, "wb") as f, cctx.stream_writer(f) as w:
        w.write(header_bytes())
        zero = bytes(1 << 20)
        for _ in range(1024):
            w.write(zero)
    assert path.stat().st_size < 1 << 20
    code = (
        "import resource, sys, tracetool\n"
        "try:\n"
        "    list(tracetool.open_trace(sys.argv[1]).records())\n"
        "except tracetool.TraceError as e:\n"
        "    print(e)\n"
        "print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)\n"
    )
    p = subprocess.run([sys.executable, "-c", code, str(path)], capture_output=True, text=True, timeout=60)
    line, peak_kib = p.stdout.splitlines()
    assert "expected a chunk or the footer, found bytes 00 00 00 00" in line
    assert int(peak_kib) < 150 * 1024, "peak %s KiB" % peak_kib


CASES = list(cases())
SHAPE = re.compile(r"^(?P<file>[^:]+):(?P<where>( record \d+,?| line \d+,?| byte \d+,?)*:?) (?P<what>.+)$")


def tool_line(tracetool, path):
    p = run([tracetool, "validate", path])
    if p.returncode == 0:
        return None
    line = p.stderr.strip().splitlines()[0]
    assert line.startswith("tracetool: ")
    return line[len("tracetool: ") :]


def both_lines(tracetool, path, data):
    """Writes data to path; tracetool validate's error line and the Python reader's (None for
    either that accepts the file)."""
    with open(path, "wb") as f:
        f.write(data)
    return tool_line(tracetool, path), py_line(path)


def py_line(path):
    try:
        with tt.open_trace(path) as t:
            for _ in t.chunks():
                pass
    except tt.TraceError as e:
        return str(e)
    return None


@pytest.mark.parametrize("name,data", CASES, ids=[c[0] for c in CASES])
def test_same_line_as_tracetool(name, data, tracetool, tmp_path):
    path = str(tmp_path / (name + ".mtr"))
    want, got = both_lines(tracetool, path, data)
    if want is None:
        assert got is None, got
        return
    assert got is not None, "tracetool refuses it (%s), the Python reader does not" % want
    assert "\n" not in got
    # tracetool also names the offset in the compressed file; the stream reader cannot.
    want = re.sub(r", compressed byte \d+", "", want)
    if name == "compressed-cut":
        assert SHAPE.match(got) and got.startswith(path + ":") and "truncated" in got, got
        return
    assert got == want


TEXT_CASES = [
    ("undeclared", "0,1,R,0\n"),
    ("backwards", "vm,0,a,10\n5,0,R,0\n4,0,R,0\n"),
    ("ppn", "vm,0,a,10\n0,0,R,10\n"),
    ("hash", "vm,0,a,10\n0,0,C,0,xyz\n"),
    ("kind", "vm,0,a,10\n0,0,Q,0\n"),
    ("number", "vm,0,a,10\n0,0,R,-1\n"),
    ("long", "x" * 5000 + "\n"),
]


@pytest.mark.parametrize("name,text", TEXT_CASES, ids=[c[0] for c in TEXT_CASES])
def test_text_errors_have_the_shape(name, text, tracetool, tmp_path):
    path = str(tmp_path / (name + ".mtr.txt"))
    want, got = both_lines(tracetool, path, text.encode())
    assert want is not None and got is not None, (want, got)
    w, g = SHAPE.match(want), SHAPE.match(got)
    assert w and g, (want, got)
    assert g.group("file") == w.group("file") == path
    # Same place: the same line number.
    assert re.findall(r"line \d+", g.group("where")) == re.findall(r"line \d+", w.group("where")), (want, got)

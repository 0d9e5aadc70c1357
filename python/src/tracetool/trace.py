"""Reading tracetool traces: binary (``*.mtr.zst``) and text (``*.mtr.txt``, ``*.csv``, optionally
zstd-compressed), detected by content as ``tracetool`` does. Written from docs/FORMAT.md.

A problem with a file raises :class:`TraceError`, whose message has the shape of tracetool's own
one line: ``FILE: record N, byte X: what was wrong`` (text: ``line N`` instead of the byte).
"""

from __future__ import annotations

import hashlib
import json
import struct
from collections import namedtuple
from typing import Dict, Iterator, List, Optional

import zstandard

__all__ = [
    "TraceError",
    "Record",
    "Trace",
    "open_trace",
    "KINDS",
]

#: The record kinds, as tracetool's reports name them.
KINDS = ("read", "write", "content", "zero", "free", "powerOn", "powerOff")

#: One event record. ``kind`` is one of :data:`KINDS`; ``count`` is 1 for single-page records
#: and power records; ``hash`` is set for content records (0 otherwise); ``size`` is a content
#: record's compressed size in bytes (0: unknown); ``asid``/``vpn`` are set (not None) only for
#: reads and writes with a virtual address.
Record = namedtuple("Record", "time_us vm kind ppn count hash size asid vpn")

BINARY_MAGIC = b"\x89MTR\r\n\x1a\n"
ZSTD_MAGIC = b"\x28\xb5\x2f\xfd"
HIGHEST_VERSION = 2
MAX_HEADER = 16 << 20
MAX_FOOTER = 64 << 20
MAX_CHUNK = 16 << 20
MAX_CHUNK_RECORDS = 1 << 24
MAX_VMS = 65536
MAX_PAGES = 1 << 32
U32 = (1 << 32) - 1
U64 = (1 << 64) - 1
MAX_TEXT_LINE = 4096


class TraceError(Exception):
    """A problem with a trace; ``str(e)`` is one line like tracetool's."""

    def __init__(self, file, what, record=None, line=None, offset=None):
        self.file = file
        self.what = what
        self.record = record
        self.line = line
        self.offset = offset
        where = []
        if record is not None:
            where.append("record %d" % record)
        if line is not None:
            where.append("line %d" % line)
        if offset is not None:
            where.append("byte %d" % offset)
        location = (" " + ", ".join(where) + ":") if where else ""
        super().__init__("%s:%s %s" % (file, location, what))


# --- The byte source: a file, decompressed when it is zstd, read as a stream. ---------------


class _Source:
    """Decompressed bytes of a file, read forward with the raw offset kept; memory stays
    bounded by what the reader asks for at once (a chunk is at most 16 MiB)."""

    def __init__(self, path: str):
        self.path = path
        self.fh = open(path, "rb")
        first = self.fh.read(4)
        self.fh.seek(0)
        self.compressed = first == ZSTD_MAGIC or (
            len(first) == 4 and first[3] == 0x18 and first[2] == 0x4D and first[1] == 0x2A and first[0] & 0xF0 == 0x50
        )
        self.buf = bytearray()
        self.pos = 0  # read position in buf
        self.offset = 0  # raw offset of buf[pos]
        self.eof = False
        self._dctx = zstandard.ZstdDecompressor()
        self._obj = None
        self._frame_has_data = False
        self._pending = b""
        self._pending_at = 0

    def close(self):
        self.fh.close()

    # Compressed input is fed to zstd in pieces this small, so one call's output stays bounded
    # (a zstd block of a few bytes can expand to 128 KiB): a hostile file cannot make the
    # reader hold more than a chunk plus a few MiB, whatever it claims.
    FEED = 1024

    def _fill(self, want: int) -> None:
        while len(self.buf) - self.pos < want and not self.eof:
            if self.pos > (1 << 20):
                del self.buf[: self.pos]
                self.pos = 0
            if not self.compressed:
                data = self.fh.read(max(1 << 20, want))
                if not data:
                    self.eof = True
                self.buf += data
                continue
            if not self._pending:
                self._pending = self.fh.read(1 << 20)
                self._pending_at = 0
                if not self._pending:
                    if self._obj is not None and self._frame_has_data and not self._obj.eof:
                        raise TraceError(
                            self.path,
                            "truncated: the file ends inside a zstd frame",
                            offset=self.offset + len(self.buf) - self.pos,
                        )
                    self.eof = True
                    break
            piece = self._pending[self._pending_at : self._pending_at + self.FEED]
            self._pending_at += len(piece)
            if self._pending_at >= len(self._pending):
                self._pending = b""
            self._decompress(piece)

    def _decompress(self, data: bytes) -> None:
        while data:
            if self._obj is None:
                self._obj = self._dctx.decompressobj()
                self._frame_has_data = False
            try:
                out = self._obj.decompress(data)
            except zstandard.ZstdError as e:
                raise TraceError(self.path, "corrupt zstd data: %s" % e, offset=self.offset + len(self.buf) - self.pos)
            self._frame_has_data = True
            self.buf += out
            if self._obj.eof:
                data = self._obj.unused_data
                self._obj = None
            else:
                data = b""

    def ensure(self, n: int) -> bool:
        """True when n more bytes are available."""
        self._fill(n)
        return len(self.buf) - self.pos >= n

    def available(self) -> int:
        return len(self.buf) - self.pos

    def peek(self, n: int) -> bytes:
        self._fill(n)
        return bytes(self.buf[self.pos : self.pos + n])

    def take(self, n: int) -> bytes:
        b = bytes(self.buf[self.pos : self.pos + n])
        self.pos += n
        self.offset += n
        return b


# --- Header checks (docs/FORMAT.md "Header") ---------------------------------------------


def _is_uint(v) -> bool:
    return isinstance(v, int) and not isinstance(v, bool) and v >= 0


def _check_header(path: str, h, offset: int) -> dict:
    def bad(msg):
        return TraceError(path, "invalid header: " + msg, offset=offset)

    if not isinstance(h, dict):
        raise bad("the header JSON is not an object")
    ps = h.get("pageSize")
    if not _is_uint(ps) or ps < 512 or ps > 1 << 30 or ps & (ps - 1):
        raise bad("pageSize: %r is not a power of two from 512 to 2^30" % (ps,))
    vms = h.get("vms")
    if not isinstance(vms, list):
        raise bad("vms: missing or not a list")
    if len(vms) > MAX_VMS:
        raise bad("%d VMs exceed the limit of %d" % (len(vms), MAX_VMS))
    seen = set()
    for i, vm in enumerate(vms):
        if not isinstance(vm, dict):
            raise bad("vms[%d] is not an object" % i)
        vid = vm.get("id")
        if not _is_uint(vid) or vid > U32:
            raise bad("vms[%d].id: %r is not a 32-bit unsigned integer" % (i, vid))
        if vid in seen:
            raise bad("vms[%d].id: VM %d is declared twice" % (i, vid))
        seen.add(vid)
        pages = vm.get("pages")
        if not _is_uint(pages) or pages < 1 or pages > MAX_PAGES:
            raise bad("vms[%d].pages: %r is not in 1…2^32" % (i, pages))
        name = vm.get("name")
        if not isinstance(name, str) or not name or "," in name or "\n" in name or "\r" in name:
            raise bad("vms[%d].name: %r is empty or holds a comma or line break" % (i, name))
        vps = vm.get("pageSize", ps)
        if not _is_uint(vps) or vps < 512 or vps > 1 << 30 or vps & (vps - 1):
            raise bad("vms[%d].pageSize: %r is not a power of two from 512 to 2^30" % (i, vps))
        for key in ("minPages", "shares"):
            if key in vm and not _is_uint(vm[key]):
                raise bad("vms[%d].%s: %r is not an unsigned integer" % (i, key, vm[key]))
        if "minPages" in vm and vm["minPages"] > pages:
            raise bad("vms[%d].minPages: %d exceeds the VM's %d pages" % (i, vm["minPages"], pages))
    cap = h.get("capture")
    if not isinstance(cap, dict):
        raise bad("capture: missing or not an object")
    for key in ("source", "tool", "toolVersion", "timeUnit", "accesses"):
        if not isinstance(cap.get(key), str):
            raise bad("capture.%s: missing or not a string" % key)
    if cap["timeUnit"] != "us":
        raise bad("capture.timeUnit: %r is not us" % cap["timeUnit"])
    if cap["accesses"] not in ("exact", "interval", "interval-writes"):
        raise bad("capture.accesses: %r is not exact, interval or interval-writes" % cap["accesses"])
    return h


# --- Totals, as the footer counts them ---------------------------------------------------


class Totals:
    """What a trace holds, counted as the binary footer counts it (docs/FORMAT.md "Footer")."""

    def __init__(self, vm_ids: List[int]):
        self.records = 0
        self.chunks = 0
        self.kinds = {k: 0 for k in KINDS}
        self.kinds["virtualAccesses"] = 0
        self.vm_records = {v: 0 for v in vm_ids}
        self.vm_pages = {v: 0 for v in vm_ids}
        self.vm_order = list(vm_ids)
        self.first_time: Optional[int] = None
        self.last_time: Optional[int] = None

    def count(self, r: Record) -> None:
        self.records += 1
        self.kinds[r.kind] += 1
        if r.asid is not None:
            self.kinds["virtualAccesses"] += 1
        self.vm_records[r.vm] += 1
        self.vm_pages[r.vm] += r.count
        if self.first_time is None:
            self.first_time = r.time_us
        self.last_time = r.time_us

    def as_footer(self) -> dict:
        """The footer JSON these totals make (the binary format's keys)."""
        d = {
            "records": self.records,
            "chunks": self.chunks,
            "kinds": dict(self.kinds),
            "vms": [{"id": v, "records": self.vm_records[v], "pages": self.vm_pages[v]} for v in self.vm_order],
        }
        if self.records:
            d["firstTime"] = self.first_time
            d["lastTime"] = self.last_time
        return d


# --- The trace ---------------------------------------------------------------------------


class Trace:
    """An open trace. ``header`` is the binary header's JSON (for text, the header a conversion
    to binary would write); ``encoding`` is ``binary`` or ``text``; iterate :meth:`records` once,
    or take DataFrames with :meth:`dataframes`. ``footer`` is the binary footer's JSON once the
    records have been read (None for text)."""

    def __init__(self, path: str, verify_footer: bool = True):
        self.path = path
        self.verify_footer = verify_footer
        self._src = _Source(path)
        self.footer: Optional[dict] = None
        self.totals: Optional[Totals] = None
        self._used = False
        head = self._src.peek(8)
        if not head:
            self._src.close()
            raise TraceError(path, "empty file: not a trace")
        if head == BINARY_MAGIC:
            self.encoding = "binary"
            self._read_binary_header()
        else:
            self.encoding = "text"
            self._text_preamble()

    def close(self):
        self._src.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    @property
    def vms(self) -> List[dict]:
        return self.header["vms"]

    # -- binary --

    def _read_binary_header(self):
        src, path = self._src, self.path
        if not src.ensure(16):
            raise TraceError(path, "truncated: the header is cut short", offset=src.available())
        fixed = src.take(16)
        version, flags, length = struct.unpack_from("<HHI", fixed, 8)
        if version == 0:
            raise TraceError(path, "invalid header: format version 0", offset=8)
        if version > HIGHEST_VERSION:
            raise TraceError(
                path,
                "format version %d is newer than this tracetool reads (up to %d)" % (version, HIGHEST_VERSION),
                offset=8,
            )
        if flags != 0:
            raise TraceError(path, "invalid header: unknown header flags 0x%x" % flags, offset=10)
        if length > MAX_HEADER:
            raise TraceError(path, "header of %d bytes exceeds the %d-byte limit" % (length, MAX_HEADER), offset=12)
        if not src.ensure(length):
            raise TraceError(path, "truncated: the header JSON is cut short (%d bytes announced)" % length, offset=16)
        raw = src.take(length)
        try:
            h = json.loads(raw.decode("utf-8"))
        except (UnicodeDecodeError, ValueError) as e:
            raise TraceError(path, "invalid header: the JSON does not parse (%s)" % e, offset=16)
        self.version = version
        self.header = _check_header(path, h, 16)

    def _binary_records(self) -> Iterator[List[Record]]:
        """Yields each chunk's records as a list."""
        src, path = self._src, self.path
        vms = self.header["vms"]
        index = {vm["id"]: i for i, vm in enumerate(vms)}
        limits = [vm["pages"] for vm in vms]
        page_bytes = [vm.get("pageSize", self.header["pageSize"]) for vm in vms]
        totals = Totals([vm["id"] for vm in vms])
        self.totals = totals
        last_time = 0
        version = self.version
        while True:
            if not src.ensure(4):
                if src.available() == 0:
                    raise TraceError(path, "truncated: the stream ends without a footer", totals.records, offset=src.offset)
                raise TraceError(path, "truncated: the stream ends inside a chunk header", totals.records, offset=src.offset)
            tag = src.peek(4)
            if tag == b"FOOT":
                self._read_footer(totals)
                return
            if tag != b"CHNK":
                raise TraceError(
                    path,
                    "expected a chunk or the footer, found bytes %s" % " ".join("%02x" % b for b in tag),
                    totals.records,
                    offset=src.offset,
                )
            if not src.ensure(20):
                raise TraceError(path, "truncated: the stream ends inside a chunk header", totals.records, offset=src.offset)
            hdr = src.peek(20)
            length, count, base = struct.unpack_from("<IIQ", hdr, 4)
            if length > MAX_CHUNK:
                raise TraceError(
                    path, "chunk of %d bytes exceeds the %d-byte limit" % (length, MAX_CHUNK), totals.records, offset=src.offset
                )
            if count > length or count > MAX_CHUNK_RECORDS:
                raise TraceError(
                    path, "bad chunk: %d records cannot fit in %d bytes" % (count, length), totals.records, offset=src.offset
                )
            if base < last_time:
                raise TraceError(
                    path, "time goes backwards (%d after %d)" % (base, last_time), totals.records, offset=src.offset
                )
            if not src.ensure(20 + length):
                raise TraceError(
                    path,
                    "truncated: a chunk of %d bytes is cut short after %d" % (length, src.available() - 20),
                    totals.records,
                    offset=src.offset,
                )
            payload_offset = src.offset + 20
            src.take(20)
            payload = src.take(length)
            recs, last_time = _decode_chunk(
                path, payload, count, base, payload_offset, totals.records, index, limits, page_bytes, version
            )
            totals.chunks += 1
            for r in recs:
                totals.count(r)
            yield recs

    def _read_footer(self, totals: Totals):
        src, path = self._src, self.path
        if not src.ensure(8):
            raise TraceError(path, "truncated: the footer is cut short", totals.records, offset=src.offset)
        (length,) = struct.unpack_from("<I", src.peek(8), 4)
        if length > MAX_FOOTER:
            raise TraceError(
                path, "footer of %d bytes exceeds the %d-byte limit" % (length, MAX_FOOTER), totals.records, offset=src.offset
            )
        if not src.ensure(8 + length):
            raise TraceError(path, "truncated: the footer is cut short", totals.records, offset=src.offset)
        at = src.offset
        src.take(8)
        try:
            f = json.loads(src.take(length).decode("utf-8"))
            if not isinstance(f, dict):
                raise ValueError("not an object")
            for key in ("records", "chunks", "kinds", "vms"):
                if key not in f:
                    raise ValueError("missing key %s" % key)
        except (UnicodeDecodeError, ValueError) as e:
            raise TraceError(path, "invalid footer: %s" % e, totals.records, offset=at)
        if src.ensure(1):
            raise TraceError(path, "%d+ bytes after the footer" % src.available(), totals.records, offset=src.offset)
        self.footer = f
        if self.verify_footer:
            _compare_footer(path, f, totals, src.offset)

    # -- text --

    def _text_preamble(self):
        """Reads the declarations before the first record, so ``header`` is known up front;
        declarations after records are still read by :meth:`records`."""
        self._lines = _TextLines(self._src, self.path)
        self._text = _TextState(self.path)
        self._pending = None
        for ln, line in self._lines:
            if self._text.declaration(ln, line):
                continue
            self._pending = (ln, line)
            break
        self.header = self._text.header()
        self.version = None

    def _text_records(self, per_chunk: int) -> Iterator[List[Record]]:
        st = self._text
        totals = Totals([vm["id"] for vm in st.vms])
        self.totals = totals
        batch: List[Record] = []

        def lines():
            if self._pending is not None:
                yield self._pending
            yield from self._lines

        for ln, line in lines():
            r = st.record(ln, line, totals.records)
            if r is None:
                # A declaration among the records: the header grows.
                totals.vm_records.update({vm["id"]: 0 for vm in st.vms if vm["id"] not in totals.vm_records})
                totals.vm_pages.update({vm["id"]: 0 for vm in st.vms if vm["id"] not in totals.vm_pages})
                totals.vm_order = [vm["id"] for vm in st.vms]
                self.header = st.header()
                continue
            totals.count(r)
            batch.append(r)
            if len(batch) >= per_chunk:
                yield batch
                batch = []
        self.header = st.header()
        if batch:
            yield batch

    # -- public --

    def chunks(self, per_chunk: int = 65536) -> Iterator[List[Record]]:
        """The records in lists: one per binary chunk, or of ``per_chunk`` text lines."""
        if self._used:
            raise RuntimeError("a Trace's records can be read once; open the file again")
        self._used = True
        try:
            if self.encoding == "binary":
                yield from self._binary_records()
            else:
                yield from self._text_records(per_chunk)
        finally:
            self._src.close()

    def records(self) -> Iterator[Record]:
        """Every event record, in order."""
        for batch in self.chunks():
            yield from batch

    def dataframes(self, per_chunk: int = 65536):
        """One pandas DataFrame per chunk (columns: time_us, vm, kind, ppn, count, hash, size,
        asid, vpn; kind is categorical; asid/vpn are <NA> where a record has none)."""
        import pandas as pd

        for batch in self.chunks(per_chunk):
            yield _frame(pd, batch)

    def dataframe(self):
        """Every record in one DataFrame (for traces that fit in memory)."""
        import pandas as pd

        frames = list(self.dataframes())
        if not frames:
            return _frame(pd, [])
        return pd.concat(frames, ignore_index=True)

    def canonical_text(self) -> Iterator[str]:
        """The trace as tracetool's canonical text, line by line (no line ends): the same bytes
        ``tracetool convert FILE OUT.mtr.txt`` writes."""
        records = self.records()
        first = next(records, None)  # reading the first record settles a text trace's header
        h = self.header
        cap = h.get("capture", {})
        if isinstance(cap.get("hash"), dict) and cap["hash"].get("algorithm"):
            yield "hash," + cap["hash"]["algorithm"]
        if cap.get("compression"):
            yield "compression," + cap["compression"]
        for vm in h["vms"]:
            s = "vm,%d,%s,%d" % (vm["id"], vm["name"], vm["pages"])
            ps = vm.get("pageSize", h["pageSize"])
            if ps != 4096:
                s += ",%d" % ps
            if "minPages" in vm:
                s += ",min=%d" % vm["minPages"]
            if "shares" in vm:
                s += ",shares=%d" % vm["shares"]
            yield s
        if first is None:
            return
        yield canonical_line(first)
        for r in records:
            yield canonical_line(r)

    def checksum(self) -> str:
        """SHA-256 of the canonical text (lines joined with LF, a final LF): equal to
        ``sha256sum`` of what ``tracetool convert`` writes."""
        h = hashlib.sha256()
        for line in self.canonical_text():
            h.update(line.encode("utf-8"))
            h.update(b"\n")
        return h.hexdigest()


_LETTER = {"read": "R", "write": "W", "zero": "Z", "free": "FREE"}


def canonical_line(r: Record) -> str:
    """One record as canonical text."""
    k = r.kind
    if k == "content":
        s = "%d,%d,C,%d,%016x" % (r.time_us, r.vm, r.ppn, r.hash)
        return s + (",%d" % r.size if r.size else "")
    if k == "powerOn":
        return "%d,%d,ON" % (r.time_us, r.vm)
    if k == "powerOff":
        return "%d,%d,OFF" % (r.time_us, r.vm)
    if r.asid is not None:
        return "%d,%d,%sV,%d,%d,%d" % (r.time_us, r.vm, _LETTER[k], r.ppn, r.asid, r.vpn)
    s = "%d,%d,%s,%d" % (r.time_us, r.vm, _LETTER[k], r.ppn)
    return s + (",%d" % r.count if r.count != 1 else "")


def _frame(pd, batch):
    cols = list(zip(*batch)) if batch else [[] for _ in Record._fields]
    kinds = pd.CategoricalDtype(list(KINDS))
    return pd.DataFrame(
        {
            "time_us": pd.array(cols[0], dtype="UInt64"),
            "vm": pd.array(cols[1], dtype="UInt32"),
            "kind": pd.Series(cols[2], dtype=kinds),
            "ppn": pd.array(cols[3], dtype="UInt64"),
            "count": pd.array(cols[4], dtype="UInt32"),
            "hash": pd.array(cols[5], dtype="UInt64"),
            "size": pd.array(cols[6], dtype="UInt32"),
            "asid": pd.array(cols[7], dtype="UInt32"),
            "vpn": pd.array(cols[8], dtype="UInt64"),
        }
    )


def _varint_problem(p: bytes, i: int, n: int) -> str:
    k = 0
    while i < n:
        k += 1
        if p[i] < 0x80 or k >= 10:
            return "over-long varint (more than 64 bits)"
        i += 1
    return "bad chunk: a record runs past the chunk's end"


class _Bad(Exception):
    def __init__(self, what, at):
        self.what, self.at = what, at


def _decode_chunk(path, p, count, base, payload_offset, first_record, index, limits, page_bytes, version):
    """Decodes one chunk's payload (docs/FORMAT.md "Payload records")."""
    n = len(p)
    out: List[Record] = []
    append = out.append
    time = base
    vi = -1
    vm_id = 0
    limit = 0
    nxt: Dict[int, int] = {}
    i = 0
    at = 0

    def varint():
        nonlocal i
        b = p[i] if i < n else 0x80
        if b < 0x80:
            i += 1
            return b
        v = 0
        shift = 0
        j = i
        while True:
            if j >= n:
                raise _Bad(_varint_problem(p, i, n), at)
            b = p[j]
            j += 1
            if shift == 63 and b > 1:
                raise _Bad(_varint_problem(p, i, n), at)
            v |= (b & 0x7F) << shift
            if b < 0x80:
                i = j
                return v
            shift += 7
            if shift > 63:
                raise _Bad(_varint_problem(p, i, n), at)

    def unknown(at):
        if n - at >= 4 and p[at : at + 4] in (b"FOOT", b"CHNK"):
            what = "the footer" if p[at : at + 4] == b"FOOT" else "the next chunk"
            return "bad chunk: the chunk's length (%d bytes) runs into %s: its records end %d bytes in" % (n, what, at)
        return "unknown record opcode 0x%x" % p[at]

    try:
        while i < n:
            at = i
            op = p[i]
            i += 1
            if op == 0x01:
                time += varint()
                if time > U64:
                    raise _Bad("time overflows 64 bits", at)
                continue
            if op == 0x02:
                vid = varint()
                if vid > U32 or vid not in index:
                    raise _Bad("VM %d is not declared" % (vid & U32), at)
                vi = index[vid]
                vm_id = vid
                limit = limits[vi]
                continue
            if op == 0x3F:
                varint()
                ln = varint()
                if ln > n - i:
                    raise _Bad("bad chunk: an extension record runs past the chunk's end", at)
                i += ln
                continue
            is_event = 0x10 <= op <= 0x15 or 0x20 <= op <= 0x25 or op in (0x30, 0x31)
            if op < 0x10 or not is_event:
                raise _Bad(unknown(at), at)
            if vi < 0:
                raise _Bad("record before any VM select in its chunk", at)
            if len(out) >= count:
                raise _Bad("bad chunk: more records than the %d the chunk header announces" % count, at)
            if op == 0x30:
                append(Record(time, vm_id, "powerOn", 0, 1, 0, 0, None, None))
                continue
            if op == 0x31:
                append(Record(time, vm_id, "powerOff", 0, 1, 0, 0, None, None))
                continue
            if op == 0x25 and version < 2:
                raise _Bad(unknown(at), at)
            d = varint()
            ppn = (nxt.get(vi, 0) + ((d >> 1) ^ -(d & 1))) & U64
            cnt = 1
            h = 0
            size = 0
            asid = vpn = None
            if op <= 0x11:
                kind = "read" if op == 0x10 else "write"
            elif op <= 0x13:
                kind = "read" if op == 0x12 else "write"
                cnt = varint()
            elif op <= 0x15:
                kind = "read" if op == 0x14 else "write"
                asid = varint()
                if asid > U32:
                    raise _Bad("address space id %d exceeds 32 bits" % asid, at)
                vpn = varint()
            elif op == 0x20 or op == 0x25:
                kind = "content"
                if n - i < 8:
                    raise _Bad("bad chunk: a content record runs past the chunk's end", at)
                (h,) = struct.unpack_from("<Q", p, i)
                i += 8
                if op == 0x25:
                    size = varint()
                    if size < 1 or size > page_bytes[vi]:
                        raise _Bad(
                            "compressed size %d bytes is not in 1…%d (the page size)" % (size, page_bytes[vi]), at
                        )
            elif op == 0x21:
                kind = "zero"
            elif op == 0x22:
                kind = "zero"
                cnt = varint()
            elif op == 0x23:
                kind = "free"
            else:
                kind = "free"
                cnt = varint()
            if cnt < 1 or cnt > U32 or ppn >= limit or cnt > limit - ppn:
                if cnt == 0:
                    raise _Bad("run of 0 pages", at)
                if cnt > U32:
                    raise _Bad("run of %d pages; a run is at most 2^32 − 1 pages" % cnt, at)
                if cnt > 1:
                    raise _Bad(
                        "pages %d..%d out of range for VM %d (%d pages)" % (ppn, (ppn + cnt - 1) & U64, vm_id, limit), at
                    )
                raise _Bad("PPN %d out of range for VM %d (%d pages)" % (ppn, vm_id, limit), at)
            nxt[vi] = ppn + cnt
            append(Record(time, vm_id, kind, ppn, cnt, h, size, asid, vpn))
        if len(out) != count:
            raise _Bad("bad chunk: %d records decoded, the chunk header announces %d" % (len(out), count), n)
    except _Bad as e:
        raise TraceError(path, e.what, first_record + len(out), offset=payload_offset + e.at)
    return out, time


def _compare_footer(path, f, c: Totals, at):
    def mismatch(what, stored, found):
        return TraceError(
            path, "footer does not match the body: %s: footer says %s, body has %s" % (what, stored, found), c.records, offset=at
        )

    if f.get("records") != c.records:
        raise mismatch("records", f.get("records"), c.records)
    if f.get("chunks") != c.chunks:
        raise mismatch("chunks", f.get("chunks"), c.chunks)
    kinds = f.get("kinds") or {}
    for k in KINDS:
        if kinds.get(k) != c.kinds[k]:
            raise mismatch("%s records" % k, kinds.get(k), c.kinds[k])
    if kinds.get("virtualAccesses") != c.kinds["virtualAccesses"]:
        raise mismatch("virtual accesses", kinds.get("virtualAccesses"), c.kinds["virtualAccesses"])
    fv = f.get("vms") or []
    if len(fv) != len(c.vm_order):
        raise mismatch("number of VMs", len(fv), len(c.vm_order))
    for a, vid in zip(fv, c.vm_order):
        if a.get("id") != vid:
            raise mismatch("VM order (vms[] follows the header)", "VM %s" % a.get("id"), "VM %d" % vid)
        if a.get("records") != c.vm_records[vid]:
            raise mismatch("VM %d records" % vid, a.get("records"), c.vm_records[vid])
        if a.get("pages") != c.vm_pages[vid]:
            raise mismatch("VM %d pages" % vid, a.get("pages"), c.vm_pages[vid])
    if f.get("firstTime") != c.first_time or f.get("lastTime") != c.last_time:

        def span(a, b, none):
            return none if a is None and b is None else "%s…%s" % ("?" if a is None else a, "?" if b is None else b)

        raise mismatch(
            "time span (firstTime…lastTime)",
            span(f.get("firstTime"), f.get("lastTime"), "none"),
            span(c.first_time, c.last_time, "none (no event records)"),
        )


# --- Text traces (docs/FORMAT.md "Text traces") -------------------------------------------


class _TextLines:
    """(line number, line) for each non-blank, non-comment line; CR before LF dropped."""

    def __init__(self, src: _Source, path: str):
        self.src, self.path = src, path
        self.number = 0

    def __iter__(self):
        src = self.src
        while True:
            src._fill(MAX_TEXT_LINE + 2)
            avail = src.available()
            if avail == 0:
                return
            window = src.buf[src.pos : src.pos + min(avail, MAX_TEXT_LINE + 2)]
            nl = window.find(b"\n")
            self.number += 1
            if nl < 0:
                if avail > MAX_TEXT_LINE:
                    raise TraceError(self.path, "line longer than %d bytes" % MAX_TEXT_LINE, line=self.number)
                raw = src.take(avail)
            else:
                if nl > MAX_TEXT_LINE:
                    raise TraceError(self.path, "line longer than %d bytes" % MAX_TEXT_LINE, line=self.number)
                raw = src.take(nl + 1)[:-1]
            if raw.endswith(b"\r"):
                raw = raw[:-1]
            if not raw.strip(b" \t") or raw[:1] == b"#":
                continue
            try:
                yield self.number, raw.decode("utf-8")
            except UnicodeDecodeError:
                raise TraceError(self.path, "not valid UTF-8", line=self.number)


def _num(path, ln, s, what, hi):
    if not s or not s.isdigit() or not s.isascii():
        raise TraceError(path, "%s: %r is not an unsigned decimal number" % (what, s), line=ln)
    v = int(s)
    if v > hi:
        raise TraceError(path, "%s: %s is out of range" % (what, s), line=ln)
    return v


class _TextState:
    def __init__(self, path):
        self.path = path
        self.vms: List[dict] = []
        self.by_id: Dict[int, dict] = {}
        self.hash_name: Optional[str] = None
        self.compression: Optional[str] = None
        self.time = 0
        self.records_seen = False

    def header(self) -> dict:
        sizes = {vm["_ps"] for vm in self.vms}
        common = sizes.pop() if len(sizes) == 1 else 4096
        vms = []
        for vm in self.vms:
            d = {k: v for k, v in vm.items() if not k.startswith("_")}
            if vm["_ps"] != common:
                d["pageSize"] = vm["_ps"]
            vms.append(d)
        cap = {"source": "text", "tool": "tracetool", "toolVersion": "0.1.0", "timeUnit": "us", "accesses": "exact"}
        if self.hash_name is not None:
            cap["hash"] = {"algorithm": self.hash_name, "bits": 64}
        if self.compression is not None:
            cap["compression"] = self.compression
        return {"pageSize": common, "vms": vms, "capture": cap}

    def declaration(self, ln, line) -> bool:
        path = self.path
        f = line.split(",")
        if f[0] == "hash":
            if self.records_seen or self.hash_name is not None or len(f) != 2 or not f[1]:
                raise TraceError(path, "a hash line comes once, before records, as hash,<name>", line=ln)
            self.hash_name = f[1]
            return True
        if f[0] == "compression":
            if self.records_seen or self.compression is not None or len(f) != 2 or not f[1]:
                raise TraceError(path, "a compression line comes once, before records, as compression,<name>", line=ln)
            self.compression = f[1]
            return True
        if f[0] != "vm":
            return False
        if len(f) < 4:
            raise TraceError(path, "a vm line is vm,<id>,<name>,<pages>[,<page size>][,min=<pages>][,shares=<n>]", line=ln)
        vid = _num(path, ln, f[1], "VM id", U32)
        if vid in self.by_id:
            raise TraceError(path, "VM %d is declared twice" % vid, line=ln)
        name = f[2]
        if not name:
            raise TraceError(path, "VM %d has an empty name" % vid, line=ln)
        pages = _num(path, ln, f[3], "pages", MAX_PAGES)
        if pages < 1:
            raise TraceError(path, "pages: a VM has 1 … 2^32 pages", line=ln)
        vm = {"id": vid, "name": name, "pages": pages, "_ps": 4096}
        rest = f[4:]
        if rest and not rest[0].startswith(("min=", "shares=")):
            ps = _num(path, ln, rest.pop(0), "page size", 1 << 30)
            if ps < 512 or ps & (ps - 1):
                raise TraceError(path, "page size %d is not a power of two from 512 to 2^30" % ps, line=ln)
            vm["_ps"] = ps
        if rest and rest[0].startswith("min="):
            vm["minPages"] = _num(path, ln, rest.pop(0)[4:], "min", U64)
            if vm["minPages"] > pages:
                raise TraceError(path, "min=%d exceeds the VM's %d pages" % (vm["minPages"], pages), line=ln)
        if rest and rest[0].startswith("shares="):
            vm["shares"] = _num(path, ln, rest.pop(0)[7:], "shares", U64)
        if rest:
            raise TraceError(path, "unexpected field %r on a vm line" % rest[0], line=ln)
        if len(self.vms) >= MAX_VMS:
            raise TraceError(path, "more than %d VMs" % MAX_VMS, line=ln)
        self.vms.append(vm)
        self.by_id[vid] = vm
        return True

    def record(self, ln, line, index) -> Optional[Record]:
        if self.declaration(ln, line):
            return None
        path = self.path
        f = line.split(",")
        if len(f) < 3:
            raise TraceError(path, "expected <time_us>,<vm>,<kind>,… or a declaration", index, line=ln)
        t = _num(path, ln, f[0], "time", U64)
        vid = _num(path, ln, f[1], "VM id", U32)
        vm = self.by_id.get(vid)
        if vm is None:
            raise TraceError(path, "VM %d is not declared" % vid, index, line=ln)
        if t < self.time:
            raise TraceError(path, "time goes backwards (%d after %d)" % (t, self.time), index, line=ln)
        self.time = t
        self.records_seen = True
        kind = f[2]
        args = f[3:]

        def need(lo, hi):
            if not lo <= len(args) <= hi:
                raise TraceError(path, "wrong number of fields for %s" % kind, index, line=ln)

        cnt = 1
        h = 0
        size = 0
        asid = vpn = None
        if kind in ("R", "W", "Z", "FREE"):
            need(1, 2)
            name = {"R": "read", "W": "write", "Z": "zero", "FREE": "free"}[kind]
            ppn = _num(path, ln, args[0], "PPN", U32)
            if len(args) == 2:
                cnt = _num(path, ln, args[1], "count", U32)
                if cnt == 0:
                    raise TraceError(path, "run of 0 pages", index, line=ln)
        elif kind in ("RV", "WV"):
            need(3, 3)
            name = "read" if kind == "RV" else "write"
            ppn = _num(path, ln, args[0], "PPN", U32)
            asid = _num(path, ln, args[1], "address space id", U32)
            vpn = _num(path, ln, args[2], "VPN", U64)
        elif kind == "C":
            need(2, 3)
            name = "content"
            ppn = _num(path, ln, args[0], "PPN", U32)
            hx = args[1]
            if len(hx) != 16 or any(c not in "0123456789abcdefABCDEF" for c in hx):
                raise TraceError(path, "hash %r is not 16 hexadecimal digits" % hx, index, line=ln)
            h = int(hx, 16)
            if len(args) == 3:
                size = _num(path, ln, args[2], "compressed size", U32)
                if size < 1 or size > vm["_ps"]:
                    raise TraceError(
                        path, "compressed size %d bytes is not in 1…%d (the page size)" % (size, vm["_ps"]), index, line=ln
                    )
        elif kind in ("ON", "OFF"):
            need(0, 0)
            return Record(t, vid, "powerOn" if kind == "ON" else "powerOff", 0, 1, 0, 0, None, None)
        else:
            raise TraceError(path, "unknown record kind %r" % kind, index, line=ln)
        if ppn + cnt > vm["pages"]:
            if cnt > 1:
                what = "pages %d..%d out of range for VM %d (%d pages)" % (ppn, ppn + cnt - 1, vid, vm["pages"])
            else:
                what = "PPN %d out of range for VM %d (%d pages)" % (ppn, vid, vm["pages"])
            raise TraceError(path, what, index, line=ln)
        return Record(t, vid, name, ppn, cnt, h, size, asid, vpn)


def open_trace(path: str, verify_footer: bool = True) -> Trace:
    """Opens a trace, binary or text (zstd-compressed or not), and reads its header."""
    return Trace(path, verify_footer=verify_footer)

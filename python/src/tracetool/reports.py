"""Reading tracetool's reports into pandas: replay reports (JSON), compare (CSV and JSON), plan
and stats (JSON), and a study's merged results (CSV or JSON). Written from docs/REPORT.md.

Units stay with the numbers. A quantity's unit is the last word of its name (docs/REPORT.md
"Units"): ``_pages``/``Pages``, ``_mib``/``MiB``, ``_bytes``/``Bytes``, ``_seconds``/``Seconds``,
``_percent``/``Percent``; anything else is a count, an id, a name or a ratio. Every DataFrame
returned here carries ``df.attrs["units"]`` (column → unit); the long ("tidy") forms carry a
``unit`` column as well.

A problem with a file raises :class:`ReportError` with one line: ``FILE: what was wrong``.
"""

from __future__ import annotations

import csv
import json
import os
import re
from typing import Dict, Iterable, List, Optional

__all__ = [
    "read_fingerprints",
    "read_place",
    "ReportError",
    "unit_of",
    "units_of",
    "read_report",
    "report_tables",
    "read_compare_csv",
    "read_compare_json",
    "read_plan_json",
    "read_stats_json",
    "read_study",
]

#: Report schema versions this reader knows (docs/REPORT.md); newer ones are refused.
KNOWN_SCHEMAS = {"replay": 3, "plan": 1, "stats": 5, "study": 1, "fingerprint": 1, "place": 1}

_SUFFIXES = [
    ("Percent", "percent"),
    ("Seconds", "seconds"),
    ("Pages", "pages"),
    ("MiB", "MiB"),
    ("Bytes", "bytes"),
]


class ReportError(Exception):
    """A problem with a report file; ``str(e)`` is one line: ``FILE: what``."""

    def __init__(self, file, what):
        self.file, self.what = file, what
        super().__init__("%s: %s" % (file, what))


def unit_of(name: str) -> str:
    """The unit a column or key name carries (docs/REPORT.md "Units"): ``pages``, ``MiB``,
    ``bytes``, ``seconds``, ``percent``, or ``count`` for a count, id, name, flag or ratio. A
    dotted path takes the unit of its innermost named part (``cost.breakdownSeconds.swapIn``
    is seconds). Statistics suffixes (``_mean``, ``_ci95_low``, ``_ci95_high``) are looked
    through."""
    parts = name.split(".")
    for part in reversed(parts):
        p = re.sub(r"_(mean|ci95_low|ci95_high)$", "", part)
        low = p.lower()
        for suffix, unit in _SUFFIXES:
            if p.endswith(suffix) or low.endswith("_" + suffix.lower()) or low == suffix.lower():
                return unit
    return "count"


def units_of(columns: Iterable[str]) -> Dict[str, str]:
    """Column → unit for every column."""
    return {c: unit_of(c) for c in columns}


def _load_json(path: str):
    try:
        with open(path, "rb") as f:
            data = f.read()
    except OSError as e:
        raise ReportError(path, e.strerror or str(e))
    if not data.strip():
        raise ReportError(path, "empty file: not a report")
    try:
        return json.loads(data.decode("utf-8"))
    except UnicodeDecodeError as e:
        raise ReportError(path, "not UTF-8 at byte %d" % e.start)
    except ValueError as e:
        raise ReportError(path, "not JSON: %s" % e)


def _check_schema(path: str, doc, kind: str) -> None:
    if not isinstance(doc, dict):
        raise ReportError(path, "not a tracetool %s report (the JSON is not an object)" % kind)
    v = doc.get("schemaVersion")
    if not isinstance(v, int) or isinstance(v, bool):
        raise ReportError(path, "not a tracetool %s report (no schemaVersion)" % kind)
    if v > KNOWN_SCHEMAS[kind]:
        raise ReportError(
            path, "%s report schema %d is newer than this reader knows (up to %d)" % (kind, v, KNOWN_SCHEMAS[kind])
        )


def _pd():
    try:
        import pandas
    except ImportError:  # pragma: no cover - depends on the environment
        raise ImportError("pandas is needed for DataFrames: pip install 'tracetool[pandas]'")
    return pandas


def _flatten(obj, prefix="") -> Dict[str, object]:
    """Nested objects → dotted keys; lists are left out (they become their own tables)."""
    out: Dict[str, object] = {}
    for k in sorted(obj):
        v = obj[k]
        key = prefix + k
        if isinstance(v, dict):
            out.update(_flatten(v, key + "."))
        elif isinstance(v, list):
            continue
        else:
            out[key] = v
    return out


def _with_units(df, extra: Optional[Dict[str, str]] = None):
    units = units_of(df.columns)
    if extra:
        units.update(extra)
    df.attrs["units"] = units
    return df


# --- replay reports -------------------------------------------------------------------------


def read_report(path: str) -> dict:
    """A replay report (``tracetool replay --format json``) as a dict, its schema checked."""
    doc = _load_json(path)
    _check_schema(path, doc, "replay")
    if "vms" not in doc or "host" not in doc:
        raise ReportError(path, "not a replay report (no host or vms)")
    return doc


def report_tables(report: dict) -> dict:
    """A replay report as DataFrames: ``host`` (one row: every scalar outside ``vms``, dotted
    names such as ``sharing.savedPages``) and ``vms`` (one row per VM, its scalars likewise).
    Units in ``attrs["units"]``."""
    pd = _pd()
    top = {k: v for k, v in report.items() if k != "vms"}
    host = _with_units(pd.DataFrame([_flatten(top)]))
    vms = _with_units(pd.DataFrame([_flatten(vm) for vm in report.get("vms", [])]))
    return {"host": host, "vms": vms}


# --- compare --------------------------------------------------------------------------------

_TEXT_COLUMNS = {"policy", "vm_name", "trace", "measure", "worst_vm_name", "seed_slowdown_percent"}
_ID_COLUMNS = {"vm_id", "seed", "seeds", "cell", "worst_vm_id"}


def _read_csv_rows(path: str):
    try:
        with open(path, newline="", encoding="utf-8") as f:
            rows = list(csv.reader(f))
    except OSError as e:
        raise ReportError(path, e.strerror or str(e))
    except UnicodeDecodeError as e:
        raise ReportError(path, "not UTF-8 at byte %d" % e.start)
    except csv.Error as e:
        raise ReportError(path, "not CSV: %s" % e)
    if not rows or not rows[0]:
        raise ReportError(path, "empty file: no header row")
    width = len(rows[0])
    for i, r in enumerate(rows[1:], start=2):
        if len(r) != width:
            raise ReportError(path, "line %d has %d fields, the header %d" % (i, len(r), width))
    return rows[0], rows[1:]


def _typed_frame(path: str, header: List[str], rows: List[List[str]]):
    """Columns as numbers where every value is one (empty cells → missing), ids as nullable
    integers, the rest as strings."""
    pd = _pd()
    data = {}
    for j, name in enumerate(header):
        values = [r[j] for r in rows]
        if name in _TEXT_COLUMNS:
            data[name] = pd.array(values, dtype="string")
            continue
        if name in ("within_budget", "unpressured", "on_grid", "answer"):
            if all(v in ("true", "false", "") for v in values):
                data[name] = pd.array([None if v == "" else v == "true" for v in values], dtype="boolean")
                continue
        try:
            nums = [None if v == "" else float(v) for v in values]
        except ValueError:
            data[name] = pd.array(values, dtype="string")
            continue
        if name in _ID_COLUMNS and all(x is None or x.is_integer() for x in nums):
            data[name] = pd.array([None if x is None else int(x) for x in nums], dtype="Int64")
        else:
            data[name] = pd.array(nums, dtype="Float64")
    return pd.DataFrame(data, columns=header)


def _metric_columns(header: List[str]) -> List[str]:
    start = header.index("vm_name") + 1 if "vm_name" in header else 0
    return header[start:]


def _tidy(df, header: List[str]):
    """The long form: the leading columns, then one row per metric with ``metric``, ``value``
    and ``unit``."""
    pd = _pd()
    metrics = _metric_columns(header)
    ids = [c for c in header if c not in metrics]
    long = df.melt(id_vars=ids, value_vars=metrics, var_name="metric", value_name="value")
    long["unit"] = pd.array([unit_of(m) for m in long["metric"]], dtype="string")
    long.attrs["units"] = units_of(long.columns)
    return long


def read_compare_csv(path: str, long: bool = False):
    """``tracetool compare --format csv`` or ``csv-summary`` as a DataFrame: one row per run (or
    per policy and cell) and VM, ``vm_name == "all"`` the host's row. With ``long=True``, tidy
    form: the leading columns, then ``metric``, ``value`` and ``unit`` (a summary's ``_mean``,
    ``_ci95_low`` and ``_ci95_high`` stay in the metric's name)."""
    header, rows = _read_csv_rows(path)
    for need in ("policy", "host_mib", "overcommit_ratio", "vm_id", "vm_name"):
        if need not in header:
            raise ReportError(path, "not a compare CSV (no %s column)" % need)
    df = _with_units(_typed_frame(path, header, rows))
    return _tidy(df, header) if long else df


def read_compare_json(path: str):
    """``tracetool compare --format json``: the ``summaries`` in tidy form, one row per policy,
    grid cell, VM (``all`` for the host) and metric: ``policy``, one column per swept key,
    ``seeds``, ``vm_id``, ``vm_name``, ``metric``, ``label``, ``mean``, ``ci95_low``,
    ``ci95_high``, ``unit``. The runs' full reports are under ``attrs["runs"]``."""
    pd = _pd()
    doc = _load_json(path)
    _check_schema(path, doc, "replay")
    if not isinstance(doc.get("summaries"), list):
        raise ReportError(path, "not a compare report (no summaries)")
    keys: List[str] = []
    for s in doc["summaries"]:
        for k in sorted(s.get("cell") or {}):
            if k not in keys:
                keys.append(k)
    rows = []
    for s in doc["summaries"]:
        cell = s.get("cell") or {}
        lead = [s.get("policy")] + [cell.get(k) for k in keys] + [len(s.get("seeds") or [])]
        for m in s.get("metrics", []):
            rows.append(lead + [None, "all", m["id"], m.get("label"), m.get("mean"), m.get("ci95Low"), m.get("ci95High")])
        for vm in s.get("vms", []):
            for m in vm.get("metrics", []):
                rows.append(
                    lead
                    + [vm.get("vmId"), vm.get("vmName"), m["id"], m.get("label"), m.get("mean"), m.get("ci95Low"), m.get("ci95High")]
                )
    cols = ["policy"] + keys + ["seeds", "vm_id", "vm_name", "metric", "label", "mean", "ci95_low", "ci95_high"]
    df = pd.DataFrame(rows, columns=cols)
    df["vm_id"] = df["vm_id"].astype("Int64")
    for c in ("mean", "ci95_low", "ci95_high"):
        df[c] = df[c].astype("Float64")
    df["unit"] = pd.array([unit_of(m) for m in df["metric"]], dtype="string")
    df.attrs["units"] = {"mean": "see unit", "ci95_low": "see unit", "ci95_high": "see unit"}
    df.attrs["runs"] = doc.get("runs", [])
    return df


# --- plan, stats ----------------------------------------------------------------------------


def read_plan_json(path: str):
    """``tracetool plan --format json``: every replayed point of every capacity curve, one row
    per trace, policy and overcommit ratio, with the policy's answer (``outcome``,
    ``within_overcommit``, ``over_overcommit``) alongside."""
    pd = _pd()
    doc = _load_json(path)
    _check_schema(path, doc, "plan")
    rows = []
    for t in doc.get("traces", []):
        answers = {a.get("policy"): a for a in t.get("answers", [])}
        for c in t.get("curves", []):
            a = answers.get(c.get("policy"), {})
            for p in c.get("points", []):
                row = {"trace": t.get("trace"), "policy": c.get("policy"), "outcome": a.get("outcome")}
                row["within_overcommit"] = (a.get("within") or {}).get("overcommit")
                row["over_overcommit"] = (a.get("over") or {}).get("overcommit")
                for k, v in p.items():
                    if not isinstance(v, list):
                        row[k] = v
                rows.append(row)
    df = pd.DataFrame(rows)
    df.attrs["budgetPercent"] = doc.get("budgetPercent")
    df.attrs["measure"] = doc.get("measure")
    return _with_units(df)


def read_stats_json(path: str) -> dict:
    """``tracetool stats --format json``: ``vms`` (one row per VM) and ``intervals`` (one row per
    listed interval: ``timeSeconds``, the totals, and one ``workingSetPages.<vm id>`` column per
    VM). The whole document is in ``attrs["stats"]`` of both."""
    pd = _pd()
    doc = _load_json(path)
    _check_schema(path, doc, "stats")
    ids = [vm.get("id") for vm in doc.get("vms", [])]
    vms = _with_units(pd.DataFrame(doc.get("vms", [])))
    rows = []
    for iv in doc.get("intervals", []):
        row = {k: v for k, v in iv.items() if k != "workingSetPages"}
        row.setdefault("emptyIntervalsBefore", 0)
        for vid, ws in zip(ids, iv.get("workingSetPages", [])):
            row["workingSetPages.%s" % vid] = ws
        rows.append(row)
    intervals = _with_units(pd.DataFrame(rows))
    top = {k: v for k, v in doc.items() if not isinstance(v, list)}
    vms.attrs["stats"] = intervals.attrs["stats"] = top
    return {"vms": vms, "intervals": intervals}


# --- fleets ---------------------------------------------------------------------------------


def read_fingerprints(path: str) -> dict:
    """``tracetool fingerprint --format json`` (docs/FLEET.md): ``vms`` (one row per VM),
    ``pairs`` (one row per pair listed, with the VMs' names as ``nameA``/``nameB``) and ``group``
    (a dict: all VMs on one host). ``k`` and ``relativeError`` are in ``attrs`` of both frames."""
    pd = _pd()
    doc = _load_json(path)
    _check_schema(path, doc, "fingerprint")
    if "vms" not in doc or "group" not in doc:
        raise ReportError(path, "not a fingerprint report (no vms or group)")
    vms = _with_units(pd.DataFrame(doc["vms"]))
    names = [v.get("name") for v in doc["vms"]]
    rows = []
    for pr in doc.get("pairs") or []:
        row = dict(pr)
        row["nameA"], row["nameB"] = names[pr["vmA"]], names[pr["vmB"]]
        rows.append(row)
    pairs = _with_units(pd.DataFrame(rows, columns=["vmA", "vmB", "nameA", "nameB", "gainPages", "gainMiB"]))
    for df in (vms, pairs):
        df.attrs["k"] = doc.get("k")
        df.attrs["relativeError"] = doc.get("relativeError")
    return {"vms": vms, "pairs": pairs, "group": doc["group"]}


def read_place(path: str) -> dict:
    """``tracetool place``'s ``report.json`` or ``placement.json`` (docs/FLEET.md), or its output
    folder: ``placements`` (one row per method, ``localSearch.*`` dotted) and ``hosts`` (one row
    per host of each method: ``method``, the estimates and ``replayed.*``, empty when not
    replayed; ``vms`` joined by spaces). The rest of the document is in ``attrs["place"]``."""
    pd = _pd()
    if os.path.isdir(path):
        path = os.path.join(path, "placement.json")
    doc = _load_json(path)
    _check_schema(path, doc, "place")
    if "placements" not in doc:
        raise ReportError(path, "not a place report (no placements)")
    placements, hosts = [], []
    for p in doc["placements"]:
        placements.append(_flatten(p))
        for h in p.get("hostList", []):
            row = {"method": p.get("method")}
            row.update(_flatten({k: v for k, v in h.items() if k != "replayed"}))
            row.update(_flatten(h.get("replayed") or {}, "replayed."))
            row["vms"] = " ".join(h.get("vms", []))
            hosts.append(row)
    top = {k: v for k, v in doc.items() if k != "placements"}
    out = {"placements": _with_units(pd.DataFrame(placements)), "hosts": _with_units(pd.DataFrame(hosts))}
    for df in out.values():
        df.attrs["place"] = top
    return out


# --- studies --------------------------------------------------------------------------------


def read_study(path: str, long: bool = False):
    """A study's merged results, ``merged.csv`` or ``merged.json`` (docs/STUDY.md), or the
    study's output folder (its ``merged.csv``): one row per cell, run and VM, with the compare
    CSV's columns after ``cell`` and ``trace``. ``long=True`` gives the tidy form as
    :func:`read_compare_csv` does. Cells that have not run are in ``attrs["missing"]``
    (JSON only)."""
    import os

    pd = _pd()
    if os.path.isdir(path):
        path = os.path.join(path, "merged.csv")
    if path.endswith(".json"):
        doc = _load_json(path)
        _check_schema(path, doc, "study")
        cols, data = doc.get("columns"), doc.get("rows")
        if not isinstance(cols, list) or not isinstance(data, list):
            raise ReportError(path, "not a study's merged.json (no columns or rows)")
        for i, r in enumerate(data):
            if not isinstance(r, list) or len(r) != len(cols):
                raise ReportError(path, "rows[%d] does not have the %d columns" % (i, len(cols)))
        df = pd.DataFrame(data, columns=cols).convert_dtypes()
        df.attrs["missing"] = doc.get("missing", [])
        header = cols
    else:
        header, rows = _read_csv_rows(path)
        if "cell" not in header or "trace" not in header:
            raise ReportError(path, "not a study's merged.csv (no cell or trace column)")
        df = _typed_frame(path, header, rows)
    df = _with_units(df)
    return _tidy(df, header) if long else df

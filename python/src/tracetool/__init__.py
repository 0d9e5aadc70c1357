"""Read tracetool's traces, reports, comparisons and studies from Python.

>>> import tracetool
>>> with tracetool.open_trace("traces/sample.mtr.zst") as t:
...     for r in t.records(): ...
>>> df = tracetool.read_compare_csv("sweep.csv")      # pandas, units in the column names

Everything is written from the project's docs/FORMAT.md (traces) and docs/REPORT.md (reports).
"""

from .trace import KINDS, Record, Trace, TraceError, canonical_line, open_trace
from .reports import (
    ReportError,
    read_compare_csv,
    read_compare_json,
    read_fingerprints,
    read_place,
    read_plan_json,
    read_report,
    read_stats_json,
    read_study,
    report_tables,
    units_of,
)

__version__ = "0.1.0"
__all__ = [
    "KINDS",
    "Record",
    "Trace",
    "TraceError",
    "canonical_line",
    "open_trace",
    "ReportError",
    "read_compare_csv",
    "read_compare_json",
    "read_fingerprints",
    "read_place",
    "read_plan_json",
    "read_report",
    "read_stats_json",
    "read_study",
    "report_tables",
    "units_of",
]

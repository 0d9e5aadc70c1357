"""``python -m tracetool summary FILE…``: each trace's totals (as its footer counts them) and
the SHA-256 of its canonical text, as one JSON object per line; a problem is one line on
stderr (``tracetool-py: FILE: record N, byte X: what``) and exit status 1."""

import json
import sys

from .trace import TraceError, open_trace


def summary(path: str) -> dict:
    with open_trace(path) as t:
        digest = t.checksum()
        return {
            "file": path,
            "encoding": t.encoding,
            "sha256": digest,
            "totals": t.totals.as_footer(),
        }


def main(argv=None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if len(args) < 2 or args[0] != "summary":
        print("usage: python -m tracetool summary FILE…", file=sys.stderr)
        return 64
    for path in args[1:]:
        try:
            print(json.dumps(summary(path), sort_keys=True))
        except TraceError as e:
            print("tracetool-py: %s" % e, file=sys.stderr)
            return 1
        except OSError as e:
            print("tracetool-py: %s: %s" % (path, e.strerror or e), file=sys.stderr)
            return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())

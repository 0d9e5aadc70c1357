#!/usr/bin/env bash
# The Python reader's tests (python/tests): `pip install ./python` into a fresh virtual
# environment (.build/python-venv, made anew each run; packages from PyPI), then pytest against
# a tracetool binary: `bash scripts/python-test.sh [TRACETOOL]` (default: a release build).
. "$(dirname "$0")/lib.sh"
tt_install python3 python3-venv
if [ $# -ge 1 ]; then tt=$(realpath "$1"); else tt_build release; tt=$(realpath "$tt"); fi
venv=.build/python-venv
rm -rf "$venv"
/usr/bin/python3 -m venv "$venv"
"$venv/bin/pip" install -q --disable-pip-version-check './python[test]' pytest-xdist
TRACETOOL=$tt "$venv/bin/python" -m pytest -q -n 2 -p no:cacheprovider python/tests

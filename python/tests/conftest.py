import os
import shutil
import subprocess

import pytest

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))


def _tracetool():
    """The tracetool binary the Python reader is checked against: $TRACETOOL, else the
    project's release build, else `tracetool` on PATH."""
    for cand in (os.environ.get("TRACETOOL"), os.path.join(ROOT, ".build", "release", "tracetool"), shutil.which("tracetool")):
        if cand and os.path.isfile(cand) and os.access(cand, os.X_OK):
            return cand
    pytest.exit("no tracetool binary: set TRACETOOL or build the project (swift build -c release)", returncode=2)


@pytest.fixture(scope="session")
def tracetool():
    return _tracetool()


@pytest.fixture(scope="session")
def root():
    return ROOT


def run(args, **kw):
    return subprocess.run(args, capture_output=True, text=True, **kw)

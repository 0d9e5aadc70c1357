#!/usr/bin/env bash
# Installs what tracetool needs on a fresh Debian machine that already has Swift, and only what
# is missing: libzstd-dev (the library and its pkg-config file), libxxhash-dev (the capture's
# page hash), zstd (the CLI, used by tests and the decode benchmark), pkg-config, time (GNU
# time, for peak memory in scripts/hostile.sh), python3 (tests read outputs with its csv and
# json modules) and python3-yaml (the offline check of the Kubernetes manifests).
. "$(dirname "$0")/lib.sh"
tt_install libzstd-dev libxxhash-dev zstd pkg-config time python3 python3-yaml
command -v swift >/dev/null 2>&1 || { echo "swift is not on PATH (expected Swift 6.1 or later)" >&2; exit 1; }

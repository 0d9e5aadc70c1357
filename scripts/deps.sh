#!/usr/bin/env bash
# Installs what tracetool needs on a fresh Debian machine that already has Swift, and only what
# is missing: libzstd-dev (the library and its pkg-config file), libxxhash-dev (the capture's page hash), zstd (the CLI, used by tests
# and the decode benchmark), pkg-config, time (GNU time, for peak memory in scripts/hostile.sh) and
# python3 (a test reads compare's CSV with its csv module).
set -euo pipefail
missing=()
dpkg -s libzstd-dev >/dev/null 2>&1 || missing+=(libzstd-dev)
dpkg -s libxxhash-dev >/dev/null 2>&1 || missing+=(libxxhash-dev)
command -v zstd >/dev/null 2>&1 || missing+=(zstd)
command -v pkg-config >/dev/null 2>&1 || missing+=(pkg-config)
[ -x /usr/bin/time ] || missing+=(time)
command -v python3 >/dev/null 2>&1 || missing+=(python3)
if ((${#missing[@]})); then
  echo "installing: ${missing[*]}" >&2
  sudo=""
  [ "$(id -u)" -eq 0 ] || sudo="sudo"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${missing[@]}" >/dev/null
fi
command -v swift >/dev/null 2>&1 || { echo "swift is not on PATH (expected Swift 6.1 or later)" >&2; exit 1; }

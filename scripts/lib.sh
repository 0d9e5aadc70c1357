# Shared by the scripts in this folder; each sources it first:  . "$(dirname "$0")/lib.sh"
# It stops on the first error, moves to the project's root, and defines:
#   tt_install PKG…   installs the Debian packages among PKG… that are missing (apt-get, as
#                     root or with sudo), with one `apt-get update` before
#   tt_build [KIND]   builds tracetool and sets $tt to it: release (the default), or checked
#                     (optimised like release, with the engine's step-by-step checks on: the
#                     build the tests run, in .build/checked)
#   tt_checked        the swift build/test flags of the checked build
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

tt_install() {
  local missing=() p
  for p in "$@"; do dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p"); done
  ((${#missing[@]})) || return 0
  echo "installing: ${missing[*]}" >&2
  local sudo=""
  [ "$(id -u)" -eq 0 ] || sudo=sudo
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${missing[@]}" >/dev/null
}

tt_checked=(-c release --scratch-path .build/checked -Xswiftc -DTRACETOOL_CHECKS)

tt_build() {
  tt_build_env
  case ${1:-release} in
    release)
      swift build -c release --product tracetool >/dev/null
      tt=.build/release/tracetool ;;
    checked)
      swift build "${tt_checked[@]}" --product tracetool >/dev/null
      tt=.build/checked/release/tracetool ;;
    *) echo "tt_build: release or checked, not $1" >&2; return 2 ;;
  esac
}

# What the binary says it was built from (Package.swift reads these; `tracetool --version`):
# the commit (with "-dirty" when the work tree has changes to tracked files) and its date, or
# SOURCE_DATE_EPOCH's, so a build does not depend on the wall clock. Outside git: unknown.
tt_build_env() {
  if [ -z "${TRACETOOL_COMMIT:-}" ] && git rev-parse --git-dir >/dev/null 2>&1; then
    TRACETOOL_COMMIT=$(git rev-parse --short=12 HEAD)
    git diff --quiet HEAD -- 2>/dev/null || TRACETOOL_COMMIT+=-dirty
    export TRACETOOL_COMMIT
  fi
  if [ -z "${TRACETOOL_BUILD_DATE:-}" ]; then
    local epoch=${SOURCE_DATE_EPOCH:-$(git log -1 --format=%ct 2>/dev/null || true)}
    [ -n "$epoch" ] && TRACETOOL_BUILD_DATE=$(date -u -d "@$epoch" +%Y-%m-%dT%H:%M:%SZ) && export TRACETOOL_BUILD_DATE
  fi
  return 0
}

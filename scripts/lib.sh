# Shared by the scripts in this folder; each sources it first:  . "$(dirname "$0")/lib.sh"
# It stops on the first error, moves to the project's root, and defines:
#   tt_install PKG…   installs the Debian packages among PKG… that are missing (apt-get, as
#                     root or with sudo), with one `apt-get update` before
#   tt_build [KIND]   builds tracetool and sets $tt to it: release (the default), or checked
#                     (optimised like release, with the engine's step-by-step checks on: the
#                     build the tests run, in .build/checked)
#   tt_checked        the swift build/test flags of the checked build
#   tt_apt ARG…       apt-get ARG… (with sudo when not root), waiting up to 10 minutes, and
#                     saying so, while another process holds apt's or dpkg's lock
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

tt_install() {
  local missing=() p
  for p in "$@"; do dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p"); done
  ((${#missing[@]})) || return 0
  echo "installing: ${missing[*]}" >&2
  tt_apt update -qq
  tt_apt install -y -qq "${missing[@]}" >/dev/null
}

tt_apt() {
  local sudo="" waited=0 err rc
  [ "$(id -u)" -eq 0 ] || sudo=sudo
  err="$(mktemp)"
  while true; do
    rc=0
    DEBIAN_FRONTEND=noninteractive $sudo apt-get -o DPkg::Lock::Timeout=0 "$@" 2>"$err" || rc=$?
    if [ "$rc" -ne 0 ] && grep -q 'Could not get lock\|Unable to acquire the dpkg frontend lock\|Unable to lock' "$err"; then
      if [ "$waited" -ge 600 ]; then
        echo "apt-get $1: another process has held apt's lock for 10 minutes: $(grep -m1 'lock' "$err")" >&2
        rm -f "$err"
        return 1
      fi
      [ "$waited" -gt 0 ] || echo "apt-get $1: another process holds apt's lock ($(grep -m1 -o 'held by process [0-9]*.*' "$err" || echo 'see apt'));" \
        "waiting for it (up to 10 minutes)" >&2
      sleep 10
      waited=$((waited + 10))
      continue
    fi
    cat "$err" >&2
    rm -f "$err"
    return "$rc"
  done
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

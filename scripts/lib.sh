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

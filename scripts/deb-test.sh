#!/usr/bin/env bash
# The Debian package, installed as a user would: builds it (scripts/package.sh) twice and
# compares the bytes, makes a fresh Debian minbase root with mmdebstrap (no Swift in it),
# installs the .deb there with apt (which resolves its Depends from the Debian mirror), and
# runs `tracetool --version`, `info`, `validate` and `replay` on the packaged sample trace in
# the root, and checks the man pages and completions are installed.
#
# Needs root (mmdebstrap --mode=root, chroot) and the Debian mirror; a few minutes, mostly the
# static release build. Not part of scripts/test.sh: run it as `bash scripts/deb-test.sh`.
. "$(dirname "$0")/lib.sh"
[ "$(id -u)" -eq 0 ] || { echo "deb-test: needs root (mmdebstrap --mode=root and chroot)" >&2; exit 1; }
tt_install mmdebstrap
work=$(mktemp -d "${TMPDIR:-/tmp}/tracetool-debtest.XXXXXX")
root=$work/root
cleanup() {
  if mountpoint -q "$root/proc" 2>/dev/null; then umount "$root/proc"; fi
  rm -rf "$work"
}
trap cleanup EXIT
step() { printf 'deb-test: %s (%ds)\n' "$1" "$SECONDS"; }

deb=$(bash scripts/package.sh "$work/dist1")
step "built $(basename "$deb"), $(du -k "$deb" | cut -f1) KiB"
deb2=$(bash scripts/package.sh "$work/dist2")
cmp "$deb" "$deb2" || { echo "deb-test: two builds of one commit differ" >&2; exit 1; }
step "a second build gives the same bytes"
dpkg-deb --info "$deb" | sed -n 's/^ \(Depends\|Recommends\|Suggests\):/deb-test:   \1:/p'
if dpkg-deb --contents "$deb" | grep -q 'libswift\|libFoundation'; then
  echo "deb-test: the package carries Swift libraries" >&2; exit 1
fi

suite=$(. /etc/os-release && echo "$VERSION_CODENAME")
mmdebstrap --quiet --variant=minbase --mode=root "$suite" "$root"
step "made a $suite minbase root"
if chroot "$root" sh -c 'command -v swift || ls /usr/lib/swift /usr/lib/x86_64-linux-gnu/libswiftCore.so' >/dev/null 2>&1; then
  echo "deb-test: the root has Swift" >&2; exit 1
fi
cp "$deb" "$root/tmp/"
chroot "$root" env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
  "/tmp/$(basename "$deb")" >"$work/apt.log" 2>&1 || { cat "$work/apt.log" >&2; exit 1; }
step "installed it with apt"
# A running Debian system has /proc (the binary reads its arguments, the memory size and the
# cgroup limits there); a bare chroot does not until it is mounted.
mount -t proc proc "$root/proc"
in_root() { chroot "$root" "$@"; }
in_root tracetool --version
sample=/usr/share/tracetool/traces/sample.mtr.zst
in_root tracetool info "$sample" >"$work/info.txt"
head -3 "$work/info.txt"
in_root tracetool validate "$sample"
in_root tracetool replay "$sample" --settle 5m --quiet >"$work/replay.txt"
head -4 "$work/replay.txt"
grep -q '^all ' "$work/replay.txt" || { echo "deb-test: replay printed no host row" >&2; exit 1; }
# Nothing of Swift's is loaded: only Debian's libraries.
if in_root ldd /usr/bin/tracetool | grep -i swift; then echo "deb-test: links Swift dynamically" >&2; exit 1; fi
for f in usr/share/man/man1/tracetool.1.gz usr/share/man/man1/tracetool-replay.1.gz \
  usr/share/bash-completion/completions/tracetool usr/share/doc/tracetool/docs/FORMAT.md \
  usr/share/tracetool/capture/scripts/capture-setup.sh; do
  [ -s "$root/$f" ] || { echo "deb-test: /$f is missing" >&2; exit 1; }
done
step "ok: info, validate and replay ran in a root without Swift"

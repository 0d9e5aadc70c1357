#!/usr/bin/env bash
# Builds the server guest image (a Debian bookworm root filesystem on ext4) from the recipe in
# Sources/Capture/Server: mmdebstrap installs packages.txt, image-hook.sh adds the workloads
# and their data (site, pgbench database, configured binutils, compiled Java class). Output in
# $TRACETOOL_CAPTURE_DIR/server (default .capture/server):
#   root.img       the ext4 image (4 GiB, sparse), booted read-only (QEMU snapshot=on)
#   versions.txt   every installed package and its version (compared with the recipe's copy)
#   recipe.sha256  hash of the recipe files: the image is rebuilt only when it changes
#   image.sha256   hash of root.img, written into each trace's header
# Timestamps are fixed (SOURCE_DATE_EPOCH, every file's mtime, mke2fs's clock), and the file
# system's UUID and hash seed are constants; the image is still not byte-for-byte reproducible
# (package scripts generate keys, initdb a random system identifier), hence image.sha256 in
# every trace's header. Needs root (mmdebstrap --mode=root, chroot).
. "$(dirname "$0")/lib.sh"
root=$PWD
out="${TRACETOOL_CAPTURE_DIR:-$root/.capture}/server"
recipe="$root/Sources/Capture/Server"
epoch=1767225600   # 2026-01-01T00:00:00Z
uuid=5d6a7c1e-2f0b-4d3e-9a8b-7c6d5e4f3a2b
mkdir -p "$out"

# The recipe: every file of Sources/Capture/Server but versions.txt (the package versions of
# the image the bundled traces were captured from, kept for reference).
hash="$(cd "$recipe" && find . -type f ! -name versions.txt -print0 | LC_ALL=C sort -z | xargs -0 sha256sum | sha256sum | cut -c1-16)"
if [ -s "$out/root.img" ] && [ "$(cat "$out/recipe.sha256" 2>/dev/null)" = "$hash" ]; then
    exit 0
fi

sudo=""
[ "$(id -u)" -eq 0 ] || sudo="sudo"
tt_install mmdebstrap e2fsprogs

# The machine's own Debian sources (its mirror and security updates), else Debian's.
mirror="http://deb.debian.org/debian"
[ -f /etc/apt/sources.list.d/debian.sources ] && mirror=/etc/apt/sources.list.d/debian.sources

tmp="$(mktemp -d "$out/build.XXXXXX")"
cleanup() {
    # Nothing may stay mounted under the build folder before it is deleted.
    { findmnt -rn -o TARGET | grep "^$tmp/" | sort -r | while read -r m; do $sudo umount "$m" || true; done; } || true
    $sudo rm -rf --one-file-system "$tmp"
}
trap cleanup EXIT
pkgs="$(grep -v '^[[:space:]]*#' "$recipe/packages.txt" | awk 'NF {print $1}' | paste -sd, -)"
start=$(date +%s)
echo "server-image: building the Debian image (recipe $hash; a few minutes)" >&2
SOURCE_DATE_EPOCH=$epoch $sudo mmdebstrap --quiet --mode=root --variant=minbase --include="$pkgs" \
    --customize-hook="sh '$recipe/image-hook.sh' \"\$1\" '$recipe'" \
    bookworm "$tmp/root" "$mirror" >&2
$sudo chroot "$tmp/root" dpkg-query -W -f '${Package} ${Version}\n' | LC_ALL=C sort > "$tmp/versions.txt"
$sudo find "$tmp/root" -xdev -exec touch -h -d "@$epoch" {} +
E2FSPROGS_FAKE_TIME=$epoch $sudo mke2fs -q -t ext4 -L ttroot -U "$uuid" -E "hash_seed=$uuid" \
    -d "$tmp/root" "$tmp/root.img" 4G
sha256sum "$tmp/root.img" | cut -c1-16 > "$tmp/image.sha256"
mv "$tmp/root.img" "$out/root.img"
mv "$tmp/versions.txt" "$out/versions.txt"
mv "$tmp/image.sha256" "$out/image.sha256"
echo "$hash" > "$out/recipe.sha256"
if ! cmp -s "$out/versions.txt" "$recipe/versions.txt"; then
    echo "server-image: package versions differ from Sources/Capture/Server/versions.txt (the bundled traces' image):" >&2
    diff "$recipe/versions.txt" "$out/versions.txt" | grep '^[<>]' | head -20 >&2 || true
fi
echo "server-image: built in $(( $(date +%s) - start )) s: $out/root.img ($(wc -l < "$out/versions.txt") packages, image $(cat "$out/image.sha256"))" >&2

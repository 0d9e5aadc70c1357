#!/usr/bin/env bash
# Prepares everything `tracetool capture` needs, idempotently:
#   - Debian packages: qemu-system-x86, busybox-static, cpio, gcc/libc6-dev (static guest
#     program), libxxhash-dev (page hash);
#   - a Debian cloud kernel, fetched with `apt-get download` and unpacked (not installed);
#   - the TCG plugin (Sources/Capture/Plugin) and the guest program (Sources/Capture/Guest),
#     compiled, and the guest's initramfs (busybox + /init + ttguest).
#   - with --server: the Debian server image (scripts/server-image.sh), which the server
#     workloads (postgres, web, build, java, python, server-idle, custom) boot.
# Everything lands in $TRACETOOL_CAPTURE_DIR (default: .capture in the project root).
# Inputs are rebuilt only when they change, and reproducibly (fixed timestamps, sorted
# entries), so two captures boot byte-identical guests. It reads nothing from and writes
# nothing to /sys/kernel/mm.
. "$(dirname "$0")/lib.sh"
root=$PWD
out="${TRACETOOL_CAPTURE_DIR:-$root/.capture}"
mkdir -p "$out"
# One setup at a time (tests may call it concurrently).
exec 9>"$out/.setup.lock"
flock 9

tt_install qemu-system-x86 busybox-static cpio gcc libc6-dev libxxhash-dev zstd
sudo=""
[ "$(id -u)" -eq 0 ] || sudo="sudo"

if ldd /bin/busybox >/dev/null 2>&1; then
    echo "capture-setup: /bin/busybox is dynamically linked; the initramfs needs busybox-static" >&2
    exit 1
fi

# The kernel: whatever linux-image-cloud-amd64 currently points at.
if [ ! -s "$out/vmlinuz" ] || [ ! -s "$out/kernel.version" ]; then
    pkg="$(apt-cache depends linux-image-cloud-amd64 2>/dev/null | awk '/Depends: linux-image-/ {print $2; exit}')"
    if [ -z "$pkg" ]; then
        tt_apt update -qq
        pkg="$(apt-cache depends linux-image-cloud-amd64 | awk '/Depends: linux-image-/ {print $2; exit}')"
    fi
    [ -n "$pkg" ] || { echo "capture-setup: no linux-image-cloud-amd64 package found" >&2; exit 1; }
    tmp="$(mktemp -d "$out/kernel.XXXXXX")"
    (cd "$tmp" && apt-get download -qq -o APT::Sandbox::User=root "$pkg" >/dev/null)
    deb="$(ls "$tmp"/*.deb)"
    dpkg-deb -x "$deb" "$tmp/root"
    cp "$(ls "$tmp"/root/boot/vmlinuz-* | head -1)" "$out/vmlinuz.tmp"
    mv "$out/vmlinuz.tmp" "$out/vmlinuz"
    echo "$pkg $(dpkg-deb -f "$deb" Version)" > "$out/kernel.version"
    rm -rf "$tmp"
fi

# The plugin and the guest program, rebuilt whenever their sources change.
gcc -O2 -shared -fPIC -fvisibility=hidden -Wall -Wextra -o "$out/tt-access.so.tmp" \
    "$root/Sources/Capture/Plugin/tt-access.c"
mv "$out/tt-access.so.tmp" "$out/tt-access.so"
gcc -static -O2 -Wall -Wextra -o "$out/ttguest.tmp" "$root/Sources/Capture/Guest/ttguest.c"

# The initramfs: every file's time fixed and entries sorted, so the same inputs give the same
# bytes; replaced only when they differ (its hash goes into each trace's header).
rd="$(mktemp -d "$out/initramfs.XXXXXX")"
mkdir -p "$rd"/{bin,dev,proc,sys,tmp}
cp /bin/busybox "$rd/bin/busybox"
mv "$out/ttguest.tmp" "$rd/bin/ttguest"
install -m 0755 "$root/Sources/Capture/Guest/init" "$rd/init"
find "$rd" -exec touch -h -d @1767225600 {} +
(cd "$rd" && find . | LC_ALL=C sort | cpio -o -H newc --quiet --reproducible --owner=0:0) | gzip -n -9 > "$out/initramfs.cpio.gz.tmp"
if cmp -s "$out/initramfs.cpio.gz.tmp" "$out/initramfs.cpio.gz"; then
    rm "$out/initramfs.cpio.gz.tmp"
else
    mv "$out/initramfs.cpio.gz.tmp" "$out/initramfs.cpio.gz"
fi
sha256sum "$out/initramfs.cpio.gz" | cut -c1-16 > "$out/initramfs.sha256"
rm -rf "$rd"
dpkg-query -W -f '${Version}\n' busybox-static > "$out/busybox.version"
if [ "${1:-}" = "--server" ]; then
    bash "$root/scripts/server-image.sh"
fi
echo "capture-setup: ready in $out ($(cat "$out/kernel.version"), QEMU $(qemu-system-x86_64 --version | head -1 | awk '{print $4}'))" >&2

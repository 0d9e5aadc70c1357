#!/usr/bin/env bash
# Builds the Debian package: `bash scripts/package.sh [OUT-DIR]` writes
# OUT-DIR/tracetool_VERSION_amd64.deb (default OUT-DIR: dist/) and prints its path.
#
# The binary is a release build linked with the Swift standard library and Foundation
# statically (--static-swift-stdlib), so it runs where Swift is not installed; it needs only
# Debian's libc6, libstdc++6, libgcc-s1, libzstd1 and libxxhash0 (the Depends line comes from
# dpkg-shlibdeps). The
# capture's extras are Suggests (docs/CAPTURE.md "From the Debian package"). The
# package holds the man pages and shell completions (scripts/manpages.sh), the docs, the
# sample trace, and the capture kit (its setup script and the C sources it compiles).
#
# Reproducible: the binary is built in one fixed folder (below), the build date is the commit's
# (SOURCE_DATE_EPOCH), every file's time is that date, owners are root, and the archive members
# are sorted, so two builds of one commit on this machine give the same bytes, from any clone
# (scripts/deb-test.sh checks two builds).
. "$(dirname "$0")/lib.sh"
out=${1:-dist}
bash scripts/deps.sh
tt_install dpkg-dev binutils
tt_build_env
export SOURCE_DATE_EPOCH=${SOURCE_DATE_EPOCH:-$(git log -1 --format=%ct 2>/dev/null || date +%s)}

# The compiler records module hashes that depend on the build's folder (.swift_modhash; two
# clones in different folders gave binaries differing there and in the build id), so the
# package is always built from one fixed folder: a copy of the sources (tracked and untracked,
# not ignored) in $TRACETOOL_PACKAGE_DIR (default /var/tmp/tracetool-package), one build at a
# time. No debug info: the binary is stripped anyway.
fixed=${TRACETOOL_PACKAGE_DIR:-/var/tmp/tracetool-package}
mkdir -p "$fixed"
exec 9>"$fixed/.lock"
flock 9
rm -rf "$fixed/src.new"
mkdir -p "$fixed/src.new"
if git rev-parse --git-dir >/dev/null 2>&1; then
  git ls-files -z -co --exclude-standard | while IFS= read -r -d '' f; do [ -e "$f" ] && printf '%s\0' "$f"; done |
    tar --null -T - -cf - | tar -C "$fixed/src.new" -xf -
else
  tar --exclude='./.build*' --exclude=./dist --exclude=./.capture --exclude=./.fuzz -cf - . | tar -C "$fixed/src.new" -xf -
fi
rm -rf "$fixed/src"
mv "$fixed/src.new" "$fixed/src"
(cd "$fixed/src" && swift build -c release --static-swift-stdlib --scratch-path "$fixed/build" \
  -Xswiftc -gnone -Xcc -g0 --product tracetool >/dev/null)
bin=$fixed/build/release/tracetool
version=$("$bin" --version | awk 'NR == 1 {print $2}')
arch=$(dpkg --print-architecture)

stage=$(mktemp -d "${TMPDIR:-/tmp}/tracetool-deb.XXXXXX")
trap 'rm -rf "$stage"' EXIT
root=$stage/root
install -d "$root/DEBIAN" "$root/usr/bin" "$root/usr/share/man/man1" \
  "$root/usr/share/doc/tracetool/docs" "$root/usr/share/tracetool/traces" \
  "$root/usr/share/bash-completion/completions" "$root/usr/share/zsh/vendor-completions" \
  "$root/usr/share/fish/vendor_completions.d"
install -m 0755 "$bin" "$root/usr/bin/tracetool"
strip --strip-unneeded --remove-section=.comment --remove-section=.note "$root/usr/bin/tracetool"

# Man pages (gzip -n: no name or time in the header) and completions.
bash scripts/manpages.sh "$root/usr/bin/tracetool" "$stage/gen"
for page in "$stage"/gen/man1/*.1; do
  gzip -9n <"$page" >"$root/usr/share/man/man1/$(basename "$page").gz"
done
install -m 0644 "$stage/gen/completions/tracetool.bash" "$root/usr/share/bash-completion/completions/tracetool"
install -m 0644 "$stage/gen/completions/_tracetool" "$root/usr/share/zsh/vendor-completions/_tracetool"
install -m 0644 "$stage/gen/completions/tracetool.fish" "$root/usr/share/fish/vendor_completions.d/tracetool.fish"

# Docs, the sample trace and the capture kit.
install -m 0644 README.md "$root/usr/share/doc/tracetool/README.md"
install -m 0644 docs/*.md "$root/usr/share/doc/tracetool/docs/"
install -m 0644 traces/sample.mtr.zst traces/README.md "$root/usr/share/tracetool/traces/"
kit=$root/usr/share/tracetool/capture
install -d "$kit/scripts" "$kit/Sources/Capture"
install -m 0644 scripts/lib.sh "$kit/scripts/"
install -m 0755 scripts/capture-setup.sh scripts/server-image.sh "$kit/scripts/"
cp -r Sources/Capture/Plugin Sources/Capture/Guest Sources/Capture/Server "$kit/Sources/Capture/"
cat >"$root/usr/share/doc/tracetool/copyright" <<'TEXT'
Format: https://www.debian.org/doc/packaging-manuals/copyright-format/1.0/
Upstream-Name: tracetool
Comment: The sources state no license; all rights are reserved by the tracetool authors.
 The binary links the Swift standard library, Foundation and swift-argument-parser
 statically; they are under the Apache License 2.0 with Runtime Library Exception
 (/usr/share/common-licenses/Apache-2.0).

Files: *
Copyright: the tracetool authors
License: none-stated
TEXT
gzip -9n >"$root/usr/share/doc/tracetool/changelog.gz" <<TEXT
tracetool ($version) unstable; urgency=medium

  * Built from commit ${TRACETOOL_COMMIT:-unknown}.

 -- tracetool authors <tracetool@localhost>  $(date -u -R -d "@$SOURCE_DATE_EPOCH")
TEXT

# Depends from the libraries the binary links (dpkg-shlibdeps wants a debian/control).
mkdir -p "$stage/src/debian"
printf 'Source: tracetool\n\nPackage: tracetool\nArchitecture: any\n' >"$stage/src/debian/control"
depends=$(cd "$stage/src" && dpkg-shlibdeps -O "$root/usr/bin/tracetool" 2>/dev/null | sed -n 's/^shlibs:Depends=//p')
[ -n "$depends" ] || { echo "package: dpkg-shlibdeps found no dependencies" >&2; exit 1; }
# Installed-Size as dpkg-gencontrol counts it: each file's size in KiB rounded up, 1 per
# directory (not du, whose block counts depend on the file system).
size=$(cd "$root" && find usr \( -type f -printf '%s\n' \) -o \( -type d -printf '1024\n' \) |
  awk '{ kib += int(($1 + 1023) / 1024) } END { print kib }')
cat >"$root/DEBIAN/control" <<TEXT
Package: tracetool
Version: $version
Architecture: $arch
Maintainer: tracetool authors <tracetool@localhost>
Installed-Size: $size
Depends: $depends
Suggests: qemu-system-x86, gcc, libc6-dev, busybox-static, cpio, libxxhash-dev, zstd
Section: utils
Priority: optional
Description: replay VM memory traces through a model of ESX Server's memory management
 tracetool replays page-access and page-content traces of virtual machines through an exact,
 deterministic model of VMware ESX Server's memory management (Waldspurger, OSDI 2002):
 content-based page sharing, idle memory tax, ballooning, host swapping, admission control,
 and their successors. It reports sharing ratios and reclamation costs for one policy or many
 side by side, and answers how far a host can be overcommitted.
 .
 Capturing traces from QEMU guests needs the Suggests (see
 /usr/share/doc/tracetool/docs/CAPTURE.md).
TEXT
(cd "$root" && find usr -type f -print0 | LC_ALL=C sort -z | xargs -0 md5sum >DEBIAN/md5sums)
find "$root" -type d -exec chmod 0755 {} +
find "$root" -exec touch --no-dereference --date="@$SOURCE_DATE_EPOCH" {} +
mkdir -p "$out"
deb=$out/tracetool_${version}_${arch}.deb
dpkg-deb --root-owner-group -Zxz --build "$root" "$deb.tmp" >/dev/null
mv "$deb.tmp" "$deb"
echo "$deb"

#!/usr/bin/env bash
# Builds the container image without a Docker daemon: `bash scripts/image.sh [OUT-DIR]`.
#
# The root is a Debian minbase made with mmdebstrap (the host's release) into which apt installs
# the Debian package from scripts/package.sh, so the image holds tracetool, its runtime
# libraries (libzstd1, libxxhash0, libstdc++6, libgcc-s1) and nothing that builds; apt's lists
# and caches are removed. buildah (vfs storage, no daemon) turns the root into one layer with the
# entrypoint tracetool and the OCI labels version, revision (the commit), created and source.
#
# Output in OUT-DIR (default dist/): tracetool-VERSION.oci.tar (an OCI archive), and
# tracetool-VERSION.packages.txt (every Debian package in the image, with its version); the
# image also stays in buildah's local storage as localhost/tracetool:VERSION. Printed: the
# archive, its size, the image's digest and size, and the package count.
#
# Push it:  skopeo copy oci-archive:dist/tracetool-VERSION.oci.tar docker://REGISTRY/tracetool:VERSION
# Load it:  podman load -i dist/tracetool-VERSION.oci.tar   (or skopeo copy … containers-storage:…)
#
# Needs root (mmdebstrap --mode=root) and the Debian mirror. The recipe is fixed, the packages
# are whatever the mirror has that day, so two builds on different days may differ in Debian's
# package versions (listed in the .packages.txt).
. "$(dirname "$0")/lib.sh"
[ "$(id -u)" -eq 0 ] || { echo "image: needs root (mmdebstrap --mode=root)" >&2; exit 1; }
out=${1:-dist}
tt_install buildah skopeo mmdebstrap
export STORAGE_DRIVER=vfs BUILDAH_ISOLATION=chroot
work=$(mktemp -d "${TMPDIR:-/tmp}/tracetool-image.XXXXXX")
ctr=""
cleanup() {
  [ -n "$ctr" ] && buildah rm "$ctr" >/dev/null 2>&1
  rm -rf "$work"
}
trap cleanup EXIT

deb=$(bash scripts/package.sh "$work/dist")
version=$(dpkg-deb -f "$deb" Version)
tt_build_env
commit=${TRACETOOL_COMMIT:-unknown}
export SOURCE_DATE_EPOCH=${SOURCE_DATE_EPOCH:-$(git log -1 --format=%ct 2>/dev/null || date +%s)}
created=$(date -u -d "@$SOURCE_DATE_EPOCH" +%Y-%m-%dT%H:%M:%SZ)
suite=$(. /etc/os-release && echo "$VERSION_CODENAME")

rootfs=$work/rootfs
mmdebstrap --quiet --variant=minbase --mode=root \
  --customize-hook="copy-in $deb /tmp" \
  --customize-hook="chroot \"\$1\" env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends /tmp/$(basename "$deb") >/dev/null" \
  --customize-hook='rm -f "$1"/tmp/*.deb; rm -rf "$1"/var/lib/apt/lists/* "$1"/var/cache/apt/* "$1"/var/log/*' \
  "$suite" "$rootfs"
if [ -e "$rootfs/usr/bin/gcc" ] || [ -e "$rootfs/usr/bin/cc" ] || [ -e "$rootfs/usr/bin/swift" ]; then
  echo "image: a compiler ended up in the image" >&2; exit 1
fi
mkdir -p "$out"
packages=$out/tracetool-$version.packages.txt
dpkg-query --admindir="$rootfs/var/lib/dpkg" -W -f '${Package} ${Version}\n' | LC_ALL=C sort >"$packages.tmp"
mv "$packages.tmp" "$packages"

ref=localhost/tracetool:$version
ctr=$(buildah from scratch)
buildah add --quiet "$ctr" "$rootfs" / >/dev/null
buildah config --entrypoint '["/usr/bin/tracetool"]' --cmd '["--help"]' --workingdir / \
  --env PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
  --label org.opencontainers.image.title=tracetool \
  --label "org.opencontainers.image.version=$version" \
  --label "org.opencontainers.image.revision=$commit" \
  --label "org.opencontainers.image.created=$created" \
  --label "org.opencontainers.image.description=Replay VM memory traces through a model of ESX Server's memory management" \
  --created-by "scripts/image.sh" "$ctr"
# A rebuild replaces the image of the same name (no dangling copy left in storage).
buildah rmi "$ref" >/dev/null 2>&1 || true
buildah commit --quiet --timestamp "$SOURCE_DATE_EPOCH" --rm "$ctr" "$ref" >/dev/null
ctr=""
archive=$out/tracetool-$version.oci.tar
rm -f "$archive.tmp"
buildah push --quiet "$ref" "oci-archive:$archive.tmp:tracetool:$version" >/dev/null
mv "$archive.tmp" "$archive"
digest=$(skopeo inspect --format '{{.Digest}}' "oci-archive:$archive")
echo "$archive"
echo "image: $ref, digest $digest, $(buildah images --format '{{.Size}}' "$ref") in storage; archive $(du -h "$archive" | cut -f1); $(wc -l <"$packages") Debian packages ($packages); commit $commit" >&2

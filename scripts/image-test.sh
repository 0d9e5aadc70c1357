#!/usr/bin/env bash
# The image runs a study as a Kubernetes Indexed Job would: builds it (scripts/image.sh), then,
# inside it (buildah run, chroot isolation, the study's folder bound at /study), runs
# `tracetool study run … --cell-from-env` once per cell with JOB_COMPLETION_INDEX set, then
# `tracetool study merge`; the merged CSV must equal `study local`'s outside the image byte for
# byte. Needs root and minutes; run by `bash scripts/image-test.sh` or the gated test
# StudyManifestTests.inImage (TRACETOOL_IMAGE_TESTS=1). TRACETOOL names the binary for the
# run outside (default: a release build).
. "$(dirname "$0")/lib.sh"
[ "$(id -u)" -eq 0 ] || { echo "image-test: needs root" >&2; exit 1; }
export STORAGE_DRIVER=vfs BUILDAH_ISOLATION=chroot
work=$(mktemp -d "${TMPDIR:-/tmp}/tracetool-imagetest.XXXXXX")
ctr=""
cleanup() {
  [ -n "$ctr" ] && buildah rm "$ctr" >/dev/null 2>&1
  rm -rf "$work"
}
trap cleanup EXIT
step() { printf 'image-test: %s (%ds)\n' "$1" "$SECONDS"; }
if [ -n "${TRACETOOL:-}" ]; then host=$(realpath "$TRACETOOL"); else tt_build release; host=$(realpath "$tt"); fi

archive=$(bash scripts/image.sh "$work/dist")
version=$(basename "$archive" .oci.tar)
version=${version#tracetool-}
step "built $(basename "$archive")"

# The example study in the layout its paths expect (scripts/ and traces/ side by side), twice:
# one folder for the image, one for the run outside.
study() {
  mkdir -p "$1/scripts" "$1/traces"
  cp scripts/study-example.json "$1/scripts/"
  cp traces/sample.mtr.zst traces/capture-identical5.mtr.z* "$1/traces/"
}
study "$work/in"
study "$work/out"
cells=$("$host" study plan "$work/in/scripts/study-example.json" | grep -vc '^#')

ctr=$(buildah from --quiet "localhost/tracetool:$version")
in_image() { buildah run --isolation chroot -v "$work/in:/study" "$@"; }
for ((i = 0; i < cells; i++)); do
  in_image --env "JOB_COMPLETION_INDEX=$i" "$ctr" -- \
    tracetool study run /study/scripts/study-example.json --cell-from-env --quiet
done
in_image "$ctr" -- tracetool study merge /study/scripts/study-example.json
step "ran $cells cells and the merge in the image"

"$host" study local "$work/out/scripts/study-example.json" --quiet
"$host" study merge "$work/out/scripts/study-example.json"
a=$work/in/.study/example/merged.csv
b=$work/out/.study/example/merged.csv
cmp "$a" "$b" || { echo "image-test: the image's merged.csv differs from study local's" >&2; exit 1; }
step "the image's $cells cells gave the same merged.csv as study local ($(wc -l <"$a") rows, $(sha256sum "$a" | cut -c1-16))"

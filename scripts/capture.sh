#!/usr/bin/env bash
# Captures a trace from real VMs in one command: installs and prepares what the capture needs
# (scripts/capture-setup.sh: QEMU, busybox, a Debian cloud kernel, the plugin, the initramfs),
# builds tracetool, then runs `tracetool capture` with the arguments given. When a VM runs a
# server workload, the setup also builds the Debian server image (scripts/server-image.sh). Without arguments it
# captures a small trace: one 128 MiB VM sorting for 20 s, snapshots every 5 s, to small.mtr.zst.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
bash "$root/scripts/deps.sh"
# A server workload (on the Debian image) needs the image built too.
setup=()
for a in "$@"; do
    case "$a" in
        postgres*|web*|build*|java*|python*|server-idle*|custom*) setup=(--server) ;;
        --vm=postgres*|--vm=web*|--vm=build*|--vm=java*|--vm=python*|--vm=server-idle*|--vm=custom*) setup=(--server) ;;
    esac
done
bash "$root/scripts/capture-setup.sh" "${setup[@]}"
swift build -c release --package-path "$root" >&2
bin="$(swift build -c release --package-path "$root" --show-bin-path)/tracetool"
if [ $# -eq 0 ]; then
    set -- --vm sort,mem=128 --duration 20s --interval 5s -o small.mtr.zst
fi
"$bin" capture --assets "${TRACETOOL_CAPTURE_DIR:-$root/.capture}" "$@"

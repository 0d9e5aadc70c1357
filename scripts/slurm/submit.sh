#!/usr/bin/env bash
# Submits a study to Slurm: an array job with one task per cell, then a merge job that waits for
# all of them. Prints both job ids ("CELLS MERGE").
# Usage: scripts/slurm/submit.sh STUDY.json [OUT] [extra sbatch options...]
#   TRACETOOL=/path/to/tracetool (default: tracetool on PATH) must exist on every node, and the
#   study file, its traces and OUT must be on a file system every node sees.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
study=$(realpath "${1:?usage: submit.sh STUDY.json [OUT] [sbatch options...]}")
shift
out=""
if [ $# -gt 0 ] && [ "${1#-}" = "$1" ]; then out=$(realpath -m "$1"); shift; fi
TRACETOOL=${TRACETOOL:-tracetool}
n=$("$TRACETOOL" study plan "$study" ${out:+--out "$out"} | grep -vc '^#')
exports="ALL,STUDY=$study,TRACETOOL=$TRACETOOL${out:+,OUT=$out}"
cells=$(sbatch --parsable --array=0-$((n - 1)) --export="$exports" "$@" "$here/cells.sbatch")
cells=${cells%%;*}
merge=$(sbatch --parsable --dependency=afterany:"$cells" --export="$exports" "$@" "$here/merge.sbatch")
echo "$cells ${merge%%;*}"

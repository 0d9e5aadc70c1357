#!/usr/bin/env bash
# Runs a study through a real Slurm on this machine and checks it against `study local`.
# Usage: bash scripts/slurm-local.sh [STUDY.json]   (default: scripts/study-example.json)
#
# Installs Debian's slurmctld, slurmd, slurm-client and munge if missing (their services are not
# started or enabled by this script), then, all under a temporary folder: a munge key and
# munged, a one-node slurm.conf (this host, its CPUs, free ports), slurmctld and slurmd in the
# foreground as children of this script. Submits the study with scripts/slurm/submit.sh (an
# array job, one task per cell, and a merge job depending on it), waits for both, runs
# `study local` and `study merge` on the same study into another folder, and compares the two
# merged.csv byte for byte. On exit, whatever happened, it shuts Slurm down, stops munged,
# waits for them and removes the folder: nothing is left running. Needs root (slurmd starts
# jobs); run it as root or with sudo.
. "$(dirname "$0")/lib.sh"
root=$PWD
study=$(realpath "${1:-scripts/study-example.json}")
if [ "$(id -u)" -ne 0 ]; then echo "slurm-local.sh: run as root (slurmd starts the jobs)" >&2; exit 2; fi
bash scripts/deps.sh
tt_install slurmctld slurmd slurm-client munge
# TRACETOOL names a built binary (the gated test passes its own: a build here would wait for
# the running test's build lock).
if [ -n "${TRACETOOL:-}" ]; then
  tt=$(realpath "$TRACETOOL")
else
  tt_build
  tt=$root/$tt
fi

w=$(mktemp -d /tmp/tracetool-slurm.XXXXXX)
pids=()
stop() {
  set +e
  if [ -f "$w/slurm.conf" ]; then SLURM_CONF=$w/slurm.conf scontrol shutdown >/dev/null 2>&1; fi
  # Slurm's daemons first (they use munge), then munged; TERM after 5 s, KILL after 10 s.
  for i in $(seq 50); do
    alive=()
    for p in "${pids[@]}"; do kill -0 "$p" 2>/dev/null && alive+=("$p"); done
    [ ${#alive[@]} = 0 ] && break
    if [ "$i" = 25 ]; then kill "${alive[@]}" 2>/dev/null; fi
    if [ ${#alive[@]} = 1 ] && [ "${alive[0]}" = "${pids[0]}" ]; then kill "${pids[0]}" 2>/dev/null; fi
    sleep 0.2
  done
  for p in "${pids[@]}"; do kill -9 "$p" 2>/dev/null; wait "$p" 2>/dev/null; done
  rm -rf "$w"
}
trap stop EXIT

# munge: its own key, socket and files.
mkdir -p "$w/munge" && chmod 700 "$w/munge"
head -c 1024 /dev/urandom > "$w/munge/munge.key" && chmod 400 "$w/munge/munge.key"
munged -F -f --socket="$w/munge/munge.socket" --key-file="$w/munge/munge.key" --log-file="$w/munge/munged.log" \
  --pid-file="$w/munge/munged.pid" --seed-file="$w/munge/munged.seed" >"$w/munge/console" 2>&1 &
pids+=($!)
for _ in $(seq 50); do [ -S "$w/munge/munge.socket" ] && break; sleep 0.1; done

# Two free TCP ports for slurmctld and slurmd.
read -r p1 p2 < <(python3 -c 'import socket
s=[socket.socket() for _ in range(2)]
[x.bind(("127.0.0.1", 0)) for x in s]
print(*[x.getsockname()[1] for x in s])')
host=$(hostname -s)
mkdir -p "$w/state" "$w/spool" "$w/run"
cat > "$w/slurm.conf" <<EOF
ClusterName=tracetool
SlurmctldHost=$host
AuthType=auth/munge
AuthInfo=socket=$w/munge/munge.socket
CredType=cred/munge
SlurmUser=root
SlurmdUser=root
SlurmctldPort=$p1
SlurmdPort=$p2
StateSaveLocation=$w/state
SlurmdSpoolDir=$w/spool
SlurmctldPidFile=$w/run/slurmctld.pid
SlurmdPidFile=$w/run/slurmd.pid
SlurmctldLogFile=$w/slurmctld.log
SlurmdLogFile=$w/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SchedulerType=sched/builtin
SelectType=select/cons_tres
SelectTypeParameters=CR_CPU
ReturnToService=2
MpiDefault=none
JobCompType=jobcomp/none
AccountingStorageType=accounting_storage/none
JobAcctGatherType=jobacct_gather/none
NodeName=$host CPUs=$(nproc) RealMemory=$(( $(awk '/MemTotal/ {print $2}' /proc/meminfo) / 1024 - 512 )) State=UNKNOWN
PartitionName=study Nodes=ALL Default=YES MaxTime=INFINITE State=UP
EOF
export SLURM_CONF=$w/slurm.conf
slurmctld -D -f "$SLURM_CONF" >"$w/slurmctld.console" 2>&1 &
pids+=($!)
slurmd -D -f "$SLURM_CONF" >"$w/slurmd.console" 2>&1 &
pids+=($!)
for _ in $(seq 100); do sinfo -h -o %T 2>/dev/null | grep -q idle && break; sleep 0.2; done
sinfo -h -o %T | grep -q idle || { echo "slurm-local.sh: the node did not come up" >&2; tail -5 "$w"/slurm*.log >&2; exit 1; }

# The study through Slurm.
n=$("$tt" study plan "$study" | grep -vc '^#')
cd "$w"
read -r cells merge < <(TRACETOOL=$tt bash "$root/scripts/slurm/submit.sh" "$study" "$w/slurm-out")
echo "slurm-local: submitted array job $cells ($n tasks) and merge job $merge" >&2
for _ in $(seq 1500); do
  [ -z "$(squeue -h -j "$cells,$merge" 2>/dev/null)" ] && break
  sleep 0.4
done
[ -z "$(squeue -h -j "$cells,$merge" 2>/dev/null)" ] || { echo "slurm-local.sh: jobs still queued after 10 minutes" >&2; exit 1; }
[ -f "$w/slurm-out/merged.csv" ] || { echo "slurm-local.sh: the merge job wrote no merged.csv" >&2; cat "$w"/slurm-*.out >&2 || true; exit 1; }
done_cells=$(ls "$w/slurm-out/cells" | grep -c '^[0-9]*\.json$')

# The same study here, and the comparison.
"$tt" study local "$study" --out "$w/local-out" --quiet
"$tt" study merge "$study" --out "$w/local-out" 2>/dev/null
cmp "$w/slurm-out/merged.csv" "$w/local-out/merged.csv"
echo "slurm-local: $n cells: the Slurm array ($done_cells results) and its dependent merge gave the same merged.csv as study local ($(wc -l < "$w/local-out/merged.csv") lines)"
cd "$root"

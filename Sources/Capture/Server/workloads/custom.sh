#!/bin/sh
# The user's own workload: the capture attaches a second disk (ext4, label ttcustom) holding
# the script given as run= (as ./run) and the folder given as files= (as ./files). It runs as
# root in that folder with the seed as its argument.
mkdir -p /opt/tt/custom
mount LABEL=ttcustom /opt/tt/custom || { echo "tt: no custom disk"; exit 1; }
cd /opt/tt/custom
chmod +x ./run
exec ./run "$1"

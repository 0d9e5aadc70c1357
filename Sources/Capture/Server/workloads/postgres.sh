#!/bin/sh
# PostgreSQL serving pgbench's TPC-B-like transactions (4 clients, seeded) against the
# database of scale 20 (about 300 MiB) built into the image.
. /opt/tt/workloads/daemons.sh
start_postgres
read_once /var/lib/postgresql
echo "tt: postgres up, pgbench starts"
exec runuser -u postgres -- pgbench --random-seed="$1" -c 4 -j 1 -T 10000000 -P 60 bench

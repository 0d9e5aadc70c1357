#!/bin/sh
# The booted server doing nothing but its daemons: cron, PostgreSQL and nginx with no load.
. /opt/tt/workloads/daemons.sh
cron
start_postgres
start_nginx
read_once /var/lib/postgresql /var/www/site
echo "tt: daemons up, idle"
exec sleep infinity

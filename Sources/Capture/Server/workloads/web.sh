#!/bin/sh
# nginx serving the generated static site (/var/www/site: 3,000 files) to wrk, whose Lua
# script picks pages with a Zipf-like popularity from a PRNG seeded by the VM's seed.
. /opt/tt/workloads/daemons.sh
start_nginx
read_once /var/www/site
echo "tt: nginx up, wrk starts"
exec wrk -t1 -c4 -d10000000s --timeout 60s -s /opt/tt/web.lua http://127.0.0.1/ -- "$1"

# Sourced by the workload scripts: start the services a workload needs.
start_postgres() {
    mkdir -p /run/postgresql && chown postgres:postgres /run/postgresql
    runuser -u postgres -- /usr/lib/postgresql/15/bin/pg_ctl -D /var/lib/postgresql/15/main \
        -o "-c config_file=/etc/postgresql/15/main/postgresql.conf" -l /var/log/postgresql/tt.log -w -t 600 start
}
start_nginx() {
    mkdir -p /run/nginx
    nginx
}
# With tt.prewarm=1 on the kernel command line (capture --prewarm), a workload reads its data set
# once before it starts, so the page cache holds it as on a server that has run for a while.
read_once() {
    [ "$TT_PREWARM" = 1 ] || return 0
    echo "tt: prewarm: reading $* once"
    find "$@" -type f -exec cat {} + > /dev/null 2>&1
    echo "tt: prewarm: done; $(awk '/^(MemFree|Cached):/ {printf "%s %s ", $1, $2}' /proc/meminfo)"
}

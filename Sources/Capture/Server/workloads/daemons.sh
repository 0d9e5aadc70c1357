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

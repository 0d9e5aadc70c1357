#!/bin/sh
# mmdebstrap --customize-hook of the server image: installs the workloads into ROOT/opt/tt and
# prepares their data. Runs on the host as root; $1 is the root filesystem, $2 this folder.
set -eu
root="$1"
src="$2"
mounted=""
cleanup() { for m in $mounted; do umount "$root$m" 2>/dev/null || true; done; }
trap cleanup EXIT
# mmdebstrap mounts /proc, /sys and /dev for its hooks; PostgreSQL also wants /dev/shm.
mkdir -p "$root/dev/shm"
for m in /proc /sys /dev/shm; do
    if ! mountpoint -q "$root$m"; then
        case "$m" in
            /proc) mount -t proc proc "$root/proc" ;;
            /sys) mount -t sysfs sys "$root/sys" ;;
            /dev/shm) mount -t tmpfs shm "$root/dev/shm" ;;
        esac
        mounted="$m $mounted"
    fi
done
in_root() { chroot "$root" /usr/bin/env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin HOME=/root LANG=C.UTF-8 "$@"; }

mkdir -p "$root/opt/tt"
cp -r "$src/workloads" "$root/opt/tt/"
cp "$src/init" "$src/web.lua" "$src/datajob.py" "$src/gensite.py" "$src/Workload.java" "$root/opt/tt/"
chmod 0755 "$root/opt/tt/init" "$root/opt/tt/workloads/"*.sh

# web: the static site and an nginx server for it.
in_root python3 /opt/tt/gensite.py /var/www/site
rm -f "$root/etc/nginx/sites-enabled/default"
mkdir -p "$root/etc/nginx/conf.d"
cat > "$root/etc/nginx/conf.d/tt-site.conf" <<'CONF'
server {
    listen 80 default_server;
    root /var/www/site;
    index 0000.html;
    location / { try_files $uri =404; }
}
CONF

# java: the workload's class.
mkdir -p "$root/opt/tt/java"
in_root javac -d /opt/tt/java /opt/tt/Workload.java

# build: binutils unpacked and configured (the guest runs make).
mkdir -p "$root/opt/tt/build/obj"
tar -xJf "$root"/usr/src/binutils/binutils-*.tar.xz -C "$root/opt/tt/build"
mv "$root"/opt/tt/build/binutils-* "$root/opt/tt/build/src"
in_root sh -c 'cd /opt/tt/build/obj && ../src/configure --disable-nls --disable-werror --disable-gprofng \
    --disable-gold --disable-gdb --disable-gdbserver --disable-sim --disable-readline MAKEINFO=true > /tmp/configure.log 2>&1' \
    || { tail -20 "$root/tmp/configure.log"; exit 1; }
rm -f "$root/tmp/configure.log"

# postgres: the pgbench database of scale 20 (about 300 MiB), built once here.
in_root sh -c 'mkdir -p /run/postgresql && chown postgres:postgres /run/postgresql &&
    runuser -u postgres -- /usr/lib/postgresql/15/bin/pg_ctl -D /var/lib/postgresql/15/main \
        -o "-c config_file=/etc/postgresql/15/main/postgresql.conf" -l /tmp/pg.log -w start &&
    runuser -u postgres -- createdb bench &&
    runuser -u postgres -- pgbench -i -s 20 -q bench &&
    runuser -u postgres -- /usr/lib/postgresql/15/bin/pg_ctl -D /var/lib/postgresql/15/main -m fast -w stop' \
    || { cat "$root/tmp/pg.log"; exit 1; }
rm -f "$root/tmp/pg.log"
rm -rf "$root/run/postgresql"

# Host-specific or time-stamped files that would make two builds differ.
: > "$root/etc/machine-id"
rm -f "$root/var/cache/ldconfig/aux-cache"

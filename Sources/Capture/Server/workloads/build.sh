#!/bin/sh
# gcc and make compiling GNU binutils (Debian's binutils-source, configured when the image
# was built), one job at a time; when the build ends it is cleaned and started again. The
# build has no randomness: the seed is not used.
. /opt/tt/workloads/daemons.sh
read_once /opt/tt/build /usr/lib/gcc
cd /opt/tt/build/obj
round=1
while true; do
    echo "tt: build round $round starts"
    make -j1 > /tmp/build.log 2>&1 || echo "tt: make failed: $(tail -1 /tmp/build.log)"
    make clean > /dev/null 2>&1
    round=$((round + 1))
done

#!/bin/sh
# A JVM (OpenJDK, serial collector, heap 256-384 MiB) running an in-memory key-value cache
# with Zipf-popular keys, values of 1-16 KiB, LRU eviction, and periodic sorts and scans.
exec java -Xms256m -Xmx384m -XX:+UseSerialGC -cp /opt/tt/java Workload "$1"

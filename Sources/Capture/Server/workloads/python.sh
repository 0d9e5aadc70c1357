#!/bin/sh
# A numpy/pandas data job: build frames of a million rows, group, join, sort, a matrix
# product, write a CSV summary, and again, from a PRNG seeded by the VM's seed.
export OPENBLAS_CORETYPE=Prescott OPENBLAS_NUM_THREADS=1
exec python3 /opt/tt/datajob.py "$1"

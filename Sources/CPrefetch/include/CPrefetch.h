#ifndef TRACETOOL_CPREFETCH_H
#define TRACETOOL_CPREFETCH_H

/* Asks the CPU to start loading the cache line at `p` for a coming write. Swift has no
   prefetch of its own; the hot loops over per-page state (stats, replay) issue these a few
   records ahead so that the loads of many records' pages overlap. A hint only: it never
   faults and never changes a result. */
static inline void tt_prefetch_write(const void *p) { __builtin_prefetch(p, 1, 3); }

#endif

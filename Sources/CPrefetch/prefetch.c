/* CPrefetch is header-only (static inline functions in include/CPrefetch.h); SwiftPM wants a
   source file in every C target. */
#include "CPrefetch.h"

#include "CBuildInfo.h"

#ifndef TRACETOOL_COMMIT
#define TRACETOOL_COMMIT "unknown"
#endif
#ifndef TRACETOOL_BUILD_DATE
#define TRACETOOL_BUILD_DATE "unknown"
#endif

const char *tracetool_build_commit(void) { return TRACETOOL_COMMIT; }
const char *tracetool_build_date(void) { return TRACETOOL_BUILD_DATE; }

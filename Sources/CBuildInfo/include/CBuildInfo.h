#ifndef CBUILDINFO_H
#define CBUILDINFO_H
/* What this binary was built from. Package.swift defines the two macros from the environment
   variables TRACETOOL_COMMIT and TRACETOOL_BUILD_DATE when they are set (scripts/lib.sh and
   scripts/package.sh set them from git); a build without them says "unknown". Only this file's
   object changes with them, so a new commit does not rebuild the Swift modules. */
const char *tracetool_build_commit(void);
const char *tracetool_build_date(void);
#endif

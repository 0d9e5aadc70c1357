#ifndef TRACETOOL_CZSTD_SHIM_H
#define TRACETOOL_CZSTD_SHIM_H
#include <zstd.h>
#include <zstd_errors.h>
#endif

#ifndef EDDY_CZLIB_SHIM_H
#define EDDY_CZLIB_SHIM_H

#include <zlib.h>

// deflateInit2 and inflateInit2 are function-like macros that pass ZLIB_VERSION and
// sizeof(z_stream) to the real entry points; Swift cannot import macros, so these
// shims expand them in C.

static inline int eddy_deflateInit2(z_streamp strm, int level, int method,
                                    int windowBits, int memLevel, int strategy) {
    return deflateInit2(strm, level, method, windowBits, memLevel, strategy);
}

static inline int eddy_inflateInit2(z_streamp strm, int windowBits) {
    return inflateInit2(strm, windowBits);
}

#endif

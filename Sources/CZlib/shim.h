#ifndef MOESERVE_CZLIB_SHIM_H
#define MOESERVE_CZLIB_SHIM_H
#include <zlib.h>

// deflateInit2/inflateInit2 are function-like macros, which Swift cannot call.

/// A deflate stream that writes the gzip format (RFC 1952), 32 KiB window.
static inline int moeserve_deflate_init_gzip(z_streamp stream, int level) {
    return deflateInit2(stream, level, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY);
}

/// An inflate stream that reads the gzip format only (RFC 1952), up to a 32 KiB window.
static inline int moeserve_inflate_init_gzip(z_streamp stream) {
    return inflateInit2(stream, 15 + 16);
}

#endif

#ifndef MOESERVE_CZLIB_SHIM_H
#define MOESERVE_CZLIB_SHIM_H
#include <zlib.h>
#endif

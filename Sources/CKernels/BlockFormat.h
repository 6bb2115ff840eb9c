// GGUF block formats as the C kernels read them (internal; every target).
#ifndef CK_BLOCK_FORMAT_H
#define CK_BLOCK_FORMAT_H
#include "CKernels.h"

/// Bytes per 32-element block of each format (a constant in every specialised copy, so block addresses need
/// no multiply): fp16 d, (Q4_1) fp16 m, then 16 nibble bytes (Q4) or 32 int8 (Q8_0).
static inline size_t ck_q8_block_bytes(int dtype) { return dtype == CK_Q8_0 ? 34 : (dtype == CK_Q4_1 ? 20 : 18); }

/// Rows per weight tile (see QuantTiles.c for the layout).
enum { CK_WEIGHT_TILE_ROWS = 8 };

/// Bytes of one tile block (8 rows' block b): Q4 nibbles (4 × 32 bytes: vector i holds bytes 4i..4i+3 of
/// row r's 16 at dword r), then 8 fp16 d, then 8 fp16 m (Q4_1). Q8_0: 8 × 32 bytes (vector i holds row r's
/// bytes 4i..4i+3 at dword r, stored + 128 as unsigned), then 8 fp16 d. The same bytes per row as GGUF's.
static inline size_t ck_tile_block_bytes(int dtype) {
    switch (dtype) {
    case CK_Q4_0: return 144;
    case CK_Q4_1: return 160;
    case CK_Q8_0: return 272;
    default: return 0;
    }
}

/// Where a tile block's 8 fp16 d start (after the weight bytes), and its 8 fp16 m (Q4_1).
static inline size_t ck_tile_d_offset(int dtype) { return dtype == CK_Q8_0 ? 256 : 128; }
enum { CK_TILE_M_OFFSET = 144 };
#endif

// GGUF block formats as the C kernels read them (internal; every target).
#ifndef CK_BLOCK_FORMAT_H
#define CK_BLOCK_FORMAT_H
#include "CKernels.h"

/// Bytes per 32-element block of each format (a constant in every specialised copy, so block addresses need
/// no multiply): fp16 d, (Q4_1) fp16 m, then 16 nibble bytes (Q4) or 32 int8 (Q8_0).
static inline size_t ck_q8_block_bytes(int dtype) { return dtype == CK_Q8_0 ? 34 : (dtype == CK_Q4_1 ? 20 : 18); }
#endif

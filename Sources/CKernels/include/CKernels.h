#ifndef CKERNELS_H
#define CKERNELS_H

#include <stddef.h>
#include <stdint.h>

/// Instruction-set level a kernel runs at; the caller picks it from CPUFeatures.
enum {
    CK_ISA_PORTABLE = 0,
    CK_ISA_AVX2 = 1,
    CK_ISA_AVX512 = 2,
};

/// Block formats as stored in GGUF (ggml type ids).
enum {
    CK_Q4_0 = 2,
    CK_Q4_1 = 3,
    CK_Q8_0 = 8,
};

/// sums[i] = Σ_{j<32} x[32·i + j], summed in index order — per-block activation sums for the Q4 offsets.
void ck_block_sums(const float *x, size_t blocks, float *sums);

/// y[t·n + r] = Σ_k x[t·k + j] · W[r, j] for rows r in [row_begin, row_end) and tokens t < tokens, with W
/// stored as GGUF blocks (`row_bytes` per row, k a multiple of 32) and dequantised on the fly.
/// `xsums` are ck_block_sums of x. Each (row, token) is reduced in a fixed order, so a row's result
/// never depends on the batch.
void ck_matmul_blocks(int isa, int dtype, const uint8_t *w, size_t row_bytes, size_t row_begin, size_t row_end,
                      const float *x, const float *xsums, size_t tokens, size_t k, float *y, size_t n);

#endif

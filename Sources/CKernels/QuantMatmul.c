// Quantised-weight GEMV/GEMM with weights dequantised on the fly into fp32 lanes.
// The portable body is plain C the compiler vectorises for the baseline target; the AVX2 variant
// (QuantDotAVX2.h) uses intrinsics under a function-level target attribute. Both are compiled with function-level target attributes so the binary stays portable:
// the caller picks the variant from the CPU's features at run time.
#include "BlockFormat.h"
#include "CKernels.h"
#include "Half.h"
#include "ThreadScratch.h"
#include <math.h>
#include <string.h>

// fp16 bits (little-endian bytes) -> fp32.
static inline float ck_half(const uint8_t *p) { return ck_half_bits((uint16_t)(p[0] | (p[1] << 8))); }

float ck_half_to_float(uint16_t h) { return ck_half_bits(h); }

void ck_block_sums(const float *x, size_t blocks, float *sums) {
    for (size_t i = 0; i < blocks; i++) {
        float s = 0;
        for (int j = 0; j < 32; j++) s += x[32 * i + j];
        sums[i] = s;
    }
}

// acc[16] lanes are independent, so the compiler vectorises without reassociating: the reduction order is
// fixed (lane j collects elements j and j+16 of every block, lanes are summed in order at the end).
#define CK_DOT_BODY(BLOCK_BYTES, QOFF, LO, HI, OFFSET_TERM)                                  \
    float acc[16] = {0};                                                                     \
    float offset = 0;                                                                        \
    for (size_t b = 0; b < nb; b++) {                                                        \
        const uint8_t *blk = wr + b * (BLOCK_BYTES);                                         \
        const uint8_t *q = blk + (QOFF);                                                     \
        const float *xb = xr + 32 * b;                                                       \
        float d = ck_half(blk);                                                              \
        float s[16];                                                                         \
        for (int j = 0; j < 16; j++) s[j] = (float)(LO) * xb[j] + (float)(HI) * xb[j + 16];  \
        for (int j = 0; j < 16; j++) acc[j] += d * s[j];                                     \
        offset += (OFFSET_TERM);                                                             \
    }                                                                                        \
    float sum = 0;                                                                           \
    for (int j = 0; j < 16; j++) sum += acc[j];                                              \
    return sum + offset;

#define CK_DEFINE_VARIANT(SUFFIX, ATTR)                                                                      \
    CK_DEFINE_DOTS(SUFFIX, ATTR)                                                                             \
    CK_DEFINE_MATMUL(SUFFIX, ATTR)

#define CK_DEFINE_DOTS(SUFFIX, ATTR)                                                                         \
    ATTR static float dot_q4_0_##SUFFIX(const uint8_t *wr, const float *xr, const float *xs, size_t nb) {    \
        CK_DOT_BODY(18, 2, (int)(q[j] & 15), (int)(q[j] >> 4), -8 * ck_half(blk) * xs[b])                   \
    }                                                                                                        \
    ATTR static float dot_q4_1_##SUFFIX(const uint8_t *wr, const float *xr, const float *xs, size_t nb) {    \
        CK_DOT_BODY(20, 4, (int)(q[j] & 15), (int)(q[j] >> 4), ck_half(blk + 2) * xs[b])                    \
    }                                                                                                        \
    ATTR static float dot_q8_0_##SUFFIX(const uint8_t *wr, const float *xr, const float *xs, size_t nb) {    \
        (void)xs;                                                                                            \
        CK_DOT_BODY(34, 2, (int8_t)q[j], (int8_t)q[j + 16], 0.0f)                                           \
    }

#define CK_DEFINE_MATMUL(SUFFIX, ATTR)                                                                       \
    ATTR static void matmul_##SUFFIX(int dtype, const uint8_t *w, size_t row_bytes, size_t r0, size_t r1,   \
                                     const float *x, const float *xs, size_t tokens, size_t k, float *y,     \
                                     size_t n) {                                                             \
        size_t nb = k / 32;                                                                                  \
        for (size_t r = r0; r < r1; r++) {                                                                   \
            const uint8_t *wr = w + r * row_bytes;                                                           \
            for (size_t t = 0; t < tokens; t++) {                                                            \
                const float *xr = x + t * k, *xsr = xs + t * nb;                                             \
                float v;                                                                                     \
                switch (dtype) {                                                                             \
                case CK_Q4_0: v = dot_q4_0_##SUFFIX(wr, xr, xsr, nb); break;                                 \
                case CK_Q4_1: v = dot_q4_1_##SUFFIX(wr, xr, xsr, nb); break;                                 \
                default: v = dot_q8_0_##SUFFIX(wr, xr, xsr, nb); break;                                      \
                }                                                                                            \
                y[t * n + r] = v;                                                                            \
            }                                                                                                \
        }                                                                                                    \
    }

CK_DEFINE_VARIANT(portable, )
#if defined(__x86_64__)
#include "QuantDotAVX2.h"
#endif

static void ck_matmul_dispatch(int isa, int dtype, const uint8_t *w, size_t row_bytes, size_t row_begin, size_t row_end,
                               const float *x, const float *xsums, size_t tokens, size_t k, float *y, size_t n, int use_panel) {
#if defined(__x86_64__)
    // NOTE: AVX-512 machines run the AVX2 variant until an AVX-512 kernel is measured on one.
    if (isa >= CK_ISA_AVX2) {
        matmul_avx2(dtype, 0, w, row_bytes, row_begin, row_end, x, xsums, tokens, k, y, n, use_panel);
        return;
    }
#endif
    (void)use_panel;
    matmul_portable(dtype, w, row_bytes, row_begin, row_end, x, xsums, tokens, k, y, n);
}

void ck_matmul_blocks(int isa, int dtype, const uint8_t *w, size_t row_bytes, size_t row_begin, size_t row_end,
                      const float *x, const float *xsums, size_t tokens, size_t k, float *y, size_t n) {
    ck_matmul_dispatch(isa, dtype, w, row_bytes, row_begin, row_end, x, xsums, tokens, k, y, n, 1);
}

void ck_matmul_blocks_registers_only(int isa, int dtype, const uint8_t *w, size_t row_bytes, size_t row_begin,
                                     size_t row_end, const float *x, const float *xsums, size_t tokens, size_t k,
                                     float *y, size_t n) {
    ck_matmul_dispatch(isa, dtype, w, row_bytes, row_begin, row_end, x, xsums, tokens, k, y, n, 0);
}

/// Rows gathered back from the tiles per portable call.
enum { CK_UNTILE_ROWS = 48 };

/// AVX2: the kernel reads the tiles itself (ck_dequantise_tile_block: each row's words gathered from its
/// tile block, then the row kernel's conversion and reduction). Portable: rows gathered back from the
/// tiles (ck_untile_row) a few dozen at a time into a per-thread buffer, then the row loops; a (row,
/// token)'s result does not depend on which rows share the call. Either way, the rows' bits.
void ck_matmul_blocks_tiled(int isa, int dtype, const uint8_t *tiles, size_t row_begin, size_t row_end,
                            const float *x, const float *xsums, size_t tokens, size_t k, float *y, size_t n) {
    if (row_begin >= row_end) return;
    size_t row_bytes = (k / 32) * ck_q8_block_bytes(dtype);
#if defined(__x86_64__)
    if (isa >= CK_ISA_AVX2) {
        matmul_avx2(dtype, 1, tiles, row_bytes, row_begin, row_end, x, xsums, tokens, k, y, n, 1);
        return;
    }
#endif
    uint8_t *rows = ck_scratch(CK_UNTILE_ROWS * row_bytes);
    uint8_t one[32768];  // without the buffer (out of memory): a row at a time, rows up to 32 KB
    size_t chunk = rows ? CK_UNTILE_ROWS : 1;
    if (!rows && row_bytes > sizeof one) {
        for (size_t t = 0; t < tokens; t++)
            for (size_t r = row_begin; r < row_end; r++) y[t * n + r] = NAN;
        return;
    }
    if (!rows) rows = one;
    for (size_t r = row_begin; r < row_end; r += chunk) {
        size_t c = row_end - r < chunk ? row_end - r : chunk;
        for (size_t i = 0; i < c; i++) ck_untile_row(dtype, tiles, r + i, k, rows + i * row_bytes);
        // y + r: the call's rows 0..<c are rows r..<r + c of y.
        matmul_portable(dtype, rows, row_bytes, 0, c, x, xsums, tokens, k, y + r, n);
    }
}

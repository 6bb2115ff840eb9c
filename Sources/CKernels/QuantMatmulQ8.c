// Quantised-weight GEMV/GEMM with int8 activations (the llama.cpp/VNNI scheme): each token's
// activations are quantised per block of 32 to int8 with one fp32 scale, the weight block and the
// activation block are multiplied in integers (exact), and each block's integer sum is scaled in fp32.
//
// Numerics are defined by the portable code below and the AVX2 variant reproduces them bit for bit:
// a block's 32 products are summed in 8 integer lanes (lane l = elements 4l..4l+3, as
// maddubs + madd produce them), each lane is accumulated in fp32 with one FMA per block, the 8 lanes
// are summed in ck_hsum8's order at the end, and Q4_1's min term is a separate scalar sum. So the
// result of a (row, token) never depends on the batch, the ISA or the tile it was computed in.
#include "CKernels.h"
#include <math.h>
#include <string.h>

float ck_half_to_float(uint16_t h);

static inline uint16_t ck_u16(const uint8_t *p) { return (uint16_t)(p[0] | (p[1] << 8)); }

/// One 32-block: amax over |x| (NaN ignored), q = round-to-nearest-even(x·inv) with inv = 127/amax and
/// the product clamped to ±127 first (inv overflows to inf below amax ≈ 3.7e-37), a NaN product (a NaN
/// input, or ±inf times inv = 0) quantised to 0; d = amax/127, s = d·Σq.
static void quantize_q8_portable(const float *x, size_t rows, size_t k, int8_t *q, float *d, float *s) {
    size_t nb = k / 32;
    for (size_t r = 0; r < rows; r++) {
        for (size_t b = 0; b < nb; b++) {
            const float *xb = x + r * k + 32 * b;
            int8_t *qb = q + r * k + 32 * b;
            float amax = 0;
            for (int j = 0; j < 32; j++) { float a = fabsf(xb[j]); amax = a > amax ? a : amax; }
            float scale = amax / 127.0f, inv = amax > 0 ? 127.0f / amax : 0.0f;
            int sum = 0;
            for (int j = 0; j < 32; j++) {
                float p = xb[j] * inv;
                p = p > 127.0f ? 127.0f : (p < -127.0f ? -127.0f : p);
                int v = p == p ? (int)lrintf(p) : 0;
                qb[j] = (int8_t)v;
                sum += v;
            }
            d[r * nb + b] = scale;
            s[r * nb + b] = scale * (float)sum;
        }
    }
}

/// The weight block's 32 values as integers (Q4: 0..15, Q8_0: -128..127) and its fp32 scale/min.
static inline void ck_unpack(int dtype, const uint8_t *blk, int *w, float *dw, float *mw) {
    *dw = ck_half_to_float(ck_u16(blk));
    if (dtype == CK_Q8_0) {
        for (int j = 0; j < 32; j++) w[j] = (int8_t)blk[2 + j];
        *mw = 0;
        return;
    }
    const uint8_t *qs = blk + (dtype == CK_Q4_1 ? 4 : 2);
    for (int j = 0; j < 16; j++) { w[j] = qs[j] & 15; w[j + 16] = qs[j] >> 4; }
    // Q4_0 stores w = d·(q − 8): the −8 becomes a min of −8·d times the activation block sum.
    *mw = dtype == CK_Q4_1 ? ck_half_to_float(ck_u16(blk + 2)) : -8.0f * *dw;
}

/// The fixed order in which 8 fp32 lanes are summed (matches the AVX2 reduction).
static inline float ck_hsum8(const float *a) {
    float h0 = a[0] + a[4], h1 = a[1] + a[5], h2 = a[2] + a[6], h3 = a[3] + a[7];
    float g0 = h0 + h2, g1 = h1 + h3;
    return g0 + g1;
}

static void matmul_q8_portable(int dtype, const uint8_t *w, size_t row_bytes, size_t r0, size_t r1,
                               const int8_t *xq, const float *xd, const float *xs, size_t tokens, size_t k,
                               float *y, size_t n) {
    size_t nb = k / 32, block_bytes = row_bytes / nb;
    for (size_t r = r0; r < r1; r++) {
        const uint8_t *wr = w + r * row_bytes;
        for (size_t t = 0; t < tokens; t++) {
            float acc[8] = {0}, off = 0;
            for (size_t b = 0; b < nb; b++) {
                int wv[32];
                float dw, mw;
                ck_unpack(dtype, wr + b * block_bytes, wv, &dw, &mw);
                const int8_t *qx = xq + t * k + 32 * b;
                float dd = dw * xd[t * nb + b];
                for (int l = 0; l < 8; l++) {
                    int isum = wv[4 * l] * qx[4 * l] + wv[4 * l + 1] * qx[4 * l + 1]
                             + wv[4 * l + 2] * qx[4 * l + 2] + wv[4 * l + 3] * qx[4 * l + 3];
                    acc[l] = fmaf((float)isum, dd, acc[l]);
                }
                float p = mw * xs[t * nb + b];
                off += p;
            }
            y[t * n + r] = ck_hsum8(acc) + off;
        }
    }
}

#if defined(__x86_64__)
#include "QuantDotQ8AVX2.h"
#endif

void ck_quantize_q8(int isa, const float *x, size_t rows, size_t k, int8_t *q, float *d, float *s) {
#if defined(__x86_64__)
    if (isa >= CK_ISA_AVX2) {
        quantize_q8_avx2(x, rows, k, q, d, s);
        return;
    }
#endif
    quantize_q8_portable(x, rows, k, q, d, s);
}

void ck_matmul_q8(int isa, int dtype, const uint8_t *w, size_t row_bytes, size_t row_begin, size_t row_end,
                  const int8_t *xq, const float *xd, const float *xs, size_t tokens, size_t k, float *y, size_t n) {
#if defined(__x86_64__)
    if (isa >= CK_ISA_AVX2) {
        matmul_q8_avx2(dtype, isa >= CK_ISA_AVX512, w, row_bytes, row_begin, row_end, xq, xd, xs, tokens, k, y, n);
        return;
    }
#endif
    matmul_q8_portable(dtype, w, row_bytes, row_begin, row_end, xq, xd, xs, tokens, k, y, n);
}

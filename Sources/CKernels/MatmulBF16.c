// y = x·Wᵀ with fp32 activations and bf16 weights (the upper 16 bits of an fp32, so widening is a 16-bit
// shift), accumulated in fp32. Half the bytes of fp32 weights, exact products: decode reads half as much.
//
// Reduction order (fixed per k, so a (row, token) result never depends on how many tokens the call has):
// - portable: 16 lane sums, lane j collecting elements j, j+16, j+32, … of every full 16-chunk, summed
//   in lane order, then the k % 16 tail added in index order;
// - AVX2+FMA: two 8-lane accumulators per (row, token) over 32-element chunks (see dot_tile_avx2), summed
//   across lanes in one fixed order, then the k % 8 tail with scalar FMAs. Tiles of 1–2 rows × 1–3 tokens,
//   panels of rows and blocks of tokens only change which (row, token) pairs share loads, never the order
//   of one pair's operations.
// The two ISAs round differently (FMA vs mul + add), so they agree to summation-order rounding, not bits.
#include "CKernels.h"
#include "Half.h"
#include <string.h>

static float dot_bf16_portable(const uint16_t *w, const float *x, size_t k) {
    float acc[16] = {0};
    size_t i = 0;
    for (; i + 16 <= k; i += 16) {
        for (int j = 0; j < 16; j++) acc[j] += ck_bf16_to_float(w[i + j]) * x[i + j];
    }
    float sum = 0;
    for (int j = 0; j < 16; j++) sum += acc[j];
    for (; i < k; i++) sum += ck_bf16_to_float(w[i]) * x[i];
    return sum;
}

static void matmul_bf16_portable(const uint16_t *w, size_t r0, size_t r1, const float *x, size_t tokens, size_t k,
                                 float *y, size_t n) {
    for (size_t r = r0; r < r1; r++) {
        const uint16_t *wr = w + r * k;
        for (size_t t = 0; t < tokens; t++) y[t * n + r] = dot_bf16_portable(wr, x + t * k, k);
    }
}

#if defined(__x86_64__)
#include <immintrin.h>

#define CK_AVX2_FMA __attribute__((target("avx2,fma")))

/// Σ of 8 lanes in one fixed order: ((l0+l4) + (l2+l6)) + ((l1+l5) + (l3+l7)).
CK_AVX2_FMA static inline float ck_hsum8(__m256 a) {
    __m128 h = _mm_add_ps(_mm256_castps256_ps128(a), _mm256_extractf128_ps(a, 1));
    h = _mm_add_ps(h, _mm_movehl_ps(h, h));
    h = _mm_add_ss(h, _mm_movehdup_ps(h));
    return _mm_cvtss_f32(h);
}

/// R (1–2) weight rows against T (1–3) token rows: each converted weight vector serves T tokens and each
/// activation load R rows. Always inlined with constant R and T, so the 2·R·T accumulators stay in
/// registers (≤ 12 of the 16 ymm). Per (row, token): a0 takes elements 0–7 and 16–23 of every 32-chunk,
/// a1 8–15 and 24–31; whole 8-chunks after the last 32-chunk go to a0, a1, a0; then hsum(a0 + a1) and the
/// k % 8 tail with scalar FMAs — the same sequence in every tile shape.
CK_AVX2_FMA __attribute__((always_inline)) static inline void dot_tile_avx2(const int R, const int T, const uint16_t *w,
                                                                            const float *x, size_t k, float *y, size_t n) {
    __m256 acc[2][3][2];
    for (int r = 0; r < R; r++)
        for (int t = 0; t < T; t++) acc[r][t][0] = acc[r][t][1] = _mm256_setzero_ps();
    size_t i = 0;
    for (; i + 32 <= k; i += 32) {
        for (int c = 0; c < 4; c++) {
            __m256 wv[2];
            for (int r = 0; r < R; r++) wv[r] = ck_load8_bf16(w + r * k + i + 8 * c);
            for (int t = 0; t < T; t++) {
                __m256 xv = _mm256_loadu_ps(x + t * k + i + 8 * c);
                for (int r = 0; r < R; r++) acc[r][t][c & 1] = _mm256_fmadd_ps(wv[r], xv, acc[r][t][c & 1]);
            }
        }
    }
    for (int c = 0; i + 8 <= k; i += 8, c++) {
        __m256 wv[2];
        for (int r = 0; r < R; r++) wv[r] = ck_load8_bf16(w + r * k + i);
        for (int t = 0; t < T; t++) {
            __m256 xv = _mm256_loadu_ps(x + t * k + i);
            for (int r = 0; r < R; r++) acc[r][t][c & 1] = _mm256_fmadd_ps(wv[r], xv, acc[r][t][c & 1]);
        }
    }
    for (int r = 0; r < R; r++) {
        for (int t = 0; t < T; t++) {
            float sum = ck_hsum8(_mm256_add_ps(acc[r][t][0], acc[r][t][1]));
            for (size_t j = i; j < k; j++) {
                __m128 s = _mm_fmadd_ss(_mm_set_ss(ck_bf16_to_float(w[r * k + j])), _mm_set_ss(x[t * k + j]), _mm_set_ss(sum));
                sum = _mm_cvtss_f32(s);
            }
            y[t * n + r] = sum;
        }
    }
}

/// Rows [p0, p1) against tokens [t0, t1): pairs of rows × triples of tokens, then the remainders.
#define CK_BF16_TOKENS(R)                                                                                      \
    do {                                                                                                       \
        size_t t = t0;                                                                                         \
        for (; t + 3 <= t1; t += 3) dot_tile_avx2(R, 3, w + r * k, x + t * k, k, y + t * n + r, n);           \
        if (t1 - t == 2) dot_tile_avx2(R, 2, w + r * k, x + t * k, k, y + t * n + r, n);                      \
        else if (t1 - t == 1) dot_tile_avx2(R, 1, w + r * k, x + t * k, k, y + t * n + r, n);                 \
    } while (0)

// Prompts: a panel of weight rows (≤ 128 KiB) meets a block of 32 tokens at a time, so both stay in L2
// instead of every row streaming all the prompt's activations past it. Only the loop order changes:
// each (row, token) still runs dot_tile_avx2's sequence.
#define CK_BF16_PANEL_BYTES (128 * 1024)
#define CK_BF16_TOKEN_BLOCK 32

CK_AVX2_FMA static void matmul_bf16_avx2(const uint16_t *w, size_t r0, size_t r1, const float *x, size_t tokens, size_t k,
                                        float *y, size_t n) {
    size_t panel = (CK_BF16_PANEL_BYTES / (2 * k) + 2) & ~(size_t)1;  // even, so row pairs stay inside a panel
    for (size_t p0 = r0; p0 < r1; p0 += panel) {
        size_t p1 = r1 - p0 < panel ? r1 : p0 + panel;
        for (size_t t0 = 0; t0 < tokens; t0 += CK_BF16_TOKEN_BLOCK) {
            size_t t1 = tokens - t0 < CK_BF16_TOKEN_BLOCK ? tokens : t0 + CK_BF16_TOKEN_BLOCK;
            size_t r = p0;
            for (; r + 2 <= p1; r += 2) CK_BF16_TOKENS(2);
            if (r < p1) CK_BF16_TOKENS(1);
        }
    }
}
#endif

void ck_matmul_bf16(int isa, const uint16_t *w, size_t row_begin, size_t row_end, const float *x, size_t tokens,
                    size_t k, float *y, size_t n) {
#if defined(__x86_64__)
    // NOTE: an AVX-512-BF16 variant (vdpbf16ps: pairs of bf16 products summed into fp32 lanes, ~2× the
    // fp32 FMA rate) belongs here for prefill; it would round activations to bf16, so it needs its own
    // parity bounds. This machine lacks the extension, so it is not written yet; AVX-512 runs AVX2.
    if (isa >= CK_ISA_AVX2) { matmul_bf16_avx2(w, row_begin, row_end, x, tokens, k, y, n); return; }
#endif
    matmul_bf16_portable(w, row_begin, row_end, x, tokens, k, y, n);
}

void ck_f32_to_bf16(const float *x, size_t count, uint16_t *out) {
    for (size_t i = 0; i < count; i++) {
        uint32_t bits;
        memcpy(&bits, &x[i], 4);
        if ((bits & 0x7FFFFFFF) > 0x7F800000) {
            out[i] = (uint16_t)((bits >> 16) | 0x0040);   // NaN stays NaN (quiet), sign kept
        } else {
            out[i] = (uint16_t)((bits + 0x7FFF + ((bits >> 16) & 1)) >> 16);   // round to nearest, ties to even
        }
    }
}

// y = x·Wᵀ with fp32 activations and bf16 weights (the upper 16 bits of an fp32, so widening is a 16-bit
// shift), accumulated in fp32. Half the bytes of fp32 weights, exact products: decode reads half as much.
//
// Reduction order (fixed per k, so a (row, token) result never depends on how many tokens the call has):
// - portable: 16 lane sums, lane j collecting elements j, j+16, j+32, … of every full 16-chunk, summed
//   in lane order, then the k % 16 tail added in index order;
// - AVX2+FMA: four 8-lane accumulators over 32-element chunks (acc i takes elements 8i…8i+7), then whole
//   8-chunks into acc 0, ((a0 + a1) + (a2 + a3)) summed across lanes in one fixed order, then the k % 8
//   tail with scalar FMAs. Tiles of 1–3 tokens per weight row run the identical per-token sequence, and
//   panels of rows × blocks of tokens only reorder whole (row, token) dot products.
// The two ISAs round differently (FMA vs mul + add), so they agree to summation-order rounding, not bits.
#include "CKernels.h"
#include <string.h>

static inline float ck_bf16(uint16_t h) {
    uint32_t bits = (uint32_t)h << 16;
    float f;
    memcpy(&f, &bits, 4);
    return f;
}

static float dot_bf16_portable(const uint16_t *w, const float *x, size_t k) {
    float acc[16] = {0};
    size_t i = 0;
    for (; i + 16 <= k; i += 16) {
        for (int j = 0; j < 16; j++) acc[j] += ck_bf16(w[i + j]) * x[i + j];
    }
    float sum = 0;
    for (int j = 0; j < 16; j++) sum += acc[j];
    for (; i < k; i++) sum += ck_bf16(w[i]) * x[i];
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

/// 8 bf16 at p widened to fp32 lanes: zero-extend to 32 bits, shift into the high half.
CK_AVX2_FMA static inline __m256 ck_load8_bf16(const uint16_t *p) {
    __m128i h = _mm_loadu_si128((const __m128i *)p);
    return _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_cvtepu16_epi32(h), 16));
}

/// Σ of 8 lanes in one fixed order: ((l0+l4) + (l2+l6)) + ((l1+l5) + (l3+l7)).
CK_AVX2_FMA static inline float ck_hsum8(__m256 a) {
    __m128 h = _mm_add_ps(_mm256_castps256_ps128(a), _mm256_extractf128_ps(a, 1));
    h = _mm_add_ps(h, _mm_movehl_ps(h, h));
    h = _mm_add_ss(h, _mm_movehdup_ps(h));
    return _mm_cvtss_f32(h);
}

/// One weight row against NT (1–3) token rows, each converted weight vector reused NT times. Always
/// inlined with a constant NT, so the accumulators live in registers (4·NT of the 16 ymm).
CK_AVX2_FMA __attribute__((always_inline)) static inline void dot_tile_avx2(const uint16_t *w, const float *x, size_t k,
                                                                            const int nt, float *out, size_t ostride) {
    __m256 acc[3][4];
    for (int t = 0; t < nt; t++)
        for (int a = 0; a < 4; a++) acc[t][a] = _mm256_setzero_ps();
    size_t i = 0;
    for (; i + 32 <= k; i += 32) {
        for (int a = 0; a < 4; a++) {
            __m256 wv = ck_load8_bf16(w + i + 8 * a);
            for (int t = 0; t < nt; t++) acc[t][a] = _mm256_fmadd_ps(wv, _mm256_loadu_ps(x + t * k + i + 8 * a), acc[t][a]);
        }
    }
    for (; i + 8 <= k; i += 8) {
        __m256 wv = ck_load8_bf16(w + i);
        for (int t = 0; t < nt; t++) acc[t][0] = _mm256_fmadd_ps(wv, _mm256_loadu_ps(x + t * k + i), acc[t][0]);
    }
    for (int t = 0; t < nt; t++) {
        float sum = ck_hsum8(_mm256_add_ps(_mm256_add_ps(acc[t][0], acc[t][1]), _mm256_add_ps(acc[t][2], acc[t][3])));
        for (size_t j = i; j < k; j++) {
            __m128 s = _mm_fmadd_ss(_mm_set_ss(ck_bf16(w[j])), _mm_set_ss(x[t * k + j]), _mm_set_ss(sum));
            sum = _mm_cvtss_f32(s);
        }
        out[t * ostride] = sum;
    }
}

// Prompts: a panel of weight rows (≤ 128 KiB) meets a block of 32 tokens at a time, so both stay in L2
// instead of every row streaming all the prompt's activations past it. Only the loop order changes:
// each (row, token) still runs dot_tile_avx2's sequence.
#define CK_BF16_PANEL_BYTES (128 * 1024)
#define CK_BF16_TOKEN_BLOCK 32

CK_AVX2_FMA static void matmul_bf16_avx2(const uint16_t *w, size_t r0, size_t r1, const float *x, size_t tokens, size_t k,
                                        float *y, size_t n) {
    size_t panel = CK_BF16_PANEL_BYTES / (2 * k + 1) + 1;
    for (size_t p0 = r0; p0 < r1; p0 += panel) {
        size_t p1 = r1 - p0 < panel ? r1 : p0 + panel;
        for (size_t t0 = 0; t0 < tokens; t0 += CK_BF16_TOKEN_BLOCK) {
            size_t t1 = tokens - t0 < CK_BF16_TOKEN_BLOCK ? tokens : t0 + CK_BF16_TOKEN_BLOCK;
            for (size_t r = p0; r < p1; r++) {
                const uint16_t *wr = w + r * k;
                size_t t = t0;
                for (; t + 3 <= t1; t += 3) dot_tile_avx2(wr, x + t * k, k, 3, y + t * n + r, n);
                if (t1 - t == 2) dot_tile_avx2(wr, x + t * k, k, 2, y + t * n + r, n);
                else if (t1 - t == 1) dot_tile_avx2(wr, x + t * k, k, 1, y + t * n + r, n);
            }
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

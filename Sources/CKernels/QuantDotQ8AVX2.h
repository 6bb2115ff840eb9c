// AVX2 (+FMA, F16C) int8-activation matmul of GGUF block rows (included by QuantMatmulQ8.c).
// A tile of R weight rows × T tokens shares each decoded weight block and each activation block;
// per (row, token, block): maddubs + madd give 8 exact int32 lane sums, one FMA adds them scaled by
// d_w·d_x. The reduction is the one the portable code defines (see QuantMatmulQ8.c), so results are
// bit-identical to it for every tile shape.
#include "AVX2Common.h"

#define CK_Q8AVX2 __attribute__((target("avx2,fma,f16c")))
#define CK_Q8_PREFETCH_BYTES 1024

/// The block's 32 weight values as bytes in element order (Q4: 0..15 unsigned; Q8_0: signed).
CK_Q8AVX2 static inline __m256i ck_q8_wbytes(int dtype, const uint8_t *blk) {
    if (dtype == CK_Q8_0) return _mm256_loadu_si256((const __m256i *)(blk + 2));
    __m128i raw = _mm_loadu_si128((const __m128i *)(blk + (dtype == CK_Q4_1 ? 4 : 2)));
    const __m128i m = _mm_set1_epi8(0x0F);
    __m128i lo = _mm_and_si128(raw, m), hi = _mm_and_si128(_mm_srli_epi16(raw, 4), m);
    return _mm256_set_m128i(hi, lo);
}

/// y[t·n + r] for R rows from `wr` (stride row_bytes) and T tokens from `xq` (stride k).
CK_Q8AVX2 static inline __attribute__((always_inline)) void
ck_q8_tile(const int dtype, const int R, const int T, const uint8_t *wr, size_t row_bytes, size_t block_bytes,
           size_t nb, const int8_t *xq, const float *xd, const float *xs, size_t k, float *y, size_t n) {
    __m256 acc[4][4];
    float off[4][4];
    const __m256i ones = _mm256_set1_epi16(1);
    for (int r = 0; r < R; r++)
        for (int t = 0; t < T; t++) { acc[r][t] = _mm256_setzero_ps(); off[r][t] = 0; }
    for (size_t b = 0; b < nb; b++) {
        __m256i wv[4], wa[4];
        float dw[4], mw[4];
        for (int r = 0; r < R; r++) {
            const uint8_t *blk = wr + r * row_bytes + b * block_bytes;
            // A decode tile reads each weight once from memory: the same prefetch as the fp32 path
            // (measured ~1.35× on a cold SmolLM2-sized sweep; prompts reuse a block for many tokens).
            if (T == 1) _mm_prefetch((const char *)blk + CK_Q8_PREFETCH_BYTES, _MM_HINT_T0);
            wv[r] = ck_q8_wbytes(dtype, blk);
            if (dtype == CK_Q8_0) wa[r] = _mm256_sign_epi8(wv[r], wv[r]);  // |w| as unsigned bytes
            dw[r] = ck_f16c_half(blk);
            mw[r] = dtype == CK_Q4_1 ? ck_f16c_half(blk + 2) : (dtype == CK_Q4_0 ? -8.0f * dw[r] : 0.0f);
        }
        for (int t = 0; t < T; t++) {
            __m256i x = _mm256_loadu_si256((const __m256i *)(xq + t * k + 32 * b));
            float dx = xd[t * nb + b], sx = xs[t * nb + b];
            for (int r = 0; r < R; r++) {
                __m256i prod = dtype == CK_Q8_0 ? _mm256_maddubs_epi16(wa[r], _mm256_sign_epi8(x, wv[r]))
                                                : _mm256_maddubs_epi16(wv[r], x);
                __m256 lanes = _mm256_cvtepi32_ps(_mm256_madd_epi16(prod, ones));
                acc[r][t] = _mm256_fmadd_ps(lanes, _mm256_set1_ps(dw[r] * dx), acc[r][t]);
                if (dtype != CK_Q8_0) {
                    float p = mw[r] * sx;  // separate statement: never contracted into an FMA
                    off[r][t] += p;
                }
            }
        }
    }
    for (int r = 0; r < R; r++)
        for (int t = 0; t < T; t++) y[t * n + r] = ck_hsum8_ps(acc[r][t]) + off[r][t];
}

/// Rows [r0, r1) for every token, in tiles: 1 row × 1 token for decode, 2 rows × 4 tokens for prefill.
CK_Q8AVX2 static inline __attribute__((always_inline)) void
ck_q8_rows(const int dtype, const uint8_t *w, size_t row_bytes, size_t r0, size_t r1, const int8_t *xq,
           const float *xd, const float *xs, size_t tokens, size_t k, float *y, size_t n) {
    size_t nb = k / 32, block_bytes = row_bytes / nb;
    size_t r = r0;
    if (tokens < 4) {
        // Decode: one row at a time. The weights then stream strictly in address order, and from memory a
        // single row ran 1.3–1.7× faster than 4-row tiles (Q8_0 MoE-sized sweep: ~12 against ~7 GB/s on one
        // core; Q4_1 SmolLM2 sweep: 7–9 against 5–8), where the fp32 path's 2-row tiles stay ahead because
        // its dequantisation, not memory, is the limit.
        for (; r < r1; r++)
            for (size_t t = 0; t < tokens; t++)
                ck_q8_tile(dtype, 1, 1, w + r * row_bytes, row_bytes, block_bytes, nb, xq + t * k, xd + t * nb,
                           xs + t * nb, k, y + t * n + r, n);
    }
    size_t rows_begin = r;
    // Tokens in blocks of 128 (at most 128·k bytes of int8 activations, L2-resident) per pass over the rows.
    for (size_t t0 = 0; t0 < tokens; t0 += 128) {
        size_t t1 = tokens - t0 < 128 ? tokens : t0 + 128;
        for (r = rows_begin; r + 2 <= r1; r += 2) {
            size_t t = t0;
            for (; t + 4 <= t1; t += 4)
                ck_q8_tile(dtype, 2, 4, w + r * row_bytes, row_bytes, block_bytes, nb, xq + t * k, xd + t * nb,
                           xs + t * nb, k, y + t * n + r, n);
            for (; t < t1; t++)
                ck_q8_tile(dtype, 2, 1, w + r * row_bytes, row_bytes, block_bytes, nb, xq + t * k, xd + t * nb,
                           xs + t * nb, k, y + t * n + r, n);
        }
        for (; r < r1; r++)
            for (size_t t = t0; t < t1; t++)
                ck_q8_tile(dtype, 1, 1, w + r * row_bytes, row_bytes, block_bytes, nb, xq + t * k, xd + t * nb,
                           xs + t * nb, k, y + t * n + r, n);
    }
}

CK_Q8AVX2 static void matmul_q8_avx2(int dtype, const uint8_t *w, size_t row_bytes, size_t r0, size_t r1,
                                     const int8_t *xq, const float *xd, const float *xs, size_t tokens, size_t k,
                                     float *y, size_t n) {
    switch (dtype) {  // one specialised copy per format, so the tile loops have no format branches
    case CK_Q4_0: ck_q8_rows(CK_Q4_0, w, row_bytes, r0, r1, xq, xd, xs, tokens, k, y, n); break;
    case CK_Q4_1: ck_q8_rows(CK_Q4_1, w, row_bytes, r0, r1, xq, xd, xs, tokens, k, y, n); break;
    default: ck_q8_rows(CK_Q8_0, w, row_bytes, r0, r1, xq, xd, xs, tokens, k, y, n); break;
    }
}

/// ck_quantize_q8 for AVX2, bit for bit the portable loops: the block max of |x| is ck_block_amax's, the
/// product x·inv is the same fp32 multiply, NaN products are
/// zeroed before the ±127 clamp, cvtps rounds to nearest even as lrintf does, and the int8 sum is exact.
CK_Q8AVX2 static void quantize_q8_avx2(const float *x, size_t rows, size_t k, int8_t *q, float *d, float *s) {
    size_t nb = k / 32;
    const __m256 lo = _mm256_set1_ps(-127.0f), hi = _mm256_set1_ps(127.0f);
    for (size_t r = 0; r < rows; r++) {
        for (size_t b = 0; b < nb; b++) {
            const float *xb = x + r * k + 32 * b;
            __m256 v[4];
            for (int i = 0; i < 4; i++) v[i] = _mm256_loadu_ps(xb + 8 * i);
            float amax = ck_block_amax(v);
            float scale = amax / 127.0f, inv = amax > 0 ? 127.0f / amax : 0.0f;
            const __m256 vinv = _mm256_set1_ps(inv);
            __m256i iv[4], sum = _mm256_setzero_si256();
            for (int i = 0; i < 4; i++) {
                __m256 p = _mm256_mul_ps(v[i], vinv);
                p = _mm256_and_ps(p, _mm256_cmp_ps(p, p, _CMP_ORD_Q));
                iv[i] = _mm256_cvtps_epi32(_mm256_min_ps(_mm256_max_ps(p, lo), hi));
                sum = _mm256_add_epi32(sum, iv[i]);
            }
            _mm256_storeu_si256((__m256i *)(q + r * k + 32 * b), ck_pack_bytes(iv));
            __m128i s4 = _mm_add_epi32(_mm256_castsi256_si128(sum), _mm256_extracti128_si256(sum, 1));
            s4 = _mm_add_epi32(s4, _mm_shuffle_epi32(s4, 0x4e));
            s4 = _mm_add_epi32(s4, _mm_shuffle_epi32(s4, 0xb1));
            d[r * nb + b] = scale;
            s[r * nb + b] = scale * (float)_mm_cvtsi128_si32(s4);
        }
    }
}

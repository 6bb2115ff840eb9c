// AVX2 + FMA (+F16C) matmul of GGUF block rows with fp32 activations (included by QuantMatmul.c).
// Each weight block is dequantised to fp32 once and used for a tile (1 row × 4 tokens for prompts,
// 2 rows × 1 token for decode). A (row, token)'s operations are the same whatever the tile, so the
// result for a row never depends on the batch.
#include "AVX2Common.h"
#include <stdlib.h>

#define CK_AVX2 __attribute__((target("avx2,fma,f16c")))
#define CK_TILE 4
#define CK_TOKEN_BLOCK 64  // a multiple of CK_TILE
#define CK_PANEL_ROWS 8

/// One block as fp32: w0..w3 hold elements 0–7, 8–15, 16–23, 24–31; x = d·w + off.
typedef struct {
    __m256 w0, w1, w2, w3;
    float d, off;
} ck_block_f32;

CK_AVX2 static inline __m256 ck_u8_to_ps(__m128i v) { return _mm256_cvtepi32_ps(_mm256_cvtepu8_epi32(v)); }
CK_AVX2 static inline __m256 ck_i8_to_ps(__m128i v) { return _mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(v)); }

CK_AVX2 static inline float ck_hsum(__m256 a, __m256 b) { return ck_hsum8_ps(_mm256_add_ps(a, b)); }

CK_AVX2 static inline ck_block_f32 ck_decode_block(int dtype, const uint8_t *blk) {
    ck_block_f32 r;
    r.d = ck_f16c_half(blk);
    if (dtype == CK_Q8_0) {
        __m128i q0 = _mm_loadu_si128((const __m128i *)(blk + 2)), q1 = _mm_loadu_si128((const __m128i *)(blk + 18));
        r.w0 = ck_i8_to_ps(q0);
        r.w1 = ck_i8_to_ps(_mm_srli_si128(q0, 8));
        r.w2 = ck_i8_to_ps(q1);
        r.w3 = ck_i8_to_ps(_mm_srli_si128(q1, 8));
        r.off = 0;
        return r;
    }
    const __m128i m = _mm_set1_epi8(0x0F);
    __m128i raw = _mm_loadu_si128((const __m128i *)(blk + (dtype == CK_Q4_1 ? 4 : 2)));
    __m128i lo = _mm_and_si128(raw, m), hi = _mm_and_si128(_mm_srli_epi16(raw, 4), m);
    r.w0 = ck_u8_to_ps(lo);
    r.w1 = ck_u8_to_ps(_mm_srli_si128(lo, 8));
    r.w2 = ck_u8_to_ps(hi);
    r.w3 = ck_u8_to_ps(_mm_srli_si128(hi, 8));
    r.off = dtype == CK_Q4_1 ? ck_f16c_half(blk + 2) : -8 * r.d;
    return r;
}

/// out[r·1 + i·out_stride] = row_r · x_i for R rows (stride row_bytes) and T tokens (x_i = x + i·k).
/// Each weight block is dequantised once to fp32 (w = d·q + m, one rounding, as the reference) and
/// used for the whole tile. Per (row, token) two accumulators take elements 0–7 and 16–23 (a0) and
/// 8–15 and 24–31 (a1) of every block in order, so a token's result never depends on the tile shape.
CK_AVX2 static inline __attribute__((always_inline)) void ck_tile(int dtype, const int R, const int T, const uint8_t *wr,
        size_t row_bytes, size_t block_bytes, size_t nb, const float *x, size_t k, float *out, size_t out_stride) {
    __m256 a0[2][CK_TILE], a1[2][CK_TILE];
    for (int r = 0; r < R; r++)
        for (int i = 0; i < T; i++) { a0[r][i] = _mm256_setzero_ps(); a1[r][i] = _mm256_setzero_ps(); }
    for (size_t b = 0; b < nb; b++) {
        __m256 w[2][4];
        for (int r = 0; r < R; r++) {
            ck_block_f32 q = ck_decode_block(dtype, wr + r * row_bytes + b * block_bytes);
            __m256 vd = _mm256_set1_ps(q.d), vm = _mm256_set1_ps(q.off);
            w[r][0] = _mm256_fmadd_ps(vd, q.w0, vm);
            w[r][1] = _mm256_fmadd_ps(vd, q.w1, vm);
            w[r][2] = _mm256_fmadd_ps(vd, q.w2, vm);
            w[r][3] = _mm256_fmadd_ps(vd, q.w3, vm);
        }
        for (int i = 0; i < T; i++) {
            const float *xb = x + i * k + 32 * b;
            __m256 x0 = _mm256_loadu_ps(xb), x1 = _mm256_loadu_ps(xb + 8);
            __m256 x2 = _mm256_loadu_ps(xb + 16), x3 = _mm256_loadu_ps(xb + 24);
            for (int r = 0; r < R; r++) {
                a0[r][i] = _mm256_fmadd_ps(w[r][0], x0, a0[r][i]);
                a1[r][i] = _mm256_fmadd_ps(w[r][1], x1, a1[r][i]);
                a0[r][i] = _mm256_fmadd_ps(w[r][2], x2, a0[r][i]);
                a1[r][i] = _mm256_fmadd_ps(w[r][3], x3, a1[r][i]);
            }
        }
    }
    for (int r = 0; r < R; r++)
        for (int i = 0; i < T; i++) out[r + i * out_stride] = ck_hsum(a0[r][i], a1[r][i]);
}

/// `rows` rows dequantised to fp32 into out[r·nb·32 …], each value d·q + m with one FMA: bit-identical to
/// the weights ck_tile builds in registers.
CK_AVX2 static inline __attribute__((always_inline)) void ck_dequantise_rows(int dtype, const uint8_t *w, size_t row_bytes,
        size_t block_bytes, size_t nb, size_t rows, float *out) {
    for (size_t r = 0; r < rows; r++)
        for (size_t b = 0; b < nb; b++) {
            ck_block_f32 q = ck_decode_block(dtype, w + r * row_bytes + b * block_bytes);
            __m256 vd = _mm256_set1_ps(q.d), vm = _mm256_set1_ps(q.off);
            float *o = out + (r * nb + b) * 32;
            _mm256_store_ps(o, _mm256_fmadd_ps(vd, q.w0, vm));
            _mm256_store_ps(o + 8, _mm256_fmadd_ps(vd, q.w1, vm));
            _mm256_store_ps(o + 16, _mm256_fmadd_ps(vd, q.w2, vm));
            _mm256_store_ps(o + 24, _mm256_fmadd_ps(vd, q.w3, vm));
        }
}

/// ck_tile's arithmetic for one row already in fp32 (`wrow`, nb·32 values) and T tokens: the same FMAs
/// in the same order, so the same result bit for bit.
CK_AVX2 static inline __attribute__((always_inline)) void ck_tile_f32(const int T, const float *wrow, size_t nb,
        const float *x, size_t k, float *out, size_t out_stride) {
    __m256 a0[CK_TILE], a1[CK_TILE];
    for (int i = 0; i < T; i++) { a0[i] = _mm256_setzero_ps(); a1[i] = _mm256_setzero_ps(); }
    for (size_t b = 0; b < nb; b++) {
        const float *wb = wrow + 32 * b;
        __m256 w0 = _mm256_load_ps(wb), w1 = _mm256_load_ps(wb + 8), w2 = _mm256_load_ps(wb + 16), w3 = _mm256_load_ps(wb + 24);
        for (int i = 0; i < T; i++) {
            const float *xb = x + i * k + 32 * b;
            a0[i] = _mm256_fmadd_ps(w0, _mm256_loadu_ps(xb), a0[i]);
            a1[i] = _mm256_fmadd_ps(w1, _mm256_loadu_ps(xb + 8), a1[i]);
            a0[i] = _mm256_fmadd_ps(w2, _mm256_loadu_ps(xb + 16), a0[i]);
            a1[i] = _mm256_fmadd_ps(w3, _mm256_loadu_ps(xb + 24), a1[i]);
        }
    }
    for (int i = 0; i < T; i++) out[i * out_stride] = ck_hsum(a0[i], a1[i]);
}

CK_AVX2 static inline __attribute__((always_inline)) void ck_rows_avx2(const int dtype, const uint8_t *w, size_t row_bytes,
        size_t r0, size_t r1, const float *x, size_t tokens, size_t k, float *y, size_t n) {
    size_t nb = k / 32, block_bytes = row_bytes / nb;
    if (tokens < CK_TILE) {
        // Decode-sized batches: two rows at a time, so four accumulator chains are in flight.
        size_t r = r0;
        for (; r + 2 <= r1; r += 2)
            for (size_t t = 0; t < tokens; t++)
                ck_tile(dtype, 2, 1, w + r * row_bytes, row_bytes, block_bytes, nb, x + t * k, k, y + t * n + r, n);
        for (; r < r1; r++)
            for (size_t t = 0; t < tokens; t++)
                ck_tile(dtype, 1, 1, w + r * row_bytes, row_bytes, block_bytes, nb, x + t * k, k, y + t * n + r, n);
        return;
    }
    // Prompts and batches: a panel of CK_PANEL_ROWS rows is dequantised once per block of tokens into an
    // fp32 buffer (the same values ck_tile makes in registers), and 4-token tiles then read it, so a
    // token-block costs 4 FMAs and ~5 loads instead of also paying the block decode every 4 tokens.
    float *panel = aligned_alloc(32, CK_PANEL_ROWS * k * sizeof(float));
    for (size_t t0 = 0; t0 < tokens; t0 += CK_TOKEN_BLOCK) {
        size_t t1 = tokens - t0 < CK_TOKEN_BLOCK ? tokens : t0 + CK_TOKEN_BLOCK;
        for (size_t p0 = r0; p0 < r1; p0 += CK_PANEL_ROWS) {
            size_t rows = r1 - p0 < CK_PANEL_ROWS ? r1 - p0 : CK_PANEL_ROWS;
            if (!panel) {  // no memory for the panel: the register-only tiles give the same numbers
                for (size_t r = p0; r < p0 + rows; r++)
                    for (size_t t = t0; t < t1; t++)
                        ck_tile(dtype, 1, 1, w + r * row_bytes, row_bytes, block_bytes, nb, x + t * k, k, y + t * n + r, n);
                continue;
            }
            ck_dequantise_rows(dtype, w + p0 * row_bytes, row_bytes, block_bytes, nb, rows, panel);
            size_t t = t0;
            for (; t + CK_TILE <= t1; t += CK_TILE)
                for (size_t r = 0; r < rows; r++)
                    ck_tile_f32(CK_TILE, panel + r * k, nb, x + t * k, k, y + t * n + p0 + r, n);
            for (; t < t1; t++)
                for (size_t r = 0; r < rows; r++)
                    ck_tile_f32(1, panel + r * k, nb, x + t * k, k, y + t * n + p0 + r, n);
        }
    }
    free(panel);
}

CK_AVX2 static void matmul_avx2(int dtype, const uint8_t *w, size_t row_bytes, size_t r0, size_t r1,
                                const float *x, const float *xs, size_t tokens, size_t k, float *y, size_t n) {
    (void)xs;  // the block minima are folded into the dequantised weights
    switch (dtype) {  // one specialised copy per format
    case CK_Q4_0: ck_rows_avx2(CK_Q4_0, w, row_bytes, r0, r1, x, tokens, k, y, n); break;
    case CK_Q4_1: ck_rows_avx2(CK_Q4_1, w, row_bytes, r0, r1, x, tokens, k, y, n); break;
    default: ck_rows_avx2(CK_Q8_0, w, row_bytes, r0, r1, x, tokens, k, y, n); break;
    }
}

// AVX2 + FMA (+F16C) matmul of GGUF block rows with fp32 activations (included by QuantMatmul.c).
//
// One reduction order for every path: each weight block is dequantised to fp32 (w = d·q + m, one FMA,
// as the reference) and each (row, token) has ONE 8-lane accumulator that takes the row's 8-element
// chunks in k order (lane j collects elements j, j+8, j+16, … of the row); the 8 lanes are then summed
// by ck_hsum8_ps. The tiles below only change which (row, token) pairs share loads, never that
// sequence, so a token's result is the same bit for bit whatever the tile, the batch or the token's
// position in it (batch invariance).
//   - decode (tokens < CK_TILE_TOKENS) and the no-memory fallback: CK_DECODE_ROWS rows × 1 token,
//     weights dequantised in registers (prefetched ahead), the token's activations loaded once per
//     block for all rows;
//   - prompts and batches: a panel of CK_PANEL_ROWS rows is dequantised once per block of tokens into a
//     per-thread fp32 buffer, then 3-row × 4-token register tiles read it: per 8-element chunk 3 weight
//     + 4 activation loads feed 12 FMAs into 12 independent accumulators.
#include "AVX2Common.h"
#include "ThreadScratch.h"
#include <string.h>

#define CK_AVX2 __attribute__((target("avx2,fma,f16c")))
#define CK_TILE_ROWS 3
#define CK_TILE_TOKENS 4
#define CK_DECODE_ROWS 2
#define CK_TOKEN_BLOCK 64  // a multiple of CK_TILE_TOKENS
#define CK_PANEL_ROWS 12   // a multiple of CK_TILE_ROWS
// Weights come from memory once per decode step (once per token block in a prompt's panel): prefetching
// this far ahead of every block keeps enough loads in flight (measured 1.2–2× on matrices that miss the
// caches; the hardware prefetcher alone leaves the dequantising loop waiting).
#define CK_PREFETCH_BYTES 1024
// Decode (one token, no panel) prefetches further: two threads streaming Q8_0 expert-sized 512 × 1024
// matrices that miss the caches ran at 9.9, 10.5, 13.2 GB/s with 1 KB and 12.4, 13.8, 15.5 with 2 KB
// (interleaved in one process); SmolLM2's Q8_0 head (49,152 × 576) and Q4_1 rows, bound by the
// dequantising arithmetic, do not care.
#define CK_DECODE_PREFETCH_BYTES 2048

/// The block at `blk` as fp32 (w[0..3] hold elements 0–7, 8–15, 16–23, 24–31), each value d·q + m with
/// one FMA — the same instructions wherever a block is dequantised, so panel and registers agree.
CK_AVX2 static inline __attribute__((always_inline)) void ck_dequantise_block(const int dtype, const uint8_t *blk, __m256 w[4]) {
    __m128 dm = ck_f16c_pair(blk);  // d and, for Q4_1, m
    __m256 vd = _mm256_broadcastss_ps(dm), vm;
    __m256i q0, q1, q2, q3;
    if (dtype == CK_Q8_0) {
        q0 = _mm256_cvtepi8_epi32(_mm_loadl_epi64((const __m128i *)(blk + 2)));
        q1 = _mm256_cvtepi8_epi32(_mm_loadl_epi64((const __m128i *)(blk + 10)));
        q2 = _mm256_cvtepi8_epi32(_mm_loadl_epi64((const __m128i *)(blk + 18)));
        q3 = _mm256_cvtepi8_epi32(_mm_loadl_epi64((const __m128i *)(blk + 26)));
        vm = _mm256_setzero_ps();
    } else {
        // Bytes 0–7 widened to 32 bits hold elements 0–7 (low nibbles) and 16–23 (high nibbles).
        const uint8_t *qs = blk + (dtype == CK_Q4_1 ? 4 : 2);
        const __m256i m4 = _mm256_set1_epi32(0x0F);
        __m256i b0 = _mm256_cvtepu8_epi32(_mm_loadl_epi64((const __m128i *)qs));
        __m256i b1 = _mm256_cvtepu8_epi32(_mm_loadl_epi64((const __m128i *)(qs + 8)));
        q0 = _mm256_and_si256(b0, m4);
        q1 = _mm256_and_si256(b1, m4);
        q2 = _mm256_srli_epi32(b0, 4);
        q3 = _mm256_srli_epi32(b1, 4);
        vm = dtype == CK_Q4_1 ? _mm256_broadcastss_ps(_mm_movehdup_ps(dm)) : _mm256_mul_ps(_mm256_set1_ps(-8.0f), vd);
    }
    w[0] = _mm256_fmadd_ps(vd, _mm256_cvtepi32_ps(q0), vm);
    w[1] = _mm256_fmadd_ps(vd, _mm256_cvtepi32_ps(q1), vm);
    w[2] = _mm256_fmadd_ps(vd, _mm256_cvtepi32_ps(q2), vm);
    w[3] = _mm256_fmadd_ps(vd, _mm256_cvtepi32_ps(q3), vm);
}

/// out[r] = row_r · x for R rows (stride row_bytes) and one token, weights dequantised in registers.
CK_AVX2 static inline __attribute__((always_inline)) void ck_tile_blocks(const int dtype, const int R, const uint8_t *wr,
        size_t row_bytes, size_t block_bytes, size_t nb, const float *x, float *out) {
    __m256 acc[CK_DECODE_ROWS];
    for (int r = 0; r < R; r++) acc[r] = _mm256_setzero_ps();
    for (size_t b = 0; b < nb; b++) {
        const float *xb = x + 32 * b;
        __m256 x0 = _mm256_loadu_ps(xb), x1 = _mm256_loadu_ps(xb + 8), x2 = _mm256_loadu_ps(xb + 16), x3 = _mm256_loadu_ps(xb + 24);
        for (int r = 0; r < R; r++) {
            __m256 w[4];
            const uint8_t *blk = wr + r * row_bytes + b * block_bytes;
            _mm_prefetch((const char *)blk + CK_DECODE_PREFETCH_BYTES, _MM_HINT_T0);
            ck_dequantise_block(dtype, blk, w);
            acc[r] = _mm256_fmadd_ps(w[0], x0, acc[r]);
            acc[r] = _mm256_fmadd_ps(w[1], x1, acc[r]);
            acc[r] = _mm256_fmadd_ps(w[2], x2, acc[r]);
            acc[r] = _mm256_fmadd_ps(w[3], x3, acc[r]);
        }
    }
    for (int r = 0; r < R; r++) out[r] = ck_hsum8_ps(acc[r]);
}

/// Rows [r0, r1) times T tokens (x stride k, y stride n) with ck_tile_blocks, CK_DECODE_ROWS rows at a time.
CK_AVX2 static inline __attribute__((always_inline)) void ck_rows_blocks(const int dtype, const uint8_t *w, size_t row_bytes,
        size_t block_bytes, size_t nb, size_t r0, size_t r1, const float *x, size_t tokens, size_t k, float *y, size_t n) {
    size_t r = r0;
    for (; r + CK_DECODE_ROWS <= r1; r += CK_DECODE_ROWS)
        for (size_t t = 0; t < tokens; t++)
            ck_tile_blocks(dtype, CK_DECODE_ROWS, w + r * row_bytes, row_bytes, block_bytes, nb, x + t * k, y + t * n + r);
    for (; r < r1; r++)  // the rows left over, one at a time
        for (size_t t = 0; t < tokens; t++)
            ck_tile_blocks(dtype, 1, w + r * row_bytes, row_bytes, block_bytes, nb, x + t * k, y + t * n + r);
}

/// `rows` rows dequantised to fp32 into out[r·nb·32 …] (ck_dequantise_block per block). The weights
/// come from memory once per block of tokens, so they are prefetched as in decode (a batch of 16
/// sequences spent ~1/3 of its matmul time here waiting for them; the prefetch measured 6–8% off a
/// cold 16-token sweep of SmolLM2's matrices).
CK_AVX2 static inline __attribute__((always_inline)) void ck_dequantise_rows(const int dtype, const uint8_t *w, size_t row_bytes,
        size_t block_bytes, size_t nb, size_t rows, float *out) {
    for (size_t r = 0; r < rows; r++)
        for (size_t b = 0; b < nb; b++) {
            __m256 v[4];
            _mm_prefetch((const char *)w + r * row_bytes + b * block_bytes + CK_PREFETCH_BYTES, _MM_HINT_T0);
            ck_dequantise_block(dtype, w + r * row_bytes + b * block_bytes, v);
            float *o = out + (r * nb + b) * 32;
            _mm256_store_ps(o, v[0]);
            _mm256_store_ps(o + 8, v[1]);
            _mm256_store_ps(o + 16, v[2]);
            _mm256_store_ps(o + 24, v[3]);
        }
}

/// out[r + i·n] = wrow_r · x_i for R fp32 rows (stride k) and T tokens (stride k): per 8-element chunk,
/// R weight loads and T activation loads feed R·T FMAs, one accumulator per (row, token).
CK_AVX2 static inline __attribute__((always_inline)) void ck_tile_f32(const int R, const int T, const float *w,
        const float *x, size_t k, float *out, size_t n) {
    __m256 acc[CK_TILE_ROWS][CK_TILE_TOKENS];
    for (int r = 0; r < R; r++)
        for (int i = 0; i < T; i++) acc[r][i] = _mm256_setzero_ps();
    for (size_t c = 0; c < k; c += 8) {
        __m256 wv[CK_TILE_ROWS];
        for (int r = 0; r < R; r++) wv[r] = _mm256_load_ps(w + r * k + c);
        for (int i = 0; i < T; i++) {
            __m256 xv = _mm256_loadu_ps(x + i * k + c);
            for (int r = 0; r < R; r++) acc[r][i] = _mm256_fmadd_ps(wv[r], xv, acc[r][i]);
        }
    }
    for (int r = 0; r < R; r++)
        for (int i = 0; i < T; i++) out[r + i * n] = ck_hsum8_ps(acc[r][i]);
}

/// ck_tile_f32 for any R ≤ CK_TILE_ROWS, T ≤ CK_TILE_TOKENS, each shape compiled with constant bounds.
CK_AVX2 static void ck_tile_f32_any(int R, int T, const float *w, const float *x, size_t k, float *out, size_t n) {
#define CK_TILE_CASE(RR, TT) case (RR) * 8 + (TT): ck_tile_f32(RR, TT, w, x, k, out, n); return;
    switch (R * 8 + T) {
    CK_TILE_CASE(3, 4) CK_TILE_CASE(3, 3) CK_TILE_CASE(3, 2) CK_TILE_CASE(3, 1)
    CK_TILE_CASE(2, 4) CK_TILE_CASE(2, 3) CK_TILE_CASE(2, 2) CK_TILE_CASE(2, 1)
    CK_TILE_CASE(1, 4) CK_TILE_CASE(1, 3) CK_TILE_CASE(1, 2) CK_TILE_CASE(1, 1)
    default: return;
    }
#undef CK_TILE_CASE
}

/// A panel of fp32 rows (`rows` ≤ CK_PANEL_ROWS, stride k) times tokens [t0, t1) into y[t·n + row0 + r].
CK_AVX2 static void ck_panel_times_tokens(const float *panel, size_t rows, const float *x, size_t t0, size_t t1,
                                          size_t k, float *y, size_t n, size_t row0) {
    for (size_t t = t0; t < t1; t += CK_TILE_TOKENS) {
        int T = t1 - t < CK_TILE_TOKENS ? (int)(t1 - t) : CK_TILE_TOKENS;
        for (size_t r = 0; r < rows; r += CK_TILE_ROWS) {
            int R = rows - r < CK_TILE_ROWS ? (int)(rows - r) : CK_TILE_ROWS;
            if (R == CK_TILE_ROWS && T == CK_TILE_TOKENS)
                ck_tile_f32(CK_TILE_ROWS, CK_TILE_TOKENS, panel + r * k, x + t * k, k, y + t * n + row0 + r, n);
            else
                ck_tile_f32_any(R, T, panel + r * k, x + t * k, k, y + t * n + row0 + r, n);
        }
    }
}

/// Rows [r0, r1) × `tokens` tokens. `use_panel` 0 forces the register-only path (tests check it gives
/// the same bits as the panel path; it is what runs when the panel buffer cannot be allocated).
CK_AVX2 static inline __attribute__((always_inline)) void ck_rows_avx2(const int dtype, const uint8_t *w, size_t row_bytes,
        size_t r0, size_t r1, const float *x, size_t tokens, size_t k, float *y, size_t n, int use_panel) {
    size_t nb = k / 32, block_bytes = row_bytes / nb;
    float *panel = tokens >= CK_TILE_TOKENS && use_panel ? ck_scratch(CK_PANEL_ROWS * k * sizeof(float)) : NULL;
    if (!panel) {
        ck_rows_blocks(dtype, w, row_bytes, block_bytes, nb, r0, r1, x, tokens, k, y, n);
        return;
    }
    for (size_t t0 = 0; t0 < tokens; t0 += CK_TOKEN_BLOCK) {
        size_t t1 = tokens - t0 < CK_TOKEN_BLOCK ? tokens : t0 + CK_TOKEN_BLOCK;
        for (size_t p0 = r0; p0 < r1; p0 += CK_PANEL_ROWS) {
            size_t rows = r1 - p0 < CK_PANEL_ROWS ? r1 - p0 : CK_PANEL_ROWS;
            ck_dequantise_rows(dtype, w + p0 * row_bytes, row_bytes, block_bytes, nb, rows, panel);
            ck_panel_times_tokens(panel, rows, x, t0, t1, k, y, n, p0);
        }
    }
}

CK_AVX2 static void matmul_avx2(int dtype, const uint8_t *w, size_t row_bytes, size_t r0, size_t r1, const float *x,
                                const float *xs, size_t tokens, size_t k, float *y, size_t n, int use_panel) {
    (void)xs;  // the block minima are folded into the dequantised weights
    switch (dtype) {  // one specialised copy per format
    case CK_Q4_0: ck_rows_avx2(CK_Q4_0, w, row_bytes, r0, r1, x, tokens, k, y, n, use_panel); break;
    case CK_Q4_1: ck_rows_avx2(CK_Q4_1, w, row_bytes, r0, r1, x, tokens, k, y, n, use_panel); break;
    default: ck_rows_avx2(CK_Q8_0, w, row_bytes, r0, r1, x, tokens, k, y, n, use_panel); break;
    }
}

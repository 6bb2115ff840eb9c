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
#include "BlockFormat.h"
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

/// w[i] = d·q + m per element with one FMA, from the block's d (lane 0 of dm; Q4_1's m in lane 1) and its
/// integers q[0..3] (elements 0–7, 8–15, 16–23, 24–31): the conversion every dequantisation below shares.
CK_AVX2 static inline __attribute__((always_inline)) void ck_dequantise_ints(const int dtype, __m128 dm, const __m256i q[4], __m256 w[4]) {
    __m256 vd = _mm256_broadcastss_ps(dm);
    __m256 vm = dtype == CK_Q8_0 ? _mm256_setzero_ps()
              : dtype == CK_Q4_1 ? _mm256_broadcastss_ps(_mm_movehdup_ps(dm)) : _mm256_mul_ps(_mm256_set1_ps(-8.0f), vd);
    for (int i = 0; i < 4; i++) w[i] = _mm256_fmadd_ps(vd, _mm256_cvtepi32_ps(q[i]), vm);
}

/// Q4's 16 quant bytes (bytes 0–7 widened hold elements 0–7 in their low nibbles, 16–23 in their high ones)
/// as the integers of elements 0–7, 8–15, 16–23, 24–31.
CK_AVX2 static inline __attribute__((always_inline)) void ck_q4_ints(__m128i qs, __m256i q[4]) {
    const __m256i m4 = _mm256_set1_epi32(0x0F);
    __m256i b0 = _mm256_cvtepu8_epi32(qs), b1 = _mm256_cvtepu8_epi32(_mm_srli_si128(qs, 8));
    q[0] = _mm256_and_si256(b0, m4);
    q[1] = _mm256_and_si256(b1, m4);
    q[2] = _mm256_srli_epi32(b0, 4);
    q[3] = _mm256_srli_epi32(b1, 4);
}

/// The block at `blk` as fp32 (w[0..3] hold elements 0–7, 8–15, 16–23, 24–31), each value d·q + m with
/// one FMA — the same instructions wherever a block is dequantised, so panel and registers agree.
CK_AVX2 static inline __attribute__((always_inline)) void ck_dequantise_block(const int dtype, const uint8_t *blk, __m256 w[4]) {
    __m256i q[4];
    if (dtype == CK_Q8_0) {
        for (int i = 0; i < 4; i++) q[i] = _mm256_cvtepi8_epi32(_mm_loadl_epi64((const __m128i *)(blk + 2 + 8 * i)));
    } else {
        ck_q4_ints(_mm_loadu_si128((const __m128i *)(blk + (dtype == CK_Q4_1 ? 4 : 2))), q);
    }
    ck_dequantise_ints(dtype, ck_f16c_pair(blk), q, w);
}

/// Row r (< 8)'s d (lane 0) and, for Q4_1, m (lane 1) from the tile block at `o`, as ck_f16c_pair reads them
/// from the GGUF block.
CK_AVX2 static inline __attribute__((always_inline)) __m128 ck_tile_dm(const int dtype, const uint8_t *o, size_t r) {
    uint16_t d, m = 0;
    memcpy(&d, o + ck_tile_d_offset(dtype) + 2 * r, 2);
    if (dtype == CK_Q4_1) memcpy(&m, o + CK_TILE_M_OFFSET + 2 * r, 2);
    return _mm_cvtph_ps(_mm_cvtsi32_si128((int)((uint32_t)d | ((uint32_t)m << 16))));
}

/// A Q8_0 row's 32 tile bytes (stored + 128; elements 0–15 in lo, 16–31 in hi) as the integers of elements
/// 0–7, 8–15, 16–23, 24–31.
CK_AVX2 static inline __attribute__((always_inline)) void ck_q8_tile_ints(__m128i lo, __m128i hi, __m256i q[4]) {
    const __m128i flip = _mm_set1_epi8((char)0x80);
    lo = _mm_xor_si128(lo, flip);
    hi = _mm_xor_si128(hi, flip);
    q[0] = _mm256_cvtepi8_epi32(lo);
    q[1] = _mm256_cvtepi8_epi32(_mm_srli_si128(lo, 8));
    q[2] = _mm256_cvtepi8_epi32(hi);
    q[3] = _mm256_cvtepi8_epi32(_mm_srli_si128(hi, 8));
}

/// Row r (< 8) of the tile block at `o` (BlockFormat.h), as ck_dequantise_block gives it from the GGUF row:
/// the same scales and integers, the row's 32-bit words gathered from the block's vectors (Q8_0 bytes back
/// from + 128), then the same conversion.
CK_AVX2 static inline __attribute__((always_inline)) void ck_dequantise_tile_block(const int dtype, const uint8_t *o, size_t r, __m256 w[4]) {
    int32_t v[8];
    const int words = dtype == CK_Q8_0 ? 8 : 4;
    for (int i = 0; i < words; i++) memcpy(&v[i], o + 32 * i + 4 * r, 4);
    __m256i q[4];
    if (dtype == CK_Q8_0) ck_q8_tile_ints(_mm_setr_epi32(v[0], v[1], v[2], v[3]), _mm_setr_epi32(v[4], v[5], v[6], v[7]), q);
    else ck_q4_ints(_mm_setr_epi32(v[0], v[1], v[2], v[3]), q);
    ck_dequantise_ints(dtype, ck_tile_dm(dtype, o, r), q, w);
}

/// Block b of the 8 rows of a whole tile at once, into out_j = out + j·ostride (fp32, 32 per row): the
/// words of the block's vectors transposed (4 × 8 for Q4, 8 × 8 for Q8_0: vector i holds word i of every
/// row) instead of gathered row by row, then ck_dequantise_tile_block's integers and conversion per row.
CK_AVX2 static inline __attribute__((always_inline)) void ck_dequantise_whole_tile(const int dtype, const uint8_t *o, float *out,
                                                                                     size_t ostride) {
    __m256i v[8], u[8];
    const int words = dtype == CK_Q8_0 ? 8 : 4;
    for (int i = 0; i < words; i++) v[i] = _mm256_loadu_si256((const __m256i *)(o + 32 * i));
    for (int h = 0; h < words / 4; h++) {   // words 4h..4h+3 of every row: u[4h + j] = rows j | j + 4
        const __m256i *w = v + 4 * h;
        __m256i a = _mm256_unpacklo_epi32(w[0], w[1]), c = _mm256_unpackhi_epi32(w[0], w[1]);
        __m256i e = _mm256_unpacklo_epi32(w[2], w[3]), g = _mm256_unpackhi_epi32(w[2], w[3]);
        u[4 * h + 0] = _mm256_unpacklo_epi64(a, e);
        u[4 * h + 1] = _mm256_unpackhi_epi64(a, e);
        u[4 * h + 2] = _mm256_unpacklo_epi64(c, g);
        u[4 * h + 3] = _mm256_unpackhi_epi64(c, g);
    }
    for (int j = 0; j < CK_WEIGHT_TILE_ROWS; j++) {
        __m256i q[4];
        const int lane = j / 4, src = j % 4;   // row j's words: lane (j / 4) of u[j % 4] (and of u[4 + j % 4])
        __m128i lo = lane ? _mm256_extracti128_si256(u[src], 1) : _mm256_castsi256_si128(u[src]);
        if (dtype == CK_Q8_0)
            ck_q8_tile_ints(lo, lane ? _mm256_extracti128_si256(u[4 + src], 1) : _mm256_castsi256_si128(u[4 + src]), q);
        else
            ck_q4_ints(lo, q);
        __m256 wv[4];
        ck_dequantise_ints(dtype, ck_tile_dm(dtype, o, j), q, wv);
        float *dst = out + j * ostride;
        for (int i = 0; i < 4; i++) _mm256_store_ps(dst + 8 * i, wv[i]);
    }
}

/// Row `row`'s block b, from GGUF rows (`row_bytes` each) or, when `tiled`, from 8-row tiles (nb blocks each);
/// with `prefetch` > 0 the bytes that far ahead of it are prefetched (rows: its row's; tiles: its tile's).
CK_AVX2 static inline __attribute__((always_inline)) void ck_dequantise_at(const int dtype, const int tiled, const uint8_t *w,
        size_t row_bytes, size_t nb, size_t row, size_t b, size_t prefetch, __m256 out[4]) {
    if (tiled) {
        const size_t tb = ck_tile_block_bytes(dtype);
        const uint8_t *o = w + (row / CK_WEIGHT_TILE_ROWS * nb + b) * tb;
        if (prefetch) _mm_prefetch((const char *)o + prefetch, _MM_HINT_T0);
        ck_dequantise_tile_block(dtype, o, row % CK_WEIGHT_TILE_ROWS, out);
    } else {
        const uint8_t *blk = w + row * row_bytes + b * ck_q8_block_bytes(dtype);
        if (prefetch) _mm_prefetch((const char *)blk + prefetch, _MM_HINT_T0);
        ck_dequantise_block(dtype, blk, out);
    }
}

/// out[r] = row_(row0 + r) · x for R rows and one token, weights dequantised in registers.
CK_AVX2 static inline __attribute__((always_inline)) void ck_tile_blocks(const int dtype, const int tiled, const int R, const uint8_t *w,
        size_t row_bytes, size_t row0, size_t nb, const float *x, float *out) {
    __m256 acc[CK_DECODE_ROWS];
    for (int r = 0; r < R; r++) acc[r] = _mm256_setzero_ps();
    for (size_t b = 0; b < nb; b++) {
        const float *xb = x + 32 * b;
        __m256 x0 = _mm256_loadu_ps(xb), x1 = _mm256_loadu_ps(xb + 8), x2 = _mm256_loadu_ps(xb + 16), x3 = _mm256_loadu_ps(xb + 24);
        for (int r = 0; r < R; r++) {
            __m256 wv[4];
            ck_dequantise_at(dtype, tiled, w, row_bytes, nb, row0 + r, b, CK_DECODE_PREFETCH_BYTES, wv);
            acc[r] = _mm256_fmadd_ps(wv[0], x0, acc[r]);
            acc[r] = _mm256_fmadd_ps(wv[1], x1, acc[r]);
            acc[r] = _mm256_fmadd_ps(wv[2], x2, acc[r]);
            acc[r] = _mm256_fmadd_ps(wv[3], x3, acc[r]);
        }
    }
    for (int r = 0; r < R; r++) out[r] = ck_hsum8_ps(acc[r]);
}

/// Rows [r0, r1) times T tokens (x stride k, y stride n) with ck_tile_blocks, CK_DECODE_ROWS rows at a time.
CK_AVX2 static inline __attribute__((always_inline)) void ck_rows_blocks(const int dtype, const int tiled, const uint8_t *w,
        size_t row_bytes, size_t nb, size_t r0, size_t r1, const float *x, size_t tokens, size_t k, float *y, size_t n) {
    size_t r = r0;
    for (; r + CK_DECODE_ROWS <= r1; r += CK_DECODE_ROWS)
        for (size_t t = 0; t < tokens; t++)
            ck_tile_blocks(dtype, tiled, CK_DECODE_ROWS, w, row_bytes, r, nb, x + t * k, y + t * n + r);
    for (; r < r1; r++)  // the rows left over, one at a time
        for (size_t t = 0; t < tokens; t++)
            ck_tile_blocks(dtype, tiled, 1, w, row_bytes, r, nb, x + t * k, y + t * n + r);
}

/// Rows [row0, row0 + rows) dequantised to fp32 into out[r·nb·32 …] (ck_dequantise_at per block). The weights
/// come from memory once per block of tokens, so they are prefetched as in decode (a batch of 16
/// sequences spent ~1/3 of its matmul time here waiting for them; the prefetch measured 6–8% off a
/// cold 16-token sweep of SmolLM2's matrices).
CK_AVX2 static inline __attribute__((always_inline)) void ck_dequantise_rows(const int dtype, const int tiled, const uint8_t *w,
        size_t row_bytes, size_t nb, size_t row0, size_t rows, float *out) {
    if (tiled && row0 % CK_WEIGHT_TILE_ROWS == 0 && rows % CK_WEIGHT_TILE_ROWS == 0) {   // whole tiles: transposed
        const size_t tb = ck_tile_block_bytes(dtype);
        for (size_t t = 0; t < rows / CK_WEIGHT_TILE_ROWS; t++) {
            const uint8_t *tile = w + ((row0 / CK_WEIGHT_TILE_ROWS + t) * nb) * tb;
            for (size_t b = 0; b < nb; b++) {
                for (size_t p = 0; p < tb; p += 64) _mm_prefetch((const char *)tile + b * tb + p + CK_PREFETCH_BYTES, _MM_HINT_T0);
                ck_dequantise_whole_tile(dtype, tile + b * tb, out + (t * CK_WEIGHT_TILE_ROWS * nb + b) * 32, nb * 32);
            }
        }
        return;
    }
    for (size_t r = 0; r < rows; r++)
        for (size_t b = 0; b < nb; b++) {
            __m256 v[4];
            ck_dequantise_at(dtype, tiled, w, row_bytes, nb, row0 + r, b, CK_PREFETCH_BYTES, v);
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

/// Rows [r0, r1) × `tokens` tokens, from GGUF rows or (`tiled`) 8-row tiles. `use_panel` 0 forces the
/// register-only path (tests check it gives the same bits as the panel path; it is what runs when the
/// panel buffer cannot be allocated).
CK_AVX2 static inline __attribute__((always_inline)) void ck_rows_avx2(const int dtype, const int tiled, const uint8_t *w, size_t row_bytes,
        size_t r0, size_t r1, const float *x, size_t tokens, size_t k, float *y, size_t n, int use_panel) {
    size_t nb = k / 32;
    // Tiles fill panels of 24 rows (3 tiles, 8 register tiles of 3 rows) so whole tiles are dequantised at once.
    const size_t panel_rows = tiled ? 2 * CK_PANEL_ROWS : CK_PANEL_ROWS;
    float *panel = tokens >= CK_TILE_TOKENS && use_panel ? ck_scratch(panel_rows * k * sizeof(float)) : NULL;
    if (!panel) {
        ck_rows_blocks(dtype, tiled, w, row_bytes, nb, r0, r1, x, tokens, k, y, n);
        return;
    }
    for (size_t t0 = 0; t0 < tokens; t0 += CK_TOKEN_BLOCK) {
        size_t t1 = tokens - t0 < CK_TOKEN_BLOCK ? tokens : t0 + CK_TOKEN_BLOCK;
        for (size_t p0 = r0; p0 < r1;) {
            // A panel ends on a tile boundary where it can (a range that starts inside a tile: its first
            // panel takes the rows up to the next boundary, so the later ones are whole tiles).
            size_t end = tiled ? (p0 / CK_WEIGHT_TILE_ROWS * CK_WEIGHT_TILE_ROWS + panel_rows) : p0 + panel_rows;
            size_t rows = (r1 < end ? r1 : end) - p0;
            ck_dequantise_rows(dtype, tiled, w, row_bytes, nb, p0, rows, panel);
            ck_panel_times_tokens(panel, rows, x, t0, t1, k, y, n, p0);
            p0 += rows;
        }
    }
}

/// `tiled`: w holds 8-row tiles (ck_tile_weights), dequantised to the same values the rows give.
CK_AVX2 static void matmul_avx2(int dtype, int tiled, const uint8_t *w, size_t row_bytes, size_t r0, size_t r1, const float *x,
                                const float *xs, size_t tokens, size_t k, float *y, size_t n, int use_panel) {
    (void)xs;  // the block minima are folded into the dequantised weights
#define CK_MATMUL_CASE(DT)                                                                                   \
    case DT:                                                                                                 \
        if (tiled) ck_rows_avx2(DT, 1, w, row_bytes, r0, r1, x, tokens, k, y, n, use_panel);                \
        else ck_rows_avx2(DT, 0, w, row_bytes, r0, r1, x, tokens, k, y, n, use_panel);                      \
        break;
    switch (dtype) {  // one specialised copy per format and layout
    CK_MATMUL_CASE(CK_Q4_0)
    CK_MATMUL_CASE(CK_Q4_1)
    default: CK_MATMUL_CASE(CK_Q8_0)
    }
#undef CK_MATMUL_CASE
}

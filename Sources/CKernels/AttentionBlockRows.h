// Blocked attention for consecutive query tokens (AttentionBlock.c): the kernel template, one instance per
// key/value element type (see AttentionKV.h; included after it and, on x86, after AttentionAVX2.h and
// AttentionKVAVX2.h; no include guard).

#if defined(__x86_64__)
/// out[j] = q·k_j·scale for the 8 keys k[0..<8], each reduced exactly as ck_attend_kv reduces it: the
/// lane sums of ck_lanes4_avx2 through ck_hsum8x8_ps, then the scalar tail past the last whole chunk.
CK_ATT_AVX2 CK_INLINE void KVN(score8_avx2)(const float *q, const KV *const *k, size_t dk, float scale, float *out) {
    __m256 u[8];
    KVN(ck_lanes4_avx2)(q, k, dk, u);
    KVN(ck_lanes4_avx2)(q, k + 4, dk, u + 4);
    __m256 v = ck_hsum8x8_ps(u);
    const size_t tail = dk - dk % 8;
    if (tail < dk) {
        _mm256_storeu_ps(out, v);
        for (int j = 0; j < 8; j++) {
            float x = out[j];
            for (size_t t = tail; t < dk; t++) x += q[t] * KV_GET(k[j] + t);
            out[j] = x;
        }
        v = _mm256_loadu_ps(out);
    }
    _mm256_storeu_ps(out, _mm256_mul_ps(v, _mm256_set1_ps(scale)));
}

/// ck_wsum_tile_avx2 with R and W as constants, so its accumulators stay in registers.
CK_ATT_AVX2 static void KVN(wsum_tile)(int R, int W, float *const *p, const KV *values, size_t vstride, const int64_t *slots,
                                  size_t s0, size_t s1, size_t c, float *const *out) {
    const float *const *pc = (const float *const *)p;
    CK_WITH_CONSTANT_RW(KVN(ck_wsum_tile_avx2), R, W, pc, values, vstride, slots, s0, s1, c, out, 0);
}


/// A weighted-sum tile: out_r[c..<c + width) += Σ_{s0 ≤ s < s1} p_r[s]·v_s for R rows (wsum_tile: W vectors
/// of 8; the AVX-512 kernel's wsum_tile512: W vectors of 16).
typedef void (*KVN(wsum_tile_fn))(int R, int W, float *const *p, const KV *values, size_t vstride, const int64_t *slots, size_t s0,
                                  size_t s1, size_t c, float *const *out);

/// out_r += Σ_s p_r[s]·v_s for every row over the `width` columns from c (W vectors of `tile`), the rows in
/// tiles of three. A tile goes over the positions all its rows see (block by block, with the other tiles),
/// then each row alone over its own last positions: per element, one ascending chain. A narrow cache's
/// block is widened once for all tiles and summed by `tile32`, the fp32 instance of `tile`.
CK_ATT_AVX2 static void KVN(weighted_sums_blocks)(size_t rows, float *const *p, const size_t *vis, size_t vmax, const KV *values,
                                                  size_t vstride, const int64_t *slots, size_t c, int W, size_t width,
                                                  KVN(wsum_tile_fn) tile, wsum_tile_fn_f32 tile32, float *const *out) {
#if CK_KV_TEMPLATE != 0
    float slab[CK_VALUE_BLOCK * 64];   // a block's columns (up to 64) widened once for all tiles of rows
#else
    (void)width;
    (void)tile32;
#endif
    for (size_t b = 0; b < vmax; b += CK_VALUE_BLOCK) {
        const size_t be = b + CK_VALUE_BLOCK < vmax ? b + CK_VALUE_BLOCK : vmax;
#if CK_KV_TEMPLATE != 0
        for (size_t s = b; s < be; s++) KVN(ck_widen_avx2)(values + CK_POS(s) * vstride + c, width, slab + (s - b) * width);
#endif
        for (size_t r = 0; r < rows; r += 3) {
            const int R = rows - r < 3 ? (int)(rows - r) : 3;
            size_t lo = vis[r];
            for (int i = 1; i < R; i++) lo = vis[r + i] < lo ? vis[r + i] : lo;
            const size_t e = be < lo ? be : lo;
            if (b >= e) continue;
#if CK_KV_TEMPLATE != 0
            // The fp32 tile over the widened slab: the same FMA chains on the same values.
            float *pr[3], *orow[3];
            for (int i = 0; i < R; i++) { pr[i] = p[r + i] + b; orow[i] = out[r + i] + c; }
            tile32(R, W, pr, slab, width, NULL, 0, e - b, 0, orow);
#else
            tile(R, W, p + r, values, vstride, slots, b, e, c, out + r);
#endif
        }
    }
    for (size_t r = 0; r < rows; r += 3) {
        const int R = rows - r < 3 ? (int)(rows - r) : 3;
        size_t lo = vis[r];
        for (int i = 1; i < R; i++) lo = vis[r + i] < lo ? vis[r + i] : lo;
        for (int i = 0; i < R; i++)
            if (vis[r + i] > lo) tile(1, W, p + r + i, values, vstride, slots, lo, vis[r + i], c, out + r + i);
    }
}

/// The blocked weighted sums in slabs of 8·W columns.
CK_ATT_AVX2 static void KVN(weighted_sums_avx2)(size_t rows, float *const *p, const size_t *vis, size_t vmax, const KV *values,
                                                size_t vstride, const int64_t *slots, size_t c, int W, float *const *out) {
    KVN(weighted_sums_blocks)(rows, p, vis, vmax, values, vstride, slots, c, W, 8 * (size_t)W, KVN(wsum_tile), wsum_tile_f32, out);
}

/// Key block s0 of the blocked kernels (AVX2 and AVX-512): its 8 keys into k (past vmax the block repeats the
/// last key: computed, never read). Narrow keys of dk ≤ CK_BLOCK_WIDEN_DK are widened into kbuf once for all
/// rows (converting per row cost MLA's 16 heads 16 conversions per element); then kw points at them and it
/// returns 1, so the caller scores with the fp32 kernel, with the same bits.
CK_ATT_AVX2 CK_INLINE int KVN(key_block)(const KV *keys, size_t kstride, const int64_t *slots, size_t s0, size_t vmax, size_t dk,
                                         float *kbuf, const KV **k, const float **kw) {
    for (int j = 0; j < 8; j++) k[j] = keys + CK_POS(s0 + j < vmax ? s0 + j : vmax - 1) * kstride;
#if CK_KV_TEMPLATE != 0
    if (dk <= CK_BLOCK_WIDEN_DK) {
        for (int j = 0; j < 8; j++) { KVN(ck_widen_avx2)(k[j], dk, kbuf + j * dk); kw[j] = kbuf + j * dk; }
        return 1;
    }
#else
    (void)dk, (void)kbuf, (void)kw;
#endif
    return 0;
}

CK_ATT_AVX2 static void KVN(attend_block_avx2)(size_t rows, const float *const *q, float *const *out, const size_t *vis, size_t vmax,
                                          const KV *keys, size_t kstride, size_t dk, const KV *values, size_t vstride,
                                          size_t dv, const int64_t *slots, float scale, float *const *sc) {
    float kbuf[CK_KV_TEMPLATE != 0 ? 8 * CK_BLOCK_WIDEN_DK : 1];   // widened narrow keys (KVN(key_block))
    for (size_t s0 = 0; s0 < vmax; s0 += 8) {
        const KV *k[8];
        const float *kw[8];
        if (KVN(key_block)(keys, kstride, slots, s0, vmax, dk, kbuf, k, kw)) {
            for (size_t r = 0; r < rows; r++)
                if (vis[r] > s0) score8_avx2_f32(q[r], kw, dk, scale, sc[r] + s0);
            continue;
        }
        for (size_t r = 0; r < rows; r++)
            if (vis[r] > s0) KVN(score8_avx2)(q[r], k, dk, scale, sc[r] + s0);
    }
    ck_softmax_rows_avx2(rows, sc, vis);
    size_t c = 0;
    for (; c + 32 <= dv; c += 32) KVN(weighted_sums_avx2)(rows, sc, vis, vmax, values, vstride, slots, c, 4, out);
    for (; c + 8 <= dv; c += 8) KVN(weighted_sums_avx2)(rows, sc, vis, vmax, values, vstride, slots, c, 1, out);
    for (size_t r = 0; r < rows; r++)
        for (size_t cc = c; cc < dv; cc++)
            for (size_t s = 0; s < vis[r]; s++) out[r][cc] += sc[r][s] * KV_GET(values + CK_POS(s) * vstride + cc);
}
#include "AttentionBlockRowsAVX512.h"
#endif

static void KVN(attend_block)(int isa, size_t tokens, size_t heads, const float *q, size_t qtstride, size_t qhstride,
                              const KV *keys, size_t kstride, size_t dk, const KV *values, size_t vstride, size_t dv,
                              const int64_t *slots, size_t visible, float scale, float *scores, float *out, size_t otstride,
                              size_t ohstride) {
    const size_t rows = tokens * heads, vmax = visible + tokens - 1, sstride = (vmax + 7) / 8 * 8;
    if (rows == 0 || visible == 0) return;
    // A decoding token's heads over keys that fit in L2 (or just a few heads): the group kernel's register
    // tiles win there (MLA, 8 heads × 288 floats: 0.8× at 8 keys, 0.96× at 256, 1.24× at 1,024).
    if (tokens == 1 && (heads <= 3 || visible * dk * sizeof(KV) < CK_BLOCK_L2_BYTES)) {
        ck_attend_group(isa, KV_CODE, q, qhstride, heads, keys, kstride, dk, values, vstride, dv, slots, visible, scale, scores, out,
                        ohstride);
        return;
    }
#if defined(__x86_64__)
    if (isa >= CK_ISA_AVX2 && rows <= CK_BLOCK_MAX_ROWS) {
        const float *qr[CK_BLOCK_MAX_ROWS];
        float *orow[CK_BLOCK_MAX_ROWS], *sc[CK_BLOCK_MAX_ROWS];
        size_t vis[CK_BLOCK_MAX_ROWS];
        for (size_t t = 0, r = 0; t < tokens; t++)
            for (size_t h = 0; h < heads; h++, r++) {
                qr[r] = q + t * qtstride + h * qhstride;
                orow[r] = out + t * otstride + h * ohstride;
                sc[r] = scores + r * sstride;
                vis[r] = visible + t;
            }
        if (isa >= CK_ISA_AVX512)
            KVN(attend_block_avx512)(rows, qr, orow, vis, vmax, keys, kstride, dk, values, vstride, dv, slots, scale, sc);
        else
            KVN(attend_block_avx2)(rows, qr, orow, vis, vmax, keys, kstride, dk, values, vstride, dv, slots, scale, sc);
        return;
    }
#endif
    for (size_t t = 0; t < tokens; t++)
        for (size_t h = 0; h < heads; h++)
            ck_attend_kv(isa, KV_CODE, q + t * qtstride + h * qhstride, keys, kstride, dk, values, vstride, dv, slots, visible + t,
                         scale, scores, out + t * otstride + h * ohstride);
}

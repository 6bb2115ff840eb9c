// The AVX-512 form of AttentionBlockRows.h's blocked kernel (prompt chunks, and a decoding token's many heads
// over a long context: MLA's latent attention), one instance per key/value element type (included by
// AttentionBlockRows.h on x86; no include guard). Every score and output element is computed as the AVX2
// kernel computes it (AttentionKVAVX512.h), so both give bit for bit what ck_attend_kv gives each row alone.
// The differences are in the instruction stream: each key chunk is loaded once for three rows and each query
// chunk once for four keys (the AVX2 kernel reloads the keys per row), and value slabs are 64 columns wide.

/// Scores of every row for one 8-key block, rows in sets of three. A set is scored whole when any of its
/// rows sees the block: a row's scores past its visible count land inside its scratch row and are never read.
CK_ATT_AVX512 CK_INLINE void KVN(score_block_avx512)(size_t rows, const float *const *q, const size_t *vis, const KV *const *k,
                                                     size_t dk, float scale, float *const *sc, size_t s0) {
    for (size_t r = 0; r < rows; r += 3) {
        const int R = rows - r < 3 ? (int)(rows - r) : 3;
        size_t hi = vis[r];
        for (int i = 1; i < R; i++) hi = vis[r + i] > hi ? vis[r + i] : hi;
        if (hi <= s0) continue;
        float *o[3];
        for (int i = 0; i < R; i++) o[i] = sc[r + i] + s0;
        if (R == 3) KVN(ck_score_rows8_avx512)(3, q + r, k, dk, scale, o);
        else if (R == 2) KVN(ck_score_rows8_avx512)(2, q + r, k, dk, scale, o);
        else KVN(ck_score_rows8_avx512)(1, q + r, k, dk, scale, o);
    }
}

/// ck_wsum_tile_avx512 over positions s0..<s1 with R and W constants (W of 4 or 1 vectors).
CK_ATT_AVX512 static void KVN(wsum_tile512)(int R, int W, float *const *p, const KV *values, size_t vstride, const int64_t *slots,
                                            size_t s0, size_t s1, size_t c, float *const *out) {
    const float *const *pc = (const float *const *)p;
    CK_WITH_CONSTANT_RW(KVN(ck_wsum_tile_avx512), R, W, pc, values, vstride, slots, s0, s1, c, out, 0);
}

/// The blocked weighted sums (weighted_sums_blocks) in slabs of 16·W columns (W of 4 or 1).
CK_ATT_AVX512 static void KVN(weighted_sums_avx512)(size_t rows, float *const *p, const size_t *vis, size_t vmax, const KV *values,
                                                    size_t vstride, const int64_t *slots, size_t c, int W, float *const *out) {
    KVN(weighted_sums_blocks)(rows, p, vis, vmax, values, vstride, slots, c, W, 16 * (size_t)W, KVN(wsum_tile512), wsum_tile512_f32,
                              out);
}

CK_ATT_AVX512 static void KVN(attend_block_avx512)(size_t rows, const float *const *q, float *const *out, const size_t *vis,
                                                   size_t vmax, const KV *keys, size_t kstride, size_t dk, const KV *values,
                                                   size_t vstride, size_t dv, const int64_t *slots, float scale, float *const *sc) {
    float kbuf[CK_KV_TEMPLATE != 0 ? 8 * CK_BLOCK_WIDEN_DK : 1];   // widened narrow keys (KVN(key_block))
    for (size_t s0 = 0; s0 < vmax; s0 += 8) {
        const KV *k[8];
        const float *kw[8];
        if (KVN(key_block)(keys, kstride, slots, s0, vmax, dk, kbuf, k, kw)) {
            score_block_avx512_f32(rows, q, vis, kw, dk, scale, sc, s0);
            continue;
        }
        KVN(score_block_avx512)(rows, q, vis, k, dk, scale, sc, s0);
    }
    ck_softmax_rows_avx2(rows, sc, vis);
    size_t c = 0;
    for (; c + 64 <= dv; c += 64) KVN(weighted_sums_avx512)(rows, sc, vis, vmax, values, vstride, slots, c, 4, out);
    for (; c + 16 <= dv; c += 16) KVN(weighted_sums_avx512)(rows, sc, vis, vmax, values, vstride, slots, c, 1, out);
    if (c + 8 <= dv) { KVN(weighted_sums_avx2)(rows, sc, vis, vmax, values, vstride, slots, c, 1, out); c += 8; }
    for (size_t r = 0; r < rows; r++)
        for (size_t cc = c; cc < dv; cc++)
            for (size_t s = 0; s < vis[r]; s++) out[r][cc] += sc[r][s] * KV_GET(values + CK_POS(s) * vstride + cc);
}

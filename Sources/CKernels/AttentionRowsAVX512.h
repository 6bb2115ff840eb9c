// AVX-512 forms of AttentionRows.h's decode kernels (a GQA group's rows at one token, and the split phases),
// one instance per key/value element type (included by AttentionRows.h on x86; no include guard). Every
// score and output element is computed with AttentionRows.h's AVX2 arithmetic, operation for operation, so
// the results are bit-identical to it and to the portable order it documents:
// - a score's lane sums keep the AVX2 split: one 512-bit accumulator per (row, key) whose low half is the
//   chain over the even 8-element chunks and whose high half the chain over the odd ones (dot_rows_keys2_avx2's
//   a0 and a1), added half to half, then reduced by ck_hsum8x8_ps / ck_hsum8_ps as before;
// - an output element is the same ascending FMA chain over the positions, 16 columns per vector.
// What changes is the instruction stream. The AVX2 kernels hold three rows' accumulators in 16 registers and
// spill; here up to 24 of 32 registers hold a row set's 128 columns, so a value row streams past once instead
// of once per 32 columns, and a query chunk loaded once serves four keys.
// - Harness, SmolLM2's group (3 heads × 64 dims, 1,536-byte paged entries), cache in L2/L3, ns per position
//   (AVX2 → AVX-512): scores 12.0 → 9.2 and softmax + values 17.4 → 9.1 at 128 positions; 12.8 → 9.8 and
//   24.7 → 9.0 at 1,024.
// - `scripts/bench ab`, SmolLM2 `auto` from a 1,024-token context (4 pairs): one sequence 96.7 → 110.2 tok/s
//   (4/4), 16 sequences 154.6 → 172.4 (3/4), measured when the cache still kept whole entries together (each
//   group read 256 of every entry's 1,536 bytes). From memory the access pattern bounded it more than the
//   arithmetic, which is why the cache now keeps each KV head's keys and values together (KVBlockStorage).

/// scores_rows_avx2 with the lane sums of ck_lanes_rows_avx512: the same scores, bit for bit.
CK_ATT_AVX512 CK_INLINE void KVN(scores_rows_avx512)(int R, const float *q, size_t qstride, const KV *keys, size_t kstride,
                                                     size_t dk, const int64_t *slots, size_t s0, size_t visible, float scale,
                                                     float *scores, size_t sstride, float *m, size_t ahead) {
    const size_t tail = dk - dk % 8;
    const float *qr[3];
    for (int r = 0; r < R; r++) qr[r] = q + r * qstride;
    __m256 vmax[3];
    for (int r = 0; r < R; r++) vmax[r] = _mm256_set1_ps(-INFINITY);
    size_t s = s0;
    for (; s + 8 <= visible; s += 8) {
        if (ahead)
            for (size_t t = s + ahead; t < s + ahead + 8 && t < visible; t++) ck_prefetch_bytes(keys + CK_POS(t) * kstride, dk * sizeof(KV));
        const KV *k[8];
        float *o[3];
        for (int j = 0; j < 8; j++) k[j] = keys + CK_POS(s + j) * kstride;
        for (int r = 0; r < R; r++) o[r] = scores + r * sstride + s;
        KVN(ck_score_rows8_avx512)(R, qr, k, dk, scale, o);
        for (int r = 0; r < R; r++) vmax[r] = _mm256_max_ps(_mm256_loadu_ps(o[r]), vmax[r]);
    }
    float mr[3];
    for (int r = 0; r < R; r++) {
        float tmp[8];
        _mm256_storeu_ps(tmp, vmax[r]);
        mr[r] = -INFINITY;
        for (int l = 0; l < 8; l++) mr[r] = tmp[l] > mr[r] ? tmp[l] : mr[r];
    }
    for (; s < visible; s++) {   // dot_avx2's reduction per row
        const KV *k[1] = {keys + CK_POS(s) * kstride};
        __m256 w[3 * 8];
        KVN(ck_lanes_rows_avx512)(R, 1, qr, k, dk, w);
        for (int r = 0; r < R; r++) {
            float x = ck_hsum8_ps(w[r * 8]);
            for (size_t t = tail; t < dk; t++) x += qr[r][t] * KV_GET(k[0] + t);
            x *= scale;
            scores[r * sstride + s] = x;
            mr[r] = x > mr[r] ? x : mr[r];
        }
    }
    for (int r = 0; r < R; r++) m[r] = mr[r];
}

/// weighted_sum_rows_avx2 over columns c0..<n: 128, 64 then 16 columns per pass, a last 8-column chunk and
/// the scalar tail as there.
CK_ATT_AVX512 CK_INLINE void KVN(weighted_sum_rows_avx512)(const float *p, size_t pstride, int R, const KV *values, size_t vstride,
                                                           const int64_t *slots, size_t visible, size_t c0, size_t n, float *out,
                                                           size_t ostride, size_t ahead) {
    const float *pr[3];
    float *orow[3];
    for (int r = 0; r < R; r++) { pr[r] = p + r * pstride; orow[r] = out + r * ostride; }
    size_t c = c0;
    for (; c + 128 <= n; c += 128) KVN(ck_wsum_tile_avx512)(R, 8, pr, values, vstride, slots, 0, visible, c, orow, ahead);
    if (c + 64 <= n) { KVN(ck_wsum_tile_avx512)(R, 4, pr, values, vstride, slots, 0, visible, c, orow, ahead); c += 64; }
    for (; c + 16 <= n; c += 16) KVN(ck_wsum_tile_avx512)(R, 1, pr, values, vstride, slots, 0, visible, c, orow, ahead);
    if (c + 8 <= n) { KVN(ck_wsum_tile_avx2)(R, 1, pr, values, vstride, slots, 0, visible, c, orow, ahead); c += 8; }
    for (int r = 0; r < R; r++)
        for (size_t cc = c; cc < n; cc++)
            for (size_t s = 0; s < visible; s++) orow[r][cc] += pr[r][s] * KV_GET(values + CK_POS(s) * vstride + cc);
}

CK_ATT_AVX512 CK_INLINE void KVN(attend_rows_avx512)(int R, const float *q, size_t qstride, const KV *keys, size_t kstride, size_t dk,
                                                     const KV *values, size_t vstride, size_t dv, const int64_t *slots,
                                                     size_t visible, float scale, float *scores, float *out, size_t ostride,
                                                     int prefetch) {
    float m[3];
    KVN(scores_rows_avx512)(R, q, qstride, keys, kstride, dk, slots, 0, visible, scale, scores, visible, m,
                            prefetch ? CK_ATT_PREFETCH_KEYS_AVX512 : 0);
    for (int r = 0; r < R; r++) ck_softmax_avx2(scores + r * visible, visible, m[r]);
    KVN(weighted_sum_rows_avx512)(scores, visible, R, values, vstride, slots, visible, 0, dv, out, ostride,
                                  prefetch ? CK_ATT_PREFETCH_VALUES_AVX512 : 0);
}

CK_ATT_AVX512 static void KVN(attend_group_avx512)(const float *q, size_t qstride, size_t rows, const KV *keys, size_t kstride,
                                                   size_t dk, const KV *values, size_t vstride, size_t dv, const int64_t *slots,
                                                   size_t visible, float scale, float *scores, float *out, size_t ostride) {
    size_t r = 0;
    for (; r + 3 <= rows; r += 3)
        KVN(attend_rows_avx512)(3, q + r * qstride, qstride, keys, kstride, dk, values, vstride, dv, slots, visible, scale, scores,
                                out + r * ostride, ostride, r == 0);
    if (rows - r == 2)
        KVN(attend_rows_avx512)(2, q + r * qstride, qstride, keys, kstride, dk, values, vstride, dv, slots, visible, scale, scores,
                                out + r * ostride, ostride, r == 0);
    else if (rows - r == 1)
        KVN(attend_rows_avx512)(1, q + r * qstride, qstride, keys, kstride, dk, values, vstride, dv, slots, visible, scale, scores,
                                out + r * ostride, ostride, r == 0);
}

CK_ATT_AVX512 static void KVN(attend_scores_avx512)(const float *q, size_t qstride, size_t rows, const KV *keys, size_t kstride,
                                                    size_t dk, const int64_t *slots, size_t s0, size_t s1, float scale, float *scores,
                                                    size_t sstride) {
    float m[3];
    size_t r = 0;
    for (; r + 3 <= rows; r += 3)
        KVN(scores_rows_avx512)(3, q + r * qstride, qstride, keys, kstride, dk, slots, s0, s1, scale, scores + r * sstride, sstride,
                                m, r == 0 ? CK_ATT_PREFETCH_KEYS_AVX512 : 0);
    if (rows - r == 2)
        KVN(scores_rows_avx512)(2, q + r * qstride, qstride, keys, kstride, dk, slots, s0, s1, scale, scores + r * sstride, sstride,
                                m, r == 0 ? CK_ATT_PREFETCH_KEYS_AVX512 : 0);
    else if (rows - r == 1)
        KVN(scores_rows_avx512)(1, q + r * qstride, qstride, keys, kstride, dk, slots, s0, s1, scale, scores + r * sstride, sstride,
                                m, r == 0 ? CK_ATT_PREFETCH_KEYS_AVX512 : 0);
}

CK_ATT_AVX512 static void KVN(attend_values_avx512)(size_t rows, const float *scores, size_t sstride, size_t visible,
                                                    const KV *values, size_t vstride, const int64_t *slots, size_t c0, size_t c1,
                                                    float *scratch, float *out, size_t ostride) {
    for (size_t first = 0; first < rows; first += 3) {
        const size_t R = rows - first < 3 ? rows - first : 3;
        for (size_t r = 0; r < R; r++) {
            float *p = scratch + r * visible;
            ck_softmax_avx2(p, visible, copy_with_max(scores + (first + r) * sstride, visible, p));
        }
        const size_t ahead = first == 0 ? CK_ATT_PREFETCH_VALUES_AVX512 : 0;
        if (R == 3)
            KVN(weighted_sum_rows_avx512)(scratch, visible, 3, values, vstride, slots, visible, c0, c1, out + first * ostride, ostride, ahead);
        else if (R == 2)
            KVN(weighted_sum_rows_avx512)(scratch, visible, 2, values, vstride, slots, visible, c0, c1, out + first * ostride, ostride, ahead);
        else
            KVN(weighted_sum_rows_avx512)(scratch, visible, 1, values, vstride, slots, visible, c0, c1, out + first * ostride, ostride, ahead);
    }
}


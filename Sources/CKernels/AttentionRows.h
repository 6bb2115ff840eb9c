// One query row (or a GQA group's rows) attending over its visible keys and values: the kernel template of
// Attention.c, one instance per key/value element type (see AttentionKV.h; included after it and, on x86,
// after AttentionAVX2.h and AttentionKVAVX2.h; no include guard). Keys and values are KV elements, queries,
// scores and outputs floats.

static inline float KVN(dot_portable)(const float *a, const KV *b, size_t n) {
    float s = 0;
    for (size_t i = 0; i < n; i++) s += a[i] * KV_GET(b + i);
    return s;
}

/// out[c0..<c1) += Σ_s p[s]·v_s[c0..<c1), in ascending s per element.
static void KVN(weighted_sum_portable)(const float *p, const KV *values, size_t vstride, const int64_t *slots,
                                  size_t visible, size_t c0, size_t c1, float *out) {
    for (size_t s = 0; s < visible; s++) {
        const KV *v = values + CK_POS(s) * vstride;
        for (size_t i = c0; i < c1; i++) out[i] += p[s] * KV_GET(v + i);
    }
}

static void KVN(attend_kv_portable)(const float *q, const KV *keys, size_t kstride, size_t dk, const KV *values,
                               size_t vstride, size_t dv, const int64_t *slots, size_t visible, float scale,
                               float *scores, float *out) {
    float m = -INFINITY;
    for (size_t s = 0; s < visible; s++) {
        float v = KVN(dot_portable)(q, keys + CK_POS(s) * kstride, dk) * scale;
        scores[s] = v;
        m = v > m ? v : m;
    }
    softmax_portable(scores, visible, m);
    KVN(weighted_sum_portable)(scores, values, vstride, slots, visible, 0, dv, out);
}

#if defined(__x86_64__)

CK_ATT_AVX2 static inline float KVN(dot_avx2)(const float *a, const KV *b, size_t n) {
    __m256 a0 = _mm256_setzero_ps(), a1 = _mm256_setzero_ps();
    size_t i = 0;
    for (; i + 16 <= n; i += 16) {
        a0 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i), KV_LOAD8(b + i), a0);
        a1 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i + 8), KV_LOAD8(b + i + 8), a1);
    }
    for (; i + 8 <= n; i += 8) a0 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i), KV_LOAD8(b + i), a0);
    float s = ck_hsum8_ps(_mm256_add_ps(a0, a1));
    for (; i < n; i++) s += a[i] * KV_GET(b + i);
    return s;
}

/// Scores of four keys at once (eight independent FMA chains instead of two); each score is reduced
/// exactly as dot_avx2 reduces it, so a position's score never depends on its neighbours.
CK_ATT_AVX2 static inline void KVN(dot4_avx2)(const float *q, const KV *k0, const KV *k1, const KV *k2,
                                              const KV *k3, size_t n, float *out) {
    const KV *k[4] = {k0, k1, k2, k3};
    __m256 u[4];
    KVN(ck_lanes4_avx2)(q, k, n, u);
    for (int j = 0; j < 4; j++) {
        float s = ck_hsum8_ps(u[j]);
        for (size_t t = n - n % 8; t < n; t++) s += q[t] * KV_GET(k[j] + t);
        out[j] = s;
    }
}

/// out[0..<n] += Σ_s p[s]·v_s, in ascending s per element (as the portable loop adds them), with up to
/// 64 outputs held in eight registers instead of a load and store per position.
CK_ATT_AVX2 static inline void KVN(weighted_sum_avx2)(const float *p, const KV *values, size_t vstride, const int64_t *slots,
                                                 size_t visible, size_t n, float *out, int prefetch) {
    size_t c = 0;
    for (; c + 64 <= n; c += 64) {
        __m256 acc[8];
        for (int j = 0; j < 8; j++) acc[j] = _mm256_loadu_ps(out + c + 8 * j);
        for (size_t s = 0; s < visible; s++) {
            const KV *v = values + CK_POS(s) * vstride + c;
            if (prefetch && s + CK_ATT_PREFETCH_VALUES < visible)
                ck_prefetch_bytes(values + CK_POS(s + CK_ATT_PREFETCH_VALUES) * vstride + c, 64 * sizeof(KV));
            __m256 vp = _mm256_set1_ps(p[s]);
            for (int j = 0; j < 8; j++) acc[j] = _mm256_fmadd_ps(vp, KV_LOAD8(v + 8 * j), acc[j]);
        }
        for (int j = 0; j < 8; j++) _mm256_storeu_ps(out + c + 8 * j, acc[j]);
    }
    for (; c + 8 <= n; c += 8) {
        __m256 acc = _mm256_loadu_ps(out + c);
        for (size_t s = 0; s < visible; s++)
            acc = _mm256_fmadd_ps(_mm256_set1_ps(p[s]), KV_LOAD8(values + CK_POS(s) * vstride + c), acc);
        _mm256_storeu_ps(out + c, acc);
    }
    for (; c < n; c++)
        for (size_t s = 0; s < visible; s++) out[c] += p[s] * KV_GET(values + CK_POS(s) * vstride + c);
}



CK_ATT_AVX2 CK_INLINE void KVN(prefetch_keys_avx2)(const KV *keys, size_t kstride, size_t dk, const int64_t *slots, size_t s,
                                              size_t n, size_t visible) {
    for (size_t t = s + CK_ATT_PREFETCH_KEYS, end = t + n; t < end && t < visible; t++) {
        ck_prefetch_bytes(keys + CK_POS(t) * kstride, dk * sizeof(KV));
    }
}

CK_ATT_AVX2 static void KVN(attend_kv_avx2)(const float *q, const KV *keys, size_t kstride, size_t dk, const KV *values,
                                       size_t vstride, size_t dv, const int64_t *slots, size_t visible, float scale,
                                       float *scores, float *out, int prefetch) {
    float m = -INFINITY;
    size_t s = 0;
    for (; s + 4 <= visible; s += 4) {
        if (prefetch) KVN(prefetch_keys_avx2)(keys, kstride, dk, slots, s, 4, visible);
        KVN(dot4_avx2)(q, keys + CK_POS(s) * kstride, keys + CK_POS(s + 1) * kstride, keys + CK_POS(s + 2) * kstride,
                  keys + CK_POS(s + 3) * kstride, dk, scores + s);
        for (int j = 0; j < 4; j++) { scores[s + j] *= scale; m = scores[s + j] > m ? scores[s + j] : m; }
    }
    for (; s < visible; s++) {
        scores[s] = KVN(dot_avx2)(q, keys + CK_POS(s) * kstride, dk) * scale;
        m = scores[s] > m ? scores[s] : m;
    }
    ck_softmax_avx2(scores, visible, m);
    KVN(weighted_sum_avx2)(scores, values, vstride, slots, visible, dv, out, prefetch);
}

// ---- Several query rows over the same keys (a GQA group: the heads sharing one KV head at one token).
// Each key and value load feeds up to three rows; every row is reduced exactly as attend_kv_avx2 reduces
// it alone (the same per-key lane split and ck_hsum8_ps order, the same softmax, the same ascending FMA
// chain per output), so results are bit-identical to the row kernel whatever the grouping.

/// a[r][j] += q_r[i..<i+8] · k_j[i..<i+8] lane-wise, for rows r < R and keys k0, k1 (j = 0, 1).
CK_ATT_AVX2 CK_INLINE void KVN(fma_rows_keys2_avx2)(const float *q, size_t qstride, int R, const KV *k0, const KV *k1,
                                               size_t i, __m256 a[3][2]) {
    __m256 ka = KV_LOAD8(k0 + i), kb = KV_LOAD8(k1 + i);
    for (int r = 0; r < R; r++) {
        __m256 qr = _mm256_loadu_ps(q + r * qstride + i);
        a[r][0] = _mm256_fmadd_ps(qr, ka, a[r][0]);
        a[r][1] = _mm256_fmadd_ps(qr, kb, a[r][1]);
    }
}

/// u[r·8 + j] = a0 + a1 of dot4_avx2 for rows r < R and keys k0, k1 (j = 0, 1): the eight lane sums
/// that ck_hsum8_ps then reduces; the scalar tail past the last 8-float chunk is left to the caller.
CK_ATT_AVX2 CK_INLINE void KVN(dot_rows_keys2_avx2)(const float *q, size_t qstride, int R, const KV *k0, const KV *k1,
                                               size_t n, __m256 *u) {
    __m256 a0[3][2], a1[3][2];
    for (int r = 0; r < R; r++)
        for (int j = 0; j < 2; j++) { a0[r][j] = _mm256_setzero_ps(); a1[r][j] = _mm256_setzero_ps(); }
    size_t i = 0;
    for (; i + 16 <= n; i += 16) {   // even chunks into a0, odd ones into a1, as dot4_avx2 splits them
        KVN(fma_rows_keys2_avx2)(q, qstride, R, k0, k1, i, a0);
        KVN(fma_rows_keys2_avx2)(q, qstride, R, k0, k1, i + 8, a1);
    }
    if (i + 8 <= n) KVN(fma_rows_keys2_avx2)(q, qstride, R, k0, k1, i, a0);
    for (int r = 0; r < R; r++)
        for (int j = 0; j < 2; j++) u[r * 8 + j] = _mm256_add_ps(a0[r][j], a1[r][j]);
}

/// scores[r·sstride + s] = q_r·k_s·scale for rows r < R and keys s0 ≤ s < visible, each bit-identical to
/// attend_kv_avx2's (a key's score never depends on where a block starts); returns the maximum of each
/// row's scores in m[r].
CK_ATT_AVX2 CK_INLINE void KVN(scores_rows_avx2)(int R, const float *q, size_t qstride, const KV *keys, size_t kstride, size_t dk,
                                            const int64_t *slots, size_t s0, size_t visible, float scale, float *scores,
                                            size_t sstride, float *m, int prefetch) {
    const size_t tail = dk - dk % 8;   // where dot4_avx2's scalar tail starts
    const __m256 vscale = _mm256_set1_ps(scale);
    __m256 vmax[3];
    for (int r = 0; r < R; r++) vmax[r] = _mm256_set1_ps(-INFINITY);
    size_t s = s0;
    for (; s + 8 <= visible; s += 8) {
        __m256 u[3 * 8];
        if (prefetch) KVN(prefetch_keys_avx2)(keys, kstride, dk, slots, s, 8, visible);
        for (int j = 0; j < 8; j += 2)
            KVN(dot_rows_keys2_avx2)(q, qstride, R, keys + CK_POS(s + j) * kstride, keys + CK_POS(s + j + 1) * kstride, dk, u + j);
        for (int r = 0; r < R; r++) {
            float *sc = scores + r * sstride + s;
            __m256 v = ck_hsum8x8_ps(u + r * 8);
            if (tail < dk) {
                _mm256_storeu_ps(sc, v);
                const float *qr = q + r * qstride;
                for (int j = 0; j < 8; j++) {
                    const KV *k = keys + CK_POS(s + j) * kstride;
                    float x = sc[j];
                    for (size_t t = tail; t < dk; t++) x += qr[t] * KV_GET(k + t);
                    sc[j] = x;
                }
                v = _mm256_loadu_ps(sc);
            }
            v = _mm256_mul_ps(v, vscale);
            _mm256_storeu_ps(sc, v);
            vmax[r] = _mm256_max_ps(v, vmax[r]);
        }
    }
    for (int r = 0; r < R; r++) {
        float mr = -INFINITY, tmp[8];
        _mm256_storeu_ps(tmp, vmax[r]);
        for (int l = 0; l < 8; l++) mr = tmp[l] > mr ? tmp[l] : mr;
        for (size_t t = s; t < visible; t++) {
            float x = KVN(dot_avx2)(q + r * qstride, keys + CK_POS(t) * kstride, dk) * scale;
            scores[r * sstride + t] = x;
            mr = x > mr ? x : mr;
        }
        m[r] = mr;
    }
}

/// out_r[c0..<n] += Σ_s p_r[s]·v_s for rows r < R (p_r = p + r·pstride, out_r = out + r·ostride): per
/// element the ascending FMA chain of weighted_sum_avx2, 32 columns of three rows per pass (ck_wsum_tile_avx2).
CK_ATT_AVX2 CK_INLINE void KVN(weighted_sum_rows_avx2)(const float *p, size_t pstride, int R, const KV *values, size_t vstride,
                                                  const int64_t *slots, size_t visible, size_t c0, size_t n, float *out,
                                                  size_t ostride, int prefetch) {
    const size_t ahead = prefetch ? CK_ATT_PREFETCH_VALUES : 0;
    const float *pr[3];
    float *orow[3];
    for (int r = 0; r < R; r++) { pr[r] = p + r * pstride; orow[r] = out + r * ostride; }
    size_t c = c0;
    for (; c + 32 <= n; c += 32) KVN(ck_wsum_tile_avx2)(R, 4, pr, values, vstride, slots, 0, visible, c, orow, ahead);
    for (; c + 8 <= n; c += 8) KVN(ck_wsum_tile_avx2)(R, 1, pr, values, vstride, slots, 0, visible, c, orow, ahead);
    for (int r = 0; r < R; r++)
        for (size_t cc = c; cc < n; cc++)
            for (size_t s = 0; s < visible; s++) orow[r][cc] += pr[r][s] * KV_GET(values + CK_POS(s) * vstride + cc);
}

/// Rows r < R (R of 2 or 3) of one group: scores into scores + r·visible, then softmax and values per row.
/// Only the group's first rows prefetch: later ones find the keys and values in L1/L2.
CK_ATT_AVX2 CK_INLINE void KVN(attend_rows_avx2)(int R, const float *q, size_t qstride, const KV *keys, size_t kstride, size_t dk,
                                            const KV *values, size_t vstride, size_t dv, const int64_t *slots,
                                            size_t visible, float scale, float *scores, float *out, size_t ostride, int prefetch) {
    float m[3];
    KVN(scores_rows_avx2)(R, q, qstride, keys, kstride, dk, slots, 0, visible, scale, scores, visible, m, prefetch);
    for (int r = 0; r < R; r++) ck_softmax_avx2(scores + r * visible, visible, m[r]);
    KVN(weighted_sum_rows_avx2)(scores, visible, R, values, vstride, slots, visible, 0, dv, out, ostride, prefetch);
}

CK_ATT_AVX2 static void KVN(attend_group_avx2)(const float *q, size_t qstride, size_t rows, const KV *keys, size_t kstride,
                                          size_t dk, const KV *values, size_t vstride, size_t dv, const int64_t *slots,
                                          size_t visible, float scale, float *scores, float *out, size_t ostride) {
    size_t r = 0;
    // Threes, then a pair or a single row.
    for (; r + 3 <= rows; r += 3)
        KVN(attend_rows_avx2)(3, q + r * qstride, qstride, keys, kstride, dk, values, vstride, dv, slots, visible, scale, scores,
                         out + r * ostride, ostride, r == 0);
    if (rows - r == 2)
        KVN(attend_rows_avx2)(2, q + r * qstride, qstride, keys, kstride, dk, values, vstride, dv, slots, visible, scale, scores,
                         out + r * ostride, ostride, r == 0);
    else if (rows - r == 1)
        KVN(attend_kv_avx2)(q + r * qstride, keys, kstride, dk, values, vstride, dv, slots, visible, scale, scores, out + r * ostride,
                       r == 0);
}
#endif

// ---- One decoding token's group split over cores in two phases: keys, then value columns. Splitting a
// group's work by key range or by column keeps every score, softmax and output chain as ck_attend_group
// computes it, so the split changes no bit.

#if defined(__x86_64__)
CK_ATT_AVX2 static void KVN(attend_scores_avx2)(const float *q, size_t qstride, size_t rows, const KV *keys, size_t kstride,
                                           size_t dk, const int64_t *slots, size_t s0, size_t s1, float scale, float *scores,
                                           size_t sstride) {
    float m[3];
    size_t r = 0;
    for (; r + 3 <= rows; r += 3)
        KVN(scores_rows_avx2)(3, q + r * qstride, qstride, keys, kstride, dk, slots, s0, s1, scale, scores + r * sstride, sstride,
                         m, r == 0);
    if (rows - r == 2)
        KVN(scores_rows_avx2)(2, q + r * qstride, qstride, keys, kstride, dk, slots, s0, s1, scale, scores + r * sstride, sstride,
                         m, r == 0);
    else if (rows - r == 1)
        KVN(scores_rows_avx2)(1, q + r * qstride, qstride, keys, kstride, dk, slots, s0, s1, scale, scores + r * sstride, sstride,
                         m, r == 0);
}

/// Rows in the threes (then a pair or a single row) that ck_attend_group takes them in: each row's scores
/// copied to scratch and normalised there, then the values of each set of rows together.
CK_ATT_AVX2 static void KVN(attend_values_avx2)(size_t rows, const float *scores, size_t sstride, size_t visible,
                                           const KV *values, size_t vstride, const int64_t *slots, size_t c0, size_t c1,
                                           float *scratch, float *out, size_t ostride) {
    for (size_t first = 0; first < rows; first += 3) {
        const size_t R = rows - first < 3 ? rows - first : 3;
        for (size_t r = 0; r < R; r++) {
            float *p = scratch + r * visible;
            ck_softmax_avx2(p, visible, copy_with_max(scores + (first + r) * sstride, visible, p));
        }
        KVN(weighted_sum_rows_avx2)(scratch, visible, (int)R, values, vstride, slots, visible, c0, c1, out + first * ostride,
                               ostride, first == 0);
    }
}
#endif

#if defined(__x86_64__)
#include "AttentionRowsAVX512.h"
#endif

static void KVN(attend_kv)(int isa, const float *q, const KV *keys, size_t kstride, size_t dk, const KV *values, size_t vstride,
                           size_t dv, const int64_t *slots, size_t visible, float scale, float *scores, float *out) {
#if defined(__x86_64__)
    if (isa >= CK_ISA_AVX2) {
        KVN(attend_kv_avx2)(q, keys, kstride, dk, values, vstride, dv, slots, visible, scale, scores, out, 1);
        return;
    }
#endif
    KVN(attend_kv_portable)(q, keys, kstride, dk, values, vstride, dv, slots, visible, scale, scores, out);
}

static void KVN(attend_group)(int isa, const float *q, size_t qstride, size_t rows, const KV *keys, size_t kstride, size_t dk,
                              const KV *values, size_t vstride, size_t dv, const int64_t *slots, size_t visible, float scale,
                              float *scores, float *out, size_t ostride) {
#if defined(__x86_64__)
    if (isa >= CK_ISA_AVX512) {
        KVN(attend_group_avx512)(q, qstride, rows, keys, kstride, dk, values, vstride, dv, slots, visible, scale, scores, out, ostride);
        return;
    }
    if (isa >= CK_ISA_AVX2) {
        KVN(attend_group_avx2)(q, qstride, rows, keys, kstride, dk, values, vstride, dv, slots, visible, scale, scores, out, ostride);
        return;
    }
#endif
    for (size_t r = 0; r < rows; r++)
        KVN(attend_kv_portable)(q + r * qstride, keys, kstride, dk, values, vstride, dv, slots, visible, scale, scores,
                                out + r * ostride);
}

static void KVN(attend_scores)(int isa, const float *q, size_t qstride, size_t rows, const KV *keys, size_t kstride, size_t dk,
                               const int64_t *slots, size_t s0, size_t s1, float scale, float *scores, size_t sstride) {
#if defined(__x86_64__)
    if (isa >= CK_ISA_AVX512) {
        KVN(attend_scores_avx512)(q, qstride, rows, keys, kstride, dk, slots, s0, s1, scale, scores, sstride);
        return;
    }
    if (isa >= CK_ISA_AVX2) {
        KVN(attend_scores_avx2)(q, qstride, rows, keys, kstride, dk, slots, s0, s1, scale, scores, sstride);
        return;
    }
#endif
    for (size_t r = 0; r < rows; r++)
        for (size_t s = s0; s < s1; s++)
            scores[r * sstride + s] = KVN(dot_portable)(q + r * qstride, keys + CK_POS(s) * kstride, dk) * scale;
}

static void KVN(attend_values)(int isa, size_t rows, const float *scores, size_t sstride, size_t visible, const KV *values,
                               size_t vstride, const int64_t *slots, size_t c0, size_t c1, float *scratch, float *out,
                               size_t ostride) {
#if defined(__x86_64__)
    if (isa >= CK_ISA_AVX512) {
        KVN(attend_values_avx512)(rows, scores, sstride, visible, values, vstride, slots, c0, c1, scratch, out, ostride);
        return;
    }
    if (isa >= CK_ISA_AVX2) {
        KVN(attend_values_avx2)(rows, scores, sstride, visible, values, vstride, slots, c0, c1, scratch, out, ostride);
        return;
    }
#endif
    for (size_t r = 0; r < rows; r++) {
        softmax_portable(scratch, visible, copy_with_max(scores + r * sstride, visible, scratch));
        KVN(weighted_sum_portable)(scratch, values, vstride, slots, visible, c0, c1, out + r * ostride);
    }
}

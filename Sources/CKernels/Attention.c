// One query row attending over its visible cache entries: scores = q·k·scale, softmax, out = Σ p·v.
// Keys and values may live in separate arrays with their own widths (MLA: keys [c, k_rope], values c;
// or per-head K and V matrices): key s at keys + pos·kstride, value s at values + pos·vstride, where
// pos = slots[s] (paged) or s (contiguous, slots == NULL). The GQA paged cache is the special case
// keys = entry + koff, values = entry + voff, both strides the entry width.
//
// The portable body is plain C; the AVX2 variant scores four keys per pass, takes the softmax numerators
// eight lanes at a time (AVX2Exp.h) and keeps up to 64 outputs in registers while the values stream past.
// Each row is computed alone in a fixed order, so results never depend on the batch.
#include "CKernels.h"
#include <math.h>

#define CK_POS(s) (slots ? (size_t)slots[s] : (size_t)(s))

static inline float dot_portable(const float *a, const float *b, size_t n) {
    float s = 0;
    for (size_t i = 0; i < n; i++) s += a[i] * b[i];
    return s;
}

/// dst[s] = src[s] for s < n; returns their maximum (of any order: max is exact).
static inline float copy_with_max(const float *src, size_t n, float *dst) {
    float m = -INFINITY;
    for (size_t s = 0; s < n; s++) { dst[s] = src[s]; m = dst[s] > m ? dst[s] : m; }
    return m;
}

/// scores[s] ← softmax(scores)[s] for s < visible, m being their maximum.
static void softmax_portable(float *scores, size_t visible, float m) {
    float total = 0;
    for (size_t s = 0; s < visible; s++) { scores[s] = expf(scores[s] - m); total += scores[s]; }
    float inv = 1.0f / total;
    for (size_t s = 0; s < visible; s++) scores[s] *= inv;
}

/// out[c0..<c1) += Σ_s p[s]·v_s[c0..<c1), in ascending s per element.
static void weighted_sum_portable(const float *p, const float *values, size_t vstride, const int64_t *slots,
                                  size_t visible, size_t c0, size_t c1, float *out) {
    for (size_t s = 0; s < visible; s++) {
        const float *v = values + CK_POS(s) * vstride;
        for (size_t i = c0; i < c1; i++) out[i] += p[s] * v[i];
    }
}

static void attend_kv_portable(const float *q, const float *keys, size_t kstride, size_t dk, const float *values,
                               size_t vstride, size_t dv, const int64_t *slots, size_t visible, float scale,
                               float *scores, float *out) {
    float m = -INFINITY;
    for (size_t s = 0; s < visible; s++) {
        float v = dot_portable(q, keys + CK_POS(s) * kstride, dk) * scale;
        scores[s] = v;
        m = v > m ? v : m;
    }
    softmax_portable(scores, visible, m);
    weighted_sum_portable(scores, values, vstride, slots, visible, 0, dv, out);
}

#if defined(__x86_64__)
#include "AttentionAVX2.h"

CK_ATT_AVX2 static inline float dot_avx2(const float *a, const float *b, size_t n) {
    __m256 a0 = _mm256_setzero_ps(), a1 = _mm256_setzero_ps();
    size_t i = 0;
    for (; i + 16 <= n; i += 16) {
        a0 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i), _mm256_loadu_ps(b + i), a0);
        a1 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i + 8), _mm256_loadu_ps(b + i + 8), a1);
    }
    for (; i + 8 <= n; i += 8) a0 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i), _mm256_loadu_ps(b + i), a0);
    float s = ck_hsum8_ps(_mm256_add_ps(a0, a1));
    for (; i < n; i++) s += a[i] * b[i];
    return s;
}

/// Scores of four keys at once (eight independent FMA chains instead of two); each score is reduced
/// exactly as dot_avx2 reduces it, so a position's score never depends on its neighbours.
CK_ATT_AVX2 static inline void dot4_avx2(const float *q, const float *k0, const float *k1, const float *k2,
                                         const float *k3, size_t n, float *out) {
    const float *k[4] = {k0, k1, k2, k3};
    __m256 u[4];
    ck_lanes4_avx2(q, k, n, u);
    for (int j = 0; j < 4; j++) {
        float s = ck_hsum8_ps(u[j]);
        for (size_t t = n - n % 8; t < n; t++) s += q[t] * k[j][t];
        out[j] = s;
    }
}

/// out[0..<n] += Σ_s p[s]·v_s, in ascending s per element (as the portable loop adds them), with up to
/// 64 outputs held in eight registers instead of a load and store per position.
CK_ATT_AVX2 static inline void weighted_sum_avx2(const float *p, const float *values, size_t vstride, const int64_t *slots,
                                                 size_t visible, size_t n, float *out, int prefetch) {
    size_t c = 0;
    for (; c + 64 <= n; c += 64) {
        __m256 acc[8];
        for (int j = 0; j < 8; j++) acc[j] = _mm256_loadu_ps(out + c + 8 * j);
        for (size_t s = 0; s < visible; s++) {
            const float *v = values + CK_POS(s) * vstride + c;
            if (prefetch && s + CK_ATT_PREFETCH_VALUES < visible) ck_prefetch_lines(values + CK_POS(s + CK_ATT_PREFETCH_VALUES) * vstride + c, 64);
            __m256 vp = _mm256_set1_ps(p[s]);
            for (int j = 0; j < 8; j++) acc[j] = _mm256_fmadd_ps(vp, _mm256_loadu_ps(v + 8 * j), acc[j]);
        }
        for (int j = 0; j < 8; j++) _mm256_storeu_ps(out + c + 8 * j, acc[j]);
    }
    for (; c + 8 <= n; c += 8) {
        __m256 acc = _mm256_loadu_ps(out + c);
        for (size_t s = 0; s < visible; s++)
            acc = _mm256_fmadd_ps(_mm256_set1_ps(p[s]), _mm256_loadu_ps(values + CK_POS(s) * vstride + c), acc);
        _mm256_storeu_ps(out + c, acc);
    }
    for (; c < n; c++)
        for (size_t s = 0; s < visible; s++) out[c] += p[s] * values[CK_POS(s) * vstride + c];
}

/// Decode reads a layer's keys and values from memory (a step streams every weight between two visits to
/// the same layer's cache), one strided row per position, and a lone row's loads alone leave too few misses
/// in flight: the scoring loops ask for each key row `CK_ATT_PREFETCH_KEYS` positions ahead, the weighted
/// sums for the value lines they will read `CK_ATT_PREFETCH_VALUES` positions ahead; a group's later rows,
/// which find both in L1/L2, do not. Hints only: no value read or computed changes.
/// - Harness, one decode token of SmolLM2 (3 groups of 3 heads, 64 dims, paged), cache evicted between
///   tokens: 147 → 120 thousand cycles per layer at 136 positions, 712 → 542 at 600. Prefetching the
///   values during the scoring instead, or keys 16–32 ahead, did less.
/// - `scripts/bench ab`, SmolLM2 from a 1,024-token context: decode 59.0 → 70.6 tok/s, 2 sequences
///   68.0 → 88.2 (4/4 pairs each).
enum { CK_ATT_PREFETCH_KEYS = 12 };

CK_ATT_AVX2 CK_INLINE void prefetch_keys_avx2(const float *keys, size_t kstride, size_t dk, const int64_t *slots, size_t s,
                                              size_t n, size_t visible) {
    for (size_t t = s + CK_ATT_PREFETCH_KEYS, end = t + n; t < end && t < visible; t++) {
        ck_prefetch_lines(keys + CK_POS(t) * kstride, dk);
    }
}

CK_ATT_AVX2 static void attend_kv_avx2(const float *q, const float *keys, size_t kstride, size_t dk, const float *values,
                                       size_t vstride, size_t dv, const int64_t *slots, size_t visible, float scale,
                                       float *scores, float *out, int prefetch) {
    float m = -INFINITY;
    size_t s = 0;
    for (; s + 4 <= visible; s += 4) {
        if (prefetch) prefetch_keys_avx2(keys, kstride, dk, slots, s, 4, visible);
        dot4_avx2(q, keys + CK_POS(s) * kstride, keys + CK_POS(s + 1) * kstride, keys + CK_POS(s + 2) * kstride,
                  keys + CK_POS(s + 3) * kstride, dk, scores + s);
        for (int j = 0; j < 4; j++) { scores[s + j] *= scale; m = scores[s + j] > m ? scores[s + j] : m; }
    }
    for (; s < visible; s++) {
        scores[s] = dot_avx2(q, keys + CK_POS(s) * kstride, dk) * scale;
        m = scores[s] > m ? scores[s] : m;
    }
    ck_softmax_avx2(scores, visible, m);
    weighted_sum_avx2(scores, values, vstride, slots, visible, dv, out, prefetch);
}

// ---- Several query rows over the same keys (a GQA group: the heads sharing one KV head at one token).
// Each key and value load feeds up to three rows; every row is reduced exactly as attend_kv_avx2 reduces
// it alone (the same per-key lane split and ck_hsum8_ps order, the same softmax, the same ascending FMA
// chain per output), so results are bit-identical to the row kernel whatever the grouping.

/// a[r][j] += q_r[i..<i+8] · k_j[i..<i+8] lane-wise, for rows r < R and keys k0, k1 (j = 0, 1).
CK_ATT_AVX2 CK_INLINE void fma_rows_keys2_avx2(const float *q, size_t qstride, int R, const float *k0, const float *k1,
                                               size_t i, __m256 a[3][2]) {
    __m256 ka = _mm256_loadu_ps(k0 + i), kb = _mm256_loadu_ps(k1 + i);
    for (int r = 0; r < R; r++) {
        __m256 qr = _mm256_loadu_ps(q + r * qstride + i);
        a[r][0] = _mm256_fmadd_ps(qr, ka, a[r][0]);
        a[r][1] = _mm256_fmadd_ps(qr, kb, a[r][1]);
    }
}

/// u[r·8 + j] = a0 + a1 of dot4_avx2 for rows r < R and keys k0, k1 (j = 0, 1): the eight lane sums
/// that ck_hsum8_ps then reduces; the scalar tail past the last 8-float chunk is left to the caller.
CK_ATT_AVX2 CK_INLINE void dot_rows_keys2_avx2(const float *q, size_t qstride, int R, const float *k0, const float *k1,
                                               size_t n, __m256 *u) {
    __m256 a0[3][2], a1[3][2];
    for (int r = 0; r < R; r++)
        for (int j = 0; j < 2; j++) { a0[r][j] = _mm256_setzero_ps(); a1[r][j] = _mm256_setzero_ps(); }
    size_t i = 0;
    for (; i + 16 <= n; i += 16) {   // even chunks into a0, odd ones into a1, as dot4_avx2 splits them
        fma_rows_keys2_avx2(q, qstride, R, k0, k1, i, a0);
        fma_rows_keys2_avx2(q, qstride, R, k0, k1, i + 8, a1);
    }
    if (i + 8 <= n) fma_rows_keys2_avx2(q, qstride, R, k0, k1, i, a0);
    for (int r = 0; r < R; r++)
        for (int j = 0; j < 2; j++) u[r * 8 + j] = _mm256_add_ps(a0[r][j], a1[r][j]);
}

/// scores[r·sstride + s] = q_r·k_s·scale for rows r < R and keys s0 ≤ s < visible, each bit-identical to
/// attend_kv_avx2's (a key's score never depends on where a block starts); returns the maximum of each
/// row's scores in m[r].
CK_ATT_AVX2 CK_INLINE void scores_rows_avx2(int R, const float *q, size_t qstride, const float *keys, size_t kstride, size_t dk,
                                            const int64_t *slots, size_t s0, size_t visible, float scale, float *scores,
                                            size_t sstride, float *m, int prefetch) {
    const size_t tail = dk - dk % 8;   // where dot4_avx2's scalar tail starts
    const __m256 vscale = _mm256_set1_ps(scale);
    __m256 vmax[3];
    for (int r = 0; r < R; r++) vmax[r] = _mm256_set1_ps(-INFINITY);
    size_t s = s0;
    for (; s + 8 <= visible; s += 8) {
        __m256 u[3 * 8];
        if (prefetch) prefetch_keys_avx2(keys, kstride, dk, slots, s, 8, visible);
        for (int j = 0; j < 8; j += 2)
            dot_rows_keys2_avx2(q, qstride, R, keys + CK_POS(s + j) * kstride, keys + CK_POS(s + j + 1) * kstride, dk, u + j);
        for (int r = 0; r < R; r++) {
            float *sc = scores + r * sstride + s;
            __m256 v = ck_hsum8x8_ps(u + r * 8);
            if (tail < dk) {
                _mm256_storeu_ps(sc, v);
                const float *qr = q + r * qstride;
                for (int j = 0; j < 8; j++) {
                    const float *k = keys + CK_POS(s + j) * kstride;
                    float x = sc[j];
                    for (size_t t = tail; t < dk; t++) x += qr[t] * k[t];
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
            float x = dot_avx2(q + r * qstride, keys + CK_POS(t) * kstride, dk) * scale;
            scores[r * sstride + t] = x;
            mr = x > mr ? x : mr;
        }
        m[r] = mr;
    }
}

/// out_r[c0..<n] += Σ_s p_r[s]·v_s for rows r < R (p_r = p + r·pstride, out_r = out + r·ostride): per
/// element the ascending FMA chain of weighted_sum_avx2, 32 columns of three rows per pass (ck_wsum_tile_avx2).
CK_ATT_AVX2 CK_INLINE void weighted_sum_rows_avx2(const float *p, size_t pstride, int R, const float *values, size_t vstride,
                                                  const int64_t *slots, size_t visible, size_t c0, size_t n, float *out,
                                                  size_t ostride, int prefetch) {
    const size_t ahead = prefetch ? CK_ATT_PREFETCH_VALUES : 0;
    const float *pr[3];
    float *orow[3];
    for (int r = 0; r < R; r++) { pr[r] = p + r * pstride; orow[r] = out + r * ostride; }
    size_t c = c0;
    for (; c + 32 <= n; c += 32) ck_wsum_tile_avx2(R, 4, pr, values, vstride, slots, 0, visible, c, orow, ahead);
    for (; c + 8 <= n; c += 8) ck_wsum_tile_avx2(R, 1, pr, values, vstride, slots, 0, visible, c, orow, ahead);
    for (int r = 0; r < R; r++)
        for (size_t cc = c; cc < n; cc++)
            for (size_t s = 0; s < visible; s++) orow[r][cc] += pr[r][s] * values[CK_POS(s) * vstride + cc];
}

/// Rows r < R (R of 2 or 3) of one group: scores into scores + r·visible, then softmax and values per row.
/// Only the group's first rows prefetch: later ones find the keys and values in L1/L2.
CK_ATT_AVX2 CK_INLINE void attend_rows_avx2(int R, const float *q, size_t qstride, const float *keys, size_t kstride, size_t dk,
                                            const float *values, size_t vstride, size_t dv, const int64_t *slots,
                                            size_t visible, float scale, float *scores, float *out, size_t ostride, int prefetch) {
    float m[3];
    scores_rows_avx2(R, q, qstride, keys, kstride, dk, slots, 0, visible, scale, scores, visible, m, prefetch);
    for (int r = 0; r < R; r++) ck_softmax_avx2(scores + r * visible, visible, m[r]);
    weighted_sum_rows_avx2(scores, visible, R, values, vstride, slots, visible, 0, dv, out, ostride, prefetch);
}

CK_ATT_AVX2 static void attend_group_avx2(const float *q, size_t qstride, size_t rows, const float *keys, size_t kstride,
                                          size_t dk, const float *values, size_t vstride, size_t dv, const int64_t *slots,
                                          size_t visible, float scale, float *scores, float *out, size_t ostride) {
    size_t r = 0;
    // Threes, then a pair or a single row.
    for (; r + 3 <= rows; r += 3)
        attend_rows_avx2(3, q + r * qstride, qstride, keys, kstride, dk, values, vstride, dv, slots, visible, scale, scores,
                         out + r * ostride, ostride, r == 0);
    if (rows - r == 2)
        attend_rows_avx2(2, q + r * qstride, qstride, keys, kstride, dk, values, vstride, dv, slots, visible, scale, scores,
                         out + r * ostride, ostride, r == 0);
    else if (rows - r == 1)
        attend_kv_avx2(q + r * qstride, keys, kstride, dk, values, vstride, dv, slots, visible, scale, scores, out + r * ostride,
                       r == 0);
}
#endif

void ck_attend_kv(int isa, const float *q, const float *keys, size_t kstride, size_t dk, const float *values,
                  size_t vstride, size_t dv, const int64_t *slots, size_t visible, float scale, float *scores, float *out) {
#if defined(__x86_64__)
    if (isa >= CK_ISA_AVX2) { attend_kv_avx2(q, keys, kstride, dk, values, vstride, dv, slots, visible, scale, scores, out, 1); return; }
#endif
    attend_kv_portable(q, keys, kstride, dk, values, vstride, dv, slots, visible, scale, scores, out);
}

void ck_attend(int isa, const float *q, const float *base, const int64_t *slots, size_t visible, size_t width,
               size_t koff, size_t voff, size_t d, float scale, float *scores, float *out) {
    ck_attend_kv(isa, q, base + koff, width, d, base + voff, width, d, slots, visible, scale, scores, out);
}

void ck_attend_group(int isa, const float *q, size_t qstride, size_t rows, const float *keys, size_t kstride, size_t dk,
                     const float *values, size_t vstride, size_t dv, const int64_t *slots, size_t visible, float scale,
                     float *scores, float *out, size_t ostride) {
#if defined(__x86_64__)
    if (isa >= CK_ISA_AVX2) {
        attend_group_avx2(q, qstride, rows, keys, kstride, dk, values, vstride, dv, slots, visible, scale, scores, out, ostride);
        return;
    }
#endif
    for (size_t r = 0; r < rows; r++)
        attend_kv_portable(q + r * qstride, keys, kstride, dk, values, vstride, dv, slots, visible, scale, scores, out + r * ostride);
}

// ---- One decoding token's group split over cores in two phases: keys, then value columns. Splitting a
// group's work by key range or by column keeps every score, softmax and output chain as ck_attend_group
// computes it, so the split changes no bit.

#if defined(__x86_64__)
CK_ATT_AVX2 static void attend_scores_avx2(const float *q, size_t qstride, size_t rows, const float *keys, size_t kstride,
                                           size_t dk, const int64_t *slots, size_t s0, size_t s1, float scale, float *scores,
                                           size_t sstride) {
    float m[3];
    size_t r = 0;
    for (; r + 3 <= rows; r += 3)
        scores_rows_avx2(3, q + r * qstride, qstride, keys, kstride, dk, slots, s0, s1, scale, scores + r * sstride, sstride,
                         m, r == 0);
    if (rows - r == 2)
        scores_rows_avx2(2, q + r * qstride, qstride, keys, kstride, dk, slots, s0, s1, scale, scores + r * sstride, sstride,
                         m, r == 0);
    else if (rows - r == 1)
        scores_rows_avx2(1, q + r * qstride, qstride, keys, kstride, dk, slots, s0, s1, scale, scores + r * sstride, sstride,
                         m, r == 0);
}

/// Rows in the threes (then a pair or a single row) that ck_attend_group takes them in: each row's scores
/// copied to scratch and normalised there, then the values of each set of rows together.
CK_ATT_AVX2 static void attend_values_avx2(size_t rows, const float *scores, size_t sstride, size_t visible,
                                           const float *values, size_t vstride, const int64_t *slots, size_t c0, size_t c1,
                                           float *scratch, float *out, size_t ostride) {
    for (size_t first = 0; first < rows; first += 3) {
        const size_t R = rows - first < 3 ? rows - first : 3;
        for (size_t r = 0; r < R; r++) {
            float *p = scratch + r * visible;
            ck_softmax_avx2(p, visible, copy_with_max(scores + (first + r) * sstride, visible, p));
        }
        weighted_sum_rows_avx2(scratch, visible, (int)R, values, vstride, slots, visible, c0, c1, out + first * ostride,
                               ostride, first == 0);
    }
}
#endif

void ck_attend_scores(int isa, const float *q, size_t qstride, size_t rows, const float *keys, size_t kstride, size_t dk,
                      const int64_t *slots, size_t s0, size_t s1, float scale, float *scores, size_t sstride) {
#if defined(__x86_64__)
    if (isa >= CK_ISA_AVX2) {
        attend_scores_avx2(q, qstride, rows, keys, kstride, dk, slots, s0, s1, scale, scores, sstride);
        return;
    }
#endif
    for (size_t r = 0; r < rows; r++)
        for (size_t s = s0; s < s1; s++)
            scores[r * sstride + s] = dot_portable(q + r * qstride, keys + CK_POS(s) * kstride, dk) * scale;
}

void ck_attend_values(int isa, size_t rows, const float *scores, size_t sstride, size_t visible, const float *values,
                      size_t vstride, const int64_t *slots, size_t c0, size_t c1, float *scratch, float *out,
                      size_t ostride) {
#if defined(__x86_64__)
    if (isa >= CK_ISA_AVX2) {
        attend_values_avx2(rows, scores, sstride, visible, values, vstride, slots, c0, c1, scratch, out, ostride);
        return;
    }
#endif
    for (size_t r = 0; r < rows; r++) {
        softmax_portable(scratch, visible, copy_with_max(scores + r * sstride, visible, scratch));
        weighted_sum_portable(scratch, values, vstride, slots, visible, c0, c1, out + r * ostride);
    }
}

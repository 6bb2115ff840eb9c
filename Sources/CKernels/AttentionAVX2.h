// AVX2 pieces shared by the attention kernels (Attention.c, AttentionBlock.c): the 8-key score reduction, the
// weighted-sum tile and the softmax, so every kernel reduces a score and normalises a row in the same order and their results agree
// bit for bit.
#ifndef CK_ATTENTION_AVX2_H
#define CK_ATTENTION_AVX2_H
#include "AVX2Common.h"
#include "AVX2Exp.h"
#include <math.h>

#define CK_ATT_AVX2 __attribute__((target("avx2,fma")))
#define CK_INLINE __attribute__((always_inline)) static inline

/// u[j] = the lane sums of q · k_j over the whole 8-float chunks of n (j < 4): even chunks into one
/// accumulator and odd ones into another, each ascending, then their sum. Every kernel scores a key this
/// way (ck_hsum8_ps or ck_hsum8x8_ps then reduce u, the scalar tail past the last chunk is the caller's).
CK_ATT_AVX2 CK_INLINE void ck_lanes4_avx2(const float *q, const float *const *k, size_t n, __m256 u[4]) {
    __m256 e[4], o[4];
    for (int j = 0; j < 4; j++) { e[j] = _mm256_setzero_ps(); o[j] = _mm256_setzero_ps(); }
    size_t c = 0;
    for (; c + 16 <= n; c += 16) {
        __m256 q0 = _mm256_loadu_ps(q + c), q1 = _mm256_loadu_ps(q + c + 8);
        for (int j = 0; j < 4; j++) {
            e[j] = _mm256_fmadd_ps(q0, _mm256_loadu_ps(k[j] + c), e[j]);
            o[j] = _mm256_fmadd_ps(q1, _mm256_loadu_ps(k[j] + c + 8), o[j]);
        }
    }
    if (c + 8 <= n) {
        __m256 q0 = _mm256_loadu_ps(q + c);
        for (int j = 0; j < 4; j++) e[j] = _mm256_fmadd_ps(q0, _mm256_loadu_ps(k[j] + c), e[j]);
    }
    for (int j = 0; j < 4; j++) u[j] = _mm256_add_ps(e[j], o[j]);
}

/// ck_hsum8_ps of eight vectors at once, lane j holding the sum of u[j]: the same additions
/// ((l0+l4) + (l2+l6)) + ((l1+l5) + (l3+l7)) per vector, done across vectors.
CK_ATT_AVX2 CK_INLINE __m256 ck_hsum8x8_ps(const __m256 *u) {
    __m256 c[4];
    for (int a = 0; a < 4; a++)   // [u_a[l] + u_a[l+4] | u_{a+4}[l] + u_{a+4}[l+4]], l < 4
        c[a] = _mm256_add_ps(_mm256_permute2f128_ps(u[a], u[a + 4], 0x20), _mm256_permute2f128_ps(u[a], u[a + 4], 0x31));
    // [h0 + h2, h1 + h3] of keys a, a+1 (and a+4, a+5 in the upper half).
    __m256 g01 = _mm256_add_ps(_mm256_shuffle_ps(c[0], c[1], _MM_SHUFFLE(1, 0, 1, 0)), _mm256_shuffle_ps(c[0], c[1], _MM_SHUFFLE(3, 2, 3, 2)));
    __m256 g23 = _mm256_add_ps(_mm256_shuffle_ps(c[2], c[3], _MM_SHUFFLE(1, 0, 1, 0)), _mm256_shuffle_ps(c[2], c[3], _MM_SHUFFLE(3, 2, 3, 2)));
    return _mm256_add_ps(_mm256_shuffle_ps(g01, g23, _MM_SHUFFLE(2, 0, 2, 0)), _mm256_shuffle_ps(g01, g23, _MM_SHUFFLE(3, 1, 3, 1)));
}

/// Positions ahead for which a decoding row's weighted sum prefetches the value lines it will read (see
/// CK_ATT_PREFETCH_KEYS in Attention.c); prompt blocks read values from L2 and pass 0 (no prefetch).
enum { CK_ATT_PREFETCH_VALUES = 8 };

/// Prefetches (to L1) the cache lines of the n floats from p.
CK_ATT_AVX2 CK_INLINE void ck_prefetch_lines(const float *p, size_t n) {
    for (size_t o = 0; o < n * sizeof(float); o += 64) _mm_prefetch((const char *)p + o, _MM_HINT_T0);
}

/// out_r[c..<c+8·W) += Σ_{s0 ≤ s < s1} p_r[s]·v_s for rows r < R (R ≤ 3, W ≤ 4 vectors), value s at
/// values + pos·vstride (pos = slots[s], or s without slots): per element one FMA chain in ascending s,
/// the accumulators loaded from and stored back to out, so a range split in pieces gives the same bits.
/// With `ahead` > 0 the lines of value s + ahead are prefetched (a hint only).
CK_ATT_AVX2 CK_INLINE void ck_wsum_tile_avx2(int R, int W, const float *const *p, const float *values, size_t vstride,
                                             const int64_t *slots, size_t s0, size_t s1, size_t c, float *const *out,
                                             size_t ahead) {
    __m256 acc[3][4];
    for (int r = 0; r < R; r++)
        for (int j = 0; j < W; j++) acc[r][j] = _mm256_loadu_ps(out[r] + c + 8 * j);
    for (size_t s = s0; s < s1; s++) {
        const float *v = values + (slots ? (size_t)slots[s] : s) * vstride + c;
        if (ahead && s + ahead < s1) ck_prefetch_lines(values + (slots ? (size_t)slots[s + ahead] : s + ahead) * vstride + c, 8 * W);
        __m256 pr[3];
        for (int r = 0; r < R; r++) pr[r] = _mm256_broadcast_ss(p[r] + s);
        for (int j = 0; j < W; j++) {
            __m256 vj = _mm256_loadu_ps(v + 8 * j);
            for (int r = 0; r < R; r++) acc[r][j] = _mm256_fmadd_ps(pr[r], vj, acc[r][j]);
        }
    }
    for (int r = 0; r < R; r++)
        for (int j = 0; j < W; j++) _mm256_storeu_ps(out[r] + c + 8 * j, acc[r][j]);
}

/// scores[s] ← softmax(scores)[s] for s < visible, m being their maximum: numerators eight at a time,
/// summed in eight lanes then in ck_hsum8_ps's fixed order, the tail with expf.
CK_ATT_AVX2 static inline void ck_softmax_avx2(float *scores, size_t visible, float m) {
    __m256 vm = _mm256_set1_ps(m), vtotal = _mm256_setzero_ps();
    size_t s = 0;
    for (; s + 8 <= visible; s += 8) {
        __m256 e = ck_exp_ps(_mm256_sub_ps(_mm256_loadu_ps(scores + s), vm));
        _mm256_storeu_ps(scores + s, e);
        vtotal = _mm256_add_ps(vtotal, e);
    }
    float total = ck_hsum8_ps(vtotal);
    for (; s < visible; s++) { scores[s] = expf(scores[s] - m); total += scores[s]; }
    float inv = 1.0f / total;
    for (s = 0; s < visible; s++) scores[s] *= inv;
}

#endif

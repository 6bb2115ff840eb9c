// AVX2 pieces shared by the attention kernels (Attention.c, AttentionBlock.c) that do not read keys or values:
// the 8-key lane reduction and the softmax, so every kernel reduces a score and normalises a row in the same
// order and their results agree bit for bit. The pieces that read keys and values are templates over their
// element type (AttentionKVAVX2.h).
#ifndef CK_ATTENTION_AVX2_H
#define CK_ATTENTION_AVX2_H
#include "AVX2Common.h"
#include "AVX2Exp.h"
#include <math.h>

#define CK_ATT_AVX2 __attribute__((target("avx2,fma,f16c")))   // F16C: fp16 keys and values (every AVX2 CPU has it)
#define CK_ATT_AVX512 __attribute__((target("avx512f,avx512vl,avx2,fma,f16c")))
#define CK_INLINE __attribute__((always_inline)) static inline

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
/// The same distances for the AVX-512 decode kernels (AttentionRowsAVX512.h), which consume rows faster.
enum { CK_ATT_PREFETCH_KEYS_AVX512 = 12, CK_ATT_PREFETCH_VALUES_AVX512 = 8 };

/// Prefetches (to L1) the cache lines of the `bytes` bytes from p.
CK_ATT_AVX2 CK_INLINE void ck_prefetch_bytes(const void *p, size_t bytes) {
    for (size_t o = 0; o < bytes; o += 64) _mm_prefetch((const char *)p + o, _MM_HINT_T0);
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


/// Each row's softmax over its first vis[r] scores (sc[r]), the maximum taken eight lanes at a time: max is
/// exact in any order, and max_ps(x, m) keeps m when x is NaN, as `x > m ? x : m` does.
CK_ATT_AVX2 static inline void ck_softmax_rows_avx2(size_t rows, float *const *sc, const size_t *vis) {
    for (size_t r = 0; r < rows; r++) {
        __m256 vm = _mm256_set1_ps(-INFINITY);
        size_t s = 0;
        for (; s + 8 <= vis[r]; s += 8) vm = _mm256_max_ps(_mm256_loadu_ps(sc[r] + s), vm);
        float m = -INFINITY, lanes[8];
        _mm256_storeu_ps(lanes, vm);
        for (int l = 0; l < 8; l++) m = lanes[l] > m ? lanes[l] : m;
        for (; s < vis[r]; s++) m = sc[r][s] > m ? sc[r][s] : m;
        ck_softmax_avx2(sc[r], vis[r], m);
    }
}

#endif

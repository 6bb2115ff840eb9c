// One query row attending over its visible cache entries (paged: each position's entry is found
// through `slots`): scores = q·k·scale, softmax, out = Σ p·v. The portable body is plain C; the AVX2
// variant vectorises the dot products and the weighted sum over the head dimension. Each row is
// computed alone in a fixed order, so results never depend on the batch.
#include "CKernels.h"
#include <math.h>

#define CK_ATTEND_BODY(DOT, AXPY)                                                        \
    float m = -INFINITY;                                                                 \
    for (size_t s = 0; s < visible; s++) {                                               \
        float v = DOT(q, base + slots[s] * width + koff, d) * scale;                     \
        scores[s] = v;                                                                   \
        m = v > m ? v : m;                                                               \
    }                                                                                    \
    float total = 0;                                                                     \
    for (size_t s = 0; s < visible; s++) { scores[s] = expf(scores[s] - m); total += scores[s]; } \
    float inv = 1.0f / total;                                                            \
    for (size_t s = 0; s < visible; s++) AXPY(scores[s] * inv, base + slots[s] * width + voff, out, d);

static inline float dot_portable(const float *a, const float *b, size_t n) {
    float s = 0;
    for (size_t i = 0; i < n; i++) s += a[i] * b[i];
    return s;
}

static inline void axpy_portable(float p, const float *v, float *out, size_t n) {
    for (size_t i = 0; i < n; i++) out[i] += p * v[i];
}

static void attend_portable(const float *q, const float *base, const int64_t *slots, size_t visible, size_t width,
                            size_t koff, size_t voff, size_t d, float scale, float *scores, float *out) {
    CK_ATTEND_BODY(dot_portable, axpy_portable)
}

#if defined(__x86_64__)
#include "AVX2Common.h"
#define CK_ATT_AVX2 __attribute__((target("avx2,fma")))

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

CK_ATT_AVX2 static inline void axpy_avx2(float p, const float *v, float *out, size_t n) {
    __m256 vp = _mm256_set1_ps(p);
    size_t i = 0;
    for (; i + 8 <= n; i += 8) _mm256_storeu_ps(out + i, _mm256_fmadd_ps(vp, _mm256_loadu_ps(v + i), _mm256_loadu_ps(out + i)));
    for (; i < n; i++) out[i] += p * v[i];
}

/// attend for a head dimension D known at compile time (a multiple of 16): the same instructions in the
/// same order as dot_avx2/axpy_avx2, with q and the output kept in registers across all positions instead
/// of being reloaded (and `out` re-stored) for every cache entry — identical results, fewer memory ops.
CK_ATT_AVX2 static inline __attribute__((always_inline)) void attend_avx2_fixed(const size_t D, const float *q,
        const float *base, const int64_t *slots, size_t visible, size_t width, size_t koff, size_t voff, float scale,
        float *scores, float *out) {
    __m256 qv[D / 8], acc[D / 8];
    for (size_t j = 0; j < D / 8; j++) qv[j] = _mm256_loadu_ps(q + 8 * j);
    float m = -INFINITY;
    for (size_t s = 0; s < visible; s++) {
        const float *k = base + slots[s] * width + koff;
        __m256 a0 = _mm256_setzero_ps(), a1 = _mm256_setzero_ps();
        for (size_t j = 0; j < D / 8; j += 2) {
            a0 = _mm256_fmadd_ps(qv[j], _mm256_loadu_ps(k + 8 * j), a0);
            a1 = _mm256_fmadd_ps(qv[j + 1], _mm256_loadu_ps(k + 8 * j + 8), a1);
        }
        float v = ck_hsum8_ps(_mm256_add_ps(a0, a1)) * scale;
        scores[s] = v;
        m = v > m ? v : m;
    }
    float total = 0;
    for (size_t s = 0; s < visible; s++) { scores[s] = expf(scores[s] - m); total += scores[s]; }
    float inv = 1.0f / total;
    for (size_t j = 0; j < D / 8; j++) acc[j] = _mm256_loadu_ps(out + 8 * j);
    for (size_t s = 0; s < visible; s++) {
        const float *v = base + slots[s] * width + voff;
        __m256 vp = _mm256_set1_ps(scores[s] * inv);
        for (size_t j = 0; j < D / 8; j++) acc[j] = _mm256_fmadd_ps(vp, _mm256_loadu_ps(v + 8 * j), acc[j]);
    }
    for (size_t j = 0; j < D / 8; j++) _mm256_storeu_ps(out + 8 * j, acc[j]);
}

CK_ATT_AVX2 static void attend_avx2(const float *q, const float *base, const int64_t *slots, size_t visible, size_t width,
                                    size_t koff, size_t voff, size_t d, float scale, float *scores, float *out) {
    if (d == 64) { attend_avx2_fixed(64, q, base, slots, visible, width, koff, voff, scale, scores, out); return; }
    if (d == 128) { attend_avx2_fixed(128, q, base, slots, visible, width, koff, voff, scale, scores, out); return; }
    CK_ATTEND_BODY(dot_avx2, axpy_avx2)
}
#endif

void ck_attend(int isa, const float *q, const float *base, const int64_t *slots, size_t visible, size_t width,
               size_t koff, size_t voff, size_t d, float scale, float *scores, float *out) {
#if defined(__x86_64__)
    if (isa >= CK_ISA_AVX2) { attend_avx2(q, base, slots, visible, width, koff, voff, d, scale, scores, out); return; }
#endif
    attend_portable(q, base, slots, visible, width, koff, voff, d, scale, scores, out);
}

// One query row attending over its visible cache entries (paged: each position's entry is found
// through `slots`): scores = q·k·scale, softmax, out = Σ p·v. The portable body is plain C; the AVX2
// variant vectorises the dot products and the weighted sum over the head dimension. Each row is
// computed alone in a fixed order, so results never depend on the batch.
#include "CKernels.h"
#include <math.h>

// Keys and values in separate arrays with their own widths (MLA: keys [c, k_rope], values c; or
// per-head K and V matrices): key s at keys + pos·kstride, value s at values + pos·vstride.
#define CK_ATTEND_KV_BODY(DOT, AXPY)                                                     \
    float m = -INFINITY;                                                                 \
    for (size_t s = 0; s < visible; s++) {                                               \
        size_t pos = slots ? (size_t)slots[s] : s;                                       \
        float v = DOT(q, keys + pos * kstride, dk) * scale;                              \
        scores[s] = v;                                                                   \
        m = v > m ? v : m;                                                               \
    }                                                                                    \
    float total = 0;                                                                     \
    for (size_t s = 0; s < visible; s++) { scores[s] = expf(scores[s] - m); total += scores[s]; } \
    float inv = 1.0f / total;                                                            \
    for (size_t s = 0; s < visible; s++)                                                 \
        AXPY(scores[s] * inv, values + (slots ? (size_t)slots[s] : s) * vstride, out, dv);

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

static void attend_kv_portable(const float *q, const float *keys, size_t kstride, size_t dk, const float *values,
                               size_t vstride, size_t dv, const int64_t *slots, size_t visible, float scale,
                               float *scores, float *out) {
    CK_ATTEND_KV_BODY(dot_portable, axpy_portable)
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

CK_ATT_AVX2 static void attend_avx2(const float *q, const float *base, const int64_t *slots, size_t visible, size_t width,
                                    size_t koff, size_t voff, size_t d, float scale, float *scores, float *out) {
    CK_ATTEND_BODY(dot_avx2, axpy_avx2)
}

CK_ATT_AVX2 static void attend_kv_avx2(const float *q, const float *keys, size_t kstride, size_t dk, const float *values,
                                       size_t vstride, size_t dv, const int64_t *slots, size_t visible, float scale,
                                       float *scores, float *out) {
    CK_ATTEND_KV_BODY(dot_avx2, axpy_avx2)
}
#endif

void ck_attend_kv(int isa, const float *q, const float *keys, size_t kstride, size_t dk, const float *values,
                  size_t vstride, size_t dv, const int64_t *slots, size_t visible, float scale, float *scores, float *out) {
#if defined(__x86_64__)
    if (isa >= CK_ISA_AVX2) { attend_kv_avx2(q, keys, kstride, dk, values, vstride, dv, slots, visible, scale, scores, out); return; }
#endif
    attend_kv_portable(q, keys, kstride, dk, values, vstride, dv, slots, visible, scale, scores, out);
}

void ck_attend(int isa, const float *q, const float *base, const int64_t *slots, size_t visible, size_t width,
               size_t koff, size_t voff, size_t d, float scale, float *scores, float *out) {
#if defined(__x86_64__)
    if (isa >= CK_ISA_AVX2) { attend_avx2(q, base, slots, visible, width, koff, voff, d, scale, scores, out); return; }
#endif
    attend_portable(q, base, slots, visible, width, koff, voff, d, scale, scores, out);
}

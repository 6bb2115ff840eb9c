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

/// Four keys' dots at once (independent chains, so the FMA latency is hidden); each dot is reduced
/// exactly as dot_avx2 reduces it alone.
CK_ATT_AVX2 static inline void dot4_avx2(const float *a, const float *b0, const float *b1, const float *b2,
                                         const float *b3, size_t n, float *s) {
    __m256 x0 = _mm256_setzero_ps(), x1 = x0, y0 = x0, y1 = x0, z0 = x0, z1 = x0, w0 = x0, w1 = x0;
    size_t i = 0;
    for (; i + 16 <= n; i += 16) {
        __m256 a0 = _mm256_loadu_ps(a + i), a1 = _mm256_loadu_ps(a + i + 8);
        x0 = _mm256_fmadd_ps(a0, _mm256_loadu_ps(b0 + i), x0); x1 = _mm256_fmadd_ps(a1, _mm256_loadu_ps(b0 + i + 8), x1);
        y0 = _mm256_fmadd_ps(a0, _mm256_loadu_ps(b1 + i), y0); y1 = _mm256_fmadd_ps(a1, _mm256_loadu_ps(b1 + i + 8), y1);
        z0 = _mm256_fmadd_ps(a0, _mm256_loadu_ps(b2 + i), z0); z1 = _mm256_fmadd_ps(a1, _mm256_loadu_ps(b2 + i + 8), z1);
        w0 = _mm256_fmadd_ps(a0, _mm256_loadu_ps(b3 + i), w0); w1 = _mm256_fmadd_ps(a1, _mm256_loadu_ps(b3 + i + 8), w1);
    }
    for (; i + 8 <= n; i += 8) {
        __m256 a0 = _mm256_loadu_ps(a + i);
        x0 = _mm256_fmadd_ps(a0, _mm256_loadu_ps(b0 + i), x0);
        y0 = _mm256_fmadd_ps(a0, _mm256_loadu_ps(b1 + i), y0);
        z0 = _mm256_fmadd_ps(a0, _mm256_loadu_ps(b2 + i), z0);
        w0 = _mm256_fmadd_ps(a0, _mm256_loadu_ps(b3 + i), w0);
    }
    s[0] = ck_hsum8_ps(_mm256_add_ps(x0, x1));
    s[1] = ck_hsum8_ps(_mm256_add_ps(y0, y1));
    s[2] = ck_hsum8_ps(_mm256_add_ps(z0, z1));
    s[3] = ck_hsum8_ps(_mm256_add_ps(w0, w1));
    for (; i < n; i++) { s[0] += a[i] * b0[i]; s[1] += a[i] * b1[i]; s[2] += a[i] * b2[i]; s[3] += a[i] * b3[i]; }
}

/// The keys-apart row: scores four keys at a time, then the weighted value sum in 32-float column
/// slices held in registers across all keys (out is read and written once per slice, not per key).
/// Every output element is still Σ_s p_s·v_s[j] in key order, as the portable loop sums it.
CK_ATT_AVX2 static void attend_kv_avx2(const float *q, const float *keys, size_t kstride, size_t dk, const float *values,
                                       size_t vstride, size_t dv, const int64_t *slots, size_t visible, float scale,
                                       float *scores, float *out) {
#define CK_POS(s) (slots ? (size_t)slots[s] : (size_t)(s))
    float m = -INFINITY;
    size_t s = 0;
    for (; s + 4 <= visible; s += 4) {
        dot4_avx2(q, keys + CK_POS(s) * kstride, keys + CK_POS(s + 1) * kstride, keys + CK_POS(s + 2) * kstride,
                  keys + CK_POS(s + 3) * kstride, dk, scores + s);
        for (size_t i = s; i < s + 4; i++) { scores[i] *= scale; m = scores[i] > m ? scores[i] : m; }
    }
    for (; s < visible; s++) {
        scores[s] = dot_avx2(q, keys + CK_POS(s) * kstride, dk) * scale;
        m = scores[s] > m ? scores[s] : m;
    }
    float total = 0;
    for (s = 0; s < visible; s++) { scores[s] = expf(scores[s] - m); total += scores[s]; }
    float inv = 1.0f / total;
    for (s = 0; s < visible; s++) scores[s] *= inv;
    size_t j = 0;
    for (; j + 32 <= dv; j += 32) {
        __m256 o0 = _mm256_loadu_ps(out + j), o1 = _mm256_loadu_ps(out + j + 8);
        __m256 o2 = _mm256_loadu_ps(out + j + 16), o3 = _mm256_loadu_ps(out + j + 24);
        for (s = 0; s < visible; s++) {
            const float *v = values + CK_POS(s) * vstride + j;
            __m256 p = _mm256_set1_ps(scores[s]);
            o0 = _mm256_fmadd_ps(p, _mm256_loadu_ps(v), o0);
            o1 = _mm256_fmadd_ps(p, _mm256_loadu_ps(v + 8), o1);
            o2 = _mm256_fmadd_ps(p, _mm256_loadu_ps(v + 16), o2);
            o3 = _mm256_fmadd_ps(p, _mm256_loadu_ps(v + 24), o3);
        }
        _mm256_storeu_ps(out + j, o0); _mm256_storeu_ps(out + j + 8, o1);
        _mm256_storeu_ps(out + j + 16, o2); _mm256_storeu_ps(out + j + 24, o3);
    }
    for (; j + 8 <= dv; j += 8) {
        __m256 o0 = _mm256_loadu_ps(out + j);
        for (s = 0; s < visible; s++)
            o0 = _mm256_fmadd_ps(_mm256_set1_ps(scores[s]), _mm256_loadu_ps(values + CK_POS(s) * vstride + j), o0);
        _mm256_storeu_ps(out + j, o0);
    }
    for (; j < dv; j++)
        for (s = 0; s < visible; s++) out[j] += scores[s] * values[CK_POS(s) * vstride + j];
#undef CK_POS
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

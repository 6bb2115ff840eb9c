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

static void attend_kv_portable(const float *q, const float *keys, size_t kstride, size_t dk, const float *values,
                               size_t vstride, size_t dv, const int64_t *slots, size_t visible, float scale,
                               float *scores, float *out) {
    float m = -INFINITY;
    for (size_t s = 0; s < visible; s++) {
        float v = dot_portable(q, keys + CK_POS(s) * kstride, dk) * scale;
        scores[s] = v;
        m = v > m ? v : m;
    }
    float total = 0;
    for (size_t s = 0; s < visible; s++) { scores[s] = expf(scores[s] - m); total += scores[s]; }
    float inv = 1.0f / total;
    for (size_t s = 0; s < visible; s++) {
        const float p = scores[s] * inv, *v = values + CK_POS(s) * vstride;
        for (size_t i = 0; i < dv; i++) out[i] += p * v[i];
    }
}

#if defined(__x86_64__)
#include "AVX2Common.h"
#include "AVX2Exp.h"
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

/// Scores of four keys at once (eight independent FMA chains instead of two); each score is reduced
/// exactly as dot_avx2 reduces it, so a position's score never depends on its neighbours.
CK_ATT_AVX2 static inline void dot4_avx2(const float *q, const float *k0, const float *k1, const float *k2,
                                         const float *k3, size_t n, float *out) {
    const float *k[4] = {k0, k1, k2, k3};
    __m256 a0[4], a1[4];
    for (int j = 0; j < 4; j++) { a0[j] = _mm256_setzero_ps(); a1[j] = _mm256_setzero_ps(); }
    size_t i = 0;
    for (; i + 16 <= n; i += 16) {
        __m256 q0 = _mm256_loadu_ps(q + i), q1 = _mm256_loadu_ps(q + i + 8);
        for (int j = 0; j < 4; j++) {
            a0[j] = _mm256_fmadd_ps(q0, _mm256_loadu_ps(k[j] + i), a0[j]);
            a1[j] = _mm256_fmadd_ps(q1, _mm256_loadu_ps(k[j] + i + 8), a1[j]);
        }
    }
    for (; i + 8 <= n; i += 8) {
        __m256 q0 = _mm256_loadu_ps(q + i);
        for (int j = 0; j < 4; j++) a0[j] = _mm256_fmadd_ps(q0, _mm256_loadu_ps(k[j] + i), a0[j]);
    }
    for (int j = 0; j < 4; j++) {
        float s = ck_hsum8_ps(_mm256_add_ps(a0[j], a1[j]));
        for (size_t t = i; t < n; t++) s += q[t] * k[j][t];
        out[j] = s;
    }
}

/// out[0..<n] += Σ_s p[s]·v_s, in ascending s per element (as the portable loop adds them), with up to
/// 64 outputs held in eight registers instead of a load and store per position.
CK_ATT_AVX2 static inline void weighted_sum_avx2(const float *p, const float *values, size_t vstride, const int64_t *slots,
                                                 size_t visible, size_t n, float *out) {
    size_t c = 0;
    for (; c + 64 <= n; c += 64) {
        __m256 acc[8];
        for (int j = 0; j < 8; j++) acc[j] = _mm256_loadu_ps(out + c + 8 * j);
        for (size_t s = 0; s < visible; s++) {
            const float *v = values + CK_POS(s) * vstride + c;
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

CK_ATT_AVX2 static void attend_kv_avx2(const float *q, const float *keys, size_t kstride, size_t dk, const float *values,
                                       size_t vstride, size_t dv, const int64_t *slots, size_t visible, float scale,
                                       float *scores, float *out) {
    float m = -INFINITY;
    size_t s = 0;
    for (; s + 4 <= visible; s += 4) {
        dot4_avx2(q, keys + CK_POS(s) * kstride, keys + CK_POS(s + 1) * kstride, keys + CK_POS(s + 2) * kstride,
                  keys + CK_POS(s + 3) * kstride, dk, scores + s);
        for (int j = 0; j < 4; j++) { scores[s + j] *= scale; m = scores[s + j] > m ? scores[s + j] : m; }
    }
    for (; s < visible; s++) {
        scores[s] = dot_avx2(q, keys + CK_POS(s) * kstride, dk) * scale;
        m = scores[s] > m ? scores[s] : m;
    }
    // Softmax numerators eight at a time, summed in eight lanes then in ck_hsum8_ps's fixed order.
    __m256 vm = _mm256_set1_ps(m), vtotal = _mm256_setzero_ps();
    for (s = 0; s + 8 <= visible; s += 8) {
        __m256 e = ck_exp_ps(_mm256_sub_ps(_mm256_loadu_ps(scores + s), vm));
        _mm256_storeu_ps(scores + s, e);
        vtotal = _mm256_add_ps(vtotal, e);
    }
    float total = ck_hsum8_ps(vtotal);
    for (; s < visible; s++) { scores[s] = expf(scores[s] - m); total += scores[s]; }
    float inv = 1.0f / total;
    for (s = 0; s < visible; s++) scores[s] *= inv;
    weighted_sum_avx2(scores, values, vstride, slots, visible, dv, out);
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
    ck_attend_kv(isa, q, base + koff, width, d, base + voff, width, d, slots, visible, scale, scores, out);
}

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

CK_ATT_AVX2 static inline void axpy_avx2(float p, const float *v, float *out, size_t n) {
    __m256 vp = _mm256_set1_ps(p);
    size_t i = 0;
    for (; i + 8 <= n; i += 8) _mm256_storeu_ps(out + i, _mm256_fmadd_ps(vp, _mm256_loadu_ps(v + i), _mm256_loadu_ps(out + i)));
    for (; i < n; i++) out[i] += p * v[i];
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

#define CK_ATT_LANES 64  // output floats kept in registers while the values stream past

/// out[0..<n] += Σ_s p[s]·v_s over the visible positions, in ascending s per element (as axpy_avx2 adds
/// them), with up to 64 outputs held in eight registers instead of a load and store per position.
CK_ATT_AVX2 static inline void weighted_sum_avx2(const float *p, const float *base, const int64_t *slots, size_t visible,
                                                 size_t width, size_t voff, size_t n, float *out) {
    size_t c = 0;
    for (; c + CK_ATT_LANES <= n; c += CK_ATT_LANES) {
        __m256 acc[8];
        for (int j = 0; j < 8; j++) acc[j] = _mm256_loadu_ps(out + c + 8 * j);
        for (size_t s = 0; s < visible; s++) {
            const float *v = base + slots[s] * width + voff + c;
            __m256 vp = _mm256_set1_ps(p[s]);
            for (int j = 0; j < 8; j++) acc[j] = _mm256_fmadd_ps(vp, _mm256_loadu_ps(v + 8 * j), acc[j]);
        }
        for (int j = 0; j < 8; j++) _mm256_storeu_ps(out + c + 8 * j, acc[j]);
    }
    if (c < n)
        for (size_t s = 0; s < visible; s++) axpy_avx2(p[s], base + slots[s] * width + voff + c, out + c, n - c);
}

CK_ATT_AVX2 static void attend_avx2(const float *q, const float *base, const int64_t *slots, size_t visible, size_t width,
                                    size_t koff, size_t voff, size_t d, float scale, float *scores, float *out) {
    float m = -INFINITY;
    size_t s = 0;
    for (; s + 4 <= visible; s += 4) {
        dot4_avx2(q, base + slots[s] * width + koff, base + slots[s + 1] * width + koff, base + slots[s + 2] * width + koff,
                  base + slots[s + 3] * width + koff, d, scores + s);
        for (int j = 0; j < 4; j++) { scores[s + j] *= scale; m = scores[s + j] > m ? scores[s + j] : m; }
    }
    for (; s < visible; s++) {
        scores[s] = dot_avx2(q, base + slots[s] * width + koff, d) * scale;
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
    weighted_sum_avx2(scores, base, slots, visible, width, voff, d, out);
}
#endif

void ck_attend(int isa, const float *q, const float *base, const int64_t *slots, size_t visible, size_t width,
               size_t koff, size_t voff, size_t d, float scale, float *scores, float *out) {
#if defined(__x86_64__)
    if (isa >= CK_ISA_AVX2) { attend_avx2(q, base, slots, visible, width, koff, voff, d, scale, scores, out); return; }
#endif
    attend_portable(q, base, slots, visible, width, koff, voff, d, scale, scores, out);
}

// Element-wise activation kernels. The portable body is plain C with libm's expf; the AVX2 variant
// evaluates e^x eight lanes at a time (AVX2Exp.h, ~1 ulp), so the two agree to a few ulp, not bit for bit.
// Each element is computed alone, so results never depend on the batch.
#include "CKernels.h"
#include <math.h>

static void silu_mul_portable(const float *gate, const float *up, float *out, size_t n) {
    for (size_t i = 0; i < n; i++) out[i] = gate[i] / (1.0f + expf(-gate[i])) * up[i];
}

#if defined(__x86_64__)
#include "AVX2Exp.h"
__attribute__((target("avx2,fma"))) static void silu_mul_avx2(const float *gate, const float *up, float *out, size_t n) {
    size_t i = 0;
    const __m256 one = _mm256_set1_ps(1.0f), zero = _mm256_setzero_ps();
    for (; i + 8 <= n; i += 8) {
        __m256 g = _mm256_loadu_ps(gate + i);
        __m256 sig = _mm256_div_ps(g, _mm256_add_ps(one, ck_exp_ps(_mm256_sub_ps(zero, g))));
        _mm256_storeu_ps(out + i, _mm256_mul_ps(sig, _mm256_loadu_ps(up + i)));
    }
    silu_mul_portable(gate + i, up + i, out + i, n - i);
}
#endif

void ck_silu_mul(int isa, const float *gate, const float *up, float *out, size_t n) {
#if defined(__x86_64__)
    if (isa >= CK_ISA_AVX2) { silu_mul_avx2(gate, up, out, n); return; }
#endif
    silu_mul_portable(gate, up, out, n);
}

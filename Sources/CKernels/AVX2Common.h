// Small x86 helpers shared by the AVX2 kernels (each carries only the target features it needs, so it
// inlines into any AVX2 caller).
#ifndef CK_AVX2_COMMON_H
#define CK_AVX2_COMMON_H
#include <immintrin.h>
#include <stdint.h>

/// fp16 bits at p (little-endian) → fp32 in one instruction; exact.
__attribute__((target("f16c"))) static inline float ck_f16c_half(const uint8_t *p) {
    return _cvtsh_ss((unsigned short)(p[0] | (p[1] << 8)));
}

/// Σ of 8 lanes in one fixed order: ((l0+l4) + (l2+l6)) + ((l1+l5) + (l3+l7)).
__attribute__((target("avx"))) static inline float ck_hsum8_ps(__m256 a) {
    __m128 h = _mm_add_ps(_mm256_castps256_ps128(a), _mm256_extractf128_ps(a, 1));
    h = _mm_add_ps(h, _mm_movehl_ps(h, h));
    h = _mm_add_ss(h, _mm_movehdup_ps(h));
    return _mm_cvtss_f32(h);
}
#endif

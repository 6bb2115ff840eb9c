// Small x86 helpers shared by the AVX2 kernels (each carries only the target features it needs, so it
// inlines into any AVX2 caller).
#ifndef CK_AVX2_COMMON_H
#define CK_AVX2_COMMON_H
#include <immintrin.h>
#include <stdint.h>
#include <string.h>

/// fp16 bits at p (little-endian) → fp32 in one instruction; exact.
__attribute__((target("f16c"))) static inline float ck_f16c_half(const uint8_t *p) {
    return _cvtsh_ss((unsigned short)(p[0] | (p[1] << 8)));
}

/// The two fp16 values at p (4 bytes: a block's d, and m for Q4_1) → fp32 lanes 0 and 1, in one
/// instruction; exact.
__attribute__((target("f16c"))) static inline __m128 ck_f16c_pair(const uint8_t *p) {
    int32_t bits;
    memcpy(&bits, p, 4);
    return _mm_cvtph_ps(_mm_cvtsi32_si128(bits));
}

/// Σ of 8 lanes in one fixed order: ((l0+l4) + (l2+l6)) + ((l1+l5) + (l3+l7)).
__attribute__((target("avx"))) static inline float ck_hsum8_ps(__m256 a) {
    __m128 h = _mm_add_ps(_mm256_castps256_ps128(a), _mm256_extractf128_ps(a, 1));
    h = _mm_add_ps(h, _mm_movehl_ps(h, h));
    h = _mm_add_ss(h, _mm_movehdup_ps(h));
    return _mm_cvtss_f32(h);
}

/// max |x| over one 32-float block's 4 vectors. NaN lanes never win max(a, acc), as in a scalar
/// `a > amax ? a : amax` loop from 0, and max is exact in any order, so it equals that loop.
__attribute__((target("avx"))) static inline float ck_block_amax(const __m256 v[4]) {
    const __m256 absMask = _mm256_castsi256_ps(_mm256_set1_epi32(0x7fffffff));
    __m256 m = _mm256_setzero_ps();
    for (int i = 0; i < 4; i++) m = _mm256_max_ps(_mm256_and_ps(v[i], absMask), m);
    __m128 h = _mm_max_ps(_mm256_castps256_ps128(m), _mm256_extractf128_ps(m, 1));
    h = _mm_max_ps(h, _mm_movehl_ps(h, h));
    h = _mm_max_ss(h, _mm_movehdup_ps(h));
    return _mm_cvtss_f32(h);
}

/// 32 int32 lanes in element order over 4 vectors (each within int8) → 32 bytes in element order.
__attribute__((target("avx2"))) static inline __m256i ck_pack_bytes(const __m256i q[4]) {
    __m256i packed = _mm256_packs_epi16(_mm256_packs_epi32(q[0], q[1]), _mm256_packs_epi32(q[2], q[3]));
    return _mm256_permutevar8x32_epi32(packed, _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7));
}
#endif

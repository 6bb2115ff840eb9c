// fp16 and bf16 bits to fp32, exact, inline (no F16C needed): the portable paths convert per element, and a
// call per element (ck_half_to_float) had made the portable fp16 attention ~7× slower than fp32. Shared by the
// weight kernels (fp16 block scales, bf16 weights) and the attention kernels (fp16/bf16 KV caches).
#ifndef CK_HALF_H
#define CK_HALF_H
#include <stdint.h>
#include <string.h>

/// fp16 bits -> fp32 (normals, subnormals, inf/nan with the payload kept). Branch-light, so loops over it
/// vectorise: the exponent is rebiased in place; a subnormal is renormalised by one float subtraction (exact);
/// inf/NaN take the rest of the exponent range. Equal to the bit-by-bit decoding on all 65,536 patterns.
static inline float ck_half_bits(uint16_t h) {
    uint32_t o = (uint32_t)(h & 0x7FFF) << 13, exp = o & 0x0F800000u;
    float f;
    o += (uint32_t)(127 - 15) << 23;
    if (exp == 0x0F800000u) {
        o += (uint32_t)(128 - 16) << 23;                 // inf / NaN
    } else if (exp == 0) {
        o += 1u << 23;                                   // subnormal (or zero): 2^-14 · (1 + m) − 2^-14
        memcpy(&f, &o, 4);
        f -= 0x1p-14f;
        memcpy(&o, &f, 4);
    }
    o |= (uint32_t)(h & 0x8000) << 16;
    memcpy(&f, &o, 4);
    return f;
}

/// bf16 bits -> fp32 (the upper half of the float's bits).
static inline float ck_bf16_to_float(uint16_t h) {
    uint32_t bits = (uint32_t)h << 16;
    float f;
    memcpy(&f, &bits, 4);
    return f;
}

#if defined(__x86_64__)
#include <immintrin.h>

/// 8 bf16 at p widened to fp32 lanes: zero-extend to 32 bits, shift into the high half.
__attribute__((target("avx2"))) static inline __m256 ck_load8_bf16(const uint16_t *p) {
    __m128i h = _mm_loadu_si128((const __m128i *)(const void *)p);
    return _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_cvtepu16_epi32(h), 16));
}
#endif

#endif

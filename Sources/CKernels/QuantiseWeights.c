// Weights quantised to GGUF blocks at load (`--quantization q8_0|q4_0` on a Hugging Face checkpoint), the
// way ggml's reference quantisers do it. The portable loops define the result; the AVX2 variant gives the
// same bytes (a checkpoint's blocks do not depend on the machine that loaded it).
//   Q8_0: d = max|x| / 127, q = round(x / d) in −127…127 (x·(1/d), rounded half away from zero).
//   Q4_0: d = m / −8 with m the block's first value of largest magnitude (sign kept), q = round(x / d) + 8
//         clamped to 0…15, so the extreme value is exact.
// The product is clamped before rounding and a NaN product (a NaN weight, or ±inf times 1/d = 0) becomes
// 0: a damaged checkpoint loads with defined blocks instead of stopping the process. d is stored as fp16,
// rounded to nearest even.
#include "CKernels.h"
#include <math.h>

/// p clamped to [lo, hi], NaN → 0, rounded half away from zero (roundf).
static inline int ck_round_clamped(float p, float lo, float hi) {
    if (p != p) return 0;
    p = p < lo ? lo : (p > hi ? hi : p);
    return (int)roundf(p);
}

static inline void ck_store_half(float v, uint8_t *out) {
    _Float16 h = (_Float16)v;
    uint16_t bits;
    __builtin_memcpy(&bits, &h, 2);
    out[0] = (uint8_t)(bits & 0xFF);
    out[1] = (uint8_t)(bits >> 8);
}

static void quantise_q8_0_portable(const float *x, size_t blocks, uint8_t *out) {
    for (size_t b = 0; b < blocks; b++, x += 32, out += 34) {
        float amax = 0;
        for (int j = 0; j < 32; j++) { float a = fabsf(x[j]); amax = a > amax ? a : amax; }
        float d = amax / 127.0f, inv = d > 0 ? 1.0f / d : 0.0f;
        ck_store_half(d, out);
        for (int j = 0; j < 32; j++) out[2 + j] = (uint8_t)(int8_t)ck_round_clamped(x[j] * inv, -127.0f, 127.0f);
    }
}

static void quantise_q4_0_portable(const float *x, size_t blocks, uint8_t *out) {
    for (size_t b = 0; b < blocks; b++, x += 32, out += 18) {
        float m = 0;
        for (int j = 0; j < 32; j++) if (fabsf(x[j]) > fabsf(m)) m = x[j];
        float d = m / -8.0f, inv = d != 0 ? 1.0f / d : 0.0f;
        ck_store_half(d, out);
        for (int j = 0; j < 16; j++) {
            int lo = ck_round_clamped(x[j] * inv, -8.0f, 7.0f) + 8, hi = ck_round_clamped(x[j + 16] * inv, -8.0f, 7.0f) + 8;
            out[2 + j] = (uint8_t)(lo | (hi << 4));
        }
    }
}

#if defined(__x86_64__)
#include "AVX2Common.h"
#define CK_QW_AVX2 __attribute__((target("avx2,f16c")))

CK_QW_AVX2 static inline void ck_store_half_f16c(float v, uint8_t *out) {
    uint16_t bits = _cvtss_sh(v, _MM_FROUND_TO_NEAREST_INT);
    out[0] = (uint8_t)(bits & 0xFF);
    out[1] = (uint8_t)(bits >> 8);
}

/// ck_round_clamped on 8 lanes: NaN → 0, clamp, then roundf exactly (truncate, add ±1 where the
/// dropped fraction is at least one half; p − trunc(p) is exact).
CK_QW_AVX2 static inline __m256i ck_round_clamped8(__m256 p, __m256 lo, __m256 hi) {
    p = _mm256_and_ps(p, _mm256_cmp_ps(p, p, _CMP_ORD_Q));
    p = _mm256_min_ps(_mm256_max_ps(p, lo), hi);
    __m256 t = _mm256_round_ps(p, _MM_FROUND_TO_ZERO | _MM_FROUND_NO_EXC);
    const __m256 absMask = _mm256_castsi256_ps(_mm256_set1_epi32(0x7fffffff)), half = _mm256_set1_ps(0.5f);
    __m256 up = _mm256_cmp_ps(_mm256_and_ps(_mm256_sub_ps(p, t), absMask), half, _CMP_GE_OQ);
    __m256 one = _mm256_or_ps(_mm256_set1_ps(1.0f), _mm256_andnot_ps(absMask, p));   // ±1 with p's sign
    return _mm256_cvttps_epi32(_mm256_add_ps(t, _mm256_and_ps(up, one)));
}

CK_QW_AVX2 static void quantise_q8_0_avx2(const float *x, size_t blocks, uint8_t *out) {
    const __m256 lo = _mm256_set1_ps(-127.0f), hi = _mm256_set1_ps(127.0f);
    for (size_t b = 0; b < blocks; b++, x += 32, out += 34) {
        __m256 v[4];
        for (int i = 0; i < 4; i++) v[i] = _mm256_loadu_ps(x + 8 * i);
        float amax = ck_block_amax(v);
        float d = amax / 127.0f, inv = d > 0 ? 1.0f / d : 0.0f;
        ck_store_half_f16c(d, out);
        __m256i q[4];
        for (int i = 0; i < 4; i++) q[i] = ck_round_clamped8(_mm256_mul_ps(v[i], _mm256_set1_ps(inv)), lo, hi);
        _mm256_storeu_si256((__m256i *)(out + 2), ck_pack_bytes(q));
    }
}

CK_QW_AVX2 static void quantise_q4_0_avx2(const float *x, size_t blocks, uint8_t *out) {
    const __m256 lo = _mm256_set1_ps(-8.0f), hi = _mm256_set1_ps(7.0f);
    const __m256i eight = _mm256_set1_epi32(8);
    const __m256 absMask = _mm256_castsi256_ps(_mm256_set1_epi32(0x7fffffff));
    for (size_t b = 0; b < blocks; b++, x += 32, out += 18) {
        __m256 v[4];
        for (int i = 0; i < 4; i++) v[i] = _mm256_loadu_ps(x + 8 * i);
        float amax = ck_block_amax(v), m = 0;   // m: the first value whose magnitude is amax (+0 if all are 0)
        if (amax > 0) {
            __m256 target = _mm256_set1_ps(amax);
            uint32_t hits = 0;
            for (int i = 0; i < 4; i++)
                hits |= (uint32_t)_mm256_movemask_ps(_mm256_cmp_ps(_mm256_and_ps(v[i], absMask), target, _CMP_EQ_OQ)) << (8 * i);
            m = x[__builtin_ctz(hits)];
        }
        float d = m / -8.0f, inv = d != 0 ? 1.0f / d : 0.0f;
        ck_store_half_f16c(d, out);
        __m256i q[4];
        for (int i = 0; i < 4; i++) q[i] = _mm256_add_epi32(ck_round_clamped8(_mm256_mul_ps(v[i], _mm256_set1_ps(inv)), lo, hi), eight);
        __m256i bytes = ck_pack_bytes(q);   // 0…15 each
        __m128i low = _mm256_castsi256_si128(bytes), high = _mm256_extracti128_si256(bytes, 1);
        _mm_storeu_si128((__m128i *)(out + 2), _mm_or_si128(low, _mm_slli_epi16(high, 4)));
    }
}
#endif

void ck_quantize_blocks(int isa, int dtype, const float *x, size_t blocks, uint8_t *out) {
#if defined(__x86_64__)
    if (isa >= CK_ISA_AVX2) {
        if (dtype == CK_Q8_0) quantise_q8_0_avx2(x, blocks, out); else quantise_q4_0_avx2(x, blocks, out);
        return;
    }
#endif
    if (dtype == CK_Q8_0) quantise_q8_0_portable(x, blocks, out); else quantise_q4_0_portable(x, blocks, out);
}

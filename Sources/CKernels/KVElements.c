// The KV cache's element types (CK_KV_F32, CK_KV_F16, CK_KV_BF16): storing fp32 rows into them and widening
// them back. Rounding is to nearest with ties to even in both paths; the AVX2 path (F16C for fp16) gives
// the portable loop's bits (for bf16, ck_f32_to_bf16, which also rounds bf16 weights).
#include "AttentionCommon.h"

/// ±the largest finite fp16: fp16 stores saturate here rather than overflow to infinity.
#define CK_F16_MAX 65504.0f

static inline uint16_t f16_bits(float x) {
    // NaN fails both comparisons and passes through; the compiler's conversion rounds to nearest even.
    float c = x > CK_F16_MAX ? CK_F16_MAX : (x < -CK_F16_MAX ? -CK_F16_MAX : x);
    _Float16 h = (_Float16)c;
    uint16_t bits;
    memcpy(&bits, &h, 2);
    return bits;
}

#if defined(__x86_64__)
#include <immintrin.h>

__attribute__((target("avx2,f16c"))) static size_t store_f16_avx2(const float *x, size_t n, uint16_t *out) {
    const __m256 hi = _mm256_set1_ps(CK_F16_MAX), lo = _mm256_set1_ps(-CK_F16_MAX);
    size_t i = 0;
    for (; i + 8 <= n; i += 8) {
        // min/max return their second operand when either is NaN: x, so a NaN stays a NaN.
        __m256 v = _mm256_max_ps(lo, _mm256_min_ps(hi, _mm256_loadu_ps(x + i)));
        _mm_storeu_si128((__m128i *)(void *)(out + i), _mm256_cvtps_ph(v, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC));
    }
    return i;
}

__attribute__((target("avx2"))) static size_t store_bf16_avx2(const float *x, size_t n, uint16_t *out) {
    const __m256i round = _mm256_set1_epi32(0x7FFF), one = _mm256_set1_epi32(1), abs = _mm256_set1_epi32(0x7FFFFFFF),
                  inf = _mm256_set1_epi32(0x7F800000), quiet = _mm256_set1_epi32(0x00400000);
    size_t i = 0;
    for (; i + 8 <= n; i += 8) {
        __m256i b = _mm256_loadu_si256((const __m256i *)(const void *)(x + i));
        __m256i rounded = _mm256_add_epi32(_mm256_add_epi32(b, round), _mm256_and_si256(_mm256_srli_epi32(b, 16), one));
        __m256i nan = _mm256_cmpgt_epi32(_mm256_and_si256(b, abs), inf);
        __m256i v = _mm256_srli_epi32(_mm256_blendv_epi8(rounded, _mm256_or_si256(b, quiet), nan), 16);
        // Pack the eight 32-bit results (each < 2^16) to 16 bits, in order.
        __m128i packed = _mm_packus_epi32(_mm256_castsi256_si128(v), _mm256_extracti128_si256(v, 1));
        _mm_storeu_si128((__m128i *)(void *)(out + i), packed);
    }
    return i;
}
#endif

void ck_kv_store(int isa, int kv, const float *x, size_t n, void *out) {
    if (kv == CK_KV_F32) { memcpy(out, x, n * sizeof(float)); return; }
    uint16_t *o = out;
    size_t i = 0;
#if defined(__x86_64__)
    if (isa >= CK_ISA_AVX2) i = kv == CK_KV_F16 ? store_f16_avx2(x, n, o) : store_bf16_avx2(x, n, o);
#else
    (void)isa;
#endif
    if (kv == CK_KV_BF16) { ck_f32_to_bf16(x + i, n - i, o + i); return; }   // the bf16 weights' rounding
    for (; i < n; i++) o[i] = f16_bits(x[i]);
}

void ck_kv_load(int kv, const void *p, size_t n, float *out) {
    if (kv == CK_KV_F32) { memcpy(out, p, n * sizeof(float)); return; }
    const uint16_t *h = p;
    for (size_t i = 0; i < n; i++) out[i] = kv == CK_KV_F16 ? ck_half_bits(h[i]) : ck_bf16_to_float(h[i]);
}

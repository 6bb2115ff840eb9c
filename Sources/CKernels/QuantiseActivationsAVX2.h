// AVX2 int8 quantisation of activations (included by QuantiseActivations.c): ck_quantize_q8's portable
// loops, bit for bit, 8 blocks at a time.
#include "AVX2Common.h"

#define CK_Q8AVX2 __attribute__((target("avx2,fma,f16c")))

/// One block of ck_quantize_q8 for AVX2, bit for bit the portable loops: the block max of |x| is
/// ck_block_amax's, the product x·inv is the same fp32 multiply, NaN products are zeroed before the ±127
/// clamp, cvtps rounds to nearest even as lrintf does, and the int8 sum is exact.
CK_Q8AVX2 static inline void quantize_q8_block_avx2(const float *xb, int8_t *qb, float *d, float *s) {
    const __m256 lo = _mm256_set1_ps(-127.0f), hi = _mm256_set1_ps(127.0f);
    __m256 v[4];
    for (int i = 0; i < 4; i++) v[i] = _mm256_loadu_ps(xb + 8 * i);
    float amax = ck_block_amax(v);
    float scale = amax / 127.0f, inv = amax > 0 ? 127.0f / amax : 0.0f;
    const __m256 vinv = _mm256_set1_ps(inv);
    __m256i iv[4], sum = _mm256_setzero_si256();
    for (int i = 0; i < 4; i++) {
        __m256 p = _mm256_mul_ps(v[i], vinv);
        p = _mm256_and_ps(p, _mm256_cmp_ps(p, p, _CMP_ORD_Q));
        iv[i] = _mm256_cvtps_epi32(_mm256_min_ps(_mm256_max_ps(p, lo), hi));
        sum = _mm256_add_epi32(sum, iv[i]);
    }
    _mm256_storeu_si256((__m256i *)qb, ck_pack_bytes(iv));
    __m128i s4 = _mm_add_epi32(_mm256_castsi256_si128(sum), _mm256_extracti128_si256(sum, 1));
    s4 = _mm_add_epi32(s4, _mm_shuffle_epi32(s4, 0x4e));
    s4 = _mm_add_epi32(s4, _mm_shuffle_epi32(s4, 0xb1));
    *d = scale;
    *s = scale * (float)_mm_cvtsi128_si32(s4);
}

/// Lane j of the result: the maximum of the 8 lanes of m[j] (exact in any order; no input is NaN).
CK_Q8AVX2 static inline __m256 ck_lane_max8(const __m256 m[8]) {
    __m256 h[4];
    for (int i = 0; i < 4; i++)   // per 128-bit half: [m0 m1 m0 m1]-style pairs of the two inputs
        h[i] = _mm256_max_ps(_mm256_unpacklo_ps(m[2 * i], m[2 * i + 1]), _mm256_unpackhi_ps(m[2 * i], m[2 * i + 1]));
    __m256 a = _mm256_max_ps(_mm256_shuffle_ps(h[0], h[1], 0x44), _mm256_shuffle_ps(h[0], h[1], 0xee));  // blocks 0–3, per half
    __m256 b = _mm256_max_ps(_mm256_shuffle_ps(h[2], h[3], 0x44), _mm256_shuffle_ps(h[2], h[3], 0xee));  // blocks 4–7
    return _mm256_max_ps(_mm256_permute2f128_ps(a, b, 0x20), _mm256_permute2f128_ps(a, b, 0x31));
}

/// Lane j of the result: the sum of the 8 lanes of m[j] (exact: int32 sums of int8 values).
CK_Q8AVX2 static inline __m256i ck_lane_sum8(const __m256i m[8]) {
    __m256i h[4];
    for (int i = 0; i < 4; i++)
        h[i] = _mm256_add_epi32(_mm256_unpacklo_epi32(m[2 * i], m[2 * i + 1]), _mm256_unpackhi_epi32(m[2 * i], m[2 * i + 1]));
    __m256i a = _mm256_add_epi32(_mm256_unpacklo_epi64(h[0], h[1]), _mm256_unpackhi_epi64(h[0], h[1]));
    __m256i b = _mm256_add_epi32(_mm256_unpacklo_epi64(h[2], h[3]), _mm256_unpackhi_epi64(h[2], h[3]));
    return _mm256_add_epi32(_mm256_permute2x128_si256(a, b, 0x20), _mm256_permute2x128_si256(a, b, 0x31));
}

/// Eight consecutive blocks at once: the same per-block arithmetic as quantize_q8_block_avx2 (so the same
/// bits), with the 8 maxima, the two divisions and the 8 sums each done once in a vector.
CK_Q8AVX2 static inline void quantize_q8_8blocks_avx2(const float *x, int8_t *q, float *d, float *s) {
    const __m256 absMask = _mm256_castsi256_ps(_mm256_set1_epi32(0x7fffffff));
    const __m256 lo = _mm256_set1_ps(-127.0f), hi = _mm256_set1_ps(127.0f), c127 = _mm256_set1_ps(127.0f);
    __m256 m[8];
    for (int j = 0; j < 8; j++) {
        // ck_block_amax's order: max(|v|, m) keeps m where v is NaN.
        __m256 a = _mm256_setzero_ps();
        for (int i = 0; i < 4; i++) a = _mm256_max_ps(_mm256_and_ps(_mm256_loadu_ps(x + 32 * j + 8 * i), absMask), a);
        m[j] = a;
    }
    const __m256 amax = ck_lane_max8(m);
    const __m256 scale = _mm256_div_ps(amax, c127);
    const __m256 inv = _mm256_and_ps(_mm256_div_ps(c127, amax), _mm256_cmp_ps(amax, _mm256_setzero_ps(), _CMP_GT_OQ));
    float invs[8];
    _mm256_storeu_ps(invs, inv);
    __m256i sums[8];
    for (int j = 0; j < 8; j++) {
        const __m256 vinv = _mm256_broadcast_ss(&invs[j]);
        __m256i iv[4], sum = _mm256_setzero_si256();
        for (int i = 0; i < 4; i++) {
            __m256 p = _mm256_mul_ps(_mm256_loadu_ps(x + 32 * j + 8 * i), vinv);
            p = _mm256_and_ps(p, _mm256_cmp_ps(p, p, _CMP_ORD_Q));
            iv[i] = _mm256_cvtps_epi32(_mm256_min_ps(_mm256_max_ps(p, lo), hi));
            sum = _mm256_add_epi32(sum, iv[i]);
        }
        _mm256_storeu_si256((__m256i *)(q + 32 * j), ck_pack_bytes(iv));
        sums[j] = sum;
    }
    _mm256_storeu_ps(d, scale);
    _mm256_storeu_ps(s, _mm256_mul_ps(scale, _mm256_cvtepi32_ps(ck_lane_sum8(sums))));
}

/// ck_quantize_q8 for AVX2. Rows are contiguous and k is a multiple of 32, so the blocks of all rows
/// are one run: block i is x[32i...], q[32i...], d[i], s[i].
CK_Q8AVX2 static void quantize_q8_avx2(const float *x, size_t rows, size_t k, int8_t *q, float *d, float *s) {
    size_t blocks = rows * (k / 32), i = 0;
    for (; i + 8 <= blocks; i += 8) quantize_q8_8blocks_avx2(x + 32 * i, q + 32 * i, d + i, s + i);
    for (; i < blocks; i++) quantize_q8_block_avx2(x + 32 * i, q + 32 * i, d + i, s + i);
}

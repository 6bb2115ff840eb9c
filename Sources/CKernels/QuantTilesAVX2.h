// AVX2 and AVX-512 VNNI kernels over 8-row tiles (included by QuantTiles.c; see there for the layout and
// the numerics both reproduce bit for bit). Both run on 256-bit vectors: lane r is row r of the tile. The
// VNNI variant forms each lane's exact 4-product sum with one vpdpbusd where AVX2 needs maddubs + madd.
#include <immintrin.h>

/// How far ahead of the block in use the first token's pass prefetches (a tile block is 144–272 bytes).
#define CK_TILE_PREFETCH_BYTES 1024

/// One token × one tile: y[r] for the tile's 8 rows. DOT4(w, x) and DOT8(w, x, corr) give a lane's exact
/// int32 sums for the 8 rows (w: their 4 bytes each, x: the token's 4 activations broadcast) for Q4 and
/// for Q8_0 (stored + 128; `corr` points at the lane's −128·Σx).
#define CK_TILE_KERNEL(NAME, TARGET, DOT4, DOT8)                                                                     \
    __attribute__((target(TARGET))) static inline __attribute__((always_inline)) void                        \
    NAME##_body(const int dtype, const uint8_t *tile, size_t nb, const int8_t *xq, const float *xd,          \
                const float *xs, const int32_t *corr, float *y, int prefetch) {                              \
        const size_t tb = ck_tile_block_bytes(dtype);                                                        \
        const __m256i nibble = _mm256_set1_epi8(0x0F);                                                       \
        __m256 acc[8], off = _mm256_setzero_ps();                                                            \
        for (int l = 0; l < 8; l++) acc[l] = _mm256_setzero_ps();                                            \
        for (size_t b = 0; b < nb; b++) {                                                                    \
            const uint8_t *o = tile + b * tb;                                                                \
            if (prefetch) {                                                                                  \
                for (size_t p = 0; p < tb; p += 64) _mm_prefetch((const char *)o + CK_TILE_PREFETCH_BYTES + p, _MM_HINT_T0); \
            }                                                                                                \
            const int8_t *xb = xq + 32 * b;                                                                  \
            const __m256 dw = _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(o + (dtype == CK_Q8_0 ? 256 : 128)))); \
            const __m256 dd = _mm256_mul_ps(dw, _mm256_broadcast_ss(xd + b));                                \
            if (dtype == CK_Q8_0) {                                                                          \
                for (int l = 0; l < 8; l++) {                                                                \
                    int32_t xl;                                                                              \
                    memcpy(&xl, xb + 4 * l, 4);                                                              \
                    __m256i w = _mm256_loadu_si256((const __m256i *)(o + 32 * l));                           \
                    __m256i s = DOT8(w, _mm256_set1_epi32(xl), corr + 8 * b + l);                             \
                    acc[l] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(s), dd, acc[l]);                             \
                }                                                                                            \
                continue;                                                                                    \
            }                                                                                                \
            const __m256 mw = dtype == CK_Q4_1 ? _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(o + 144)))  \
                                               : _mm256_mul_ps(_mm256_set1_ps(-8.0f), dw);                  \
            const __m256 p = _mm256_mul_ps(mw, _mm256_broadcast_ss(xs + b));                                 \
            off = _mm256_add_ps(off, p); /* separate statement: never contracted into an FMA */              \
            for (int i = 0; i < 4; i++) {                                                                    \
                int32_t xlo, xhi;                                                                            \
                memcpy(&xlo, xb + 4 * i, 4);                                                                 \
                memcpy(&xhi, xb + 16 + 4 * i, 4);                                                            \
                __m256i w = _mm256_loadu_si256((const __m256i *)(o + 32 * i));                               \
                __m256i lo = _mm256_and_si256(w, nibble), hi = _mm256_and_si256(_mm256_srli_epi16(w, 4), nibble); \
                __m256i slo = DOT4(lo, _mm256_set1_epi32(xlo)), shi = DOT4(hi, _mm256_set1_epi32(xhi)); \
                acc[i] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(slo), dd, acc[i]);                               \
                acc[i + 4] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(shi), dd, acc[i + 4]);                       \
            }                                                                                                \
        }                                                                                                    \
        __m256 h0 = _mm256_add_ps(acc[0], acc[4]), h1 = _mm256_add_ps(acc[1], acc[5]);                       \
        __m256 h2 = _mm256_add_ps(acc[2], acc[6]), h3 = _mm256_add_ps(acc[3], acc[7]);                       \
        __m256 g = _mm256_add_ps(_mm256_add_ps(h0, h2), _mm256_add_ps(h1, h3));                              \
        _mm256_storeu_ps(y, dtype == CK_Q8_0 ? g : _mm256_add_ps(g, off));                                   \
    }                                                                                                        \
    __attribute__((target(TARGET))) static void NAME(int dtype, const uint8_t *tile, size_t nb, const int8_t *xq, \
                                                     const float *xd, const float *xs, const int32_t *corr,   \
                                                     float *y, int prefetch) {                                \
        switch (dtype) { /* one copy per format: no format branches in the block loop */                     \
        case CK_Q4_0: NAME##_body(CK_Q4_0, tile, nb, xq, xd, xs, corr, y, prefetch); break;                  \
        case CK_Q4_1: NAME##_body(CK_Q4_1, tile, nb, xq, xd, xs, corr, y, prefetch); break;                  \
        default: NAME##_body(CK_Q8_0, tile, nb, xq, xd, xs, corr, y, prefetch); break;                       \
        }                                                                                                    \
    }

/// AVX2: unsigned Q4 bytes × signed activations through maddubs (pairs of products ≤ 2·15·127, no
/// saturation) + madd; Q8_0 recovers the signed weight (^ 0x80) and multiplies |w| by x·sign(w), as the
/// row kernel does (pairs ≤ 2·128·127).
#define CK_TILE_DOT4_AVX2(w, x) _mm256_madd_epi16(_mm256_maddubs_epi16(w, x), _mm256_set1_epi16(1))
#define CK_TILE_DOT8_AVX2(w, x, corr) ck_tile_dot_q8_avx2(w, x)

__attribute__((target("avx2"))) static inline __m256i ck_tile_dot_q8_avx2(__m256i biased, __m256i x) {
    __m256i w = _mm256_xor_si256(biased, _mm256_set1_epi8((char)0x80));
    return _mm256_madd_epi16(_mm256_maddubs_epi16(_mm256_sign_epi8(w, w), _mm256_sign_epi8(x, w)), _mm256_set1_epi16(1));
}

/// VNNI: vpdpbusd adds the 4 exact products of (unsigned weight byte × signed activation) to each lane.
/// Q4 lanes start from zero; Q8_0's from −128·Σ of the 4 activations (`corr`), which removes the + 128
/// the weights are stored with, exactly.
#define CK_TILE_DOT4_VNNI(w, x) _mm256_dpbusd_epi32(_mm256_setzero_si256(), w, x)
#define CK_TILE_DOT8_VNNI(w, x, corr) _mm256_dpbusd_epi32(_mm256_set1_epi32(*(corr)), w, x)

CK_TILE_KERNEL(tile_avx2, "avx2,fma,f16c", CK_TILE_DOT4_AVX2, CK_TILE_DOT8_AVX2)
CK_TILE_KERNEL(tile_vnni, "avx2,fma,f16c,avx512f,avx512vl,avx512vnni", CK_TILE_DOT4_VNNI, CK_TILE_DOT8_VNNI)

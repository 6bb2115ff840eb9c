// AVX2 and AVX-512 VNNI kernels over 8-row tiles (included by QuantTiles.c; see there for the layout and
// the numerics all reproduce bit for bit). These run on 256-bit vectors, lane r row r of the tile (the VNNI
// pair kernel at the end takes two tiles in 512-bit vectors). A
// block's 32 products go into four int32 vectors (exact, so their order is free) that are added at the end
// of the block; the VNNI variant forms each 4-product step with one vpdpbusd where AVX2 needs maddubs +
// madd + add.
#include <immintrin.h>

/// How far ahead of the block in use the first token's pass prefetches (a tile block is 144–272 bytes).
#define CK_TILE_PREFETCH_BYTES 1024

/// TT (1, 2 or 4) tokens × one tile. DOT4(acc, w, x) adds to acc the exact sums of 4 products per lane (w:
/// unsigned Q4 bytes, x: the token's 4 activations broadcast); DOT8(acc, w, x) the same for Q8_0 weights
/// stored + 128; Q8_INIT(c) is where a Q8_0 block's sum starts (c: −128·Σ of the block's activations).
#define CK_TILE_KERNEL(NAME, TARGET, DOT4, DOT8, Q8_INIT)                                                   \
    __attribute__((target(TARGET))) static inline __attribute__((always_inline)) void                        \
    NAME##_body(const int dtype, const int TT, const uint8_t *tile, size_t nb, const int8_t *const *xq,     \
                const float *const *xd, const float *const *xs, const int32_t *const *corr, float (*y)[8],   \
                int prefetch) {                                                                              \
        const size_t tb = ck_tile_block_bytes(dtype);                                                        \
        const __m256i nibble = _mm256_set1_epi8(0x0F);                                                       \
        __m256 acc[4], off[4];                                                                               \
        for (int t = 0; t < TT; t++) acc[t] = off[t] = _mm256_setzero_ps();                                 \
        for (size_t b = 0; b < nb; b++) {                                                                    \
            const uint8_t *o = tile + b * tb;                                                                \
            if (prefetch) {                                                                                  \
                for (size_t p = 0; p < tb; p += 64) _mm_prefetch((const char *)o + CK_TILE_PREFETCH_BYTES + p, _MM_HINT_T0); \
            }                                                                                                \
            const __m256 dw = _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(o + ck_tile_d_offset(dtype)))); \
            __m256i s[4][4];                                                                                 \
            if (dtype == CK_Q8_0) {                                                                          \
                for (int t = 0; t < TT; t++) {                                                               \
                    s[t][0] = Q8_INIT(corr[t][b]);                                                           \
                    s[t][1] = s[t][2] = s[t][3] = _mm256_setzero_si256();                                   \
                }                                                                                            \
                for (int l = 0; l < 8; l++) {                                                                \
                    __m256i w = _mm256_loadu_si256((const __m256i *)(o + 32 * l));                           \
                    for (int t = 0; t < TT; t++) {                                                           \
                        int32_t x4;                                                                          \
                        memcpy(&x4, xq[t] + 32 * b + 4 * l, 4);                                              \
                        s[t][l % 4] = DOT8(s[t][l % 4], w, _mm256_set1_epi32(x4));                           \
                    }                                                                                        \
                }                                                                                            \
            } else {                                                                                         \
                const __m256 mw = dtype == CK_Q4_1 ? _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(o + CK_TILE_M_OFFSET))) \
                                                   : _mm256_mul_ps(_mm256_set1_ps(-8.0f), dw);              \
                for (int t = 0; t < TT; t++) {                                                               \
                    const __m256 p = _mm256_mul_ps(mw, _mm256_broadcast_ss(xs[t] + b));                      \
                    off[t] = _mm256_add_ps(off[t], p); /* separate statement: never contracted into an FMA */ \
                    for (int i = 0; i < 4; i++) s[t][i] = _mm256_setzero_si256();                            \
                }                                                                                            \
                for (int i = 0; i < 4; i++) {                                                                \
                    __m256i w = _mm256_loadu_si256((const __m256i *)(o + 32 * i));                           \
                    __m256i lo = _mm256_and_si256(w, nibble), hi = _mm256_and_si256(_mm256_srli_epi16(w, 4), nibble); \
                    for (int t = 0; t < TT; t++) {                                                           \
                        int32_t xlo, xhi;                                                                    \
                        memcpy(&xlo, xq[t] + 32 * b + 4 * i, 4);                                             \
                        memcpy(&xhi, xq[t] + 32 * b + 16 + 4 * i, 4);                                        \
                        s[t][i] = DOT4(DOT4(s[t][i], lo, _mm256_set1_epi32(xlo)), hi, _mm256_set1_epi32(xhi)); \
                    }                                                                                        \
                }                                                                                            \
            }                                                                                                \
            for (int t = 0; t < TT; t++) {                                                                   \
                __m256i isum = _mm256_add_epi32(_mm256_add_epi32(s[t][0], s[t][1]), _mm256_add_epi32(s[t][2], s[t][3])); \
                acc[t] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(isum), _mm256_mul_ps(dw, _mm256_broadcast_ss(xd[t] + b)), acc[t]); \
            }                                                                                                \
        }                                                                                                    \
        for (int t = 0; t < TT; t++) _mm256_storeu_ps(y[t], dtype == CK_Q8_0 ? acc[t] : _mm256_add_ps(acc[t], off[t])); \
    }                                                                                                        \
    __attribute__((target(TARGET))) static void NAME(int dtype, const uint8_t *tile, size_t nb, int tokens,  \
                                                     const int8_t *const *xq, const float *const *xd,         \
                                                     const float *const *xs, const int32_t *const *corr,      \
                                                     float (*y)[8], int prefetch) {                           \
        /* one copy per format and token count: no branches on either in the block loop */                  \
        if (tokens == 4) CK_TILE_FORMATS(NAME, 4)                                                            \
        if (tokens == 2) CK_TILE_FORMATS(NAME, 2)                                                            \
        CK_TILE_FORMATS(NAME, 1)                                                                             \
    }

/// NAME##_body for TT tokens with the format a constant in each copy (inside NAME: its arguments in scope).
#define CK_TILE_FORMATS(NAME, TT)                                                                            \
    switch (dtype) {                                                                                         \
    case CK_Q4_0: NAME##_body(CK_Q4_0, TT, tile, nb, xq, xd, xs, corr, y, prefetch); return;                 \
    case CK_Q4_1: NAME##_body(CK_Q4_1, TT, tile, nb, xq, xd, xs, corr, y, prefetch); return;                 \
    default: NAME##_body(CK_Q8_0, TT, tile, nb, xq, xd, xs, corr, y, prefetch); return;                      \
    }

/// AVX2: unsigned Q4 bytes × signed activations through maddubs (pairs of products ≤ 2·15·127, no
/// saturation) + madd; Q8_0 recovers the signed weight (^ 0x80) and multiplies |w| by x·sign(w) (pairs
/// ≤ 2·128·127). Q8_0 blocks start from 0: the weights are recovered exactly.
#define CK_TILE_DOT4_AVX2(acc, w, x) _mm256_add_epi32(acc, _mm256_madd_epi16(_mm256_maddubs_epi16(w, x), _mm256_set1_epi16(1)))
#define CK_TILE_DOT8_AVX2(acc, w, x) _mm256_add_epi32(acc, ck_tile_dot_q8_avx2(w, x))
#define CK_TILE_Q8_INIT_AVX2(c) _mm256_setzero_si256()

__attribute__((target("avx2"))) static inline __m256i ck_tile_dot_q8_avx2(__m256i biased, __m256i x) {
    __m256i w = _mm256_xor_si256(biased, _mm256_set1_epi8((char)0x80));
    return _mm256_madd_epi16(_mm256_maddubs_epi16(_mm256_sign_epi8(w, w), _mm256_sign_epi8(x, w)), _mm256_set1_epi16(1));
}

/// VNNI: vpdpbusd adds the 4 exact products of (unsigned weight byte × signed activation) to each lane.
/// Q8_0 weights are multiplied as stored (+ 128) and the block sum starts from −128·Σx.
#define CK_TILE_DOT_VNNI(acc, w, x) _mm256_dpbusd_epi32(acc, w, x)
#define CK_TILE_Q8_INIT_VNNI(c) _mm256_set1_epi32(c)

CK_TILE_KERNEL(tile_avx2, "avx2,fma,f16c", CK_TILE_DOT4_AVX2, CK_TILE_DOT8_AVX2, CK_TILE_Q8_INIT_AVX2)
CK_TILE_KERNEL(tile_vnni, "avx2,fma,f16c,avx512f,avx512vl,avx512vnni", CK_TILE_DOT_VNNI, CK_TILE_DOT_VNNI,
               CK_TILE_Q8_INIT_VNNI)

/// VNNI over two neighbouring tiles at once: 16 rows in 512-bit vectors, lanes 0–7 the first tile's rows
/// and 8–15 the second's. Each lane runs tile_vnni's operations in tile_vnni's order, so the bits are the
/// same; one instruction serves 16 rows, which halves the instructions per row. Zen 4 runs 512-bit work on
/// its 256-bit units, so the gain is in the front end and the out-of-order window, not the arithmetic (16
/// sequences of SmolLM2 keep ~2 blocks of the 8-row kernel in flight and wait on each block's chain of
/// vpdpbusd → add → convert → fma). Needs only AVX-512F and VNNI: the high nibbles are shifted in 32-bit
/// lanes (the mask drops what crosses a byte).
#define CK_TILE16_TARGET "avx2,fma,f16c,avx512f,avx512vnni"

__attribute__((target(CK_TILE16_TARGET))) static inline __m512i ck_tile16_load(const uint8_t *a, const uint8_t *b) {
    return _mm512_inserti64x4(_mm512_castsi256_si512(_mm256_loadu_si256((const __m256i *)a)),
                              _mm256_loadu_si256((const __m256i *)b), 1);
}

__attribute__((target(CK_TILE16_TARGET))) static inline __m512 ck_tile16_halves(const uint8_t *a, const uint8_t *b) {
    __m256i h = _mm256_inserti128_si256(_mm256_castsi128_si256(_mm_loadu_si128((const __m128i *)a)),
                                        _mm_loadu_si128((const __m128i *)b), 1);
    return _mm512_cvtph_ps(h);
}

__attribute__((target(CK_TILE16_TARGET))) static inline __attribute__((always_inline)) void
tile_vnni16_body(const int dtype, const int TT, const uint8_t *ta, const uint8_t *tb2, size_t nb, const int8_t *const *xq,
                 const float *const *xd, const float *const *xs, const int32_t *const *corr, float (*y)[16], int prefetch) {
    const size_t tb = ck_tile_block_bytes(dtype), dpos = ck_tile_d_offset(dtype);
    const __m512i nibble = _mm512_set1_epi8(0x0F);
    __m512 acc[4], off[4];
    for (int t = 0; t < TT; t++) acc[t] = off[t] = _mm512_setzero_ps();
    for (size_t b = 0; b < nb; b++) {
        const uint8_t *oa = ta + b * tb, *ob = tb2 + b * tb;
        if (prefetch) {
            // Each tile's stream runs ahead of itself (the first's into the second, the second's into the
            // next pair's first tile); the next pair's second tile starts a stream of its own, so its first
            // blocks are fetched during this pair's first ones.
            const uint8_t *next = ob + 2 * nb * tb;
            for (size_t p = 0; p < tb; p += 64) {
                _mm_prefetch((const char *)oa + CK_TILE_PREFETCH_BYTES + p, _MM_HINT_T0);
                _mm_prefetch((const char *)ob + CK_TILE_PREFETCH_BYTES + p, _MM_HINT_T0);
                if (b * tb < CK_TILE_PREFETCH_BYTES) _mm_prefetch((const char *)next + p, _MM_HINT_T0);
            }
        }
        const __m512 dw = ck_tile16_halves(oa + dpos, ob + dpos);
        __m512i s[4][4];
        if (dtype == CK_Q8_0) {
            for (int t = 0; t < TT; t++) {
                s[t][0] = _mm512_set1_epi32(corr[t][b]);
                s[t][1] = s[t][2] = s[t][3] = _mm512_setzero_si512();
            }
            for (int i = 0; i < 4; i++) {   // vectors i and i + 4 into sum i (the Q4 loop's shape: no spills)
                __m512i w0 = ck_tile16_load(oa + 32 * i, ob + 32 * i), w1 = ck_tile16_load(oa + 32 * (i + 4), ob + 32 * (i + 4));
                for (int t = 0; t < TT; t++) {
                    int32_t x0, x1;
                    memcpy(&x0, xq[t] + 32 * b + 4 * i, 4);
                    memcpy(&x1, xq[t] + 32 * b + 16 + 4 * i, 4);
                    s[t][i] = _mm512_dpbusd_epi32(_mm512_dpbusd_epi32(s[t][i], w0, _mm512_set1_epi32(x0)), w1, _mm512_set1_epi32(x1));
                }
            }
        } else {
            const __m512 mw = dtype == CK_Q4_1 ? ck_tile16_halves(oa + CK_TILE_M_OFFSET, ob + CK_TILE_M_OFFSET)
                                               : _mm512_mul_ps(_mm512_set1_ps(-8.0f), dw);
            for (int t = 0; t < TT; t++) {
                const __m512 p = _mm512_mul_ps(mw, _mm512_set1_ps(xs[t][b]));
                off[t] = _mm512_add_ps(off[t], p); /* separate statement: never contracted into an FMA */
                for (int i = 0; i < 4; i++) s[t][i] = _mm512_setzero_si512();
            }
            for (int i = 0; i < 4; i++) {
                __m512i w = ck_tile16_load(oa + 32 * i, ob + 32 * i);
                __m512i lo = _mm512_and_si512(w, nibble), hi = _mm512_and_si512(_mm512_srli_epi32(w, 4), nibble);
                for (int t = 0; t < TT; t++) {
                    int32_t xlo, xhi;
                    memcpy(&xlo, xq[t] + 32 * b + 4 * i, 4);
                    memcpy(&xhi, xq[t] + 32 * b + 16 + 4 * i, 4);
                    s[t][i] = _mm512_dpbusd_epi32(_mm512_dpbusd_epi32(s[t][i], lo, _mm512_set1_epi32(xlo)), hi, _mm512_set1_epi32(xhi));
                }
            }
        }
        for (int t = 0; t < TT; t++) {
            __m512i isum = _mm512_add_epi32(_mm512_add_epi32(s[t][0], s[t][1]), _mm512_add_epi32(s[t][2], s[t][3]));
            acc[t] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(isum), _mm512_mul_ps(dw, _mm512_set1_ps(xd[t][b])), acc[t]);
        }
    }
    for (int t = 0; t < TT; t++) _mm512_storeu_ps(y[t], dtype == CK_Q8_0 ? acc[t] : _mm512_add_ps(acc[t], off[t]));
}

/// tile_vnni16_body with the format and token count constant in each copy.
__attribute__((target(CK_TILE16_TARGET))) static void tile_vnni16(int dtype, const uint8_t *ta, const uint8_t *tb2, size_t nb,
                                                                   int tokens, const int8_t *const *xq, const float *const *xd,
                                                                   const float *const *xs, const int32_t *const *corr,
                                                                   float (*y)[16], int prefetch) {
#define CK_TILE16_FORMATS(TT)                                                                                 \
    switch (dtype) {                                                                                         \
    case CK_Q4_0: tile_vnni16_body(CK_Q4_0, TT, ta, tb2, nb, xq, xd, xs, corr, y, prefetch); return;          \
    case CK_Q4_1: tile_vnni16_body(CK_Q4_1, TT, ta, tb2, nb, xq, xd, xs, corr, y, prefetch); return;          \
    default: tile_vnni16_body(CK_Q8_0, TT, ta, tb2, nb, xq, xd, xs, corr, y, prefetch); return;               \
    }
    if (tokens == 4) CK_TILE16_FORMATS(4)
    if (tokens == 2) CK_TILE16_FORMATS(2)
    CK_TILE16_FORMATS(1)
#undef CK_TILE16_FORMATS
}

// AVX2 (+FMA, F16C) int8-activation matmul of GGUF block rows (included by QuantMatmulQ8.c).
// Per (row, token, block): maddubs + madd give 8 exact int32 lane sums, one FMA adds them scaled by
// d_w·d_x. The reduction is the one the portable code defines (see QuantMatmulQ8.c), so results are
// bit-identical to it for decode and for packed token groups alike.
#include "AVX2Common.h"
#include "BlockFormat.h"
#include "ThreadScratch.h"
#include <string.h>

#define CK_Q8AVX2 __attribute__((target("avx2,fma,f16c")))
/// How far ahead of the block in use decode prefetches. Two threads streaming Q8_0 matrices that miss the
/// caches (1 KB against 2 KB, interleaved in one process, GB/s): 512 × 1024 (an expert) medians 16.4 → 17.7,
/// 2 KB ahead in 4 of 5 runs; 1024 × 1024 17.0, 18.1 → 20.0, 19.2; SmolLM2's 49,152 × 576 head 18.4, 17.8,
/// 16.6 → 20.2, 20.2, 17.8. Q4_1 rows are bound by the arithmetic (~12 GB/s) and gain nothing either way.
#define CK_Q8_PREFETCH_BYTES 2048

/// The block's 32 weight values as bytes in element order (Q4: 0..15 unsigned; Q8_0: signed). Q4's 16
/// nibble bytes are broadcast to both halves and shifted by 0 (low half) or 4 (high half) in one variable shift.
CK_Q8AVX2 static inline __m256i ck_q8_wbytes(int dtype, const uint8_t *blk) {
    if (dtype == CK_Q8_0) return _mm256_loadu_si256((const __m256i *)(blk + 2));
    const __m256i shift = _mm256_setr_epi32(0, 0, 0, 0, 4, 4, 4, 4);
    __m256i raw = _mm256_broadcastsi128_si256(_mm_loadu_si128((const __m128i *)(blk + (dtype == CK_Q4_1 ? 4 : 2))));
    return _mm256_and_si256(_mm256_srlv_epi32(raw, shift), _mm256_set1_epi8(0x0F));
}


/// y[0] = row · token for one weight row `wr` and one token (decode): per block, maddubs + madd give
/// the 8 exact int32 lane sums and one FMA adds them scaled by d_w·d_x.
CK_Q8AVX2 static inline __attribute__((always_inline)) void
ck_q8_dot(const int dtype, const uint8_t *wr, size_t nb, const int8_t *xq, const float *xd,
          const float *xs, float *y) {
    __m256 acc = _mm256_setzero_ps();
    float off = 0;
    const __m256i ones = _mm256_set1_epi16(1);
    for (size_t b = 0; b < nb; b++) {
        const uint8_t *blk = wr + b * ck_q8_block_bytes(dtype);
        // Decode reads each weight once from memory, so it prefetches (as the fp32 path does: ~1.35× on a
        // cold SmolLM2-sized sweep), CK_Q8_PREFETCH_BYTES ahead.
        _mm_prefetch((const char *)blk + CK_Q8_PREFETCH_BYTES, _MM_HINT_T0);
        __m256i wv = ck_q8_wbytes(dtype, blk), x = _mm256_loadu_si256((const __m256i *)(xq + 32 * b));
        float dw = ck_f16c_half(blk);
        __m256i prod = dtype == CK_Q8_0 ? _mm256_maddubs_epi16(_mm256_sign_epi8(wv, wv), _mm256_sign_epi8(x, wv))
                                        : _mm256_maddubs_epi16(wv, x);
        __m256 lanes = _mm256_cvtepi32_ps(_mm256_madd_epi16(prod, ones));
        acc = _mm256_fmadd_ps(lanes, _mm256_set1_ps(dw * xd[b]), acc);
        if (dtype != CK_Q8_0) {
            float mw = dtype == CK_Q4_1 ? ck_f16c_half(blk + 2) : -8.0f * dw;
            float p = mw * xs[b];  // separate statement: never contracted into an FMA
            off += p;
        }
    }
    *y = ck_hsum8_ps(acc) + off;
}

/// The activation scales of one token for ck_q4_dot, interleaved: sc[2b] = xd[b], sc[2b + 1] = xs[b], and
/// two zeros after the last pair (the dot reads four floats at a time).
static inline void ck_q4_scale_pairs(const float *xd, const float *xs, size_t nb, float *sc) {
    for (size_t b = 0; b < nb; b++) { sc[2 * b] = xd[b]; sc[2 * b + 1] = xs[b]; }
    sc[2 * nb] = sc[2 * nb + 1] = 0;
}

/// One block of ck_q4_dot. The block's fp16 pair (d, m) is converted in one instruction and multiplied by
/// (xd, xs) in one, giving d·xd in lane 0 and m·xs in lane 1. Lane 1 of `off` is then the scalar sum of m·xs
/// in block order and the FMA adds the 8 lanes scaled by d·xd, as ck_q8_dot does.
CK_Q8AVX2 static inline __attribute__((always_inline)) void
ck_q4_block(const int dtype, const uint8_t *blk, const int8_t *xb, const float *scb, __m256 *acc, __m128 *off) {
    const __m256i ones = _mm256_set1_epi16(1);
    __m256i wv = ck_q8_wbytes(dtype, blk);
    __m128 h = ck_f16c_pair(blk);
    // Q4_0's min is −8·d (exact: a power-of-two multiple of an fp16 value).
    if (dtype == CK_Q4_0) h = _mm_mul_ps(_mm_moveldup_ps(h), _mm_setr_ps(1.0f, -8.0f, 1.0f, 1.0f));
    __m128 s = _mm_mul_ps(h, _mm_loadu_ps(scb));
    *off = _mm_add_ps(*off, s);
    __m256i prod = _mm256_maddubs_epi16(wv, _mm256_loadu_si256((const __m256i *)xb));
    __m256 lanes = _mm256_cvtepi32_ps(_mm256_madd_epi16(prod, ones));
    *acc = _mm256_fmadd_ps(lanes, _mm256_broadcastss_ps(s), *acc);
}

/// ck_q8_dot for Q4_0/Q4_1 rows (decode), bit for bit: the same products, FMAs and sums in the same
/// order, in ~10 vector operations per block instead of ~16 (1.2–1.35× faster single-threaded, from L2
/// and from memory). `sc` holds the token's scale pairs (ck_q4_scale_pairs).
CK_Q8AVX2 static inline __attribute__((always_inline)) void
ck_q4_dot(const int dtype, const uint8_t *wr, size_t nb, const int8_t *xq, const float *sc, float *y) {
    const size_t bb = ck_q8_block_bytes(dtype);
    __m256 acc = _mm256_setzero_ps();
    __m128 off = _mm_setzero_ps();
    size_t b = 0;
    for (; b + 1 < nb; b += 2) {  // two blocks (36–40 bytes) per prefetch: still one per cache line
        const uint8_t *blk = wr + b * bb;
        _mm_prefetch((const char *)blk + CK_Q8_PREFETCH_BYTES, _MM_HINT_T0);
        ck_q4_block(dtype, blk, xq + 32 * b, sc + 2 * b, &acc, &off);
        ck_q4_block(dtype, blk + bb, xq + 32 * (b + 1), sc + 2 * (b + 1), &acc, &off);
    }
    if (b < nb) ck_q4_block(dtype, wr + b * bb, xq + 32 * b, sc + 2 * b, &acc, &off);
    *y = ck_hsum8_ps(acc) + _mm_cvtss_f32(_mm_movehdup_ps(off));
}

// Prompts and batches: CK_Q8_GROUP tokens at a time are packed so that one weight row meets all of them
// block by block: xg[b][t][32] (the tokens' int8 block b side by side), xd[b][t] and xs[b][t] (their
// scales and sums). One row × the group then keeps a group's accumulators in registers, decodes each
// weight block once for all of them, and addresses every activation from one pointer (the unpacked
// layout needed a pointer per token, and the spilled pointers cost more than the arithmetic). The Q4
// minimum terms of the group add up in one vector, lane t for token t, in block order as the scalar sum.
#define CK_Q8_GROUP 8

typedef struct { int8_t *xg; float *xd, *xs; } ck_q8_packed;

static size_t ck_q8_packed_bytes(size_t nb) { return nb * (32 * CK_Q8_GROUP + 2 * CK_Q8_GROUP * sizeof(float)); }

static ck_q8_packed ck_q8_pack_at(void *buffer, size_t nb) {
    ck_q8_packed p;
    p.xg = buffer;
    p.xd = (float *)(p.xg + nb * 32 * CK_Q8_GROUP);
    p.xs = p.xd + nb * CK_Q8_GROUP;
    return p;
}

/// Tokens in group g (tokens g·CK_Q8_GROUP …): CK_Q8_GROUP, or fewer in the last group.
static inline int ck_q8_group_tokens(size_t tokens, size_t g) {
    size_t left = tokens - g * CK_Q8_GROUP;
    return left < CK_Q8_GROUP ? (int)left : CK_Q8_GROUP;
}

/// Tokens [t0, t0 + T) of the quantised activations into `p`; lanes past T are zeros.
static void ck_q8_pack(ck_q8_packed p, const int8_t *xq, const float *xd, const float *xs, size_t t0, int T, size_t nb,
                       size_t k) {
    for (size_t b = 0; b < nb; b++)
        for (int t = 0; t < CK_Q8_GROUP; t++) {
            int8_t *dst = p.xg + (b * CK_Q8_GROUP + t) * 32;
            if (t < T) {
                memcpy(dst, xq + (t0 + t) * k + 32 * b, 32);
                p.xd[b * CK_Q8_GROUP + t] = xd[(t0 + t) * nb + b];
                p.xs[b * CK_Q8_GROUP + t] = xs[(t0 + t) * nb + b];
            } else {
                memset(dst, 0, 32);
                p.xd[b * CK_Q8_GROUP + t] = 0;
                p.xs[b * CK_Q8_GROUP + t] = 0;
            }
        }
}

/// The 16-bit ones madd sums pairs with, read from memory by the token step below.
static const int16_t ck_ones16[16] __attribute__((aligned(32))) = {1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1};

/// One weight block of a packed-group kernel: its bytes (wv; Q8_0 also |w| in wa, Q4 wa = wv), its fp16
/// (d, m) pair converted (h) and d broadcast (vdw); prefetched CK_Q8_PREFETCH_BYTES ahead when asked.
typedef struct { __m256i wv, wa; __m128 h; __m256 vdw; } ck_q8_group_block;

CK_Q8AVX2 static inline __attribute__((always_inline)) ck_q8_group_block
ck_q8_group_weights(const int dtype, const uint8_t *blk, int prefetch) {
    if (prefetch) _mm_prefetch((const char *)blk + CK_Q8_PREFETCH_BYTES, _MM_HINT_T0);
    ck_q8_group_block w;
    w.wv = ck_q8_wbytes(dtype, blk);
    w.wa = dtype == CK_Q8_0 ? _mm256_sign_epi8(w.wv, w.wv) : w.wv;
    w.h = ck_f16c_pair(blk);
    w.vdw = _mm256_broadcastss_ps(w.h);
    return w;
}

/// The Q4 minimum terms of a packed group's block (lane t: m_w·s_x of token t), added to `offv` in block order.
CK_Q8AVX2 static inline __attribute__((always_inline)) __m256
ck_q8_group_min_terms(const int dtype, __m128 h, __m256 vdw, const float *xs, __m256 offv) {
    __m256 vmw = dtype == CK_Q4_1 ? _mm256_broadcastss_ps(_mm_movehdup_ps(h)) : _mm256_mul_ps(_mm256_set1_ps(-8.0f), vdw);
    __m256 prods = _mm256_mul_ps(vmw, _mm256_loadu_ps(xs));
    return _mm256_add_ps(offv, prods);  // separate statement: never contracted into an FMA
}

/// y[t·n] for the group's T tokens: each token's 8 lanes in ck_hsum8's order, plus its Q4 minimum terms.
CK_Q8AVX2 static inline __attribute__((always_inline)) void
ck_q8_group_store(const int dtype, const int T, const __m256 *acc, __m256 offv, float *y, size_t n) {
    float off[CK_Q8_GROUP];
    _mm256_storeu_ps(off, offv);
    for (int t = 0; t < T; t++) y[t * n] = ck_hsum8_ps(acc[t]) + (dtype != CK_Q8_0 ? off[t] : 0.0f);
}

/// y[t·n] = row · token t for the T tokens of a packed group, each reduced exactly as ck_q8_dot.
/// Per block the weights are unpacked once (Q4 as in ck_q4_block), d·xd of all 8 tokens is one multiply
/// stored to the stack, and each token's step — maddubs, madd, cvt, broadcast of its d·xd from memory, one
/// FMA into its accumulator — is one asm statement. Written with intrinsics, the compiler rotated the 8
/// accumulators through other registers every block and spilled two of them (~12 extra moves per block);
/// in place, the kernel runs 1.13–1.37× faster in one process on the same inputs with identical outputs.
CK_Q8AVX2 static inline __attribute__((always_inline)) void
ck_q8_row_group(const int dtype, const int T, const uint8_t *wr, size_t nb, ck_q8_packed p, int prefetch, float *y,
                size_t n) {
    const size_t bb = ck_q8_block_bytes(dtype);
    __m256 acc[CK_Q8_GROUP], offv = _mm256_setzero_ps();
    float ddv[CK_Q8_GROUP] __attribute__((aligned(32)));
    for (int t = 0; t < T; t++) acc[t] = _mm256_setzero_ps();
    for (size_t b = 0; b < nb; b++) {
        const ck_q8_group_block wb = ck_q8_group_weights(dtype, wr + b * bb, prefetch);
        const int8_t *xb = p.xg + b * CK_Q8_GROUP * 32;
        _mm256_store_ps(ddv, _mm256_mul_ps(wb.vdw, _mm256_loadu_ps(p.xd + b * CK_Q8_GROUP)));
        for (int t = 0; t < T; t++) {
            __m256 tmp, dd;
            if (dtype == CK_Q8_0)
                __asm__("vmovdqu %[x], %[tmp]\n\t"
                        "vpsignb %[wv], %[tmp], %[tmp]\n\t"
                        "vpmaddubsw %[tmp], %[wa], %[tmp]\n\t"
                        "vpmaddwd %[ones], %[tmp], %[tmp]\n\t"
                        "vcvtdq2ps %[tmp], %[tmp]\n\t"
                        "vbroadcastss %[d], %[dd]\n\t"
                        "vfmadd231ps %[dd], %[tmp], %[acc]"
                        : [acc] "+x"(acc[t]), [tmp] "=&x"(tmp), [dd] "=&x"(dd)
                        : [x] "m"(*(const __m256i *)(xb + 32 * t)), [wv] "x"(wb.wv), [wa] "x"(wb.wa),
                          [ones] "m"(*(const __m256i *)ck_ones16), [d] "m"(ddv[t]));
            else
                __asm__("vpmaddubsw %[x], %[wv], %[tmp]\n\t"
                        "vpmaddwd %[ones], %[tmp], %[tmp]\n\t"
                        "vcvtdq2ps %[tmp], %[tmp]\n\t"
                        "vbroadcastss %[d], %[dd]\n\t"
                        "vfmadd231ps %[dd], %[tmp], %[acc]"
                        : [acc] "+x"(acc[t]), [tmp] "=&x"(tmp), [dd] "=&x"(dd)
                        : [x] "m"(*(const __m256i *)(xb + 32 * t)), [wv] "x"(wb.wv),
                          [ones] "m"(*(const __m256i *)ck_ones16), [d] "m"(ddv[t]));
        }
        if (dtype != CK_Q8_0) offv = ck_q8_group_min_terms(dtype, wb.h, wb.vdw, p.xs + b * CK_Q8_GROUP, offv);
    }
    ck_q8_group_store(dtype, T, acc, offv, y, n);
}

/// ck_q8_row_group with T a constant in each case (full groups take the first).
CK_Q8AVX2 static inline __attribute__((always_inline)) void
ck_q8_row_group_any(const int dtype, int T, const uint8_t *wr, size_t nb, ck_q8_packed p, int prefetch, float *y,
                    size_t n) {
#define CK_Q8_GROUP_CASE(TT) case TT: ck_q8_row_group(dtype, TT, wr, nb, p, prefetch, y, n); return;
    switch (T) {
    CK_Q8_GROUP_CASE(8) CK_Q8_GROUP_CASE(7) CK_Q8_GROUP_CASE(6) CK_Q8_GROUP_CASE(5)
    CK_Q8_GROUP_CASE(4) CK_Q8_GROUP_CASE(3) CK_Q8_GROUP_CASE(2) CK_Q8_GROUP_CASE(1)
    default: return;
    }
#undef CK_Q8_GROUP_CASE
}

#define CK_Q8VNNI __attribute__((target("avx2,fma,f16c,avx512f,avx512vl,avx512vnni")))

/// ck_q8_row_group on AVX-512 VNNI (256-bit vectors), bit for bit: vpdpbusd forms each lane's 4 exact
/// products in one instruction where maddubs + madd take two, so the 8 lane sums — and every FMA after
/// them — are the same. With 32 vector registers the compiler keeps the 8 accumulators in place, so this
/// needs none of the AVX2 kernel's asm.
CK_Q8VNNI static inline __attribute__((always_inline)) void
ck_q8_row_group_vnni_t(const int dtype, const int T, const uint8_t *wr, size_t nb, ck_q8_packed p, int prefetch, float *y,
                       size_t n) {
    const size_t bb = ck_q8_block_bytes(dtype);
    __m256 acc[CK_Q8_GROUP], offv = _mm256_setzero_ps();
    for (int t = 0; t < T; t++) acc[t] = _mm256_setzero_ps();
    for (size_t b = 0; b < nb; b++) {
        const ck_q8_group_block wb = ck_q8_group_weights(dtype, wr + b * bb, prefetch);
        const int8_t *xb = p.xg + b * CK_Q8_GROUP * 32;
        const __m256 dd = _mm256_mul_ps(wb.vdw, _mm256_loadu_ps(p.xd + b * CK_Q8_GROUP));
        float ddv[CK_Q8_GROUP] __attribute__((aligned(32)));
        _mm256_store_ps(ddv, dd);
        for (int t = 0; t < T; t++) {
            __m256i x = _mm256_loadu_si256((const __m256i *)(xb + 32 * t));
            if (dtype == CK_Q8_0) x = _mm256_sign_epi8(x, wb.wv);
            __m256i lanes = _mm256_dpbusd_epi32(_mm256_setzero_si256(), wb.wa, x);
            acc[t] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(lanes), _mm256_broadcast_ss(ddv + t), acc[t]);
        }
        if (dtype != CK_Q8_0) offv = ck_q8_group_min_terms(dtype, wb.h, wb.vdw, p.xs + b * CK_Q8_GROUP, offv);
    }
    ck_q8_group_store(dtype, T, acc, offv, y, n);
}

/// ck_q8_row_group_vnni_t with the format and T constants in each copy (a call per row and group: this
/// target's code cannot inline into the AVX2 tile loops).
CK_Q8VNNI static void ck_q8_row_group_vnni(const int dtype, int T, const uint8_t *wr, size_t nb, ck_q8_packed p, int prefetch,
                                           float *y, size_t n) {
#define CK_Q8_VNNI_CASE(DT, TT) case TT: ck_q8_row_group_vnni_t(DT, TT, wr, nb, p, prefetch, y, n); return;
#define CK_Q8_VNNI_FORMAT(DT)                                                                                \
    switch (T) {                                                                                             \
    CK_Q8_VNNI_CASE(DT, 8) CK_Q8_VNNI_CASE(DT, 7) CK_Q8_VNNI_CASE(DT, 6) CK_Q8_VNNI_CASE(DT, 5)              \
    CK_Q8_VNNI_CASE(DT, 4) CK_Q8_VNNI_CASE(DT, 3) CK_Q8_VNNI_CASE(DT, 2) CK_Q8_VNNI_CASE(DT, 1)              \
    default: return;                                                                                         \
    }
    switch (dtype) {
    case CK_Q4_0: CK_Q8_VNNI_FORMAT(CK_Q4_0)
    case CK_Q4_1: CK_Q8_VNNI_FORMAT(CK_Q4_1)
    default: CK_Q8_VNNI_FORMAT(CK_Q8_0)
    }
#undef CK_Q8_VNNI_FORMAT
#undef CK_Q8_VNNI_CASE
}

/// Bytes of packed groups one call keeps at a time, and of weight rows a block of rows spans: a block
/// of rows meets every packed group while it is in L1 (a batch's chunk of LM-head rows is megabytes,
/// and group after group re-read it from memory).
#define CK_Q8_PACKED_BATCH_BYTES (1 << 20)
#define CK_Q8_ROW_BLOCK_BYTES (16 << 10)

/// Rows [r0, r1) for every token: decode (1–3 tokens) one row and token at a time, so the weights
/// stream strictly in address order (from memory a single row ran 1.3–1.7× faster than 4-row tiles),
/// Q4 rows by ck_q4_dot over the tokens' scale pairs (ck_q8_dot if those cannot be allocated);
/// prompts and batches in packed groups of CK_Q8_GROUP tokens (the same bits: per (row, token) the
/// same reduction), or like decode when the packing buffer cannot be allocated.
CK_Q8AVX2 static inline __attribute__((always_inline)) void
ck_q8_rows(const int dtype, const int vnni, const uint8_t *w, size_t row_bytes, size_t r0, size_t r1, const int8_t *xq,
           const float *xd, const float *xs, size_t tokens, size_t k, float *y, size_t n) {
    size_t nb = k / 32, group_bytes = ck_q8_packed_bytes(nb);
    size_t groups = (tokens + CK_Q8_GROUP - 1) / CK_Q8_GROUP, batch = CK_Q8_PACKED_BATCH_BYTES / group_bytes;
    batch = batch < 1 ? 1 : (batch > groups ? groups : batch);
    uint8_t *buffer = tokens >= 4 ? ck_scratch(batch * group_bytes) : NULL;
    float *pairs = !buffer && dtype != CK_Q8_0 ? ck_scratch(tokens * (2 * nb + 2) * sizeof(float)) : NULL;
    if (pairs) {
        for (size_t t = 0; t < tokens; t++) ck_q4_scale_pairs(xd + t * nb, xs + t * nb, nb, pairs + t * (2 * nb + 2));
        for (size_t r = r0; r < r1; r++)
            for (size_t t = 0; t < tokens; t++)
                ck_q4_dot(dtype, w + r * row_bytes, nb, xq + t * k, pairs + t * (2 * nb + 2), y + t * n + r);
        return;
    }
    if (!buffer) {
        for (size_t r = r0; r < r1; r++)
            for (size_t t = 0; t < tokens; t++)
                ck_q8_dot(dtype, w + r * row_bytes, nb, xq + t * k, xd + t * nb, xs + t * nb, y + t * n + r);
        return;
    }
    size_t row_block = CK_Q8_ROW_BLOCK_BYTES / row_bytes;
    row_block = row_block < 1 ? 1 : row_block;
    for (size_t g0 = 0; g0 < groups; g0 += batch) {
        size_t g1 = groups - g0 < batch ? groups : g0 + batch;
        for (size_t g = g0; g < g1; g++)
            ck_q8_pack(ck_q8_pack_at(buffer + (g - g0) * group_bytes, nb), xq, xd, xs, g * CK_Q8_GROUP,
                       ck_q8_group_tokens(tokens, g), nb, k);
        for (size_t b0 = r0; b0 < r1; b0 += row_block) {
            size_t b1 = r1 - b0 < row_block ? r1 : b0 + row_block;
            for (size_t g = g0; g < g1; g++) {
                const int T = ck_q8_group_tokens(tokens, g);
                ck_q8_packed p = ck_q8_pack_at(buffer + (g - g0) * group_bytes, nb);
                float *yg = y + g * CK_Q8_GROUP * n;
                // The first group brings the block's rows in from memory; the others find them in L1.
                for (size_t r = b0; r < b1; r++) {
                    if (vnni) ck_q8_row_group_vnni(dtype, T, w + r * row_bytes, nb, p, g == g0, yg + r, n);
                    else ck_q8_row_group_any(dtype, T, w + r * row_bytes, nb, p, g == g0, yg + r, n);
                }
            }
        }
    }
}

/// `vnni`: packed groups through ck_q8_row_group_vnni (the caller checks avx512vnni and avx512vl).
CK_Q8AVX2 static void matmul_q8_avx2(int dtype, int vnni, const uint8_t *w, size_t row_bytes, size_t r0, size_t r1,
                                     const int8_t *xq, const float *xd, const float *xs, size_t tokens, size_t k,
                                     float *y, size_t n) {
    switch (dtype) {  // one specialised copy per format, so the tile loops have no format branches
    case CK_Q4_0: ck_q8_rows(CK_Q4_0, vnni, w, row_bytes, r0, r1, xq, xd, xs, tokens, k, y, n); break;
    case CK_Q4_1: ck_q8_rows(CK_Q4_1, vnni, w, row_bytes, r0, r1, xq, xd, xs, tokens, k, y, n); break;
    default: ck_q8_rows(CK_Q8_0, vnni, w, row_bytes, r0, r1, xq, xd, xs, tokens, k, y, n); break;
    }
}

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

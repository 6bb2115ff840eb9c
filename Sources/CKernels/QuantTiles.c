// Block-quantised weights re-laid in tiles of 8 rows for the int8-activation kernels (the only int8 kernels:
// every device pass that multiplies int8 activations holds its block weights as tiles).
//
// In GGUF's layout one weight row's block is one SIMD vector, so every (row, block) pays for its own
// unpack, conversion and scaling: the AVX2 row kernel this replaced spent ~10 vector operations per block
// and was bound by that arithmetic, not by memory. A tile holds block b of 8 rows side by side (see
// ck_tile_block_bytes in BlockFormat.h), so one vector holds 4 weights of each of the 8 rows, one broadcast
// of 4 activations meets all of them, and every scale and conversion serves 8 rows at once: lane r of every
// vector is row r.
//
// Numerics (every ISA gives the same bits): per (row, token) and block b in order, the block's 32 products
// summed exactly in integers, then acc = fma((float)isum_b, d_w·d_x, acc) from acc = 0; the Q4 minimum
// terms m_w·s_x (Q4_0: m_w = −8·d_w) summed apart in block order (each product rounded, then added); y =
// acc + that sum. One conversion and one FMA per block and row — the lane-per-row layout makes the exact
// block sum free — and a weight multiplies int8 activations the same way for every batch.
#include "BlockFormat.h"
#include "CKernels.h"
#include <math.h>
#include <string.h>

float ck_half_to_float(uint16_t h);

enum { CK_TILE_ROWS = CK_WEIGHT_TILE_ROWS };

int ck_tiles_supported(int dtype) { return ck_tile_block_bytes(dtype) != 0; }

size_t ck_tile_bytes(int dtype, size_t rows, size_t k) {
    size_t tiles = (rows + CK_TILE_ROWS - 1) / CK_TILE_ROWS;
    return tiles * (k / 32) * ck_tile_block_bytes(dtype);
}

void ck_tile_weights(int dtype, const uint8_t *w, size_t row_bytes, size_t rows, size_t k, uint8_t *out) {
    size_t nb = k / 32, bb = ck_q8_block_bytes(dtype), tb = ck_tile_block_bytes(dtype);
    size_t tiles = (rows + CK_TILE_ROWS - 1) / CK_TILE_ROWS;
    memset(out, 0, tiles * nb * tb);  // rows past the last stay zero: their lanes are computed and dropped
    for (size_t t = 0; t < tiles; t++)
        for (size_t b = 0; b < nb; b++) {
            uint8_t *o = out + (t * nb + b) * tb;
            for (size_t r = 0; r < CK_TILE_ROWS && t * CK_TILE_ROWS + r < rows; r++) {
                const uint8_t *blk = w + (t * CK_TILE_ROWS + r) * row_bytes + b * bb;
                if (dtype == CK_Q8_0) {
                    for (int i = 0; i < 8; i++)
                        for (int j = 0; j < 4; j++) o[32 * i + 4 * r + j] = (uint8_t)(blk[2 + 4 * i + j] ^ 0x80);
                    memcpy(o + ck_tile_d_offset(dtype) + 2 * r, blk, 2);
                    continue;
                }
                const uint8_t *qs = blk + (dtype == CK_Q4_1 ? 4 : 2);
                for (int i = 0; i < 4; i++) memcpy(o + 32 * i + 4 * r, qs + 4 * i, 4);
                memcpy(o + ck_tile_d_offset(dtype) + 2 * r, blk, 2);
                if (dtype == CK_Q4_1) memcpy(o + CK_TILE_M_OFFSET + 2 * r, blk + 2, 2);
            }
        }
}

void ck_untile_row(int dtype, const uint8_t *tiles, size_t row, size_t k, uint8_t *out) {
    size_t nb = k / 32, bb = ck_q8_block_bytes(dtype), tb = ck_tile_block_bytes(dtype);
    size_t r = row % CK_TILE_ROWS;
    const uint8_t *tile = tiles + (row / CK_TILE_ROWS) * nb * tb;
    for (size_t b = 0; b < nb; b++) {
        const uint8_t *o = tile + b * tb;
        uint8_t *blk = out + b * bb;
        if (dtype == CK_Q8_0) {
            memcpy(blk, o + ck_tile_d_offset(dtype) + 2 * r, 2);
            for (int i = 0; i < 8; i++)
                for (int j = 0; j < 4; j++) blk[2 + 4 * i + j] = (uint8_t)(o[32 * i + 4 * r + j] ^ 0x80);
            continue;
        }
        memcpy(blk, o + ck_tile_d_offset(dtype) + 2 * r, 2);
        if (dtype == CK_Q4_1) memcpy(blk + 2, o + CK_TILE_M_OFFSET + 2 * r, 2);
        uint8_t *qs = blk + (dtype == CK_Q4_1 ? 4 : 2);
        for (int i = 0; i < 4; i++) memcpy(qs + 4 * i, o + 32 * i + 4 * r, 4);
    }
}

static inline float ck_tile_half(const uint8_t *p) { return ck_half_to_float((uint16_t)(p[0] | (p[1] << 8))); }

/// Weight j (0..31) of row r in a tile block, as the integer the products use.
static inline int ck_tile_weight(int dtype, const uint8_t *o, int r, int j) {
    if (dtype == CK_Q8_0) return (int)o[32 * (j / 4) + 4 * r + j % 4] - 128;
    int lane = j / 4, i = lane % 4, byte = o[32 * i + 4 * r + j % 4];
    return lane < 4 ? (byte & 15) : (byte >> 4);
}

/// The portable loops: the reduction above, reading a tile.
static void tile_portable(int dtype, const uint8_t *tile, size_t nb, const int8_t *xq, const float *xd,
                          const float *xs, float *y) {
    size_t tb = ck_tile_block_bytes(dtype), dpos = ck_tile_d_offset(dtype);
    for (int r = 0; r < CK_TILE_ROWS; r++) {
        float acc = 0, off = 0;
        for (size_t b = 0; b < nb; b++) {
            const uint8_t *o = tile + b * tb;
            float dw = ck_tile_half(o + dpos + 2 * r);
            const int8_t *qx = xq + 32 * b;
            int isum = 0;
            for (int j = 0; j < 32; j++) isum += ck_tile_weight(dtype, o, r, j) * qx[j];
            acc = fmaf((float)isum, dw * xd[b], acc);
            if (dtype != CK_Q8_0) {
                float mw = dtype == CK_Q4_1 ? ck_tile_half(o + CK_TILE_M_OFFSET + 2 * r) : -8.0f * dw;
                float p = mw * xs[b];
                off += p;
            }
        }
        y[r] = acc + (dtype != CK_Q8_0 ? off : 0.0f);
    }
}

/// A tile kernel: y[t][r] for the tile's 8 rows and `tokens` (1, 2 or 4) tokens, whose int8 blocks, scales,
/// sums and Q8_0 corrections (−128·Σ of each block's activations, for the VNNI kernel) are given per token.
/// Only the first pass over a tile prefetches (the next ones read it from L1).
typedef void (*ck_tile_fn)(int dtype, const uint8_t *tile, size_t nb, int tokens, const int8_t *const *xq,
                           const float *const *xd, const float *const *xs, const int32_t *const *corr, float (*y)[8],
                           int prefetch);

static void tile_portable_fn(int dtype, const uint8_t *tile, size_t nb, int tokens, const int8_t *const *xq,
                             const float *const *xd, const float *const *xs, const int32_t *const *corr, float (*y)[8],
                             int prefetch) {
    (void)prefetch;
    (void)corr;
    for (int t = 0; t < tokens; t++) tile_portable(dtype, tile, nb, xq[t], xd[t], xs[t], y[t]);
}

#if defined(__x86_64__)
#include "QuantTilesAVX2.h"
#endif
#include "ThreadScratch.h"

/// −128 · Σ of each block's activations: the VNNI Q8_0 block sums start from these, which removes the + 128
/// the weights are stored with, exactly.
void ck_q8_block_corrections(const int8_t *q, size_t blocks, int32_t *c) {
    for (size_t i = 0; i < blocks; i++) {
        int sum = 0;
        for (int j = 0; j < 32; j++) sum += q[32 * i + j];
        c[i] = -128 * sum;
    }
}

/// y[lo..<hi] = out[lo − first ...]: whole tiles as constant-size copies (inlined moves; the copy loop
/// became a memmove call per token and tile, 2% of a 16-sequence decode step), cut tiles element by element.
static inline void ck_tile_store(float *y, const float *out, size_t first, size_t lo, size_t hi, size_t span) {
    if (lo == first && hi == first + span) {
        if (span == 2 * CK_TILE_ROWS) memcpy(y + first, out, 2 * CK_TILE_ROWS * sizeof(float));
        else memcpy(y + first, out, CK_TILE_ROWS * sizeof(float));
        return;
    }
    for (size_t r = lo; r < hi; r++) y[r] = out[r - first];
}

void ck_matmul_q8_tiled(int isa, int dtype, const uint8_t *tiles, size_t row_begin, size_t row_end,
                        const int8_t *xq, const float *xd, const float *xs, const int32_t *xc, size_t tokens,
                        size_t k, float *y, size_t n) {
    size_t nb = k / 32, tile_bytes = nb * ck_tile_block_bytes(dtype);
    ck_tile_fn fn = tile_portable_fn;
    const int32_t *corr = NULL;
    // Tokens per pass over a tile: 4 with AVX-512's 32 vector registers (16 block sums and 8 accumulators),
    // 2 with AVX2's 16 (4 spill; harness, Q4_1 × 16 tokens: 0.43 → 0.53 ns per block and token, where VNNI
    // gains 0.28 → 0.25).
    int most = 2;
    // Two tiles at a time in 512-bit vectors (tile_vnni16) where both lie in the range, for 8+ tokens: there
    // the kernel's arithmetic bounds it (harness, Q4_1 576 columns × 16 tokens, ns per block and token, from L2
    // 0.245 → 0.213, from memory 0.282 → 0.250; Q8_0 0.263 → 0.194 and 0.339 → 0.296). Below that, memory
    // bounds it, and two tiles are two streams to fetch (Q8_0 × 1 token from memory: 1.06 → 1.48).
    int pairs = 0;
    if (row_begin >= row_end) return;
#if defined(__x86_64__)
    if (isa >= CK_ISA_AVX512 && dtype == CK_Q8_0 && !(corr = xc)) {
        int32_t *c = ck_scratch(tokens * nb * sizeof(int32_t));
        if (c) ck_q8_block_corrections(xq, tokens * nb, c);
        corr = c;
    }
    if (isa >= CK_ISA_AVX512 && (dtype != CK_Q8_0 || corr)) { fn = tile_vnni; most = 4; pairs = tokens >= 8; }
    else if (isa >= CK_ISA_AVX2) fn = tile_avx2;
#endif
    for (size_t t0 = row_begin / CK_TILE_ROWS; t0 * CK_TILE_ROWS < row_end;) {
        const uint8_t *tile = tiles + t0 * tile_bytes;
        size_t first = t0 * CK_TILE_ROWS, lo = first > row_begin ? first : row_begin;
        int pair = pairs && first >= row_begin && first + 2 * CK_TILE_ROWS <= row_end;
        size_t span = pair ? 2 * CK_TILE_ROWS : CK_TILE_ROWS;
        size_t hi = first + span < row_end ? first + span : row_end;
        // Tokens in groups of up to 4: a group shares each weight vector's load and unpack.
        for (size_t t = 0; t < tokens;) {
            int group = most == 4 && tokens - t >= 4 ? 4 : (tokens - t >= 2 ? 2 : 1);
            const int8_t *q[4];
            const float *d[4], *s[4];
            const int32_t *c[4];
            for (int g = 0; g < 4; g++) {
                size_t u = t + (g < group ? g : group - 1);
                q[g] = xq + u * k;
                d[g] = xd + u * nb;
                s[g] = xs + u * nb;
                c[g] = corr ? corr + u * nb : NULL;
            }
            float out16[4][2 * CK_TILE_ROWS], out8[4][CK_TILE_ROWS];
#if defined(__x86_64__)
            if (pair) tile_vnni16(dtype, tile, tile + tile_bytes, nb, group, q, d, s, c, out16, t == 0);
            else
#endif
                fn(dtype, tile, nb, group, q, d, s, c, out8, t == 0);
            for (int p = 0; p < group; p++)
                ck_tile_store(y + (t + p) * n, pair ? out16[p] : out8[p], first, lo, hi, span);
            t += group;
        }
        t0 += pair ? 2 : 1;
    }
}

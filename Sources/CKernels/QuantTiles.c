// Block-quantised weights re-laid in tiles of 8 rows for the int8-activation kernels (decode above all).
//
// In GGUF's layout one weight row's block is one SIMD vector, so every (row, block) pays for its own
// unpack, conversion and scaling: the AVX2 row kernel spends ~10 vector operations per block and is bound
// by that arithmetic, not by memory. A tile holds block b of 8 rows side by side (see ck_tile_bytes), so
// one vector holds 4 weights of each of the 8 rows, one broadcast of 4 activations meets all of them, and
// every scale and conversion serves 8 rows at once: lane r of every vector is row r.
//
// The numerics are those of ck_matmul_q8 (QuantMatmulQ8.c), bit for bit: lane l of a block (its elements
// 4l..4l+3) is an exact integer sum, scaled by d_w·d_x and accumulated in fp32 with one FMA per block, the
// 8 lane accumulators are summed in ck_hsum8's order, and the Q4 minimum terms are a separate sum in block
// order. In a tile the 8 lanes of a row sit in 8 accumulator vectors (one per lane l, one row per vector
// lane), so each row sees exactly the operations of the row kernel.
#include "CKernels.h"
#include <math.h>
#include <string.h>

float ck_half_to_float(uint16_t h);

enum { CK_TILE_ROWS = 8 };

/// Bytes of one tile block (8 rows' block b): Q4 nibbles (4 × 32 bytes: vector i holds bytes 4i..4i+3 of
/// row r's 16 at dword r), then 8 fp16 d, then 8 fp16 m (Q4_1). Q8_0: 8 × 32 bytes (vector i holds row r's
/// bytes 4i..4i+3 at dword r, stored + 128 as unsigned), then 8 fp16 d. The same bytes per row as GGUF's.
static size_t ck_tile_block_bytes(int dtype) {
    switch (dtype) {
    case CK_Q4_0: return 144;
    case CK_Q4_1: return 160;
    case CK_Q8_0: return 272;
    default: return 0;
    }
}

static size_t ck_gguf_block_bytes(int dtype) { return dtype == CK_Q8_0 ? 34 : (dtype == CK_Q4_1 ? 20 : 18); }

int ck_tiles_supported(int dtype) { return ck_tile_block_bytes(dtype) != 0; }

size_t ck_tile_bytes(int dtype, size_t rows, size_t k) {
    size_t tiles = (rows + CK_TILE_ROWS - 1) / CK_TILE_ROWS;
    return tiles * (k / 32) * ck_tile_block_bytes(dtype);
}

void ck_tile_weights(int dtype, const uint8_t *w, size_t row_bytes, size_t rows, size_t k, uint8_t *out) {
    size_t nb = k / 32, bb = ck_gguf_block_bytes(dtype), tb = ck_tile_block_bytes(dtype);
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
                    memcpy(o + 256 + 2 * r, blk, 2);
                    continue;
                }
                const uint8_t *qs = blk + (dtype == CK_Q4_1 ? 4 : 2);
                for (int i = 0; i < 4; i++) memcpy(o + 32 * i + 4 * r, qs + 4 * i, 4);
                memcpy(o + 128 + 2 * r, blk, 2);
                if (dtype == CK_Q4_1) memcpy(o + 144 + 2 * r, blk + 2, 2);
            }
        }
}

static inline float ck_tile_half(const uint8_t *p) { return ck_half_to_float((uint16_t)(p[0] | (p[1] << 8))); }

/// Weight j (0..31) of row r in a tile block, as the integer the products use.
static inline int ck_tile_weight(int dtype, const uint8_t *o, int r, int j) {
    if (dtype == CK_Q8_0) return (int)o[32 * (j / 4) + 4 * r + j % 4] - 128;
    int lane = j / 4, i = lane % 4, byte = o[32 * i + 4 * r + j % 4];
    return lane < 4 ? (byte & 15) : (byte >> 4);
}

/// The portable loops: ck_matmul_q8's per-(row, token) reduction, reading a tile.
static void tile_portable(int dtype, const uint8_t *tile, size_t nb, const int8_t *xq, const float *xd,
                          const float *xs, float *y) {
    size_t tb = ck_tile_block_bytes(dtype);
    for (int r = 0; r < CK_TILE_ROWS; r++) {
        float acc[8] = {0}, off = 0;
        for (size_t b = 0; b < nb; b++) {
            const uint8_t *o = tile + b * tb;
            size_t dpos = dtype == CK_Q8_0 ? 256 : 128;
            float dw = ck_tile_half(o + dpos + 2 * r), dd = dw * xd[b];
            const int8_t *qx = xq + 32 * b;
            for (int l = 0; l < 8; l++) {
                int isum = 0;
                for (int j = 4 * l; j < 4 * l + 4; j++) isum += ck_tile_weight(dtype, o, r, j) * qx[j];
                acc[l] = fmaf((float)isum, dd, acc[l]);
            }
            if (dtype != CK_Q8_0) {
                float mw = dtype == CK_Q4_1 ? ck_tile_half(o + 144 + 2 * r) : -8.0f * dw;
                float p = mw * xs[b];
                off += p;
            }
        }
        float h0 = acc[0] + acc[4], h1 = acc[1] + acc[5], h2 = acc[2] + acc[6], h3 = acc[3] + acc[7];
        float g0 = h0 + h2, g1 = h1 + h3;
        y[r] = (g0 + g1) + (dtype != CK_Q8_0 ? off : 0.0f);
    }
}

typedef void (*ck_tile_fn)(int dtype, const uint8_t *tile, size_t nb, const int8_t *xq, const float *xd,
                           const float *xs, const int32_t *corr, float *y, int prefetch);

static void tile_portable_fn(int dtype, const uint8_t *tile, size_t nb, const int8_t *xq, const float *xd,
                             const float *xs, const int32_t *corr, float *y, int prefetch) {
    (void)prefetch;
    (void)corr;
    tile_portable(dtype, tile, nb, xq, xd, xs, y);
}

#if defined(__x86_64__)
#include "QuantTilesAVX2.h"
#endif
#include "ThreadScratch.h"

/// −128 · Σ of each 4 activations of each token (tokens × nb × 8): the VNNI Q8_0 lanes start from these.
static int32_t *ck_tile_corrections(const int8_t *xq, size_t tokens, size_t k) {
    int32_t *c = ck_scratch(tokens * (k / 4) * sizeof(int32_t));
    if (!c) return NULL;
    for (size_t i = 0; i < tokens * k / 4; i++) c[i] = -128 * (xq[4 * i] + xq[4 * i + 1] + xq[4 * i + 2] + xq[4 * i + 3]);
    return c;
}

void ck_matmul_q8_tiled(int isa, int dtype, const uint8_t *tiles, size_t row_begin, size_t row_end,
                        const int8_t *xq, const float *xd, const float *xs, size_t tokens, size_t k, float *y,
                        size_t n) {
    size_t nb = k / 32, tile_bytes = nb * ck_tile_block_bytes(dtype);
    ck_tile_fn fn = tile_portable_fn;
    const int32_t *corr = NULL;
    if (row_begin >= row_end) return;
#if defined(__x86_64__)
    if (isa >= CK_ISA_AVX512 && dtype == CK_Q8_0) corr = ck_tile_corrections(xq, tokens, k);
    if (isa >= CK_ISA_AVX512 && (dtype != CK_Q8_0 || corr)) fn = tile_vnni;
    else if (isa >= CK_ISA_AVX2) fn = tile_avx2;
#endif
    for (size_t t0 = row_begin / CK_TILE_ROWS; t0 * CK_TILE_ROWS < row_end; t0++) {
        const uint8_t *tile = tiles + t0 * tile_bytes;
        size_t first = t0 * CK_TILE_ROWS, lo = first > row_begin ? first : row_begin;
        size_t hi = first + CK_TILE_ROWS < row_end ? first + CK_TILE_ROWS : row_end;
        // Each token meets the whole tile (from L1 after the first one, which alone prefetches).
        for (size_t t = 0; t < tokens; t++) {
            float out[CK_TILE_ROWS];
            fn(dtype, tile, nb, xq + t * k, xd + t * nb, xs + t * nb, corr ? corr + t * (k / 4) : NULL, out, t == 0);
            for (size_t r = lo; r < hi; r++) y[t * n + r] = out[r - first];
        }
    }
}

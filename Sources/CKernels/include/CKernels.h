#ifndef CKERNELS_H
#define CKERNELS_H

#include <stddef.h>
#include <stdint.h>

/// Instruction-set level a kernel runs at; the caller picks it from CPUFeatures.
enum {
    CK_ISA_PORTABLE = 0,
    CK_ISA_AVX2 = 1,
    CK_ISA_AVX512 = 2,
};

/// Block formats as stored in GGUF (ggml type ids).
enum {
    CK_Q4_0 = 2,
    CK_Q4_1 = 3,
    CK_Q8_0 = 8,
};

/// sums[i] = Σ_{j<32} x[32·i + j], summed in index order — per-block activation sums for the Q4 offsets.
void ck_block_sums(const float *x, size_t blocks, float *sums);

/// y[t·n + r] = Σ_k x[t·k + j] · W[r, j] for rows r in [row_begin, row_end) and tokens t < tokens, with W
/// stored as GGUF blocks (`row_bytes` per row, k a multiple of 32) and dequantised on the fly.
/// `xsums` are ck_block_sums of x (read only by the portable variant). Each (row, token) is reduced in a fixed order, so a row's result
/// never depends on the batch.
void ck_matmul_blocks(int isa, int dtype, const uint8_t *w, size_t row_bytes, size_t row_begin, size_t row_end,
                      const float *x, const float *xsums, size_t tokens, size_t k, float *y, size_t n);

/// ck_matmul_blocks (fp32 activations) over weights held as 8-row tiles (ck_tile_weights), bit for bit the
/// result on the GGUF rows: the AVX2 kernel dequantises each row's block from its tile; the portable loops
/// gather rows back from the tiles a few dozen at a time into a per-thread buffer (if that buffer cannot
/// be allocated, rows of up to 32 KB go one at a time; longer ones give NaN).
void ck_matmul_blocks_tiled(int isa, int dtype, const uint8_t *tiles, size_t row_begin, size_t row_end,
                            const float *x, const float *xsums, size_t tokens, size_t k, float *y, size_t n);

/// ck_matmul_blocks without the fp32 weight panel the AVX2 variant uses for 4+ tokens: the path it takes
/// when the panel cannot be allocated. Results are bit-identical to ck_matmul_blocks (tests check it).
void ck_matmul_blocks_registers_only(int isa, int dtype, const uint8_t *w, size_t row_bytes, size_t row_begin,
                                     size_t row_end, const float *x, const float *xsums, size_t tokens, size_t k,
                                     float *y, size_t n);

/// `blocks` blocks of 32 fp32 weights quantised to CK_Q8_0 or CK_Q4_0 blocks (34 / 18 bytes each) at `out`,
/// as ggml's reference quantisers do (see QuantiseWeights.c). Every ISA gives the same bytes.
void ck_quantize_blocks(int isa, int dtype, const float *x, size_t blocks, uint8_t *out);

/// Quantises `rows` rows of `k` activations (k a multiple of 32) to int8 per block of 32:
/// q = round(x / d) with d = max|x| / 127, so |q| ≤ 127; d[i] is block i's scale and
/// s[i] = d[i] · Σ q its sum (for the Q4 min terms). Rounding is to nearest even; a NaN or infinite
/// input quantises to 0. The AVX2 variant (isa ≥ CK_ISA_AVX2) equals the portable loops bit for bit.
void ck_quantize_q8(int isa, const float *x, size_t rows, size_t k, int8_t *q, float *d, float *s);

/// Whether ck_tile_weights takes `dtype` (Q4_0, Q4_1, Q8_0).
int ck_tiles_supported(int dtype);

/// Bytes of `rows` × `k` weights in tiles of 8 rows (the last tile padded with zero rows): the GGUF size
/// rounded up to whole tiles.
size_t ck_tile_bytes(int dtype, size_t rows, size_t k);

/// GGUF block rows (`row_bytes` each) re-laid in 8-row tiles at `out` (ck_tile_bytes long; see QuantTiles.c).
void ck_tile_weights(int dtype, const uint8_t *w, size_t row_bytes, size_t rows, size_t k, uint8_t *out);

/// Row `row` of tiled weights back in GGUF's layout (k / 32 blocks) at `out`: the bytes ck_tile_weights read.
void ck_untile_row(int dtype, const uint8_t *tiles, size_t row, size_t k, uint8_t *out);

/// c[i] = −128 · Σ of int8 block i's 32 values (`blocks` blocks at q): where the VNNI kernel's Q8_0 block
/// sums start (ck_matmul_q8_tiled), computed once per activation matrix.
void ck_q8_block_corrections(const int8_t *q, size_t blocks, int32_t *c);

/// y[t·n + r] = x_t · W[r] for rows r in [row_begin, row_end) of tiled weights and every token t, with int8
/// activations from ck_quantize_q8 (xq, scales xd, sums xs): per block one exact integer sum of the 32
/// products and one FMA (see QuantTiles.c), the same bits on every ISA and in every batch.
/// isa CK_ISA_AVX512 takes the AVX-512 VNNI kernel (the caller checks avx512vnni and avx512vl),
/// CK_ISA_AVX2 the AVX2 one, CK_ISA_PORTABLE the portable loops. `xc` holds the tokens'
/// ck_q8_block_corrections, or is NULL (the kernel then computes those it needs).
void ck_matmul_q8_tiled(int isa, int dtype, const uint8_t *tiles, size_t row_begin, size_t row_end,
                        const int8_t *xq, const float *xd, const float *xs, const int32_t *xc, size_t tokens,
                        size_t k, float *y, size_t n);

/// One query row of paged attention: for the `visible` positions whose cache entries start at
/// base + slots[s]·width, scores = q·(entry + koff)·scale, softmax, out += Σ p·(entry + voff) over d
/// floats. `scores` has room for `visible` floats; `out` (d floats) starts at zero.
void ck_attend(int isa, const float *q, const float *base, const int64_t *slots, size_t visible, size_t width,
               size_t koff, size_t voff, size_t d, float scale, float *scores, float *out);

/// out[i] = gate[i] · σ(gate[i]) · up[i] for i < n (SwiGLU's activation; out may alias gate or up).
void ck_silu_mul(int isa, const float *gate, const float *up, float *out, size_t n);

/// Element types of attention keys and values (the KV cache's storage, `kv` below). The kernels widen each
/// element to fp32 exactly, so an fp16 or bf16 cache gives bit for bit what fp32 gives on the same values
/// rounded to that type (ck_kv_store).
enum {
    CK_KV_F32 = 0,
    CK_KV_F16 = 1,
    CK_KV_BF16 = 2,
};

/// out[i] = x[i] as type `kv` for i < n, rounding to nearest with ties to even (a NaN stays a NaN). fp16
/// saturates at ±65,504 instead of overflowing to ±∞ (an infinite key would turn its scores into NaN); bf16
/// overflows as fp32 does. The AVX2 path (isa ≥ CK_ISA_AVX2, F16C) equals the portable loop bit for bit.
void ck_kv_store(int isa, int kv, const float *x, size_t n, void *out);

/// out[i] = element i of p (type `kv`) widened to fp32 (exact), for i < n.
void ck_kv_load(int kv, const void *p, size_t n, float *out);

/// ck_attend with keys and values apart: key s is the dk elements at keys + pos·kstride, value s the dv
/// elements at values + pos·vstride (strides in elements of type `kv`), pos = slots[s] (paged) or s when
/// `slots` is NULL. MLA's latent attention (keys [c, k_rope], values c of the same entries) and its
/// decompressed prefill form.
void ck_attend_kv(int isa, int kv, const float *q, const void *keys, size_t kstride, size_t dk, const void *values,
                  size_t vstride, size_t dv, const int64_t *slots, size_t visible, float scale, float *scores, float *out);

/// ck_attend_kv for `rows` query rows over the same keys and visible count (the query heads of one GQA
/// group at one token): row r reads q + r·qstride and adds into out + r·ostride, bit-identical to
/// ck_attend_kv on that row alone, with each key and value load shared by up to three rows.
/// `scores` has room for min(rows, 3)·visible floats.
void ck_attend_group(int isa, int kv, const float *q, size_t qstride, size_t rows, const void *keys, size_t kstride, size_t dk,
                     const void *values, size_t vstride, size_t dv, const int64_t *slots, size_t visible, float scale,
                     float *scores, float *out, size_t ostride);

/// ck_attend_group in two phases, so one decoding token's group can be split over cores by keys, then by
/// value columns (a single sequence of SmolLM2 has 3 groups for 2 cores). Phase one: scores[r·sstride + s]
/// = q_r·k_s·scale for rows r < rows and keys s0 ≤ s < s1. Phase two, once every key is scored: each row's
/// softmax over its `visible` scores (into `scratch`, min(rows, 3)·visible floats) and out_r[c0..<c1) +=
/// Σ_s p_r[s]·v_s. Every score and output element is bit-identical to ck_attend_group's, whatever the split.
void ck_attend_scores(int isa, int kv, const float *q, size_t qstride, size_t rows, const void *keys, size_t kstride, size_t dk,
                      const int64_t *slots, size_t s0, size_t s1, float scale, float *scores, size_t sstride);
void ck_attend_values(int isa, int kv, size_t rows, const float *scores, size_t sstride, size_t visible, const void *values,
                      size_t vstride, const int64_t *slots, size_t c0, size_t c1, float *scratch, float *out,
                      size_t ostride);

/// Paged attention for `tokens` consecutive query tokens of one sequence × `heads` query heads over the
/// same keys (a GQA group across a prompt chunk). Row (t, h) reads q + t·qtstride + h·qhstride, sees the
/// first visible + t positions and adds into out + t·otstride + h·ohstride, bit-identical to ck_attend_kv
/// on that row alone. The rows meet each block of keys and values together, so it is read from L2/L3
/// once per block instead of once per row. `scores` has room for ck_attend_block_scores(tokens, heads,
/// visible) floats; tokens·heads up to 256 rows take the blocked path (more run row by row), a single
/// token with up to 3 heads or keys that fit in L2 ck_attend_group's.
void ck_attend_block(int isa, int kv, size_t tokens, size_t heads, const float *q, size_t qtstride, size_t qhstride,
                     const void *keys, size_t kstride, size_t dk, const void *values, size_t vstride, size_t dv,
                     const int64_t *slots, size_t visible, float scale, float *scores, float *out, size_t otstride,
                     size_t ohstride);

/// Floats of score scratch ck_attend_block needs for these rows.
size_t ck_attend_block_scores(size_t tokens, size_t heads, size_t visible);

/// glibc only (returns 0 elsewhere, 1 when applied): serve allocations up to 32 MiB from the heap and
/// keep up to 256 MiB of freed heap instead of returning it to the kernel, so a forward pass's
/// activation buffers (a prompt's are 1–12 MB each, re-created per op) are reused warm instead of
/// being mapped and zero-faulted page by page every layer.
int ck_tune_malloc(void);

/// A task of the worker pool: runs item `index` of the job whose context is `ctx`.
typedef void (*ck_task)(void *ctx, size_t index);

/// Runs fn(ctx, i) for every i < count on the calling thread and the pool's persistent workers and
/// returns when all have finished (0). Returns -1 without running anything when the pool is busy
/// with another thread's job, is called from inside a job, has no workers (one core) or is disabled.
int ck_pool_run(size_t count, ck_task fn, void *ctx);

/// Enables (the default) or disables the pool for the whole process: disabled, ck_pool_run returns -1 at
/// once, so every parallel job runs on Dispatch's `concurrentPerform` (`moeserve bench --runner dispatch`
/// measures the one against the other). A job already running finishes on the pool.
void ck_pool_set_enabled(int enabled);

/// Whether the pool is enabled (ck_pool_set_enabled): a -1 from ck_pool_run then means busy (or nested).
int ck_pool_enabled(void);

/// Worker threads of the pool (cores − 1), starting them on first use.
int ck_pool_workers(void);

/// fp16 bits to fp32 (exact).
float ck_half_to_float(uint16_t h);

/// y[t·n + r] = Σ_j x[t·k + j] · W[r, j] for rows r in [row_begin, row_end) and tokens t < tokens, with W
/// stored as bf16 (k per row, any k) and accumulated in fp32 (MatmulBF16.c). Each (row, token) is reduced
/// in a fixed order, so a row's result never depends on the batch.
void ck_matmul_bf16(int isa, const uint16_t *w, size_t row_begin, size_t row_end, const float *x, size_t tokens,
                    size_t k, float *y, size_t n);

/// fp32 → bf16 bits, rounding to nearest with ties to even (NaN stays a quiet NaN, overflow gives ±inf).
void ck_f32_to_bf16(const float *x, size_t count, uint16_t *out);

#endif

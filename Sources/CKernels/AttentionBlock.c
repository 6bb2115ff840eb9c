// Attention for a block of consecutive query tokens of one sequence, each with several heads over the same
// keys (a GQA group across a prompt chunk): row (t, h) sees the first visible + t positions. Every row gets
// bit for bit what ck_attend_kv gives it alone (the same per-key lane split and ck_hsum8_ps order, the same
// softmax, the same ascending FMA chain per output), so a prompt's results never depend on its blocking.
//
// What the block buys is cache traffic. A prompt's keys and values live in L2 or L3 (a SmolLM2 layer's
// 512-token cache is 768 KB); a row alone streams every key from there, and single-row scoring runs at the
// L2's rate, not the FMA units'. Here the rows of the block meet each 8-key block in turn, so the first row
// brings it into L1 and the others read it there; values go the same way, 64 positions at a time.
//
// Keys and values are fp32, fp16 or bf16 (`kv`): AttentionBlockRows.h is instantiated once per type.
#include "AttentionCommon.h"

/// Rows per call the kernel supports (tokens · heads): the stack holds a pointer pair per row.
#define CK_BLOCK_MAX_ROWS 256
/// Key bytes below which one token's heads go to ck_attend_group (half of a 512 KB L2).
#define CK_BLOCK_L2_BYTES (256 * 1024)
/// Positions per value block: 64 positions of a 32-column slab (AVX2) are 8 KB (fp32), of a 64-column slab
/// (AVX-512) 16 KB, held in L1 while every tile of rows passes over them.
#define CK_VALUE_BLOCK 64
/// Key widths up to which a narrow (fp16/bf16) cache's 8-key blocks are widened into a stack buffer once for
/// all rows (8 · 1,024 floats, 32 KB; MLA's latents are 576); wider keys are converted per row.
#define CK_BLOCK_WIDEN_DK 1024

#if defined(__x86_64__)
#include "AttentionAVX2.h"
#endif

#define CK_ATT_BODY "AttentionBlockRows.h"
#include "AttentionInstances.h"

size_t ck_attend_block_scores(size_t tokens, size_t heads, size_t visible) {
    const size_t last = visible + tokens - 1;
    return tokens * heads * ((last + 7) / 8 * 8);
}

void ck_attend_block(int isa, int kv, size_t tokens, size_t heads, const float *q, size_t qtstride, size_t qhstride,
                     const void *keys, size_t kstride, size_t dk, const void *values, size_t vstride, size_t dv,
                     const int64_t *slots, size_t visible, float scale, float *scores, float *out, size_t otstride,
                     size_t ohstride) {
    switch (kv) {
    case CK_KV_F16:
        attend_block_f16(isa, tokens, heads, q, qtstride, qhstride, keys, kstride, dk, values, vstride, dv, slots, visible, scale,
                         scores, out, otstride, ohstride);
        return;
    case CK_KV_BF16:
        attend_block_bf16(isa, tokens, heads, q, qtstride, qhstride, keys, kstride, dk, values, vstride, dv, slots, visible, scale,
                          scores, out, otstride, ohstride);
        return;
    default:
        attend_block_f32(isa, tokens, heads, q, qtstride, qhstride, keys, kstride, dk, values, vstride, dv, slots, visible, scale,
                         scores, out, otstride, ohstride);
        return;
    }
}

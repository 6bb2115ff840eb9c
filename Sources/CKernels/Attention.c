// One query row attending over its visible cache entries: scores = q·k·scale, softmax, out = Σ p·v.
// Keys and values may live in separate arrays with their own widths (MLA: keys [c, k_rope], values c;
// or per-head K and V matrices): key s at keys + pos·kstride, value s at values + pos·vstride, where
// pos = slots[s] (paged) or s (contiguous, slots == NULL). The GQA paged cache passes a KV head's key and
// value fields (KVBlockStorage keeps each head's K and V of every slot together), both strides the head dim.
//
// The portable body is plain C; the AVX2 variant scores four keys per pass, takes the softmax numerators
// eight lanes at a time (AVX2Exp.h) and keeps up to 64 outputs in registers while the values stream past.
// Each row is computed alone in a fixed order, so results never depend on the batch.
//
// Keys and values are fp32, fp16 or bf16 (`kv`, the KV cache's element type): the kernels (AttentionRows.h)
// are instantiated once per type and widen each element exactly before using it.
#include "AttentionCommon.h"

#if defined(__x86_64__)
#include "AttentionAVX2.h"

/// Decode reads a layer's keys and values from memory (a step streams every weight between two visits to
/// the same layer's cache), one strided row per position, and a lone row's loads alone leave too few misses
/// in flight: the scoring loops ask for each key row `CK_ATT_PREFETCH_KEYS` positions ahead, the weighted
/// sums for the value lines they will read `CK_ATT_PREFETCH_VALUES` positions ahead; a group's later rows,
/// which find both in L1/L2, do not. Hints only: no value read or computed changes.
/// - Harness, one decode token of SmolLM2 (3 groups of 3 heads, 64 dims, paged), cache evicted between
///   tokens: 147 → 120 thousand cycles per layer at 136 positions, 712 → 542 at 600. Prefetching the
///   values during the scoring instead, or keys 16–32 ahead, did less.
/// - `scripts/bench ab`, SmolLM2 from a 1,024-token context: decode 59.0 → 70.6 tok/s, 2 sequences
///   68.0 → 88.2 (4/4 pairs each).
enum { CK_ATT_PREFETCH_KEYS = 12 };
#endif

#define CK_ATT_BODY "AttentionRows.h"
#include "AttentionInstances.h"

void ck_attend_kv(int isa, int kv, const float *q, const void *keys, size_t kstride, size_t dk, const void *values,
                  size_t vstride, size_t dv, const int64_t *slots, size_t visible, float scale, float *scores, float *out) {
    switch (kv) {
    case CK_KV_F16: attend_kv_f16(isa, q, keys, kstride, dk, values, vstride, dv, slots, visible, scale, scores, out); return;
    case CK_KV_BF16: attend_kv_bf16(isa, q, keys, kstride, dk, values, vstride, dv, slots, visible, scale, scores, out); return;
    default: attend_kv_f32(isa, q, keys, kstride, dk, values, vstride, dv, slots, visible, scale, scores, out); return;
    }
}

void ck_attend(int isa, const float *q, const float *base, const int64_t *slots, size_t visible, size_t width,
               size_t koff, size_t voff, size_t d, float scale, float *scores, float *out) {
    attend_kv_f32(isa, q, base + koff, width, d, base + voff, width, d, slots, visible, scale, scores, out);
}

void ck_attend_group(int isa, int kv, const float *q, size_t qstride, size_t rows, const void *keys, size_t kstride, size_t dk,
                     const void *values, size_t vstride, size_t dv, const int64_t *slots, size_t visible, float scale,
                     float *scores, float *out, size_t ostride) {
    switch (kv) {
    case CK_KV_F16:
        attend_group_f16(isa, q, qstride, rows, keys, kstride, dk, values, vstride, dv, slots, visible, scale, scores, out, ostride);
        return;
    case CK_KV_BF16:
        attend_group_bf16(isa, q, qstride, rows, keys, kstride, dk, values, vstride, dv, slots, visible, scale, scores, out, ostride);
        return;
    default:
        attend_group_f32(isa, q, qstride, rows, keys, kstride, dk, values, vstride, dv, slots, visible, scale, scores, out, ostride);
        return;
    }
}

void ck_attend_scores(int isa, int kv, const float *q, size_t qstride, size_t rows, const void *keys, size_t kstride, size_t dk,
                      const int64_t *slots, size_t s0, size_t s1, float scale, float *scores, size_t sstride) {
    switch (kv) {
    case CK_KV_F16: attend_scores_f16(isa, q, qstride, rows, keys, kstride, dk, slots, s0, s1, scale, scores, sstride); return;
    case CK_KV_BF16: attend_scores_bf16(isa, q, qstride, rows, keys, kstride, dk, slots, s0, s1, scale, scores, sstride); return;
    default: attend_scores_f32(isa, q, qstride, rows, keys, kstride, dk, slots, s0, s1, scale, scores, sstride); return;
    }
}

void ck_attend_values(int isa, int kv, size_t rows, const float *scores, size_t sstride, size_t visible, const void *values,
                      size_t vstride, const int64_t *slots, size_t c0, size_t c1, float *scratch, float *out, size_t ostride) {
    switch (kv) {
    case CK_KV_F16:
        attend_values_f16(isa, rows, scores, sstride, visible, values, vstride, slots, c0, c1, scratch, out, ostride);
        return;
    case CK_KV_BF16:
        attend_values_bf16(isa, rows, scores, sstride, visible, values, vstride, slots, c0, c1, scratch, out, ostride);
        return;
    default:
        attend_values_f32(isa, rows, scores, sstride, visible, values, vstride, slots, c0, c1, scratch, out, ostride);
        return;
    }
}

// Pieces every attention kernel instance shares (Attention.c, AttentionBlock.c): the slot lookup and the
// portable softmax (fp16/bf16 widening is Half.h's).
#ifndef CK_ATTENTION_COMMON_H
#define CK_ATTENTION_COMMON_H
#include "CKernels.h"
#include "Half.h"
#include <math.h>
#include <string.h>

#define CK_POS(s) (slots ? (size_t)slots[s] : (size_t)(s))

/// dst[s] = src[s] for s < n; returns their maximum (of any order: max is exact).
static inline float copy_with_max(const float *src, size_t n, float *dst) {
    float m = -INFINITY;
    for (size_t s = 0; s < n; s++) { dst[s] = src[s]; m = dst[s] > m ? dst[s] : m; }
    return m;
}

/// scores[s] ← softmax(scores)[s] for s < visible, m being their maximum.
static inline void softmax_portable(float *scores, size_t visible, float m) {
    float total = 0;
    for (size_t s = 0; s < visible; s++) { scores[s] = expf(scores[s] - m); total += scores[s]; }
    float inv = 1.0f / total;
    for (size_t s = 0; s < visible; s++) scores[s] *= inv;
}

#endif

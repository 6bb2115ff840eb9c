// Pieces every attention kernel instance shares (Attention.c, AttentionBlock.c): the slot lookup and the
// portable softmax (fp16/bf16 widening is Half.h's).
#ifndef CK_ATTENTION_COMMON_H
#define CK_ATTENTION_COMMON_H
#include "CKernels.h"
#include "Half.h"
#include <math.h>
#include <string.h>

#define CK_POS(s) (slots ? (size_t)slots[s] : (size_t)(s))

/// TILE(R, W, ...) with R (rows, 1–3) and W (vectors, 4 or 1) as compile-time constants, picked from the
/// run-time r and w: an inlined tile then keeps its accumulators in registers. For the AVX2 and AVX-512
/// weighted-sum tiles of the blocked kernel.
#define CK_WITH_CONSTANT_RW(TILE, r, w, ...)                                                              \
    do {                                                                                                 \
        if ((w) == 4) {                                                                                  \
            if ((r) == 3) TILE(3, 4, __VA_ARGS__);                                                       \
            else if ((r) == 2) TILE(2, 4, __VA_ARGS__);                                                  \
            else TILE(1, 4, __VA_ARGS__);                                                                \
        } else {                                                                                         \
            if ((r) == 3) TILE(3, 1, __VA_ARGS__);                                                       \
            else if ((r) == 2) TILE(2, 1, __VA_ARGS__);                                                  \
            else TILE(1, 1, __VA_ARGS__);                                                                \
        }                                                                                                \
    } while (0)

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

// Activations quantised to int8 per block of 32 with one fp32 scale (the llama.cpp/VNNI scheme), for the
// int8 kernels over tiled weights (QuantTiles.c). The portable loops define the bits; the AVX2 variant
// (QuantiseActivationsAVX2.h) reproduces them.
#include "CKernels.h"
#include <math.h>
#include <string.h>

/// One 32-block: amax over |x| (NaN ignored), q = round-to-nearest-even(x·inv) with inv = 127/amax and
/// the product clamped to ±127 first (inv overflows to inf below amax ≈ 3.7e-37), a NaN product (a NaN
/// input, or ±inf times inv = 0) quantised to 0; d = amax/127, s = d·Σq.
static void quantize_q8_portable(const float *x, size_t rows, size_t k, int8_t *q, float *d, float *s) {
    size_t nb = k / 32;
    for (size_t r = 0; r < rows; r++) {
        for (size_t b = 0; b < nb; b++) {
            const float *xb = x + r * k + 32 * b;
            int8_t *qb = q + r * k + 32 * b;
            float amax = 0;
            for (int j = 0; j < 32; j++) { float a = fabsf(xb[j]); amax = a > amax ? a : amax; }
            float scale = amax / 127.0f, inv = amax > 0 ? 127.0f / amax : 0.0f;
            int sum = 0;
            for (int j = 0; j < 32; j++) {
                float p = xb[j] * inv;
                p = p > 127.0f ? 127.0f : (p < -127.0f ? -127.0f : p);
                int v = p == p ? (int)lrintf(p) : 0;
                qb[j] = (int8_t)v;
                sum += v;
            }
            d[r * nb + b] = scale;
            s[r * nb + b] = scale * (float)sum;
        }
    }
}

#if defined(__x86_64__)
#include "QuantiseActivationsAVX2.h"
#endif

void ck_quantize_q8(int isa, const float *x, size_t rows, size_t k, int8_t *q, float *d, float *s) {
#if defined(__x86_64__)
    if (isa >= CK_ISA_AVX2) {
        quantize_q8_avx2(x, rows, k, q, d, s);
        return;
    }
#endif
    quantize_q8_portable(x, rows, k, q, d, s);
}

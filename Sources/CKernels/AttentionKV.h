// Selects the element type of attention keys and values for the kernel templates that follow it
// (AttentionKVAVX2.h, AttentionRows.h, AttentionBlockRows.h): include it with CK_KV_TEMPLATE set to 0 (fp32),
// 1 (fp16) or 2 (bf16), then the templates; include it again with another value for another instance.
// No include guard, on purpose.
//
//   KV                the stored element type
//   KV_GET(p)         element *p as a float (exact: fp16 and bf16 widen to fp32 without rounding)
//   KV_LOAD8(p)       elements p[0..<8] as a __m256 (AVX2 sections; fp16 through F16C)
//   KVN(name)         name_f32, name_f16 or name_bf16: each instance's functions have their own names
//   KV_CODE           the instance's CK_KV_* constant (for calls into the public entry points)
//
// Every arithmetic step reads the widened float, so an fp16 or bf16 cache gives bit for bit what the fp32
// kernels give on a cache holding the same values rounded to that type.
#undef KV
#undef KV_GET
#undef KV_LOAD8
#undef KVN
#undef KV_CODE
#define CK_KV_CAT2(a, b) a##_##b
#define CK_KV_CAT(a, b) CK_KV_CAT2(a, b)

#if CK_KV_TEMPLATE == 0
#define KV float
#define KV_GET(p) (*(p))
#define KV_LOAD8(p) _mm256_loadu_ps(p)
#define KVN(name) CK_KV_CAT(name, f32)
#define KV_CODE CK_KV_F32
#elif CK_KV_TEMPLATE == 1
#define KV uint16_t
#define KV_GET(p) ck_half_bits(*(p))
#define KV_LOAD8(p) _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(const void *)(p)))
#define KVN(name) CK_KV_CAT(name, f16)
#define KV_CODE CK_KV_F16
#elif CK_KV_TEMPLATE == 2
#define KV uint16_t
#define KV_GET(p) ck_bf16_to_float(*(p))
#define KV_LOAD8(p) ck_load8_bf16(p)
#define KVN(name) CK_KV_CAT(name, bf16)
#define KV_CODE CK_KV_BF16
#else
#error "CK_KV_TEMPLATE must be 0 (fp32), 1 (fp16) or 2 (bf16)"
#endif

// Instantiates the kernel template named by CK_ATT_BODY (a header) once per key/value element type: fp32,
// fp16, bf16 (see AttentionKV.h), with the AVX2 key/value pieces each instance uses. Included once by
// Attention.c and once by AttentionBlock.c.
#define CK_KV_TEMPLATE 0
#include "AttentionInstance.h"
#undef CK_KV_TEMPLATE
#define CK_KV_TEMPLATE 1
#include "AttentionInstance.h"
#undef CK_KV_TEMPLATE
#define CK_KV_TEMPLATE 2
#include "AttentionInstance.h"
#undef CK_KV_TEMPLATE

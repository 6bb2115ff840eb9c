// One instance of the kernel template CK_ATT_BODY for the element type CK_KV_TEMPLATE (AttentionInstances.h
// includes it once per type; no include guard).
#include "AttentionKV.h"
#if defined(__x86_64__)
#include "AttentionKVAVX2.h"
#include "AttentionKVAVX512.h"
#endif
#include CK_ATT_BODY

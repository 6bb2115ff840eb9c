// See ck_tune_malloc in CKernels.h.
#include "CKernels.h"
#if defined(__GLIBC__)
#include <malloc.h>
#endif

int ck_tune_malloc(void) {
#if defined(__GLIBC__)
    return mallopt(M_MMAP_THRESHOLD, 32 << 20) == 1 && mallopt(M_TRIM_THRESHOLD, 256 << 20) == 1 &&
           mallopt(M_TOP_PAD, 16 << 20) == 1;
#else
    return 0;
#endif
}

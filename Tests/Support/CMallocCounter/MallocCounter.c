// See include/CMallocCounter.h.
#include "CMallocCounter.h"
#include <stddef.h>

#if defined(__GLIBC__) || (defined(__linux__) && !defined(__APPLE__))
#include <features.h>
#endif

#if defined(__GLIBC__)
extern void *__libc_malloc(size_t size);
static __thread unsigned long cmc_count;

// calloc, realloc and free stay libc's: they accept what __libc_malloc returns.
void *malloc(size_t size) {
    cmc_count++;
    return __libc_malloc(size);
}

unsigned long cmc_thread_mallocs(void) { return cmc_count; }
int cmc_available(void) { return 1; }
#else
unsigned long cmc_thread_mallocs(void) { return 0; }
int cmc_available(void) { return 0; }
#endif

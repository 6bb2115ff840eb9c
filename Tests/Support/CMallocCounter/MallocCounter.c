// See include/CMallocCounter.h.
#include "CMallocCounter.h"
#include <stddef.h>

#if defined(__GLIBC__) || (defined(__linux__) && !defined(__APPLE__))
#include <features.h>
#endif

#if defined(__has_feature)
#if __has_feature(address_sanitizer) || __has_feature(thread_sanitizer) || __has_feature(memory_sanitizer)
#define CMC_SANITIZED 1
#endif
#endif

// Not under a sanitizer: its runtime replaces malloc and free together, and this malloc would hand its free
// memory it never allocated.
#if defined(__GLIBC__) && !defined(CMC_SANITIZED)
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

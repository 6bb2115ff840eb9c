// A per-thread scratch buffer that grows and is kept between calls (no allocation per matmul in the
// step loop; freed when the thread exits). Each translation unit that includes this header gets its own
// buffer per thread, so two kernels' buffers never alias.
#ifndef CK_THREAD_SCRATCH_H
#define CK_THREAD_SCRATCH_H
#include <pthread.h>
#include <stdlib.h>

static pthread_key_t ck_scratch_key;
static pthread_once_t ck_scratch_once = PTHREAD_ONCE_INIT;
static int ck_scratch_key_ok;
typedef struct { size_t capacity; void *data; } ck_scratch_buffer;
static void ck_scratch_free(void *p) { ck_scratch_buffer *b = p; free(b->data); free(b); }
static void ck_scratch_key_init(void) { ck_scratch_key_ok = pthread_key_create(&ck_scratch_key, ck_scratch_free) == 0; }

/// This thread's buffer of at least `bytes` bytes, 64-byte aligned, or NULL when memory runs out.
static void *ck_scratch(size_t bytes) {
    pthread_once(&ck_scratch_once, ck_scratch_key_init);
    if (!ck_scratch_key_ok) return NULL;
    ck_scratch_buffer *b = pthread_getspecific(ck_scratch_key);
    if (!b) {
        if (!(b = calloc(1, sizeof *b))) return NULL;
        if (pthread_setspecific(ck_scratch_key, b) != 0) { free(b); return NULL; }
    }
    if (b->capacity < bytes) {
        size_t rounded = (bytes + 63) & ~(size_t)63;
        void *p = aligned_alloc(64, rounded);
        if (!p) return NULL;
        free(b->data);
        b->data = p;
        b->capacity = rounded;
    }
    return b->data;
}
#endif

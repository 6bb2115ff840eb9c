// A persistent worker pool for the CPU kernels: the caller and (cores − 1) workers split a job's
// items through an atomic counter. Idle workers spin briefly (a decode step issues a few hundred
// short jobs back to back, and waking a sleeping thread costs microseconds each time), then sleep on
// a condition variable so an idle server costs nothing.
//
// One job at a time: ck_pool_run returns -1 at once if another thread's job is running (or when
// called from inside a job), and the caller runs the work another way.
#define _GNU_SOURCE
#include "CKernels.h"
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <unistd.h>
#if defined(__x86_64__)
#include <immintrin.h>
#define CK_PAUSE() _mm_pause()
#else
#define CK_PAUSE() ((void)0)
#endif

enum { CK_POOL_MAX = 64, CK_SPINS = 1 << 11 };  // about 20–50 µs of spinning before sleeping

static struct {
    _Atomic unsigned gen;       // bumped once per job
    _Atomic int open;           // 1 while the current job accepts workers
    _Atomic int active;         // workers inside the current job
    _Atomic int sleepers;       // workers blocked on cv
    _Atomic size_t next;        // next item to take
    _Atomic size_t pending;     // items not finished
    ck_task fn;                 // written by the caller while no worker is active
    void *ctx;
    size_t count;
    int workers;
    pthread_mutex_t m;
    pthread_cond_t cv;
    pthread_mutex_t run;        // one job at a time
    pthread_once_t once;
} P = {.m = PTHREAD_MUTEX_INITIALIZER, .cv = PTHREAD_COND_INITIALIZER, .run = PTHREAD_MUTEX_INITIALIZER,
       .once = PTHREAD_ONCE_INIT};

static void run_items(void) {
    for (;;) {
        size_t i = atomic_fetch_add(&P.next, 1);
        if (i >= P.count) return;
        P.fn(P.ctx, i);
        atomic_fetch_sub_explicit(&P.pending, 1, memory_order_release);
    }
}

static void *worker(void *arg) {
    (void)arg;
    unsigned seen = atomic_load(&P.gen);
    for (;;) {
        int spins = 0;
        while (atomic_load(&P.gen) == seen) {
            if (++spins < CK_SPINS) { CK_PAUSE(); continue; }
            pthread_mutex_lock(&P.m);
            atomic_fetch_add(&P.sleepers, 1);
            while (atomic_load(&P.gen) == seen) pthread_cond_wait(&P.cv, &P.m);
            atomic_fetch_sub(&P.sleepers, 1);
            pthread_mutex_unlock(&P.m);
        }
        seen = atomic_load(&P.gen);
        atomic_fetch_add(&P.active, 1);
        // A job that closed (or was replaced) before this worker got here is not touched.
        if (atomic_load(&P.open) && atomic_load(&P.gen) == seen) run_items();
        atomic_fetch_sub(&P.active, 1);
    }
    return NULL;
}

static void start(void) {
    // The CPUs this process may run on (a container's cpuset), as Foundation's activeProcessorCount.
    cpu_set_t set;
    long cores = sched_getaffinity(0, sizeof set, &set) == 0 ? CPU_COUNT(&set) : sysconf(_SC_NPROCESSORS_ONLN);
    int n = cores > 1 ? (int)cores - 1 : 0;
    if (n > CK_POOL_MAX) n = CK_POOL_MAX;
    for (int i = 0; i < n; i++) {
        pthread_t t;
        pthread_attr_t a;
        pthread_attr_init(&a);
        pthread_attr_setdetachstate(&a, PTHREAD_CREATE_DETACHED);
        if (pthread_create(&t, &a, worker, NULL) == 0) P.workers++;
        pthread_attr_destroy(&a);
    }
}

// Set by ck_pool_set_enabled(0): every ck_pool_run answers -1, so Parallel.forEach runs on Dispatch.
static _Atomic int disabled;

void ck_pool_set_enabled(int enabled) { atomic_store(&disabled, !enabled); }

int ck_pool_enabled(void) { return !atomic_load(&disabled); }

int ck_pool_workers(void) {
    pthread_once(&P.once, start);
    return P.workers;
}

int ck_pool_run(size_t count, ck_task fn, void *ctx) {
    if (atomic_load_explicit(&disabled, memory_order_relaxed)) return -1;
    pthread_once(&P.once, start);
    if (P.workers == 0 || pthread_mutex_trylock(&P.run) != 0) return -1;
    P.fn = fn;
    P.ctx = ctx;
    P.count = count;
    atomic_store(&P.next, 0);
    atomic_store(&P.pending, count);
    atomic_store(&P.open, 1);
    atomic_fetch_add(&P.gen, 1);
    if (atomic_load(&P.sleepers) > 0) {
        pthread_mutex_lock(&P.m);
        pthread_cond_broadcast(&P.cv);
        pthread_mutex_unlock(&P.m);
    }
    run_items();
    while (atomic_load_explicit(&P.pending, memory_order_acquire) > 0) CK_PAUSE();
    atomic_store(&P.open, 0);
    while (atomic_load(&P.active) > 0) CK_PAUSE();
    pthread_mutex_unlock(&P.run);
    return 0;
}

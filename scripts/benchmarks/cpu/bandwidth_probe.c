// Memory read-bandwidth probe for `scripts/bench cpu --model synthetic-moe` (compiled at run time by moe.sh):
// N threads each stream-read their share of a buffer far larger than the caches (sum of 64-bit words,
// 8 independent accumulators so the loop is bound by loads, not by the add chain), the median of several
// passes (a single pass once read 79 GB/s where the others of the run read ~39: the median ignores one).
//     bandwidth_probe [threads=2] [megabytes=1024] [passes=8]
// Prints one JSON line: {"probe": "read", "threads": N, "bytes": B, "gbps": median, "best_gbps": best}
// (GB = 1e9 bytes).
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

typedef struct {
    const uint64_t *data;
    size_t words;
    uint64_t sum;
} Share;

static pthread_barrier_t barrier;

static void *readShare(void *arg) {
    Share *s = arg;
    pthread_barrier_wait(&barrier);
    uint64_t a[8] = {0};
    for (size_t i = 0; i + 8 <= s->words; i += 8)
        for (int k = 0; k < 8; k++) a[k] += s->data[i + k];
    s->sum = a[0] + a[1] + a[2] + a[3] + a[4] + a[5] + a[6] + a[7];
    pthread_barrier_wait(&barrier);
    return NULL;
}

static double now(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec + t.tv_nsec * 1e-9;
}

int main(int argc, char **argv) {
    int threads = argc > 1 ? atoi(argv[1]) : 2;
    size_t megabytes = argc > 2 ? (size_t)atol(argv[2]) : 1024;
    int passes = argc > 3 ? atoi(argv[3]) : 8;
    if (threads < 1 || threads > 256 || megabytes < 64 || passes < 1) {
        fprintf(stderr, "usage: bandwidth_probe [threads 1-256] [megabytes >= 64] [passes >= 1]\n");
        return 2;
    }
    size_t words = megabytes * 1000000 / 8 / (8 * threads) * (8 * threads);
    uint64_t *data = aligned_alloc(64, words * 8);
    if (!data) { fprintf(stderr, "bandwidth_probe: cannot allocate %zu MB\n", megabytes); return 1; }
    for (size_t i = 0; i < words; i++) data[i] = i;  // touch every page
    pthread_barrier_init(&barrier, NULL, threads + 1);
    Share *shares = calloc(threads, sizeof(Share));
    double rates[256];
    if (passes > 256) passes = 256;
    uint64_t check = 0;
    for (int p = 0; p < passes; p++) {
        pthread_t ids[256];
        for (int t = 0; t < threads; t++) {
            shares[t] = (Share){data + words / threads * t, words / threads, 0};
            pthread_create(&ids[t], NULL, readShare, &shares[t]);
        }
        pthread_barrier_wait(&barrier);
        double start = now();
        pthread_barrier_wait(&barrier);
        double seconds = now() - start;
        for (int t = 0; t < threads; t++) { pthread_join(ids[t], NULL); check += shares[t].sum; }
        rates[p] = words * 8 / seconds / 1e9;
    }
    for (int i = 1; i < passes; i++)  // insertion sort: a handful of passes
        for (int j = i; j > 0 && rates[j - 1] > rates[j]; j--) { double t = rates[j]; rates[j] = rates[j - 1]; rates[j - 1] = t; }
    double median = passes % 2 ? rates[passes / 2] : (rates[passes / 2 - 1] + rates[passes / 2]) / 2;
    printf("{\"probe\": \"read\", \"threads\": %d, \"bytes\": %zu, \"gbps\": %.2f, \"best_gbps\": %.2f, \"checksum\": %llu}\n",
           threads, words * 8, median, rates[passes - 1], (unsigned long long)(check & 0xffff));
    return 0;
}

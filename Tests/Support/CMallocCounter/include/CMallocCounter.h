// Counts malloc calls per thread, for the tests that check a warm decode step allocates nothing
// (Tests/ModelTests/StepAllocationTests.swift). Linked into the test executable only: its `malloc` takes
// the place of libc's for the whole test process and hands every call on to glibc's `__libc_malloc`.
#ifndef CMALLOC_COUNTER_H
#define CMALLOC_COUNTER_H

/// malloc calls made on the calling thread so far (0 where the counter is not available).
unsigned long cmc_thread_mallocs(void);
/// Whether this build counts (glibc: yes).
int cmc_available(void);

#endif

/*
 * Allocation-failure injection for tests, by interposition: a program
 * linked with tests/alloc_fail.c gets this module's malloc, calloc,
 * realloc, reallocarray, free, the aligned allocators and sodium_malloc.
 * They forward to glibc's own (__libc_malloc and friends) and to
 * libsodium's, so everything in the process allocates through them: the
 * core, the driver plugins it dlopen()s, libsodium, uriparser, LMDB and
 * glibc itself (strdup, realpath, fopen, dlopen).
 *
 * While armed, the module counts allocations and makes chosen ones fail
 * (NULL, errno ENOMEM) as a real allocator out of memory would. It also
 * counts every block alive, armed or not, so that a test can see whether
 * a piece of work left any behind.
 *
 * The counters are atomic; the armed state is one for the whole process,
 * meant for single-threaded tests.
 */
#ifndef OBOL_TEST_ALLOC_FAIL_H
#define OBOL_TEST_ALLOC_FAIL_H

#include <stddef.h>

enum {
    ALLOC_FAIL_NTH = 1,   /* only the nth allocation fails */
    ALLOC_FAIL_FROM = 2   /* the nth and every one after it fail */
};

/* Starts counting allocations from zero; the nth (1-based) fails, and in
 * ALLOC_FAIL_FROM mode every later one too. nth 0 counts and fails none. */
void alloc_fail_arm(unsigned long nth, int mode);

/* Stops counting and failing. */
void alloc_fail_disarm(void);

/* Allocations counted since the last arm, failed ones included. */
unsigned long alloc_fail_seen(void);

/* Allocations made to fail since the last arm. */
unsigned long alloc_fail_injected(void);

/* While paused (calls nest), allocations are neither counted nor failed:
 * for a test's own bookkeeping in the middle of an armed run. */
void alloc_fail_pause(void);
void alloc_fail_resume(void);

/* Blocks alive now, and their usable bytes (sodium_malloc() blocks are
 * counted in blocks only). */
long alloc_fail_live_blocks(void);
long alloc_fail_live_bytes(void);

/* NULL when failures can be injected, else why not: in a build with
 * AddressSanitizer (or another sanitizer that owns malloc) this module is
 * compiled out, and valgrind replaces the program's malloc family with its
 * own (only sodium_malloc() would still be seen). */
const char *alloc_fail_unavailable(void);

#endif

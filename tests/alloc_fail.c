/*
 * Allocation-failure injection by interposition; see alloc_fail.h.
 *
 * glibc lets a program replace its allocator by defining malloc, free,
 * calloc and realloc (and the aligned variants): the dynamic linker binds
 * every reference in the process to the executable's definitions first,
 * glibc's own internal calls and dlopen()ed plugins included. Each of
 * ours decides whether to fail, then forwards to the __libc_* entry points
 * glibc exports for exactly this purpose. sodium_malloc() is interposed
 * too: libsodium serves it from mmap(), which the functions above never
 * see, and the core keeps its keys there.
 *
 * Every function here must work before main() and from any library, so
 * none of them calls anything that could allocate.
 */
#include "config.h"

#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <malloc.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <sodium.h>

#include "alloc_fail.h"

/* A sanitizer's runtime owns malloc itself: two definitions would clash at
 * link time or, worse, mix two heaps. */
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
#define ALLOC_FAIL_COMPILED_OUT 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer) || __has_feature(memory_sanitizer) || \
    __has_feature(thread_sanitizer)
#define ALLOC_FAIL_COMPILED_OUT 1
#endif
#endif

static int armed;
static unsigned long fail_at;
static int fail_mode;
static unsigned long seen;
static unsigned long injected;
static long live_blocks;
static long live_bytes;
/* Per thread, so that one thread's bookkeeping does not hide another's
 * allocations. */
static __thread int paused;

void alloc_fail_arm(unsigned long nth, int mode)
{
    __atomic_store_n(&armed, 0, __ATOMIC_SEQ_CST);
    fail_at = nth;
    fail_mode = mode;
    __atomic_store_n(&seen, 0, __ATOMIC_SEQ_CST);
    __atomic_store_n(&injected, 0, __ATOMIC_SEQ_CST);
    __atomic_store_n(&armed, 1, __ATOMIC_SEQ_CST);
}

void alloc_fail_disarm(void)
{
    __atomic_store_n(&armed, 0, __ATOMIC_SEQ_CST);
}

unsigned long alloc_fail_seen(void)
{
    return __atomic_load_n(&seen, __ATOMIC_SEQ_CST);
}

unsigned long alloc_fail_injected(void)
{
    return __atomic_load_n(&injected, __ATOMIC_SEQ_CST);
}

void alloc_fail_pause(void)
{
    paused++;
}

void alloc_fail_resume(void)
{
    paused--;
}

long alloc_fail_live_blocks(void)
{
    return __atomic_load_n(&live_blocks, __ATOMIC_SEQ_CST);
}

long alloc_fail_live_bytes(void)
{
    return __atomic_load_n(&live_bytes, __ATOMIC_SEQ_CST);
}

#ifdef ALLOC_FAIL_COMPILED_OUT

const char *alloc_fail_unavailable(void)
{
    return "built with a sanitizer, which owns malloc";
}

#else

/* Valgrind maps its preloaded replacement allocator into the process;
 * /proc/self/maps names it. Read with plain system calls: stdio would
 * allocate. */
static int under_valgrind(void)
{
    static const char mark[] = "vgpreload";
    char buf[4096 + sizeof mark];
    size_t kept = 0;
    ssize_t n;
    int found = 0;
    int fd = open("/proc/self/maps", O_RDONLY | O_CLOEXEC);

    if (fd < 0)
        return 0;
    while (!found && (n = read(fd, buf + kept, sizeof buf - kept - 1)) > 0) {
        size_t len = kept + (size_t)n;

        buf[len] = '\0';
        found = memmem(buf, len, mark, sizeof mark - 1) != NULL;
        /* Keep the tail, in case the mark straddles two reads. */
        kept = len < sizeof mark ? len : sizeof mark - 1;
        memmove(buf, buf + len - kept, kept);
    }
    close(fd);
    return found;
}

const char *alloc_fail_unavailable(void)
{
    if (under_valgrind())
        return "running under valgrind, whose allocator replaces this "
               "program's";
    return NULL;
}

extern void *__libc_malloc(size_t size);
extern void *__libc_calloc(size_t count, size_t size);
extern void *__libc_realloc(void *old, size_t size);
extern void *__libc_memalign(size_t alignment, size_t size);
extern void *__libc_valloc(size_t size);
extern void *__libc_pvalloc(size_t size);
extern void __libc_free(void *block);

/* Whether this allocation is to fail. Counts it while armed. */
static int should_fail(void)
{
    unsigned long n;
    int fail;

    if (!__atomic_load_n(&armed, __ATOMIC_SEQ_CST) || paused > 0)
        return 0;
    n = __atomic_add_fetch(&seen, 1, __ATOMIC_SEQ_CST);
    fail = fail_at != 0 &&
           (n == fail_at || (fail_mode == ALLOC_FAIL_FROM && n > fail_at));
    if (fail) {
        __atomic_add_fetch(&injected, 1, __ATOMIC_SEQ_CST);
        errno = ENOMEM;
    }
    return fail;
}

static void *tracked(void *block)
{
    if (block != NULL) {
        __atomic_add_fetch(&live_blocks, 1, __ATOMIC_SEQ_CST);
        __atomic_add_fetch(&live_bytes, (long)malloc_usable_size(block),
                           __ATOMIC_SEQ_CST);
    }
    return block;
}

static void untrack(void *block)
{
    __atomic_sub_fetch(&live_blocks, 1, __ATOMIC_SEQ_CST);
    __atomic_sub_fetch(&live_bytes, (long)malloc_usable_size(block),
                       __ATOMIC_SEQ_CST);
}

void *malloc(size_t size)
{
    return should_fail() ? NULL : tracked(__libc_malloc(size));
}

void *calloc(size_t count, size_t size)
{
    return should_fail() ? NULL : tracked(__libc_calloc(count, size));
}

void free(void *block)
{
    if (block == NULL)
        return;
    untrack(block);
    __libc_free(block);
}

void *realloc(void *old, size_t size)
{
    long old_bytes;
    void *block;

    if (old == NULL)
        return malloc(size);
    if (size == 0) {
        free(old);   /* glibc's realloc(p, 0) frees p and returns NULL */
        return NULL;
    }
    if (should_fail())
        return NULL;   /* old stays valid, as after a real failure */
    old_bytes = (long)malloc_usable_size(old);
    block = __libc_realloc(old, size);
    if (block != NULL)
        __atomic_add_fetch(&live_bytes,
                           (long)malloc_usable_size(block) - old_bytes,
                           __ATOMIC_SEQ_CST);
    return block;
}

void *reallocarray(void *old, size_t count, size_t size)
{
    if (size != 0 && count > SIZE_MAX / size) {
        errno = ENOMEM;
        return NULL;
    }
    return realloc(old, count * size);
}

void *memalign(size_t alignment, size_t size)
{
    return should_fail() ? NULL : tracked(__libc_memalign(alignment, size));
}

void *aligned_alloc(size_t alignment, size_t size)
{
    return memalign(alignment, size);
}

int posix_memalign(void **out, size_t alignment, size_t size)
{
    void *block;

    if (alignment < sizeof(void *) || (alignment & (alignment - 1)) != 0)
        return EINVAL;
    block = memalign(alignment, size);
    if (block == NULL)
        return ENOMEM;
    *out = block;
    return 0;
}

void *valloc(size_t size)
{
    return should_fail() ? NULL : tracked(__libc_valloc(size));
}

void *pvalloc(size_t size)
{
    return should_fail() ? NULL : tracked(__libc_pvalloc(size));
}

/* libsodium's own, found once before main(), while nothing is armed. */
static void *(*real_sodium_malloc)(size_t size);
static void (*real_sodium_free)(void *block);

__attribute__((constructor)) static void find_sodium_allocator(void)
{
    /* POSIX sanctions converting dlsym's result to a function pointer. */
    *(void **)&real_sodium_malloc = dlsym(RTLD_NEXT, "sodium_malloc");
    *(void **)&real_sodium_free = dlsym(RTLD_NEXT, "sodium_free");
}

void *sodium_malloc(size_t size)
{
    void *block;

    if (should_fail() || real_sodium_malloc == NULL)
        return NULL;
    block = real_sodium_malloc(size);
    if (block != NULL)
        __atomic_add_fetch(&live_blocks, 1, __ATOMIC_SEQ_CST);
    return block;
}

void sodium_free(void *block)
{
    if (block == NULL || real_sodium_free == NULL)
        return;
    __atomic_sub_fetch(&live_blocks, 1, __ATOMIC_SEQ_CST);
    real_sodium_free(block);
}

#endif

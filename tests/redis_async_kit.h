/*
 * Driving the Redis driver's submit() slot the way the core's queue does,
 * for tests/test_redis_async*.c: each helper builds one operation with
 * copies of its strings, submits it, and the completion is recorded (and
 * counted: exactly once) for async_kit_wait(). Failures to submit fail
 * the test (cmocka).
 */
#ifndef OBOL_TESTS_REDIS_ASYNC_KIT_H
#define OBOL_TESTS_REDIS_ASYNC_KIT_H

#include <pthread.h>
#include <stdint.h>

#include <obol/driver.h>

typedef struct async_kit_op {
    obol_driver_op d;
    char user[64], type[64], id[64];
    char *sealed;            /* PUT's record bytes */
    void *handle;
    pthread_mutex_t mutex;
    pthread_cond_t cond;
    int completions;         /* must end at exactly 1 */
    int status;
    char message[256];
    double completed_ms;     /* redis_harness_monotonic_ms() */
    int visited;             /* LIST: records seen */
    int chain_left, chain_done;
} async_kit_op;

extern const obol_driver *async_kit_driver;
/* For the next async_kit_open(): max_record (0: none). */
extern uint64_t async_kit_max_record;
/* For the next submissions: their deadline after now (0: 5000 ms;
 * INT64_MAX: none). */
extern int64_t async_kit_timeout_ms;

int async_kit_load(void);
/* Opens url (asserting success). */
void *async_kit_open(const char *url);

async_kit_op *async_kit_get(void *h, const char *user, const char *type,
                            const char *id);
async_kit_op *async_kit_put(void *h, const char *user, const char *type,
                            const char *id, const char *sealed,
                            uint64_t expected_lock, uint64_t new_lock);
/* kind OBOL_DRIVER_OP_DEL (id) or OBOL_DRIVER_OP_DEL_ALL (id NULL). */
async_kit_op *async_kit_del(void *h, int kind, const char *user,
                            const char *type, const char *id);
async_kit_op *async_kit_list(void *h, const char *user, const char *type);
/* A get that, as each completes with OBOL_OK, submits itself again from
 * its completion, count times in all. */
async_kit_op *async_kit_chain(void *h, const char *user, const char *type,
                              const char *id, int count);
int async_kit_chain_done(const async_kit_op *op);

/* Waits (up to 30 s, else fails) for the completion; its status. */
int async_kit_wait(async_kit_op *op);
/* Frees op, asserting that it completed exactly once. */
void async_kit_free(async_kit_op *op);

/* put, wait, free: the status. */
int async_kit_run_put(void *h, const char *user, const char *type,
                      const char *id, const char *sealed,
                      uint64_t expected_lock, uint64_t new_lock);
/* A blocking put() of a fresh record at lock 1. */
int async_kit_blocking_put(void *h, const char *user, const char *type,
                           const char *id);

#endif

/*
 * The non-blocking API under load, for the Redis tests of the native
 * path (tests/test_redis_async_*.c), through the public API: a queue in
 * OBOL_QUEUE_NATIVE mode, one get waited for, and a loop thread keeping
 * operations in flight while a test moves the servers about, checking at
 * the end that each callback ran exactly once. Failures fail the cmocka
 * test.
 */
#ifndef OBOL_TESTS_REDIS_ASYNC_LOAD_H
#define OBOL_TESTS_REDIS_ASYNC_LOAD_H

#include <pthread.h>

#include <obol/obol.h>

/* A native queue on st. */
obol_queue *open_queue(obol_store *st, int64_t timeout_ms);

/* One get of s through q, waited for: its status. */
int get_through(obol_queue *q, const obol_session *s);

enum { LOAD_MAX_OPS = 200000 };

typedef struct load load;

typedef struct load_op {
    load *l;
    int runs;
} load_op;

struct load {
    obol_store *st;
    const char *user;
    obol_session *known;
    int depth;
    int stop;                /* read and written atomically */
    load_op *ops;
    int submitted, completed, twice, in_flight;
    int ok, errors, timeouts;
    char last_error[300];
    pthread_t thread;
};

/* A loop thread on st keeping depth operations in flight: gets of one
 * stored session of user and upserts of new ones, in turn. */
void load_start(load *l, obol_store *st, const char *user, int depth);

/* Stops it, prints the counts under label as a TAP comment, and checks
 * that every callback ran exactly once and that some succeeded. */
void load_finish(load *l, const char *label);

/* The callback of the load's operations (arg: a load_op). */
void load_on_done(void *arg, obol_result *result);

#endif

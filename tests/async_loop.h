/*
 * What the tests of the non-blocking API share: a libuv loop with one
 * queue attached (include/obol/uv.h), and a record of each operation
 * submitted that its callback fills in, so that a test can check that
 * every callback ran exactly once, when, and with what.
 *
 *     async_loop l;
 *     async_op ops[N];
 *     async_loop_open(&l, st, OBOL_QUEUE_AUTO, 300);
 *     for (i...) { async_op_init(&ops[i], &l); obol_get_async(l.q, ...,
 *                  async_op_done, &ops[i], &err); }
 *     async_loop_run_until(&l, N, 5000);    // all N callbacks, within 5 s
 *     async_loop_close(&l);
 *
 * Everything here asserts (cmocka) instead of returning errors, but for
 * async_loop_start(), _wait() and _end().
 */
#ifndef OBOL_TESTS_ASYNC_LOOP_H
#define OBOL_TESTS_ASYNC_LOOP_H

#include <stddef.h>
#include <stdint.h>

#include <uv.h>

#include <obol/obol.h>
#include <obol/uv.h>

typedef struct async_loop {
    uv_loop_t loop;
    obol_queue *q;
    obol_uv *watch;
    size_t done;         /* callbacks run, of every operation */
    size_t extra_runs;   /* second and later runs of one operation */
    int closing;         /* inside obol_queue_close() */
    int closed;          /* obol_queue_close() has returned */
    size_t after_close;  /* callbacks run after that: never allowed */
    size_t during_close; /* callbacks run by obol_queue_close() */
} async_loop;

/* One operation submitted: what its callback got. The callback takes
 * every result field it is given (obol_result's rule); async_op_clear()
 * frees them. */
typedef struct async_op {
    async_loop *loop;
    int runs;
    int op;
    int status;
    char message[256];
    double submitted_ms;     /* set by async_op_init() */
    double done_ms;          /* when the callback ran */
    int during_close;        /* run by obol_queue_close() */
    obol_session *session;
    obol_session **sessions;
    size_t count;
    uint64_t removed;
    char *new_token;
    obol_session *upserted;
    void (*then)(struct async_op *op);   /* called after recording; may
                                            submit more */
    void *data;                          /* the test's own */
} async_op;

/* The monotonic clock, in milliseconds. */
double async_now_ms(void);

/* The same three without cmocka, for a thread of a test's own (where a
 * failed assert cannot reach the case): OBOL_OK or a status with err
 * filled; 0, or -1 when not all target callbacks ran; uv_loop_close()'s
 * result. */
int async_loop_start(async_loop *l, obol_store *st, int mode,
                     int64_t timeout_ms, obol_error *err);
int async_loop_wait(async_loop *l, size_t target, double limit_ms);
int async_loop_end(async_loop *l);

/* Opens a queue on st with that mode and per-operation timeout (0: the
 * default) and attaches it to a fresh loop. */
void async_loop_open(async_loop *l, obol_store *st, int mode,
                     int64_t timeout_ms);

/* Runs the loop until l->done reaches target; fails the test when that
 * takes longer than limit_ms. */
void async_loop_run_until(async_loop *l, size_t target, double limit_ms);

/* Runs the loop for ms milliseconds, whatever completes. */
void async_loop_run_for(async_loop *l, double ms);

/* Detaches and closes the queue (callbacks still owed run inside, each
 * counted in during_close), then closes the loop. */
void async_loop_close(async_loop *l);

/* Zeroes op, ties it to l and stamps its submit time. */
void async_op_init(async_op *op, async_loop *l);

/* The obol_done_fn that fills an async_op (arg). */
void async_op_done(void *arg, obol_result *result);

/* Frees what op took from its result. */
void async_op_clear(async_op *op);

/* A store on url with the tests' signing key; fails the test when it
 * does not open. */
obol_store *async_store_open(const char *url);

/* A fresh config string: base with a prefix no other call returned. */
void async_make_url(char *out, size_t size, const char *base,
                    const char *extra);

/* A session of uid, full type, valid for a day from now. */
obol_session *async_session_new(const char *uid);

#endif

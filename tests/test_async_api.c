/*
 * The non-blocking API's contract outside the store suite (which
 * tests/async_wrap.c runs through it): what obol_queue_open() refuses;
 * what each submit refuses at once (its callback then never runs); the
 * queue's descriptor and obol_queue_wait(); and synchronous calls on a
 * store while a loop runs async ones on it. On the memory driver (inline
 * at submit), LMDB (inline and on the worker pool) and Redis (native).
 */
#include "config.h"

#include <poll.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>

#include "async_loop.h"
#include "redis_harness.h"
#include "tmpdir.h"

static redis_harness *redis;
static char *lmdb_dir;
static char redis_base[256];
static char lmdb_base[4200];

typedef struct backend {
    const char *name;
    const char *base;
    int mode;
} backend;

static const backend memory_inline = { "memory", "memory:", OBOL_QUEUE_AUTO };
static const backend lmdb_inline = { "lmdb", lmdb_base, OBOL_QUEUE_AUTO };
static const backend lmdb_workers = { "lmdb workers", lmdb_base,
                                      OBOL_QUEUE_WORKERS };
static const backend redis_native = { "redis", redis_base, OBOL_QUEUE_AUTO };
static const backend redis_workers = { "redis workers", redis_base,
                                       OBOL_QUEUE_WORKERS };

static obol_store *backend_store(const backend *b, const char *extra)
{
    char url[4400];

    async_make_url(url, sizeof url, b->base, extra);
    return async_store_open(url);
}

/* ------------------------------------------------------------ opening */

static void queue_open_refuses_what_it_cannot_use(void **state)
{
    obol_store *st = backend_store(&memory_inline, NULL);
    obol_queue_options small = { sizeof small - 1, 0, 0, 0 };
    obol_queue_options unknown = { sizeof unknown, 99, 0, 0 };
    obol_queue_options negative = { sizeof negative, -1, 0, 0 };
    obol_queue *q = (obol_queue *)&small;
    obol_error err;

    (void)state;
    assert_int_equal(obol_queue_open(NULL, NULL, &q, &err), OBOL_ERR_INVALID);
    assert_int_equal(err.status, OBOL_ERR_INVALID);
    assert_int_equal(obol_queue_open(st, NULL, NULL, &err), OBOL_ERR_INVALID);
    q = (obol_queue *)&small;
    assert_int_equal(obol_queue_open(st, &small, &q, &err), OBOL_ERR_INVALID);
    assert_non_null(strstr(err.message, "struct_size"));
    assert_int_equal(obol_queue_open(st, &unknown, &q, &err),
                     OBOL_ERR_INVALID);
    assert_int_equal(obol_queue_open(st, &negative, &q, &err),
                     OBOL_ERR_INVALID);
    assert_int_equal(obol_queue_open(st, NULL, &q, NULL), OBOL_OK);
    assert_non_null(q);
    assert_true(obol_queue_fd(q) >= 0);
    assert_int_equal(obol_queue_pending(q), 0);
    obol_queue_close(q);
    obol_store_close(st);
}

/* ------------------------------------------------------ refused submits */

typedef struct refusals {
    async_loop l;
    async_op op;
    size_t refused;
} refusals;

/* The submit returned status at once; the callback must never run. */
static void refused(refusals *r, int got, int expected, const obol_error *err,
                    const char *what)
{
    if (got != expected)
        fail_msg("%s: %s (%s), expected %s", what, obol_status_name(got),
                 err->message, obol_status_name(expected));
    assert_int_equal(err->status, expected);
    assert_true(err->message[0] != '\0');
    r->refused++;
}

static void refused_callbacks_never_run(refusals *r)
{
    assert_int_equal(obol_queue_pending(r->l.q), 0);
    async_loop_run_for(&r->l, 50);
    assert_int_equal(r->op.runs, 0);
    assert_int_equal(r->l.done, 0);
}

static void submits_refuse_bad_arguments_at_once(void **state)
{
    const backend *b = *state;
    obol_store *st = backend_store(b, NULL);
    obol_session *s = async_session_new("alice");
    refusals r = { 0 };
    obol_error err;

    async_loop_open(&r.l, st, b->mode, 0);
    async_op_init(&r.op, &r.l);
#define REFUSED(call, status) refused(&r, (call), (status), &err, #call)
    /* No queue, no callback. */
    REFUSED(obol_get_async(NULL, "x", "alice", NULL, async_op_done, &r.op,
                           &err), OBOL_ERR_INVALID);
    REFUSED(obol_upsert_async(NULL, s, async_op_done, &r.op, &err),
            OBOL_ERR_INVALID);
    REFUSED(obol_delete_async(NULL, "x", "alice", NULL, async_op_done, &r.op,
                              &err), OBOL_ERR_INVALID);
    REFUSED(obol_get_all_async(NULL, "alice", NULL, async_op_done, &r.op,
                               &err), OBOL_ERR_INVALID);
    REFUSED(obol_delete_all_async(NULL, "alice", NULL, async_op_done, &r.op,
                                  &err), OBOL_ERR_INVALID);
    REFUSED(obol_refresh_async(NULL, "o1.x", 3600, async_op_done, &r.op,
                               &err), OBOL_ERR_INVALID);
    REFUSED(obol_get_async(r.l.q, "x", "alice", NULL, NULL, &r.op, &err),
            OBOL_ERR_INVALID);
    REFUSED(obol_upsert_async(r.l.q, s, NULL, &r.op, &err), OBOL_ERR_INVALID);
    REFUSED(obol_delete_async(r.l.q, "x", "alice", NULL, NULL, &r.op, &err),
            OBOL_ERR_INVALID);
    REFUSED(obol_get_all_async(r.l.q, "alice", NULL, NULL, &r.op, &err),
            OBOL_ERR_INVALID);
    REFUSED(obol_delete_all_async(r.l.q, "alice", NULL, NULL, &r.op, &err),
            OBOL_ERR_INVALID);
    REFUSED(obol_refresh_async(r.l.q, "o1.x", 3600, NULL, &r.op, &err),
            OBOL_ERR_INVALID);
    /* NULL and empty ids, as the synchronous calls refuse them. */
    REFUSED(obol_get_async(r.l.q, NULL, "alice", NULL, async_op_done, &r.op,
                           &err), OBOL_ERR_INVALID);
    REFUSED(obol_get_async(r.l.q, "x", "", NULL, async_op_done, &r.op, &err),
            OBOL_ERR_INVALID);
    REFUSED(obol_get_async(r.l.q, "x", "alice", "", async_op_done, &r.op,
                           &err), OBOL_ERR_INVALID);
    REFUSED(obol_delete_async(r.l.q, "x", NULL, NULL, async_op_done, &r.op,
                              &err), OBOL_ERR_INVALID);
    REFUSED(obol_get_all_async(r.l.q, "", NULL, async_op_done, &r.op, &err),
            OBOL_ERR_INVALID);
    REFUSED(obol_delete_all_async(r.l.q, NULL, NULL, async_op_done, &r.op,
                                  &err), OBOL_ERR_INVALID);
    REFUSED(obol_upsert_async(r.l.q, NULL, async_op_done, &r.op, &err),
            OBOL_ERR_INVALID);
    REFUSED(obol_refresh_async(r.l.q, NULL, 3600, async_op_done, &r.op, &err),
            OBOL_ERR_INVALID);
    refused_callbacks_never_run(&r);
    async_loop_close(&r.l);
    assert_int_equal(r.op.runs, 0);
    obol_session_free(s);
    obol_store_close(st);
}

/* What a submit can tell without the backend, it tells as the
 * synchronous call does: the same status, the same message. */
static void same_refusal_as_sync(refusals *r, int async_status,
                                 const obol_error *async_err, int sync_status,
                                 const obol_error *sync_err, const char *what)
{
    assert_int_not_equal(sync_status, OBOL_OK);
    refused(r, async_status, sync_status, async_err, what);
    assert_string_equal(async_err->message, sync_err->message);
}

static void submits_refuse_what_the_store_cannot_write(void **state)
{
    const backend *b = *state;
    obol_store *st = backend_store(b, "max_payload=1KiB");
    obol_session *big = async_session_new("alice");
    obol_session *long_uid, *got = NULL;
    char *long_id = malloc(OBOL_MAX_ID_LEN + 2);
    static uint8_t payload[2048];
    refusals r = { 0 };
    obol_error aerr, serr;
    int sync_status;

    assert_non_null(long_id);
    memset(long_id, 'u', OBOL_MAX_ID_LEN + 1);
    long_id[OBOL_MAX_ID_LEN + 1] = '\0';
    long_uid = async_session_new(long_id);
    async_loop_open(&r.l, st, b->mode, 0);
    async_op_init(&r.op, &r.l);
    assert_int_equal(obol_session_set_payload(big, payload, sizeof payload),
                     OBOL_OK);

    sync_status = obol_upsert(st, big, &serr);
    assert_int_equal(sync_status, OBOL_ERR_TOO_LARGE);
    same_refusal_as_sync(&r, obol_upsert_async(r.l.q, big, async_op_done,
                                               &r.op, &aerr),
                         &aerr, sync_status, &serr, "oversized payload");
    sync_status = obol_upsert(st, long_uid, &serr);
    same_refusal_as_sync(&r, obol_upsert_async(r.l.q, long_uid, async_op_done,
                                               &r.op, &aerr),
                         &aerr, sync_status, &serr, "user id too long");
    /* A read of an id no store could have written: refused at once only
     * if the synchronous call refuses it too (it may just not find it). */
    sync_status = obol_get(st, long_id, "alice", NULL, &got, &serr);
    assert_null(got);
    if (sync_status != OBOL_NOT_FOUND)
        same_refusal_as_sync(&r, obol_get_async(r.l.q, long_id, "alice", NULL,
                                                async_op_done, &r.op, &aerr),
                             &aerr, sync_status, &serr, "session id too long");
    refused_callbacks_never_run(&r);
    async_loop_close(&r.l);
    assert_int_equal(big->lock_version, 0);
    obol_session_free(big);
    obol_session_free(long_uid);
    free(long_id);
    obol_store_close(st);
}

static void submits_refuse_without_a_signing_key(void **state)
{
    const backend *b = *state;
    char url[4400];
    obol_store *bare = NULL;
    obol_session *s = async_session_new("alice");
    obol_session *got = NULL;
    obol_session **all = NULL;
    size_t count = 0;
    refusals r = { 0 };
    obol_error aerr, serr;
    int sync_status;

    async_make_url(url, sizeof url, b->base, NULL);
    assert_int_equal(obol_store_open(url, &bare, &serr), OBOL_OK);
    async_loop_open(&r.l, bare, b->mode, 0);
    async_op_init(&r.op, &r.l);
    sync_status = obol_upsert(bare, s, &serr);
    same_refusal_as_sync(&r, obol_upsert_async(r.l.q, s, async_op_done, &r.op,
                                               &aerr),
                         &aerr, sync_status, &serr, "upsert without a key");
    sync_status = obol_get(bare, "x", "alice", NULL, &got, &serr);
    same_refusal_as_sync(&r, obol_get_async(r.l.q, "x", "alice", NULL,
                                            async_op_done, &r.op, &aerr),
                         &aerr, sync_status, &serr, "get without a key");
    sync_status = obol_delete(bare, "x", "alice", NULL, &serr);
    same_refusal_as_sync(&r, obol_delete_async(r.l.q, "x", "alice", NULL,
                                               async_op_done, &r.op, &aerr),
                         &aerr, sync_status, &serr, "delete without a key");
    sync_status = obol_get_all(bare, "alice", NULL, &all, &count, &serr);
    same_refusal_as_sync(&r, obol_get_all_async(r.l.q, "alice", NULL,
                                                async_op_done, &r.op, &aerr),
                         &aerr, sync_status, &serr, "get_all without a key");
    sync_status = obol_delete_all(bare, "alice", NULL, &serr);
    same_refusal_as_sync(&r, obol_delete_all_async(r.l.q, "alice", NULL,
                                                   async_op_done, &r.op,
                                                   &aerr),
                         &aerr, sync_status, &serr,
                         "delete_all without a key");
    sync_status = obol_refresh(bare, "o1.AAAA", 3600, NULL, NULL, &serr);
    if (sync_status != OBOL_NOT_FOUND)
        same_refusal_as_sync(&r, obol_refresh_async(r.l.q, "o1.AAAA", 3600,
                                                    async_op_done, &r.op,
                                                    &aerr),
                             &aerr, sync_status, &serr,
                             "refresh without a key");
    refused_callbacks_never_run(&r);
    async_loop_close(&r.l);
    assert_int_equal(s->lock_version, 0);
    obol_session_free(s);
    obol_store_close(bare);
}

/* ---------------------------------------------------- descriptor, wait */

static int readable(const obol_queue *q)
{
    struct pollfd p = { .fd = obol_queue_fd(q), .events = POLLIN };

    return poll(&p, 1, 0) == 1 && (p.revents & POLLIN);
}

static void descriptor_is_readable_while_callbacks_wait(void **state)
{
    const backend *b = *state;
    obol_store *st = backend_store(b, NULL);
    obol_queue_options options = { sizeof options, b->mode, 0, 0 };
    obol_queue *q;
    async_loop l = { 0 };   /* for the records only: no loop here */
    async_op ops[3];
    obol_error err;
    double until;
    int fd;

    assert_int_equal(obol_queue_open(st, &options, &q, &err), OBOL_OK);
    fd = obol_queue_fd(q);
    assert_false(readable(q));
    assert_int_equal(obol_queue_dispatch(q), 0);
    for (int i = 0; i < 3; i++) {
        async_op_init(&ops[i], &l);
        assert_int_equal(obol_get_async(q, "x", "alice", NULL, async_op_done,
                                        &ops[i], &err), OBOL_OK);
    }
    assert_int_equal(obol_queue_pending(q), 3);
    until = async_now_ms() + 5000;
    while (!readable(q) && async_now_ms() < until)
        redis_harness_sleep_ms(1);
    assert_true(readable(q));
    /* Readable until dispatched, however often it is polled. */
    assert_true(readable(q));
    assert_int_equal(obol_queue_fd(q), fd);
    while (l.done < 3 && async_now_ms() < until)
        if (obol_queue_dispatch(q) == 0)
            redis_harness_sleep_ms(1);
    assert_int_equal(l.done, 3);
    assert_int_equal(obol_queue_pending(q), 0);
    assert_false(readable(q));
    assert_int_equal(obol_queue_dispatch(q), 0);
    for (int i = 0; i < 3; i++) {
        assert_int_equal(ops[i].runs, 1);
        assert_int_equal(ops[i].status, OBOL_NOT_FOUND);
    }
    obol_queue_close(q);
    obol_store_close(st);
}

static void wait_dispatches_without_a_loop(void **state)
{
    const backend *b = *state;
    obol_store *st = backend_store(b, NULL);
    obol_queue_options options = { sizeof options, b->mode, 0, 0 };
    obol_session *s = async_session_new("alice");
    obol_queue *q;
    async_loop l = { 0 };
    async_op put, get;
    obol_error err;
    double start, until;

    assert_int_equal(obol_queue_open(st, &options, &q, &err), OBOL_OK);
    /* Nothing to wait for: returns after the timeout, having run none. */
    start = async_now_ms();
    assert_int_equal(obol_queue_wait(q, 30), 0);
    assert_true(async_now_ms() - start >= 29.0);
    async_op_init(&put, &l);
    assert_int_equal(obol_upsert_async(q, s, async_op_done, &put, &err),
                     OBOL_OK);
    until = async_now_ms() + 5000;
    while (l.done < 1 && async_now_ms() < until)
        obol_queue_wait(q, 100);
    assert_int_equal(put.status, OBOL_OK);
    async_op_init(&get, &l);
    assert_int_equal(obol_get_async(q, s->id, "alice", NULL, async_op_done,
                                    &get, &err), OBOL_OK);
    while (l.done < 2 && async_now_ms() < until)
        obol_queue_wait(q, -1);
    assert_int_equal(get.status, OBOL_OK);
    assert_string_equal(get.session->id, s->id);
    async_op_clear(&get);
    obol_queue_close(q);
    obol_session_free(s);
    obol_store_close(st);
}

/* Callbacks queued by the callbacks a dispatch runs wait for the next
 * dispatch: one call is bounded (obol.h). On a driver that completes at
 * submit, the resubmitted operation is ready at once, and still waits. */
static void resubmit_once(async_op *op)
{
    async_op *second = op->data;
    obol_error err;

    async_op_init(second, op->loop);
    assert_int_equal(obol_get_async(op->loop->q, "x", "alice", NULL,
                                    async_op_done, second, &err), OBOL_OK);
}

static void dispatch_runs_only_what_waited_when_called(void **state)
{
    const backend *b = *state;
    obol_store *st = backend_store(b, NULL);
    async_loop l;
    async_op first, second;
    obol_error err;
    double until;

    async_loop_open(&l, st, b->mode, 0);
    async_op_init(&first, &l);
    first.then = resubmit_once;
    first.data = &second;
    assert_int_equal(obol_get_async(l.q, "y", "alice", NULL, async_op_done,
                                    &first, &err), OBOL_OK);
    until = async_now_ms() + 5000;
    while (first.runs == 0 && async_now_ms() < until)
        if (obol_queue_dispatch(l.q) == 0)
            redis_harness_sleep_ms(1);
    assert_int_equal(first.runs, 1);
    assert_int_equal(second.runs, 0);
    assert_int_equal(obol_queue_pending(l.q), 1);
    while (second.runs == 0 && async_now_ms() < until)
        if (obol_queue_dispatch(l.q) == 0)
            redis_harness_sleep_ms(1);
    assert_int_equal(second.runs, 1);
    assert_int_equal(second.status, OBOL_NOT_FOUND);
    async_loop_close(&l);
    obol_store_close(st);
}

/* ------------------------------------------------ two loops, one store */

/*
 * Two threads, each with a loop and a queue of its own on one store, each
 * with LOOP_OPS operations in flight: every callback once, on its own
 * loop's thread, with its own result.
 */
enum { LOOP_OPS = 2000 };

typedef struct loop_thread {
    obol_store *st;
    int mode;
    int index;
    pthread_t handle;          /* the creator's */
    pthread_t self;            /* the thread's own, for note_thread() */
    async_loop l;
    obol_session *sessions[LOOP_OPS];
    async_op ops[LOOP_OPS];
    size_t wrong_thread;
    char failure[300];
} loop_thread;

static void note_thread(async_op *op)
{
    loop_thread *t = op->data;

    if (!pthread_equal(pthread_self(), t->self))
        t->wrong_thread++;
}

static void fail_thread(loop_thread *t, const char *what, const char *why)
{
    if (t->failure[0] == '\0')
        snprintf(t->failure, sizeof t->failure, "%s: %s", what, why);
}

static void *loop_thread_run(void *arg)
{
    loop_thread *t = arg;
    obol_error err;
    char uid[32];

    t->self = pthread_self();
    snprintf(uid, sizeof uid, "loop-%d", t->index);
    if (async_loop_start(&t->l, t->st, t->mode, 30000, &err) != OBOL_OK) {
        fail_thread(t, "open", err.message);
        return NULL;
    }
    for (size_t i = 0; i < LOOP_OPS; i++) {
        t->sessions[i] = async_session_new(uid);
        async_op_init(&t->ops[i], &t->l);
        t->ops[i].then = note_thread;
        t->ops[i].data = t;
        if (obol_upsert_async(t->l.q, t->sessions[i], async_op_done,
                              &t->ops[i], &err) != OBOL_OK)
            fail_thread(t, "submit", err.message);
    }
    if (async_loop_wait(&t->l, LOOP_OPS, 60000) != 0)
        fail_thread(t, "upserts", "not every callback ran");
    for (size_t i = 0; i < LOOP_OPS && t->failure[0] == '\0'; i++) {
        async_op_init(&t->ops[i], &t->l);
        t->ops[i].then = note_thread;
        t->ops[i].data = t;
        if (obol_get_async(t->l.q, t->sessions[i]->id, uid, NULL,
                           async_op_done, &t->ops[i], &err) != OBOL_OK)
            fail_thread(t, "submit", err.message);
    }
    if (t->failure[0] == '\0' && async_loop_wait(&t->l, 2 * LOOP_OPS,
                                                   60000) != 0)
        fail_thread(t, "gets", "not every callback ran");
    for (size_t i = 0; i < LOOP_OPS; i++) {
        async_op *op = &t->ops[i];

        if (t->failure[0] != '\0')
            ;   /* the first failure says it */
        else if (op->runs != 1 || op->status != OBOL_OK)
            fail_thread(t, "get", op->message);
        else if (strcmp(op->session->id, t->sessions[i]->id) != 0)
            fail_thread(t, "get", "another session came back");
        async_op_clear(op);
        obol_session_free(t->sessions[i]);
    }
    if (async_loop_end(&t->l) != 0)
        fail_thread(t, "close", "the loop still had handles");
    return NULL;
}

static void two_loop_threads_on_one_store(void **state)
{
    const backend *b = *state;
    obol_store *st = backend_store(b, NULL);
    loop_thread *threads = calloc(2, sizeof *threads);

    assert_non_null(threads);
    for (int i = 0; i < 2; i++) {
        threads[i].st = st;
        threads[i].mode = b->mode;
        threads[i].index = i;
    }
    /* The loop threads assert nothing (cmocka could not catch it there):
     * a failure is noted and reported here. */
    for (int i = 0; i < 2; i++)
        assert_int_equal(pthread_create(&threads[i].handle, NULL,
                                        loop_thread_run, &threads[i]), 0);
    for (int i = 0; i < 2; i++)
        pthread_join(threads[i].handle, NULL);
    for (int i = 0; i < 2; i++) {
        if (threads[i].failure[0] != '\0')
            fail_msg("loop %d: %s", i, threads[i].failure);
        assert_int_equal(threads[i].l.done, 2 * LOOP_OPS);
        assert_int_equal(threads[i].l.extra_runs, 0);
        assert_int_equal(threads[i].wrong_thread, 0);
    }
    free(threads);
    obol_store_close(st);
}

/* ------------------------------------------------- sync and async at once */

/*
 * A thread makes synchronous calls on the store for SYNC_ASYNC_MS while
 * the loop keeps ASYNC_WINDOW async operations in flight on it. The
 * thread bumps one shared session (each write under its lock) and churns
 * sessions of its own; the loop reads the shared one, and a read never
 * sees an older lock_version than a read whose callback ran before it was
 * submitted; the loop churns sessions of its own too. Nothing may fail.
 */
enum { ASYNC_WINDOW = 32, SYNC_ASYNC_MS = 500 };

typedef struct both {
    obol_store *st;
    obol_session *shared;      /* the thread's copy */
    char shared_id[64];
    int stop;                  /* set by the loop, read by the thread */
    size_t sync_calls;
    char sync_failure[300];
    pthread_mutex_t lock;
    async_loop l;
    async_op ops[ASYNC_WINDOW];
    obol_session *own[ASYNC_WINDOW];
    int step[ASYNC_WINDOW];
    uint64_t last_seen;        /* the newest lock_version a read saw */
    uint64_t floor[ASYNC_WINDOW];  /* last_seen when each read was sent */
    size_t async_calls;
    size_t async_failures;
    char async_failure[300];
    int stopping;
} both;

static int both_stopped(both *t)
{
    int stop;

    pthread_mutex_lock(&t->lock);
    stop = t->stop;
    pthread_mutex_unlock(&t->lock);
    return stop;
}

static void *sync_side(void *arg)
{
    both *t = arg;
    obol_error err;

    while (!both_stopped(t) && t->sync_failure[0] == '\0') {
        obol_session *mine = async_session_new("sync-side");
        obol_session *got = NULL;

        t->shared->refreshed_at++;
        if (obol_upsert(t->st, t->shared, &err) != OBOL_OK ||
            obol_upsert(t->st, mine, &err) != OBOL_OK ||
            obol_get(t->st, mine->id, "sync-side", NULL, &got, &err) != OBOL_OK ||
            obol_delete(t->st, mine->id, "sync-side", NULL, &err) != OBOL_OK)
            snprintf(t->sync_failure, sizeof t->sync_failure, "%s",
                     err.message);
        obol_session_free(got);
        obol_session_free(mine);
        t->sync_calls += 4;
    }
    return NULL;
}

static void both_failed(both *t, const char *what, const char *why)
{
    if (t->async_failures++ == 0)
        snprintf(t->async_failure, sizeof t->async_failure, "%s: %s", what,
                 why);
}

static void async_next(both *t, size_t i);

static void async_side_done(async_op *op)
{
    both *t = op->data;
    size_t i = (size_t)(op - t->ops);

    t->async_calls++;
    if (op->status != OBOL_OK) {
        both_failed(t, obol_op_name(op->op), op->message);
    } else if (t->step[i] == 0) {
        /* Callbacks need not run in the order the server answered, but a
         * read submitted after another read's callback must see at least
         * what that one saw. */
        if (op->session->lock_version < t->floor[i])
            both_failed(t, "get", "the shared session went back in time");
        if (op->session->lock_version > t->last_seen)
            t->last_seen = op->session->lock_version;
    }
    async_op_clear(op);
    t->step[i] = (t->step[i] + 1) % 3;
    if (!t->stopping)
        async_next(t, i);
}

static void async_next(both *t, size_t i)
{
    async_op *op = &t->ops[i];
    obol_error err;
    int rc;

    async_op_init(op, &t->l);
    op->then = async_side_done;
    op->data = t;
    if (t->step[i] == 0) {
        t->floor[i] = t->last_seen;
        rc = obol_get_async(t->l.q, t->shared_id, "shared", NULL,
                            async_op_done, op, &err);
    } else if (t->step[i] == 1) {
        obol_session_free(t->own[i]);
        t->own[i] = async_session_new("async-side");
        rc = obol_upsert_async(t->l.q, t->own[i], async_op_done, op, &err);
    } else {
        rc = obol_delete_async(t->l.q, t->own[i]->id, "async-side", NULL,
                               async_op_done, op, &err);
    }
    if (rc != OBOL_OK)
        both_failed(t, "submit", err.message);
}

static void on_stop(uv_timer_t *timer)
{
    both *t = timer->data;

    t->stopping = 1;
}

static void sync_and_async_on_one_store_at_once(void **state)
{
    const backend *b = *state;
    both *t = calloc(1, sizeof *t);
    pthread_t thread;
    uv_timer_t stopper;
    obol_error err;

    assert_non_null(t);
    pthread_mutex_init(&t->lock, NULL);
    t->st = backend_store(b, NULL);
    t->shared = obol_session_new("shared", NULL, (int64_t)time(NULL),
                                 24 * 3600, 24 * 3600);
    assert_int_equal(obol_upsert(t->st, t->shared, &err), OBOL_OK);
    snprintf(t->shared_id, sizeof t->shared_id, "%s", t->shared->id);
    async_loop_open(&t->l, t->st, b->mode, 0);
    uv_timer_init(&t->l.loop, &stopper);
    stopper.data = t;
    uv_timer_start(&stopper, on_stop, SYNC_ASYNC_MS, 0);
    assert_int_equal(pthread_create(&thread, NULL, sync_side, t), 0);
    for (size_t i = 0; i < ASYNC_WINDOW; i++)
        async_next(t, i);
    while (!t->stopping || obol_queue_pending(t->l.q) > 0)
        uv_run(&t->l.loop, UV_RUN_ONCE);
    pthread_mutex_lock(&t->lock);
    t->stop = 1;
    pthread_mutex_unlock(&t->lock);
    pthread_join(thread, NULL);
    uv_close((uv_handle_t *)&stopper, NULL);
    async_loop_close(&t->l);
    print_message("# %s: %zu sync calls and %zu async ones in %d ms\n",
                  b->name, t->sync_calls, t->async_calls, SYNC_ASYNC_MS);
    if (t->sync_failure[0] != '\0')
        fail_msg("a sync call failed: %s", t->sync_failure);
    if (t->async_failures != 0)
        fail_msg("%zu async calls failed; the first: %s", t->async_failures,
                 t->async_failure);
    assert_true(t->sync_calls > 0);
    assert_true(t->async_calls > ASYNC_WINDOW);
    assert_int_equal(t->l.during_close, 0);
    for (size_t i = 0; i < ASYNC_WINDOW; i++)
        obol_session_free(t->own[i]);
    obol_session_free(t->shared);
    obol_store_close(t->st);
    pthread_mutex_destroy(&t->lock);
    free(t);
}

#define ON(fn, b) cmocka_unit_test_prestate(fn, (void *)&(b))

int main(void)
{
    static const struct CMUnitTest tests[] = {
        cmocka_unit_test(queue_open_refuses_what_it_cannot_use),
        ON(submits_refuse_bad_arguments_at_once, memory_inline),
        ON(submits_refuse_bad_arguments_at_once, lmdb_workers),
        ON(submits_refuse_bad_arguments_at_once, redis_native),
        ON(submits_refuse_what_the_store_cannot_write, memory_inline),
        ON(submits_refuse_what_the_store_cannot_write, lmdb_workers),
        ON(submits_refuse_what_the_store_cannot_write, redis_native),
        ON(submits_refuse_without_a_signing_key, memory_inline),
        ON(submits_refuse_without_a_signing_key, lmdb_workers),
        ON(submits_refuse_without_a_signing_key, redis_native),
        ON(descriptor_is_readable_while_callbacks_wait, memory_inline),
        ON(descriptor_is_readable_while_callbacks_wait, lmdb_workers),
        ON(descriptor_is_readable_while_callbacks_wait, redis_native),
        ON(wait_dispatches_without_a_loop, lmdb_inline),
        ON(wait_dispatches_without_a_loop, redis_workers),
        ON(wait_dispatches_without_a_loop, redis_native),
        ON(dispatch_runs_only_what_waited_when_called, memory_inline),
        ON(dispatch_runs_only_what_waited_when_called, redis_native),
        ON(two_loop_threads_on_one_store, memory_inline),
        ON(two_loop_threads_on_one_store, lmdb_inline),
        ON(two_loop_threads_on_one_store, redis_native),
        ON(two_loop_threads_on_one_store, redis_workers),
        ON(sync_and_async_on_one_store_at_once, memory_inline),
        ON(sync_and_async_on_one_store_at_once, lmdb_inline),
        ON(sync_and_async_on_one_store_at_once, lmdb_workers),
        ON(sync_and_async_on_one_store_at_once, redis_native),
    };
    int failures;

    redis_harness_require();
    redis = redis_harness_start(NULL);
    lmdb_dir = tmpdir_make("async-api");
    if (redis == NULL || lmdb_dir == NULL) {
        printf("Bail out! could not start redis-server or make a directory\n");
        return 1;
    }
    snprintf(redis_base, sizeof redis_base, "%s", redis_harness_url(redis));
    snprintf(lmdb_base, sizeof lmdb_base, "lmdb://%s", lmdb_dir);
    failures = cmocka_run_group_tests_name("async/api", tests, NULL, NULL);
    redis_harness_stop(redis);
    tmpdir_remove(lmdb_dir);
    return failures == 0 ? 0 : 1;
}

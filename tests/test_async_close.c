/*
 * Closing a queue with operations in flight: every callback runs exactly
 * once, before obol_queue_close() returns (completed operations with
 * their results, the others with OBOL_ERR_CANCELLED), and none after.
 * On Redis through the native path, on LMDB through the worker pool, and
 * on the memory driver, which completes every operation at submit.
 */
#include "config.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "async_loop.h"
#include "redis_harness.h"
#include "tmpdir.h"

enum { CLOSE_OPS = 1000 };

/* How long the test keeps watching after close returned, for a callback
 * that would come late (from a worker or the driver finishing). */
#define AFTER_CLOSE_MS 200

static redis_harness *redis;
static char *lmdb_dir;

typedef struct closing {
    obol_store *st;
    async_loop l;
    obol_session *known;
    obol_session *fresh[CLOSE_OPS];
    async_op ops[CLOSE_OPS];
} closing;

static closing *closing_open(const char *base, int mode)
{
    closing *c = calloc(1, sizeof *c);
    char url[4400];
    obol_error err;

    assert_non_null(c);
    async_make_url(url, sizeof url, base, NULL);
    c->st = async_store_open(url);
    c->known = async_session_new("known");
    assert_int_equal(obol_upsert(c->st, c->known, &err), OBOL_OK);
    async_loop_open(&c->l, c->st, mode, 0);
    return c;
}

/* Half reads of the known session, half inserts of new ones. */
static void submit_all(closing *c)
{
    obol_error err;

    for (size_t i = 0; i < CLOSE_OPS; i++) {
        async_op *op = &c->ops[i];
        int rc;

        async_op_init(op, &c->l);
        if (i % 2 == 0) {
            rc = obol_get_async(c->l.q, c->known->id, "known", NULL,
                                async_op_done, op, &err);
        } else {
            c->fresh[i] = async_session_new("fresh");
            rc = obol_upsert_async(c->l.q, c->fresh[i], async_op_done, op,
                                   &err);
        }
        if (rc != OBOL_OK)
            fail_msg("submit %zu: %s", i, err.message);
    }
}

/* Closes, then checks every callback: once, each result right or
 * cancelled; counts the cancelled ones. */
static size_t close_and_check(closing *c)
{
    size_t cancelled = 0;

    async_loop_close(&c->l);
    assert_int_equal(c->l.done, CLOSE_OPS);
    assert_int_equal(c->l.extra_runs, 0);
    for (size_t i = 0; i < CLOSE_OPS; i++) {
        async_op *op = &c->ops[i];

        assert_int_equal(op->runs, 1);
        if (op->status == OBOL_ERR_CANCELLED) {
            assert_true(op->during_close);
            assert_null(op->session);
            cancelled++;
        } else if (op->status != OBOL_OK) {
            fail_msg("operation %zu (%s): %s: %s", i, obol_op_name(op->op),
                     obol_status_name(op->status), op->message);
        } else if (i % 2 == 0) {
            assert_int_equal(op->op, OBOL_OP_GET);
            assert_string_equal(op->session->id, c->known->id);
        } else {
            assert_int_equal(op->op, OBOL_OP_UPSERT);
            assert_int_equal(c->fresh[i]->lock_version, 1);
        }
        if (i % 2 == 1)
            assert_ptr_equal(op->upserted, c->fresh[i]);
    }
    return cancelled;
}

/* Nothing may run after close returned, even once the operations a
 * worker or the driver was still running have ended. The sessions lent
 * to upserts were given back by their callbacks and are freed at once:
 * a worker still touching one is a use after free (valgrind, ASan). */
static void closing_end(closing *c)
{
    for (size_t i = 0; i < CLOSE_OPS; i++) {
        async_op_clear(&c->ops[i]);
        obol_session_free(c->fresh[i]);
        c->fresh[i] = NULL;
    }
    redis_harness_sleep_ms(AFTER_CLOSE_MS);
    assert_int_equal(c->l.after_close, 0);
    obol_session_free(c->known);
    obol_store_close(c->st);
    assert_int_equal(c->l.after_close, 0);
    free(c);
}

/* The store is still sound after a close that cancelled: a new queue on
 * it gets its own answers. */
static void store_still_answers(closing *c)
{
    async_loop l;
    async_op get;
    obol_error err;

    async_loop_open(&l, c->st, OBOL_QUEUE_AUTO, 0);
    async_op_init(&get, &l);
    assert_int_equal(obol_get_async(l.q, c->known->id, "known", NULL,
                                    async_op_done, &get, &err), OBOL_OK);
    async_loop_run_until(&l, 1, 5000);
    assert_int_equal(get.status, OBOL_OK);
    assert_string_equal(get.session->id, c->known->id);
    async_op_clear(&get);
    async_loop_close(&l);
}

static void closing_on_redis_cancels_what_a_stalled_server_holds(void **state)
{
    closing *c = closing_open(redis_harness_url(redis), OBOL_QUEUE_AUTO);

    (void)state;
    assert_int_equal(redis_harness_pause(redis), 0);
    submit_all(c);
    async_loop_run_for(&c->l, 50);
    assert_int_equal(c->l.done, 0);
    assert_int_equal(close_and_check(c), CLOSE_OPS);
    assert_int_equal(c->l.during_close, CLOSE_OPS);
    assert_int_equal(redis_harness_resume(redis), 0);
    store_still_answers(c);
    closing_end(c);
}

static void closing_on_redis_midway_runs_every_callback_once(void **state)
{
    closing *c = closing_open(redis_harness_url(redis), OBOL_QUEUE_AUTO);
    size_t cancelled;

    (void)state;
    submit_all(c);
    async_loop_run_until(&c->l, CLOSE_OPS / 4, 10000);
    cancelled = close_and_check(c);
    print_message("# %zu dispatched before close, %zu run by it, %zu of "
                  "those cancelled\n", CLOSE_OPS - c->l.during_close,
                  c->l.during_close, cancelled);
    store_still_answers(c);
    closing_end(c);
}

static void closing_on_lmdb_workers_runs_every_callback_once(void **state)
{
    char base[4200];
    closing *c;
    size_t cancelled;

    (void)state;
    snprintf(base, sizeof base, "lmdb://%s", lmdb_dir);
    c = closing_open(base, OBOL_QUEUE_WORKERS);
    submit_all(c);
    cancelled = close_and_check(c);
    /* Nothing was dispatched: close ran every callback. */
    assert_int_equal(c->l.during_close, CLOSE_OPS);
    print_message("# %zu of %d cancelled\n", cancelled, CLOSE_OPS);
    store_still_answers(c);
    closing_end(c);
}

/* The memory driver runs each operation at submit: by close, all have
 * completed, and all get their results, none cancelled. */
static void closing_on_memory_gives_every_result(void **state)
{
    closing *c = closing_open("memory:", OBOL_QUEUE_AUTO);

    (void)state;
    submit_all(c);
    assert_int_equal(obol_queue_pending(c->l.q), CLOSE_OPS);
    assert_int_equal(close_and_check(c), 0);
    assert_int_equal(c->l.during_close, CLOSE_OPS);
    store_still_answers(c);
    closing_end(c);
}

/* A callback run by close that submits again: the queue being closed
 * refuses it with OBOL_ERR_CANCELLED (obol.h), and its callback never
 * runs. (Before, the submit was accepted and its callback never ran.) */
typedef struct resubmit {
    obol_queue *q;
    async_op second;
    int submit_status;
    obol_error submit_err;
    int submitted;
} resubmit;

static void submit_again(async_op *op)
{
    resubmit *r = op->data;
    if (r->submitted++)
        return;
    async_op_init(&r->second, op->loop);
    r->submit_status = obol_get_async(r->q, "x", "known", NULL, async_op_done,
                                      &r->second, &r->submit_err);
}

static void callback_submitting_during_close(void **state)
{
    closing *c = closing_open("memory:", OBOL_QUEUE_AUTO);
    resubmit r = { 0 };
    async_op first;
    obol_error err;

    (void)state;
    r.q = c->l.q;
    async_op_init(&first, &c->l);
    first.then = submit_again;
    first.data = &r;
    assert_int_equal(obol_get_async(c->l.q, "y", "known", NULL, async_op_done,
                                    &first, &err), OBOL_OK);
    async_loop_close(&c->l);
    assert_int_equal(first.runs, 1);
    assert_int_equal(r.submitted, 1);
    assert_int_equal(r.submit_status, OBOL_ERR_CANCELLED);
    assert_int_equal(r.submit_err.status, OBOL_ERR_CANCELLED);
    assert_true(r.submit_err.message[0] != '\0');
    assert_int_equal(r.second.runs, 0);
    assert_int_equal(c->l.after_close, 0);
    /* closing_end() checks ops[] that this case never used: all zero. */
    for (size_t i = 0; i < CLOSE_OPS; i++)
        c->ops[i].runs = 0;
    obol_session_free(c->known);
    obol_store_close(c->st);
    free(c);
}

static void closing_null_is_a_no_op(void **state)
{
    (void)state;
    obol_queue_close(NULL);
}

static int resume_after(void **state)
{
    (void)state;
    if (redis_harness_state(redis) == REDIS_HARNESS_PAUSED)
        redis_harness_resume(redis);
    return 0;
}

int main(void)
{
    static const struct CMUnitTest tests[] = {
        cmocka_unit_test_teardown(
            closing_on_redis_cancels_what_a_stalled_server_holds,
            resume_after),
        cmocka_unit_test(closing_on_redis_midway_runs_every_callback_once),
        cmocka_unit_test(closing_on_lmdb_workers_runs_every_callback_once),
        cmocka_unit_test(closing_on_memory_gives_every_result),
        cmocka_unit_test(callback_submitting_during_close),
        cmocka_unit_test(closing_null_is_a_no_op),
    };
    int failures;

    redis_harness_require();
    redis = redis_harness_start(NULL);
    lmdb_dir = tmpdir_make("async-close");
    if (redis == NULL || lmdb_dir == NULL) {
        printf("Bail out! could not start redis-server or make a directory\n");
        return 1;
    }
    failures = cmocka_run_group_tests_name("async/close", tests, NULL, NULL);
    redis_harness_stop(redis);
    tmpdir_remove(lmdb_dir);
    return failures == 0 ? 0 : 1;
}

/*
 * A stalled server under the non-blocking API: with operations pending,
 * the redis-server is stopped (SIGSTOP); every operation must fail with
 * OBOL_ERR_TIMEOUT at its deadline, within a stated tolerance, and after
 * SIGCONT new operations must succeed with their own results (not the
 * late replies of the ones that timed out). Through the driver's native
 * pipelined path and through the worker pool, whose threads stay blocked
 * in the synchronous calls while the queue's deadlines pass.
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

/*
 * The deadline of every operation (the queue's timeout_ms) and how far
 * from it a timeout may land: no earlier than the deadline (less 1 ms,
 * for the rounding of two clocks read at different points of one
 * millisecond) and no later than the deadline plus TOLERANCE_MS. Under
 * `make check-valgrind` (which sets OBOL_SUITE_TIMEOUT_S) everything runs
 * some twenty times slower, and the tolerance is SLOW_TOLERANCE_MS.
 */
#define DEADLINE_MS 300
#define TOLERANCE_MS 200.0
#define SLOW_TOLERANCE_MS 3000.0
#define EARLY_SLACK_MS 1.0

enum { STALLED_OPS = 100 };

static redis_harness *redis;

static double tolerance_ms(void)
{
    return getenv("OBOL_SUITE_TIMEOUT_S") != NULL ? SLOW_TOLERANCE_MS
                                                  : TOLERANCE_MS;
}

typedef struct stall {
    obol_store *st;
    async_loop l;
    obol_session *known;       /* stored before the stall */
    char *token;               /* known's client token */
    obol_session *fresh[STALLED_OPS];
    async_op ops[STALLED_OPS];
} stall;

/* The store's own timeout_ms (a blocking call's) is longer than the
 * queue's deadline, so that on the worker pool the deadline passes while
 * the workers are still blocked. */
static void stall_open(stall *s, int mode)
{
    char url[512];
    obol_error err;

    memset(s, 0, sizeof *s);
    async_make_url(url, sizeof url, redis_harness_url(redis),
                   "timeout_ms=2000");
    s->st = async_store_open(url);
    s->known = async_session_new("known");
    assert_int_equal(obol_upsert(s->st, s->known, &err), OBOL_OK);
    assert_int_equal(obol_token_make(s->st, s->known, &s->token, &err),
                     OBOL_OK);
    async_loop_open(&s->l, s->st, mode, DEADLINE_MS);
}

static void stall_close(stall *s)
{
    async_loop_close(&s->l);
    assert_int_equal(s->l.after_close, 0);
    for (size_t i = 0; i < STALLED_OPS; i++) {
        async_op_clear(&s->ops[i]);
        obol_session_free(s->fresh[i]);
    }
    obol_session_free(s->known);
    free(s->token);
    obol_store_close(s->st);
}

/* Operation i of the stalled batch: every kind, in turn. */
static void submit_one(stall *s, size_t i)
{
    async_op *op = &s->ops[i];
    obol_error err;
    int rc;

    async_op_init(op, &s->l);
    switch (i % 6) {
    case 0:
        rc = obol_get_async(s->l.q, s->known->id, "known", NULL, async_op_done,
                            op, &err);
        break;
    case 1:
        s->fresh[i] = async_session_new("fresh");
        rc = obol_upsert_async(s->l.q, s->fresh[i], async_op_done, op, &err);
        break;
    case 2:
        rc = obol_delete_async(s->l.q, "no-such-session", "known", NULL,
                               async_op_done, op, &err);
        break;
    case 3:
        rc = obol_get_all_async(s->l.q, "known", NULL, async_op_done, op, &err);
        break;
    case 4:
        rc = obol_delete_all_async(s->l.q, "nobody", NULL, async_op_done, op,
                                   &err);
        break;
    default:
        /* Always on a worker, even natively (docs/DECISIONS.md). */
        rc = obol_refresh_async(s->l.q, s->token, 3600, async_op_done, op,
                                &err);
        break;
    }
    if (rc != OBOL_OK)
        fail_msg("submit %zu: %s", i, err.message);
}

static void check_timed_out(const async_op *op, size_t i)
{
    double took = op->done_ms - op->submitted_ms;

    assert_int_equal(op->runs, 1);
    if (op->status != OBOL_ERR_TIMEOUT)
        fail_msg("operation %zu (%s) ended %s, not timeout: %s", i,
                 obol_op_name(op->op), obol_status_name(op->status),
                 op->message);
    if (took < DEADLINE_MS - EARLY_SLACK_MS ||
        took > DEADLINE_MS + tolerance_ms())
        fail_msg("operation %zu (%s) timed out after %.1f ms; its deadline "
                 "was %d ms, the tolerance %.0f ms", i, obol_op_name(op->op),
                 took, DEADLINE_MS, tolerance_ms());
}

/* After SIGCONT: new reads get their own answers, a new write lands. */
static void new_operations_succeed(stall *s)
{
    async_op get, missing, put;
    obol_session *after = async_session_new("after");
    obol_error err;
    size_t base = s->l.done;

    async_op_init(&get, &s->l);
    async_op_init(&missing, &s->l);
    async_op_init(&put, &s->l);
    assert_int_equal(obol_get_async(s->l.q, s->known->id, "known", NULL,
                                    async_op_done, &get, &err), OBOL_OK);
    assert_int_equal(obol_get_async(s->l.q, "missing", "known", NULL,
                                    async_op_done, &missing, &err), OBOL_OK);
    assert_int_equal(obol_upsert_async(s->l.q, after, async_op_done, &put,
                                       &err), OBOL_OK);
    async_loop_run_until(&s->l, base + 3, 5000 + tolerance_ms());
    if (get.status != OBOL_OK)
        fail_msg("get after SIGCONT: %s: %s", obol_status_name(get.status),
                 get.message);
    assert_string_equal(get.session->id, s->known->id);
    assert_int_equal(missing.status, OBOL_NOT_FOUND);
    assert_null(missing.session);
    assert_int_equal(put.status, OBOL_OK);
    assert_int_equal(after->lock_version, 1);
    async_op_clear(&get);
    obol_session_free(after);
}

/* Stopped first, then the batch: nothing can answer any of it. */
static void stalled_before_submit(int mode)
{
    stall *s = calloc(1, sizeof *s);

    assert_non_null(s);
    stall_open(s, mode);
    assert_int_equal(redis_harness_pause(redis), 0);
    for (size_t i = 0; i < STALLED_OPS; i++)
        submit_one(s, i);
    async_loop_run_until(&s->l, STALLED_OPS, DEADLINE_MS + 2 * tolerance_ms());
    assert_int_equal(redis_harness_resume(redis), 0);
    for (size_t i = 0; i < STALLED_OPS; i++)
        check_timed_out(&s->ops[i], i);
    assert_int_equal(s->l.extra_runs, 0);
    new_operations_succeed(s);
    stall_close(s);
    free(s);
}

/* The batch first, then the stop, before the loop has run: an operation
 * may have been answered in between (then with its right result), and
 * every other one times out within the tolerance. */
static void stalled_while_pending(int mode)
{
    stall *s = calloc(1, sizeof *s);
    size_t answered = 0;

    assert_non_null(s);
    stall_open(s, mode);
    for (size_t i = 0; i < STALLED_OPS; i++)
        submit_one(s, i);
    assert_int_equal(redis_harness_pause(redis), 0);
    async_loop_run_until(&s->l, STALLED_OPS, DEADLINE_MS + 2 * tolerance_ms());
    assert_int_equal(redis_harness_resume(redis), 0);
    for (size_t i = 0; i < STALLED_OPS; i++) {
        async_op *op = &s->ops[i];

        if (op->status == OBOL_ERR_TIMEOUT) {
            check_timed_out(op, i);
            continue;
        }
        answered++;
        if (op->op == OBOL_OP_REFRESH && op->status == OBOL_JUST_ROTATED)
            continue;   /* another refresh of the batch rotated it first */
        if (op->status != OBOL_OK)
            fail_msg("operation %zu (%s): %s: %s", i, obol_op_name(op->op),
                     obol_status_name(op->status), op->message);
        if (op->op == OBOL_OP_GET)
            assert_string_equal(op->session->id, s->known->id);
        if (op->op == OBOL_OP_GET_ALL)
            assert_true(op->count >= 1);
    }
    print_message("# %zu of %d answered before the stop\n", answered,
                  STALLED_OPS);
    new_operations_succeed(s);
    stall_close(s);
    free(s);
}

static void stalled_server_times_out_every_operation_native(void **state)
{
    (void)state;
    stalled_before_submit(OBOL_QUEUE_AUTO);
}

static void stalled_server_times_out_every_operation_on_workers(void **state)
{
    (void)state;
    stalled_before_submit(OBOL_QUEUE_WORKERS);
}

static void server_stalled_with_operations_pending_native(void **state)
{
    (void)state;
    stalled_while_pending(OBOL_QUEUE_AUTO);
}

static void server_stalled_with_operations_pending_on_workers(void **state)
{
    (void)state;
    stalled_while_pending(OBOL_QUEUE_WORKERS);
}

static int resume_after(void **state)
{
    (void)state;
    /* A failed case must not leave the server stopped for the next. */
    if (redis_harness_state(redis) == REDIS_HARNESS_PAUSED)
        redis_harness_resume(redis);
    return 0;
}

int main(void)
{
    static const struct CMUnitTest tests[] = {
        cmocka_unit_test_teardown(
            stalled_server_times_out_every_operation_native, resume_after),
        cmocka_unit_test_teardown(
            stalled_server_times_out_every_operation_on_workers, resume_after),
        cmocka_unit_test_teardown(
            server_stalled_with_operations_pending_native, resume_after),
        cmocka_unit_test_teardown(
            server_stalled_with_operations_pending_on_workers, resume_after),
    };
    int failures;

    redis_harness_require();
    redis = redis_harness_start(NULL);
    if (redis == NULL) {
        printf("Bail out! could not start redis-server\n");
        return 1;
    }
    failures = cmocka_run_group_tests_name("async/stall", tests, NULL, NULL);
    redis_harness_stop(redis);
    return failures == 0 ? 0 : 1;
}

/*
 * The non-blocking API under load, on a libuv loop: 10,000 operations in
 * flight from the loop's thread, each callback run exactly once with the
 * right result; and the loop staying free while a heavy load runs (a
 * 10 ms repeating timer never more than 20 ms late). On a redis-server of
 * the test's own (the native pipelined path) and on LMDB: by default
 * (reads inline at submit, writes on the worker pool), all inline, and
 * all on the worker pool.
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

enum { IN_FLIGHT = 10000, USERS = 100 };

/* Deadlines far past what the load needs, so that a slow run (valgrind)
 * fails on a wrong result, not on a timeout. */
#define LOAD_TIMEOUT_MS 60000
#define LOAD_LIMIT_MS 120000.0

static redis_harness *redis;
static char *lmdb_dir, *lmdb_nosync_dir;   /* one environment each */
static char redis_base[256];
static char lmdb_base[4200];
static char lmdb_nosync_base[4200];

typedef struct backend {
    const char *base;   /* config string without prefix */
    int mode;
} backend;

static const backend redis_native = { redis_base, OBOL_QUEUE_AUTO };
static const backend redis_workers = { redis_base, OBOL_QUEUE_WORKERS };
/* AUTO on LMDB: reads inline at submit, writes (which flush to disk) on
 * the workers. */
static const backend lmdb_auto = { lmdb_base, OBOL_QUEUE_AUTO };
static const backend lmdb_workers = { lmdb_base, OBOL_QUEUE_WORKERS };
/* 10,000 in flight tests the queue, not the disk: without the flush of
 * each commit (sync=off), and once with everything at submit. */
static const backend lmdb_nosync_auto = { lmdb_nosync_base, OBOL_QUEUE_AUTO };
static const backend lmdb_nosync_inline = { lmdb_nosync_base,
                                            OBOL_QUEUE_INLINE };
static const backend lmdb_nosync_workers = { lmdb_nosync_base,
                                             OBOL_QUEUE_WORKERS };

static obol_store *backend_store(const backend *b)
{
    char url[4400];

    async_make_url(url, sizeof url, b->base, NULL);
    return async_store_open(url);
}

static void user_name(char *out, size_t size, size_t i)
{
    snprintf(out, size, "user-%zu", i % USERS);
}

/* ------------------------------------------------------- 10,000 in flight */

typedef struct flight {
    obol_store *st;
    async_loop l;
    obol_session **sessions;
    async_op *ops;
} flight;

static void flight_open(flight *f, const backend *b)
{
    f->st = backend_store(b);
    async_loop_open(&f->l, f->st, b->mode, LOAD_TIMEOUT_MS);
    f->sessions = calloc(IN_FLIGHT, sizeof *f->sessions);
    f->ops = calloc(IN_FLIGHT, sizeof *f->ops);
    assert_non_null(f->sessions);
    assert_non_null(f->ops);
}

static void flight_close(flight *f)
{
    async_loop_close(&f->l);
    assert_int_equal(f->l.after_close, 0);
    assert_int_equal(f->l.during_close, 0);
    for (size_t i = 0; i < IN_FLIGHT; i++) {
        async_op_clear(&f->ops[i]);
        obol_session_free(f->sessions[i]);
    }
    free(f->ops);
    free(f->sessions);
    obol_store_close(f->st);
}

/* Every callback of a round ran once; the queue owes nothing more. */
static void round_ran_once(flight *f, size_t n)
{
    assert_int_equal(f->l.done, n);
    assert_int_equal(f->l.extra_runs, 0);
    assert_int_equal(obol_queue_pending(f->l.q), 0);
    for (size_t i = 0; i < n; i++)
        assert_int_equal(f->ops[i].runs, 1);
}

static void submit_upserts(flight *f)
{
    obol_error err;
    char uid[32];

    for (size_t i = 0; i < IN_FLIGHT; i++) {
        user_name(uid, sizeof uid, i);
        f->sessions[i] = async_session_new(uid);
        async_op_init(&f->ops[i], &f->l);
        if (obol_upsert_async(f->l.q, f->sessions[i], async_op_done,
                              &f->ops[i], &err) != OBOL_OK)
            fail_msg("upsert %zu: %s", i, err.message);
    }
}

static void check_upserts(flight *f)
{
    for (size_t i = 0; i < IN_FLIGHT; i++) {
        async_op *op = &f->ops[i];

        if (op->status != OBOL_OK)
            fail_msg("upsert %zu: %s: %s", i, obol_status_name(op->status),
                     op->message);
        assert_int_equal(op->op, OBOL_OP_UPSERT);
        assert_ptr_equal(op->upserted, f->sessions[i]);
        assert_int_equal(f->sessions[i]->lock_version, 1);
    }
}

static void submit_gets(flight *f)
{
    obol_error err;

    for (size_t i = 0; i < IN_FLIGHT; i++) {
        obol_session *s = f->sessions[i];

        async_op_init(&f->ops[i], &f->l);
        if (obol_get_async(f->l.q, s->id, s->user_id, NULL, async_op_done,
                           &f->ops[i], &err) != OBOL_OK)
            fail_msg("get %zu: %s", i, err.message);
    }
}

static void check_gets(flight *f)
{
    for (size_t i = 0; i < IN_FLIGHT; i++) {
        async_op *op = &f->ops[i];

        if (op->status != OBOL_OK)
            fail_msg("get %zu: %s: %s", i, obol_status_name(op->status),
                     op->message);
        assert_int_equal(op->op, OBOL_OP_GET);
        assert_non_null(op->session);
        assert_string_equal(op->session->id, f->sessions[i]->id);
        assert_string_equal(op->session->user_id, f->sessions[i]->user_id);
        assert_string_equal(op->session->refresh_token_id,
                            f->sessions[i]->refresh_token_id);
        assert_int_equal(op->session->lock_version, 1);
        async_op_clear(op);
    }
}

/* One get_all per user and one delete per session of every other user,
 * all in flight together: get_all sees each user's sessions, whatever
 * the deletes of others do. */
static void submit_mixed(flight *f)
{
    obol_error err;
    char uid[32];
    size_t n = 0;

    for (size_t u = 0; u < USERS; u += 2) {
        user_name(uid, sizeof uid, u);
        async_op_init(&f->ops[n], &f->l);
        f->ops[n].data = (void *)(uintptr_t)u;
        if (obol_get_all_async(f->l.q, uid, NULL, async_op_done, &f->ops[n],
                               &err) != OBOL_OK)
            fail_msg("get_all %s: %s", uid, err.message);
        n++;
    }
    for (size_t i = 1; i < IN_FLIGHT; i += 2) {
        obol_session *s = f->sessions[i];

        async_op_init(&f->ops[n], &f->l);
        f->ops[n].data = (void *)(uintptr_t)i;
        if (obol_delete_async(f->l.q, s->id, s->user_id, NULL, async_op_done,
                              &f->ops[n], &err) != OBOL_OK)
            fail_msg("delete %zu: %s", i, err.message);
        n++;
    }
}

static size_t mixed_count(void)
{
    return USERS / 2 + IN_FLIGHT / 2;
}

static void check_mixed(flight *f)
{
    for (size_t n = 0; n < USERS / 2; n++) {
        async_op *op = &f->ops[n];

        assert_int_equal(op->op, OBOL_OP_GET_ALL);
        assert_int_equal(op->status, OBOL_OK);
        assert_int_equal(op->count, IN_FLIGHT / USERS);
        for (size_t k = 0; k < op->count; k++)
            assert_string_equal(op->sessions[k]->user_id,
                                f->sessions[(uintptr_t)op->data]->user_id);
        async_op_clear(op);
    }
    for (size_t n = USERS / 2; n < mixed_count(); n++) {
        assert_int_equal(f->ops[n].op, OBOL_OP_DELETE);
        assert_int_equal(f->ops[n].status, OBOL_OK);
        assert_int_equal(f->ops[n].removed, 1);
    }
}

static void ten_thousand_in_flight(const backend *b)
{
    flight f;

    flight_open(&f, b);
    submit_upserts(&f);
    /* Accepted, and not one callback run: they wait for dispatch. */
    assert_int_equal(obol_queue_pending(f.l.q), IN_FLIGHT);
    assert_int_equal(f.l.done, 0);
    async_loop_run_until(&f.l, IN_FLIGHT, LOAD_LIMIT_MS);
    round_ran_once(&f, IN_FLIGHT);
    check_upserts(&f);

    f.l.done = 0;
    submit_gets(&f);
    assert_int_equal(obol_queue_pending(f.l.q), IN_FLIGHT);
    async_loop_run_until(&f.l, IN_FLIGHT, LOAD_LIMIT_MS);
    round_ran_once(&f, IN_FLIGHT);
    check_gets(&f);

    f.l.done = 0;
    submit_mixed(&f);
    async_loop_run_until(&f.l, mixed_count(), LOAD_LIMIT_MS);
    round_ran_once(&f, mixed_count());
    check_mixed(&f);
    /* What the round left of the old records went with the earlier ops'
     * clears; the ops after mixed_count() were cleared by check_gets. */
    flight_close(&f);
}

static void ten_thousand_in_flight_on_redis(void **state)
{
    (void)state;
    ten_thousand_in_flight(&redis_native);
}

static void ten_thousand_in_flight_on_lmdb(void **state)
{
    (void)state;
    ten_thousand_in_flight(&lmdb_nosync_auto);
}

static void ten_thousand_in_flight_on_lmdb_inline(void **state)
{
    (void)state;
    ten_thousand_in_flight(&lmdb_nosync_inline);
}

static void ten_thousand_in_flight_on_lmdb_workers(void **state)
{
    (void)state;
    ten_thousand_in_flight(&lmdb_nosync_workers);
}

/* --------------------------------------------------- the loop stays free */

/*
 * WINDOW chains of operations run for LOAD_MS: each chain inserts a new
 * session, reads it back, deletes it, and starts again, submitting its
 * next operation from the callback of the last. Meanwhile a 10 ms
 * repeating timer measures how late the loop lets it fire: never more
 * than 20 ms (issue 13).
 */
enum { WINDOW = 256, LOAD_MS = 1000, TIMER_MS = 10, MAX_LATE_MS = 20 };

typedef struct chain chain;

typedef struct free_loop {
    async_loop l;
    int stopping;             /* no new operations after LOAD_MS */
    size_t operations;        /* callbacks run */
    size_t failures;
    char first_failure[300];
    uint64_t last_tick_ns;
    double max_late_ms;
    size_t ticks;
} free_loop;

struct chain {
    async_op op;
    free_loop *fl;
    obol_session *s;
    int step;                 /* 0 upsert, 1 get, 2 delete */
    size_t index;
};

static void chain_next(chain *c);

/* The longest calls into obol on the loop's thread, of the current run.
 * The adapter's dispatch is timed by linking this program with
 * --wrap=obol_queue_dispatch (tests/async.mk). */
static double longest_dispatch_ms, longest_submit_ms;

size_t __real_obol_queue_dispatch(obol_queue *q);
size_t __wrap_obol_queue_dispatch(obol_queue *q);

static void note_longest(double *longest, double ms)
{
    if (ms > *longest)
        *longest = ms;
}

size_t __wrap_obol_queue_dispatch(obol_queue *q)
{
    double began = async_now_ms();
    size_t ran = __real_obol_queue_dispatch(q);

    note_longest(&longest_dispatch_ms, async_now_ms() - began);
    return ran;
}

static void chain_failed(free_loop *fl, const char *what, const char *why)
{
    if (fl->failures++ == 0)
        snprintf(fl->first_failure, sizeof fl->first_failure, "%s: %s", what,
                 why);
}

static void chain_done(async_op *op)
{
    chain *c = op->data;
    free_loop *fl = c->fl;

    fl->operations++;
    if (op->status != OBOL_OK)
        chain_failed(fl, obol_op_name(op->op), op->message);
    else if (c->step == 1 &&
             (op->session == NULL || strcmp(op->session->id, c->s->id) != 0))
        chain_failed(fl, "get", "another session came back");
    async_op_clear(op);
    c->step = (c->step + 1) % 3;
    if (c->step == 0) {
        obol_session_free(c->s);
        c->s = NULL;
    }
    if (!fl->stopping)
        chain_next(c);
}

static void chain_next(chain *c)
{
    obol_error err;
    char uid[32];
    int rc;

    double began;

    async_op_init(&c->op, &c->fl->l);
    c->op.then = chain_done;
    c->op.data = c;
    began = async_now_ms();
    if (c->step == 0) {
        user_name(uid, sizeof uid, c->index++);
        c->s = async_session_new(uid);
        rc = obol_upsert_async(c->fl->l.q, c->s, async_op_done, &c->op, &err);
    } else if (c->step == 1) {
        rc = obol_get_async(c->fl->l.q, c->s->id, c->s->user_id, NULL,
                            async_op_done, &c->op, &err);
    } else {
        rc = obol_delete_async(c->fl->l.q, c->s->id, c->s->user_id, NULL,
                               async_op_done, &c->op, &err);
    }
    note_longest(&longest_submit_ms, async_now_ms() - began);
    if (rc != OBOL_OK)
        chain_failed(c->fl, "submit", err.message);
}

static void on_tick(uv_timer_t *timer)
{
    free_loop *fl = timer->data;
    uint64_t now = uv_hrtime();

    if (fl->last_tick_ns != 0) {
        double late = (double)(now - fl->last_tick_ns) / 1e6 - TIMER_MS;

        if (late > fl->max_late_ms)
            fl->max_late_ms = late;
    }
    fl->last_tick_ns = now;
    fl->ticks++;
}

static void on_stop(uv_timer_t *timer)
{
    free_loop *fl = timer->data;

    fl->stopping = 1;
}

/* One run of the load: how late the timer fired at worst, and the
 * longest single call into obol on the loop's thread (a submit, or a
 * dispatch with the callbacks it ran). */
static void load_once(const backend *b, obol_store *st, double *late_ms,
                      double *longest_call_ms)
{
    free_loop *fl = calloc(1, sizeof *fl);
    chain *chains = calloc(WINDOW, sizeof *chains);
    uv_timer_t ticker, stopper;

    assert_non_null(fl);
    assert_non_null(chains);
    longest_dispatch_ms = longest_submit_ms = 0;
    async_loop_open(&fl->l, st, b->mode, LOAD_TIMEOUT_MS);
    uv_timer_init(&fl->l.loop, &ticker);
    uv_timer_init(&fl->l.loop, &stopper);
    ticker.data = stopper.data = fl;
    uv_timer_start(&ticker, on_tick, TIMER_MS, TIMER_MS);
    uv_timer_start(&stopper, on_stop, LOAD_MS, 0);
    for (size_t i = 0; i < WINDOW; i++) {
        chains[i].fl = fl;
        chains[i].index = i * 1000;
        chain_next(&chains[i]);
    }
    while (!fl->stopping || obol_queue_pending(fl->l.q) > 0)
        uv_run(&fl->l.loop, UV_RUN_ONCE);
    uv_close((uv_handle_t *)&ticker, NULL);
    uv_close((uv_handle_t *)&stopper, NULL);
    async_loop_close(&fl->l);
    print_message("# %zu operations in %d ms, %zu ticks, the latest %.1f ms "
                  "late; the longest dispatch %.1f ms, submit %.1f ms\n",
                  fl->operations, LOAD_MS, fl->ticks, fl->max_late_ms,
                  longest_dispatch_ms, longest_submit_ms);
    if (fl->failures != 0)
        fail_msg("%zu operations failed; the first: %s", fl->failures,
                 fl->first_failure);
    assert_int_equal(fl->l.extra_runs, 0);
    assert_int_equal(fl->l.during_close, 0);
    assert_true(fl->operations > WINDOW);
    assert_true(fl->ticks >= LOAD_MS / TIMER_MS / 2);
    *late_ms = fl->max_late_ms;
    *longest_call_ms = longest_dispatch_ms > longest_submit_ms
                           ? longest_dispatch_ms : longest_submit_ms;
    for (size_t i = 0; i < WINDOW; i++)
        obol_session_free(chains[i].s);
    free(chains);
    free(fl);
}

/*
 * The timer is late when the loop's thread is busy (what this tests) but
 * also when the machine does not run it (other tests of a parallel
 * `make check` on two cores). So the load runs up to LOAD_ATTEMPTS times
 * and passes on the first run whose timer was never more than MAX_LATE_MS
 * late: a library that holds the loop fails every run, the scheduler's
 * noise rarely hits three. Under `make check-valgrind`
 * (OBOL_SUITE_TIMEOUT_S set) every instruction costs some twenty times
 * more and threads take turns, so lateness is printed there, not judged.
 */
enum { LOAD_ATTEMPTS = 3 };

static void loop_stays_free(const backend *b)
{
    obol_store *st = backend_store(b);
    int slow = getenv("OBOL_SUITE_TIMEOUT_S") != NULL;
    double late = 0, longest = 0;

    for (int attempt = 0; attempt < LOAD_ATTEMPTS; attempt++) {
        load_once(b, st, &late, &longest);
        if (late <= MAX_LATE_MS || slow)
            break;
    }
    obol_store_close(st);
    if (late > MAX_LATE_MS && !slow)
        fail_msg("the %d ms timer fired %.1f ms late (limit %d ms) in each of "
                 "%d runs; the longest call into obol on the loop took %.1f "
                 "ms in the last", TIMER_MS, late, MAX_LATE_MS, LOAD_ATTEMPTS,
                 longest);
}

static void loop_stays_free_on_redis(void **state)
{
    (void)state;
    loop_stays_free(&redis_native);
}

static void loop_stays_free_on_redis_workers(void **state)
{
    (void)state;
    loop_stays_free(&redis_workers);
}

static void loop_stays_free_on_lmdb(void **state)
{
    (void)state;
    loop_stays_free(&lmdb_auto);
}

static void loop_stays_free_on_lmdb_workers(void **state)
{
    (void)state;
    loop_stays_free(&lmdb_workers);
}

int main(void)
{
    static const struct CMUnitTest tests[] = {
        cmocka_unit_test(ten_thousand_in_flight_on_redis),
        cmocka_unit_test(ten_thousand_in_flight_on_lmdb),
        cmocka_unit_test(ten_thousand_in_flight_on_lmdb_inline),
        cmocka_unit_test(ten_thousand_in_flight_on_lmdb_workers),
        cmocka_unit_test(loop_stays_free_on_redis),
        cmocka_unit_test(loop_stays_free_on_redis_workers),
        cmocka_unit_test(loop_stays_free_on_lmdb),
        cmocka_unit_test(loop_stays_free_on_lmdb_workers),
    };
    int failures;

    redis_harness_require();
    redis = redis_harness_start(NULL);
    lmdb_dir = tmpdir_make("async-load");
    lmdb_nosync_dir = tmpdir_make("async-load-nosync");
    if (redis == NULL || lmdb_dir == NULL || lmdb_nosync_dir == NULL) {
        printf("Bail out! could not start redis-server or make a directory\n");
        return 1;
    }
    snprintf(redis_base, sizeof redis_base, "%s", redis_harness_url(redis));
    snprintf(lmdb_base, sizeof lmdb_base, "lmdb://%s", lmdb_dir);
    snprintf(lmdb_nosync_base, sizeof lmdb_nosync_base, "lmdb://%s?sync=off",
             lmdb_nosync_dir);
    failures = cmocka_run_group_tests_name("async/load", tests, NULL, NULL);
    redis_harness_stop(redis);
    tmpdir_remove(lmdb_dir);
    tmpdir_remove(lmdb_nosync_dir);
    return failures == 0 ? 0 : 1;
}

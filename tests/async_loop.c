/* The loop and the operation records of the async tests; see
 * async_loop.h. */
#include "config.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "async_loop.h"

static const uint8_t test_key[32] = "obol async test key............";
static unsigned url_counter;

double async_now_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1000.0 + (double)ts.tv_nsec / 1e6;
}

int async_loop_start(async_loop *l, obol_store *st, int mode,
                     int64_t timeout_ms, obol_error *err)
{
    obol_queue_options options = { sizeof options, mode, timeout_ms, 0 };
    int status;

    memset(l, 0, sizeof *l);
    if (uv_loop_init(&l->loop) != 0) {
        snprintf(err->message, sizeof err->message, "uv_loop_init failed");
        return err->status = OBOL_ERR_BACKEND;
    }
    status = obol_queue_open(st, &options, &l->q, err);
    if (status != OBOL_OK) {
        uv_loop_close(&l->loop);
        return status;
    }
    status = obol_uv_attach(&l->loop, l->q, &l->watch, err);
    if (status != OBOL_OK) {
        obol_queue_close(l->q);
        uv_loop_close(&l->loop);
    }
    return status;
}

void async_loop_open(async_loop *l, obol_store *st, int mode,
                     int64_t timeout_ms)
{
    obol_error err = { 0 };

    if (async_loop_start(l, st, mode, timeout_ms, &err) != OBOL_OK)
        fail_msg("opening a queue on a loop: %s", err.message);
}

static void tick(uv_timer_t *timer)
{
    (void)timer;   /* only wakes uv_run, so that the limit is checked */
}

int async_loop_wait(async_loop *l, size_t target, double limit_ms)
{
    double until = async_now_ms() + limit_ms;
    uv_timer_t timer;

    uv_timer_init(&l->loop, &timer);
    uv_timer_start(&timer, tick, 10, 10);
    while (l->done < target && async_now_ms() < until &&
           l->watch->poll_status == 0)
        uv_run(&l->loop, UV_RUN_ONCE);
    uv_close((uv_handle_t *)&timer, NULL);
    uv_run(&l->loop, UV_RUN_NOWAIT);
    return l->done >= target ? 0 : -1;
}

void async_loop_run_until(async_loop *l, size_t target, double limit_ms)
{
    if (async_loop_wait(l, target, limit_ms) == 0)
        return;
    if (l->watch->poll_status != 0)
        fail_msg("libuv stopped watching the queue: %s",
                 uv_strerror(l->watch->poll_status));
    fail_msg("%zu of %zu callbacks ran within %.0f ms (%zu pending)",
             l->done, target, limit_ms, obol_queue_pending(l->q));
}

void async_loop_run_for(async_loop *l, double ms)
{
    double until = async_now_ms() + ms;
    uv_timer_t timer;

    uv_timer_init(&l->loop, &timer);
    uv_timer_start(&timer, tick, 5, 5);
    while (async_now_ms() < until)
        uv_run(&l->loop, UV_RUN_ONCE);
    uv_close((uv_handle_t *)&timer, NULL);
    uv_run(&l->loop, UV_RUN_NOWAIT);
}

int async_loop_end(async_loop *l)
{
    obol_uv_detach(l->watch);
    l->watch = NULL;
    uv_run(&l->loop, UV_RUN_NOWAIT);   /* the adapter's close callback */
    l->closing = 1;
    obol_queue_close(l->q);
    l->closing = 0;
    l->closed = 1;
    l->q = NULL;
    return uv_loop_close(&l->loop);
}

void async_loop_close(async_loop *l)
{
    assert_int_equal(async_loop_end(l), 0);
}

void async_op_init(async_op *op, async_loop *l)
{
    memset(op, 0, sizeof *op);
    op->loop = l;
    op->status = -1000;
    op->submitted_ms = async_now_ms();
}

void async_op_done(void *arg, obol_result *result)
{
    async_op *op = arg;
    async_loop *l = op->loop;

    if (l->closed)
        l->after_close++;
    if (op->runs++ > 0) {
        l->extra_runs++;
        return;
    }
    l->done++;
    if (l->closing) {
        l->during_close++;
        op->during_close = 1;
    }
    op->done_ms = async_now_ms();
    op->op = result->op;
    op->status = result->status;
    if (result->error != NULL)
        snprintf(op->message, sizeof op->message, "%s",
                 result->error->message);
    op->session = result->session;
    result->session = NULL;
    op->sessions = result->sessions;
    op->count = result->count;
    result->sessions = NULL;
    result->count = 0;
    op->new_token = result->new_token;
    result->new_token = NULL;
    op->removed = result->removed;
    op->upserted = result->upserted;
    if (op->then != NULL)
        op->then(op);
}

void async_op_clear(async_op *op)
{
    obol_session_free(op->session);
    obol_sessions_free(op->sessions, op->count);
    free(op->new_token);
    op->session = NULL;
    op->sessions = NULL;
    op->count = 0;
    op->new_token = NULL;
}

obol_store *async_store_open(const char *url)
{
    obol_store *st = NULL;
    obol_error err = { 0 };

    if (obol_store_open(url, &st, &err) != OBOL_OK)
        fail_msg("obol_store_open(%s): %s", url, err.message);
    assert_int_equal(obol_store_add_key(st, 1, test_key, 1, NULL), OBOL_OK);
    return st;
}

void async_make_url(char *out, size_t size, const char *base,
                    const char *extra)
{
    char sep = strchr(base, '?') != NULL ? '&' : '?';

    snprintf(out, size, "%s%cprefix=a%ld-%u%s%s", base, sep, (long)getpid(),
             ++url_counter, extra != NULL ? "&" : "",
             extra != NULL ? extra : "");
}

obol_session *async_session_new(const char *uid)
{
    obol_session *s = obol_session_new(uid, NULL, (int64_t)time(NULL),
                                       24 * 3600, 24 * 3600);

    assert_non_null(s);
    return s;
}

/* The non-blocking API under load, for the Redis tests; see
 * redis_async_load.h. */
#define _POSIX_C_SOURCE 200809L
#include "config.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "redis_async_load.h"
#include "store_checks.h"

obol_queue *open_queue(obol_store *st, int64_t timeout_ms)
{
    obol_queue_options options = { .struct_size = sizeof options,
                                   .mode = OBOL_QUEUE_NATIVE,
                                   .timeout_ms = timeout_ms };
    obol_queue *q = NULL;
    obol_error err = { 0 };

    assert_int_equal(obol_queue_open(st, &options, &q, &err), OBOL_OK);
    return q;
}

/* One get through q, waited for: its status. */
static void on_status(void *arg, obol_result *result)
{
    int *status = arg;

    *status = result->status;
}

int get_through(obol_queue *q, const obol_session *s)
{
    int status = 1;
    obol_error err = { 0 };

    assert_int_equal(obol_get_async(q, s->id, s->user_id, NULL, on_status,
                                    &status, &err),
                     OBOL_OK);
    while (obol_queue_pending(q) > 0)
        obol_queue_wait(q, 100);
    return status;
}

/* ------------------------------------------------------------ the load */

/* Each operation's record (a load_op) lives until the end, so that a
 * callback run twice is seen, not a use after free. */
void load_on_done(void *arg, obol_result *result)
{
    load_op *op = arg;
    load *l = op->l;

    if (++op->runs > 1)
        l->twice++;
    l->completed++;
    l->in_flight--;
    if (result->status == OBOL_OK) {
        l->ok++;
    } else {
        l->errors++;
        l->timeouts += result->status == OBOL_ERR_TIMEOUT;
        snprintf(l->last_error, sizeof l->last_error, "%d %s",
                 result->status,
                 result->error != NULL ? result->error->message : "");
    }
    if (result->op == OBOL_OP_UPSERT)
        obol_session_free(result->upserted);
}

static void submit_one(load *l, obol_queue *q)
{
    load_op *op = &l->ops[l->submitted];
    obol_error err = { 0 };
    int status;

    op->l = l;
    if (l->submitted % 2 == 0) {
        status = obol_get_async(q, l->known->id, l->user, NULL, load_on_done, op,
                                &err);
    } else {
        obol_session *s = obol_session_new(l->user, NULL, (int64_t)time(NULL),
                                           3600, 3600);
        assert_non_null(s);
        status = obol_upsert_async(q, s, load_on_done, op, &err);
        if (status != OBOL_OK)
            obol_session_free(s);
    }
    if (status != OBOL_OK)
        fprintf(stderr, "submit: %s\n", err.message);
    assert_int_equal(status, OBOL_OK);
    l->submitted++;
    l->in_flight++;
}

static void *load_loop(void *arg)
{
    load *l = arg;
    obol_queue *q = open_queue(l->st, 5000);

    while (!__atomic_load_n(&l->stop, __ATOMIC_ACQUIRE) &&
           l->submitted < LOAD_MAX_OPS - l->depth) {
        while (l->in_flight < l->depth)
            submit_one(l, q);
        obol_queue_wait(q, 10);
    }
    while (obol_queue_pending(q) > 0)
        obol_queue_wait(q, 100);
    obol_queue_close(q);
    return NULL;
}

void load_start(load *l, obol_store *st, const char *user, int depth)
{
    memset(l, 0, sizeof *l);
    l->st = st;
    l->user = user;
    l->depth = depth;
    l->known = insert(st, user);
    l->ops = calloc(LOAD_MAX_OPS, sizeof *l->ops);
    assert_non_null(l->ops);
    assert_int_equal(pthread_create(&l->thread, NULL, load_loop, l), 0);
}

/* Stops the load and checks that each operation's callback ran once. */
void load_finish(load *l, const char *label)
{
    __atomic_store_n(&l->stop, 1, __ATOMIC_RELEASE);
    pthread_join(l->thread, NULL);
    printf("# %s: %d operations, %d ok, %d failed%s%s\n", label,
           l->submitted, l->ok, l->errors, l->errors > 0 ? "; last: " : "",
           l->errors > 0 ? l->last_error : "");
    assert_int_equal(l->twice, 0);
    assert_int_equal(l->completed, l->submitted);
    for (int i = 0; i < l->submitted; i++)
        assert_int_equal(l->ops[i].runs, 1);
    assert_true(l->ok > 0);
    free(l->ops);
    obol_session_free(l->known);
}

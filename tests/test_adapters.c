/*
 * The event-loop adapters, include/obol/uv.h and include/obol/event.h, on
 * real loops: arguments refused with a message, a queue attached twice,
 * callbacks run on the loop's thread, a detach from inside a callback
 * that lets the loop end, and a detach followed at once by the queue's
 * close with operations in flight, every callback run exactly once and
 * the loop closing clean (the adapter freed). The store is memory: with
 * the worker pool, so that operations really are in flight. Built with
 * whichever of libuv and libevent configure found.
 */
#include "config.h"

#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include <obol/obol.h>
#ifdef HAVE_LIBUV
#include <obol/uv.h>
#endif
#ifdef HAVE_LIBEVENT
#include <obol/event.h>
#endif

#if !defined(HAVE_LIBUV) && !defined(HAVE_LIBEVENT)
int main(void)
{
    printf("1..0 # SKIP configure found neither libuv nor libevent\n");
    return 0;
}
#else

#define OPS 200

typedef struct fixture {
    obol_store *st;
    obol_queue *q;
    pthread_t loop_thread;
    int ran[OPS];           /* callbacks run, per operation */
    int total;
    int off_thread;         /* callbacks run on another thread */
    int stop_after;         /* detach once this many have run; 0: never */
    void (*detach)(struct fixture *f);
    void *watch;
} fixture;

typedef struct op_arg {
    fixture *f;
    int i;
} op_arg;

static op_arg args[OPS];

static int open_fixture(void **state)
{
    static const uint8_t key[32] = "the adapters test key, 32 bytes";
    obol_queue_options o = { sizeof o, OBOL_QUEUE_WORKERS, 0, 2 };
    fixture *f = calloc(1, sizeof *f);
    obol_error err;

    if (f == NULL || obol_store_open("memory:", &f->st, &err) != OBOL_OK ||
        obol_store_add_key(f->st, 1, key, 1, &err) != OBOL_OK ||
        obol_queue_open(f->st, &o, &f->q, &err) != OBOL_OK) {
        print_error("fixture: %s\n", err.message);
        return -1;
    }
    f->loop_thread = pthread_self();
    for (int i = 0; i < OPS; i++)
        args[i] = (op_arg){ f, i };
    *state = f;
    return 0;
}

static int close_fixture(void **state)
{
    fixture *f = *state;

    obol_queue_close(f->q);
    obol_store_close(f->st);
    free(f);
    return 0;
}

static void counted(void *arg, obol_result *r)
{
    op_arg *a = arg;
    fixture *f = a->f;

    assert_true(r->status == OBOL_NOT_FOUND ||
                r->status == OBOL_ERR_CANCELLED);
    if (!pthread_equal(pthread_self(), f->loop_thread))
        f->off_thread++;
    f->ran[a->i]++;
    if (++f->total == f->stop_after)
        f->detach(f);
}

static void submit_all(fixture *f)
{
    obol_error err;

    for (int i = 0; i < OPS; i++)
        assert_int_equal(obol_get_async(f->q, "no such session", "user",
                                        NULL, counted, &args[i], &err),
                         OBOL_OK);
}

static void assert_each_ran_once(const fixture *f)
{
    for (int i = 0; i < OPS; i++)
        assert_int_equal(f->ran[i], 1);
    assert_int_equal(f->total, OPS);
    assert_int_equal(f->off_thread, 0);
    assert_int_equal(obol_queue_pending(f->q), 0);
}

/* ------------------------------------------------------------- libuv */
#ifdef HAVE_LIBUV

static void uv_detach(fixture *f)
{
    obol_uv_detach(f->watch);
    f->watch = NULL;
}

static void uv_attach_refuses_null_arguments(void **state)
{
    fixture *f = *state;
    obol_uv *watch = (obol_uv *)1;
    uv_loop_t loop;
    obol_error err;

    assert_int_equal(uv_loop_init(&loop), 0);
    assert_int_equal(obol_uv_attach(&loop, NULL, &watch, &err),
                     OBOL_ERR_INVALID);
    assert_null(watch);
    assert_int_equal(err.status, OBOL_ERR_INVALID);
    assert_non_null(strstr(err.message, "obol_uv_attach"));
    assert_int_equal(obol_uv_attach(NULL, f->q, &watch, NULL),
                     OBOL_ERR_INVALID);
    assert_int_equal(obol_uv_attach(&loop, f->q, NULL, NULL),
                     OBOL_ERR_INVALID);
    obol_uv_detach(NULL);
    assert_int_equal(uv_loop_close(&loop), 0);
}

static void uv_attaching_a_queue_twice_to_one_loop_is_refused(void **state)
{
    fixture *f = *state;
    obol_uv *first, *second = (obol_uv *)1;
    uv_loop_t loop;
    obol_error err;

    assert_int_equal(uv_loop_init(&loop), 0);
    assert_int_equal(obol_uv_attach(&loop, f->q, &first, &err), OBOL_OK);
    assert_int_equal(obol_uv_attach(&loop, f->q, &second, &err),
                     OBOL_ERR_BACKEND);
    assert_null(second);
    assert_non_null(strstr(err.message, "uv_poll_init"));
    obol_uv_detach(first);
    assert_int_equal(uv_run(&loop, UV_RUN_DEFAULT), 0);
    assert_int_equal(uv_loop_close(&loop), 0);
}

static void uv_callbacks_run_on_the_loop_until_detached(void **state)
{
    fixture *f = *state;
    uv_loop_t loop;
    obol_error err;

    assert_int_equal(uv_loop_init(&loop), 0);
    assert_int_equal(obol_uv_attach(&loop, f->q, (obol_uv **)&f->watch,
                                    &err), OBOL_OK);
    f->stop_after = OPS;
    f->detach = uv_detach;
    submit_all(f);
    /* Returns only once the last callback detached and the poll handle's
     * close callback ran (freeing the adapter). */
    assert_int_equal(uv_run(&loop, UV_RUN_DEFAULT), 0);
    assert_each_ran_once(f);
    assert_int_equal(uv_loop_close(&loop), 0);
}

static void uv_close_right_after_detach_runs_every_callback(void **state)
{
    fixture *f = *state;
    obol_uv *watch;
    uv_loop_t loop;
    obol_error err;

    assert_int_equal(uv_loop_init(&loop), 0);
    assert_int_equal(obol_uv_attach(&loop, f->q, &watch, &err), OBOL_OK);
    submit_all(f);
    obol_uv_detach(watch);
    /* The poll is stopped: the descriptor may go at once, and every
     * callback owed runs in here, finished or cancelled. */
    obol_queue_close(f->q);
    f->q = NULL;
    for (int i = 0; i < OPS; i++)
        assert_int_equal(f->ran[i], 1);
    assert_int_equal(f->total, OPS);
    assert_int_equal(f->off_thread, 0);
    assert_int_equal(uv_run(&loop, UV_RUN_NOWAIT), 0);
    assert_int_equal(uv_loop_close(&loop), 0);
}
#endif

/* ---------------------------------------------------------- libevent */
#ifdef HAVE_LIBEVENT

static void event_detach(fixture *f)
{
    obol_libevent_detach(f->watch);
    f->watch = NULL;
}

static void event_attach_refuses_null_arguments(void **state)
{
    fixture *f = *state;
    obol_libevent *watch = (obol_libevent *)1;
    struct event_base *base = event_base_new();
    obol_error err;

    assert_non_null(base);
    assert_int_equal(obol_libevent_attach(base, NULL, &watch, &err),
                     OBOL_ERR_INVALID);
    assert_null(watch);
    assert_int_equal(err.status, OBOL_ERR_INVALID);
    assert_non_null(strstr(err.message, "obol_libevent_attach"));
    assert_int_equal(obol_libevent_attach(NULL, f->q, &watch, NULL),
                     OBOL_ERR_INVALID);
    assert_int_equal(obol_libevent_attach(base, f->q, NULL, NULL),
                     OBOL_ERR_INVALID);
    obol_libevent_detach(NULL);
    event_base_free(base);
}

static void event_callbacks_run_on_the_loop_until_detached(void **state)
{
    fixture *f = *state;
    struct event_base *base = event_base_new();
    obol_error err;

    assert_non_null(base);
    assert_int_equal(obol_libevent_attach(base, f->q,
                                          (obol_libevent **)&f->watch, &err),
                     OBOL_OK);
    f->stop_after = OPS;
    f->detach = event_detach;
    submit_all(f);
    /* 1: it returned for want of events, the last callback having
     * detached (freeing the event from inside its own callback). */
    assert_int_equal(event_base_dispatch(base), 1);
    assert_each_ran_once(f);
    event_base_free(base);
}

static void event_close_right_after_detach_runs_every_callback(void **state)
{
    fixture *f = *state;
    struct event_base *base = event_base_new();
    obol_libevent *watch;
    obol_error err;

    assert_non_null(base);
    assert_int_equal(obol_libevent_attach(base, f->q, &watch, &err), OBOL_OK);
    submit_all(f);
    obol_libevent_detach(watch);
    obol_queue_close(f->q);
    f->q = NULL;
    for (int i = 0; i < OPS; i++)
        assert_int_equal(f->ran[i], 1);
    assert_int_equal(f->total, OPS);
    assert_int_equal(f->off_thread, 0);
    assert_int_equal(event_base_loop(base, EVLOOP_NONBLOCK), 1);
    event_base_free(base);
}
#endif

#define CASE(name) cmocka_unit_test_setup_teardown(name, open_fixture, \
                                                   close_fixture)

int main(void)
{
    const struct CMUnitTest tests[] = {
#ifdef HAVE_LIBUV
        CASE(uv_attach_refuses_null_arguments),
        CASE(uv_attaching_a_queue_twice_to_one_loop_is_refused),
        CASE(uv_callbacks_run_on_the_loop_until_detached),
        CASE(uv_close_right_after_detach_runs_every_callback),
#endif
#ifdef HAVE_LIBEVENT
        CASE(event_attach_refuses_null_arguments),
        CASE(event_callbacks_run_on_the_loop_until_detached),
        CASE(event_close_right_after_detach_runs_every_callback),
#endif
    };

    return cmocka_run_group_tests_name("adapters", tests, NULL, NULL);
}
#endif /* a library to test */

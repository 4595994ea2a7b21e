/*
 * The core's side of the non-blocking API's native path (driver.h, ABI
 * 1.6), against a driver that does what a real one cannot be made to do
 * on demand: answer late, answer after the deadline, never answer, or
 * answer inside submit(). It is the memory driver (linked in) behind a
 * table whose submit() hands each operation to a thread of its own.
 */
#include "config.h"

#include <pthread.h>
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>
#include <malloc.h>

#include <obol/driver.h>

const obol_driver *obol_driver_memory_entry(const obol_driver_host *host);

/* ------------------------------------------------------- the driver */

enum { ANSWER_LATER, ANSWER_NEVER, ANSWER_IN_SUBMIT, REFUSE };

static const obol_driver *memory;
static int answer_how = ANSWER_LATER;
static int answer_after_ms = 1;

typedef struct pending {
    struct pending *next;
    obol_driver_op *op;
} pending;

/* The handle is the memory driver's own, so that its blocking slots serve
 * the table as they are; what submit() needs is kept beside it, for the
 * one store of this driver a case has open at a time. */
typedef struct slow_state {
    void *inner;
    pthread_t thread;
    pthread_mutex_t lock;
    pthread_cond_t wake;
    pending *head, **tail;
    pending *held;      /* never answered until close */
    int stopping;
} slow_state;

static slow_state slow;

/* Whether submit() was called while a blocking get held the handle (it
 * must not be, on a driver that is not THREAD_SAFE: the core serializes
 * the calls on it). */
static int hold_gets;
static int in_blocking_get;
static int submit_overlapped;

static void sleep_ms(int ms)
{
    struct timespec ts = { ms / 1000, (long)(ms % 1000) * 1000000 };

    nanosleep(&ts, NULL);
}

/* Runs op with the memory driver's blocking slots. */
static void answer(slow_state *h, obol_driver_op *op)
{
    obol_error err = { 0 };
    int status;

    switch (op->kind) {
    case OBOL_DRIVER_OP_GET:
        status = memory->get(h->inner, &op->key, &op->sealed,
                             &op->sealed_len, &err);
        break;
    case OBOL_DRIVER_OP_PUT:
        status = memory->put(h->inner, &op->record, op->expected_lock,
                             op->now, &err);
        break;
    case OBOL_DRIVER_OP_DEL:
        status = memory->del_counted(h->inner, &op->key, &op->removed, &err);
        break;
    case OBOL_DRIVER_OP_DEL_ALL:
        status = memory->del_all_counted(h->inner, &op->key, &op->removed,
                                         &err);
        break;
    default:
        status = memory->list(h->inner, &op->key, op->visit, op->visit_arg,
                              &err);
        break;
    }
    op->complete(op, status, status < 0 ? &err : NULL);
}

static pending *next_pending(slow_state *h)
{
    pending *p;

    pthread_mutex_lock(&h->lock);
    while (h->head == NULL && !h->stopping)
        pthread_cond_wait(&h->wake, &h->lock);
    p = h->stopping ? NULL : h->head;
    if (p != NULL) {
        h->head = p->next;
        if (h->head == NULL)
            h->tail = &h->head;
    }
    pthread_mutex_unlock(&h->lock);
    return p;
}

static void *answering(void *arg)
{
    slow_state *h = arg;
    pending *p;

    while ((p = next_pending(h)) != NULL) {
        sleep_ms(answer_after_ms);
        answer(h, p->op);
        free(p);
    }
    return NULL;
}

static int slow_open(const obol_driver_config *config, void **handle,
                     obol_error *err)
{
    slow_state *h = &slow;
    int status;

    memset(h, 0, sizeof *h);
    status = memory->open(config, &h->inner, err);
    if (status != OBOL_OK)
        return status;
    h->tail = &h->head;
    pthread_mutex_init(&h->lock, NULL);
    pthread_cond_init(&h->wake, NULL);
    assert_int_equal(pthread_create(&h->thread, NULL, answering, h), 0);
    *handle = h->inner;
    return OBOL_OK;
}

/* Completes what it never answered, as driver.h asks of close(). */
static void slow_close(void *handle)
{
    slow_state *h = &slow;
    obol_error cancelled = { OBOL_ERR_CANCELLED, "slow: closed" };

    pthread_mutex_lock(&h->lock);
    h->stopping = 1;
    pthread_cond_signal(&h->wake);
    pthread_mutex_unlock(&h->lock);
    pthread_join(h->thread, NULL);
    *h->tail = h->held;
    while (h->head != NULL) {
        pending *p = h->head;

        h->head = p->next;
        p->op->complete(p->op, OBOL_ERR_CANCELLED, &cancelled);
        free(p);
    }
    memory->close(handle);
    pthread_cond_destroy(&h->wake);
    pthread_mutex_destroy(&h->lock);
}

static uint32_t slow_native_ops(void *handle)
{
    (void)handle;
    return OBOL_DRIVER_OP_BIT(OBOL_DRIVER_OP_GET) |
           OBOL_DRIVER_OP_BIT(OBOL_DRIVER_OP_PUT) |
           OBOL_DRIVER_OP_BIT(OBOL_DRIVER_OP_DEL) |
           OBOL_DRIVER_OP_BIT(OBOL_DRIVER_OP_DEL_ALL) |
           OBOL_DRIVER_OP_BIT(OBOL_DRIVER_OP_LIST);
}

static int slow_submit(void *handle, obol_driver_op *op, obol_error *err)
{
    slow_state *h = &slow;
    pending *p;

    (void)handle;
    assert_true(op->struct_size >= sizeof *op);
    if (__atomic_load_n(&in_blocking_get, __ATOMIC_SEQ_CST))
        __atomic_store_n(&submit_overlapped, 1, __ATOMIC_SEQ_CST);
    if (answer_how == REFUSE) {
        err->status = OBOL_ERR_BACKEND;
        strcpy(err->message, "slow: refused");
        return OBOL_ERR_BACKEND;
    }
    if (answer_how == ANSWER_IN_SUBMIT) {
        answer(h, op);
        return OBOL_OK;
    }
    p = malloc(sizeof *p);
    assert_non_null(p);
    p->op = op;
    p->next = NULL;
    pthread_mutex_lock(&h->lock);
    if (answer_how == ANSWER_NEVER) {
        p->next = h->held;
        h->held = p;
    } else {
        *h->tail = p;
        h->tail = &p->next;
        pthread_cond_signal(&h->wake);
    }
    pthread_mutex_unlock(&h->lock);
    return OBOL_OK;
}

/* A blocking get that, with hold_gets, holds the handle a while
 * (in_blocking_get, which slow_submit() checks). */

static int slow_get(void *handle, const obol_driver_key *key,
                    uint8_t **sealed, size_t *len, obol_error *err)
{
    int status;

    if (!hold_gets)
        return memory->get(handle, key, sealed, len, err);
    __atomic_store_n(&in_blocking_get, 1, __ATOMIC_SEQ_CST);
    sleep_ms(100);
    status = memory->get(handle, key, sealed, len, err);
    __atomic_store_n(&in_blocking_get, 0, __ATOMIC_SEQ_CST);
    return status;
}

static const char *const slow_schemes[] = { "slow", NULL };

static obol_driver table;

static const obol_driver *slow_entry(const obol_driver_host *host)
{

    memory = obol_driver_memory_entry(host);
    table = *memory;
    table.abi_minor = OBOL_DRIVER_ABI_MINOR;
    table.name = "slow";
    table.schemes = slow_schemes;
    table.capabilities &= ~OBOL_DRIVER_LOCAL;
    table.open = slow_open;
    table.close = slow_close;
    table.native_ops = slow_native_ops;
    table.submit = slow_submit;
    table.get = slow_get;
    return &table;
}

/* --------------------------------------------------------- threads */

/* pthread_create()'s error for the next threads, 0 to let them start
 * (linked with --wrap=pthread_create). */
static int refuse_threads;

int __real_pthread_create(pthread_t *thread, const pthread_attr_t *attr,
                          void *(*run)(void *), void *arg);
int __wrap_pthread_create(pthread_t *thread, const pthread_attr_t *attr,
                          void *(*run)(void *), void *arg);

int __wrap_pthread_create(pthread_t *thread, const pthread_attr_t *attr,
                          void *(*run)(void *), void *arg)
{
    if (refuse_threads != 0)
        return refuse_threads;
    return __real_pthread_create(thread, attr, run, arg);
}

/* ------------------------------------------------------------ fixture */

typedef struct outcome {
    int runs;
    int status;
    int64_t at_ms;
    char message[256];
    obol_session *session;
    size_t count;
    uint64_t removed;
} outcome;

static int64_t now_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void record(void *arg, obol_result *r)
{
    outcome *o = arg;

    o->runs++;
    o->status = r->status;
    o->at_ms = now_ms();
    snprintf(o->message, sizeof o->message, "%s", r->error->message);
    o->count = r->count;
    o->removed = r->removed;
    if (r->session != NULL) {
        o->session = r->session;   /* taken: the test frees it */
        r->session = NULL;
    }
}

static obol_store *open_slow(void)
{
    static const uint8_t key[32] = "queue test key..................";
    obol_store *st = NULL;
    obol_error err;

    if (obol_store_open("slow:", &st, &err) != OBOL_OK)
        fail_msg("open: %s", err.message);
    assert_int_equal(obol_store_add_key(st, 1, key, 1, NULL), OBOL_OK);
    return st;
}

static obol_queue *open_queue(obol_store *st, int mode, int64_t timeout_ms)
{
    obol_queue_options o = { sizeof o, mode, timeout_ms, 0 };
    obol_queue *q = NULL;
    obol_error err;

    if (obol_queue_open(st, &o, &q, &err) != OBOL_OK)
        fail_msg("queue_open: %s", err.message);
    return q;
}

static void drain(obol_queue *q)
{
    int64_t give_up = now_ms() + 5000;

    while (obol_queue_pending(q) > 0 && now_ms() < give_up)
        obol_queue_wait(q, 100);
    assert_int_equal(obol_queue_pending(q), 0);
}

static obol_session *stored_session(obol_store *st, const char *uid)
{
    obol_session *s = obol_session_new(uid, NULL, obol_store_now(st), 3600,
                                       600);

    assert_non_null(s);
    assert_int_equal(obol_upsert(st, s, NULL), OBOL_OK);
    return s;
}

/* -------------------------------------------------------------- cases */

static void native_results_are_the_synchronous_ones(void **state)
{
    obol_store *st = open_slow();
    obol_queue *q = open_queue(st, OBOL_QUEUE_AUTO, 2000);
    obol_session *s = obol_session_new("u", NULL, obol_store_now(st), 3600,
                                       600);
    outcome put = { 0 }, got = { 0 }, missing = { 0 }, all = { 0 },
            stale = { 0 }, del = { 0 }, del_all = { 0 };
    uint64_t lock;

    (void)state;
    answer_how = ANSWER_LATER;
    assert_int_equal(obol_upsert_async(q, s, record, &put, NULL), OBOL_OK);
    drain(q);
    assert_int_equal(put.status, OBOL_OK);
    assert_int_equal(s->lock_version, 1);
    assert_int_equal(obol_get_async(q, s->id, "u", NULL, record, &got, NULL),
                     OBOL_OK);
    assert_int_equal(obol_get_async(q, "nope", "u", NULL, record, &missing,
                                    NULL), OBOL_OK);
    assert_int_equal(obol_get_all_async(q, "u", NULL, record, &all, NULL),
                     OBOL_OK);
    drain(q);
    assert_int_equal(got.status, OBOL_OK);
    assert_string_equal(got.session->id, s->id);
    assert_int_equal(missing.status, OBOL_NOT_FOUND);
    assert_non_null(strstr(missing.message, "not found"));
    assert_int_equal(all.status, OBOL_OK);
    assert_int_equal(all.count, 1);
    /* A stale lock version is a conflict, and leaves s as it was. */
    lock = s->lock_version;
    s->lock_version = 0;
    assert_int_equal(obol_upsert_async(q, s, record, &stale, NULL), OBOL_OK);
    drain(q);
    assert_int_equal(stale.status, OBOL_CONFLICT);
    assert_int_equal(s->lock_version, 0);
    s->lock_version = lock;
    assert_int_equal(obol_delete_async(q, s->id, "u", NULL, record, &del,
                                       NULL), OBOL_OK);
    drain(q);
    assert_int_equal(del.status, OBOL_OK);
    assert_int_equal(del.removed, 1);
    assert_int_equal(obol_delete_all_async(q, "u", NULL, record, &del_all,
                                           NULL), OBOL_OK);
    drain(q);
    assert_int_equal(del_all.removed, 0);
    obol_session_free(got.session);
    obol_session_free(s);
    obol_queue_close(q);
    obol_store_close(st);
}

static void a_driver_that_never_answers_times_out_at_the_deadline(void **s0)
{
    obol_store *st = open_slow();
    obol_queue *q = open_queue(st, OBOL_QUEUE_AUTO, 150);
    obol_session *s = stored_session(st, "u");
    outcome o[8] = { { 0 } };
    int64_t submitted = now_ms();

    (void)s0;
    answer_how = ANSWER_NEVER;
    for (int i = 0; i < 8; i++)
        assert_int_equal(obol_get_async(q, s->id, "u", NULL, record, &o[i],
                                        NULL), OBOL_OK);
    drain(q);
    for (int i = 0; i < 8; i++) {
        assert_int_equal(o[i].runs, 1);
        assert_int_equal(o[i].status, OBOL_ERR_TIMEOUT);
        assert_non_null(strstr(o[i].message, "150 ms"));
        /* Not before the deadline, and soon after it. */
        assert_true(o[i].at_ms >= submitted + 150);
        assert_true(o[i].at_ms <= submitted + 150 + 200);
    }
    obol_queue_close(q);
    obol_session_free(s);
    /* The driver completes its ops at close; the core drops them. */
    obol_store_close(st);
    answer_how = ANSWER_LATER;
}

static void an_answer_after_the_deadline_is_dropped(void **state)
{
    obol_store *st = open_slow();
    obol_queue *q = open_queue(st, OBOL_QUEUE_AUTO, 30);
    obol_session *s = stored_session(st, "u");
    outcome late = { 0 }, next = { 0 };

    (void)state;
    answer_after_ms = 120;
    assert_int_equal(obol_get_async(q, s->id, "u", NULL, record, &late, NULL),
                     OBOL_OK);
    drain(q);
    assert_int_equal(late.status, OBOL_ERR_TIMEOUT);
    sleep_ms(200);              /* the driver answers now, to no one */
    assert_int_equal(obol_queue_dispatch(q), 0);
    assert_int_equal(late.runs, 1);
    answer_after_ms = 1;
    assert_int_equal(obol_get_async(q, s->id, "u", NULL, record, &next, NULL),
                     OBOL_OK);
    drain(q);
    assert_int_equal(next.status, OBOL_OK);
    obol_session_free(next.session);
    obol_queue_close(q);
    obol_session_free(s);
    obol_store_close(st);
}

static void closing_cancels_what_is_in_flight_once(void **state)
{
    obol_store *st = open_slow();
    obol_queue *q = open_queue(st, OBOL_QUEUE_AUTO, 5000);
    obol_session *s = stored_session(st, "u");
    outcome o[64] = { { 0 } };

    (void)state;
    answer_after_ms = 20;
    for (int i = 0; i < 64; i++)
        assert_int_equal(obol_get_async(q, s->id, "u", NULL, record, &o[i],
                                        NULL), OBOL_OK);
    sleep_ms(50);               /* some answered, most not */
    obol_queue_close(q);
    for (int i = 0; i < 64; i++) {
        assert_int_equal(o[i].runs, 1);
        assert_true(o[i].status == OBOL_OK ||
                    o[i].status == OBOL_ERR_CANCELLED);
        obol_session_free(o[i].session);
    }
    assert_int_equal(o[63].status, OBOL_ERR_CANCELLED);
    obol_session_free(s);
    obol_store_close(st);       /* the rest are answered, and dropped */
    answer_after_ms = 1;
}

static void an_answer_inside_submit_waits_for_dispatch(void **state)
{
    obol_store *st = open_slow();
    obol_queue *q = open_queue(st, OBOL_QUEUE_AUTO, 1000);
    obol_session *s = stored_session(st, "u");
    outcome o = { 0 };

    (void)state;
    answer_how = ANSWER_IN_SUBMIT;
    assert_int_equal(obol_get_async(q, s->id, "u", NULL, record, &o, NULL),
                     OBOL_OK);
    assert_int_equal(o.runs, 0);
    assert_int_equal(obol_queue_pending(q), 1);
    assert_int_equal(obol_queue_dispatch(q), 1);
    assert_int_equal(o.status, OBOL_OK);
    answer_how = ANSWER_LATER;
    obol_session_free(o.session);
    obol_queue_close(q);
    obol_session_free(s);
    obol_store_close(st);
}

static void a_refused_submit_never_calls_back(void **state)
{
    obol_store *st = open_slow();
    obol_queue *q = open_queue(st, OBOL_QUEUE_AUTO, 1000);
    outcome o = { 0 };
    obol_error err;

    (void)state;
    answer_how = REFUSE;
    assert_int_equal(obol_get_async(q, "s", "u", NULL, record, &o, &err),
                     OBOL_ERR_BACKEND);
    assert_string_equal(err.message, "slow: refused");
    assert_int_equal(obol_queue_pending(q), 0);
    answer_how = ANSWER_LATER;
    obol_queue_close(q);
    assert_int_equal(o.runs, 0);
    obol_store_close(st);
}

static void the_worker_pool_serves_a_queue_that_asks_for_it(void **state)
{
    obol_store *st = open_slow();
    obol_queue_options opt = { sizeof opt, OBOL_QUEUE_WORKERS, 100, 1 };
    obol_queue *q = NULL;
    obol_session *s = stored_session(st, "u");
    outcome o[4] = { { 0 } };

    (void)state;
    assert_int_equal(obol_queue_open(st, &opt, &q, NULL), OBOL_OK);
    for (int i = 0; i < 4; i++)
        assert_int_equal(obol_get_async(q, s->id, "u", NULL, record, &o[i],
                                        NULL), OBOL_OK);
    drain(q);
    for (int i = 0; i < 4; i++) {
        assert_int_equal(o[i].runs, 1);
        assert_int_equal(o[i].status, OBOL_OK);
        obol_session_free(o[i].session);
    }
    obol_queue_close(q);
    obol_session_free(s);
    obol_store_close(st);
}

static void bad_options_and_arguments_are_refused(void **state)
{
    obol_store *st = open_slow();
    obol_queue_options opt = { sizeof opt, 42, 0, 0 };
    obol_queue *q = NULL;
    obol_error err;
    outcome o = { 0 };

    (void)state;
    assert_int_equal(obol_queue_open(st, &opt, &q, &err), OBOL_ERR_INVALID);
    assert_non_null(strstr(err.message, "unknown mode 42"));
    opt.mode = OBOL_QUEUE_AUTO;
    opt.struct_size = 4;
    assert_int_equal(obol_queue_open(st, &opt, &q, &err), OBOL_ERR_INVALID);
    assert_int_equal(obol_queue_open(NULL, NULL, &q, &err), OBOL_ERR_INVALID);
    q = open_queue(st, OBOL_QUEUE_AUTO, 0);
    assert_int_equal(obol_get_async(q, "s", "", NULL, record, &o, &err),
                     OBOL_ERR_INVALID);
    assert_int_equal(obol_get_async(q, "s", "u", NULL, NULL, NULL, &err),
                     OBOL_ERR_INVALID);
    assert_int_equal(obol_get_async(NULL, "s", "u", NULL, record, &o, &err),
                     OBOL_ERR_INVALID);
    assert_int_equal(obol_refresh_async(q, NULL, 60, record, &o, &err),
                     OBOL_ERR_INVALID);
    /* A forged token is refused at submit, before any worker runs. */
    assert_int_equal(obol_refresh_async(q, "o1.AAAA", 60, record, &o, &err),
                     OBOL_NOT_FOUND);
    assert_int_equal(obol_upsert_async(q, NULL, record, &o, &err),
                     OBOL_ERR_INVALID);
    assert_int_equal(obol_queue_pending(q), 0);
    obol_queue_close(q);
    assert_int_equal(o.runs, 0);
    obol_store_close(st);
}

/* The longest timeout a queue takes is no deadline at all, not one that
 * wrapped round into the past. */
static void the_longest_timeout_never_times_out(void **state)
{
    obol_store *st = open_slow();
    obol_queue *q = open_queue(st, OBOL_QUEUE_AUTO, INT64_MAX);
    outcome o = { 0 };

    (void)state;
    answer_how = ANSWER_NEVER;
    assert_int_equal(obol_get_async(q, "s", "u", NULL, record, &o, NULL),
                     OBOL_OK);
    assert_int_equal(obol_queue_wait(q, 50), 0);
    assert_int_equal(o.runs, 0);
    obol_queue_close(q);
    assert_int_equal(o.runs, 1);
    assert_int_equal(o.status, OBOL_ERR_CANCELLED);
    obol_store_close(st);
    answer_how = ANSWER_LATER;
}

/* No worker thread: the submit says so, and why; a later one starts them. */
static void workers_that_cannot_start_refuse_the_submit(void **state)
{
    obol_store *st = open_slow();
    obol_queue *q = open_queue(st, OBOL_QUEUE_WORKERS, 1000);
    outcome refused = { 0 }, served = { 0 };
    obol_error err;

    (void)state;
    errno = 0;
    refuse_threads = EAGAIN;
    assert_int_equal(obol_get_async(q, "s", "u", NULL, record, &refused,
                                    &err), OBOL_ERR_BACKEND);
    refuse_threads = 0;
    assert_non_null(strstr(err.message, "worker threads"));
    assert_non_null(strstr(err.message, strerror(EAGAIN)));
    assert_int_equal(obol_queue_pending(q), 0);
    assert_int_equal(obol_get_async(q, "s", "u", NULL, record, &served,
                                    &err), OBOL_OK);
    drain(q);
    assert_int_equal(served.status, OBOL_NOT_FOUND);
    obol_queue_close(q);
    assert_int_equal(refused.runs, 0);
    obol_store_close(st);
}

static void *get_blocking(void *arg)
{
    obol_session *s = NULL;

    obol_get(arg, "s", "u", NULL, &s, NULL);
    obol_session_free(s);
    return NULL;
}

/* A driver that is not THREAD_SAFE: the core serializes every call on its
 * handle, submit() included, with the synchronous calls of other
 * threads. */
static void submit_waits_for_a_call_on_a_serialized_driver(void **state)
{
    obol_store *st;
    obol_queue *q;
    outcome o = { 0 };
    pthread_t other;

    (void)state;
    table.capabilities &= ~OBOL_DRIVER_THREAD_SAFE;
    st = open_slow();
    q = open_queue(st, OBOL_QUEUE_AUTO, 2000);
    submit_overlapped = 0;
    hold_gets = 1;
    assert_int_equal(pthread_create(&other, NULL, get_blocking, st), 0);
    while (!__atomic_load_n(&in_blocking_get, __ATOMIC_SEQ_CST))
        sleep_ms(1);
    assert_int_equal(obol_delete_async(q, "s", "u", NULL, record, &o, NULL),
                     OBOL_OK);
    pthread_join(other, NULL);
    hold_gets = 0;
    drain(q);
    assert_int_equal(o.status, OBOL_OK);
    assert_int_equal(submit_overlapped, 0);
    obol_queue_close(q);
    obol_store_close(st);
    table.capabilities |= OBOL_DRIVER_THREAD_SAFE;
}

/* The timer follows the oldest deadline in flight: one answered early
 * leaves it armed for nothing, and the next deadline still fires on time,
 * whether it is the old head's successor or an operation submitted after
 * the list ran empty. */
static void deadlines_fire_on_time_around_early_answers(void **state)
{
    obol_store *st = open_slow();
    obol_queue *q = open_queue(st, OBOL_QUEUE_AUTO, 100);
    outcome never = { 0 }, early = { 0 }, after = { 0 };
    int64_t t0 = now_ms(), t1;

    (void)state;
    answer_after_ms = 20;
    answer_how = ANSWER_NEVER;
    assert_int_equal(obol_get_async(q, "s", "u", NULL, record, &never, NULL),
                     OBOL_OK);
    answer_how = ANSWER_LATER;
    assert_int_equal(obol_get_async(q, "s", "u", NULL, record, &early, NULL),
                     OBOL_OK);
    drain(q);
    assert_int_equal(early.status, OBOL_NOT_FOUND);
    assert_true(early.at_ms < t0 + 100);
    assert_int_equal(never.status, OBOL_ERR_TIMEOUT);
    assert_true(never.at_ms >= t0 + 100 && never.at_ms <= t0 + 100 + 150);
    /* One answered early leaves the timer armed for its deadline and the
     * list empty; the next one submitted arms it for its own. */
    assert_int_equal(obol_get_async(q, "s", "u", NULL, record, &early, NULL),
                     OBOL_OK);
    assert_int_equal(obol_queue_wait(q, 1000), 1);
    answer_how = ANSWER_NEVER;
    t1 = now_ms();
    assert_int_equal(obol_get_async(q, "s", "u", NULL, record, &after, NULL),
                     OBOL_OK);
    drain(q);
    assert_int_equal(after.status, OBOL_ERR_TIMEOUT);
    assert_true(after.at_ms >= t1 + 100 && after.at_ms <= t1 + 100 + 150);
    obol_queue_close(q);
    obol_store_close(st);
    answer_how = ANSWER_LATER;
    answer_after_ms = 1;
}

/* Bytes the heap holds now: with one arena (main() asks for it), the
 * allocations of every thread. */
static size_t heap_in_use(void)
{
    return mallinfo2().uordblks;
}

/* A list answered after its deadline: the sessions it collected on the
 * driver's thread are the queue's to free, though no callback gets them. */
static void a_list_answered_after_the_deadline_leaks_nothing(void **state)
{
    size_t before = heap_in_use();
    obol_store *st = open_slow();
    obol_queue *q = open_queue(st, OBOL_QUEUE_AUTO, 20);
    outcome late[4] = { { 0 } };

    (void)state;
    for (int i = 0; i < 200; i++)
        obol_session_free(stored_session(st, "u"));
    answer_after_ms = 40;
    for (int i = 0; i < 4; i++)
        assert_int_equal(obol_get_all_async(q, "u", NULL, record, &late[i],
                                            NULL), OBOL_OK);
    drain(q);
    for (int i = 0; i < 4; i++)
        assert_int_equal(late[i].status, OBOL_ERR_TIMEOUT);
    sleep_ms(4 * 40 + 100);     /* all four answered, 200 sessions each */
    obol_queue_close(q);
    obol_store_close(st);
    answer_after_ms = 1;
    /* 800 sessions would be well over this; a few thread buffers not. */
    assert_true(heap_in_use() < before + 64 * 1024);
}

int main(void)
{
    obol_error err;
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(native_results_are_the_synchronous_ones),
        cmocka_unit_test(a_driver_that_never_answers_times_out_at_the_deadline),
        cmocka_unit_test(an_answer_after_the_deadline_is_dropped),
        cmocka_unit_test(closing_cancels_what_is_in_flight_once),
        cmocka_unit_test(an_answer_inside_submit_waits_for_dispatch),
        cmocka_unit_test(a_refused_submit_never_calls_back),
        cmocka_unit_test(the_worker_pool_serves_a_queue_that_asks_for_it),
        cmocka_unit_test(bad_options_and_arguments_are_refused),
        cmocka_unit_test(a_list_answered_after_the_deadline_leaks_nothing),
        cmocka_unit_test(the_longest_timeout_never_times_out),
        cmocka_unit_test(workers_that_cannot_start_refuse_the_submit),
        cmocka_unit_test(submit_waits_for_a_call_on_a_serialized_driver),
        cmocka_unit_test(deadlines_fire_on_time_around_early_answers),
    };

    /* Every thread allocates from the arena heap_in_use() reads. */
    mallopt(M_ARENA_MAX, 1);
    if (obol_driver_register(slow_entry, &err) != OBOL_OK)
        return 1;
    return cmocka_run_group_tests_name("queue", tests, NULL, NULL);
}

/*
 * The store suite through the non-blocking API (tests/async.mk).
 *
 * Each program of tests/async.mk links the suite's own sources again with
 * the linker's --wrap for the synchronous calls that have an async twin,
 * so a case's obol_get() lands in __wrap_obol_get() below. That submits
 * obol_get_async() to the store's queue, runs a libuv loop with the queue
 * attached (include/obol/uv.h) until the callback has run, and returns
 * what the callback got, in the shape of the synchronous call: its
 * status, its message in *err, and its out parameters, taken from the
 * result as obol.h says. The cases cannot tell, which is the point: they
 * are the specification of what each call returns.
 *
 * What goes through the queue and what does not:
 *   - only calls made on the thread that runs the cases: a queue is used
 *     by one thread at a time, and the suite's racing threads call the
 *     store at once; theirs go straight to the synchronous calls;
 *   - not a call made while one of ours runs (the library calling its own
 *     public functions from inside an operation, inline or from a
 *     worker): that is the library's business, not the case's;
 *   - not a call with arguments the async call cannot express (a NULL
 *     store, a NULL out pointer): the synchronous call refuses those, and
 *     so it answers for them;
 *   - not a counted delete on a driver without the counted slots (ABI
 *     1.5): the async deletes never spend the read such a count costs,
 *     and say OBOL_REMOVED_UNKNOWN instead (obol.h);
 *   - not a call in a forked child on a store of the parent (the queue's
 *     worker threads stayed in the parent).
 *
 * Every callback is checked to run exactly once, for the operation it was
 * submitted for, and never during its submit; any breach fails the case.
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
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include <obol/obol.h>
#include <obol/uv.h>

#include "loader_internal.h"
#include "store_internal.h"

#ifndef ASYNC_WRAP_MODE
#define ASYNC_WRAP_MODE OBOL_QUEUE_AUTO
#endif

/* The real calls (the linker's names for the wrapped symbols). */
int __real_obol_get(obol_store *st, const char *sid, const char *uid,
                    const char *type, obol_session **out, obol_error *err);
int __real_obol_upsert(obol_store *st, obol_session *s, obol_error *err);
int __real_obol_delete(obol_store *st, const char *sid, const char *uid,
                       const char *type, obol_error *err);
int __real_obol_delete_counted(obol_store *st, const char *sid,
                               const char *uid, const char *type,
                               uint64_t *removed, obol_error *err);
int __real_obol_get_all(obol_store *st, const char *uid, const char *type,
                        obol_session ***out, size_t *count, obol_error *err);
int __real_obol_delete_all(obol_store *st, const char *uid, const char *type,
                           obol_error *err);
int __real_obol_delete_all_counted(obol_store *st, const char *uid,
                                   const char *type, uint64_t *removed,
                                   obol_error *err);
int __real_obol_refresh(obol_store *st, const char *token, int64_t refresh_ttl,
                        obol_session **session, char **new_token,
                        obol_error *err);
void __real_obol_store_close(obol_store *st);
int __real_store_suite_run(const char *group_name, const char *base_url);

/* Ours, declared for -Wmissing-prototypes. */
int __wrap_obol_get(obol_store *st, const char *sid, const char *uid,
                    const char *type, obol_session **out, obol_error *err);
int __wrap_obol_upsert(obol_store *st, obol_session *s, obol_error *err);
int __wrap_obol_delete(obol_store *st, const char *sid, const char *uid,
                       const char *type, obol_error *err);
int __wrap_obol_delete_counted(obol_store *st, const char *sid,
                               const char *uid, const char *type,
                               uint64_t *removed, obol_error *err);
int __wrap_obol_get_all(obol_store *st, const char *uid, const char *type,
                        obol_session ***out, size_t *count, obol_error *err);
int __wrap_obol_delete_all(obol_store *st, const char *uid, const char *type,
                           obol_error *err);
int __wrap_obol_delete_all_counted(obol_store *st, const char *uid,
                                   const char *type, uint64_t *removed,
                                   obol_error *err);
int __wrap_obol_refresh(obol_store *st, const char *token, int64_t refresh_ttl,
                        obol_session **session, char **new_token,
                        obol_error *err);
void __wrap_obol_store_close(obol_store *st);
int __wrap_store_suite_run(const char *group_name, const char *base_url);

/* One operation submitted: what its callback got, kept (with the count of
 * its runs) until the queue closes, so that a second run is seen. */
typedef struct wrap_call {
    struct wrap_call *next;
    int op;                   /* the OBOL_OP_* submitted */
    obol_session *upserting;  /* upsert: the session lent */
    int runs;                 /* callbacks run for it */
    int in_submit;            /* 1 while its submit has not returned */
    int ran_in_submit;        /* the callback ran before submit returned */
    int wrong_op;             /* result->op was another operation */
    int wrong_upserted;       /* upsert: another session came back */
    int status;
    obol_error error;
    int had_error;            /* result->error was set */
    obol_session *session;
    obol_session **sessions;
    size_t count;
    uint64_t removed;
    char *new_token;
} wrap_call;

/* The queue of one store, and the loop that waits for it. */
typedef struct wrap_queue {
    struct wrap_queue *next;
    obol_store *st;
    pid_t pid;                /* the process that opened it */
    obol_queue *q;
    uv_loop_t loop;
    obol_uv *watch;
    wrap_call *calls;
    unsigned long submitted;
} wrap_queue;

static wrap_queue *queues;
static pthread_t case_thread;
static int case_thread_set;
static _Thread_local int inside;   /* one of ours is running on this thread */
static unsigned long total_submitted;

/* -------------------------------------------------------------- queues */

static int on_case_thread(void)
{
    return case_thread_set && pthread_equal(pthread_self(), case_thread);
}

static wrap_queue *queue_find(obol_store *st)
{
    for (wrap_queue *w = queues; w != NULL; w = w->next)
        if (w->st == st)
            return w;
    return NULL;
}

static wrap_queue *queue_open(obol_store *st)
{
    obol_queue_options options = { sizeof options, ASYNC_WRAP_MODE, 0, 0 };
    obol_error err = { 0 };
    wrap_queue *w = calloc(1, sizeof *w);

    if (w == NULL)
        fail_msg("async_wrap: out of memory");
    if (obol_queue_open(st, &options, &w->q, &err) != OBOL_OK) {
        free(w);
        fail_msg("async_wrap: obol_queue_open: %s", err.message);
    }
    if (uv_loop_init(&w->loop) != 0 ||
        obol_uv_attach(&w->loop, w->q, &w->watch, &err) != OBOL_OK) {
        obol_queue_close(w->q);
        free(w);
        fail_msg("async_wrap: attaching the queue to a loop: %s", err.message);
    }
    w->st = st;
    w->pid = getpid();
    w->next = queues;
    queues = w;
    return w;
}

/* The queue to use for a call on st, or NULL for the synchronous call. */
static wrap_queue *queue_for(obol_store *st)
{
    wrap_queue *w;

    if (st == NULL || inside || !on_case_thread())
        return NULL;
    w = queue_find(st);
    if (w != NULL)
        return w->pid == getpid() ? w : NULL;
    return queue_open(st);
}

static void call_free(wrap_call *c)
{
    obol_session_free(c->session);
    obol_sessions_free(c->sessions, c->count);
    free(c->new_token);
    free(c);
}

/* Closes w's queue: every call must have had its one callback by now
 * (each wrapper waited for it), none a second one since, and closing
 * must run none. */
static void queue_close(wrap_queue *w)
{
    int runs_before = 0, runs_after = 0, twice = 0;
    unsigned long calls = 0;

    for (wrap_call *c = w->calls; c != NULL; c = c->next) {
        runs_before += c->runs;
        twice += c->runs > 1;
    }
    obol_uv_detach(w->watch);
    uv_run(&w->loop, UV_RUN_NOWAIT);   /* the adapter's close callback */
    obol_queue_close(w->q);
    uv_loop_close(&w->loop);
    for (wrap_call *c = w->calls, *next; c != NULL; c = next) {
        next = c->next;
        runs_after += c->runs;
        calls++;
        call_free(c);
    }
    free(w);
    if (twice != 0)
        fail_msg("async_wrap: %d operations had their callback run more "
                 "than once", twice);
    if (runs_after != runs_before)
        fail_msg("async_wrap: obol_queue_close ran %d callbacks of %lu "
                 "operations that had all completed",
                 runs_after - runs_before, calls);
}

void __wrap_obol_store_close(obol_store *st)
{
    for (wrap_queue **at = &queues; *at != NULL; at = &(*at)->next) {
        wrap_queue *w = *at;

        if (w->st != st)
            continue;
        *at = w->next;
        if (w->pid == getpid())
            queue_close(w);
        /* A parent's queue in a forked child is left alone: its threads
         * are not here, and the child never closes the parent's store. */
        break;
    }
    __real_obol_store_close(st);
}

/* ------------------------------------------------------------ one call */

static void on_done(void *arg, obol_result *result)
{
    wrap_call *c = arg;

    if (c->runs++ > 0)
        return;   /* counted, and reported when its wrapper checks */
    if (c->in_submit)
        c->ran_in_submit = 1;
    if (result->op != c->op)
        c->wrong_op = 1;
    if (c->op == OBOL_OP_UPSERT && result->upserted != c->upserting)
        c->wrong_upserted = 1;
    c->status = result->status;
    if (result->error != NULL) {
        c->error = *result->error;
        c->had_error = 1;
    }
    /* Taken, as obol_result says: the queue frees what is left. */
    c->session = result->session;
    result->session = NULL;
    c->sessions = result->sessions;
    c->count = result->count;
    result->sessions = NULL;
    result->count = 0;
    c->new_token = result->new_token;
    result->new_token = NULL;
    c->removed = result->removed;
}

static wrap_call *call_new(wrap_queue *w, int op)
{
    wrap_call *c = calloc(1, sizeof *c);

    if (c == NULL)
        fail_msg("async_wrap: out of memory");
    c->op = op;
    c->in_submit = 1;
    c->next = w->calls;
    w->calls = c;
    inside = 1;   /* from the submit on, which may run the call inline */
    return c;
}

/* After a submit: its status when it refused (the callback must then
 * never run), else the loop runs until the callback has. */
static int call_wait(wrap_queue *w, wrap_call *c, int submitted,
                     obol_error *submit_err, obol_error *err)
{
    c->in_submit = 0;
    if (submitted != OBOL_OK) {
        inside = 0;
        /* Run the loop once more: a callback of a refused submit would
         * come out now, and the queue must not run it. */
        uv_run(&w->loop, UV_RUN_NOWAIT);
        if (c->runs != 0)
            fail_msg("async_wrap: the callback of a submit refused with %s "
                     "ran", obol_status_name(submitted));
        if (err != NULL)
            *err = *submit_err;
        return submitted;
    }
    w->submitted++;
    total_submitted++;
    while (c->runs == 0 && w->watch->poll_status == 0)
        uv_run(&w->loop, UV_RUN_ONCE);
    inside = 0;
    if (c->runs == 0)
        fail_msg("async_wrap: %s: libuv stopped watching the queue: %s",
                 obol_op_name(c->op), uv_strerror(w->watch->poll_status));
    if (c->ran_in_submit)
        fail_msg("async_wrap: %s: the callback ran inside its submit",
                 obol_op_name(c->op));
    if (c->runs != 1 || c->wrong_op || c->wrong_upserted)
        fail_msg("async_wrap: %s: callback ran %d times, op %s, upserted %s",
                 obol_op_name(c->op), c->runs, c->wrong_op ? "wrong" : "right",
                 c->wrong_upserted ? "wrong" : "right");
    if (err != NULL) {
        if (c->had_error) {
            *err = c->error;
        } else {
            err->status = c->status;
            err->message[0] = '\0';
        }
    }
    return c->status;
}

/* The out parameters move from the call record to the caller. */
static obol_session *take_session(wrap_call *c)
{
    obol_session *s = c->session;

    c->session = NULL;
    return s;
}

/* ----------------------------------------------------------- the calls */

int __wrap_obol_get(obol_store *st, const char *sid, const char *uid,
                    const char *type, obol_session **out, obol_error *err)
{
    wrap_queue *w = out != NULL ? queue_for(st) : NULL;
    obol_error submit_err = { 0 };
    wrap_call *c;
    int status;

    if (w == NULL)
        return __real_obol_get(st, sid, uid, type, out, err);
    *out = NULL;
    c = call_new(w, OBOL_OP_GET);
    status = call_wait(w, c,
                       obol_get_async(w->q, sid, uid, type, on_done, c,
                                      &submit_err),
                       &submit_err, err);
    *out = take_session(c);
    return status;
}

int __wrap_obol_upsert(obol_store *st, obol_session *s, obol_error *err)
{
    wrap_queue *w = queue_for(st);
    obol_error submit_err = { 0 };
    wrap_call *c;

    if (w == NULL)
        return __real_obol_upsert(st, s, err);
    c = call_new(w, OBOL_OP_UPSERT);
    c->upserting = s;
    return call_wait(w, c, obol_upsert_async(w->q, s, on_done, c, &submit_err),
                     &submit_err, err);
}

/* Whether st's driver counts its removals itself (ABI 1.5), which is
 * when an async delete says how many it removed. */
enum { COUNTS_ONE, COUNTS_ALL };

static int counts(const obol_store *st, int which)
{
    if (st == NULL)
        return 0;
    return which == COUNTS_ONE
               ? OBOL_DRIVER_HAS_SLOT(st->driver, del_counted, 5)
               : OBOL_DRIVER_HAS_SLOT(st->driver, del_all_counted, 5);
}

/* The count of a counted call, which only a driver that counts gives. */
static void give_removed(wrap_call *c, uint64_t *removed)
{
    if (removed == NULL)
        return;
    if (c->status == OBOL_OK && c->removed == OBOL_REMOVED_UNKNOWN)
        fail_msg("async_wrap: %s: removed is unknown on a driver that "
                 "counts", obol_op_name(c->op));
    *removed = c->removed;
}

static int delete_one(wrap_queue *w, const char *sid, const char *uid,
                      const char *type, uint64_t *removed, obol_error *err)
{
    obol_error submit_err = { 0 };
    wrap_call *c = call_new(w, OBOL_OP_DELETE);
    int status = call_wait(w, c,
                           obol_delete_async(w->q, sid, uid, type, on_done, c,
                                             &submit_err),
                           &submit_err, err);

    give_removed(c, removed);
    return status;
}

int __wrap_obol_delete(obol_store *st, const char *sid, const char *uid,
                       const char *type, obol_error *err)
{
    wrap_queue *w = queue_for(st);

    if (w == NULL)
        return __real_obol_delete(st, sid, uid, type, err);
    return delete_one(w, sid, uid, type, NULL, err);
}

int __wrap_obol_delete_counted(obol_store *st, const char *sid,
                               const char *uid, const char *type,
                               uint64_t *removed, obol_error *err)
{
    wrap_queue *w = removed == NULL || counts(st, COUNTS_ONE)
                        ? queue_for(st) : NULL;

    if (w == NULL)
        return __real_obol_delete_counted(st, sid, uid, type, removed, err);
    return delete_one(w, sid, uid, type, removed, err);
}

int __wrap_obol_get_all(obol_store *st, const char *uid, const char *type,
                        obol_session ***out, size_t *count, obol_error *err)
{
    wrap_queue *w = out != NULL && count != NULL ? queue_for(st) : NULL;
    obol_error submit_err = { 0 };
    wrap_call *c;
    int status;

    if (w == NULL)
        return __real_obol_get_all(st, uid, type, out, count, err);
    *out = NULL;
    *count = 0;
    c = call_new(w, OBOL_OP_GET_ALL);
    status = call_wait(w, c,
                       obol_get_all_async(w->q, uid, type, on_done, c,
                                          &submit_err),
                       &submit_err, err);
    *out = c->sessions;
    *count = c->count;
    c->sessions = NULL;
    c->count = 0;
    return status;
}

static int delete_all(wrap_queue *w, const char *uid, const char *type,
                      uint64_t *removed, obol_error *err)
{
    obol_error submit_err = { 0 };
    wrap_call *c = call_new(w, OBOL_OP_DELETE_ALL);
    int status = call_wait(w, c,
                           obol_delete_all_async(w->q, uid, type, on_done, c,
                                                 &submit_err),
                           &submit_err, err);

    give_removed(c, removed);
    return status;
}

int __wrap_obol_delete_all(obol_store *st, const char *uid, const char *type,
                           obol_error *err)
{
    wrap_queue *w = queue_for(st);

    if (w == NULL)
        return __real_obol_delete_all(st, uid, type, err);
    return delete_all(w, uid, type, NULL, err);
}

int __wrap_obol_delete_all_counted(obol_store *st, const char *uid,
                                   const char *type, uint64_t *removed,
                                   obol_error *err)
{
    wrap_queue *w = removed == NULL || counts(st, COUNTS_ALL)
                        ? queue_for(st) : NULL;

    if (w == NULL)
        return __real_obol_delete_all_counted(st, uid, type, removed, err);
    return delete_all(w, uid, type, removed, err);
}

int __wrap_obol_refresh(obol_store *st, const char *token, int64_t refresh_ttl,
                        obol_session **session, char **new_token,
                        obol_error *err)
{
    wrap_queue *w = queue_for(st);
    obol_error submit_err = { 0 };
    wrap_call *c;
    int status;

    if (w == NULL)
        return __real_obol_refresh(st, token, refresh_ttl, session, new_token,
                                   err);
    if (session != NULL)
        *session = NULL;
    if (new_token != NULL)
        *new_token = NULL;
    c = call_new(w, OBOL_OP_REFRESH);
    status = call_wait(w, c,
                       obol_refresh_async(w->q, token, refresh_ttl, on_done, c,
                                          &submit_err),
                       &submit_err, err);
    /* What the caller does not want stays in c, freed at close. */
    if (session != NULL)
        *session = take_session(c);
    if (new_token != NULL) {
        *new_token = c->new_token;
        c->new_token = NULL;
    }
    return status;
}

/* ----------------------------------------------------------- the suite */

/*
 * Before a case forks (racing_processes_lose_no_update): the callback of
 * the last operation has run, but the thread that executed it (a worker,
 * the driver's) may not have let go of it yet: the queue frees an
 * operation on whichever side lets go last. A child forked in that
 * moment holds the block with no thread left to free it, and valgrind
 * calls it lost when the child exits. Giving those threads a moment
 * first keeps `make check-valgrind` about the library, not the timing.
 */
static void before_fork(void)
{
    struct timespec pause = { 0, 50 * 1000 * 1000 };

    if (queues != NULL)
        nanosleep(&pause, NULL);
}

int __wrap_store_suite_run(const char *group_name, const char *base_url)
{
    char group[256];
    int failures;

    case_thread = pthread_self();
    case_thread_set = 1;
    pthread_atfork(before_fork, NULL, NULL);
    snprintf(group, sizeof group, "%s/async-%s", group_name,
             ASYNC_WRAP_MODE == OBOL_QUEUE_WORKERS ? "workers" : "auto");
    failures = __real_store_suite_run(group, base_url);
    /* A suite whose calls never reached a queue would pass while testing
     * nothing: say how many did. */
    printf("# %s: %lu operations went through queues\n", group,
           total_submitted);
    if (total_submitted == 0) {
        printf("Bail out! %s: no operation went through a queue\n", group);
        failures++;
    }
    return failures;
}

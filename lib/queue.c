/*
 * The completion queue (queue_internal.h has the states of an operation).
 *
 * The descriptor a loop watches is an epoll instance holding two others:
 * an eventfd that executors write when the ready list stops being empty,
 * and a timerfd armed at the deadline of the oldest operation in flight.
 * Either makes it readable, so one descriptor covers completions and
 * deadlines, and no thread of ours has to wake the loop at a deadline.
 */
#include "config.h"

#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/timerfd.h>
#include <time.h>
#include <unistd.h>

#include "errors_internal.h"
#include "loader_internal.h"
#include "queue_internal.h"
#include "stats_internal.h"

#define DEFAULT_TIMEOUT_MS 5000
#define DEFAULT_WORKERS 4

typedef struct op_list {
    queue_op *head, *tail;
} op_list;

struct obol_queue {
    obol_store *st;
    int mode;
    int64_t timeout_ms;
    uint32_t native_ops;        /* what the driver runs natively */
    int epoll_fd, event_fd, timer_fd;
    size_t pending;             /* accepted, callback not run: the
                                   owner's thread only */

    pthread_mutex_t lock;       /* guards what follows */
    op_list in_flight;          /* PENDING, oldest first */
    op_list ready;              /* READY, in completion order */
    int signalled;              /* event_fd written since the last drain */
    int closed;
    size_t held;                /* operations an executor still holds,
                                   plus one for the owner until close */
    int64_t armed_for;          /* the timer's deadline; 0: disarmed */
};

int64_t obol_queue_now_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

obol_store *obol_queue_store(const obol_queue *q) { return q->st; }
int obol_queue_mode(const obol_queue *q) { return q->mode; }
uint32_t obol_queue_native_ops(const obol_queue *q) { return q->native_ops; }

/* now + timeout_ms, saturated: the largest timeout_ms is "no deadline",
 * not a sum that wrapped round into the past. */
int64_t obol_queue_deadline_ms(const obol_queue *q)
{
    int64_t now = obol_queue_now_ms();

    return q->timeout_ms > INT64_MAX - now ? INT64_MAX : now + q->timeout_ms;
}

/* Read by the owner's thread, which alone sets it. */
int obol_queue_closing(const obol_queue *q) { return q->closed; }

/* ------------------------------------------------------------- lists */

static void list_push(op_list *l, queue_op *op)
{
    op->next = NULL;
    op->prev = l->tail;
    if (l->tail != NULL)
        l->tail->next = op;
    else
        l->head = op;
    l->tail = op;
}

static void list_unlink(op_list *l, queue_op *op)
{
    if (op->prev != NULL)
        op->prev->next = op->next;
    else
        l->head = op->next;
    if (op->next != NULL)
        op->next->prev = op->prev;
    else
        l->tail = op->prev;
    op->prev = op->next = NULL;
}

/* ------------------------------------------------------- open, close */

static int add_to_epoll(int epoll_fd, int fd)
{
    struct epoll_event ev = { .events = EPOLLIN, .data.fd = fd };

    return epoll_ctl(epoll_fd, EPOLL_CTL_ADD, fd, &ev);
}

static int open_descriptors(obol_queue *q, obol_error *err)
{
    q->epoll_fd = epoll_create1(EPOLL_CLOEXEC);
    q->event_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    q->timer_fd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
    if (q->epoll_fd < 0 || q->event_fd < 0 || q->timer_fd < 0 ||
        add_to_epoll(q->epoll_fd, q->event_fd) != 0 ||
        add_to_epoll(q->epoll_fd, q->timer_fd) != 0)
        return obol_set_error(err, errno == ENOMEM ? OBOL_ERR_NOMEM
                                                   : OBOL_ERR_BACKEND,
                              "queue_open: cannot make the queue's "
                              "descriptors: %s", strerror(errno));
    return OBOL_OK;
}

static void close_descriptors(obol_queue *q)
{
    if (q->epoll_fd >= 0)
        close(q->epoll_fd);
    if (q->event_fd >= 0)
        close(q->event_fd);
    if (q->timer_fd >= 0)
        close(q->timer_fd);
    q->epoll_fd = q->event_fd = q->timer_fd = -1;
}

static void queue_free(obol_queue *q)
{
    pthread_mutex_destroy(&q->lock);
    free(q);
}

static int check_options(const obol_queue_options *o, obol_error *err)
{
    if (o->struct_size < sizeof *o)
        return obol_set_error(err, OBOL_ERR_INVALID, "queue_open: "
                              "options->struct_size is %zu, not "
                              "sizeof(obol_queue_options)", o->struct_size);
    if (o->mode < OBOL_QUEUE_AUTO || o->mode > OBOL_QUEUE_NATIVE)
        return obol_set_error(err, OBOL_ERR_INVALID,
                              "queue_open: unknown mode %d", o->mode);
    if (o->timeout_ms < 0)
        return obol_set_error(err, OBOL_ERR_INVALID,
                              "queue_open: timeout_ms is negative");
    return OBOL_OK;
}

static uint32_t native_ops_of(obol_store *st)
{
    const obol_driver *d = st->driver;

    if (!OBOL_DRIVER_HAS_SLOT(d, native_ops, 6) ||
        !OBOL_DRIVER_HAS_SLOT(d, submit, 6))
        return 0;
    return d->native_ops(st->handle);
}

int obol_queue_open(obol_store *st, const obol_queue_options *options,
                    obol_queue **out, obol_error *err)
{
    obol_queue_options defaults = { sizeof defaults, OBOL_QUEUE_AUTO, 0, 0 };
    obol_queue *q;
    int status;

    if (st == NULL || out == NULL)
        return obol_set_error(err, OBOL_ERR_INVALID,
                              "queue_open: store and out must not be NULL");
    *out = NULL;
    if (options == NULL)
        options = &defaults;
    status = check_options(options, err);
    if (status != OBOL_OK)
        return status;
    q = calloc(1, sizeof *q);
    if (q == NULL)
        return obol_set_error(err, OBOL_ERR_NOMEM,
                              "queue_open: out of memory");
    q->epoll_fd = q->event_fd = q->timer_fd = -1;
    q->held = 1;
    if (pthread_mutex_init(&q->lock, NULL) != 0) {
        free(q);
        return obol_set_error(err, OBOL_ERR_NOMEM,
                              "queue_open: out of memory");
    }
    status = open_descriptors(q, err);
    if (status != OBOL_OK) {
        close_descriptors(q);
        queue_free(q);
        return status;
    }
    q->st = st;
    q->mode = options->mode;
    q->timeout_ms = options->timeout_ms > 0 ? options->timeout_ms
                                            : DEFAULT_TIMEOUT_MS;
    pthread_mutex_lock(&st->workers_lock);
    if (st->worker_count == 0)
        st->worker_count = options->workers;
    pthread_mutex_unlock(&st->workers_lock);
    q->native_ops = native_ops_of(st);
    obol_clear_error(err);
    *out = q;
    return OBOL_OK;
}

obol_workers *obol_store_workers(obol_store *st, obol_error *err)
{
    obol_workers *w;

    pthread_mutex_lock(&st->workers_lock);
    if (st->workers == NULL)
        st->workers = obol_workers_start(st->worker_count > 0
                                             ? st->worker_count
                                             : DEFAULT_WORKERS);
    w = st->workers;
    pthread_mutex_unlock(&st->workers_lock);
    if (w == NULL)
        obol_set_error(err, OBOL_ERR_BACKEND, "cannot start the store's "
                       "worker threads: %s", strerror(errno));
    return w;
}

/* ------------------------------------------------------ the timer */

/* Arms the timer at the oldest deadline in flight, or disarms it; called
 * with the lock held, and only when that deadline changed. */
static void arm_timer(obol_queue *q)
{
    struct itimerspec when = { { 0, 0 }, { 0, 0 } };
    int64_t deadline = q->in_flight.head != NULL
                           ? q->in_flight.head->deadline_ms : 0;

    if (deadline == q->armed_for)
        return;
    q->armed_for = deadline;
    if (deadline > 0) {
        when.it_value.tv_sec = deadline / 1000;
        when.it_value.tv_nsec = (deadline % 1000) * 1000000;
    }
    timerfd_settime(q->timer_fd, TFD_TIMER_ABSTIME, &when, NULL);
}

/* ------------------------------------------------- executors' side */

void obol_queue_admit(queue_op *op)
{
    obol_queue *q = op->q;

    op->state = QOP_PENDING;
    op->holds = 2;       /* the queue's and the executor's */
    pthread_mutex_lock(&q->lock);
    list_push(&q->in_flight, op);
    q->held++;
    if (q->in_flight.head == op)
        arm_timer(q);
    pthread_mutex_unlock(&q->lock);
    q->pending++;
}

/* An executor lets go of an operation of q, or the owner of q itself;
 * frees q when that was the last hold on a closed queue. Called with the
 * lock held; unlocks it. */
static void let_go(obol_queue *q)
{
    int last = --q->held == 0 && q->closed;

    pthread_mutex_unlock(&q->lock);
    if (last)
        queue_free(q);
}

/* One side lets go of op; the second one frees it. */
static void op_release(queue_op *op)
{
    if (__atomic_sub_fetch(&op->holds, 1, __ATOMIC_ACQ_REL) == 0)
        obol_queue_op_free(op);
}

void obol_queue_finish(queue_op *op)
{
    obol_queue *q = op->q;

    pthread_mutex_lock(&q->lock);
    if (op->state != QOP_ABANDONED) {
        __atomic_store_n(&op->state, QOP_READY, __ATOMIC_RELAXED);
        list_unlink(&q->in_flight, op);
        list_push(&q->ready, op);
        if (!q->signalled) {
            uint64_t one = 1;

            q->signalled = 1;
            /* Cannot fail but at 2^64 - 1 unread writes. */
            (void)!write(q->event_fd, &one, sizeof one);
        }
    }
    let_go(q);
    op_release(op);
}

void obol_queue_withdraw(queue_op *op)
{
    obol_queue *q = op->q;

    pthread_mutex_lock(&q->lock);
    list_unlink(&q->in_flight, op);
    q->pending--;
    let_go(q);
    obol_queue_op_free(op);
}

void obol_queue_op_free(queue_op *op)
{
    obol_session_free(op->result.session);
    obol_sessions_free(op->result.sessions, op->result.count);
    free(op->result.new_token);
    if (op->sealed != NULL) {
        obol_record_buf_release(op->sealed);
        free(op->sealed);
    }
    free(op->dop.sealed);
    free(op);
}

/* ------------------------------------------------------ dispatch */

/* What the callback of an operation the queue gave up on gets. */
static void run_given_up(obol_queue *q, queue_op *op, int status)
{
    static const char *const names[OBOL_OP_COUNT] = {
        [OBOL_OP_GET] = "get", [OBOL_OP_UPSERT] = "upsert",
        [OBOL_OP_DELETE] = "delete", [OBOL_OP_GET_ALL] = "get_all",
        [OBOL_OP_DELETE_ALL] = "delete_all", [OBOL_OP_REFRESH] = "refresh",
    };
    obol_error err;
    obol_result r = { .op = op->result.op, .status = status, .error = &err,
                      .upserted = op->session };
    const char *name = names[r.op] != NULL ? names[r.op] : "operation";

    if (status == OBOL_ERR_TIMEOUT)
        obol_set_error(&err, status, "%s: no answer within %lld ms (the "
                       "queue's timeout_ms)%s", name, (long long)q->timeout_ms,
                       r.op == OBOL_OP_UPSERT || r.op == OBOL_OP_DELETE ||
                               r.op == OBOL_OP_DELETE_ALL ||
                               r.op == OBOL_OP_REFRESH
                           ? "; whether it was applied is unknown" : "");
    else
        obol_set_error(&err, status, "%s: cancelled: the queue was closed "
                       "while it was in flight", name);
    obol_stats_finish(q->st, r.op, op->started, status);
    q->pending--;
    op->done(op->arg, &r);
    op_release(op);
}

static void run_ready(obol_queue *q, queue_op *op)
{
    if (op->settle != NULL)
        op->settle(op);
    op->result.status = obol_stats_finish(q->st, op->result.op, op->started,
                                          op->result.status);
    op->result.error = &op->err;
    q->pending--;
    op->done(op->arg, &op->result);
    op_release(op);
}

/* Takes the ready list and, of those in flight, the ones whose deadline
 * has passed (marked ABANDONED), then rearms the timer. */
static void take_due(obol_queue *q, op_list *ready, op_list *expired)
{
    uint64_t drained;
    int fired;
    int64_t now;

    /* Drained before the list is taken: a completion after this point
     * writes again, so none is missed. */
    (void)!read(q->event_fd, &drained, sizeof drained);
    fired = read(q->timer_fd, &drained, sizeof drained) > 0;
    now = obol_queue_now_ms();
    pthread_mutex_lock(&q->lock);
    q->signalled = 0;
    *ready = q->ready;
    q->ready.head = q->ready.tail = NULL;
    while (q->in_flight.head != NULL &&
           q->in_flight.head->deadline_ms <= now) {
        queue_op *op = q->in_flight.head;

        list_unlink(&q->in_flight, op);
        __atomic_store_n(&op->state, QOP_ABANDONED, __ATOMIC_RELAXED);
        list_push(expired, op);
    }
    if (fired)
        q->armed_for = -1;   /* spent: arm it again, whatever for */
    arm_timer(q);
    pthread_mutex_unlock(&q->lock);
}

/* Runs the callbacks of what take_due() took. An expired operation may
 * still be its executor's: whichever side lets go of it last frees it. */
static size_t run_taken(obol_queue *q, op_list *ready, op_list *expired,
                        int given_up_status)
{
    size_t ran = 0;

    while (ready->head != NULL) {
        queue_op *op = ready->head;

        ready->head = op->next;
        run_ready(q, op);
        ran++;
    }
    while (expired->head != NULL) {
        queue_op *op = expired->head;

        expired->head = op->next;
        run_given_up(q, op, given_up_status);
        ran++;
    }
    return ran;
}

size_t obol_queue_dispatch(obol_queue *q)
{
    op_list ready = { NULL, NULL }, expired = { NULL, NULL };

    if (q == NULL)
        return 0;
    take_due(q, &ready, &expired);
    return run_taken(q, &ready, &expired, OBOL_ERR_TIMEOUT);
}

size_t obol_queue_wait(obol_queue *q, int timeout_ms)
{
    struct pollfd p;

    if (q == NULL)
        return 0;
    p.fd = q->epoll_fd;
    p.events = POLLIN;
    while (poll(&p, 1, timeout_ms) < 0 && errno == EINTR)
        ;
    return obol_queue_dispatch(q);
}

int obol_queue_fd(const obol_queue *q)
{
    return q != NULL ? q->epoll_fd : -1;
}

size_t obol_queue_pending(const obol_queue *q)
{
    return q != NULL ? q->pending : 0;
}

void obol_queue_close(obol_queue *q)
{
    op_list ready, cancelled = { NULL, NULL };

    if (q == NULL)
        return;
    pthread_mutex_lock(&q->lock);
    q->closed = 1;
    ready = q->ready;
    q->ready.head = q->ready.tail = NULL;
    while (q->in_flight.head != NULL) {
        queue_op *op = q->in_flight.head;

        list_unlink(&q->in_flight, op);
        __atomic_store_n(&op->state, QOP_ABANDONED, __ATOMIC_RELAXED);
        list_push(&cancelled, op);
    }
    pthread_mutex_unlock(&q->lock);
    run_taken(q, &ready, &cancelled, OBOL_ERR_CANCELLED);
    close_descriptors(q);
    pthread_mutex_lock(&q->lock);
    let_go(q);
}

/* The non-blocking path: one I/O thread per handle, pipelining on one
 * connection per node; see redis_async.h. */
#define _GNU_SOURCE /* eventfd, epoll */
#include "config.h"

#include <errno.h>
#include <inttypes.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "redis_async.h"
#include "redis_conn.h"
#include "redis_driver.h"
#include "redis_ops.h"
#include "redis_reply.h"
#include "redis_router.h"
#include "redis_topology.h"

#define NATIVE_KINDS                                                         \
    (OBOL_DRIVER_OP_BIT(OBOL_DRIVER_OP_GET) |                                \
     OBOL_DRIVER_OP_BIT(OBOL_DRIVER_OP_PUT) |                                \
     OBOL_DRIVER_OP_BIT(OBOL_DRIVER_OP_DEL) |                                \
     OBOL_DRIVER_OP_BIT(OBOL_DRIVER_OP_DEL_ALL) |                            \
     OBOL_DRIVER_OP_BIT(OBOL_DRIVER_OP_LIST))

#define EPOLL_BATCH 64
#define SPARE_MAX 4096

typedef struct async_op async_op;
typedef struct async_conn async_conn;

typedef struct op_list {
    async_op *head, *tail;
} op_list;

/* What a reply is for: the ASKING before a command, the command, or a
 * WAIT. With wait_replicas, one WAIT follows the last write of each
 * batch sent (redis_router_wants_wait()): it answers for every write
 * before it on the connection, and a WAIT after each write would hold
 * the whole pipeline for up to wait_timeout_ms per write. */
enum { PART_ASKING, PART_MAIN, PART_WAIT };

/* One reply a connection waits for. op NULL: nobody waits for it any
 * more (ASKING's, a WAIT's, or a timed-out operation's): it is dropped,
 * or (WAIT) handed to the writes it answers for. */
typedef struct sent_entry {
    async_op *op;
    int part;
} sent_entry;

struct async_conn {
    redis_node *node;
    redis_conn *conn;
    sent_entry *ring;        /* replies awaited: seq head .. tail - 1 */
    size_t ring_cap;         /* a power of two */
    uint64_t head, tail;
    size_t live;             /* operations waiting for a reply here */
    op_list awaiting;        /* writes waiting for a WAIT, in order */
    size_t unwaited;         /* of those, appended since the last WAIT */
    int waiting;             /* a WAIT was sent and has not answered */
    uint32_t events;         /* as registered with epoll */
    int dirty;               /* output appended since the last send */
    int draining;            /* the oldest reply never came: no new
                                command goes here; closed when live is 0 */
    async_conn *next;
};

enum { OP_READY, OP_WAITING, OP_SENT };

struct async_op {
    obol_driver_op *op;
    redis_command cmd;
    redis_route route;
    obol_error err;
    int64_t submitted_ms;
    size_t heap_index;
    int state;
    int started;             /* its route was started on the thread */
    int reconnected;         /* a single server's lost connection was
                                retried once */
    int64_t retry_at;        /* OP_WAITING */
    int final_status;        /* finished, to deliver */
    async_conn *conn;        /* OP_SENT */
    uint64_t seq;            /* OP_SENT: its command's place in the ring */
    uint64_t sent_from;      /* its bytes start there in conn's stream */
    int with_wait;           /* a write a WAIT answers for */
    uint64_t wait_seq;       /* the place of that WAIT in the ring;
                                UINT64_MAX until it is appended */
    redisReply *held;        /* the command's reply, until WAIT's comes */
    async_op *prev, *next;   /* the list it is on (a SENT one: its
                                connection's awaiting, if anything) */
};

struct redis_async {
    redis_handle *h;
    pthread_t thread;
    int epoll_fd, event_fd;
    pthread_mutex_t mutex;   /* guards the three below */
    op_list submitted;
    int sleeping;            /* in epoll_wait(): submit must wake it */
    int stopping;
    /* The I/O thread's own. */
    async_op **heap;         /* every operation it holds, by deadline */
    size_t heap_len, heap_cap;
    op_list ready;           /* to send now */
    op_list waiting;         /* backing off */
    async_conn *conns;
    async_op *done, *done_tail;  /* finished, to hand to the core */
    /* Operations' records for reuse: malloc() and free() of each, the
     * one on the submitting thread and the other on this one, showed in
     * a profile. The thread gathers what it is done with in freed and
     * hands it over to spare now and then. */
    pthread_mutex_t spare_mutex;
    async_op *spare;
    size_t spare_count;
    async_op *freed;
    size_t freed_count;
    /* Counted atomically, read by stats(). */
    redis_pool_counters counters;
};

static pthread_mutex_t start_mutex = PTHREAD_MUTEX_INITIALIZER;

static void count(uint64_t *counter)
{
    __atomic_add_fetch(counter, 1, __ATOMIC_RELAXED);
}

/* ------------------------------------------------------------------ lists */

static void list_push(op_list *l, async_op *op)
{
    op->next = NULL;
    op->prev = l->tail;
    if (l->tail != NULL)
        l->tail->next = op;
    else
        l->head = op;
    l->tail = op;
}

static void list_remove(op_list *l, async_op *op)
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

static async_op *list_pop(op_list *l)
{
    async_op *op = l->head;

    if (op != NULL)
        list_remove(l, op);
    return op;
}

/* ------------------------------------------------------- the deadline heap */

static int64_t deadline_of(const async_op *op)
{
    return op->op->deadline_ms;
}

static void heap_set(redis_async *a, size_t i, async_op *op)
{
    a->heap[i] = op;
    op->heap_index = i;
}

static void heap_up(redis_async *a, size_t i)
{
    async_op *op = a->heap[i];

    while (i > 0 && deadline_of(a->heap[(i - 1) / 2]) > deadline_of(op)) {
        heap_set(a, i, a->heap[(i - 1) / 2]);
        i = (i - 1) / 2;
    }
    heap_set(a, i, op);
}

static void heap_down(redis_async *a, size_t i)
{
    async_op *op = a->heap[i];

    for (;;) {
        size_t child = 2 * i + 1;

        if (child >= a->heap_len)
            break;
        if (child + 1 < a->heap_len &&
            deadline_of(a->heap[child + 1]) < deadline_of(a->heap[child]))
            child++;
        if (deadline_of(a->heap[child]) >= deadline_of(op))
            break;
        heap_set(a, i, a->heap[child]);
        i = child;
    }
    heap_set(a, i, op);
}

static int heap_push(redis_async *a, async_op *op)
{
    if (a->heap_len == a->heap_cap) {
        size_t cap = a->heap_cap != 0 ? 2 * a->heap_cap : 256;
        async_op **grown = realloc(a->heap, cap * sizeof *grown);

        if (grown == NULL)
            return -1;
        a->heap = grown;
        a->heap_cap = cap;
    }
    heap_set(a, a->heap_len++, op);
    heap_up(a, a->heap_len - 1);
    return 0;
}

static void heap_remove(redis_async *a, async_op *op)
{
    size_t i = op->heap_index;
    async_op *last = a->heap[--a->heap_len];

    if (i == a->heap_len)
        return;
    heap_set(a, i, last);
    heap_up(a, i);
    heap_down(a, last->heap_index);
}

/* How long the thread may block (a connect, a refresh) for op: until the
 * earliest deadline of all it runs, so that no other operation ends late
 * for it, and for at most most_ms in any case: with no deadline
 * (INT64_MAX) a login or a refresh nobody answers would hold the thread,
 * and close(), for ever (and the pool's connect_timeout_ms on top of
 * INT64_MAX would overflow). */
static int64_t block_until(const redis_async *a, const async_op *op,
                           uint64_t most_ms)
{
    int64_t until = redis_now_ms() + (int64_t)most_ms;

    if (a->heap_len > 0 && a->heap[0]->op->deadline_ms < until)
        until = a->heap[0]->op->deadline_ms;
    return op->op->deadline_ms < until ? op->op->deadline_ms : until;
}

/* ------------------------------------------------------------ completing */

/* Forgets op: kept for reuse by the thread (a not NULL), else freed. */
static void op_free(redis_async *a, async_op *op)
{
    if (op->held != NULL)
        redis_reply_free(op->held);
    redis_command_clear(&op->cmd);
    if (a == NULL) {
        free(op);
        return;
    }
    op->next = a->freed;
    a->freed = op;
    a->freed_count++;
}

/* Hands the records the thread is done with to submit(), keeping at
 * most SPARE_MAX. */
static void give_spares(redis_async *a)
{
    async_op *op;

    if (a->freed == NULL)
        return;
    pthread_mutex_lock(&a->spare_mutex);
    while (a->spare_count < SPARE_MAX && (op = a->freed) != NULL) {
        a->freed = op->next;
        op->next = a->spare;
        a->spare = op;
        a->spare_count++;
    }
    pthread_mutex_unlock(&a->spare_mutex);
    while ((op = a->freed) != NULL) {
        a->freed = op->next;
        free(op);
    }
    a->freed_count = 0;
}

/* A zeroed record for a new operation. */
static async_op *op_new(redis_async *a)
{
    async_op *op;

    pthread_mutex_lock(&a->spare_mutex);
    op = a->spare;
    if (op != NULL) {
        a->spare = op->next;
        a->spare_count--;
    }
    pthread_mutex_unlock(&a->spare_mutex);
    if (op == NULL)
        return calloc(1, sizeof *op);
    memset(op, 0, sizeof *op);
    return op;
}

static void free_list(async_op *op)
{
    while (op != NULL) {
        async_op *next = op->next;

        free(op);
        op = next;
    }
}

/* Hands op back to the core, exactly once, and forgets it. */
static void complete_now(redis_async *a, async_op *op, int status)
{
    obol_driver_op *driver_op = op->op;
    obol_error err = op->err;
    /* A status err does not hold is a visitor's own (LIST): the core
     * has its reason, and no message of the driver's replaces it. */
    const obol_error *why = status != OBOL_OK && err.status == status
                                ? &err
                                : NULL;

    op_free(a, op);
    driver_op->complete(driver_op, status, why);
}

/* op is done with status: the thread lets go of it now, and hands it to
 * the core with the others of its round (deliver()), so that the
 * completions of a read come in one burst rather than between the
 * parsing of replies, where each one the core signals to a loop woke it
 * to contend with the parsing for the queue. */
static void finish(redis_async *a, async_op *op, int status)
{
    if (a == NULL) {
        complete_now(NULL, op, status);
        return;
    }
    heap_remove(a, op);
    op->final_status = status;
    op->next = NULL;
    if (a->done_tail != NULL)
        a->done_tail->next = op;
    else
        a->done = op;
    a->done_tail = op;
}

static void deliver(redis_async *a)
{
    async_op *op;

    while ((op = a->done) != NULL) {
        a->done = op->next;
        if (a->done == NULL)
            a->done_tail = NULL;
        complete_now(a, op, op->final_status);
    }
}

/* The answer to op, through the blocking slot's own decoding. */
static int read_answer(redis_async *a, async_op *op, const redisReply *reply)
{
    obol_driver_op *d = op->op;
    const redis_handle *h = a->h;

    switch (d->kind) {
    case OBOL_DRIVER_OP_GET:
        return redis_reply_get(h, reply, &d->sealed, &d->sealed_len,
                               &op->err);
    case OBOL_DRIVER_OP_PUT:
        return redis_reply_upsert(h, reply, &op->err);
    case OBOL_DRIVER_OP_DEL:
    case OBOL_DRIVER_OP_DEL_ALL:
        return redis_reply_removed(h, op->cmd.sc.call.what, reply,
                                   &d->removed, &op->err);
    default:
        return redis_reply_list(h, reply, d->key.user_id, d->key.type,
                                d->visit, d->visit_arg, &op->err);
    }
}

/* What follows an attempt of op that came to result (reply: the answer,
 * when there is one). */
static void after_attempt(redis_async *a, async_op *op, redis_outcome result,
                          redisReply *reply)
{
    int64_t wait_ms = 0;
    int step = redis_route_next(&a->h->router, &op->cmd.sc.call, &op->route,
                                result, deadline_of(op),
                                op->route.moved
                                    ? block_until(a, op,
                                                  a->h->settings.timeout_ms)
                                    : deadline_of(op),
                                &wait_ms, &op->err);

    if (step == REDIS_ROUTE_FINISHED) {
        int status = op->err.status;

        if (status == OBOL_OK && reply != NULL)
            status = read_answer(a, op, reply);
        if (reply != NULL)
            redis_reply_free(reply);
        finish(a, op, status);
        return;
    }
    if (reply != NULL)
        redis_reply_free(reply);
    if (step == REDIS_ROUTE_NOW) {
        op->state = OP_READY;
        list_push(&a->ready, op);
    } else {
        op->state = OP_WAITING;
        op->retry_at = redis_now_ms() + wait_ms;
        list_push(&a->waiting, op);
    }
}

/* ----------------------------------------------------------- connections */

static int ring_push(async_conn *c, async_op *op, int part)
{
    if (c->tail - c->head == c->ring_cap) {
        size_t cap = c->ring_cap != 0 ? 2 * c->ring_cap : 64;
        sent_entry *grown = malloc(cap * sizeof *grown);

        if (grown == NULL)
            return -1;
        for (uint64_t seq = c->head; seq != c->tail; seq++)
            grown[seq & (cap - 1)] = c->ring[seq & (c->ring_cap - 1)];
        free(c->ring);
        c->ring = grown;
        c->ring_cap = cap;
    }
    c->ring[c->tail & (c->ring_cap - 1)] = (sent_entry){ op, part };
    c->tail++;
    return 0;
}

static void watch(redis_async *a, async_conn *c, uint32_t events)
{
    struct epoll_event ev = { .events = events, .data.ptr = c };

    if (events == c->events)
        return;
    if (epoll_ctl(a->epoll_fd, EPOLL_CTL_MOD, redis_conn_fd(c->conn), &ev) ==
        0)
        c->events = events;
}

static void conn_free(redis_async *a, async_conn *c)
{
    async_conn **p = &a->conns;

    while (*p != c)
        p = &(*p)->next;
    *p = c->next;
    free(c->ring);
    free(c);
}

/* Closes c's connection (the ring is already empty of live operations). */
static void conn_close(redis_async *a, async_conn *c)
{
    if (c->conn != NULL) {
        epoll_ctl(a->epoll_fd, EPOLL_CTL_DEL, redis_conn_fd(c->conn), NULL);
        redis_conn_close(c->conn);
        c->conn = NULL;
    }
    c->head = c->tail = 0;
    c->live = 0;
    c->awaiting.head = c->awaiting.tail = NULL;
    c->unwaited = 0;
    c->waiting = 0;
    c->events = 0;
    c->dirty = 0;
}

/* op has no reply to wait for on its connection any more. A draining
 * connection left with none is closed by sweep(), at the end of the
 * thread's round, so that c stays valid while its replies are handed
 * out. */
static void detach(redis_async *a, async_op *op)
{
    async_conn *c = op->conn;

    (void)a;
    op->conn = NULL;
    c->live--;
}

/* The connection failed (err says how): what was on it goes on, or ends,
 * by the router's rules. */
static void conn_failed(redis_async *a, async_conn *c, const obol_error *err)
{
    uint64_t sent = redis_conn_sent(c->conn);
    op_list lost = { NULL, NULL };
    async_op *op;

    while ((op = list_pop(&c->awaiting)) != NULL) {
        op->conn = NULL;
        list_push(&lost, op);
    }
    for (uint64_t seq = c->head; seq != c->tail; seq++) {
        op = c->ring[seq & (c->ring_cap - 1)].op;
        if (op != NULL && op->conn == c) {
            op->conn = NULL;
            list_push(&lost, op);
        }
    }
    redis_topology_mark_failed(a->h->topology, c->node);
    conn_close(a, c);
    while ((op = list_pop(&lost)) != NULL) {
        redis_outcome result = REDIS_RETRY_REFRESH;

        if (op->held != NULL) {
            redis_reply_free(op->held);
            op->held = NULL;
        }
        op->err = *err;
        if (op->sent_from < sent)
            result = redis_router_lost_after_send(&op->cmd.sc.call, c->node,
                                                  &op->err);
        /* A single server has nowhere else to go: a read, or a command
         * that never left, gets one more try on a new connection. */
        if (result == REDIS_RETRY_REFRESH &&
            !redis_topology_can_move(a->h->topology) && !op->reconnected) {
            op->reconnected = 1;
            op->state = OP_READY;
            list_push(&a->ready, op);
            continue;
        }
        after_attempt(a, op, result, NULL);
    }
}

/* The node's connection for new commands, connected (blocking, within
 * connect_timeout_ms) when it has none; NULL with err on failure. */
static async_conn *conn_for(redis_async *a, redis_node *node, int64_t deadline,
                            obol_error *err)
{
    async_conn *c = a->conns;
    int had_one;
    struct epoll_event ev = { .events = EPOLLIN, .data.ptr = NULL };
    int status;

    while (c != NULL && (c->node != node || c->draining))
        c = c->next;
    if (c != NULL && c->conn != NULL) {
        /* An idle connection the server closed is replaced before use,
         * as the pool does: a write on it would be lost. */
        if (c->live > 0 || !redis_conn_is_stale(c->conn))
            return c;
        conn_close(a, c);
    }
    if (c == NULL) {
        c = calloc(1, sizeof *c);
        if (c == NULL) {
            redis_host->set_error(err, OBOL_ERR_NOMEM, "redis: out of memory");
            return NULL;
        }
        c->node = node;
        c->next = a->conns;
        a->conns = c;
        had_one = 0;
    } else {
        had_one = 1;
    }
    status = redis_topology_connect(a->h->topology, node, deadline, &c->conn,
                                    err);
    if (status != OBOL_OK) {
        c->conn = NULL;
        count(&a->counters.connect_failures);
        return NULL;
    }
    /* A record over max_record read here must not cost the commands
     * pipelined behind it their connection. */
    redis_conn_drop_oversized(c->conn);
    count(&a->counters.connects);
    if (had_one)
        count(&a->counters.reconnects);
    ev.data.ptr = c;
    if (epoll_ctl(a->epoll_fd, EPOLL_CTL_ADD, redis_conn_fd(c->conn), &ev) !=
        0) {
        redis_host->set_error(err, OBOL_ERR_BACKEND,
                              "redis %s: epoll_ctl: %s", node->ep.where,
                              strerror(errno));
        redis_conn_close(c->conn);
        c->conn = NULL;
        return NULL;
    }
    c->events = EPOLLIN;
    return c;
}

/* Appends op's commands to c and queues the replies they bring. */
static int append_op(redis_async *a, async_conn *c, async_op *op)
{
    int status = OBOL_OK;

    op->sent_from = redis_conn_appended(c->conn);
    if (op->route.a.asking && ring_push(c, NULL, PART_ASKING) != 0)
        status = OBOL_ERR_NOMEM;
    if (status == OBOL_OK)
        status = redis_router_append(c->conn, &op->cmd.sc.call, &op->route.a,
                                     &op->err);
    op->seq = c->tail;
    if (status == OBOL_OK && ring_push(c, op, PART_MAIN) != 0)
        status = OBOL_ERR_NOMEM;
    if (status != OBOL_OK)
        return redis_host->set_error(&op->err, OBOL_ERR_NOMEM,
                                     "redis: out of memory");
    op->state = OP_SENT;
    op->conn = c;
    op->with_wait = redis_router_wants_wait(&a->h->router, &op->cmd.sc.call);
    if (op->with_wait) {
        op->wait_seq = UINT64_MAX;
        list_push(&c->awaiting, op);
        c->unwaited++;
    }
    c->live++;
    c->dirty = 1;
    return OBOL_OK;
}

/* One attempt of op: on its node's connection, or on to what follows a
 * node that cannot be reached. */
/* Whether what blocked for op until bound stopped there for the
 * earliest deadline of another operation, not for op's own time or the
 * cap. */
static int cut_short(const redis_async *a, const async_op *op, int64_t bound)
{
    return a->heap_len > 0 && deadline_of(a->heap[0]) == bound &&
           bound < deadline_of(op) && redis_now_ms() >= bound;
}

static void send_op(redis_async *a, async_op *op)
{
    redis_node *node = op->route.node;
    async_conn *c;
    int64_t bound;
    int status;

    if (node == NULL) {
        after_attempt(a, op, REDIS_RETRY_REFRESH, NULL);
        return;
    }
    /* As much as a blocking call has to connect (with Sentinel, to ask
     * them first): its own time and connect_timeout_ms on top. */
    bound = block_until(a, op,
                        a->h->settings.timeout_ms +
                            a->h->settings.connect_timeout_ms);
    c = conn_for(a, node, bound, &op->err);
    if (c == NULL) {
        status = op->err.status;
        if (status == OBOL_ERR_NOMEM || status == OBOL_ERR_INVALID ||
            redis_now_ms() >= deadline_of(op)) {
            finish(a, op, status);
            return;
        }
        if (cut_short(a, op, bound)) {
            /* The connect was given up for another operation's earlier
             * deadline, which expire() ends this round: op has time
             * left, and tries again with it next round. */
            op->state = OP_READY;
            list_push(&a->ready, op);
            return;
        }
        redis_topology_mark_failed(a->h->topology, node);
        after_attempt(a, op, REDIS_RETRY_REFRESH, NULL);
        return;
    }
    if (append_op(a, c, op) != OBOL_OK) {
        /* Half a command may be in the buffer: the connection cannot be
         * trusted with another. */
        obol_error lost = op->err;

        conn_failed(a, c, &lost);
        finish(a, op, OBOL_ERR_NOMEM);
    }
}

/* ------------------------------------------------------------- replies */

/* A command's reply (and the WAIT's that answers for it, when it is a
 * write that waits: the caller's to free), read as redis_router_call()
 * reads them. */
static void on_answer(redis_async *a, async_op *op, redis_node *node,
                      redisReply *reply, redisReply *wait_reply)
{
    redis_router *r = &a->h->router;
    redis_outcome result = REDIS_DONE;

    if (reply->type == REDIS_REPLY_ERROR) {
        result = redis_router_classify(r, &op->cmd.sc.call, reply, node,
                                       &op->route.a, &op->err);
        redis_reply_free(reply);
        reply = NULL;
    } else if (wait_reply != NULL &&
               redis_router_check_wait(r, wait_reply, node,
                                       op->cmd.sc.call.what, &op->err) !=
                   OBOL_OK) {
        redis_reply_free(reply);
        reply = NULL;
    } else {
        op->err.status = OBOL_OK;
    }
    after_attempt(a, op, result, reply);
}

/* The WAIT at seq answers for the writes before it: they are at the
 * front of the awaiting list, their own replies held. */
static void on_wait_reply(redis_async *a, async_conn *c, uint64_t seq,
                          redisReply *reply)
{
    op_list answered = { NULL, NULL };
    async_op *op;

    c->waiting = 0;
    if (c->unwaited > 0)
        c->dirty = 1;   /* their WAIT goes with the next send */
    while (c->awaiting.head != NULL && c->awaiting.head->wait_seq == seq) {
        op = list_pop(&c->awaiting);
        list_push(&answered, op);
    }
    while ((op = list_pop(&answered)) != NULL) {
        redisReply *held = op->held;

        op->held = NULL;
        detach(a, op);
        on_answer(a, op, c->node, held, reply);
    }
    redis_reply_free(reply);
}

/* The next reply on c goes to whoever waits for it first. */
static void on_reply(redis_async *a, async_conn *c, redisReply *reply)
{
    sent_entry e = c->ring[c->head & (c->ring_cap - 1)];
    redis_node *node = c->node;
    async_op *op = e.op;

    c->head++;
    if (e.part == PART_WAIT) {
        on_wait_reply(a, c, c->head - 1, reply);
        return;
    }
    if (op == NULL || e.part == PART_ASKING) {
        redis_reply_free(reply);
        return;
    }
    if (op->with_wait) {
        op->held = reply;
        return;
    }
    detach(a, op);
    on_answer(a, op, node, reply, NULL);
}

static void conn_error(redis_async *a, async_conn *c, const obol_error *err)
{
    obol_error copy = *err;

    conn_failed(a, c, &copy);
}

/* Reads what came on c and hands out every reply it completes. A
 * connection with no reply awaited that receives one is broken (the
 * server sent what nobody asked for, or closed it). */
static void on_readable(redis_async *a, async_conn *c)
{
    obol_error err = { 0 }, lost = { 0 };
    short wait_for = 0;
    const char *what = "reply";
    /* The replies read before the connection failed (a server that
     * answers and closes, read in one go) are handed out first: their
     * writes are done, not of unknown outcome. */
    int received = redis_conn_receive_now(c->conn, what, &wait_for, &lost);

    for (;;) {
        redisReply *reply = NULL;

        if (redis_conn_pop(c->conn, what, &reply, &err) != OBOL_OK) {
            conn_error(a, c, &err);
            return;
        }
        if (reply == NULL)
            break;
        if (c->head == c->tail) {
            redis_reply_free(reply);
            redis_host->set_error(&err, OBOL_ERR_BACKEND,
                                  "redis %s: a reply nobody asked for",
                                  c->node->ep.where);
            conn_error(a, c, &err);
            return;
        }
        on_reply(a, c, reply);
    }
    if (received != OBOL_OK) {
        conn_error(a, c, &lost);
        return;
    }
    if (wait_for == POLLOUT)
        watch(a, c, EPOLLIN | EPOLLOUT);
}

/* One WAIT behind the writes appended since the last one, which it
 * answers for. At most one is out on a connection: a server whose
 * replicas fall short holds each WAIT for wait_timeout_ms, and the next
 * writes, sent meanwhile, queue behind it in any case; they get one WAIT
 * together when it answers. */
static int append_wait(redis_async *a, async_conn *c, obol_error *err)
{
    uint64_t seq = c->tail;

    if (redis_router_append_wait(&a->h->router, c->conn, err) != OBOL_OK)
        return err->status;
    if (ring_push(c, NULL, PART_WAIT) != 0)
        return redis_host->set_error(err, OBOL_ERR_NOMEM,
                                     "redis: out of memory");
    for (async_op *op = c->awaiting.tail;
         op != NULL && op->wait_seq == UINT64_MAX; op = op->prev)
        op->wait_seq = seq;
    c->unwaited = 0;
    c->waiting = 1;
    return OBOL_OK;
}

/* Sends what c has to send; what it waits for decides its epoll events. */
static void flush(redis_async *a, async_conn *c)
{
    obol_error err = { 0 };
    short wait_for = 0;

    c->dirty = 0;
    if (c->unwaited > 0 && !c->waiting && append_wait(a, c, &err) != OBOL_OK) {
        conn_error(a, c, &err);
        return;
    }
    if (redis_conn_send_now(c->conn, "send", &wait_for, &err) != OBOL_OK) {
        conn_error(a, c, &err);
        return;
    }
    /* TLS that must read before it writes again tries at the next round,
     * after the read. */
    if (wait_for == POLLIN)
        c->dirty = 1;
    watch(a, c, wait_for == POLLOUT ? EPOLLIN | EPOLLOUT : EPOLLIN);
}

static void flush_all(redis_async *a)
{
    for (async_conn *c = a->conns; c != NULL; c = c->next)
        if (c->conn != NULL && c->dirty)
            flush(a, c);
}

static void on_event(redis_async *a, async_conn *c, uint32_t events)
{
    if (c->conn != NULL && (events & (EPOLLIN | EPOLLERR | EPOLLHUP)))
        on_readable(a, c);
    if (c->conn != NULL && (events & EPOLLOUT))
        flush(a, c);
}

/* Closes the draining connections nothing waits on any more, and, with
 * Sentinel, the idle ones to a master the Sentinels no longer name (as
 * the pools retire theirs). */
static void sweep(redis_async *a)
{
    redis_topology *t = a->h->topology;
    redis_node *master = redis_topology_is_sentinel(t)
                             ? redis_topology_route(t, 0)
                             : NULL;
    async_conn *c = a->conns;

    while (c != NULL) {
        async_conn *next = c->next;

        if (c->live == 0 &&
            (c->draining || (master != NULL && c->node != master))) {
            conn_close(a, c);
            conn_free(a, c);
        }
        c = next;
    }
}

/* ------------------------------------------------------------ deadlines */

/* Whether every reply c awaits before seq is one nobody waits for: the
 * operation at seq was the oldest on c. */
static int is_oldest(const async_conn *c, uint64_t seq)
{
    for (uint64_t s = c->head; s != seq && s != c->tail; s++) {
        const sent_entry *e = &c->ring[s & (c->ring_cap - 1)];

        if (e->op != NULL && e->part != PART_ASKING)
            return 0;
    }
    return 1;
}

/* op's deadline passed: it ends with OBOL_ERR_TIMEOUT, and a reply that
 * may still come for it is dropped. */
static void time_out(redis_async *a, async_op *op)
{
    const char *what = op->cmd.sc.call.what;
    long long waited = (long long)(deadline_of(op) - op->submitted_ms);
    char last[sizeof op->err.message];

    snprintf(last, sizeof last, "%s", op->err.message);
    if (op->state == OP_SENT) {
        async_conn *c = op->conn;

        if (op->seq >= c->head)
            c->ring[op->seq & (c->ring_cap - 1)].op = NULL;
        if (op->with_wait) {
            if (op->wait_seq == UINT64_MAX)
                c->unwaited--;
            list_remove(&c->awaiting, op);
        }
        /* The server has not answered the oldest command for the whole
         * of its time: stalled, or the way to it is gone. Later commands
         * would wait behind it; new ones go on a new connection. */
        if (!c->draining && is_oldest(c, op->seq))
            c->draining = 1;
        detach(a, op);
        redis_host->set_error(&op->err, OBOL_ERR_TIMEOUT,
                              "redis %s: %s: no reply within %lld ms",
                              c->node->ep.where, what, waited);
    } else {
        list_remove(op->state == OP_WAITING ? &a->waiting : &a->ready, op);
        if (op->route.tries > 0)
            redis_host->set_error(&op->err, OBOL_ERR_TIMEOUT,
                                  "redis: %s: no answer within %lld ms "
                                  "after %d tries; last: %s", what, waited,
                                  op->route.tries, last);
        else
            redis_host->set_error(&op->err, OBOL_ERR_TIMEOUT,
                                  "redis: %s: not sent within %lld ms",
                                  what, waited);
    }
    finish(a, op, OBOL_ERR_TIMEOUT);
}

static void expire(redis_async *a)
{
    int64_t now = redis_now_ms();

    while (a->heap_len > 0 && deadline_of(a->heap[0]) <= now)
        time_out(a, a->heap[0]);
}

/* Milliseconds until the thread has something to do without an event:
 * a deadline, the end of a backoff; -1: none. */
static int next_timeout(const redis_async *a)
{
    int64_t next = INT64_MAX, now = redis_now_ms();

    if (a->ready.head != NULL)
        return 0;
    if (a->heap_len > 0)
        next = deadline_of(a->heap[0]);
    for (const async_op *op = a->waiting.head; op != NULL; op = op->next)
        if (op->retry_at < next)
            next = op->retry_at;
    if (next == INT64_MAX)
        return -1;
    if (next <= now)
        return 0;
    return next - now > 60000 ? 60000 : (int)(next - now);
}

/* ------------------------------------------------------------ the thread */

/* The operations submitted since the last round join the thread's own;
 * 1 when the thread is to stop. */
static int take_submitted(redis_async *a)
{
    op_list taken;
    async_op *op;
    int stopping;

    pthread_mutex_lock(&a->mutex);
    taken = a->submitted;
    a->submitted.head = a->submitted.tail = NULL;
    stopping = a->stopping;
    pthread_mutex_unlock(&a->mutex);
    /* Into the heap first, so that a refresh due now is bounded by the
     * earliest deadline of these too, not only by the first one's. */
    for (op = taken.head; op != NULL;) {
        async_op *next = op->next;

        if (heap_push(a, op) != 0) {
            list_remove(&taken, op);
            redis_host->set_error(&op->err, OBOL_ERR_NOMEM,
                                  "redis: out of memory");
            finish(NULL, op, OBOL_ERR_NOMEM);
        }
        op = next;
    }
    if (taken.head != NULL && redis_topology_can_move(a->h->topology))
        redis_topology_refresh_if_due(
            a->h->topology,
            block_until(a, taken.head, a->h->settings.timeout_ms));
    while ((op = list_pop(&taken)) != NULL) {
        redis_route_start(&a->h->router, &op->cmd.sc.call, &op->route,
                          &op->err);
        op->state = OP_READY;
        list_push(&a->ready, op);
    }
    return stopping;
}

/* Operations whose backoff is over go again, or end when no time is
 * left. */
static void resume_waiting(redis_async *a)
{
    int64_t now = redis_now_ms();
    async_op *op = a->waiting.head;

    while (op != NULL) {
        async_op *next = op->next;

        if (op->retry_at <= now) {
            list_remove(&a->waiting, op);
            if (redis_route_resume(&a->h->router, &op->cmd.sc.call,
                                   &op->route, deadline_of(op),
                                   block_until(a, op,
                                               a->h->settings.timeout_ms),
                                   &op->err) != OBOL_OK) {
                finish(a, op, op->err.status);
            } else {
                op->state = OP_READY;
                list_push(&a->ready, op);
            }
        }
        op = next;
    }
}

static void send_ready(redis_async *a)
{
    op_list now = a->ready;
    async_op *op;

    /* Those that come back ready (a lost connection's) wait a round. */
    a->ready.head = a->ready.tail = NULL;
    while ((op = list_pop(&now)) != NULL)
        send_op(a, op);
}

/* Sleeps until an event, a submission or the next timeout. */
static void wait_for_work(redis_async *a)
{
    struct epoll_event events[EPOLL_BATCH];
    int timeout = next_timeout(a);
    int n;

    pthread_mutex_lock(&a->mutex);
    if (a->submitted.head != NULL || a->stopping)
        timeout = 0;
    a->sleeping = timeout != 0;
    pthread_mutex_unlock(&a->mutex);
    n = epoll_wait(a->epoll_fd, events, EPOLL_BATCH, timeout);
    if (timeout != 0) {
        pthread_mutex_lock(&a->mutex);
        a->sleeping = 0;
        pthread_mutex_unlock(&a->mutex);
    }
    for (int i = 0; i < n; i++) {
        if (events[i].data.ptr == NULL) {
            uint64_t value;
            ssize_t got = read(a->event_fd, &value, sizeof value);
            (void)got;
        } else {
            on_event(a, events[i].data.ptr, events[i].events);
        }
    }
    deliver(a);
}

static void cancel(async_op *op, redis_async *a)
{
    redis_host->set_error(&op->err, OBOL_ERR_CANCELLED,
                          "redis: %s: cancelled: the store is closing",
                          op->cmd.sc.call.what);
    finish(a, op, OBOL_ERR_CANCELLED);
}

/* At close: every operation ends, cancelled. */
static void cancel_all(redis_async *a)
{
    op_list taken;
    async_op *op;

    pthread_mutex_lock(&a->mutex);
    taken = a->submitted;
    a->submitted.head = a->submitted.tail = NULL;
    pthread_mutex_unlock(&a->mutex);
    while ((op = list_pop(&taken)) != NULL)
        cancel(op, NULL);
    while (a->conns != NULL) {
        async_conn *c = a->conns;

        conn_close(a, c);
        conn_free(a, c);
    }
    while (a->heap_len > 0)
        cancel(a->heap[a->heap_len - 1], a);
    deliver(a);
}

static void *run(void *arg)
{
    redis_async *a = arg;

    while (!take_submitted(a)) {
        give_spares(a);
        resume_waiting(a);
        send_ready(a);
        flush_all(a);
        expire(a);
        sweep(a);
        deliver(a);
        wait_for_work(a);
    }
    cancel_all(a);
    return NULL;
}

/* ------------------------------------------------------------ the API */

static void async_destroy(redis_async *a)
{
    if (a->epoll_fd >= 0)
        close(a->epoll_fd);
    if (a->event_fd >= 0)
        close(a->event_fd);
    pthread_mutex_destroy(&a->mutex);
    pthread_mutex_destroy(&a->spare_mutex);
    free_list(a->spare);
    free_list(a->freed);
    free(a->heap);
    free(a);
}

/* The thread runs with every signal blocked: they are the application's,
 * for its own threads. */
static int start_thread(redis_async *a)
{
    sigset_t all, old;
    int failed;

    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &old);
    failed = pthread_create(&a->thread, NULL, run, a);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    return failed;
}

static redis_async *async_new(redis_handle *h, obol_error *err)
{
    redis_async *a = calloc(1, sizeof *a);
    struct epoll_event ev = { .events = EPOLLIN, .data.ptr = NULL };
    int failed;

    if (a == NULL) {
        redis_host->set_error(err, OBOL_ERR_NOMEM, "redis: out of memory");
        return NULL;
    }
    a->h = h;
    pthread_mutex_init(&a->mutex, NULL);
    pthread_mutex_init(&a->spare_mutex, NULL);
    a->epoll_fd = epoll_create1(EPOLL_CLOEXEC);
    a->event_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    failed = a->epoll_fd < 0 || a->event_fd < 0 ||
             epoll_ctl(a->epoll_fd, EPOLL_CTL_ADD, a->event_fd, &ev) != 0;
    if (failed)
        redis_host->set_error(err, OBOL_ERR_BACKEND,
                              "redis %s: the I/O thread's descriptors: %s",
                              h->settings.where, strerror(errno));
    else if ((failed = start_thread(a)) != 0)
        redis_host->set_error(err, OBOL_ERR_BACKEND,
                              "redis %s: cannot start the I/O thread: %s",
                              h->settings.where, strerror(failed));
    if (failed) {
        async_destroy(a);
        return NULL;
    }
    return a;
}

/* h's I/O thread, started on first use. */
static redis_async *started(redis_handle *h, obol_error *err)
{
    redis_async *a = __atomic_load_n(&h->async, __ATOMIC_ACQUIRE);

    if (a != NULL)
        return a;
    pthread_mutex_lock(&start_mutex);
    a = h->async;
    if (a == NULL) {
        a = async_new(h, err);
        __atomic_store_n(&h->async, a, __ATOMIC_RELEASE);
    }
    pthread_mutex_unlock(&start_mutex);
    return a;
}

uint32_t redis_async_native_ops(redis_handle *h)
{
    obol_error ignored = { 0 };

    return started(h, &ignored) != NULL ? NATIVE_KINDS : 0;
}

static int build(const redis_handle *h, const obol_driver_op *op,
                 redis_command *c, obol_error *err)
{
    switch (op->kind) {
    case OBOL_DRIVER_OP_GET:
        return redis_command_get(h, &op->key, c, err);
    case OBOL_DRIVER_OP_PUT:
        return redis_command_put(h, &op->record, op->expected_lock, op->now,
                                 c, err);
    case OBOL_DRIVER_OP_DEL:
        return redis_command_delete(h, &op->key, c, err);
    case OBOL_DRIVER_OP_DEL_ALL:
        return redis_command_delete_all(h, &op->key, c, err);
    case OBOL_DRIVER_OP_LIST:
        return redis_command_list(h, op->key.user_id, op->key.type, c, err);
    default:
        return redis_host->set_error(err, OBOL_ERR_INVALID,
                                     "redis: no operation of kind %d",
                                     op->kind);
    }
}

int redis_async_submit(redis_handle *h, obol_driver_op *op, obol_error *err)
{
    redis_async *a;
    async_op *aop;
    int status, wake;

    if (op->struct_size < offsetof(obol_driver_op, driver_data) +
                              sizeof op->driver_data)
        return redis_host->set_error(err, OBOL_ERR_INVALID,
                                     "redis %s: submit: not run natively "
                                     "here", h->settings.where);
    a = started(h, err);
    if (a == NULL)
        return err->status;
    aop = op_new(a);
    if (aop == NULL)
        return redis_host->set_error(err, OBOL_ERR_NOMEM,
                                     "redis: out of memory");
    status = build(h, op, &aop->cmd, err);
    if (status != OBOL_OK) {
        free(aop);
        return status;
    }
    aop->op = op;
    aop->submitted_ms = redis_now_ms();
    op->driver_data = aop;
    pthread_mutex_lock(&a->mutex);
    if (a->stopping) {
        pthread_mutex_unlock(&a->mutex);
        op_free(NULL, aop);
        return redis_host->set_error(err, OBOL_ERR_CANCELLED,
                                     "redis %s: submit: the store is closing",
                                     h->settings.where);
    }
    list_push(&a->submitted, aop);
    wake = a->sleeping;
    a->sleeping = 0;
    pthread_mutex_unlock(&a->mutex);
    if (wake) {
        uint64_t one = 1;
        ssize_t written = write(a->event_fd, &one, sizeof one);
        (void)written;  /* a full counter already wakes it */
    }
    return OBOL_OK;
}

void redis_async_free(redis_async *a)
{
    uint64_t one = 1;
    ssize_t written;

    if (a == NULL)
        return;
    pthread_mutex_lock(&a->mutex);
    a->stopping = 1;
    pthread_mutex_unlock(&a->mutex);
    written = write(a->event_fd, &one, sizeof one);
    (void)written;
    pthread_join(a->thread, NULL);
    async_destroy(a);
}

void redis_async_add_counters(redis_async *a, redis_pool_counters *sum)
{
    if (a == NULL)
        return;
    sum->connects += __atomic_load_n(&a->counters.connects, __ATOMIC_RELAXED);
    sum->reconnects += __atomic_load_n(&a->counters.reconnects,
                                       __ATOMIC_RELAXED);
    sum->connect_failures +=
        __atomic_load_n(&a->counters.connect_failures, __ATOMIC_RELAXED);
}

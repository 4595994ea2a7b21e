/*
 * The completion queue behind obol.h's non-blocking API, shared by
 * queue.c (the queue: its descriptor, dispatch, deadlines, close) and
 * queue_ops.c (the operations: what each one runs, and where).
 *
 * An operation is in one of three states, changed only under the queue's
 * lock:
 *
 *   PENDING    submitted; its executor (the submitting thread inline, a
 *              worker, or the driver) has not finished it; it is on the
 *              queue's in-flight list, in submit order, which with one
 *              timeout per queue is deadline order
 *   READY      its executor finished it and it waits on the ready list;
 *              the queue runs its callback at the next dispatch, then
 *              frees it
 *   ABANDONED  its deadline passed, or the queue closed, first: the queue
 *              already ran its callback (OBOL_ERR_TIMEOUT or
 *              OBOL_ERR_CANCELLED); the executor frees it when it finishes
 *
 * So exactly one of the two runs the callback, and the second of the two
 * to let go of the operation frees it. The queue's memory lives until it is closed and
 * no executor holds an operation of it.
 */
#ifndef OBOL_QUEUE_INTERNAL_H
#define OBOL_QUEUE_INTERNAL_H

#include <stdint.h>

#include <obol/driver.h>
#include <obol/obol.h>

#include "record_internal.h"
#include "store_internal.h"
#include "workers_internal.h"

enum { QOP_PENDING, QOP_READY, QOP_ABANDONED };

typedef struct queue_op queue_op;

struct queue_op {
    obol_job job;              /* on a worker's list */
    queue_op *prev, *next;     /* on the in-flight or the ready list */
    obol_queue *q;
    obol_store *st;
    int state;                 /* QOP_*, under the queue's lock */
    int holds;                 /* sides not done with it (atomic): the
                                  second to let go frees it */
    int64_t deadline_ms;
    uint64_t started;          /* obol_stats_start() at submit */
    obol_done_fn done;
    void *arg;

    /* What the executor runs: the blocking call (inline or on a worker),
     * or the completion of a native one (on the driver's thread). Both
     * fill status, err and result, touching nothing but the operation. */
    void (*run)(queue_op *op);
    void (*native_done)(queue_op *op, int status);
    /* On the dispatching thread, before the callback of a READY
     * operation: what touches the caller's memory (upsert's session). */
    void (*settle)(queue_op *op);

    obol_error err;
    obol_result result;

    /* Arguments, copied into the operation's own block. */
    const char *sid, *uid, *type, *token;
    int64_t refresh_ttl;
    obol_session *session;     /* upsert: the caller's, borrowed */
    obol_driver_key key;
    obol_record_buf *sealed;   /* upsert: the record to write */
    obol_store_collector collector;
    obol_driver_op dop;
};

/* Takes op (state PENDING, on no list yet) into the queue's in-flight
 * list, counted as held by its executor. */
void obol_queue_admit(queue_op *op);

/* The executor is done with op (status, err and result filled): READY,
 * or let go of when the queue gave up on it. Any thread. */
void obol_queue_finish(queue_op *op);

/* An operation admitted but that its executor refused before starting
 * (a driver's submit() that failed): off the list, freed. */
void obol_queue_withdraw(queue_op *op);

/* Frees op and whatever its result still holds. */
void obol_queue_op_free(queue_op *op);

/* The store of q, the deadline of an operation submitted now, and how q
 * runs operations. */
obol_store *obol_queue_store(const obol_queue *q);
int64_t obol_queue_deadline_ms(const obol_queue *q);
int obol_queue_mode(const obol_queue *q);
uint32_t obol_queue_native_ops(const obol_queue *q);
int obol_queue_closing(const obol_queue *q);

/* The store's worker threads, started at the first call; NULL (err
 * filled) when they cannot be. */
obol_workers *obol_store_workers(obol_store *st, obol_error *err);

/* Milliseconds on the monotonic clock. */
int64_t obol_queue_now_ms(void);

#endif

/*
 * obol/event.h — attaches an obol completion queue to a libevent 2.1
 * event base.
 *
 * Header only: build with the flags of `pkg-config --cflags --libs obol
 * libevent`; libobol itself never links libevent.
 *
 *     obol_queue *q;
 *     obol_libevent *watch;
 *     obol_queue_open(st, NULL, &q, &err);
 *     obol_libevent_attach(base, q, &watch, &err);
 *     obol_get_async(q, sid, uid, NULL, on_session, conn, &err);
 *     ... event_base_dispatch(base): on_session runs on the loop ...
 *     obol_libevent_detach(watch);
 *     obol_queue_close(q);
 *
 * What it does: one persistent read event (event_new() with
 * EV_READ | EV_PERSIST) on obol_queue_fd() calls obol_queue_dispatch()
 * each time the descriptor is readable, so the callbacks of completed (or
 * timed-out) operations run on the loop, in that event's callback. The
 * deadlines of the operations are the queue's own: no timer event is
 * needed for them.
 *
 * Ownership. obol_libevent_attach() allocates the obol_libevent and its
 * event; obol_libevent_detach() frees both before it returns (libevent
 * deletes an event synchronously on its own thread, unlike libuv's
 * uv_close()). The caller never frees them, and must not use the pointer
 * after detaching. The queue stays the caller's: the adapter never closes
 * it. Detach before event_base_free() of the base.
 *
 * Order at the end. Detach first, then close the queue: once detached,
 * libevent no longer watches the descriptor, so obol_queue_close(q) may
 * follow at once. Closing the queue while it is attached would leave the
 * base watching a closed descriptor (or, once the number is reused,
 * somebody else's) and dispatching a freed queue.
 *
 * Callbacks at close. obol_libevent_detach() runs no callback and cancels
 * nothing: operations in flight stay in the queue. obol_queue_close()
 * then runs every callback still owed before it returns, on the thread
 * that calls it: completed operations with their results, the others
 * with OBOL_ERR_CANCELLED. Those callbacks run outside the event's
 * callback, so they must not rely on the adapter.
 *
 * Threads. Everything here runs on the thread that runs the base: attach,
 * detach, and (since a queue is used by one thread at a time) every
 * submit to the queue. A program with several loop threads opens one
 * queue per base.
 *
 * Calling obol_libevent_detach() from inside an obol callback (the last
 * answer the program waited for) is allowed: libevent lets an event be
 * freed by its own callback on the base's thread, and the adapter touches
 * nothing once the dispatch returns. Closing the queue from a callback is
 * not (see obol_done_fn); do it after the loop returns.
 *
 * The event is pending while attached, so event_base_dispatch() does not
 * return for lack of events until it is detached (or the loop is broken
 * with event_base_loopbreak()).
 */
#ifndef OBOL_EVENT_H
#define OBOL_EVENT_H

#include <stdio.h>
#include <stdlib.h>

#include <event2/event.h>

#include <obol/obol.h>

#ifdef __cplusplus
extern "C" {
#endif

/* One queue attached to one event base. Read the fields, never write
 * them. */
typedef struct obol_libevent {
    struct event *event; /* EV_READ | EV_PERSIST on obol_queue_fd(queue) */
    obol_queue *queue;   /* the queue dispatched */
} obol_libevent;

/* Names ending in '_' are the adapter's own; do not call them. */
static inline int obol_libevent_fail_(obol_error *err, int status,
                                      const char *what)
{
    if (err != NULL) {
        err->status = status;
        snprintf(err->message, sizeof err->message, "%s", what);
    }
    return status;
}

static inline void obol_libevent_readable_(evutil_socket_t fd, short what,
                                           void *arg)
{
    obol_queue *q = ((obol_libevent *)arg)->queue;

    (void)fd;
    (void)what;
    /* A callback run by the dispatch may detach, freeing arg: the queue
     * was read out of it first, and nothing touches it after. */
    obol_queue_dispatch(q);
}

/*
 * Attaches q to base: from now on its callbacks run on the base's loop.
 * Sets *out to the adapter and returns OBOL_OK, or sets it to NULL and
 * returns OBOL_ERR_INVALID (base, q or out NULL), OBOL_ERR_NOMEM, or
 * OBOL_ERR_BACKEND when libevent refuses the event, with err filled.
 * Attach a queue to one base only.
 */
static inline int obol_libevent_attach(struct event_base *base,
                                       obol_queue *q, obol_libevent **out,
                                       obol_error *err)
{
    obol_libevent *watch;

    if (out != NULL)
        *out = NULL;
    if (base == NULL || q == NULL || out == NULL)
        return obol_libevent_fail_(err, OBOL_ERR_INVALID,
                                   "obol_libevent_attach: base, queue and "
                                   "out must not be NULL");
    watch = (obol_libevent *)calloc(1, sizeof *watch);
    if (watch == NULL)
        return obol_libevent_fail_(err, OBOL_ERR_NOMEM,
                                   "obol_libevent_attach: out of memory");
    watch->queue = q;
    watch->event = event_new(base, obol_queue_fd(q), EV_READ | EV_PERSIST,
                             obol_libevent_readable_, watch);
    if (watch->event == NULL) {
        free(watch);
        return obol_libevent_fail_(err, OBOL_ERR_BACKEND,
                                   "obol_libevent_attach: event_new on the "
                                   "queue's descriptor failed");
    }
    if (event_add(watch->event, NULL) != 0) {
        event_free(watch->event);
        free(watch);
        return obol_libevent_fail_(err, OBOL_ERR_BACKEND,
                                   "obol_libevent_attach: event_add of the "
                                   "queue's descriptor failed");
    }
    *out = watch;
    return OBOL_OK;
}

/*
 * Stops dispatching watch's queue and frees the adapter and its event.
 * Call it once, on the base's thread, before obol_queue_close() of the
 * queue. NULL is a no-op.
 */
static inline void obol_libevent_detach(obol_libevent *watch)
{
    if (watch == NULL)
        return;
    /* event_free() deletes the event first: from here the descriptor may
     * be closed. */
    event_free(watch->event);
    free(watch);
}

#ifdef __cplusplus
}
#endif

#endif /* OBOL_EVENT_H */

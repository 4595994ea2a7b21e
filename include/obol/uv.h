/*
 * obol/uv.h — attaches an obol completion queue to a libuv loop.
 *
 * Header only: build with the flags of `pkg-config --cflags --libs obol
 * libuv`; libobol itself never links libuv. <uv.h> needs the POSIX
 * declarations, so a program built with -std=c11 defines _POSIX_C_SOURCE
 * 200809L (or _GNU_SOURCE) before its first #include.
 *
 *     obol_queue *q;
 *     obol_uv *watch;
 *     obol_queue_open(st, NULL, &q, &err);
 *     obol_uv_attach(loop, q, &watch, &err);
 *     obol_get_async(q, sid, uid, NULL, on_session, conn, &err);
 *     ... uv_run(loop, UV_RUN_DEFAULT): on_session runs on the loop ...
 *     obol_uv_detach(watch);
 *     obol_queue_close(q);
 *
 * What it does: a uv_poll_t watches obol_queue_fd() for reading and calls
 * obol_queue_dispatch() each time the descriptor is readable, so the
 * callbacks of completed (or timed-out) operations run on the loop, in
 * the poll handle's callback. The deadlines of the operations are the
 * queue's own: no uv_timer_t is needed for them.
 *
 * Ownership. obol_uv_attach() allocates the obol_uv, and the adapter
 * frees it: libuv closes a handle asynchronously (uv_close() returns at
 * once and the handle's memory must stay valid until its close callback
 * has run on a later turn of the loop), so obol_uv_detach() stops the
 * watch, calls uv_close(), and the close callback frees the memory. The
 * caller never frees an obol_uv, and must not use the pointer after
 * obol_uv_detach(). The queue stays the caller's: the adapter never
 * closes it.
 *
 * Order at the end. Detach first, then close the queue: obol_uv_detach()
 * stops the poll before it returns, and libuv allows the descriptor to go
 * away right after that, so obol_queue_close(q) may follow at once, in
 * the same function. Closing the queue while it is still attached would
 * leave libuv polling a closed descriptor (or, once the number is reused,
 * somebody else's) and dispatching a freed queue. The loop must then run
 * once more (uv_run(loop, UV_RUN_NOWAIT) is enough) for the close
 * callback to free the adapter before uv_loop_close() can succeed.
 *
 * Callbacks at close. obol_uv_detach() runs no callback and cancels
 * nothing: operations in flight stay in the queue. obol_queue_close()
 * then runs every callback still owed before it returns, on the thread
 * that calls it: completed operations with their results, the others
 * with OBOL_ERR_CANCELLED. Those callbacks run outside the loop's poll
 * callback, so they must not rely on the adapter.
 *
 * Threads. Everything here runs on the loop's thread: attach, detach, and
 * (since a queue is used by one thread at a time) every submit to the
 * queue. A program with several loop threads opens one queue per loop.
 *
 * Calling obol_uv_detach() from inside an obol callback (the last answer
 * the program waited for) is allowed: the adapter's memory outlives the
 * dispatch that is running. Closing the queue from a callback is not (see
 * obol_done_fn); do it after uv_run() returns.
 *
 * The poll handle is an active, referenced libuv handle: while attached
 * it keeps uv_run(loop, UV_RUN_DEFAULT) from returning, as a listening
 * socket does. uv_unref((uv_handle_t *)&watch->poll) lets the loop end
 * without it when the application prefers that.
 */
#ifndef OBOL_UV_H
#define OBOL_UV_H

#include <stdio.h>
#include <stdlib.h>

#include <uv.h>

#include <obol/obol.h>

#ifdef __cplusplus
extern "C" {
#endif

/* One queue attached to one loop. Read the fields, never write them. */
typedef struct obol_uv {
    uv_poll_t poll;     /* watches obol_queue_fd(queue); poll.data is this */
    obol_queue *queue;  /* the queue dispatched; NULL once detached */
    int poll_status;    /* the libuv error that stopped the watch (a
                           descriptor libuv could no longer poll), or 0 */
} obol_uv;

/* Names ending in '_' are the adapter's own; do not call them. */
static inline int obol_uv_fail_(obol_error *err, int status, const char *what,
                                const char *why)
{
    if (err != NULL) {
        err->status = status;
        snprintf(err->message, sizeof err->message, "%s%s%s", what,
                 why != NULL ? ": " : "", why != NULL ? why : "");
    }
    return status;
}

static inline void obol_uv_closed_(uv_handle_t *handle)
{
    free(handle->data);
}

static inline void obol_uv_readable_(uv_poll_t *poll, int status, int events)
{
    obol_uv *watch = (obol_uv *)poll->data;

    (void)events;
    if (status < 0) {
        /* Only a descriptor that is gone fails here. Watching it again
         * would report the same error at every turn of the loop, so the
         * watch stops; the operations wait for obol_queue_close(). */
        watch->poll_status = status;
        uv_poll_stop(poll);
        return;
    }
    /* Nothing after this line may touch watch: a callback run by the
     * dispatch may have detached it (it is freed a turn later, but the
     * rule keeps this function obviously right). */
    obol_queue_dispatch(watch->queue);
}

/*
 * Attaches q to loop: from now on its callbacks run on the loop. Sets
 * *out to the adapter and returns OBOL_OK, or sets it to NULL and returns
 * OBOL_ERR_INVALID (loop, q or out NULL), OBOL_ERR_NOMEM, or
 * OBOL_ERR_BACKEND when libuv refuses the descriptor (for instance
 * because q is already attached to this loop), with err filled; when
 * uv_poll_start() is what refused, the handle is closed as a detached
 * one is, and freed on the loop's next turn. Attach a queue to one loop
 * only. libuv puts the descriptor in non-blocking mode;
 * the queue is made for that.
 */
static inline int obol_uv_attach(uv_loop_t *loop, obol_queue *q,
                                 obol_uv **out, obol_error *err)
{
    obol_uv *watch;
    int rc;

    if (out != NULL)
        *out = NULL;
    if (loop == NULL || q == NULL || out == NULL)
        return obol_uv_fail_(err, OBOL_ERR_INVALID,
                             "obol_uv_attach: loop, queue and out must not "
                             "be NULL", NULL);
    watch = (obol_uv *)calloc(1, sizeof *watch);
    if (watch == NULL)
        return obol_uv_fail_(err, OBOL_ERR_NOMEM,
                             "obol_uv_attach: out of memory", NULL);
    /* A failed uv_poll_init() leaves the handle unknown to the loop, so
     * it can be freed at once; after it, only uv_close() may free it. */
    rc = uv_poll_init(loop, &watch->poll, obol_queue_fd(q));
    if (rc < 0) {
        free(watch);
        return obol_uv_fail_(err, OBOL_ERR_BACKEND,
                             "obol_uv_attach: uv_poll_init on the queue's "
                             "descriptor", uv_strerror(rc));
    }
    watch->poll.data = watch;
    watch->queue = q;
    rc = uv_poll_start(&watch->poll, UV_READABLE, obol_uv_readable_);
    if (rc < 0) {
        uv_close((uv_handle_t *)&watch->poll, obol_uv_closed_);
        return obol_uv_fail_(err, OBOL_ERR_BACKEND,
                             "obol_uv_attach: uv_poll_start on the queue's "
                             "descriptor", uv_strerror(rc));
    }
    *out = watch;
    return OBOL_OK;
}

/*
 * Stops dispatching watch's queue and closes its poll handle; the memory
 * is freed by the close callback, on a later turn of the loop. Call it
 * once, on the loop's thread, before obol_queue_close() of the queue.
 * NULL is a no-op.
 */
static inline void obol_uv_detach(obol_uv *watch)
{
    if (watch == NULL)
        return;
    watch->queue = NULL;
    /* uv_close() stops the poll before it returns: from here the
     * descriptor may be closed. */
    uv_close((uv_handle_t *)&watch->poll, obol_uv_closed_);
}

#ifdef __cplusplus
}
#endif

#endif /* OBOL_UV_H */

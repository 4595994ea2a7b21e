/*
 * The operations of the non-blocking API: what each one checks at submit,
 * and what it runs, where. An operation runs one of three ways:
 *
 *   inline   the blocking call, at submit, on the caller's thread: for a
 *            driver whose calls are local and short (OBOL_DRIVER_LOCAL),
 *            where handing it to a thread would cost more than the call;
 *            but not a write that goes to disk (see runs_inline())
 *   native   the driver's submit() (ABI 1.6): many in flight on its own
 *            connections, completed on its thread
 *   workers  the blocking call on one of the store's worker threads
 *
 * Whatever the way, the executor touches only the operation's own memory
 * (the caller's strings are copied; an upsert seals its record at submit),
 * so that a callback run at a deadline, while the executor still works,
 * can hand the caller back everything it lent.
 */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include "errors_internal.h"
#include "loader_internal.h"
#include "queue_internal.h"
#include "stats_internal.h"

enum { RUN_INLINE, RUN_NATIVE, RUN_WORKERS };

/* ------------------------------------------------------- allocation */

static size_t size_of(const char *text)
{
    return text != NULL ? strlen(text) + 1 : 0;
}

static const char *copy_into(char **space, const char *text)
{
    size_t n = size_of(text);
    char *copy = *space;

    if (text == NULL)
        return NULL;
    memcpy(copy, text, n);
    *space += n;
    return copy;
}

/* One block for the operation and copies of its strings. */
static queue_op *op_new(obol_queue *q, int op_kind, const char *sid,
                        const char *uid, const char *type, const char *token,
                        obol_done_fn done, void *arg)
{
    size_t extra = size_of(sid) + size_of(uid) + size_of(type) +
                   size_of(token);
    queue_op *op = calloc(1, sizeof *op + extra);
    char *space;

    if (op == NULL)
        return NULL;
    space = (char *)(op + 1);
    op->sid = copy_into(&space, sid);
    op->uid = copy_into(&space, uid);
    op->type = copy_into(&space, type);
    op->token = copy_into(&space, token);
    op->q = q;
    op->st = obol_queue_store(q);
    op->done = done;
    op->arg = arg;
    op->result.op = op_kind;
    op->started = obol_stats_start(op->st);
    return op;
}

/* The driver's key of the copied ids (type NULL is the default). */
static void key_of_copies(queue_op *op)
{
    const char *type = op->type != NULL ? op->type : OBOL_DEFAULT_TYPE;

    op->key.user_id.data = (const uint8_t *)op->uid;
    op->key.user_id.len = strlen(op->uid);
    op->key.type.data = (const uint8_t *)type;
    op->key.type.len = strlen(type);
    op->key.id.data = (const uint8_t *)(op->sid != NULL ? op->sid : "");
    op->key.id.len = op->sid != NULL ? strlen(op->sid) : 0;
}

/* -------------------------------------------------------- executors */

/* AUTO runs inline what costs microseconds: on a local driver, a read,
 * or a write that does not go to disk. A durable write (LMDB's commit
 * flushes) would hold the loop for the flush, so it goes to a worker. */
static int runs_inline(const obol_store *st, int driver_kind)
{
    uint32_t caps = st->driver->capabilities;
    int read = driver_kind == OBOL_DRIVER_OP_GET ||
               driver_kind == OBOL_DRIVER_OP_LIST;

    return (caps & OBOL_DRIVER_LOCAL) &&
           (read || !(caps & OBOL_DRIVER_PERSISTENT));
}

static int choose_way(const obol_queue *q, int driver_kind)
{
    obol_store *st = obol_queue_store(q);
    int mode = obol_queue_mode(q);
    int native = driver_kind >= 0 &&
                 (obol_queue_native_ops(q) & OBOL_DRIVER_OP_BIT(driver_kind));

    switch (mode) {
    case OBOL_QUEUE_INLINE:
        return RUN_INLINE;
    case OBOL_QUEUE_WORKERS:
        return RUN_WORKERS;
    case OBOL_QUEUE_NATIVE:
        return native ? RUN_NATIVE : RUN_WORKERS;
    default:
        if (runs_inline(st, driver_kind))
            return RUN_INLINE;
        return native ? RUN_NATIVE : RUN_WORKERS;
    }
}

static int abandoned(queue_op *op)
{
    return __atomic_load_n(&op->state, __ATOMIC_RELAXED) == QOP_ABANDONED;
}

/* A worker's job: the blocking call, unless the queue already gave up on
 * the operation while it waited for a thread. */
static void run_on_worker(obol_job *job)
{
    queue_op *op = (queue_op *)((char *)job - offsetof(queue_op, job));

    if (!abandoned(op))
        op->run(op);
    obol_queue_finish(op);
}

static void native_complete(obol_driver_op *dop, int status,
                            const obol_error *err)
{
    queue_op *op = (queue_op *)((char *)dop - offsetof(queue_op, dop));

    if (status != OBOL_OK && err != NULL)
        op->err = *err;
    if (status != OBOL_OK && (err == NULL || err->status != status))
        op->err.status = status;
    /* Run even when the queue gave up: a list collected sessions into
     * op->collector, which only native_done() moves to the result that
     * obol_queue_op_free() frees; it touches nothing the caller lent. */
    op->native_done(op, status);
    obol_queue_finish(op);
}

static int submit_native(queue_op *op, int kind, obol_error *err)
{
    obol_store *st = op->st;
    int status;

    op->dop.struct_size = sizeof op->dop;
    op->dop.kind = kind;
    op->dop.key = op->key;
    op->dop.deadline_ms = op->deadline_ms;
    op->dop.complete = native_complete;
    obol_queue_admit(op);
    /* A call like any other: counted, and serialized with the blocking
     * calls of other threads on a driver that is not THREAD_SAFE. */
    obol_store_driver_enter(st);
    status = st->driver->submit(st->handle, &op->dop, err);
    obol_store_driver_leave(st);
    if (status != OBOL_OK)
        obol_queue_withdraw(op);
    return status;
}

/* Sends op on its way: OBOL_OK, after which its callback runs once; an
 * error, after which op is freed and it never will. */
static int start(queue_op *op, int driver_kind, obol_error *err)
{
    obol_queue *q = op->q;
    obol_workers *w;

    op->deadline_ms = obol_queue_deadline_ms(q);
    switch (choose_way(q, driver_kind)) {
    case RUN_NATIVE:
        return submit_native(op, driver_kind, err);
    case RUN_WORKERS:
        w = obol_store_workers(op->st, err);
        if (w == NULL) {
            obol_queue_op_free(op);
            return err->status;
        }
        obol_queue_admit(op);
        op->job.run = run_on_worker;
        obol_workers_run(w, &op->job);
        return OBOL_OK;
    default:
        /* Done before anything can dispatch: no deadline to arm the
         * timer for (a timerfd_settime() per read, else). */
        op->deadline_ms = 0;
        obol_queue_admit(op);
        op->run(op);
        obol_queue_finish(op);
        return OBOL_OK;
    }
}

/* An operation whose result is known at submit (an upsert with nothing
 * to write): READY at once, its callback waiting for dispatch. */
static int start_done(queue_op *op)
{
    obol_queue_admit(op);
    obol_queue_finish(op);
    return OBOL_OK;
}

/* -------------------------------------------------------------- checks */

static int check_submit(const obol_queue *q, obol_done_fn done,
                        const char *op, obol_error *err)
{
    if (q == NULL || done == NULL)
        return obol_set_error(err, OBOL_ERR_INVALID,
                              "%s: queue and callback must not be NULL", op);
    if (obol_queue_closing(q))
        return obol_set_error(err, OBOL_ERR_CANCELLED, "%s: the queue is "
                              "being closed and takes nothing more", op);
    return OBOL_OK;
}

/* What the synchronous call checks first (ids, a signing key). */
static int check_ids(obol_queue *q, const char *op, const char *sid,
                     int need_sid, const char *uid, const char *type,
                     obol_error *err)
{
    obol_driver_key key;

    return obol_store_prepare(obol_queue_store(q), op, sid, need_sid, uid,
                              type, &key, err);
}

static int nomem(const char *op, obol_error *err)
{
    return obol_set_error(err, OBOL_ERR_NOMEM, "%s: out of memory", op);
}

/* The checks and the block of an operation on ids (get, the deletes,
 * get_all; sid NULL for the last two): NULL, err filled, when the submit
 * is refused. */
static queue_op *keyed_op(obol_queue *q, int op_kind, const char *name,
                          const char *sid, const char *uid, const char *type,
                          obol_done_fn done, void *arg, obol_error *err)
{
    int need_sid = op_kind == OBOL_OP_GET || op_kind == OBOL_OP_DELETE;
    int status = check_submit(q, done, name, err);
    queue_op *op;

    if (status == OBOL_OK)
        status = check_ids(q, name, sid, need_sid, uid, type, err);
    if (status != OBOL_OK)
        return NULL;
    op = op_new(q, op_kind, sid, uid, type, NULL, done, arg);
    if (op == NULL) {
        nomem(name, err);
        return NULL;
    }
    key_of_copies(op);
    return op;
}

/* ------------------------------------------------------------------ get */

static void get_run(queue_op *op)
{
    op->result.status = obol_store_get(op->st, op->sid, op->uid, op->type,
                                       &op->result.session, &op->err);
}

/* The seal is checked and the session decoded on the dispatching thread,
 * not the driver's: that thread serves every queue's replies, and this
 * work is most of what each costs (async_bench: about a fifth more gets
 * per second on one connection this way). */
static void get_native_settle(queue_op *op)
{
    uint8_t *bytes = op->dop.sealed;

    op->dop.sealed = NULL;
    op->result.status = obol_store_get_finish(op->st, &op->key,
                                              op->result.status, bytes,
                                              op->dop.sealed_len,
                                              &op->result.session, &op->err);
}

static void get_native_done(queue_op *op, int status)
{
    op->result.status = status;
    op->settle = get_native_settle;
}

static int get_async(obol_queue *q, const char *sid, const char *uid,
                     const char *type, obol_done_fn done, void *arg,
                     obol_error *err)
{
    obol_error local;
    queue_op *op;

    if (err == NULL)
        err = &local;
    op = keyed_op(q, OBOL_OP_GET, "get", sid, uid, type, done, arg, err);
    if (op == NULL)
        return err->status;
    op->run = get_run;
    op->native_done = get_native_done;
    return start(op, OBOL_DRIVER_OP_GET, err);
}

/* --------------------------------------------------------------- upsert */

static void upsert_run(queue_op *op)
{
    op->result.status = obol_store_put_record(op->st, &op->dop.record,
                                              op->dop.expected_lock,
                                              op->dop.now, &op->err);
}

static void upsert_native_done(queue_op *op, int status)
{
    if (status == OBOL_CONFLICT)
        obol_stats_conflict(op->st);
    op->result.status = status;
}

/* On the caller's thread: the session moves on only now. */
static void upsert_settle(queue_op *op)
{
    op->result.upserted = op->session;
    op->result.status = obol_store_upsert_end(op->session, op->result.status,
                                              &op->err);
}

/* An upsert that had nothing to write leaves the session as it is. */
static void upsert_settle_unwritten(queue_op *op)
{
    op->result.upserted = op->session;
}

/* The record to write, sealed from s now, before s goes back to the
 * caller's hands at any deadline. */
static int upsert_seal(queue_op *op, obol_session *s, obol_error *err)
{
    op->sealed = malloc(sizeof *op->sealed);
    if (op->sealed == NULL)
        return nomem("upsert", err);
    return obol_record_build(op->st, &op->key, s, s->lock_version + 1,
                             op->sealed, &op->dop.record, err);
}

static int upsert_async(obol_queue *q, obol_session *s, obol_done_fn done,
                        void *arg, obol_error *err)
{
    obol_error local, said;
    obol_driver_key checked;
    queue_op *op;
    int64_t now;
    int status;

    if (err == NULL)
        err = &local;
    status = check_submit(q, done, "upsert", err);
    if (status != OBOL_OK)
        return status;
    status = obol_store_upsert_begin(obol_queue_store(q), s, &checked, &now,
                                     &said);
    if (status != OBOL_OK && status != OBOL_NOT_FOUND) {
        *err = said;
        return status;
    }
    /* The key is filed under copies: the driver may still read it after a
     * deadline has handed s back. */
    op = op_new(q, OBOL_OP_UPSERT, s->id, s->user_id, s->type, NULL, done,
                arg);
    if (op == NULL)
        return nomem("upsert", err);
    key_of_copies(op);
    op->session = s;
    op->settle = upsert_settle;
    if (status == OBOL_NOT_FOUND) {
        op->err = said;                /* OBOL_OK: why nothing was written */
        op->result.status = OBOL_OK;
        op->settle = upsert_settle_unwritten;
        return start_done(op);
    }
    status = upsert_seal(op, s, err);
    if (status != OBOL_OK) {
        obol_queue_op_free(op);
        return status;
    }
    op->dop.expected_lock = s->lock_version;
    op->dop.now = now;
    op->run = upsert_run;
    op->native_done = upsert_native_done;
    return start(op, OBOL_DRIVER_OP_PUT, err);
}

/* ------------------------------------------------------------ deletes */

/* Where the driver counts its removals (ABI 1.5), where else the count
 * would cost a read first (store.c, "counts"): the result says so. */
static uint64_t *count_if_free(queue_op *op, int counts)
{
    if (counts)
        return &op->result.removed;
    op->result.removed = OBOL_REMOVED_UNKNOWN;
    return NULL;
}

static void delete_run(queue_op *op)
{
    const obol_driver *d = op->st->driver;
    uint64_t *removed =
        count_if_free(op, OBOL_DRIVER_HAS_SLOT(d, del_counted, 5));

    op->result.status = obol_store_delete_counted(op->st, op->sid, op->uid,
                                                  op->type, removed,
                                                  &op->err);
}

static void delete_all_run(queue_op *op)
{
    const obol_driver *d = op->st->driver;
    uint64_t *removed =
        count_if_free(op, OBOL_DRIVER_HAS_SLOT(d, del_all_counted, 5));

    op->result.status = obol_store_delete_all_counted(op->st, op->uid,
                                                      op->type, removed,
                                                      &op->err);
}

static void removal_native_done(queue_op *op, int status)
{
    op->result.status = status;
    if (status == OBOL_OK)
        op->result.removed = op->dop.removed;
}

/* delete and delete_all: sid is NULL for the second. */
static int submit_removal(obol_queue *q, const char *name, int op_kind,
                          int driver_kind, const char *sid, const char *uid,
                          const char *type, obol_done_fn done, void *arg,
                          obol_error *err)
{
    obol_error local;
    queue_op *op;

    if (err == NULL)
        err = &local;
    op = keyed_op(q, op_kind, name, sid, uid, type, done, arg, err);
    if (op == NULL)
        return err->status;
    op->run = op_kind == OBOL_OP_DELETE ? delete_run : delete_all_run;
    op->native_done = removal_native_done;
    return start(op, driver_kind, err);
}

static int delete_async(obol_queue *q, const char *sid, const char *uid,
                        const char *type, obol_done_fn done, void *arg,
                        obol_error *err)
{
    return submit_removal(q, "delete", OBOL_OP_DELETE, OBOL_DRIVER_OP_DEL,
                          sid, uid, type, done, arg, err);
}

static int delete_all_async(obol_queue *q, const char *uid, const char *type,
                            obol_done_fn done, void *arg, obol_error *err)
{
    return submit_removal(q, "delete_all", OBOL_OP_DELETE_ALL,
                          OBOL_DRIVER_OP_DEL_ALL, NULL, uid, type, done, arg,
                          err);
}

/* -------------------------------------------------------------- get_all */

static void get_all_run(queue_op *op)
{
    op->result.status = obol_store_get_all(op->st, op->uid, op->type,
                                           &op->result.sessions,
                                           &op->result.count, &op->err);
}

static void get_all_native_done(queue_op *op, int status)
{
    op->result.status = obol_store_collected(&op->collector, status,
                                             &op->result.sessions,
                                             &op->result.count, &op->err);
}

static int get_all_async(obol_queue *q, const char *uid, const char *type,
                         obol_done_fn done, void *arg, obol_error *err)
{
    obol_error local;
    queue_op *op;

    if (err == NULL)
        err = &local;
    op = keyed_op(q, OBOL_OP_GET_ALL, "get_all", NULL, uid, type, done, arg,
                  err);
    if (op == NULL)
        return err->status;
    obol_store_collector_init(&op->collector, op->st, &op->err);
    op->dop.visit = obol_store_collect;
    op->dop.visit_arg = &op->collector;
    op->run = get_all_run;
    op->native_done = get_all_native_done;
    return start(op, OBOL_DRIVER_OP_LIST, err);
}

/* -------------------------------------------------------------- refresh */

/* Read, decide, write, maybe again: the blocking protocol, on a worker
 * (or inline), whatever the driver. */
static void refresh_run(queue_op *op)
{
    op->result.status = obol_store_refresh(op->st, op->token, op->refresh_ttl,
                                           &op->result.session,
                                           &op->result.new_token, &op->err);
}

static int refresh_async(obol_queue *q, const char *token, int64_t refresh_ttl,
                         obol_done_fn done, void *arg, obol_error *err)
{
    obol_error local;
    obol_token *checked = NULL;
    queue_op *op;
    int status;

    if (err == NULL)
        err = &local;
    status = check_submit(q, done, "refresh", err);
    if (status != OBOL_OK)
        return status;
    if (token == NULL || refresh_ttl < 0)
        return obol_set_error(err, OBOL_ERR_INVALID, "refresh: queue and "
                              "token must be set and refresh_ttl >= 0");
    /* A token that fails its MAC is refused here, as the synchronous call
     * refuses it before any round trip: a flood of forged tokens costs no
     * worker a thing. */
    status = obol_token_parse(obol_queue_store(q), token, &checked, err);
    obol_token_free(checked);
    if (status != OBOL_OK)
        return status;
    op = op_new(q, OBOL_OP_REFRESH, NULL, NULL, NULL, token, done, arg);
    if (op == NULL)
        return nomem("refresh", err);
    op->refresh_ttl = refresh_ttl;
    op->run = refresh_run;
    return start(op, -1, err);
}

/* ------------------------------------------------------- public calls */

/* A submit that failed is counted as its synchronous call would count
 * the same failure; one that went on is counted when its callback runs. */
static int count_refused(obol_queue *q, int op, int status)
{
    if (status != OBOL_OK && q != NULL)
        obol_stats_finish(obol_queue_store(q), op, OBOL_STATS_UNTIMED, status);
    return status;
}

int obol_get_async(obol_queue *q, const char *sid, const char *uid,
                   const char *type, obol_done_fn done, void *arg,
                   obol_error *err)
{
    return count_refused(q, OBOL_OP_GET,
                         get_async(q, sid, uid, type, done, arg, err));
}

int obol_upsert_async(obol_queue *q, obol_session *s, obol_done_fn done,
                      void *arg, obol_error *err)
{
    return count_refused(q, OBOL_OP_UPSERT,
                         upsert_async(q, s, done, arg, err));
}

int obol_delete_async(obol_queue *q, const char *sid, const char *uid,
                      const char *type, obol_done_fn done, void *arg,
                      obol_error *err)
{
    return count_refused(q, OBOL_OP_DELETE,
                         delete_async(q, sid, uid, type, done, arg, err));
}

int obol_get_all_async(obol_queue *q, const char *uid, const char *type,
                       obol_done_fn done, void *arg, obol_error *err)
{
    return count_refused(q, OBOL_OP_GET_ALL,
                         get_all_async(q, uid, type, done, arg, err));
}

int obol_delete_all_async(obol_queue *q, const char *uid, const char *type,
                          obol_done_fn done, void *arg, obol_error *err)
{
    return count_refused(q, OBOL_OP_DELETE_ALL,
                         delete_all_async(q, uid, type, done, arg, err));
}

int obol_refresh_async(obol_queue *q, const char *token, int64_t refresh_ttl,
                       obol_done_fn done, void *arg, obol_error *err)
{
    return count_refused(q, OBOL_OP_REFRESH,
                         refresh_async(q, token, refresh_ttl, done, arg, err));
}

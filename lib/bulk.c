/*
 * Whole-store operations: walking every session of a store (obol_scan),
 * writing a session exactly as it is (obol_restore) or checking that it
 * could be (obol_restore_check), and copying a store
 * into another (obol_migrate), whose restores go in batches. They serve
 * export, import and migration.
 */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include "errors_internal.h"
#include "loader_internal.h"
#include "record_internal.h"
#include "store_internal.h"

/* How many records a migration handles between progress reports. */
#define PROGRESS_EVERY 256

/* How many sessions a migration writes at once: one put_batch, which is
 * one transaction (one flush to disk) on LMDB. */
#define RESTORE_BATCH 256

/* ----------------------------------------------------------------- scan */

typedef struct walk {
    obol_store *st;
    obol_scan_fn each;
    void *arg;
    obol_scan_stats stats;
    void (*after_record)(void *arg, const obol_scan_stats *stats);
    obol_error *err;
} walk;

/* One record of the driver's scan: verified, decoded and checked like a
 * read, then handed on if it is live. */
static int walk_record(void *arg, const obol_driver_record *record)
{
    walk *w = arg;
    obol_session *s = NULL;
    obol_error why;
    int status;

    w->stats.records++;
    status = obol_record_open(w->st, &record->key, record->sealed.data,
                              record->sealed.len, &s, &why);
    if (status == OBOL_OK) {
        w->stats.live++;
        status = w->each(w->arg, s);
        obol_session_free(s);
    } else if (status == OBOL_NOT_FOUND) {
        w->stats.expired++;
        status = OBOL_OK;
    } else if (status == OBOL_ERR_CORRUPT) {
        w->stats.rejected++;   /* logged by obol_record_open */
        status = OBOL_OK;
    } else {
        *w->err = why;
    }
    if (w->after_record != NULL)
        w->after_record(w->arg, &w->stats);
    return status;
}

static int run_walk(walk *w)
{
    int status;

    obol_store_driver_enter(w->st);
    status = w->st->driver->scan(w->st->handle, walk_record, w, w->err);
    obol_store_driver_leave(w->st);
    return status;
}

static int scan_store(obol_store *st, obol_scan_fn each, void *arg,
                      obol_scan_stats *stats, obol_error *err)
{
    obol_error local;
    walk w = { 0 };
    int status;

    if (err == NULL)
        err = &local;
    if (st == NULL || each == NULL)
        return obol_set_error(err, OBOL_ERR_INVALID,
                              "scan: store and callback must not be NULL");
    if (!obol_keyring_can_sign(st->keys))
        return obol_set_error(err, OBOL_ERR_KEY,
                              "scan: the store has no key to verify with");
    w = (walk){ st, each, arg, { 0 }, NULL, err };
    status = run_walk(&w);
    if (stats != NULL)
        *stats = w.stats;
    if (status == OBOL_OK)
        obol_clear_error(err);
    return status;
}

int obol_scan(obol_store *st, obol_scan_fn each, void *arg,
              obol_scan_stats *stats, obol_error *err)
{
    uint64_t started = obol_stats_start(st);

    return obol_stats_finish(st, OBOL_OP_SCAN, started,
                             scan_store(st, each, arg, stats, err));
}

/* -------------------------------------------------------------- restore */

/* The lock version of what the store holds under key: 0 when nothing live
 * and readable is there. */
static uint64_t stored_lock(obol_store *st, const obol_driver_key *key)
{
    uint8_t *bytes = NULL;
    size_t len = 0;
    obol_session *s = NULL;
    obol_error ignored;
    uint64_t lock = 0;
    int status;

    obol_store_driver_enter(st);
    status = st->driver->get(st->handle, key, &bytes, &len, &ignored);
    obol_store_driver_leave(st);
    if (status != OBOL_OK)
        return 0;
    if (obol_record_open(st, key, bytes, len, &s, &ignored) == OBOL_OK)
        lock = s->lock_version;
    obol_session_free(s);
    free(bytes);
    return lock;
}

/*
 * Sessions on their way into a store, written together: sealed, then one
 * obol_store_put_batch() for all of them. obol_restore() writes a batch of
 * one, obol_migrate() batches of RESTORE_BATCH, by the same code. The
 * arrays are the ones put_batch takes, capacity long.
 */
typedef struct restore_batch {
    obol_store *st;
    size_t count;
    size_t capacity;
    int owns_sessions;      /* sessions are copies the batch frees */
    int64_t now;            /* the clock when the first session was added */
    const obol_session **sessions;
    obol_record_buf *sealed;
    obol_driver_record *records;
    uint64_t *expected_locks;
    int *statuses;
} restore_batch;

static int check_restore(obol_store *st, const obol_session *s,
                         obol_driver_key *key, int64_t *now, obol_error *err)
{
    if (s != NULL && s->lock_version == 0)
        return obol_set_error(err, OBOL_ERR_INVALID,
                              "restore: lock_version 0 is a new session "
                              "(write it with obol_upsert)");
    return obol_store_begin_write(st, "restore", s, key, now, err);
}

/* Queues s after the checks of a restore; a session no longer live is left
 * out and that is OBOL_OK. Unless the batch makes its own copy, s must
 * stay valid until the batch is written. */
static int batch_add(restore_batch *b, const obol_session *s, obol_error *err)
{
    obol_session *copy = NULL;
    int64_t now;
    int status;

    if (b->owns_sessions && s != NULL) {
        copy = obol_session_dup(s);
        if (copy == NULL)
            return obol_set_error(err, OBOL_ERR_NOMEM,
                                  "restore: out of memory");
        s = copy;
    }
    status = check_restore(b->st, s, &b->records[b->count].key, &now, err);
    if (status != OBOL_OK) {
        obol_session_free(copy);
        if (status == OBOL_NOT_FOUND)
            obol_clear_error(err);
        return status == OBOL_NOT_FOUND ? OBOL_OK : status;
    }
    /* The first session's clock is the oldest: every session of the batch
     * was still live then. */
    if (b->count == 0)
        b->now = now;
    b->sessions[b->count] = s;
    b->sealed[b->count].data = NULL;
    b->count++;
    return OBOL_OK;
}

/* Seals every session with its own lock version. Most restores go into a
 * store that does not hold the session yet, so each first expects no
 * record: a lock is read only for those that turn out to be there. */
static int batch_seal(restore_batch *b, obol_error *err)
{
    for (size_t i = 0; i < b->count; i++) {
        obol_driver_record *record = &b->records[i];
        int status = obol_record_build(b->st, &record->key, b->sessions[i],
                                       b->sessions[i]->lock_version,
                                       &b->sealed[i], record, err);

        if (status != OBOL_OK)
            return status;
        b->expected_locks[i] = 0;
    }
    return OBOL_OK;
}

/* Moves the first count records that conflicted to the front, now
 * expecting no record at all; returns how many there are. */
static size_t take_conflicts(restore_batch *b, size_t count)
{
    size_t taken = 0;

    for (size_t i = 0; i < count; i++) {
        if (b->statuses[i] != OBOL_CONFLICT)
            continue;
        b->records[taken] = b->records[i];
        b->expected_locks[taken] = 0;
        taken++;
    }
    return taken;
}

static int delete_records(restore_batch *b, size_t count, obol_error *err)
{
    int status = OBOL_OK;

    obol_store_driver_enter(b->st);
    for (size_t i = 0; i < count && status == OBOL_OK; i++)
        status = b->st->driver->del(b->st->handle, &b->records[i].key, err);
    obol_store_driver_leave(b->st);
    return status;
}

static int batch_put(restore_batch *b, obol_error *err)
{
    size_t conflicts;
    int status = obol_store_put_batch(b->st, b->records, b->expected_locks,
                                      b->count, b->now, b->statuses, err);

    if (status != OBOL_OK)
        return status;
    /* The sessions the store already holds: expect their stored lock. */
    conflicts = take_conflicts(b, b->count);
    if (conflicts == 0)
        return OBOL_OK;
    for (size_t i = 0; i < conflicts; i++)
        b->expected_locks[i] = stored_lock(b->st, &b->records[i].key);
    status = obol_store_put_batch(b->st, b->records, b->expected_locks,
                                  conflicts, b->now, b->statuses, err);
    if (status != OBOL_OK)
        return status;
    /* What is there cannot be read (another key, another format) or
     * changed meanwhile: a restore replaces it all the same. */
    conflicts = take_conflicts(b, conflicts);
    if (conflicts == 0)
        return OBOL_OK;
    status = delete_records(b, conflicts, err);
    if (status == OBOL_OK)
        status = obol_store_put_batch(b->st, b->records, b->expected_locks,
                                      conflicts, b->now, b->statuses, err);
    if (status == OBOL_OK && take_conflicts(b, conflicts) > 0)
        status = obol_set_error(err, OBOL_CONFLICT, "restore: another writer "
                                "keeps replacing the session");
    return status;
}

/* Frees what the queued sessions hold and empties the batch. */
static void batch_release(restore_batch *b)
{
    for (size_t i = 0; i < b->count; i++) {
        obol_record_buf_release(&b->sealed[i]);
        if (b->owns_sessions)   /* copies batch_add made */
            obol_session_free((obol_session *)b->sessions[i]);
    }
    b->count = 0;
}

/* Writes every queued session, then empties the batch, whatever the
 * outcome. */
static int batch_write(restore_batch *b, obol_error *err)
{
    int status = batch_seal(b, err);

    if (status == OBOL_OK)
        status = batch_put(b, err);
    batch_release(b);
    return status;
}

/* The driver's verdict on the shape of every sealed record (ABI 1.2);
 * a driver without check() takes every record. */
static int batch_check(restore_batch *b, obol_error *err)
{
    const obol_driver *d = b->st->driver;
    int status = OBOL_OK;

    if (!OBOL_DRIVER_HAS_SLOT(d, check, 2))
        return OBOL_OK;
    obol_store_driver_enter(b->st);
    for (size_t i = 0; i < b->count && status == OBOL_OK; i++)
        status = d->check(b->st->handle, &b->records[i], err);
    obol_store_driver_leave(b->st);
    return status;
}

/* Seals every queued session and asks the driver whether it would take
 * them, writing nothing; then empties the batch. */
static int batch_vet(restore_batch *b, obol_error *err)
{
    int status = batch_seal(b, err);

    if (status == OBOL_OK)
        status = batch_check(b, err);
    batch_release(b);
    return status;
}

/* obol_restore() (write) and obol_restore_check() (!write): one session
 * through the same checks and the same sealing, so that the check can
 * never pass a session the restore would refuse for what it is. */
static int restore_one(obol_store *st, const obol_session *s, int write,
                       obol_error *err)
{
    obol_error local;
    const obol_session *session;
    obol_record_buf sealed;
    obol_driver_record record;
    uint64_t expected_lock;
    int written;
    restore_batch one = { st, 0, 1, 0, 0, &session, &sealed, &record,
                          &expected_lock, &written };
    int status;

    if (err == NULL)
        err = &local;
    status = batch_add(&one, s, err);
    if (status == OBOL_OK)
        status = write ? batch_write(&one, err) : batch_vet(&one, err);
    if (status == OBOL_OK)
        obol_clear_error(err);
    return status;
}

int obol_restore(obol_store *st, const obol_session *s, obol_error *err)
{
    uint64_t started = obol_stats_start(st);

    return obol_stats_finish(st, OBOL_OP_RESTORE, started,
                             restore_one(st, s, 1, err));
}

int obol_restore_check(obol_store *st, const obol_session *s,
                       obol_error *err)
{
    return restore_one(st, s, 0, err);
}

static void batch_free(restore_batch *b)
{
    free(b->sessions);
    free(b->sealed);
    free(b->records);
    free(b->expected_locks);
    free(b->statuses);
}

/* A batch that keeps copies of the sessions it is given, for a walk whose
 * sessions are valid only during the callback. */
static int batch_alloc(restore_batch *b, obol_store *st, size_t capacity,
                       obol_error *err)
{
    *b = (restore_batch){ st, 0, capacity, 1, 0, NULL, NULL, NULL, NULL,
                          NULL };
    b->sessions = calloc(capacity, sizeof *b->sessions);
    b->sealed = calloc(capacity, sizeof *b->sealed);
    b->records = calloc(capacity, sizeof *b->records);
    b->expected_locks = calloc(capacity, sizeof *b->expected_locks);
    b->statuses = calloc(capacity, sizeof *b->statuses);
    if (b->sessions != NULL && b->sealed != NULL && b->records != NULL &&
        b->expected_locks != NULL && b->statuses != NULL)
        return OBOL_OK;
    batch_free(b);
    return obol_set_error(err, OBOL_ERR_NOMEM, "migrate: out of memory");
}

/* -------------------------------------------------------------- migrate */

typedef struct migration {
    restore_batch batch;    /* into the destination */
    obol_migrate_stats stats;
    obol_progress_fn progress;
    void *progress_arg;
    obol_error *err;
} migration;

static int count_record(void *arg, const obol_driver_record *record)
{
    (void)record;
    ((migration *)arg)->stats.total++;
    return OBOL_OK;
}

/* The denominator of the progress bar: one cheap pass over the source
 * that neither verifies nor decodes. */
static int count_source(obol_store *src, migration *m)
{
    int status;

    obol_store_driver_enter(src);
    status = src->driver->scan(src->handle, count_record, m, m->err);
    obol_store_driver_leave(src);
    return status;
}

/* Restores s into the destination, a batch at a time. */
static int copy_session(void *arg, const obol_session *s)
{
    migration *m = arg;
    int status = batch_add(&m->batch, s, m->err);

    if (status == OBOL_OK && m->batch.count == m->batch.capacity)
        status = batch_write(&m->batch, m->err);
    return status;
}

/* Writes what the walk left queued, even after it failed: the sessions
 * read before a failure are copied, as they were when each went alone.
 * The walk's own error, if any, is the one reported. */
static int copy_the_rest(migration *m, int walk_status)
{
    obol_error ignored;
    int status = batch_write(&m->batch,
                             walk_status == OBOL_OK ? m->err : &ignored);

    return walk_status == OBOL_OK ? status : walk_status;
}

static void report_progress(void *arg, const obol_scan_stats *so_far)
{
    migration *m = arg;

    m->stats.seen = so_far->records;
    m->stats.copied = so_far->live;
    m->stats.skipped = so_far->expired;
    m->stats.rejected = so_far->rejected;
    /* The count pass may have missed records written since. */
    if (m->stats.seen > m->stats.total)
        m->stats.total = m->stats.seen;
    if (m->progress != NULL && m->stats.seen % PROGRESS_EVERY == 0)
        m->progress(m->progress_arg, &m->stats);
}

static int migrate(obol_store *src, obol_store *dst, obol_progress_fn progress,
                   void *arg, obol_migrate_stats *stats, obol_error *err)
{
    obol_error local;
    migration m = { 0 };
    walk w;
    int status;

    if (err == NULL)
        err = &local;
    if (src == NULL || dst == NULL)
        return obol_set_error(err, OBOL_ERR_INVALID,
                              "migrate: source and destination must not be NULL");
    if (!obol_keyring_can_sign(src->keys) || !obol_keyring_can_sign(dst->keys))
        return obol_set_error(err, OBOL_ERR_KEY, "migrate: the %s has no key",
                              obol_keyring_can_sign(src->keys) ? "destination"
                                                              : "source");
    m = (migration){ { 0 }, { 0 }, progress, arg, err };
    status = batch_alloc(&m.batch, dst, RESTORE_BATCH, err);
    if (status != OBOL_OK)
        return status;
    status = count_source(src, &m);
    w = (walk){ src, copy_session, &m, { 0 }, report_progress, err };
    if (status == OBOL_OK)
        status = run_walk(&w);
    status = copy_the_rest(&m, status);
    batch_free(&m.batch);
    if (progress != NULL)
        progress(arg, &m.stats);
    if (stats != NULL)
        *stats = m.stats;
    if (status == OBOL_OK)
        obol_clear_error(err);
    return status;
}

/* Counted in both stores: each took part in the migration. */
int obol_migrate(obol_store *src, obol_store *dst, obol_progress_fn progress,
                 void *arg, obol_migrate_stats *stats, obol_error *err)
{
    uint64_t started = obol_stats_now_ns();
    int status = migrate(src, dst, progress, arg, stats, err);

    if (src != dst)
        obol_stats_finish(src, OBOL_OP_MIGRATE, started, status);
    return obol_stats_finish(dst, OBOL_OP_MIGRATE, started, status);
}

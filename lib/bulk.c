/*
 * Whole-store operations: walking every session of a store (obol_scan),
 * writing a session exactly as it is (obol_restore, obol_restore_mode) or
 * checking that it could be (obol_restore_check), and copying a store
 * into another (obol_migrate, obol_migrate_mode), whose restores go in
 * batches. They serve export, import and migration.
 *
 * A restore in a mode (only missing, only newer) must never undo a write
 * it did not see: the decision and the write are one compare-and-set of
 * the driver, whose expected lock is the decision itself (0: "missing";
 * the lock read: "still what I compared with").
 */
#include "config.h"

#include <stddef.h>
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

/* How many times a restore in ONLY_NEWER reads a lock and decides again
 * after a writer changed the session under it, before leaving it to that
 * writer. Every round needs a write in between by someone else, so a few
 * are plenty. */
#define NEWER_ROUNDS 8

/* sizeof(obol_migrate_report) in its first version, the smallest a caller
 * can have been built with: it ends after conflicts. */
#define REPORT_FIRST_SIZE \
    (offsetof(obol_migrate_report, conflicts) + sizeof(uint64_t))

/* ----------------------------------------------------------------- scan */

typedef struct walk {
    obol_store *st;
    obol_scan_fn each;
    void *arg;
    obol_scan_stats stats;
    void (*after_record)(void *arg, const obol_scan_stats *stats);
    obol_error *err;
    uint64_t limit;   /* stop after this many records; 0: no limit */
} walk;

/* What walk_record() stops the driver's scan with at the limit: positive,
 * and used by no call, so that run_walk() cannot take another status for
 * it (each() returned OBOL_OK for the record the walk stops after). */
#define WALK_LIMIT_REACHED 0x4c494d

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
    if (status == OBOL_OK && w->limit != 0 && w->stats.records >= w->limit)
        status = WALK_LIMIT_REACHED;
    return status;
}

static int run_walk(walk *w)
{
    int status;

    obol_store_driver_enter(w->st);
    status = w->st->driver->scan(w->st->handle, walk_record, w, w->err);
    obol_store_driver_leave(w->st);
    return status == WALK_LIMIT_REACHED ? OBOL_OK : status;
}

static int scan_sample(obol_store *st, uint64_t max_records,
                       obol_scan_fn each, void *arg, obol_scan_stats *stats,
                       obol_error *err)
{
    obol_error local;
    walk w = { 0 };
    int status = OBOL_OK;

    if (err == NULL)
        err = &local;
    if (stats != NULL)
        *stats = (obol_scan_stats){ 0 };
    if (st == NULL || each == NULL)
        return obol_set_error(err, OBOL_ERR_INVALID,
                              "scan: store and callback must not be NULL");
    if (!obol_keyring_can_sign(st->keys))
        return obol_set_error(err, OBOL_ERR_KEY,
                              "scan: the store has no key to verify with");
    w = (walk){ st, each, arg, { 0 }, NULL, err, max_records };
    if (max_records > 0)
        status = run_walk(&w);
    if (stats != NULL)
        *stats = w.stats;
    if (status == OBOL_OK)
        obol_clear_error(err);
    return status;
}

int obol_scan_sample(obol_store *st, uint64_t max_records, obol_scan_fn each,
                     void *arg, obol_scan_stats *stats, obol_error *err)
{
    uint64_t started = obol_stats_start(st);

    return obol_stats_finish(st, OBOL_OP_SCAN, started,
                             scan_sample(st, max_records, each, arg, stats,
                                         err));
}

int obol_scan(obol_store *st, obol_scan_fn each, void *arg,
              obol_scan_stats *stats, obol_error *err)
{
    return obol_scan_sample(st, UINT64_MAX, each, arg, stats, err);
}

/* -------------------------------------------------------------- restore */

/* The driver's own lock version of one record, found by a list of its
 * user and type: for a record that does not open (another key, another
 * format, longer than max_record), whose lock no session tells. */
typedef struct lock_probe {
    obol_bytes id;
    int64_t now;
    uint64_t lock;
} lock_probe;

static int probe_record(void *arg, const obol_driver_record *record)
{
    lock_probe *p = arg;

    if (record->key.id.len == p->id.len && record->expires_at >= p->now &&
        memcmp(record->key.id.data, p->id.data, p->id.len) == 0)
        p->lock = record->lock_version;
    return OBOL_OK;
}

static int driver_lock(obol_store *st, const obol_driver_key *key,
                       int64_t now, uint64_t *lock, obol_error *err)
{
    lock_probe p = { key->id, now, 0 };
    int status;

    obol_store_driver_enter(st);
    status = st->driver->list(st->handle, key, probe_record, &p, err);
    obol_store_driver_leave(st);
    *lock = p.lock;
    return status;
}

/* The lock version the driver's compare-and-set sees under key at now:
 * 0 when nothing live is there (driver.h). Read from the session where it
 * opens (one get), else from the driver's record. */
static int stored_lock(obol_store *st, const obol_driver_key *key,
                       int64_t now, uint64_t *lock, obol_error *err)
{
    uint8_t *bytes = NULL;
    size_t len = 0;
    obol_session *s = NULL;
    obol_error why;
    int status;

    *lock = 0;
    obol_store_driver_enter(st);
    status = st->driver->get(st->handle, key, &bytes, &len, err);
    obol_store_driver_leave(st);
    if (status == OBOL_NOT_FOUND)
        return OBOL_OK;
    if (status != OBOL_OK)
        return status;
    status = obol_record_open(st, key, bytes, len, &s, &why);
    free(bytes);
    if (status == OBOL_OK)
        *lock = s->lock_version;
    obol_session_free(s);
    if (status == OBOL_NOT_FOUND)   /* no longer live: counts as none */
        return OBOL_OK;
    if (status == OBOL_ERR_CORRUPT)
        return driver_lock(st, key, now, lock, err);
    if (status != OBOL_OK)
        *err = why;
    return status;
}

/* What the restores of a batch did, session by session. */
typedef struct restore_tally {
    uint64_t copied;     /* written */
    uint64_t expired;    /* no longer live when queued: nothing to write */
    uint64_t present;    /* ONLY_MISSING: left alone */
    uint64_t not_newer;  /* ONLY_NEWER: left alone */
    uint64_t conflicts;  /* ONLY_NEWER: left to a writer that kept winning */
} restore_tally;

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
    int mode;               /* OBOL_RESTORE_* */
    int64_t now;            /* the clock when the first session was added */
    restore_tally tally;    /* since the batch was made */
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
        if (status != OBOL_NOT_FOUND)
            return status;
        obol_clear_error(err);
        b->tally.expired++;
        return OBOL_OK;
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
 * record: a lock is read only for those that turn out to be there. (For
 * ONLY_MISSING, expecting no record is the whole decision.) */
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

/* Counts the first count records the last put stored, then moves those
 * that conflicted to the front, now expecting no record at all; returns
 * how many there are. */
static size_t take_conflicts(restore_batch *b, size_t count)
{
    size_t taken = 0;

    for (size_t i = 0; i < count; i++) {
        if (b->statuses[i] != OBOL_CONFLICT) {
            b->tally.copied++;
            continue;
        }
        b->records[taken] = b->records[i];
        b->expected_locks[taken] = 0;
        taken++;
    }
    return taken;
}

static int put_first(restore_batch *b, size_t count, obol_error *err)
{
    return obol_store_put_batch(b->st, b->records, b->expected_locks, count,
                                b->now, b->statuses, err);
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

/* The first count records now expect the lock the store holds. */
static int expect_stored_locks(restore_batch *b, size_t count,
                               obol_error *err)
{
    int status = OBOL_OK;

    for (size_t i = 0; i < count && status == OBOL_OK; i++)
        status = stored_lock(b->st, &b->records[i].key, b->now,
                             &b->expected_locks[i], err);
    return status;
}

/* OBOL_RESTORE_REPLACE: every session is written, over whatever is there. */
static int put_replacing(restore_batch *b, obol_error *err)
{
    size_t conflicts;
    int status = put_first(b, b->count, err);

    if (status != OBOL_OK)
        return status;
    /* The sessions the store already holds: expect their stored lock. */
    conflicts = take_conflicts(b, b->count);
    if (conflicts == 0)
        return OBOL_OK;
    status = expect_stored_locks(b, conflicts, err);
    if (status == OBOL_OK)
        status = put_first(b, conflicts, err);
    if (status != OBOL_OK)
        return status;
    /* What is there changed meanwhile: a restore replaces it all the
     * same. */
    conflicts = take_conflicts(b, conflicts);
    if (conflicts == 0)
        return OBOL_OK;
    status = delete_records(b, conflicts, err);
    if (status == OBOL_OK)
        status = put_first(b, conflicts, err);
    if (status == OBOL_OK && take_conflicts(b, conflicts) > 0)
        status = obol_set_error(err, OBOL_CONFLICT, "restore: another writer "
                                "keeps replacing the session");
    return status;
}

/* OBOL_RESTORE_ONLY_MISSING: expecting no record is the decision itself. */
static int put_if_missing(restore_batch *b, obol_error *err)
{
    int status = put_first(b, b->count, err);

    if (status == OBOL_OK)
        b->tally.present += take_conflicts(b, b->count);
    return status;
}

/* Of the first *count records, keeps at the front those the store holds
 * under a lower lock version than theirs (none counts as 0), each now
 * expecting that lock, and drops the rest; *count becomes how many are
 * kept. */
static int keep_older(restore_batch *b, size_t *count, obol_error *err)
{
    size_t kept = 0;

    for (size_t i = 0; i < *count; i++) {
        uint64_t lock;
        int status = stored_lock(b->st, &b->records[i].key, b->now, &lock,
                                 err);

        if (status != OBOL_OK)
            return status;
        if (lock >= b->records[i].lock_version) {
            b->tally.not_newer++;
            continue;
        }
        b->records[kept] = b->records[i];
        b->expected_locks[kept] = lock;
        kept++;
    }
    *count = kept;
    return OBOL_OK;
}

/* OBOL_RESTORE_ONLY_NEWER: first as if missing; those the store holds are
 * compared with the lock read and written expecting exactly it, so that a
 * write that came between the read and the put wins, and is compared with
 * in the next round. */
static int put_if_newer(restore_batch *b, obol_error *err)
{
    size_t pending = b->count;
    int status = put_first(b, pending, err);

    for (int round = 0; status == OBOL_OK; round++) {
        pending = take_conflicts(b, pending);
        if (pending > 0 && round == NEWER_ROUNDS) {
            b->tally.conflicts += pending;
            return OBOL_OK;
        }
        if (pending > 0)
            status = keep_older(b, &pending, err);
        if (pending == 0)
            return status;
        if (status == OBOL_OK)
            status = put_first(b, pending, err);
    }
    return status;
}

static int batch_put(restore_batch *b, obol_error *err)
{
    if (b->mode == OBOL_RESTORE_ONLY_MISSING)
        return put_if_missing(b, err);
    if (b->mode == OBOL_RESTORE_ONLY_NEWER)
        return put_if_newer(b, err);
    return put_replacing(b, err);
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

static int check_mode(int mode, const char *op, obol_error *err)
{
    if (mode == OBOL_RESTORE_REPLACE || mode == OBOL_RESTORE_ONLY_MISSING ||
        mode == OBOL_RESTORE_ONLY_NEWER)
        return OBOL_OK;
    return obol_set_error(err, OBOL_ERR_INVALID, "%s: unknown mode %d (not "
                          "one of OBOL_RESTORE_*)", op, mode);
}

/* OBOL_CONFLICT with the reason a mode left the one session alone. */
static int left_alone(const restore_tally *tally, obol_error *err)
{
    if (tally->present > 0)
        return obol_set_error(err, OBOL_CONFLICT, "restore: the store holds "
                              "the session already: left alone");
    if (tally->not_newer > 0)
        return obol_set_error(err, OBOL_CONFLICT, "restore: the store holds "
                              "the session with the same lock_version or a "
                              "higher one: left alone");
    return obol_set_error(err, OBOL_CONFLICT, "restore: another writer kept "
                          "changing the session: left to it");
}

/* obol_restore_mode() (write) and obol_restore_check() (!write): one
 * session through the same checks and the same sealing, so that the check
 * can never pass a session the restore would refuse for what it is. */
static int restore_one(obol_store *st, const obol_session *s, int mode,
                       int write, obol_error *err)
{
    obol_error local;
    const obol_session *session;
    obol_record_buf sealed;
    obol_driver_record record;
    uint64_t expected_lock;
    int written;
    restore_batch one = { st, 0, 1, 0, mode, 0, { 0 }, &session, &sealed,
                          &record, &expected_lock, &written };
    int status;

    if (err == NULL)
        err = &local;
    status = check_mode(mode, "restore", err);
    if (status == OBOL_OK)
        status = batch_add(&one, s, err);
    if (status == OBOL_OK)
        status = write ? batch_write(&one, err) : batch_vet(&one, err);
    if (status != OBOL_OK)
        return status;
    if (one.tally.present + one.tally.not_newer + one.tally.conflicts > 0)
        return left_alone(&one.tally, err);
    obol_clear_error(err);
    return OBOL_OK;
}

int obol_restore(obol_store *st, const obol_session *s, obol_error *err)
{
    return obol_restore_mode(st, s, OBOL_RESTORE_REPLACE, err);
}

int obol_restore_mode(obol_store *st, const obol_session *s, int mode,
                      obol_error *err)
{
    uint64_t started = obol_stats_start(st);

    return obol_stats_finish(st, OBOL_OP_RESTORE, started,
                             restore_one(st, s, mode, 1, err));
}

int obol_restore_check(obol_store *st, const obol_session *s,
                       obol_error *err)
{
    return restore_one(st, s, OBOL_RESTORE_REPLACE, 0, err);
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
static int batch_alloc(restore_batch *b, obol_store *st, int mode,
                       size_t capacity, obol_error *err)
{
    *b = (restore_batch){ st, 0, capacity, 1, mode, 0, { 0 }, NULL, NULL,
                          NULL, NULL, NULL };
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
    obol_scan_stats walked; /* what the walk of the source met so far */
    obol_migrate_report report;
    obol_progress_fn progress;
    void *progress_arg;
    obol_error *err;
} migration;

static int count_record(void *arg, const obol_driver_record *record)
{
    (void)record;
    ((migration *)arg)->report.stats.total++;
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

/* The report from the walk and the batches' tally. A session queued but
 * not yet written is in no count until its batch is. */
static void update_report(migration *m)
{
    obol_migrate_report *r = &m->report;
    const restore_tally *tally = &m->batch.tally;

    r->stats.seen = m->walked.records;
    r->stats.rejected = m->walked.rejected;
    r->stats.copied = tally->copied;
    r->expired = m->walked.expired + tally->expired;
    r->present = tally->present;
    r->not_newer = tally->not_newer;
    r->conflicts = tally->conflicts;
    r->stats.skipped = r->expired + r->present + r->not_newer + r->conflicts;
    /* The count pass may have missed records written since. */
    if (r->stats.seen > r->stats.total)
        r->stats.total = r->stats.seen;
}

static void report_progress(void *arg, const obol_scan_stats *so_far)
{
    migration *m = arg;

    m->walked = *so_far;
    update_report(m);
    if (m->progress != NULL && so_far->records % PROGRESS_EVERY == 0)
        m->progress(m->progress_arg, &m->report.stats);
}

static int check_migration(obol_store *src, obol_store *dst, int mode,
                           const obol_migrate_report *report, obol_error *err)
{
    if (src == NULL || dst == NULL)
        return obol_set_error(err, OBOL_ERR_INVALID,
                              "migrate: source and destination must not be NULL");
    if (report != NULL && report->struct_size < REPORT_FIRST_SIZE)
        return obol_set_error(err, OBOL_ERR_INVALID, "migrate: the report's "
                              "struct_size is %zu, less than the %zu of its "
                              "first version (set it to "
                              "sizeof(obol_migrate_report))",
                              report->struct_size, REPORT_FIRST_SIZE);
    if (!obol_keyring_can_sign(src->keys) || !obol_keyring_can_sign(dst->keys))
        return obol_set_error(err, OBOL_ERR_KEY, "migrate: the %s has no key",
                              obol_keyring_can_sign(src->keys) ? "destination"
                                                              : "source");
    return check_mode(mode, "migrate", err);
}

/* The migration itself, into m->report. */
static int migrate(obol_store *src, obol_store *dst, migration *m)
{
    walk w = { src, copy_session, m, { 0 }, report_progress, m->err, 0 };
    int status = batch_alloc(&m->batch, dst, m->batch.mode, RESTORE_BATCH,
                             m->err);

    if (status != OBOL_OK)
        return status;
    status = count_source(src, m);
    if (status == OBOL_OK)
        status = run_walk(&w);
    status = copy_the_rest(m, status);
    batch_free(&m->batch);
    update_report(m);
    if (m->progress != NULL)
        m->progress(m->progress_arg, &m->report.stats);
    return status;
}

static int migrate_mode(obol_store *src, obol_store *dst, int mode,
                        obol_progress_fn progress, void *arg,
                        obol_migrate_report *report, obol_error *err)
{
    obol_error local;
    migration m = { 0 };
    int status;

    if (err == NULL)
        err = &local;
    status = check_migration(src, dst, mode, report, err);
    if (status != OBOL_OK)
        return status;
    m.batch.mode = mode;
    m.report.struct_size = sizeof m.report;
    m.progress = progress;
    m.progress_arg = arg;
    m.err = err;
    status = migrate(src, dst, &m);
    if (report != NULL) {
        /* A caller built with a later header has more fields: what this
         * library does not know of reads as 0. */
        size_t size = report->struct_size;

        memset(report, 0, size);
        memcpy(report, &m.report,
               size < sizeof m.report ? size : sizeof m.report);
        report->struct_size = size;
    }
    if (status == OBOL_OK)
        obol_clear_error(err);
    return status;
}

/* Counted in both stores: each took part in the migration. */
int obol_migrate_mode(obol_store *src, obol_store *dst, int mode,
                      obol_progress_fn progress, void *arg,
                      obol_migrate_report *report, obol_error *err)
{
    uint64_t started = obol_stats_now_ns();
    int status = migrate_mode(src, dst, mode, progress, arg, report, err);

    if (src != dst)
        obol_stats_finish(src, OBOL_OP_MIGRATE, started, status);
    return obol_stats_finish(dst, OBOL_OP_MIGRATE, started, status);
}

int obol_migrate(obol_store *src, obol_store *dst, obol_progress_fn progress,
                 void *arg, obol_migrate_stats *stats, obol_error *err)
{
    obol_migrate_report report = { .struct_size = sizeof report };
    int status = obol_migrate_mode(src, dst, OBOL_RESTORE_REPLACE, progress,
                                   arg, &report, err);

    if (stats != NULL)
        *stats = report.stats;
    return status;
}

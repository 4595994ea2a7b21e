/*
 * Whole-store operations: walking every session of a store (obol_scan),
 * writing a session exactly as it is (obol_restore), and copying a store
 * into another (obol_migrate). They serve export, import and migration.
 */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include "errors_internal.h"
#include "record_internal.h"
#include "store_internal.h"

/* How many records a migration handles between progress reports. */
#define PROGRESS_EVERY 256

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

int obol_scan(obol_store *st, obol_scan_fn each, void *arg,
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

int obol_restore(obol_store *st, const obol_session *s, obol_error *err)
{
    obol_error local;
    obol_driver_key key;
    int64_t now;
    int status;

    if (err == NULL)
        err = &local;
    if (s != NULL && s->lock_version == 0)
        return obol_set_error(err, OBOL_ERR_INVALID,
                              "restore: lock_version 0 is a new session "
                              "(write it with obol_upsert)");
    status = obol_store_begin_write(st, "restore", s, &key, &now, err);
    if (status == OBOL_NOT_FOUND) {
        obol_clear_error(err);
        return OBOL_OK;
    }
    if (status != OBOL_OK)
        return status;
    status = obol_store_write(st, &key, s, s->lock_version,
                              stored_lock(st, &key), now, err);
    if (status == OBOL_CONFLICT) {
        /* What is there cannot be read (another key, another format) or
         * changed meanwhile: a restore replaces it all the same. */
        obol_store_driver_enter(st);
        status = st->driver->del(st->handle, &key, err);
        obol_store_driver_leave(st);
        if (status == OBOL_OK)
            status = obol_store_write(st, &key, s, s->lock_version, 0, now, err);
    }
    if (status == OBOL_OK)
        obol_clear_error(err);
    else if (status == OBOL_CONFLICT)
        obol_set_error(err, status, "restore: another writer keeps "
                       "replacing the session");
    return status;
}

/* -------------------------------------------------------------- migrate */

typedef struct migration {
    obol_store *dst;
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

static int copy_session(void *arg, const obol_session *s)
{
    migration *m = arg;

    return obol_restore(m->dst, s, m->err);
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

int obol_migrate(obol_store *src, obol_store *dst, obol_progress_fn progress,
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
    m = (migration){ dst, { 0 }, progress, arg, err };
    status = count_source(src, &m);
    w = (walk){ src, copy_session, &m, { 0 }, report_progress, err };
    if (status == OBOL_OK)
        status = run_walk(&w);
    if (progress != NULL)
        progress(arg, &m.stats);
    if (stats != NULL)
        *stats = m.stats;
    if (status == OBOL_OK)
        obol_clear_error(err);
    return status;
}

/*
 * Key rotation over a whole store: obol_rekey() seals every session anew
 * with the signing key, so that old key ids can be retired, and
 * obol_count_keys() tells how many records each key id still holds.
 *
 * The rewrite races the application's refreshes, and must never lose one.
 * A rekeyed session keeps the lock version it has and is written only if
 * the store still holds that lock version (the driver's compare-and-set):
 * a refresh that wrote first leaves the rekey a conflict (the session is
 * skipped: the refresh sealed it with the signing key itself), and a
 * refresh that read the session before the rekey wrote it still finds the
 * lock version it read. A session deleted meanwhile is a conflict too, so
 * it is never brought back.
 */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "errors_internal.h"
#include "record_internal.h"
#include "seal_internal.h"
#include "store_internal.h"

/* Records handled between progress reports, as a migration does. */
#define PROGRESS_EVERY 256

/* Sessions written in one put_batch: one transaction on LMDB. */
#define REKEY_BATCH 256

/* ---------------------------------------------------------------- rekey */

typedef struct rekeying {
    obol_store *st;
    uint32_t signing_id;
    obol_rekey_stats stats;
    obol_progress_fn progress;
    void *progress_arg;
    obol_error *err;
    /* The batch being written. The records' keys point into the sessions,
     * which are kept until the batch is. */
    size_t count;
    obol_session *sessions[REKEY_BATCH];
    obol_record_buf sealed[REKEY_BATCH];
    obol_driver_record records[REKEY_BATCH];
    uint64_t expected_locks[REKEY_BATCH];
    int statuses[REKEY_BATCH];
} rekeying;

static obol_bytes bytes_of(const char *text)
{
    obol_bytes b = { (const uint8_t *)text, strlen(text) };
    return b;
}

static int count_record(void *arg, const obol_driver_record *record)
{
    (void)record;
    ((rekeying *)arg)->stats.total++;
    return OBOL_OK;
}

/* The denominator of the progress bar: a pass that neither verifies nor
 * decodes. */
static int count_records(rekeying *r)
{
    int status;

    obol_store_driver_enter(r->st);
    status = r->st->driver->scan(r->st->handle, count_record, r, r->err);
    obol_store_driver_leave(r->st);
    return status;
}

/* Writes the batch, each session expecting the lock version it was read
 * with, and empties it whatever the outcome. entered: called from the
 * walk's visitor, inside the driver call of the walk. */
static int write_batch(rekeying *r, int entered, obol_error *err)
{
    int64_t now = obol_store_now(r->st);
    int status;

    status = entered
        ? obol_store_put_batch_entered(r->st, r->records, r->expected_locks,
                                       r->count, now, r->statuses, err)
        : obol_store_put_batch(r->st, r->records, r->expected_locks, r->count,
                               now, r->statuses, err);
    for (size_t i = 0; i < r->count; i++) {
        if (status == OBOL_OK && r->statuses[i] == OBOL_OK)
            r->stats.rewritten++;
        else if (status == OBOL_OK) {
            r->stats.conflicts++;
            obol_stats_conflict(r->st);
        }
        obol_record_buf_release(&r->sealed[i]);
        obol_session_free(r->sessions[i]);
    }
    r->count = 0;
    return status;
}

/* Seals s (which the batch takes) with the signing key and its own lock
 * version, to be written expecting that lock version. */
static int queue_session(rekeying *r, obol_session *s)
{
    size_t i = r->count;
    obol_driver_key key = { bytes_of(s->user_id), bytes_of(s->type),
                            bytes_of(s->id) };
    int status;

    if (s->lock_version == 0) {
        /* Expecting lock 0 would mean "only if absent": no compare-and-set
         * can rewrite it in place. Only a legacy record can hold it. */
        obol_store_log(r->st, OBOL_LOG_WARNING, "obol: rekey: a session with "
                       "lock_version 0 cannot be rewritten under the lock; "
                       "left as it is");
        obol_session_free(s);
        r->stats.rejected++;
        return OBOL_OK;
    }
    status = obol_record_build(r->st, &key, s, s->lock_version,
                               &r->sealed[i], &r->records[i], r->err);
    if (status != OBOL_OK) {
        obol_session_free(s);
        return status;
    }
    r->sessions[i] = s;
    r->expected_locks[i] = s->lock_version;
    r->count++;
    return r->count == REKEY_BATCH ? write_batch(r, 1, r->err) : OBOL_OK;
}

static int is_current(const rekeying *r, const obol_seal_info *seal)
{
    return seal->format == r->st->config.seal_mode &&
           seal->key_id == r->signing_id;
}

static void report_progress(rekeying *r, int always)
{
    obol_migrate_stats so_far;

    if (r->progress == NULL ||
        (!always && r->stats.seen % PROGRESS_EVERY != 0))
        return;
    /* The count pass may have missed records written since. */
    if (r->stats.seen > r->stats.total)
        r->stats.total = r->stats.seen;
    so_far.total = r->stats.total;
    so_far.seen = r->stats.seen;
    so_far.copied = r->stats.rewritten;
    so_far.skipped = r->stats.current + r->stats.conflicts + r->stats.expired;
    so_far.rejected = r->stats.rejected;
    r->progress(r->progress_arg, &so_far);
}

/* One record of the walk: opened as a read opens it (so a record under a
 * retired key is refused, logged and told to the event hook), then queued
 * unless it is sealed as this store seals. */
static int rekey_record(void *arg, const obol_driver_record *record)
{
    rekeying *r = arg;
    obol_seal_info seal = { 0, 0 };
    obol_session *s = NULL;
    obol_error why;
    int status;

    r->stats.seen++;
    status = obol_record_open_sealed(r->st, &record->key, record->sealed.data,
                                     record->sealed.len, &s, &seal, &why);
    if (status == OBOL_OK && is_current(r, &seal)) {
        r->stats.current++;
        obol_session_free(s);
    } else if (status == OBOL_OK) {
        status = queue_session(r, s);
    } else if (status == OBOL_NOT_FOUND) {
        r->stats.expired++;
        status = OBOL_OK;
    } else if (status == OBOL_ERR_CORRUPT) {
        r->stats.rejected++;   /* logged by obol_record_open_sealed */
        status = OBOL_OK;
    } else {
        *r->err = why;
    }
    report_progress(r, 0);
    return status;
}

/* The walk, then what it left queued, even after it failed (every write is
 * a compare-and-set, so none can do harm). The walk's error is the one
 * reported. */
static int rekey_all(rekeying *r)
{
    obol_error ignored;
    int status, written;

    obol_store_driver_enter(r->st);
    status = r->st->driver->scan(r->st->handle, rekey_record, r, r->err);
    obol_store_driver_leave(r->st);
    written = write_batch(r, 0, status == OBOL_OK ? r->err : &ignored);
    return status == OBOL_OK ? written : status;
}

static int signing_id(obol_store *st, uint32_t *out)
{
    obol_key key;

    if (obol_keyring_signing_key(st->keys, &key) != OBOL_OK)
        return OBOL_ERR_KEY;
    *out = key.id;
    sodium_memzero(&key, sizeof key);
    return OBOL_OK;
}

static int rekey(obol_store *st, obol_progress_fn progress, void *arg,
                 obol_rekey_stats *stats, obol_error *err)
{
    obol_error local;
    rekeying *r;
    int status;

    if (err == NULL)
        err = &local;
    if (stats != NULL)
        memset(stats, 0, sizeof *stats);
    if (st == NULL)
        return obol_set_error(err, OBOL_ERR_INVALID, "rekey: store is NULL");
    r = calloc(1, sizeof *r);
    if (r == NULL)
        return obol_set_error(err, OBOL_ERR_NOMEM, "rekey: out of memory");
    r->st = st;
    r->progress = progress;
    r->progress_arg = arg;
    r->err = err;
    if (signing_id(st, &r->signing_id) != OBOL_OK)
        status = obol_set_error(err, OBOL_ERR_KEY, "rekey: the store has no "
                                "signing key (set secret= or call "
                                "obol_store_add_key)");
    else
        status = count_records(r);
    if (status == OBOL_OK) {
        status = rekey_all(r);
        report_progress(r, 1);
    }
    if (stats != NULL)
        *stats = r->stats;
    free(r);
    if (status == OBOL_OK)
        obol_clear_error(err);
    return status;
}

int obol_rekey(obol_store *st, obol_progress_fn progress, void *arg,
               obol_rekey_stats *stats, obol_error *err)
{
    uint64_t started = obol_stats_start(st);

    return obol_stats_finish(st, OBOL_OP_REKEY, started,
                             rekey(st, progress, arg, stats, err));
}

/* --------------------------------------------------------------- census */

typedef struct census_walk {
    obol_store *st;
    obol_key_census *census;
    size_t capacity;
    int64_t now;
    obol_error *err;
} census_walk;

/* The census entry of key_id, added (in key id order) if it is new; NULL
 * when out of memory. */
static obol_key_count *entry_for(census_walk *w, uint32_t key_id)
{
    obol_key_census *c = w->census;
    size_t low = 0, high = c->key_count;

    while (low < high) {
        size_t mid = low + (high - low) / 2;

        if (c->keys[mid].key_id == key_id)
            return &c->keys[mid];
        if (c->keys[mid].key_id < key_id)
            low = mid + 1;
        else
            high = mid;
    }
    if (c->key_count == w->capacity) {
        size_t capacity = w->capacity ? w->capacity * 2 : 8;
        obol_key_count *bigger = realloc(c->keys, capacity * sizeof *bigger);

        if (bigger == NULL)
            return NULL;
        c->keys = bigger;
        w->capacity = capacity;
    }
    memmove(&c->keys[low + 1], &c->keys[low],
            (c->key_count - low) * sizeof c->keys[0]);
    c->keys[low] = (obol_key_count){ key_id,
                                     obol_keyring_role(w->st->keys, key_id), 0 };
    c->key_count++;
    return &c->keys[low];
}

static int count_under(census_walk *w, uint32_t key_id)
{
    obol_key_count *entry = entry_for(w, key_id);

    if (entry == NULL)
        return obol_set_error(w->err, OBOL_ERR_NOMEM,
                              "count_keys: out of memory");
    entry->records++;
    return OBOL_OK;
}

static int census_record(void *arg, const obol_driver_record *record)
{
    census_walk *w = arg;
    obol_key_census *c = w->census;
    obol_seal_context ctx = { w->st->prefix, record->key.user_id,
                              record->key.type, record->key.id };
    obol_unsealed seal;
    obol_error ignored;
    int status;

    c->records++;
    if (record->expires_at < w->now) {
        c->expired++;
        return OBOL_OK;
    }
    if (!obol_record_fits(w->st, record->sealed.data, record->sealed.len)) {
        c->unreadable++;   /* over max_record: never looked at */
        return OBOL_OK;
    }
    status = obol_seal_verify(w->st->keys, &ctx, record->sealed.data,
                              record->sealed.len, &seal, &ignored);
    if (status == OBOL_OK && seal.was_unsigned)
        c->unsigned_records++;
    else if (status == OBOL_OK || seal.unknown_key)
        return count_under(w, seal.key_id);
    else if (seal.format != 0)
        c->bad_seals++;
    else
        c->unreadable++;
    return OBOL_OK;
}

/* Every key the store holds is in the census, with no records yet. */
static int seed_census(census_walk *w)
{
    size_t held = obol_keyring_ids(w->st->keys, NULL, 0);
    uint32_t *ids = calloc(held ? held : 1, sizeof *ids);
    int status = OBOL_OK;

    if (ids == NULL)
        return obol_set_error(w->err, OBOL_ERR_NOMEM,
                              "count_keys: out of memory");
    /* A key added meanwhile is found by the walk if it holds records. */
    held = obol_keyring_ids(w->st->keys, ids, held);
    for (size_t i = 0; i < held && status == OBOL_OK; i++)
        if (entry_for(w, ids[i]) == NULL)
            status = obol_set_error(w->err, OBOL_ERR_NOMEM,
                                    "count_keys: out of memory");
    free(ids);
    return status;
}

static int count_keys(obol_store *st, obol_key_census *census,
                      obol_error *err)
{
    obol_error local;
    census_walk w;
    int status;

    if (err == NULL)
        err = &local;
    if (st == NULL || census == NULL)
        return obol_set_error(err, OBOL_ERR_INVALID,
                              "count_keys: store and census must not be NULL");
    memset(census, 0, sizeof *census);
    w = (census_walk){ st, census, 0, obol_store_now(st), err };
    status = seed_census(&w);
    if (status == OBOL_OK) {
        obol_store_driver_enter(st);
        status = st->driver->scan(st->handle, census_record, &w, err);
        obol_store_driver_leave(st);
    }
    if (status != OBOL_OK) {
        obol_key_census_clear(census);
        return status;
    }
    obol_clear_error(err);
    return OBOL_OK;
}

int obol_count_keys(obol_store *st, obol_key_census *census, obol_error *err)
{
    uint64_t started = obol_stats_start(st);

    return obol_stats_finish(st, OBOL_OP_COUNT_KEYS, started,
                             count_keys(st, census, err));
}

void obol_key_census_clear(obol_key_census *census)
{
    if (census == NULL)
        return;
    free(census->keys);
    memset(census, 0, sizeof *census);
}

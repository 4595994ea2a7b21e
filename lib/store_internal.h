/* The store handle, shared by the store's modules. */
#ifndef OBOL_STORE_INTERNAL_H
#define OBOL_STORE_INTERNAL_H

#include <pthread.h>
#include <stdint.h>

#include <obol/driver.h>
#include <obol/obol.h>

#include "config_internal.h"
#include "keys_internal.h"
#include "stats_internal.h"

struct obol_store {
    const obol_driver *driver;
    void *handle;
    /* Held around every driver call unless the driver is thread-safe. */
    int serialize_calls;
    pthread_mutex_t call_lock;

    obol_keyring *keys;
    obol_config config;
    obol_bytes prefix;

    void (*log)(void *arg, int level, const char *msg);
    void *log_arg;
    int64_t (*now)(void *arg);
    void *now_arg;
    obol_event_fn event_hook;
    void *event_arg;
    uint64_t driver_calls;   /* every driver call so far (atomic) */
    obol_stats_state *stats; /* obol_store_stats(); NULL with stats=0 */
    uint64_t opened_ns;      /* the monotonic clock at open */

    /* The non-blocking API's worker threads, started by the first
     * operation that needs them (queue.c). */
    pthread_mutex_t workers_lock;
    struct obol_workers *workers;
    unsigned worker_count;   /* 0: the default */
};

/* obol_get(), obol_upsert() and obol_delete() without counting a call:
 * what obol_refresh() is made of, counted once as a refresh. */
int obol_store_get(obol_store *st, const char *sid, const char *uid,
                   const char *type, obol_session **out, obol_error *err);
int obol_store_upsert(obol_store *st, obol_session *s, obol_error *err);
int obol_store_delete(obol_store *st, const char *sid, const char *uid,
                      const char *type, obol_error *err);

/* The other operations without counting a call: what the non-blocking
 * API's workers run (queue_ops.c), counted once when their callback runs. */
int obol_store_delete_counted(obol_store *st, const char *sid,
                              const char *uid, const char *type,
                              uint64_t *removed, obol_error *err);
int obol_store_get_all(obol_store *st, const char *uid, const char *type,
                       obol_session ***out, size_t *count, obol_error *err);
int obol_store_delete_all_counted(obol_store *st, const char *uid,
                                  const char *type, uint64_t *removed,
                                  obol_error *err);
int obol_store_refresh(obol_store *st, const char *token, int64_t refresh_ttl,
                       obol_session **session, char **new_token,
                       obol_error *err);

/* The end of a get, once the driver answered status with bytes (which it
 * consumes): the session in *out, or the status and message obol_get()
 * gives. */
int obol_store_get_finish(obol_store *st, const obol_driver_key *key,
                          int status, uint8_t *bytes, size_t len,
                          obol_session **out, obol_error *err);

/* The two ends of an upsert around its write. begin checks s and fills
 * key and *now: OBOL_OK to write, OBOL_NOT_FOUND when there is nothing to
 * write (the upsert then succeeds, with err saying why), or an error. end
 * takes the write's status: moves s->lock_version on after OBOL_OK, says
 * what a conflict means, and returns status. */
int obol_store_upsert_begin(obol_store *st, const obol_session *s,
                            obol_driver_key *key, int64_t *now,
                            obol_error *err);
int obol_store_upsert_end(obol_session *s, int status, obol_error *err);

/* Collects the sessions of one user and type from list(): pass
 * obol_store_collect as the visitor, then obol_store_collected() with
 * list()'s status for what obol_get_all() returns. */
typedef struct obol_store_collector {
    obol_store *st;
    int timed;      /* now is read (at the first record) */
    int64_t now;    /* what every record's liveness is judged at */
    obol_session **items;
    size_t count;
    size_t capacity;
    obol_error *err;
} obol_store_collector;

/* An empty collector for st, reporting to err. It reads the store's
 * clock once, when the first record comes (a queued list may run well
 * after it was asked for), and judges every record at that time. */
void obol_store_collector_init(obol_store_collector *c, obol_store *st,
                               obol_error *err);

int obol_store_collect(void *arg, const obol_driver_record *record);
int obol_store_collected(obol_store_collector *c, int status,
                         obol_session ***out, size_t *count, obol_error *err);

/* Sends a printf-style message to the store's logger, if any. */
void obol_store_log(obol_store *st, int level, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Turns the reason in err (a record refused or expired) into the
 * OBOL_NOT_FOUND of op: "get: session not found: <reason>". */
int obol_not_found_because(obol_error *err, const char *op);

/* Tells the event hook, if any, about kind for the session at key. */
void obol_store_event(obol_store *st, int kind, const obol_driver_key *key,
                      uint32_t key_id, const char *reason);

/* Brackets every driver call: drivers that are not thread-safe get one
 * caller at a time, and each call is counted in driver_calls. */
void obol_store_driver_enter(obol_store *st);
void obol_store_driver_leave(obol_store *st);

/* The checks every operation starts with (store, ids, a signing key);
 * fills the driver's view of the key. sid may be NULL when need_sid is 0,
 * for operations on all of a user's sessions. op names the call in
 * messages. */
int obol_store_prepare(obol_store *st, const char *op, const char *sid,
                       int need_sid, const char *uid, const char *type,
                       obol_driver_key *key, obol_error *err);

/* The driver's del_all of key's user and type. With removed not NULL it
 * also sets *removed to how many records that removed: the driver's own
 * count when it has del_all_counted (ABI 1.5), else a list just before
 * (see store.c, "counts"). */
int obol_store_remove_user(obol_store *st, const obol_driver_key *key,
                           uint64_t *removed, obol_error *err);

/* What every write of s starts with: obol_store_prepare(), then whether s
 * may be written (strings set, payload within max_payload,
 * refresh_expires_at <= expires_at); sets *now. Returns OBOL_OK to go on,
 * OBOL_NOT_FOUND when s is no longer live (a write that must do nothing
 * and succeed), or an error. */
int obol_store_begin_write(obol_store *st, const char *op,
                           const obol_session *s, obol_driver_key *key,
                           int64_t *now, obol_error *err);

/* Seals s with lock version new_lock and stores it under key if the
 * stored lock version is expected_lock (driver.h's compare-and-set):
 * OBOL_OK, OBOL_CONFLICT or an error. */
int obol_store_write(obol_store *st, const obol_driver_key *key,
                     const obol_session *s, uint64_t new_lock,
                     uint64_t expected_lock, int64_t now, obol_error *err);

/* put() of a sealed record: OBOL_OK, OBOL_CONFLICT (counted) or an
 * error. */
int obol_store_put_record(obol_store *st, const obol_driver_record *record,
                          uint64_t expected_lock, int64_t now,
                          obol_error *err);

/* Several compare-and-sets of sealed records at once (driver.h's
 * put_batch), through the driver's put_batch when it has one and put()
 * record by record otherwise: OBOL_OK with statuses[i] OBOL_OK or
 * OBOL_CONFLICT for every record, or an error, after which any record may
 * or may not have been written. */
int obol_store_put_batch(obol_store *st, const obol_driver_record *records,
                         const uint64_t *expected_locks, size_t count,
                         int64_t now, int *statuses, obol_error *err);

/* obol_store_put_batch() from inside a driver call already entered with
 * obol_store_driver_enter(): a walk's visitor writing to the store it walks
 * (driver.h lets a visitor call back into the driver). */
int obol_store_put_batch_entered(obol_store *st,
                                 const obol_driver_record *records,
                                 const uint64_t *expected_locks, size_t count,
                                 int64_t now, int *statuses, obol_error *err);

#endif

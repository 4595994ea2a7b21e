/* The store: the public API on top of the codec, the seal and a driver. */
#include "config.h"

#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <sodium.h>

#include "errors_internal.h"
#include "loader_internal.h"
#include "record_internal.h"
#include "store_internal.h"
#include "workers_internal.h"

const char *obol_version(int *major, int *minor, int *patch)
{
    if (major != NULL)
        *major = OBOL_VERSION_MAJOR;
    if (minor != NULL)
        *minor = OBOL_VERSION_MINOR;
    if (patch != NULL)
        *patch = OBOL_VERSION_PATCH;
    return OBOL_VERSION_STRING;
}

/* ---------------------------------------------------------- logging, time */

void obol_store_log(obol_store *st, int level, const char *fmt, ...)
{
    char msg[512];
    va_list ap;

    if (st->log == NULL)
        return;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    st->log(st->log_arg, level, msg);
}

/* Drivers log through the store, so that a logger set after opening
 * reaches them too. */
static void driver_log(void *arg, int level, const char *msg)
{
    obol_store *st = arg;

    if (st->log != NULL)
        st->log(st->log_arg, level, msg);
}

static int64_t system_now(void *arg)
{
    (void)arg;
    return (int64_t)time(NULL);
}

int64_t obol_store_now(obol_store *st)
{
    return st->now(st->now_arg);
}

void obol_store_set_logger(obol_store *st,
                           void (*log)(void *arg, int level, const char *msg),
                           void *arg)
{
    if (st == NULL)
        return;
    st->log = log;
    st->log_arg = arg;
}

void obol_store_set_clock(obol_store *st, int64_t (*now)(void *arg), void *arg)
{
    if (st == NULL)
        return;
    st->now = now != NULL ? now : system_now;
    st->now_arg = now != NULL ? arg : NULL;
}

const char *obol_store_driver_name(const obol_store *st)
{
    return st != NULL ? st->driver->name : NULL;
}

const char *obol_store_prefix(const obol_store *st)
{
    return st != NULL ? st->config.prefix : NULL;
}

int obol_store_has_key(const obol_store *st)
{
    return st != NULL && obol_keyring_can_sign(st->keys);
}

int obol_store_describe(obol_store *st, obol_store_info *info, obol_error *err)
{
    obol_error local;
    const obol_driver *d;
    int status = OBOL_OK;

    if (err == NULL)
        err = &local;   /* drivers always get somewhere to write */
    if (st == NULL || info == NULL)
        return obol_set_error(err, OBOL_ERR_INVALID,
                              "describe: store and info must not be NULL");
    d = st->driver;
    memset(info, 0, sizeof *info);
    info->driver = d->name;
    info->driver_abi_major = d->abi_major;
    info->driver_abi_minor = d->abi_minor;
    info->thread_safe = !!(d->capabilities & OBOL_DRIVER_THREAD_SAFE);
    info->multi_process = !!(d->capabilities & OBOL_DRIVER_MULTI_PROCESS);
    info->native_expiry = !!(d->capabilities & OBOL_DRIVER_NATIVE_EXPIRY);
    info->persistent = !!(d->capabilities & OBOL_DRIVER_PERSISTENT);
    if (OBOL_DRIVER_HAS_SLOT(d, health, 0)) {
        obol_store_driver_enter(st);
        status = d->health(st->handle, info->backend, sizeof info->backend, err);
        obol_store_driver_leave(st);
    }
    if (status == OBOL_OK)
        obol_clear_error(err);
    return status;
}

/* ---------------------------------------------------------- open, close */

/* The keys the config string names: the signing one and the old ones.
 * With require_key=1 a store that ends up without a signing key is
 * refused before the backend is touched, so that a job started without
 * its secret stops at once instead of failing at its first record. */
static int load_secret(obol_store *st, obol_error *err)
{
    int status = obol_keyring_load(st->keys, &st->config, err);

    if (status == OBOL_OK && st->config.require_key &&
        !obol_keyring_can_sign(st->keys))
        return obol_set_error(err, OBOL_ERR_KEY,
                              "store_open: the store has no signing key "
                              "(require_key=1 refuses it: give secret=, or "
                              "open without require_key=1 and call "
                              "obol_store_add_key)");
    return status;
}

static int open_driver(obol_store *st, obol_error *err)
{
    obol_driver_config view;
    int status;

    status = obol_loader_load(st->config.scheme, st->config.driver_name,
                              &st->driver, err);
    if (status != OBOL_OK)
        return status;
    obol_config_for_driver(&st->config, &view);
    view.log = driver_log;
    view.log_arg = st;
    status = st->driver->open(&view, &st->handle, err);
    if (status != OBOL_OK)
        st->handle = NULL;
    return status;
}

static obol_store *store_new(void)
{
    obol_store *st = calloc(1, sizeof *st);

    if (st == NULL)
        return NULL;
    st->keys = obol_keyring_new();
    if (st->keys == NULL || pthread_mutex_init(&st->call_lock, NULL) != 0) {
        obol_keyring_free(st->keys);
        free(st);
        return NULL;
    }
    if (pthread_mutex_init(&st->workers_lock, NULL) != 0) {
        pthread_mutex_destroy(&st->call_lock);
        obol_keyring_free(st->keys);
        free(st);
        return NULL;
    }
    st->now = system_now;
    st->opened_ns = obol_stats_now_ns();
    return st;
}

int obol_store_open(const char *config, obol_store **out, obol_error *err)
{
    obol_error local;
    obol_store *st;
    int status;

    if (err == NULL)
        err = &local;   /* drivers always get somewhere to write */
    if (out == NULL)
        return obol_set_error(err, OBOL_ERR_INVALID, "store_open: out is NULL");
    *out = NULL;
    st = store_new();
    if (st == NULL)
        return obol_set_error(err, OBOL_ERR_NOMEM, "store_open: out of memory");
    status = obol_config_parse(config, &st->config, err);
    if (status == OBOL_OK && st->config.stats &&
        (st->stats = obol_stats_new()) == NULL)
        status = obol_set_error(err, OBOL_ERR_NOMEM,
                                "store_open: out of memory");
    if (status == OBOL_OK)
        status = load_secret(st, err);
    if (status == OBOL_OK)
        status = open_driver(st, err);
    if (status != OBOL_OK) {
        obol_store_close(st);
        return status;
    }
    st->prefix.data = (const uint8_t *)st->config.prefix;
    st->prefix.len = strlen(st->config.prefix);
    st->serialize_calls = !(st->driver->capabilities & OBOL_DRIVER_THREAD_SAFE);
    obol_clear_error(err);
    *out = st;
    return OBOL_OK;
}

void obol_store_close(obol_store *st)
{
    if (st == NULL)
        return;
    /* The workers finish what closed queues left them before the driver
     * goes; the driver completes its own (driver.h, ABI 1.6). */
    obol_workers_stop(st->workers);
    if (st->handle != NULL)
        st->driver->close(st->handle);
    obol_keyring_free(st->keys);
    obol_config_clear(&st->config);
    pthread_mutex_destroy(&st->call_lock);
    pthread_mutex_destroy(&st->workers_lock);
    obol_stats_free(st->stats);
    free(st);
}

int obol_store_add_key(obol_store *st, uint32_t key_id, const uint8_t key[32],
                       int sign_with_it, obol_error *err)
{
    if (st == NULL || key == NULL)
        return obol_set_error(err, OBOL_ERR_INVALID,
                              "add_key: store and key must not be NULL");
    return obol_keyring_add(st->keys, key_id, key, sign_with_it, err);
}

/* ---------------------------------------------------------- operations */

void obol_store_driver_enter(obol_store *st)
{
    __atomic_add_fetch(&st->driver_calls, 1, __ATOMIC_RELAXED);
    if (st->serialize_calls)
        pthread_mutex_lock(&st->call_lock);
}

void obol_store_driver_leave(obol_store *st)
{
    if (st->serialize_calls)
        pthread_mutex_unlock(&st->call_lock);
}

static obol_bytes bytes_of(const char *text)
{
    obol_bytes b = { (const uint8_t *)text, strlen(text) };
    return b;
}

int obol_store_prepare(obol_store *st, const char *op, const char *sid,
                   int need_sid, const char *uid, const char *type,
                   obol_driver_key *key, obol_error *err)
{
    if (st == NULL)
        return obol_set_error(err, OBOL_ERR_INVALID, "%s: store is NULL", op);
    if (need_sid && (sid == NULL || sid[0] == '\0'))
        return obol_set_error(err, OBOL_ERR_INVALID,
                              "%s: session id is NULL or empty", op);
    if (uid == NULL || uid[0] == '\0')
        return obol_set_error(err, OBOL_ERR_INVALID,
                              "%s: user id is NULL or empty", op);
    if (type != NULL && type[0] == '\0')
        return obol_set_error(err, OBOL_ERR_INVALID,
                              "%s: type is empty (NULL means \"full\")", op);
    if (!obol_keyring_can_sign(st->keys))
        return obol_set_error(err, OBOL_ERR_KEY,
                              "%s: the store has no signing key (set secret= "
                              "or call obol_store_add_key)", op);
    key->user_id = bytes_of(uid);
    key->type = bytes_of(type != NULL ? type : OBOL_DEFAULT_TYPE);
    key->id = bytes_of(sid != NULL ? sid : "");
    return OBOL_OK;
}

int obol_get(obol_store *st, const char *sid, const char *uid,
             const char *type, obol_session **out, obol_error *err)
{
    uint64_t started = obol_stats_start(st);

    return obol_stats_finish(st, OBOL_OP_GET, started,
                             obol_store_get(st, sid, uid, type, out, err));
}

/* A get through the driver's view() (ABI 1.7): the record is judged
 * where it lies, and what the judgement tells is told once the driver
 * has let go of it. */
typedef struct shown {
    obol_store *st;
    const obol_driver_key *key;
    int64_t now;   /* read before: the clock may be the application's */
    obol_session *session;
    int judged;
    obol_record_verdict verdict;
} shown;

static void judge_shown(void *arg, const uint8_t *sealed, size_t sealed_len)
{
    shown *s = arg;

    if (s->judged++ == 0)
        obol_record_judge(s->st, s->key, sealed, sealed_len, s->now,
                          &s->session, &s->verdict);
}

static int get_in_place(obol_store *st, const obol_driver_key *key,
                        obol_session **out, obol_error *err)
{
    shown s;   /* not zeroed whole: the verdict's message is 256 bytes */
    int status;

    s.st = st;
    s.key = key;
    s.now = obol_store_now(st);
    s.session = NULL;
    s.judged = 0;
    obol_store_driver_enter(st);
    status = st->driver->view(st->handle, key, judge_shown, &s, err);
    obol_store_driver_leave(st);
    if (status == OBOL_OK && s.judged != 1)
        status = obol_set_error(err, OBOL_ERR_DRIVER, "get: the driver's "
                                "view() showed %d records, not one",
                                s.judged);
    if (status != OBOL_OK) {
        obol_session_free(s.session);
        return obol_store_get_finish(st, key, status, NULL, 0, out, err);
    }
    status = obol_record_report(st, key, &s.verdict, err);
    if (status == OBOL_ERR_CORRUPT || status == OBOL_NOT_FOUND)
        return obol_not_found_because(err, "get");
    *out = s.session;
    return status;
}

int obol_store_get(obol_store *st, const char *sid, const char *uid,
                   const char *type, obol_session **out, obol_error *err)
{
    obol_error local;
    obol_driver_key key;
    uint8_t *bytes = NULL;
    size_t len = 0;
    int status;

    if (err == NULL)
        err = &local;
    if (out == NULL)
        return obol_set_error(err, OBOL_ERR_INVALID, "get: out is NULL");
    *out = NULL;
    status = obol_store_prepare(st, "get", sid, 1, uid, type, &key, err);
    if (status != OBOL_OK)
        return status;
    if (OBOL_DRIVER_HAS_SLOT(st->driver, view, 7))
        return get_in_place(st, &key, out, err);
    obol_store_driver_enter(st);
    status = st->driver->get(st->handle, &key, &bytes, &len, err);
    obol_store_driver_leave(st);
    return obol_store_get_finish(st, &key, status, bytes, len, out, err);
}

int obol_store_get_finish(obol_store *st, const obol_driver_key *key,
                          int status, uint8_t *bytes, size_t len,
                          obol_session **out, obol_error *err)
{
    if (status == OBOL_NOT_FOUND)
        return obol_set_error(err, OBOL_NOT_FOUND,
                              "get: session not found: no such record");
    if (status != OBOL_OK)
        return status;
    status = obol_record_open(st, key, bytes, len, out, err);
    free(bytes);
    if (status == OBOL_ERR_CORRUPT || status == OBOL_NOT_FOUND)
        return obol_not_found_because(err, "get");
    return status;
}

int obol_not_found_because(obol_error *err, const char *op)
{
    char why[sizeof err->message];

    /* The reason is rewritten into err itself: format from a copy. */
    memcpy(why, err->message, sizeof why);
    return obol_set_error(err, OBOL_NOT_FOUND, "%s: session not found: %s",
                          op, why);
}

/* Every string a record carries is bounded, so that with max_payload
 * every record the store writes fits under max_record. */
static int check_lengths(const char *op, const obol_session *s,
                         obol_error *err)
{
    const struct {
        const char *name;
        const char *value;
    } fields[] = { { "id", s->id },
                   { "user_id", s->user_id },
                   { "type", s->type },
                   { "refresh_token_id", s->refresh_token_id },
                   { "prev_refresh_token_id", s->prev_refresh_token_id } };

    for (size_t i = 0; i < sizeof fields / sizeof fields[0]; i++) {
        size_t len = fields[i].value != NULL ? strlen(fields[i].value) : 0;

        if (len > OBOL_MAX_ID_LEN)
            return obol_set_error(err, OBOL_ERR_TOO_LARGE,
                                  "%s: %s of %zu bytes is over the %d-byte "
                                  "limit of ids", op, fields[i].name, len,
                                  OBOL_MAX_ID_LEN);
    }
    return OBOL_OK;
}

static int check_session(obol_store *st, const char *op,
                         const obol_session *s, obol_error *err)
{
    int status;

    if (s == NULL || s->id == NULL || s->id[0] == '\0' || s->user_id == NULL ||
        s->user_id[0] == '\0' || s->type == NULL || s->type[0] == '\0' ||
        s->refresh_token_id == NULL)
        return obol_set_error(err, OBOL_ERR_INVALID,
                              "%s: session, id, user_id, type and "
                              "refresh_token_id must be set", op);
    if (s->extra_payload_len > 0 && s->extra_payload == NULL)
        return obol_set_error(err, OBOL_ERR_INVALID,
                              "%s: extra_payload is NULL but its length is %zu",
                              op, s->extra_payload_len);
    status = check_lengths(op, s, err);
    if (status != OBOL_OK)
        return status;
    if (s->extra_payload_len > st->config.max_payload)
        return obol_set_error(err, OBOL_ERR_TOO_LARGE,
                              "%s: extra_payload of %zu bytes is over "
                              "max_payload (%llu)", op, s->extra_payload_len,
                              (unsigned long long)st->config.max_payload);
    if (s->refresh_expires_at > s->expires_at)
        return obol_set_error(err, OBOL_ERR_INVALID,
                              "%s: refresh_expires_at is after expires_at", op);
    if (s->lock_version == UINT64_MAX)
        return obol_set_error(err, OBOL_ERR_INVALID,
                              "%s: lock_version cannot grow further", op);
    return OBOL_OK;
}

int obol_store_write(obol_store *st, const obol_driver_key *key,
                     const obol_session *s, uint64_t new_lock,
                     uint64_t expected_lock, int64_t now, obol_error *err)
{
    obol_driver_record record;
    obol_record_buf sealed;
    int status;

    status = obol_record_build(st, key, s, new_lock, &sealed, &record, err);
    if (status != OBOL_OK)
        return status;
    status = obol_store_put_record(st, &record, expected_lock, now, err);
    obol_record_buf_release(&sealed);
    return status;
}

int obol_store_put_record(obol_store *st, const obol_driver_record *record,
                          uint64_t expected_lock, int64_t now,
                          obol_error *err)
{
    int status;

    obol_store_driver_enter(st);
    status = st->driver->put(st->handle, record, expected_lock, now, err);
    obol_store_driver_leave(st);
    if (status == OBOL_CONFLICT)
        obol_stats_conflict(st);
    return status;
}

/* The core's put_batch for a driver without one: put() record by record,
 * stopping at the first error (the records before it stay written). */
static int put_one_by_one(obol_store *st, const obol_driver_record *records,
                          const uint64_t *expected_locks, size_t count,
                          int64_t now, int *statuses, obol_error *err)
{
    for (size_t i = 0; i < count; i++) {
        int status = st->driver->put(st->handle, &records[i],
                                     expected_locks[i], now, err);

        if (status != OBOL_OK && status != OBOL_CONFLICT)
            return status;
        statuses[i] = status;
    }
    return OBOL_OK;
}

/* A status a driver left unset, or one put() never returns, is a broken
 * driver, not a conflict to retry. */
static int check_statuses(obol_store *st, const int *statuses, size_t count,
                          obol_error *err)
{
    for (size_t i = 0; i < count; i++)
        if (statuses[i] != OBOL_OK && statuses[i] != OBOL_CONFLICT)
            return obol_set_error(err, OBOL_ERR_DRIVER, "%s: put_batch left "
                                  "record %zu of %zu undecided",
                                  st->driver->name, i + 1, count);
    return OBOL_OK;
}

/* The batch, on a driver the caller has entered. */
static int put_batch_held(obol_store *st, const obol_driver_record *records,
                          const uint64_t *expected_locks, size_t count,
                          int64_t now, int *statuses, obol_error *err)
{
    const obol_driver *d = st->driver;
    int status;

    for (size_t i = 0; i < count; i++)
        statuses[i] = OBOL_ERR_DRIVER;
    if (OBOL_DRIVER_HAS_SLOT(d, put_batch, 1))
        status = d->put_batch(st->handle, records, expected_locks, count, now,
                              statuses, err);
    else
        status = put_one_by_one(st, records, expected_locks, count, now,
                                statuses, err);
    if (status == OBOL_OK)
        status = check_statuses(st, statuses, count, err);
    return status;
}

int obol_store_put_batch(obol_store *st, const obol_driver_record *records,
                         const uint64_t *expected_locks, size_t count,
                         int64_t now, int *statuses, obol_error *err)
{
    int status;

    if (count == 0)
        return OBOL_OK;
    obol_store_driver_enter(st);
    status = put_batch_held(st, records, expected_locks, count, now, statuses,
                            err);
    obol_store_driver_leave(st);
    return status;
}

int obol_store_put_batch_entered(obol_store *st,
                                 const obol_driver_record *records,
                                 const uint64_t *expected_locks, size_t count,
                                 int64_t now, int *statuses, obol_error *err)
{
    if (count == 0)
        return OBOL_OK;
    __atomic_add_fetch(&st->driver_calls, 1, __ATOMIC_RELAXED);
    return put_batch_held(st, records, expected_locks, count, now, statuses,
                          err);
}

int obol_store_begin_write(obol_store *st, const char *op,
                           const obol_session *s, obol_driver_key *key,
                           int64_t *now, obol_error *err)
{
    int status = obol_store_prepare(st, op, s ? s->id : NULL, 1,
                                    s ? s->user_id : NULL, s ? s->type : NULL,
                                    key, err);

    if (status == OBOL_OK)
        status = check_session(st, op, s, err);
    if (status != OBOL_OK)
        return status;
    *now = obol_store_now(st);
    if (s->refresh_expires_at < *now) {
        /* Writing a dead session could only resurrect or leak it. */
        obol_store_log(st, OBOL_LOG_DEBUG, "obol: %s of an expired session "
                       "writes nothing", op);
        return OBOL_NOT_FOUND;
    }
    return OBOL_OK;
}

int obol_upsert(obol_store *st, obol_session *s, obol_error *err)
{
    uint64_t started = obol_stats_start(st);

    return obol_stats_finish(st, OBOL_OP_UPSERT, started,
                             obol_store_upsert(st, s, err));
}

int obol_store_upsert_begin(obol_store *st, const obol_session *s,
                            obol_driver_key *key, int64_t *now,
                            obol_error *err)
{
    int status = obol_store_begin_write(st, "upsert", s, key, now, err);

    if (status == OBOL_NOT_FOUND) {
        /* Succeeds, and says so: the message of an OBOL_OK. */
        obol_set_error(err, OBOL_OK, "upsert: nothing written: the session "
                       "is no longer live (refresh_expires_at %lld is before "
                       "now, %lld)", (long long)s->refresh_expires_at,
                       (long long)*now);
        return OBOL_NOT_FOUND;
    }
    return status;
}

int obol_store_upsert_end(obol_session *s, int status, obol_error *err)
{
    if (status == OBOL_OK)
        s->lock_version++;
    else if (status == OBOL_CONFLICT)
        obol_set_error(err, OBOL_CONFLICT,
                       "upsert: lock_version %llu is stale or the session "
                       "is gone", (unsigned long long)s->lock_version);
    return status;
}

int obol_store_upsert(obol_store *st, obol_session *s, obol_error *err)
{
    obol_error local;
    obol_driver_key key;
    int64_t now;
    int status;

    if (err == NULL)
        err = &local;
    status = obol_store_upsert_begin(st, s, &key, &now, err);
    if (status == OBOL_NOT_FOUND)
        return OBOL_OK;
    if (status != OBOL_OK)
        return status;
    status = obol_store_write(st, &key, s, s->lock_version + 1,
                              s->lock_version, now, err);
    return obol_store_upsert_end(s, status, err);
}

/* ------------------------------------------------------------- counts */

/* How the *_counted calls count (obol.h, "Counts"): with the driver's
 * counted slot (ABI 1.5) when it has one, where the removal counts what it
 * removes, exactly and with no extra call; else the old way, just before
 * the removal, with the driver's own get, list or scan, which a concurrent
 * writer can make wrong. Nothing is verified or decoded either way: a
 * record is counted whatever it holds, as the removal removes it whatever
 * it holds. An uncounted call (removed NULL) calls the uncounted slot, as
 * it always did. */

static int count_record(void *arg, const obol_driver_record *record)
{
    (void)record;
    ++*(uint64_t *)arg;
    return OBOL_OK;
}

/* 1 in *count when the backend holds a record at key, else 0. */
static int count_held(obol_store *st, const obol_driver_key *key,
                      uint64_t *count, obol_error *err)
{
    uint8_t *bytes = NULL;
    size_t len = 0;
    int status;

    obol_store_driver_enter(st);
    status = st->driver->get(st->handle, key, &bytes, &len, err);
    obol_store_driver_leave(st);
    free(bytes);
    *count = status == OBOL_OK;
    if (status == OBOL_NOT_FOUND) {
        obol_clear_error(err);
        status = OBOL_OK;
    }
    return status;
}

/* How many records the backend holds for key's user and type. */
static int count_user(obol_store *st, const obol_driver_key *key,
                      uint64_t *count, obol_error *err)
{
    int status;

    *count = 0;
    obol_store_driver_enter(st);
    status = st->driver->list(st->handle, key, count_record, count, err);
    obol_store_driver_leave(st);
    return status;
}

typedef struct expired_count {
    int64_t now;
    uint64_t count;
} expired_count;

/* The records prune(now) removes: expires_at before now (driver.h). */
static int count_expired(void *arg, const obol_driver_record *record)
{
    expired_count *c = arg;

    c->count += record->expires_at < c->now;
    return OBOL_OK;
}

/* A removal of the records at key, and what counts them. */
typedef int (*counted_removal)(void *handle, const obol_driver_key *key,
                               uint64_t *removed, obol_error *err);
typedef int (*plain_removal)(void *handle, const obol_driver_key *key,
                             obol_error *err);
typedef int (*held_counter)(obol_store *st, const obol_driver_key *key,
                            uint64_t *count, obol_error *err);

/* The removal at key, counted into *removed unless removed is NULL: by
 * the driver's counted slot when it has one (counted not NULL), else by
 * count_first just before the plain slot. */
static int remove_keyed(obol_store *st, const obol_driver_key *key,
                        counted_removal counted, held_counter count_first,
                        plain_removal plain, uint64_t *removed,
                        obol_error *err)
{
    uint64_t count = 0;
    int status = OBOL_OK;

    if (removed != NULL && counted != NULL) {
        obol_store_driver_enter(st);
        status = counted(st->handle, key, &count, err);
        obol_store_driver_leave(st);
    } else {
        if (removed != NULL)
            status = count_first(st, key, &count, err);
        if (status != OBOL_OK)
            return status;
        obol_store_driver_enter(st);
        status = plain(st->handle, key, err);
        obol_store_driver_leave(st);
    }
    if (status == OBOL_OK && removed != NULL)
        *removed = count;
    return status;
}

/* del of key, counted into *removed unless removed is NULL. */
static int remove_session(obol_store *st, const obol_driver_key *key,
                          uint64_t *removed, obol_error *err)
{
    const obol_driver *d = st->driver;

    return remove_keyed(st, key,
                        OBOL_DRIVER_HAS_SLOT(d, del_counted, 5)
                            ? d->del_counted : NULL,
                        count_held, d->del, removed, err);
}

int obol_store_remove_user(obol_store *st, const obol_driver_key *key,
                           uint64_t *removed, obol_error *err)
{
    const obol_driver *d = st->driver;

    return remove_keyed(st, key,
                        OBOL_DRIVER_HAS_SLOT(d, del_all_counted, 5)
                            ? d->del_all_counted : NULL,
                        count_user, d->del_all, removed, err);
}

/* prune(now), counted into *removed unless removed is NULL. The fallback
 * counts with the very now the prune then uses: both mean the same
 * records. */
static int remove_expired(obol_store *st, int64_t now, uint64_t *removed,
                          obol_error *err)
{
    const obol_driver *d = st->driver;
    expired_count expired = { now, 0 };
    int status = OBOL_OK;

    if (removed != NULL && OBOL_DRIVER_HAS_SLOT(d, prune_counted, 5)) {
        obol_store_driver_enter(st);
        status = d->prune_counted(st->handle, now, &expired.count, err);
        obol_store_driver_leave(st);
    } else {
        if (removed != NULL) {
            obol_store_driver_enter(st);
            status = d->scan(st->handle, count_expired, &expired, err);
            obol_store_driver_leave(st);
        }
        if (status != OBOL_OK)
            return status;
        obol_store_driver_enter(st);
        status = d->prune(st->handle, now, err);
        obol_store_driver_leave(st);
    }
    if (status == OBOL_OK && removed != NULL)
        *removed = expired.count;
    return status;
}

int obol_store_delete_counted(obol_store *st, const char *sid,
                              const char *uid, const char *type,
                              uint64_t *removed, obol_error *err)
{
    obol_error local;
    obol_driver_key key;
    int status;

    if (err == NULL)
        err = &local;
    if (removed != NULL)
        *removed = 0;
    status = obol_store_prepare(st, "delete", sid, 1, uid, type, &key, err);
    if (status != OBOL_OK)
        return status;
    return remove_session(st, &key, removed, err);
}

int obol_delete(obol_store *st, const char *sid, const char *uid,
                const char *type, obol_error *err)
{
    return obol_delete_counted(st, sid, uid, type, NULL, err);
}

int obol_delete_counted(obol_store *st, const char *sid, const char *uid,
                        const char *type, uint64_t *removed, obol_error *err)
{
    uint64_t started = obol_stats_start(st);

    return obol_stats_finish(st, OBOL_OP_DELETE, started,
                             obol_store_delete_counted(st, sid, uid, type,
                                                       removed, err));
}

int obol_store_delete(obol_store *st, const char *sid, const char *uid,
                      const char *type, obol_error *err)
{
    return obol_store_delete_counted(st, sid, uid, type, NULL, err);
}

void obol_store_collector_init(obol_store_collector *c, obol_store *st,
                               obol_error *err)
{
    *c = (obol_store_collector){ .st = st, .err = err };
}

int obol_store_collect(void *arg, const obol_driver_record *record)
{
    obol_store_collector *c = arg;
    obol_session *s;
    int status;

    if (!c->timed) {
        c->now = obol_store_now(c->st);
        c->timed = 1;
    }
    status = obol_record_open_at(c->st, &record->key, record->sealed.data,
                                 record->sealed.len, c->now, &s, c->err);
    if (status == OBOL_NOT_FOUND || status == OBOL_ERR_CORRUPT)
        return OBOL_OK;   /* expired, or refused and logged: skip it */
    if (status != OBOL_OK)
        return status;
    if (c->count == c->capacity) {
        size_t capacity = c->capacity ? c->capacity * 2 : 8;
        obol_session **bigger = realloc(c->items, capacity * sizeof *bigger);
        if (bigger == NULL) {
            obol_session_free(s);
            return obol_set_error(c->err, OBOL_ERR_NOMEM,
                                  "get_all: out of memory");
        }
        c->items = bigger;
        c->capacity = capacity;
    }
    c->items[c->count++] = s;
    return OBOL_OK;
}

int obol_store_get_all(obol_store *st, const char *uid, const char *type,
                       obol_session ***out, size_t *count, obol_error *err)
{
    obol_error local;
    obol_driver_key key;
    obol_store_collector c;
    int status;

    if (err == NULL)
        err = &local;
    if (out == NULL || count == NULL)
        return obol_set_error(err, OBOL_ERR_INVALID,
                              "get_all: out and count must not be NULL");
    *out = NULL;
    *count = 0;
    status = obol_store_prepare(st, "get_all", NULL, 0, uid, type, &key, err);
    if (status != OBOL_OK)
        return status;
    obol_store_collector_init(&c, st, err);
    obol_store_driver_enter(st);
    status = st->driver->list(st->handle, &key, obol_store_collect, &c, err);
    obol_store_driver_leave(st);
    return obol_store_collected(&c, status, out, count, err);
}

int obol_store_collected(obol_store_collector *c, int status,
                         obol_session ***out, size_t *count, obol_error *err)
{
    if (status != OBOL_OK) {
        obol_sessions_free(c->items, c->count);
        return status;
    }
    obol_clear_error(err);
    *out = c->items;
    *count = c->count;
    return OBOL_OK;
}

int obol_get_all(obol_store *st, const char *uid, const char *type,
                 obol_session ***out, size_t *count, obol_error *err)
{
    uint64_t started = obol_stats_start(st);

    return obol_stats_finish(st, OBOL_OP_GET_ALL, started,
                             obol_store_get_all(st, uid, type, out, count,
                                                err));
}

int obol_store_delete_all_counted(obol_store *st, const char *uid,
                                  const char *type, uint64_t *removed,
                                  obol_error *err)
{
    obol_error local;
    obol_driver_key key;
    int status;

    if (err == NULL)
        err = &local;
    if (removed != NULL)
        *removed = 0;
    status = obol_store_prepare(st, "delete_all", NULL, 0, uid, type, &key, err);
    if (status != OBOL_OK)
        return status;
    return obol_store_remove_user(st, &key, removed, err);
}

int obol_delete_all_counted(obol_store *st, const char *uid, const char *type,
                            uint64_t *removed, obol_error *err)
{
    uint64_t started = obol_stats_start(st);

    return obol_stats_finish(st, OBOL_OP_DELETE_ALL, started,
                             obol_store_delete_all_counted(st, uid, type,
                                                           removed, err));
}

int obol_delete_all(obol_store *st, const char *uid, const char *type,
                    obol_error *err)
{
    return obol_delete_all_counted(st, uid, type, NULL, err);
}

static int prune_counted(obol_store *st, uint64_t *removed, obol_error *err)
{
    obol_error local;

    if (err == NULL)
        err = &local;
    if (removed != NULL)
        *removed = 0;
    if (st == NULL)
        return obol_set_error(err, OBOL_ERR_INVALID, "prune: store is NULL");
    return remove_expired(st, obol_store_now(st), removed, err);
}

int obol_prune_counted(obol_store *st, uint64_t *removed, obol_error *err)
{
    uint64_t started = obol_stats_start(st);

    return obol_stats_finish(st, OBOL_OP_PRUNE, started,
                             prune_counted(st, removed, err));
}

int obol_prune(obol_store *st, obol_error *err)
{
    return obol_prune_counted(st, NULL, err);
}

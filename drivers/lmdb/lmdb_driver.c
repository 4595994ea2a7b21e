/*
 * The LMDB driver: the driver table and its operations. Key encoding is in
 * lmdb_keys.c, shared environments and map growth in lmdb_env.c, range
 * walks in lmdb_walk.c, the config string in lmdb_options.c.
 */
#define _POSIX_C_SOURCE 200809L

#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <lmdb.h>

#include "lmdb_env.h"
#include "lmdb_internal.h"
#include "lmdb_keys.h"
#include "lmdb_options.h"
#include "lmdb_walk.h"

/* prune() deletes at most this many records per write transaction, so
 * that other writers are not shut out for long. */
#define PRUNE_BATCH 1024

OBOL_DRIVER_EXPORT(lmdb);

typedef struct lmdb_store {
    /* Replaced once in a forked child by that child's own environment. */
    _Atomic(lmdb_env *) env;
    char *dir;                  /* as configured, to reopen after fork() */
    lmdb_env_settings settings;
    obol_bytes prefix;          /* points into prefix_copy */
    uint8_t *prefix_copy;
    size_t max_record;          /* config->max_record; 0: no limit */
} lmdb_store;

/* ------------------------------------------------------------ handles */

static void store_free(lmdb_store *st)
{
    free(st->dir);
    free(st->prefix_copy);
    free(st);
}

static int store_new(const obol_driver_config *config, const char *dir,
                     const lmdb_env_settings *settings, lmdb_store **out,
                     obol_error *err)
{
    lmdb_store *st = calloc(1, sizeof *st);
    if (st == NULL)
        return lmdb_fail(err, OBOL_ERR_NOMEM, "lmdb: out of memory");
    st->dir = strdup(dir);
    st->prefix_copy = malloc(config->prefix.len);
    if (st->dir == NULL || st->prefix_copy == NULL) {
        store_free(st);
        return lmdb_fail(err, OBOL_ERR_NOMEM, "lmdb: out of memory");
    }
    memcpy(st->prefix_copy, config->prefix.data, config->prefix.len);
    st->prefix.data = st->prefix_copy;
    st->prefix.len = config->prefix.len;
    st->settings = *settings;
    st->max_record = lmdb_max_record_of(config);
    *out = st;
    return OBOL_OK;
}

/*
 * The environment this process may use for st. A handle carried into a
 * forked child still points at the parent's environment, which the child
 * must not touch: the first call in the child opens the child's own and
 * swaps it in (a racing thread that loses the swap gives its copy back).
 */
static int store_env(lmdb_store *st, lmdb_env **out, obol_error *err)
{
    lmdb_env *current = atomic_load(&st->env);
    if (lmdb_env_is_ours(current)) {
        *out = current;
        return OBOL_OK;
    }
    lmdb_env *fresh;
    int status = lmdb_env_acquire(st->dir, &st->settings, &fresh, err);
    if (status != OBOL_OK)
        return status;
    if (atomic_compare_exchange_strong(&st->env, &current, fresh)) {
        *out = fresh;
    } else {
        lmdb_env_release(fresh);
        *out = current;
    }
    return OBOL_OK;
}

static int check_config(const obol_driver_config *config, obol_error *err)
{
    size_t needed = offsetof(obol_driver_config, prefix) + sizeof(obol_bytes);
    if (config == NULL || config->struct_size < needed)
        return lmdb_fail(err, OBOL_ERR_INVALID,
                         "lmdb: the core passed a config of an older ABI");
    if (config->prefix.len == 0)
        return lmdb_fail(err, OBOL_ERR_INVALID, "lmdb: empty store prefix");
    return OBOL_OK;
}

static int lmdb_open(const obol_driver_config *config, void **handle,
                     obol_error *err)
{
    int status = check_config(config, err);
    const char *dir = NULL;
    lmdb_env_settings settings;
    if (status == OBOL_OK)
        status = lmdb_options_parse(config, &dir, &settings, err);
    lmdb_store *st = NULL;
    if (status == OBOL_OK)
        status = store_new(config, dir, &settings, &st, err);
    if (status != OBOL_OK)
        return status;
    lmdb_env *env;
    status = lmdb_env_acquire(dir, &settings, &env, err);
    if (status != OBOL_OK) {
        store_free(st);
        return status;
    }
    atomic_init(&st->env, env);
    *handle = st;
    return OBOL_OK;
}

static void lmdb_close(void *handle)
{
    lmdb_store *st = handle;
    if (st == NULL)
        return;
    /* In a forked child that never used st this is the parent's
     * environment, which release leaves alone. */
    lmdb_env_release(atomic_load(&st->env));
    store_free(st);
}

/* Longest session key we accept: its expiry index key, 8 bytes longer,
 * must still fit in an LMDB key. */
static size_t session_key_limit(const lmdb_env_view *view)
{
    return view->max_key - LMDB_EXPIRY_STAMP_SIZE;
}

static int key_too_large(const lmdb_store *st, const lmdb_env_view *view,
                         const obol_driver_key *where, obol_error *err)
{
    return lmdb_fail(err, OBOL_ERR_TOO_LARGE,
                     "lmdb: prefix, user id, type and session id take %zu "
                     "bytes together; at most %zu fit in an LMDB key",
                     st->prefix.len + where->user_id.len + where->type.len
                         + where->id.len,
                     session_key_limit(view) - 8);
}

/*
 * The start of every operation: the environment this process may use, and
 * a zeroed block of args_size bytes for the operation's keys (kilobytes
 * each, kept off the stack of the caller's thread). NULL with *status set
 * on failure; free() the block afterwards.
 */
static void *op_begin(lmdb_store *st, size_t args_size, lmdb_env **env,
                      int *status, obol_error *err)
{
    *status = store_env(st, env, err);
    if (*status != OBOL_OK)
        return NULL;
    void *args = calloc(1, args_size);
    if (args == NULL)
        *status = lmdb_fail(err, OBOL_ERR_NOMEM, "lmdb: out of memory");
    return args;
}

/* ---------------------------------------------------------------- get */

typedef struct get_args {
    lmdb_key key;
    size_t max_record;
    /* get(): the copy handed over */
    uint8_t *sealed;
    size_t sealed_len;
    /* view(): whom to show the record, in place */
    obol_driver_show show;
    void *show_arg;
} get_args;

/* The sealed bytes of a's record in t, where they lie. */
static int find_record(lmdb_txn *t, get_args *a, const uint8_t **sealed,
                       size_t *sealed_len)
{
    MDB_val key = { a->key.len, a->key.bytes }, value;
    int rc = mdb_get(t->txn, t->view->sessions, &key, &value);
    if (rc == MDB_NOTFOUND)
        return OBOL_NOT_FOUND;
    if (rc != 0)
        return lmdb_txn_mdb_fail(t, "mdb_get", rc);
    int64_t expires_at;
    uint64_t lock_version;
    if (lmdb_value_header_decode(value.mv_data, value.mv_size, &expires_at,
                                 &lock_version) != 0)
        return lmdb_fail(t->err, OBOL_ERR_CORRUPT,
                         "lmdb: malformed record in %s", t->view->path);
    *sealed = (const uint8_t *)value.mv_data + LMDB_VALUE_HEADER_SIZE;
    *sealed_len = value.mv_size - LMDB_VALUE_HEADER_SIZE;
    return OBOL_OK;
}

static int copy_body(lmdb_txn *t, void *arg)
{
    get_args *a = arg;
    const uint8_t *found;
    int status = find_record(t, a, &found, &a->sealed_len);
    if (status != OBOL_OK)
        return status;
    if (lmdb_too_long(a->max_record, a->sealed_len))
        return OBOL_OK;         /* refused by the core: never copied */
    /* alloc(0) may return NULL; ask for at least one byte. */
    a->sealed = lmdb_host->alloc(a->sealed_len > 0 ? a->sealed_len : 1);
    if (a->sealed == NULL)
        return lmdb_fail(t->err, OBOL_ERR_NOMEM, "lmdb: out of memory");
    memcpy(a->sealed, found, a->sealed_len);
    return OBOL_OK;
}

/* Shown inside the read transaction: the core only verifies and decodes,
 * and calls nothing of ours. */
static int show_body(lmdb_txn *t, void *arg)
{
    get_args *a = arg;
    const uint8_t *found;
    size_t len;
    int status = find_record(t, a, &found, &len);
    if (status == OBOL_OK)
        a->show(a->show_arg, found, len);
    return status;
}

/* Looks the record of where up with body. Expired records are found too:
 * the core decides liveness. */
static int lookup(lmdb_store *st, const obol_driver_key *where,
                  lmdb_txn_body body, get_args *a, obol_error *err)
{
    lmdb_env *env;
    int status = store_env(st, &env, err);
    if (status != OBOL_OK)
        return status;
    const lmdb_env_view *view = lmdb_env_get_view(env);
    a->max_record = st->max_record;
    /* A key too long to store cannot have been stored. */
    if (lmdb_key_session(&a->key, session_key_limit(view), st->prefix,
                         where) != 0)
        return OBOL_NOT_FOUND;
    return lmdb_env_run(env, 0, body, a, err);
}

static int lmdb_get(void *handle, const obol_driver_key *where,
                    uint8_t **sealed, size_t *sealed_len, obol_error *err)
{
    /* On the stack, unlike the other operations' keys (op_begin()): one
     * key is 2 KiB, and a block that size from the heap is past glibc's
     * per-thread cache, which on the hottest call cost more than the
     * read itself (docs/BENCHMARKS.md, "The read path"). */
    get_args a;
    a.sealed = NULL;
    a.sealed_len = 0;
    int status = lookup(handle, where, copy_body, &a, err);
    if (status == OBOL_OK) {
        *sealed = a.sealed;
        *sealed_len = a.sealed_len;
    }
    return status;
}

static int lmdb_view(void *handle, const obol_driver_key *where,
                     obol_driver_show show, void *arg, obol_error *err)
{
    get_args a;   /* on the stack, as in lmdb_get() */
    a.show = show;
    a.show_arg = arg;
    return lookup(handle, where, show_body, &a, err);
}

/* --------------------------------------------------------- put and del */

typedef struct put_args {
    lmdb_key key;
    lmdb_key expiry_key;
    const obol_driver_record *record;
    uint64_t expected_lock;
    int64_t now;
} put_args;

/* Removes the expiry index entry of a stored session; a missing entry is
 * fine (there is nothing to keep in step). */
static int drop_expiry_entry(lmdb_txn *t, const lmdb_key *key,
                             int64_t expires_at)
{
    lmdb_key expiry_key;
    if (lmdb_key_expiry(&expiry_key, LMDB_KEY_CAPACITY, expires_at,
                        key->bytes, key->len) != 0)
        return OBOL_OK;
    MDB_val k = { expiry_key.len, expiry_key.bytes };
    int rc = mdb_del(t->txn, t->view->expiry, &k, NULL);
    if (rc != 0 && rc != MDB_NOTFOUND)
        return lmdb_txn_mdb_fail(t, "mdb_del", rc);
    return OBOL_OK;
}

/* Reads the stored header of key: OBOL_OK, OBOL_NOT_FOUND or an error. */
static int read_header(lmdb_txn *t, const lmdb_key *key, int64_t *expires_at,
                       uint64_t *lock_version)
{
    MDB_val k = { key->len, (void *)key->bytes }, value;
    int rc = mdb_get(t->txn, t->view->sessions, &k, &value);
    if (rc == MDB_NOTFOUND)
        return OBOL_NOT_FOUND;
    if (rc != 0)
        return lmdb_txn_mdb_fail(t, "mdb_get", rc);
    if (lmdb_value_header_decode(value.mv_data, value.mv_size, expires_at,
                                 lock_version) != 0)
        return lmdb_fail(t->err, OBOL_ERR_CORRUPT,
                         "lmdb: malformed record in %s", t->view->path);
    return OBOL_OK;
}

static int write_record(lmdb_txn *t, const put_args *a)
{
    const obol_driver_record *record = a->record;
    MDB_val k = { a->key.len, (void *)a->key.bytes };
    MDB_val value = { LMDB_VALUE_HEADER_SIZE + record->sealed.len, NULL };
    /* MDB_RESERVE: LMDB hands back the space and we fill it in place. */
    int rc = mdb_put(t->txn, t->view->sessions, &k, &value, MDB_RESERVE);
    if (rc != 0)
        return lmdb_txn_mdb_fail(t, "mdb_put", rc);
    uint8_t *out = value.mv_data;
    lmdb_value_header_encode(out, record->expires_at, record->lock_version);
    if (record->sealed.len > 0)
        memcpy(out + LMDB_VALUE_HEADER_SIZE, record->sealed.data,
               record->sealed.len);
    MDB_val expiry_key = { a->expiry_key.len, (void *)a->expiry_key.bytes };
    MDB_val empty = { 0, NULL };
    rc = mdb_put(t->txn, t->view->expiry, &expiry_key, &empty, 0);
    if (rc != 0)
        return lmdb_txn_mdb_fail(t, "mdb_put", rc);
    return OBOL_OK;
}

/* The compare-and-set: read the stored lock, compare, write. One write
 * transaction, so no other writer, thread or process, can come between. */
static int put_body(lmdb_txn *t, void *arg)
{
    put_args *a = arg;
    int64_t stored_expires_at = 0;
    uint64_t stored_lock = 0;
    int status = read_header(t, &a->key, &stored_expires_at, &stored_lock);
    if (status < 0)
        return status;
    int exists = status == OBOL_OK;
    /* A dead record is as good as none: its lock version counts as 0. */
    uint64_t current_lock = exists && stored_expires_at >= a->now
                                ? stored_lock : 0;
    if (current_lock != a->expected_lock)
        return OBOL_CONFLICT;
    if (exists) {
        status = drop_expiry_entry(t, &a->key, stored_expires_at);
        if (status != OBOL_OK)
            return status;
    }
    return write_record(t, a);
}

/* Fills a for one compare-and-set of record: OBOL_OK, or
 * OBOL_ERR_TOO_LARGE when its keys do not fit. */
static int put_args_set(put_args *a, const lmdb_store *st,
                        const lmdb_env_view *view,
                        const obol_driver_record *record,
                        uint64_t expected_lock, int64_t now, obol_error *err)
{
    a->record = record;
    a->expected_lock = expected_lock;
    a->now = now;
    if (lmdb_key_session(&a->key, session_key_limit(view), st->prefix,
                         &record->key) != 0
        || lmdb_key_expiry(&a->expiry_key, view->max_key, record->expires_at,
                           a->key.bytes, a->key.len) != 0)
        return key_too_large(st, view, &record->key, err);
    return OBOL_OK;
}

static int lmdb_put(void *handle, const obol_driver_record *record,
                    uint64_t expected_lock, int64_t now, obol_error *err)
{
    lmdb_store *st = handle;
    lmdb_env *env;
    int status;
    put_args *a = op_begin(st, sizeof *a, &env, &status, err);
    if (a == NULL)
        return status;
    status = put_args_set(a, st, lmdb_env_get_view(env), record,
                          expected_lock, now, err);
    if (status == OBOL_OK)
        status = lmdb_env_run(env, 1, put_body, a, err);
    free(a);
    return status;
}

/* The shape check of ABI 1.2: the keys put() would build, built by the
 * same put_args_set(), so the two can never disagree on what fits. */
static int lmdb_check(void *handle, const obol_driver_record *record,
                      obol_error *err)
{
    lmdb_store *st = handle;
    lmdb_env *env;
    int status;
    put_args *a = op_begin(st, sizeof *a, &env, &status, err);
    if (a == NULL)
        return status;
    status = put_args_set(a, st, lmdb_env_get_view(env), record, 0, 0, err);
    free(a);
    return status;
}

typedef struct put_batch_args {
    const lmdb_store *st;
    const obol_driver_record *records;
    const uint64_t *expected_locks;
    size_t count;
    int64_t now;
    int *statuses;
    put_args one;               /* the record being decided */
} put_batch_args;

/* Every record's compare-and-set in one write transaction: one commit,
 * one flush, for the whole batch, and none of it written if any record
 * fails (a conflict is not a failure). */
static int put_batch_body(lmdb_txn *t, void *arg)
{
    put_batch_args *a = arg;
    for (size_t i = 0; i < a->count; i++) {
        int status = put_args_set(&a->one, a->st, t->view, &a->records[i],
                                  a->expected_locks[i], a->now, t->err);
        if (status == OBOL_OK)
            status = put_body(t, &a->one);
        if (status != OBOL_OK && status != OBOL_CONFLICT)
            return status;
        a->statuses[i] = status;
    }
    return OBOL_OK;
}

static int lmdb_put_batch(void *handle, const obol_driver_record *records,
                          const uint64_t *expected_locks, size_t count,
                          int64_t now, int *statuses, obol_error *err)
{
    lmdb_store *st = handle;
    lmdb_env *env;
    int status;
    if (count == 0)
        return OBOL_OK;
    put_batch_args *a = op_begin(st, sizeof *a, &env, &status, err);
    if (a == NULL)
        return status;
    *a = (put_batch_args){ .st = st, .records = records,
                           .expected_locks = expected_locks, .count = count,
                           .now = now, .statuses = statuses };
    status = lmdb_env_run(env, 1, put_batch_body, a, err);
    free(a);
    return status;
}

/* Deletes the session at key and its expiry entry: OBOL_OK, or
 * OBOL_NOT_FOUND when there is none (an answer for the count, never one
 * for a body to return: that would abort its transaction). */
static int delete_session(lmdb_txn *t, const lmdb_key *key)
{
    int64_t expires_at;
    uint64_t lock_version;
    int status = read_header(t, key, &expires_at, &lock_version);
    if (status != OBOL_OK)
        return status;
    status = drop_expiry_entry(t, key, expires_at);
    if (status != OBOL_OK)
        return status;
    MDB_val k = { key->len, (void *)key->bytes };
    int rc = mdb_del(t->txn, t->view->sessions, &k, NULL);
    if (rc != 0 && rc != MDB_NOTFOUND)
        return lmdb_txn_mdb_fail(t, "mdb_del", rc);
    return OBOL_OK;
}

/* What a removal counted, as its transaction saw it: a body may run
 * more than once (the map grew), so it sets the count, never adds to one
 * kept from an attempt that was aborted. */
typedef struct del_args {
    lmdb_key key;
    uint64_t removed;
} del_args;

static int del_body(lmdb_txn *t, void *arg)
{
    del_args *a = arg;
    int status = delete_session(t, &a->key);
    a->removed = status == OBOL_OK;
    return status == OBOL_NOT_FOUND ? OBOL_OK : status;
}

/* Each removal is written once, counting in its write transaction (ABI
 * 1.5); the uncounted slots call it and drop the count. */
static int lmdb_del_counted(void *handle, const obol_driver_key *where,
                            uint64_t *removed, obol_error *err)
{
    lmdb_store *st = handle;
    lmdb_env *env;
    int status;
    del_args *a = op_begin(st, sizeof *a, &env, &status, err);
    if (a == NULL)
        return status;
    const lmdb_env_view *view = lmdb_env_get_view(env);
    if (lmdb_key_session(&a->key, session_key_limit(view), st->prefix,
                         where) != 0)
        status = OBOL_OK; /* never stored, so nothing to delete */
    else
        status = lmdb_env_run(env, 1, del_body, a, err);
    *removed = a->removed;
    free(a);
    return status;
}

static int lmdb_del(void *handle, const obol_driver_key *where,
                    obol_error *err)
{
    uint64_t removed;
    return lmdb_del_counted(handle, where, &removed, err);
}

/* ------------------------------------------------ list, scan, del_all */

/* The key range of one user and type (where), or of the whole prefix
 * (where NULL); -1 when no key of it fits, so that none can be stored. */
static int session_range(const lmdb_store *st, const lmdb_env_view *view,
                         const obol_driver_key *where, lmdb_key *range)
{
    if (where == NULL)
        return lmdb_key_prefix(range, session_key_limit(view), st->prefix);
    return lmdb_key_user(range, session_key_limit(view), st->prefix, where);
}

/* Visits the sessions of session_range(where). */
static int walk_sessions(lmdb_store *st, const obol_driver_key *where,
                         obol_driver_visit visit, void *arg, obol_error *err)
{
    lmdb_env *env;
    int status;
    lmdb_key *range = op_begin(st, sizeof *range, &env, &status, err);
    if (range == NULL)
        return status;
    if (session_range(st, lmdb_env_get_view(env), where, range) == 0)
        status = lmdb_walk_range(env, range->bytes, range->len,
                                 st->max_record, visit, arg, err);
    free(range);
    return status;
}

static int lmdb_list(void *handle, const obol_driver_key *where,
                     obol_driver_visit visit, void *arg, obol_error *err)
{
    return walk_sessions(handle, where, visit, arg, err);
}

static int lmdb_scan(void *handle, obol_driver_visit visit, void *arg,
                     obol_error *err)
{
    return walk_sessions(handle, NULL, visit, arg, err);
}

/* Every prefix in the environment, whichever store wrote it: the keys
 * begin with the prefix, so this is a seek per prefix, never a walk. */
static int lmdb_prefixes(void *handle, obol_driver_prefix_visit visit,
                         void *arg, int *complete, obol_error *err)
{
    lmdb_env *env;
    int status = store_env(handle, &env, err);
    *complete = 0;
    if (status == OBOL_OK)
        status = lmdb_walk_prefixes(env, visit, arg, err);
    if (status == OBOL_OK)
        *complete = 1;
    return status;
}

/* Finds the first session key in range; OBOL_NOT_FOUND when none is left.
 * The key is copied out because deleting moves the pages it lives in. */
static int first_in_range(lmdb_txn *t, const lmdb_key *range, lmdb_key *out)
{
    MDB_cursor *cursor;
    int rc = mdb_cursor_open(t->txn, t->view->sessions, &cursor);
    if (rc != 0)
        return lmdb_txn_mdb_fail(t, "mdb_cursor_open", rc);
    MDB_val key = { range->len, (void *)range->bytes }, value;
    rc = mdb_cursor_get(cursor, &key, &value, MDB_SET_RANGE);
    int status = OBOL_NOT_FOUND;
    if (rc == 0 && lmdb_key_in_range(key.mv_data, key.mv_size, range->bytes,
                                     range->len)
        && key.mv_size <= LMDB_KEY_CAPACITY) {
        memcpy(out->bytes, key.mv_data, key.mv_size);
        out->len = key.mv_size;
        status = OBOL_OK;
    } else if (rc != 0 && rc != MDB_NOTFOUND) {
        status = lmdb_txn_mdb_fail(t, "mdb_cursor_get", rc);
    }
    mdb_cursor_close(cursor);
    return status;
}

typedef struct del_all_args {
    lmdb_key range;
    lmdb_key key;
    uint64_t removed;   /* by this attempt of the body */
} del_all_args;

/* All of one user's sessions of one type go in one transaction: a
 * delete_all is seen whole or not at all, and so is its count. */
static int del_all_body(lmdb_txn *t, void *arg)
{
    del_all_args *a = arg;
    a->removed = 0;
    for (;;) {
        int status = first_in_range(t, &a->range, &a->key);
        if (status == OBOL_NOT_FOUND)
            return OBOL_OK;
        if (status == OBOL_OK)
            status = delete_session(t, &a->key);
        if (status != OBOL_OK)
            return status;  /* not NOT_FOUND: first_in_range just saw it */
        a->removed++;
    }
}

static int lmdb_del_all_counted(void *handle, const obol_driver_key *where,
                                uint64_t *removed, obol_error *err)
{
    lmdb_store *st = handle;
    lmdb_env *env;
    int status;
    del_all_args *a = op_begin(st, sizeof *a, &env, &status, err);
    if (a == NULL)
        return status;
    if (session_range(st, lmdb_env_get_view(env), where, &a->range) == 0)
        status = lmdb_env_run(env, 1, del_all_body, a, err);
    *removed = a->removed;
    free(a);
    return status;
}

static int lmdb_del_all(void *handle, const obol_driver_key *where,
                        obol_error *err)
{
    uint64_t removed;
    return lmdb_del_all_counted(handle, where, &removed, err);
}

/* -------------------------------------------------------------- prune */

typedef struct prune_args {
    int64_t now;
    int done;
    lmdb_key expiry_key;
    lmdb_key mine;      /* the range of this store's prefix ... */
    int counts_mine;    /* ... if any key of it fits (session_range()) */
    uint64_t batch_removed; /* of mine, by this attempt of the body */
    uint64_t removed;   /* of mine, by the batches committed */
} prune_args;

/* The oldest expiry entry, if it is before now: OBOL_OK, or OBOL_NOT_FOUND
 * when nothing (more) has expired. */
static int first_expired(lmdb_txn *t, int64_t now, lmdb_key *out)
{
    MDB_cursor *cursor;
    int rc = mdb_cursor_open(t->txn, t->view->expiry, &cursor);
    if (rc != 0)
        return lmdb_txn_mdb_fail(t, "mdb_cursor_open", rc);
    MDB_val key, value;
    rc = mdb_cursor_get(cursor, &key, &value, MDB_FIRST);
    int status = OBOL_NOT_FOUND;
    if (rc == 0 && key.mv_size >= LMDB_EXPIRY_STAMP_SIZE
        && key.mv_size <= LMDB_KEY_CAPACITY
        && lmdb_expiry_stamp_decode(key.mv_data) < now) {
        memcpy(out->bytes, key.mv_data, key.mv_size);
        out->len = key.mv_size;
        status = OBOL_OK;
    } else if (rc != 0 && rc != MDB_NOTFOUND) {
        status = lmdb_txn_mdb_fail(t, "mdb_cursor_get", rc);
    }
    mdb_cursor_close(cursor);
    return status;
}

/* Deletes the session an expiry entry points to, but only if it still has
 * that expiry (it always should: both change in one transaction), then the
 * entry itself; *gone says whether a session was deleted. */
static int prune_entry(lmdb_txn *t, const lmdb_key *expiry_key, int *gone)
{
    lmdb_key session;
    session.len = expiry_key->len - LMDB_EXPIRY_STAMP_SIZE;
    memcpy(session.bytes, expiry_key->bytes + LMDB_EXPIRY_STAMP_SIZE,
           session.len);
    int64_t expires_at;
    uint64_t lock_version;
    int status = read_header(t, &session, &expires_at, &lock_version);
    *gone = 0;
    if (status < 0)
        return status;
    if (status == OBOL_OK
        && expires_at == lmdb_expiry_stamp_decode(expiry_key->bytes)) {
        MDB_val k = { session.len, session.bytes };
        int rc = mdb_del(t->txn, t->view->sessions, &k, NULL);
        if (rc != 0 && rc != MDB_NOTFOUND)
            return lmdb_txn_mdb_fail(t, "mdb_del", rc);
        *gone = rc == 0;
    }
    MDB_val k = { expiry_key->len, (void *)expiry_key->bytes };
    int rc = mdb_del(t->txn, t->view->expiry, &k, NULL);
    if (rc != 0 && rc != MDB_NOTFOUND)
        return lmdb_txn_mdb_fail(t, "mdb_del", rc);
    return OBOL_OK;
}

/* Whether the session key inside an expiry key is of this store. */
static int expiry_key_is_mine(const prune_args *a)
{
    return a->counts_mine &&
           lmdb_key_in_range(a->expiry_key.bytes + LMDB_EXPIRY_STAMP_SIZE,
                             a->expiry_key.len - LMDB_EXPIRY_STAMP_SIZE,
                             a->mine.bytes, a->mine.len);
}

static int prune_body(lmdb_txn *t, void *arg)
{
    prune_args *a = arg;
    a->done = 0;
    a->batch_removed = 0;
    for (int i = 0; i < PRUNE_BATCH; i++) {
        int gone = 0;
        int status = first_expired(t, a->now, &a->expiry_key);
        if (status == OBOL_NOT_FOUND) {
            a->done = 1;
            return OBOL_OK;
        }
        if (status == OBOL_OK)
            status = prune_entry(t, &a->expiry_key, &gone);
        if (status != OBOL_OK)
            return status;
        a->batch_removed += gone && expiry_key_is_mine(a);
    }
    return OBOL_OK;
}

/* Prunes every prefix in the environment, not only this store's: the
 * expiry index is shared, and a dead record is dead for everyone. It
 * counts this store's prefix only (driver.h), batch by batch as each
 * commits. */
static int lmdb_prune_counted(void *handle, int64_t now, uint64_t *removed,
                              obol_error *err)
{
    lmdb_store *st = handle;
    lmdb_env *env;
    int status;
    prune_args *a = op_begin(st, sizeof *a, &env, &status, err);
    if (a == NULL)
        return status;
    a->now = now;
    a->counts_mine = session_range(st, lmdb_env_get_view(env), NULL,
                                   &a->mine) == 0;
    while (status == OBOL_OK && !a->done) {
        status = lmdb_env_run(env, 1, prune_body, a, err);
        if (status == OBOL_OK)
            a->removed += a->batch_removed;
    }
    *removed = a->removed;
    free(a);
    return status;
}

static int lmdb_prune(void *handle, int64_t now, obol_error *err)
{
    uint64_t removed;
    return lmdb_prune_counted(handle, now, &removed, err);
}

/* ------------------------------------------------------------- health */

typedef struct health_args {
    size_t records;
} health_args;

static int health_body(lmdb_txn *t, void *arg)
{
    health_args *a = arg;
    MDB_stat stat;
    int rc = mdb_stat(t->txn, t->view->sessions, &stat);
    if (rc != 0)
        return lmdb_txn_mdb_fail(t, "mdb_stat", rc);
    a->records = stat.ms_entries;
    return OBOL_OK;
}

static int lmdb_health(void *handle, char *info, size_t info_size,
                       obol_error *err)
{
    lmdb_store *st = handle;
    lmdb_env *env;
    int status = store_env(st, &env, err);
    if (status != OBOL_OK)
        return status;
    health_args a = { 0 };
    status = lmdb_env_run(env, 0, health_body, &a, err);
    if (status != OBOL_OK)
        return status;
    if (info != NULL && info_size > 0)
        snprintf(info, info_size, "%s, path %s, map %zu bytes, %zu records",
                 mdb_version(NULL, NULL, NULL),
                 lmdb_env_get_view(env)->path, lmdb_env_map_size(env),
                 a.records);
    return OBOL_OK;
}

/* -------------------------------------------------------------- table */

static const char *const lmdb_schemes[] = { "lmdb", NULL };

static const obol_driver lmdb_driver = {
    .abi_major = OBOL_DRIVER_ABI_MAJOR,
    .abi_minor = 7,   /* every slot but stats (1.4) and the native
                         non-blocking path (1.6: it runs inline, as
                         OBOL_DRIVER_LOCAL says) */
    .struct_size = sizeof(obol_driver),
    .name = "lmdb",
    .schemes = lmdb_schemes,
    .capabilities = OBOL_DRIVER_THREAD_SAFE | OBOL_DRIVER_MULTI_PROCESS
                    | OBOL_DRIVER_PERSISTENT | OBOL_DRIVER_LOCAL,
    .open = lmdb_open,
    .close = lmdb_close,
    .get = lmdb_get,
    .put = lmdb_put,
    .del = lmdb_del,
    .list = lmdb_list,
    .del_all = lmdb_del_all,
    .scan = lmdb_scan,
    .prune = lmdb_prune,
    .health = lmdb_health,
    .put_batch = lmdb_put_batch,
    .check = lmdb_check,
    .prefixes = lmdb_prefixes,
    .del_counted = lmdb_del_counted,
    .del_all_counted = lmdb_del_all_counted,
    .prune_counted = lmdb_prune_counted,
    .view = lmdb_view,
};

/* Refuses (NULL) a host of another major ABI, or one too old to have the
 * functions this driver calls. */
const obol_driver *obol_driver_lmdb_entry(const obol_driver_host *host)
{
    size_t needed = offsetof(obol_driver_host, parse_size)
                    + sizeof(host->parse_size);
    if (host == NULL || host->abi_major != OBOL_DRIVER_ABI_MAJOR
        || host->struct_size < needed || host->alloc == NULL
        || host->set_error == NULL || host->parse_uint == NULL
        || host->parse_size == NULL)
        return NULL;
    lmdb_host = host;
    return &lmdb_driver;
}

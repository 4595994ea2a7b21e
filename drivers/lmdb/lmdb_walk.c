/* Batched range walks for list() and scan(); see lmdb_walk.h. */
#include <stdlib.h>
#include <string.h>

#include "lmdb_internal.h"
#include "lmdb_keys.h"
#include "lmdb_walk.h"

#define WALK_BATCH_RECORDS 64
#define WALK_BATCH_BYTES ((size_t)1 << 20)

typedef struct walk_entry {
    uint8_t *key; /* key and value share one allocation */
    size_t key_len;
    const uint8_t *value;
    size_t value_len;   /* what was copied: the header alone when ... */
    int cut;            /* ... the sealed bytes were too long to copy */
    size_t sealed_len;  /* their stored length then */
} walk_entry;

typedef struct walk {
    const uint8_t *range;
    size_t range_len;
    size_t max_record;  /* 0: no limit */
    lmdb_key resume; /* the last key copied; len 0 before the first batch */
    int done;        /* the range has no more records */
    size_t count;
    walk_entry entries[WALK_BATCH_RECORDS];
} walk;

static void walk_clear(walk *w)
{
    for (size_t i = 0; i < w->count; i++)
        free(w->entries[i].key);
    w->count = 0;
}

/* Copies a record out of the transaction; one whose sealed bytes are
 * longer than the core reads keeps only its value header. Returns the
 * bytes copied through *copied. */
static int walk_copy(walk *w, const MDB_val *key, const MDB_val *value,
                     size_t *copied, obol_error *err)
{
    size_t value_len = value->mv_size;
    int cut = value_len > LMDB_VALUE_HEADER_SIZE
              && lmdb_too_long(w->max_record,
                               value_len - LMDB_VALUE_HEADER_SIZE);
    if (cut)
        value_len = LMDB_VALUE_HEADER_SIZE;
    uint8_t *copy = malloc(key->mv_size + value_len + 1);
    if (copy == NULL)
        return lmdb_fail(err, OBOL_ERR_NOMEM, "lmdb: out of memory");
    memcpy(copy, key->mv_data, key->mv_size);
    memcpy(copy + key->mv_size, value->mv_data, value_len);
    walk_entry *entry = &w->entries[w->count++];
    entry->key = copy;
    entry->key_len = key->mv_size;
    entry->value = copy + key->mv_size;
    entry->value_len = value_len;
    entry->cut = cut;
    entry->sealed_len = value->mv_size - LMDB_VALUE_HEADER_SIZE;
    *copied = key->mv_size + value_len;
    return OBOL_OK;
}

/* Positions the cursor on the first key not yet copied. */
static int walk_seek(walk *w, MDB_cursor *cursor, MDB_val *key,
                     MDB_val *value)
{
    int resuming = w->resume.len > 0;
    key->mv_data = resuming ? w->resume.bytes : (void *)w->range;
    key->mv_size = resuming ? w->resume.len : w->range_len;
    int rc = mdb_cursor_get(cursor, key, value, MDB_SET_RANGE);
    if (rc == 0 && resuming && key->mv_size == w->resume.len
        && memcmp(key->mv_data, w->resume.bytes, w->resume.len) == 0)
        rc = mdb_cursor_get(cursor, key, value, MDB_NEXT);
    return rc;
}

/* Copies the next batch; a read transaction body. */
static int walk_batch(lmdb_txn *t, void *arg)
{
    walk *w = arg;
    walk_clear(w);
    MDB_cursor *cursor;
    int rc = mdb_cursor_open(t->txn, t->view->sessions, &cursor);
    if (rc != 0)
        return lmdb_txn_mdb_fail(t, "mdb_cursor_open", rc);
    MDB_val key, value;
    size_t bytes = 0;
    int status = OBOL_OK;
    rc = walk_seek(w, cursor, &key, &value);
    while (rc == 0 && status == OBOL_OK) {
        if (!lmdb_key_in_range(key.mv_data, key.mv_size, w->range,
                               w->range_len)) {
            rc = MDB_NOTFOUND;
            break;
        }
        if (w->count == WALK_BATCH_RECORDS || bytes >= WALK_BATCH_BYTES)
            break;
        size_t copied = 0;
        status = walk_copy(w, &key, &value, &copied, t->err);
        bytes += copied;
        rc = mdb_cursor_get(cursor, &key, &value, MDB_NEXT);
    }
    mdb_cursor_close(cursor);
    if (status != OBOL_OK)
        return status;
    if (rc != 0 && rc != MDB_NOTFOUND)
        return lmdb_txn_mdb_fail(t, "mdb_cursor_get", rc);
    w->done = rc == MDB_NOTFOUND;
    return OBOL_OK;
}

static int visit_entry(const walk_entry *entry, const char *path,
                       obol_driver_visit visit, void *arg, obol_error *err)
{
    obol_driver_record record;
    if (lmdb_key_decode(entry->key, entry->key_len, &record.key) != 0
        || lmdb_value_header_decode(entry->value, entry->value_len,
                                    &record.expires_at,
                                    &record.lock_version) != 0)
        return lmdb_fail(err, OBOL_ERR_CORRUPT,
                         "lmdb: malformed record in %s", path);
    record.sealed.data = entry->cut ? NULL
                                    : entry->value + LMDB_VALUE_HEADER_SIZE;
    record.sealed.len = entry->cut ? entry->sealed_len
                                   : entry->value_len - LMDB_VALUE_HEADER_SIZE;
    return visit(arg, &record);
}

static void remember_last(walk *w)
{
    const walk_entry *last = &w->entries[w->count - 1];
    memcpy(w->resume.bytes, last->key, last->key_len);
    w->resume.len = last->key_len;
}

int lmdb_walk_range(lmdb_env *env, const uint8_t *range, size_t range_len,
                    size_t max_record, obol_driver_visit visit, void *arg,
                    obol_error *err)
{
    walk *w = calloc(1, sizeof *w);
    if (w == NULL)
        return lmdb_fail(err, OBOL_ERR_NOMEM, "lmdb: out of memory");
    w->range = range;
    w->range_len = range_len;
    w->max_record = max_record;
    const char *path = lmdb_env_get_view(env)->path;
    int status = OBOL_OK;
    while (status == OBOL_OK && !w->done) {
        status = lmdb_env_run(env, 0, walk_batch, w, err);
        if (status != OBOL_OK || w->count == 0)
            break;
        /* Every stored key fits in resume: it was stored under a limit no
         * larger than LMDB_KEY_CAPACITY. */
        if (w->entries[w->count - 1].key_len > LMDB_KEY_CAPACITY) {
            status = lmdb_fail(err, OBOL_ERR_CORRUPT,
                               "lmdb: over-long key in %s", path);
            break;
        }
        remember_last(w);
        for (size_t i = 0; i < w->count && status == OBOL_OK; i++)
            status = visit_entry(&w->entries[i], path, visit, arg, err);
    }
    walk_clear(w);
    free(w);
    return status;
}

/* ------------------------------------------------------------ prefixes */

#define PREFIX_BATCH 32

typedef struct prefix_walk {
    lmdb_key start; /* where this batch seeks; len 0: from the start */
    lmdb_key next;  /* where the batch after it will */
    int done;
    size_t count;
    lmdb_key found[PREFIX_BATCH];   /* the prefixes' bytes, decoded */
} prefix_walk;

/* The least key above every key that begins with range, in next; 0, or
 * -1 when there is none (range is all 0xff bytes). */
static int range_successor(const uint8_t *range, size_t len, lmdb_key *next)
{
    while (len > 0 && range[len - 1] == 0xffu)
        len--;
    if (len == 0)
        return -1;
    memmove(next->bytes, range, len);
    next->bytes[len - 1]++;
    next->len = len;
    return 0;
}

/* The prefix a session key begins with (len16(prefix) prefix), and the
 * length of that range; -1 when the key is too short to hold one. */
static int key_prefix(const MDB_val *key, obol_bytes *prefix,
                      size_t *range_len)
{
    const uint8_t *data = key->mv_data;
    if (key->mv_size < 2)
        return -1;
    size_t len = ((size_t)data[0] << 8) | data[1];
    if (key->mv_size - 2 < len || len + 2 > LMDB_KEY_CAPACITY)
        return -1;
    prefix->data = data + 2;
    prefix->len = len;
    *range_len = len + 2;
    return 0;
}

/* Finds the next batch of prefixes; a read transaction body. */
static int prefix_batch(lmdb_txn *t, void *arg)
{
    prefix_walk *w = arg;
    w->count = 0;
    MDB_cursor *cursor;
    int rc = mdb_cursor_open(t->txn, t->view->sessions, &cursor);
    if (rc != 0)
        return lmdb_txn_mdb_fail(t, "mdb_cursor_open", rc);
    MDB_val key = { w->start.len, w->start.bytes }, value;
    rc = mdb_cursor_get(cursor, &key, &value,
                        w->start.len > 0 ? MDB_SET_RANGE : MDB_FIRST);
    int status = OBOL_OK;
    while (rc == 0 && w->count < PREFIX_BATCH) {
        obol_bytes prefix;
        size_t range_len;
        if (key_prefix(&key, &prefix, &range_len) != 0) {
            status = lmdb_fail(t->err, OBOL_ERR_CORRUPT,
                               "lmdb: malformed session key in %s",
                               t->view->path);
            break;
        }
        lmdb_key *found = &w->found[w->count++];
        memcpy(found->bytes, prefix.data, prefix.len);
        found->len = prefix.len;
        if (range_successor(key.mv_data, range_len, &w->next) != 0) {
            rc = MDB_NOTFOUND;
            break;
        }
        key.mv_data = w->next.bytes;
        key.mv_size = w->next.len;
        rc = mdb_cursor_get(cursor, &key, &value, MDB_SET_RANGE);
    }
    mdb_cursor_close(cursor);
    if (status != OBOL_OK)
        return status;
    if (rc != 0 && rc != MDB_NOTFOUND)
        return lmdb_txn_mdb_fail(t, "mdb_cursor_get", rc);
    w->done = rc == MDB_NOTFOUND;
    return OBOL_OK;
}

int lmdb_walk_prefixes(lmdb_env *env, obol_driver_prefix_visit visit,
                       void *arg, obol_error *err)
{
    prefix_walk *w = calloc(1, sizeof *w);
    if (w == NULL)
        return lmdb_fail(err, OBOL_ERR_NOMEM, "lmdb: out of memory");
    int status = OBOL_OK;
    while (status == OBOL_OK && !w->done) {
        status = lmdb_env_run(env, 0, prefix_batch, w, err);
        w->start = w->next;
        for (size_t i = 0; i < w->count && status == OBOL_OK; i++)
            status = visit(arg, (obol_bytes){ w->found[i].bytes,
                                              w->found[i].len });
    }
    free(w);
    return status;
}

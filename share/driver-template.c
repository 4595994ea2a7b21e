/*
 * A template for an obol driver. Copy it, rename "mine" (the scheme, the
 * table's name, OBOL_DRIVER_EXPORT and the entry function) and replace
 * what is marked STORAGE, the section below and the lines of the driver's
 * functions that touch it, with calls to your backend, keeping the rule
 * each comment states. The rest (options, prefix, bounded reads, the
 * table) stays as it is. As it stands it keeps records in a list in this
 * process's memory, one mutex around it, and passes obol-driver-check:
 *
 *   cc -std=c11 -Wall -Wextra -fPIC -shared -fvisibility=hidden \
 *      $(pkg-config --cflags obol) -o mine.so mine.c -lpthread
 *   obol-driver-check --driver-path "$PWD" mine:
 *
 * The contract is <obol/driver.h>; docs/DRIVERS.md explains it.
 */
#define _POSIX_C_SOURCE 200809L

#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <obol/driver.h>

OBOL_DRIVER_EXPORT(mine);

static const obol_driver_host *host;   /* from the core, before any call */

/* What open() returns: what the store's calls need to reach its records. */
typedef struct mine_handle {
    obol_bytes prefix;                 /* config->prefix: the namespace */
    size_t max_record;                 /* config->max_record; 0: no limit */
} mine_handle;

/* ------------------------------- STORAGE: a list in memory; replace it */

/* One record as put() gave it, with its prefix, every byte copied into
 * the same allocation. Each part is counted and may hold any byte;
 * comparing part by part keeps any two (prefix, user, type, id) apart. */
typedef struct stored {
    struct stored *next;
    obol_bytes prefix;
    obol_driver_record rec;
} stored;

/* The backend, shared by every handle as a server would be. */
static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static stored *records;

static int same(obol_bytes a, obol_bytes b)
{
    return a.len == b.len && (a.len == 0 || memcmp(a.data, b.data, a.len) == 0);
}

/* Whether r is under h's prefix and equals key in its first `parts`
 * parts (0: none; 2: user and type, for list; 3: the whole key). */
static int matches(const stored *r, const mine_handle *h,
                   const obol_driver_key *key, int parts)
{
    return same(r->prefix, h->prefix) &&
           (parts < 2 || (same(r->rec.key.user_id, key->user_id) &&
                          same(r->rec.key.type, key->type))) &&
           (parts < 3 || same(r->rec.key.id, key->id));
}

static obol_bytes copy_to(uint8_t **at, obol_bytes b)
{
    obol_bytes copy = { *at, b.len };
    if (b.len > 0)
        memcpy(*at, b.data, b.len);
    *at += b.len;
    return copy;
}

/* A copy of rec under prefix; with cut, its sealed bytes are left out
 * (data NULL, length kept), as a visitor sees an over-long record. */
static stored *stored_new(obol_bytes prefix, const obol_driver_record *rec,
                          int cut)
{
    size_t len = prefix.len + rec->key.user_id.len + rec->key.type.len +
                 rec->key.id.len + (cut ? 0 : rec->sealed.len);
    stored *r = malloc(sizeof *r + len + 1);
    if (r == NULL)
        return NULL;
    uint8_t *at = (uint8_t *)(r + 1);
    r->next = NULL;
    r->prefix = copy_to(&at, prefix);
    r->rec = *rec;
    r->rec.key.user_id = copy_to(&at, rec->key.user_id);
    r->rec.key.type = copy_to(&at, rec->key.type);
    r->rec.key.id = copy_to(&at, rec->key.id);
    r->rec.sealed = cut ? (obol_bytes){ NULL, rec->sealed.len }
                        : copy_to(&at, rec->sealed);
    return r;
}

/* Removes the records of h matching key's first parts or, with now, those
 * whose expires_at is before now (not at now: that one is still live). */
static int remove_where(const mine_handle *h, const obol_driver_key *key,
                        int parts, const int64_t *now)
{
    pthread_mutex_lock(&lock);
    for (stored **at = &records; *at != NULL;) {
        stored *r = *at;
        if (now != NULL ? matches(r, h, NULL, 0) && r->rec.expires_at < *now
                        : matches(r, h, key, parts)) {
            *at = r->next;
            free(r);
        } else {
            at = &r->next;
        }
    }
    pthread_mutex_unlock(&lock);
    return OBOL_OK;                   /* a missing record is not an error */
}

/* ------------------------------------------- the driver's functions */

static int mine_open(const obol_driver_config *config, void **handle,
                     obol_error *err)
{
    if (config->option_count > 0)     /* a typo must never pass silently */
        return host->set_error(err, OBOL_ERR_INVALID,
                               "mine: unknown option '%s'", config->options[0].key);
    mine_handle *h = calloc(1, sizeof *h + config->prefix.len);
    if (h == NULL)
        return host->set_error(err, OBOL_ERR_NOMEM, "mine: out of memory");
    memcpy(h + 1, config->prefix.data, config->prefix.len);
    h->prefix = (obol_bytes){ (const uint8_t *)(h + 1), config->prefix.len };
    /* A backend made on first use (a directory, a file) must create
     * nothing under create=0: see "Opening without creating" in driver.h.
     * ABI 1.2: the config of an older core ends before max_record. */
    if (config->struct_size >= offsetof(obol_driver_config, max_record) +
                               sizeof config->max_record &&
        config->max_record <= SIZE_MAX)
        h->max_record = (size_t)config->max_record;
    *handle = h;
    return OBOL_OK;
}

static void mine_close(void *handle)
{
    free(handle);
}

/* The record even when it has expired: the core decides what is live. The
 * buffer comes from host->alloc, as the core frees it with host->free. */
static int mine_get(void *handle, const obol_driver_key *key,
                    uint8_t **sealed, size_t *sealed_len, obol_error *err)
{
    mine_handle *h = handle;
    int status = OBOL_NOT_FOUND;
    pthread_mutex_lock(&lock);                                 /* STORAGE */
    stored *r = records;
    while (r != NULL && !matches(r, h, key, 3))
        r = r->next;
    if (r != NULL) {
        obol_bytes b = r->rec.sealed;
        status = OBOL_OK;
        *sealed = NULL;       /* over max_record: the core refuses it unread */
        *sealed_len = b.len;
        int wanted = h->max_record == 0 || b.len <= h->max_record;
        if (wanted && (*sealed = host->alloc(b.len > 0 ? b.len : 1)) == NULL)
            status = host->set_error(err, OBOL_ERR_NOMEM, "mine: out of memory");
        else if (wanted && b.len > 0)
            memcpy(*sealed, b.data, b.len);
    }
    pthread_mutex_unlock(&lock);
    return status;
}

/* Compare-and-set: the check and the write under one hold of the lock. */
static int mine_put(void *handle, const obol_driver_record *record,
                    uint64_t expected_lock, int64_t now, obol_error *err)
{
    mine_handle *h = handle;
    stored *fresh = stored_new(h->prefix, record, 0);
    if (fresh == NULL)
        return host->set_error(err, OBOL_ERR_NOMEM, "mine: out of memory");
    pthread_mutex_lock(&lock);                                 /* STORAGE */
    stored **at = &records;
    while (*at != NULL && !matches(*at, h, &record->key, 3))
        at = &(*at)->next;
    /* Missing, or expired before now (not at now): lock version 0. */
    uint64_t current = *at != NULL && (*at)->rec.expires_at >= now
                       ? (*at)->rec.lock_version : 0;
    int status = current == expected_lock ? OBOL_OK : OBOL_CONFLICT;
    if (status == OBOL_OK) {
        fresh->next = *at != NULL ? (*at)->next : NULL;
        free(*at);
        *at = fresh;
    }
    pthread_mutex_unlock(&lock);
    if (status != OBOL_OK)
        free(fresh);
    return status;
}

static int mine_del(void *handle, const obol_driver_key *key, obol_error *err)
{
    (void)err;
    return remove_where(handle, key, 3, NULL);                 /* STORAGE */
}

static int mine_del_all(void *handle, const obol_driver_key *key,
                        obol_error *err)
{
    (void)err;
    return remove_where(handle, key, 2, NULL);                 /* STORAGE */
}

static int mine_prune(void *handle, int64_t now, obol_error *err)
{
    (void)err;
    return remove_where(handle, NULL, 0, &now);                /* STORAGE */
}

/* Copies the matching records under the lock, then visits the copies with
 * it released: the visitor may call back into the driver, and other
 * threads must not wait for it (driver.h, "Walks"). */
static int walk(mine_handle *h, const obol_driver_key *key, int parts,
                obol_driver_visit visit, void *arg, obol_error *err)
{
    stored *copies = NULL, **tail = &copies;
    int status = OBOL_OK;
    pthread_mutex_lock(&lock);                                 /* STORAGE */
    for (stored *r = records; r != NULL && status == OBOL_OK; r = r->next) {
        if (!matches(r, h, key, parts))
            continue;
        int cut = h->max_record != 0 && r->rec.sealed.len > h->max_record;
        if ((*tail = stored_new(r->prefix, &r->rec, cut)) == NULL)
            status = host->set_error(err, OBOL_ERR_NOMEM, "mine: out of memory");
        else
            tail = &(*tail)->next;
    }
    pthread_mutex_unlock(&lock);
    while (copies != NULL) {
        stored *next = copies->next;
        if (status == OBOL_OK)
            status = visit(arg, &copies->rec);  /* anything else stops */
        free(copies);
        copies = next;
    }
    return status;
}

static int mine_list(void *handle, const obol_driver_key *key,
                     obol_driver_visit visit, void *arg, obol_error *err)
{
    return walk(handle, key, 2, visit, arg, err);   /* key->id is ignored */
}

static int mine_scan(void *handle, obol_driver_visit visit, void *arg,
                     obol_error *err)
{
    return walk(handle, NULL, 0, visit, arg, err);
}

static const char *const mine_schemes[] = { "mine", NULL };

static const obol_driver mine_driver = {
    .abi_major = OBOL_DRIVER_ABI_MAJOR,
    .abi_minor = OBOL_DRIVER_ABI_MINOR,
    .struct_size = sizeof(obol_driver),
    .name = "mine",
    .schemes = mine_schemes,
    .capabilities = OBOL_DRIVER_THREAD_SAFE,
    .open = mine_open, .close = mine_close,
    .get = mine_get, .put = mine_put, .del = mine_del,
    .list = mine_list, .del_all = mine_del_all, .scan = mine_scan,
    .prune = mine_prune,
    /* Optional, left NULL: health, put_batch (ABI 1.1), check (ABI 1.2),
     * prefixes (ABI 1.3), stats (ABI 1.4), del_counted, del_all_counted
     * and prune_counted (ABI 1.5: without them the core counts what
     * obol_delete_counted() and the others removed by reading first),
     * native_ops and submit (ABI 1.6: without them the non-blocking API
     * runs each operation as a blocking call on the core's worker
     * threads; docs/DRIVERS.md, "Non-blocking operations"), view
     * (ABI 1.7: without it obol_get() reads through get(), a copy per
     * read; docs/DRIVERS.md, "Reads in place"). */
};

const obol_driver *obol_driver_mine_entry(const obol_driver_host *new_host)
{
    host = new_host;
    return &mine_driver;
}

/*
 * The memory driver, "memory:": sessions kept in this process's memory,
 * for applications' own unit tests. It is also a worked example for
 * driver authors, fuller than the installed template (share/
 * driver-template.c; see docs/DRIVERS.md), so it does every job of a
 * driver in the plainest way that is still correct.
 *
 * What a user should know:
 *
 * - "memory:" gives each open() a private, empty store, gone when it is
 *   closed. "memory:NAME" names a space shared by every store of this
 *   process opened on the same name (each under its own prefix, as stores
 *   on one Redis server are); it lives until the last of them is closed.
 *   Nothing is shared with other processes (no OBOL_DRIVER_MULTI_PROCESS)
 *   and nothing outlives this one (no OBOL_DRIVER_PERSISTENT). With
 *   create=0 (OBOL_DRIVER_OPEN_EXISTING) only a space another store has
 *   open is found; "memory:" never is.
 * - One handle may be used from many threads (OBOL_DRIVER_THREAD_SAFE):
 *   a single mutex per store makes every call atomic, which is all that
 *   compare-and-set needs here.
 * - The only option is max_records=N, a cap on how many records the store
 *   holds (default: no cap), so that a test can provoke a full backend.
 *
 * The records sit in a plain array searched from end to end. A unit test
 * holds a handful of sessions; an index would only be more code to trust.
 */
/* Built in this tree or on its own against the installed headers
 * (docs/DRIVERS.md), so it asks for POSIX itself instead of config.h. */
#define _POSIX_C_SOURCE 200809L


#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <obol/driver.h>

/* The one symbol the shared object exports; everything else is hidden by
 * -fvisibility=hidden. */
OBOL_DRIVER_EXPORT(memory);

/* Given by the core before any other call; lives until the process ends. */
static const obol_driver_host *host;

/* Bytes this driver allocated and must free. */
typedef struct owned_bytes {
    uint8_t *data;
    size_t len;
} owned_bytes;

/* One stored session. The parts are kept separately, as the visitor of
 * list() and scan() must be shown them, and once more encoded together in
 * key, which is what lookups compare. */
typedef struct memory_record {
    owned_bytes key;            /* encode_key(prefix, user id, type, id) */
    owned_bytes user_id;
    owned_bytes type;
    owned_bytes id;
    owned_bytes sealed;
    int64_t expires_at;         /* signed: a time in the past stays past */
    uint64_t lock_version;
} memory_record;

/* Where records live: private to one handle, or shared by name. */
typedef struct memory_store {
    pthread_mutex_t mutex;      /* guards everything below */
    size_t max_records;         /* 0: no cap */
    memory_record *records;     /* in no particular order */
    size_t count;
    size_t capacity;
    char *name;                 /* NULL: private to one handle */
    unsigned long refs;         /* handles using it; guarded by spaces_lock */
    struct memory_store *next;  /* in the list of named stores */
} memory_store;

/* What open() returns: a store, seen through one prefix. */
typedef struct memory_handle {
    memory_store *store;
    owned_bytes prefix;         /* config->prefix, the store's namespace */
    size_t max_record;          /* config->max_record; 0: no limit */
} memory_handle;

/* The named stores of this process. */
static pthread_mutex_t spaces_lock = PTHREAD_MUTEX_INITIALIZER;
static memory_store *spaces;

/* -------------------------------------------------------------- bytes */

/* Copies b into memory of our own. A copy of zero bytes still gets a
 * buffer, so that NULL always means "out of memory". */
static int bytes_copy(obol_bytes b, owned_bytes *out)
{
    out->data = malloc(b.len > 0 ? b.len : 1);
    out->len = b.len;
    if (out->data == NULL)
        return -1;
    if (b.len > 0)
        memcpy(out->data, b.data, b.len);
    return 0;
}

static obol_bytes bytes_view(owned_bytes b)
{
    obol_bytes view = { b.data, b.len };
    return view;
}

/* ---------------------------------------------------------------- keys */

/* Each part of a key is written as its length (8 bytes, big-endian)
 * followed by its bytes. Because every part says how long it is, no two
 * different tuples share an encoding whatever bytes they hold ("a:b" + "c"
 * and "a" + "b:c" differ), and the encoding of (prefix, user, type) is the
 * start of the key of every session of that user and type and of no other
 * — which is how list() and scan() find theirs. Stores sharing a named
 * space rely on the prefix in the key to keep them apart, just as stores
 * sharing a Redis server or an LMDB directory do. */
#define KEY_LENGTH_SIZE 8

static int encode_key(const obol_bytes *parts, size_t part_count,
                      owned_bytes *out)
{
    size_t total = 0;
    for (size_t i = 0; i < part_count; i++) {
        if (parts[i].len > SIZE_MAX - KEY_LENGTH_SIZE - total)
            return -1;
        total += KEY_LENGTH_SIZE + parts[i].len;
    }
    out->data = malloc(total);
    out->len = total;
    if (out->data == NULL)
        return -1;
    uint8_t *at = out->data;
    for (size_t i = 0; i < part_count; i++) {
        uint64_t len = parts[i].len;
        for (int byte = KEY_LENGTH_SIZE - 1; byte >= 0; byte--) {
            at[byte] = (uint8_t)(len & 0xff);
            len >>= 8;
        }
        at += KEY_LENGTH_SIZE;
        if (parts[i].len > 0)
            memcpy(at, parts[i].data, parts[i].len);
        at += parts[i].len;
    }
    return 0;
}

/* The key of one session, or with part_count 3 the start shared by all
 * sessions of a user and type, or with 1 by the whole store. */
static int store_key(const memory_handle *h, const obol_driver_key *key,
                     size_t part_count, owned_bytes *out, obol_error *err)
{
    obol_bytes parts[4] = { bytes_view(h->prefix) };
    if (key != NULL) {
        parts[1] = key->user_id;
        parts[2] = key->type;
        parts[3] = key->id;
    }
    if (encode_key(parts, part_count, out) != 0)
        return host->set_error(err, OBOL_ERR_NOMEM, "memory: out of memory");
    return OBOL_OK;
}

static int key_starts_with(owned_bytes key, owned_bytes start)
{
    return key.len >= start.len && memcmp(key.data, start.data, start.len) == 0;
}

static int key_equals(owned_bytes a, owned_bytes b)
{
    return a.len == b.len && memcmp(a.data, b.data, a.len) == 0;
}

/* ------------------------------------------------------------- records */

static void record_free(memory_record *r)
{
    free(r->key.data);
    free(r->user_id.data);
    free(r->type.data);
    free(r->id.data);
    free(r->sealed.data);
}

/* Builds a record that owns copies of everything in from; nothing of it is
 * left allocated when it fails. */
static int record_make(const memory_handle *h, const obol_driver_record *from,
                       memory_record *out, obol_error *err)
{
    memset(out, 0, sizeof *out);
    int status = store_key(h, &from->key, 4, &out->key, err);
    if (status != OBOL_OK)
        return status;
    if (bytes_copy(from->key.user_id, &out->user_id) != 0 ||
        bytes_copy(from->key.type, &out->type) != 0 ||
        bytes_copy(from->key.id, &out->id) != 0 ||
        bytes_copy(from->sealed, &out->sealed) != 0) {
        record_free(out);
        return host->set_error(err, OBOL_ERR_NOMEM, "memory: out of memory");
    }
    out->expires_at = from->expires_at;
    out->lock_version = from->lock_version;
    return OBOL_OK;
}

/* What a visitor is shown: views of the record's own bytes, valid while
 * the store's mutex is held. */
static obol_driver_record record_view(const memory_record *r)
{
    obol_driver_record view = {
        { bytes_view(r->user_id), bytes_view(r->type), bytes_view(r->id) },
        bytes_view(r->sealed), r->expires_at, r->lock_version
    };
    return view;
}

/* Index of the record stored under key, or st->count when there is none. */
static size_t find_record(const memory_store *st, owned_bytes key)
{
    size_t i = 0;
    while (i < st->count && !key_equals(st->records[i].key, key))
        i++;
    return i;
}

/* Frees record i and fills its slot with the last one: order does not
 * matter, and nothing has to move. A loop that removes records must look
 * at slot i again afterwards. */
static void remove_record(memory_store *st, size_t i)
{
    record_free(&st->records[i]);
    st->count--;
    st->records[i] = st->records[st->count];
}

/* Removes every dead record, whichever prefix it is under (a dead record
 * is dead for everyone sharing the space), and returns how many of them
 * had keys starting with mine (NULL: none counted). */
static uint64_t remove_expired(memory_store *st, int64_t now,
                               const owned_bytes *mine)
{
    uint64_t counted = 0;
    size_t i = 0;
    while (i < st->count) {
        if (st->records[i].expires_at < now) {
            counted += mine != NULL && key_starts_with(st->records[i].key,
                                                       *mine);
            remove_record(st, i);
        } else {
            i++;
        }
    }
    return counted;
}

/* Makes room for one more record: the cap first, then the array. */
static int make_room(memory_store *st, int64_t now, obol_error *err)
{
    /* Dead records may be dropped at any time (driver.h); do it before
     * telling a test its store is full. */
    if (st->max_records != 0 && st->count >= st->max_records)
        remove_expired(st, now, NULL);
    if (st->max_records != 0 && st->count >= st->max_records)
        return host->set_error(err, OBOL_ERR_TOO_LARGE,
                               "memory: the store is full: it holds "
                               "max_records=%zu live records",
                               st->max_records);
    if (st->count < st->capacity)
        return OBOL_OK;
    size_t capacity = st->capacity > 0 ? st->capacity * 2 : 16;
    if (capacity > SIZE_MAX / sizeof *st->records)
        return host->set_error(err, OBOL_ERR_NOMEM, "memory: out of memory");
    memory_record *bigger = realloc(st->records, capacity * sizeof *bigger);
    if (bigger == NULL)
        return host->set_error(err, OBOL_ERR_NOMEM, "memory: out of memory");
    st->records = bigger;
    st->capacity = capacity;
    return OBOL_OK;
}

/* ---------------------------------------------------------- open/close */

/* "memory:" and "memory:NAME" name no server, so every part that would
 * name one is a mistake worth reporting rather than ignoring. The password
 * itself is never repeated in a message. */
static int refuse_location(const obol_driver_config *config, obol_error *err)
{
    if (config->user != NULL)
        return host->set_error(err, OBOL_ERR_INVALID,
                               "memory: a store in memory takes no user ('%s')",
                               config->user);
    if (config->password != NULL)
        return host->set_error(err, OBOL_ERR_INVALID,
                               "memory: a store in memory takes no password");
    if (config->host != NULL)
        return host->set_error(err, OBOL_ERR_INVALID,
                               "memory: a store in memory takes no host ('%s')",
                               config->host);
    if (config->port != 0)
        return host->set_error(err, OBOL_ERR_INVALID,
                               "memory: a store in memory takes no port (%u)",
                               (unsigned)config->port);
    return OBOL_OK;
}

/* The core has removed the options it understands; anything left that we
 * do not know is refused by name, so that a typo never goes unnoticed. */
static int parse_options(const obol_driver_config *config, size_t *max_records,
                         obol_error *err)
{
    *max_records = 0;
    for (size_t i = 0; i < config->option_count; i++) {
        const obol_driver_option *option = &config->options[i];
        if (strcmp(option->key, "max_records") != 0)
            return host->set_error(err, OBOL_ERR_INVALID,
                                   "memory: unknown option '%s' (the only "
                                   "option is max_records)", option->key);
        uint64_t value;
        if (host->parse_uint(option->value, SIZE_MAX, &value) != 0 ||
            value == 0)
            return host->set_error(err, OBOL_ERR_INVALID,
                                   "memory: max_records '%s' is not a whole "
                                   "number of 1 or more", option->value);
        *max_records = (size_t)value;
    }
    return OBOL_OK;
}

static memory_store *store_new(const char *name, size_t max_records)
{
    memory_store *st = calloc(1, sizeof *st);
    if (st == NULL)
        return NULL;
    if (name != NULL && (st->name = strdup(name)) == NULL) {
        free(st);
        return NULL;
    }
    if (pthread_mutex_init(&st->mutex, NULL) != 0) {
        free(st->name);
        free(st);
        return NULL;
    }
    st->max_records = max_records;
    st->refs = 1;
    return st;
}

static void store_free(memory_store *st)
{
    for (size_t i = 0; i < st->count; i++)
        record_free(&st->records[i]);
    free(st->records);
    free(st->name);
    pthread_mutex_destroy(&st->mutex);
    free(st);
}

/* The named store, made on first use unless must_exist (create=0); a
 * private one for name NULL, which is new at every open, so must_exist
 * never finds one. The first open of a name decides its max_records.
 * NULL when there is nothing to open, or (only when creating) when out
 * of memory. */
static memory_store *store_acquire(const char *name, size_t max_records,
                                   int must_exist)
{
    memory_store *st;

    if (name == NULL)
        return must_exist ? NULL : store_new(NULL, max_records);
    pthread_mutex_lock(&spaces_lock);
    for (st = spaces; st != NULL; st = st->next)
        if (strcmp(st->name, name) == 0)
            break;
    if (st != NULL) {
        st->refs++;
    } else if (!must_exist && (st = store_new(name, max_records)) != NULL) {
        st->next = spaces;
        spaces = st;
    }
    pthread_mutex_unlock(&spaces_lock);
    return st;
}

/* What create=0 finds where there is no space to open: the core gives
 * config->open_flags from ABI 1.3 on, and an older core never asks. */
static int must_exist(const obol_driver_config *config)
{
    size_t needed = offsetof(obol_driver_config, open_flags)
                    + sizeof config->open_flags;
    return config->struct_size >= needed
           && (config->open_flags & OBOL_DRIVER_OPEN_EXISTING) != 0;
}

static int no_space(const char *name, obol_error *err)
{
    if (name == NULL)
        return host->set_error(err, OBOL_ERR_NO_STORE,
                               "memory: create=0, but \"memory:\" is a new "
                               "store at every open, so there is none to "
                               "open (nothing was created); name a space: "
                               "memory:NAME");
    return host->set_error(err, OBOL_ERR_NO_STORE,
                           "memory: no space named '%s' is open in this "
                           "process (nothing was created)", name);
}

static void store_release(memory_store *st)
{
    if (st->name == NULL) {
        store_free(st);
        return;
    }
    pthread_mutex_lock(&spaces_lock);
    int last = --st->refs == 0;
    if (last) {
        memory_store **at = &spaces;
        while (*at != st)
            at = &(*at)->next;
        *at = st->next;
    }
    pthread_mutex_unlock(&spaces_lock);
    if (last)
        store_free(st);
}

/* The longest record the core reads (ABI 1.2): a core older than that
 * passes a config that ends before the field, and has no limit. */
static size_t max_record_of(const obol_driver_config *config)
{
    size_t needed = offsetof(obol_driver_config, max_record)
                    + sizeof config->max_record;
    if (config->struct_size < needed || config->max_record > SIZE_MAX)
        return 0;
    return (size_t)config->max_record;
}

/* Whether the core would refuse a record of len sealed bytes unread: it
 * is then never copied (driver.h, "Bounded reads"). */
static int too_long(size_t max_record, size_t len)
{
    return max_record != 0 && len > max_record;
}

static int memory_open(const obol_driver_config *config, void **handle,
                       obol_error *err)
{
    /* A core older than this driver may pass a shorter config; we read
     * up to and including prefix. */
    size_t needed = offsetof(obol_driver_config, prefix) + sizeof(obol_bytes);
    if (config->struct_size < needed)
        return host->set_error(err, OBOL_ERR_INVALID,
                               "memory: the core passed a config of an older ABI");
    size_t max_records;
    int status = refuse_location(config, err);
    if (status == OBOL_OK)
        status = parse_options(config, &max_records, err);
    if (status != OBOL_OK)
        return status;

    memory_handle *h = calloc(1, sizeof *h);
    if (h == NULL || bytes_copy(config->prefix, &h->prefix) != 0 ||
        (h->store = store_acquire(config->path, max_records,
                                  must_exist(config))) == NULL) {
        int missing = h != NULL && h->prefix.data != NULL && must_exist(config);
        if (h != NULL)
            free(h->prefix.data);
        free(h);
        if (missing)
            return no_space(config->path, err);
        return host->set_error(err, OBOL_ERR_NOMEM, "memory: out of memory");
    }
    h->max_record = max_record_of(config);
    *handle = h;
    return OBOL_OK;
}

static void memory_close(void *handle)
{
    memory_handle *h = handle;
    if (h == NULL)
        return;
    store_release(h->store);
    free(h->prefix.data);
    free(h);
}

/* ---------------------------------------------------------- operations */

/*
 * Every operation below encodes its key before taking the mutex (that is
 * the only allocation that can fail there), then does all its work under
 * the mutex, so that no other thread ever sees half of it.
 */

/* Returns the record even when it has expired: get() is not told the
 * time, and the core decides whether a session is live. */
static int memory_get(void *handle, const obol_driver_key *key,
                      uint8_t **sealed, size_t *sealed_len, obol_error *err)
{
    memory_handle *h = handle;
    memory_store *st = h->store;
    owned_bytes wanted;
    int status = store_key(h, key, 4, &wanted, err);
    if (status != OBOL_OK)
        return status;

    pthread_mutex_lock(&st->mutex);
    size_t i = find_record(st, wanted);
    if (i == st->count) {
        status = OBOL_NOT_FOUND;
    } else {
        /* The core frees this buffer with host->free, so it must come from
         * host->alloc; ask for a byte at least, as alloc(0) may be NULL. */
        owned_bytes found = st->records[i].sealed;
        if (too_long(h->max_record, found.len)) {
            *sealed = NULL;      /* refused by the core, so never copied */
            *sealed_len = found.len;
        } else if ((*sealed = host->alloc(found.len > 0 ? found.len : 1))
                   == NULL) {
            status = host->set_error(err, OBOL_ERR_NOMEM,
                                     "memory: out of memory");
        } else {
            if (found.len > 0)
                memcpy(*sealed, found.data, found.len);
            *sealed_len = found.len;
        }
    }
    pthread_mutex_unlock(&st->mutex);
    free(wanted.data);
    return status;
}

/* Compare-and-set (driver.h): a missing record, and one that expired
 * before now, count as lock version 0. The check and the write happen
 * under one hold of the mutex, which is what makes them atomic. */
static int memory_put(void *handle, const obol_driver_record *record,
                      uint64_t expected_lock, int64_t now, obol_error *err)
{
    memory_handle *h = handle;
    memory_store *st = h->store;
    memory_record fresh;
    /* Copy everything before locking: a failed copy changes nothing. */
    int status = record_make(h, record, &fresh, err);
    if (status != OBOL_OK)
        return status;

    pthread_mutex_lock(&st->mutex);
    size_t i = find_record(st, fresh.key);
    uint64_t stored_lock = 0;
    if (i < st->count && st->records[i].expires_at >= now)
        stored_lock = st->records[i].lock_version;
    if (stored_lock != expected_lock) {
        status = OBOL_CONFLICT;
    } else if (i < st->count) {
        record_free(&st->records[i]);
        st->records[i] = fresh;
    } else {
        status = make_room(st, now, err);
        if (status == OBOL_OK)
            st->records[st->count++] = fresh;
    }
    pthread_mutex_unlock(&st->mutex);
    if (status != OBOL_OK)
        record_free(&fresh);
    return status;
}

/* Each removal is written once, counting what it removes under the
 * mutex (ABI 1.5); the uncounted slots call it and drop the count. */
static int memory_del_counted(void *handle, const obol_driver_key *key,
                              uint64_t *removed, obol_error *err)
{
    memory_handle *h = handle;
    memory_store *st = h->store;
    owned_bytes wanted;
    int status = store_key(h, key, 4, &wanted, err);
    if (status != OBOL_OK)
        return status;

    pthread_mutex_lock(&st->mutex);
    size_t i = find_record(st, wanted);
    *removed = i < st->count;
    if (i < st->count)
        remove_record(st, i);
    pthread_mutex_unlock(&st->mutex);
    free(wanted.data);
    return OBOL_OK;     /* deleting what is not there is not an error */
}

static int memory_del(void *handle, const obol_driver_key *key,
                      obol_error *err)
{
    uint64_t removed;
    return memory_del_counted(handle, key, &removed, err);
}

/* A copy of r that owns its bytes; sealed bytes longer than max_record
 * are left out (data NULL, the length kept). */
static int record_copy(const memory_record *r, size_t max_record,
                       memory_record *out)
{
    memset(out, 0, sizeof *out);
    if (bytes_copy(bytes_view(r->key), &out->key) != 0 ||
        bytes_copy(bytes_view(r->user_id), &out->user_id) != 0 ||
        bytes_copy(bytes_view(r->type), &out->type) != 0 ||
        bytes_copy(bytes_view(r->id), &out->id) != 0) {
        record_free(out);
        return -1;
    }
    if (too_long(max_record, r->sealed.len)) {
        out->sealed.len = r->sealed.len;
    } else if (bytes_copy(bytes_view(r->sealed), &out->sealed) != 0) {
        record_free(out);
        return -1;
    }
    out->expires_at = r->expires_at;
    out->lock_version = r->lock_version;
    return 0;
}

/* Copies, under the mutex, every record whose key starts with start. */
static int snapshot(memory_store *st, owned_bytes start, size_t max_record,
                    memory_record **out, size_t *count)
{
    int failed = 0;
    *count = 0;
    pthread_mutex_lock(&st->mutex);
    *out = malloc((st->count > 0 ? st->count : 1) * sizeof **out);
    failed = *out == NULL;
    for (size_t i = 0; i < st->count && !failed; i++) {
        if (!key_starts_with(st->records[i].key, start))
            continue;
        failed = record_copy(&st->records[i], max_record,
                             &(*out)[*count]) != 0;
        if (!failed)
            (*count)++;
    }
    pthread_mutex_unlock(&st->mutex);
    return failed ? -1 : 0;
}

/*
 * Calls visit for every record whose key starts with start, stopping at
 * the first status that is not OBOL_OK.
 *
 * The visitor is shown a snapshot taken under the mutex and called after
 * it is released: a visitor may then call back into this driver (a
 * migration writes while it walks) without deadlocking, and the array
 * cannot move under it. Copying is the price; a unit test's store is small.
 */
static int walk(memory_handle *h, owned_bytes start, obol_driver_visit visit,
                void *arg, obol_error *err)
{
    memory_record *copies;
    size_t count;
    int status = OBOL_OK;

    if (snapshot(h->store, start, h->max_record, &copies, &count) != 0)
        status = host->set_error(err, OBOL_ERR_NOMEM, "memory: out of memory");
    for (size_t i = 0; i < count && status == OBOL_OK; i++) {
        obol_driver_record view = record_view(&copies[i]);
        status = visit(arg, &view);
    }
    for (size_t i = 0; i < count; i++)
        record_free(&copies[i]);
    free(copies);
    return status;
}

/* Walks the records whose key starts with the first part_count parts of
 * key's encoding (see store_key()). */
static int walk_key(memory_handle *h, const obol_driver_key *key,
                    size_t part_count, obol_driver_visit visit, void *arg,
                    obol_error *err)
{
    owned_bytes start;
    int status = store_key(h, key, part_count, &start, err);
    if (status != OBOL_OK)
        return status;
    status = walk(h, start, visit, arg, err);
    free(start.data);
    return status;
}

static int memory_list(void *handle, const obol_driver_key *key,
                       obol_driver_visit visit, void *arg, obol_error *err)
{
    return walk_key(handle, key, 3, visit, arg, err);   /* key->id ignored */
}

static int memory_scan(void *handle, obol_driver_visit visit, void *arg,
                       obol_error *err)
{
    return walk_key(handle, NULL, 1, visit, arg, err);
}

static int memory_del_all_counted(void *handle, const obol_driver_key *key,
                                  uint64_t *removed, obol_error *err)
{
    memory_handle *h = handle;
    memory_store *st = h->store;
    owned_bytes start;
    int status = store_key(h, key, 3, &start, err);   /* key->id ignored */
    if (status != OBOL_OK)
        return status;

    *removed = 0;
    pthread_mutex_lock(&st->mutex);
    size_t i = 0;
    while (i < st->count) {
        if (key_starts_with(st->records[i].key, start)) {
            remove_record(st, i);
            ++*removed;
        } else {
            i++;
        }
    }
    pthread_mutex_unlock(&st->mutex);
    free(start.data);
    return OBOL_OK;
}

static int memory_del_all(void *handle, const obol_driver_key *key,
                          obol_error *err)
{
    uint64_t removed;
    return memory_del_all_counted(handle, key, &removed, err);
}

/* Prunes the whole space but counts this store's prefix only (driver.h). */
static int memory_prune_counted(void *handle, int64_t now, uint64_t *removed,
                                obol_error *err)
{
    memory_handle *h = handle;
    owned_bytes mine;
    int status = store_key(h, NULL, 1, &mine, err);
    if (status != OBOL_OK)
        return status;

    pthread_mutex_lock(&h->store->mutex);
    *removed = remove_expired(h->store, now, &mine);
    pthread_mutex_unlock(&h->store->mutex);
    free(mine.data);
    return OBOL_OK;
}

static int memory_prune(void *handle, int64_t now, obol_error *err)
{
    uint64_t removed;
    return memory_prune_counted(handle, now, &removed, err);
}

/* Counts dead records not yet pruned too: they are still held. */
static int memory_health(void *handle, char *info, size_t info_size,
                         obol_error *err)
{
    memory_store *st = ((memory_handle *)handle)->store;
    (void)err;
    pthread_mutex_lock(&st->mutex);
    size_t count = st->count;
    pthread_mutex_unlock(&st->mutex);
    snprintf(info, info_size, "memory: %zu records", count);
    return OBOL_OK;
}

/* -------------------------------------------------------------- table */

static const char *const memory_schemes[] = { "memory", NULL };

/* It leaves put_batch (1.1), check (1.2), prefixes (1.3) and stats (1.4)
 * out, so the core writes a batch record by record with put(), takes
 * every record to fit, cannot tell which prefixes a space holds and has
 * no driver counters. It fills the counted removals of 1.5, and so
 * declares 1.5: a driver declares the minor version that added the newest
 * slot it fills. */
static const obol_driver memory_driver = {
    .abi_major = OBOL_DRIVER_ABI_MAJOR,
    .abi_minor = 6,   /* OBOL_DRIVER_LOCAL: runs inline, no native
                         non-blocking path */
    .struct_size = sizeof(obol_driver),
    .name = "memory",
    .schemes = memory_schemes,
    .capabilities = OBOL_DRIVER_THREAD_SAFE | OBOL_DRIVER_LOCAL,
    .open = memory_open,
    .close = memory_close,
    .get = memory_get,
    .put = memory_put,
    .del = memory_del,
    .list = memory_list,
    .del_all = memory_del_all,
    .scan = memory_scan,
    .prune = memory_prune,
    .health = memory_health,
    .del_counted = memory_del_counted,
    .del_all_counted = memory_del_all_counted,
    .prune_counted = memory_prune_counted,
};

const obol_driver *obol_driver_memory_entry(const obol_driver_host *new_host)
{
    host = new_host;
    return &memory_driver;
}

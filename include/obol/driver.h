/*
 * obol driver ABI — everything a backend author needs, and nothing an
 * application does (applications include only <obol/obol.h>).
 *
 * A driver is a shared object, "<name>.so", that exports one function:
 *
 *     const obol_driver *obol_driver_<name>_entry(const obol_driver_host *host);
 *
 * declared with OBOL_DRIVER_EXPORT(<name>) below, which also makes it the
 * one visible symbol of a file built with -fvisibility=hidden.
 * The core calls it right after loading the file, again at each store
 * open that loads it (so it must give the same answer each time, and may
 * be called from several threads at once), with a host table that lives
 * until the process ends, and gets back a driver table that must also live
 * that long (a static const struct). The per-driver entry name
 * lets several drivers be linked statically into one program.
 *
 * Records. The core hands the driver sealed bytes it must store and return
 * verbatim, filed under (store prefix, user id, type, session id). Every
 * string is counted (obol_bytes) and may hold any byte, NUL included. A
 * driver never parses a record and never sees a key.
 *
 * Compare-and-set. put() stores a record only when the stored lock version
 * of that session equals expected_lock, where a missing record, and one
 * whose expires_at is before now, count as lock version 0. It then stores
 * record->lock_version next to it, as given: expected_lock + 1 for an
 * upsert, the session's own lock version for a restore or a migration.
 * The check and the write must be atomic with respect to every other
 * process and thread.
 *
 * Expiry. expires_at is when the backend may forget the record; a record
 * with expires_at < now is dead and may be dropped at any time. Times are
 * signed 64-bit Unix seconds; INT64_MAX means never.
 *
 * Status. Each function returns a status of the same family as the public
 * API (OBOL_OK, OBOL_NOT_FOUND, OBOL_CONFLICT, OBOL_ERR_*) and, on error,
 * fills err (which is never NULL here) — host->set_error() does that. A
 * driver never prints; it may log through the callback in its config.
 *
 * Threads. A driver whose table has OBOL_DRIVER_THREAD_SAFE is called
 * concurrently on one handle; otherwise the core serializes calls on it.
 *
 * Walks. list() and scan() call the visitor holding nothing that another
 * call on the handle needs. The visitor may call any function of the
 * driver on the same handle, from the same thread (a rekey writes from
 * inside scan()'s visitor); and on a THREAD_SAFE driver, calls from other
 * threads go on while a visitor runs (it runs the application's callback,
 * which may take as long as it likes, or wait for another thread). A lock
 * held across the visitor, recursive or not, breaks one or the other: hand
 * the visitor a snapshot, or batches read outside any lock or transaction.
 * Whether a walk sees what is written meanwhile is unspecified; a record
 * that exists throughout the walk is visited at least once.
 *
 * Batches (ABI 1.1). put_batch() decides several compare-and-sets in one
 * call, each exactly as put() would, in order: a record sees what the
 * records before it in the batch wrote. It is optional; without it the
 * core calls put() once per record.
 *
 * Shape checks (ABI 1.2). check() answers, without touching the stored
 * data or the backend, whether put() of a record would ever be refused for
 * its shape alone (a key or a record longer than the backend can hold), so
 * that a caller can vet a whole import before writing any of it. It is
 * optional; without it the core assumes every record fits.
 *
 * Bounded reads (ABI 1.2). The core refuses a sealed record longer than
 * config->max_record before verifying it, as it refuses a bad seal. A
 * driver should not allocate or copy such a record only to have it
 * refused: get() then returns OBOL_OK with *sealed NULL and *sealed_len
 * the stored length, and list() and scan() show the visitor the record
 * with sealed.data NULL and sealed.len its length (its key, expiry and
 * lock as stored). A driver that hands over the bytes anyway is correct,
 * only wasteful. No other record has NULL data with a length over 0.
 *
 * Opening without creating (ABI 1.3). config->open_flags holds
 * OBOL_DRIVER_OPEN_EXISTING when the config string says create=0: open()
 * must then create nothing. A driver whose storage is made on first use
 * (a directory, a file, a named space) returns OBOL_ERR_NO_STORE when
 * there is none at the location yet, with a message naming the location
 * and saying that nothing was created ("no LMDB environment at PATH
 * (nothing was created)"), and leaves no trace on disk. A driver whose
 * backend exists apart from it (a server) has nothing to do. A driver
 * reads open_flags only when config->struct_size covers it: an older
 * core never asks.
 *
 * Prefixes (ABI 1.3). prefixes() names the store prefixes the backend
 * holds records under, so that a user who opened an empty prefix (a
 * typo, a forgotten prefix=) can be shown the ones that are not empty.
 * It is optional; without it the core says it cannot tell.
 *
 * Counters (ABI 1.4). stats() copies what the driver counted since open()
 * (connections, waits for a pooled one, cluster redirections, topology
 * refreshes) into an obol_driver_stats, for obol_store_stats(). It is
 * optional; without it a snapshot has no driver counters.
 *
 * Counted removals (ABI 1.5). del_counted(), del_all_counted() and
 * prune_counted() remove exactly what del(), del_all() and prune() do and
 * also say how many records of the store's prefix that removal took,
 * counted by the removal itself (in its transaction, its script, the
 * reply of its one command), so that the count is exact whatever other
 * writers do, and costs no extra round trip. They are optional, each on
 * its own; without one the core counts with a read just before the
 * removal, which a concurrent writer can make wrong. A driver that fills
 * them should write each removal once and let the old slot call the
 * counted one.
 *
 * Non-blocking operations (ABI 1.6). native_ops() and submit() let a
 * driver run the core's non-blocking API (obol.h, obol_queue) on its own
 * event-driven connections, with many operations in flight on each,
 * instead of on the core's worker threads. native_ops() says once, when
 * a queue opens, which kinds of operation a handle runs natively (a bit
 * per OBOL_DRIVER_OP_*); the core submits only those and runs the others
 * on its workers. submit() takes one operation and returns at once:
 * OBOL_OK means the driver will call op->complete exactly once, from any
 * thread (its own I/O thread, or the caller's before submit() returns),
 * by op->deadline_ms at the latest (with OBOL_ERR_TIMEOUT then); any other
 * status means it never will. The operation and everything it points to
 * stay valid until complete is called, and must not be touched after.
 * complete() may call submit() again. A handle's close() first completes
 * every operation not yet completed (OBOL_ERR_CANCELLED), and
 * close() is called only once the core's own work on the handle is done.
 * Each kind does what its blocking slot does, with the same statuses:
 *
 *     GET      get(); on OBOL_OK op->sealed (from host->alloc, the core
 *              frees it) and op->sealed_len, as get() would set them
 *     PUT      put() of op->record against op->expected_lock at op->now
 *     DEL      del_counted(): op->removed
 *     DEL_ALL  del_all_counted(): op->removed
 *     LIST     list(): op->visit(op->visit_arg, record) for each record,
 *              on the thread that then completes, before completing
 *
 * Redirections, retries and the rule never to resend a write whose
 * outcome is unknown are those of the blocking path. A capability flag,
 * OBOL_DRIVER_LOCAL, says the driver's calls are local and short (no
 * network, microseconds to a few milliseconds), so the core may run them
 * inline at submit instead.
 *
 * Reads in place (ABI 1.7). view() does what get() does without handing
 * the record over: it shows the stored bytes to the core's show()
 * callback where they lie (in a read transaction, under a lock) and
 * returns once show() has returned, so that nothing is allocated, copied
 * or freed per read. show() only verifies and decodes; it never calls
 * the driver, and it is short (a MAC over the record). A record longer
 * than max_record is shown too: the core refuses it by its length
 * without reading its bytes, so view() needs no bounded read of its own.
 *
 * Versions. Slots are only ever added at the end of a table, with a minor
 * bump. The core refuses a driver whose abi_major differs from its own or
 * whose struct_size is smaller than the version 1.0 table, and reads a slot
 * added later only when both struct_size and abi_minor cover it:
 *
 *     1.0  open ... prune (required), health (optional)
 *     1.1  put_batch (optional)
 *     1.2  check (optional); obol_driver_config.max_record
 *     1.3  prefixes (optional); obol_driver_config.open_flags
 *     1.4  stats (optional)
 *     1.5  del_counted, del_all_counted, prune_counted (optional)
 *     1.6  native_ops, submit (optional); OBOL_DRIVER_LOCAL
 *     1.7  view (optional)
 */
#ifndef OBOL_DRIVER_H
#define OBOL_DRIVER_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <obol/obol.h>

#ifdef __cplusplus
extern "C" {
#endif

#define OBOL_DRIVER_ABI_MAJOR 1
#define OBOL_DRIVER_ABI_MINOR 7

/* A counted byte string; data need not be NUL-terminated. */
typedef struct obol_bytes {
    const uint8_t *data;
    size_t len;
} obol_bytes;

/* Where one session lives within a store. */
typedef struct obol_driver_key {
    obol_bytes user_id;
    obol_bytes type;
    obol_bytes id;
} obol_driver_key;

/* One stored session as the driver sees it. */
typedef struct obol_driver_record {
    obol_driver_key key;
    obol_bytes sealed;     /* opaque bytes to store and return verbatim */
    int64_t expires_at;    /* the backend may drop the record after this */
    uint64_t lock_version; /* the record's optimistic-lock counter */
} obol_driver_record;

/*
 * Called by list() and scan() once per record. The bytes are valid only
 * during the call. Returning anything but OBOL_OK stops the walk, and the
 * driver function returns that status.
 */
typedef int (*obol_driver_visit)(void *arg, const obol_driver_record *record);

/* Called by view() (ABI 1.7) once, with a record's sealed bytes where
 * they are stored; they are valid only during the call. */
typedef void (*obol_driver_show)(void *arg, const uint8_t *sealed,
                                 size_t sealed_len);

/* Called by prefixes() once per prefix; the bytes are valid only during
 * the call. Returning anything but OBOL_OK stops it, and prefixes()
 * returns that status. */
typedef int (*obol_driver_prefix_visit)(void *arg, obol_bytes prefix);

/* Bits of obol_driver_config.open_flags (ABI 1.3). */
#define OBOL_DRIVER_OPEN_EXISTING (1u << 0) /* create=0: create nothing; no
                                               store there is
                                               OBOL_ERR_NO_STORE */

/* One driver-specific option from the config string (percent-decoded). */
typedef struct obol_driver_option {
    const char *key;
    const char *value;
} obol_driver_option;

/*
 * The parsed config string, as given to open(). Every string is
 * percent-decoded and NUL-terminated; absent parts are NULL (port: 0).
 * Options the core understands (prefix, secret, ...) are removed; the driver
 * must refuse any option left here that it does not know.
 */
typedef struct obol_driver_config {
    size_t struct_size;         /* sizeof(obol_driver_config) of the core */
    const char *url;            /* the whole string, secrets are never in it */
    const char *scheme;         /* as written: "redis", "redis+unix", ... */
    const char *user;
    const char *password;
    const char *host;           /* NULL when there is no "//" authority */
    uint16_t port;
    const char *path;           /* "/var/lib/app", "/0"; NULL when empty */
    const obol_driver_option *options;
    size_t option_count;
    obol_bytes prefix;          /* the store's namespace, never empty */
    /* Logger of the store; log may be called from any thread. */
    void (*log)(void *log_arg, int level, const char *msg);
    void *log_arg;
    /* ABI 1.2; read it only when struct_size covers it (an older core's
     * does not: no limit then). The longest sealed record the core reads;
     * 0: no limit. See "Bounded reads" above. */
    uint64_t max_record;
    /* ABI 1.3; read it only when struct_size covers it (an older core's
     * does not: 0 then). OBOL_DRIVER_OPEN_* bits; see "Opening without
     * creating" above. */
    uint32_t open_flags;
} obol_driver_config;

/* What the core offers a driver; valid until the process ends. */
typedef struct obol_driver_host {
    uint32_t abi_major;
    uint32_t abi_minor;
    size_t struct_size;
    /* Allocator for every buffer a driver hands to the core (get()). */
    void *(*alloc)(size_t size);
    void (*free)(void *ptr);
    /* Fills err with status and a printf-style message; returns status. */
    int (*set_error)(obol_error *err, int status, const char *fmt, ...)
#if defined(__GNUC__)
        __attribute__((format(printf, 3, 4)))
#endif
        ;
    /* Parses a whole decimal number in [0, max]; 0 on success, -1 if not. */
    int (*parse_uint)(const char *text, uint64_t max, uint64_t *out);
    /* Parses a size such as "4096", "64KiB", "1GiB", "10MB"; 0 or -1. */
    int (*parse_size)(const char *text, uint64_t *out);
} obol_driver_host;

/*
 * What a driver counted since open() (ABI 1.4), filled by stats(). The
 * core zeroes it and sets struct_size to its sizeof(obol_driver_stats); a
 * driver writes only the fields that struct_size covers, so that fields
 * can be added at the end. Counters only grow; a driver leaves 0 in those
 * that mean nothing for its backend.
 */
typedef struct obol_driver_stats {
    size_t struct_size;
    uint64_t connects;          /* connections made */
    uint64_t reconnects;        /* of those, in place of one to the same
                                   server that was lost (broken, closed by
                                   the server, retired) */
    uint64_t connect_failures;  /* attempts to connect that failed */
    uint64_t pool_waits;        /* takes that found no idle connection and
                                   waited for one */
    uint64_t pool_timeouts;     /* of those, gave up at the deadline */
    uint64_t moved;             /* cluster MOVED redirections followed */
    uint64_t asked;             /* cluster ASK redirections followed */
    uint64_t topology_refreshes;        /* slot maps read, masters resolved */
    uint64_t topology_refresh_failures; /* of those, that failed */
} obol_driver_stats;

/* Capability flags of a driver table. */
#define OBOL_DRIVER_THREAD_SAFE   (1u << 0) /* one handle, many threads */
#define OBOL_DRIVER_MULTI_PROCESS (1u << 1) /* processes may share a store */
#define OBOL_DRIVER_NATIVE_EXPIRY (1u << 2) /* the backend drops dead records */
#define OBOL_DRIVER_PERSISTENT    (1u << 3) /* data outlives the process */
#define OBOL_DRIVER_LOCAL         (1u << 4) /* calls are local and short:
                                               the core may run them inline
                                               (ABI 1.6) */

/* Kinds of non-blocking operation (ABI 1.6), and their bits in what
 * native_ops() returns. */
enum {
    OBOL_DRIVER_OP_GET = 0,
    OBOL_DRIVER_OP_PUT = 1,
    OBOL_DRIVER_OP_DEL = 2,
    OBOL_DRIVER_OP_DEL_ALL = 3,
    OBOL_DRIVER_OP_LIST = 4
};
#define OBOL_DRIVER_OP_BIT(kind) (1u << (kind))

typedef struct obol_driver_op obol_driver_op;

/* How a driver hands a non-blocking operation back: status is what the
 * blocking slot would return, err its message (NULL on OBOL_OK). */
typedef void (*obol_driver_complete)(obol_driver_op *op, int status,
                                     const obol_error *err);

/* One non-blocking operation (ABI 1.6). The core fills every field but the
 * results; the driver fills the results of its kind, then completes. */
struct obol_driver_op {
    size_t struct_size;         /* sizeof(obol_driver_op) of the core */
    int kind;                   /* OBOL_DRIVER_OP_* */
    obol_driver_key key;        /* GET, DEL, DEL_ALL, LIST (id ignored by
                                   the last two); PUT: record.key */
    obol_driver_record record;  /* PUT */
    uint64_t expected_lock;     /* PUT */
    int64_t now;                /* PUT */
    int64_t deadline_ms;        /* CLOCK_MONOTONIC, in milliseconds;
                                   INT64_MAX (a queue's longest
                                   timeout_ms): none */
    obol_driver_visit visit;    /* LIST */
    void *visit_arg;
    obol_driver_complete complete;
    /* Results. */
    uint8_t *sealed;            /* GET */
    size_t sealed_len;          /* GET */
    uint64_t removed;           /* DEL, DEL_ALL */
    /* The driver's own, for the life of the operation; the core sets it
     * to NULL. */
    void *driver_data;
};

typedef struct obol_driver {
    uint32_t abi_major;        /* OBOL_DRIVER_ABI_MAJOR the driver was built for */
    uint32_t abi_minor;        /* the minor version whose slots it fills, at
                                  most OBOL_DRIVER_ABI_MINOR */
    size_t struct_size;        /* sizeof(obol_driver) the driver was built with */
    const char *name;          /* "lmdb"; the file is "<name>.so" */
    const char *const *schemes;/* NULL-terminated: { "redis", "redis+unix", NULL } */
    uint32_t capabilities;     /* OBOL_DRIVER_* flags */

    /* Connects or opens; *handle is passed to every other call. */
    int (*open)(const obol_driver_config *config, void **handle,
                obol_error *err);
    void (*close)(void *handle);

    /* OBOL_OK with *sealed (from host->alloc) or OBOL_NOT_FOUND. */
    int (*get)(void *handle, const obol_driver_key *key, uint8_t **sealed,
               size_t *sealed_len, obol_error *err);
    /* Compare-and-set, see above: OBOL_OK or OBOL_CONFLICT. */
    int (*put)(void *handle, const obol_driver_record *record,
               uint64_t expected_lock, int64_t now, obol_error *err);
    /* Removes one session; a missing one is OBOL_OK. */
    int (*del)(void *handle, const obol_driver_key *key, obol_error *err);
    /* Visits every record of (user_id, type); key.id is ignored. */
    int (*list)(void *handle, const obol_driver_key *key,
                obol_driver_visit visit, void *arg, obol_error *err);
    /* Removes every record of (user_id, type); key.id is ignored. */
    int (*del_all)(void *handle, const obol_driver_key *key, obol_error *err);
    /* Visits every record of the store's prefix, in no particular order. */
    int (*scan)(void *handle, obol_driver_visit visit, void *arg,
                obol_error *err);
    /* Removes records whose expires_at < now. */
    int (*prune)(void *handle, int64_t now, obol_error *err);

    /* Optional (NULL: not supported). Writes a one-line description of the
     * backend (server version, path, ...) into info. */
    int (*health)(void *handle, char *info, size_t info_size, obol_error *err);

    /* Optional, ABI 1.1 (NULL: the core calls put() per record). Decides
     * count compare-and-sets in order, records[i] against
     * expected_locks[i] exactly as put() would, and sets statuses[i] to
     * OBOL_OK (stored) or OBOL_CONFLICT (left as it was). Each one is
     * atomic as put()'s is; the batch as a whole need not be.
     * Returns OBOL_OK once every record is decided, whatever the statuses
     * (never OBOL_CONFLICT itself), or an error. After an error the
     * statuses mean nothing and the core takes any record of the batch to
     * be written or not; the driver still keeps each record whole (stored
     * with its lock version and expiry, or untouched), never half of one.
     * A driver that runs the batch as one transaction writes none of it
     * then. count 0 is OBOL_OK, and the arrays may then be NULL. */
    int (*put_batch)(void *handle, const obol_driver_record *records,
                     const uint64_t *expected_locks, size_t count,
                     int64_t now, int *statuses, obol_error *err);

    /* Optional, ABI 1.2 (NULL: the core takes every record to fit).
     * Whether put() of record would be refused for its shape, whatever
     * the store holds: OBOL_OK when it would not, else the status
     * (OBOL_ERR_TOO_LARGE, OBOL_ERR_INVALID) and the message put() would
     * give for it. Reads and writes no stored data and makes no round
     * trip; record->sealed is the record as put() would get it. The lock
     * versions and expected_lock play no part. */
    int (*check)(void *handle, const obol_driver_record *record,
                 obol_error *err);

    /* Optional, ABI 1.3 (NULL: the core cannot tell). Calls visit for
     * each prefix under which the backend holds at least one record
     * (expired ones not yet pruned count), whichever store wrote it, in
     * no particular order; a prefix may be visited more than once. It
     * must be cheap, well short of a walk over every record (LMDB: one
     * cursor seek per prefix). A driver that can only look at part of
     * the backend within such a budget visits what it saw and sets
     * *complete to 0; one that saw everything sets it to 1. Reads no
     * record and changes nothing. */
    int (*prefixes)(void *handle, obol_driver_prefix_visit visit, void *arg,
                    int *complete, obol_error *err);
    /* Optional, ABI 1.4 (NULL: no driver counters). Fills the fields of
     * *out that out->struct_size covers with the driver's counters (see
     * obol_driver_stats), without a round trip. On a thread-safe driver
     * it runs while other calls do: read the counters atomically. */
    int (*stats)(void *handle, obol_driver_stats *out, obol_error *err);

    /* Optional, ABI 1.5 (NULL: the core counts with get(), list() or
     * scan() just before calling del(), del_all() or prune()). Each does
     * what the slot it is named for does, and on OBOL_OK sets *removed
     * (never NULL) to how many records it removed: del_counted() 1 or 0,
     * del_all_counted() those of (user_id, type), prune_counted() those
     * of the store's prefix whose expires_at < now. A record counts
     * whatever its bytes and its expires_at, if the backend still held
     * it; one that another writer removed first, or that the backend
     * dropped by itself, is not this call's and is not counted. A
     * prune_counted() that also removes other prefixes' records (LMDB's
     * expiry index is shared) does not count those. The count must come
     * from the removal itself, not from a read before it. After an error
     * *removed means nothing (a prune done in several steps may have
     * removed some records). */
    int (*del_counted)(void *handle, const obol_driver_key *key,
                       uint64_t *removed, obol_error *err);
    int (*del_all_counted)(void *handle, const obol_driver_key *key,
                           uint64_t *removed, obol_error *err);
    int (*prune_counted)(void *handle, int64_t now, uint64_t *removed,
                         obol_error *err);
    /* Optional, ABI 1.6, together (NULL: the core's workers run every
     * non-blocking operation). See "Non-blocking operations" above.
     * native_ops() returns the OBOL_DRIVER_OP_BIT()s of the kinds this
     * handle runs natively, 0 for none; it makes no round trip. */
    uint32_t (*native_ops)(void *handle);
    int (*submit)(void *handle, obol_driver_op *op, obol_error *err);

    /* Optional, ABI 1.7 (NULL: the core calls get()). See "Reads in
     * place" above. OBOL_NOT_FOUND or an error without calling show, or
     * OBOL_OK once show(arg, sealed, sealed_len) has been called exactly
     * once with the bytes get() would have copied, valid only during that
     * call. */
    int (*view)(void *handle, const obol_driver_key *key,
                obol_driver_show show, void *arg, obol_error *err);
} obol_driver;

/* The required slots of the version 1.0 table end after this one; a
 * smaller struct_size is refused. (The whole 1.0 table ends after health.) */
#define OBOL_DRIVER_MIN_SIZE \
    (offsetof(obol_driver, prune) + sizeof(((obol_driver *)0)->prune))

typedef const obol_driver *(*obol_driver_entry_fn)(const obol_driver_host *host);

/*
 * Declares the entry function of the driver called name, visible to
 * dlsym() even when the file is built with -fvisibility=hidden:
 *
 *     OBOL_DRIVER_EXPORT(mine);
 *
 *     const obol_driver *obol_driver_mine_entry(const obol_driver_host *host)
 *     {
 *         ...
 *     }
 *
 * name is the driver's name as the loader derives it from the scheme (1 to
 * 32 of [a-z0-9]), so "mine://..." finds mine.so and calls
 * obol_driver_mine_entry. The definition repeats the name in full, so that
 * a search for the symbol finds it.
 */
#if defined(__GNUC__)
#define OBOL_DRIVER_VISIBLE __attribute__((visibility("default")))
#else
#define OBOL_DRIVER_VISIBLE
#endif
#ifdef __cplusplus
#define OBOL_DRIVER_LINKAGE extern "C"
#else
#define OBOL_DRIVER_LINKAGE extern
#endif
#define OBOL_DRIVER_EXPORT(name)                                             \
    OBOL_DRIVER_LINKAGE OBOL_DRIVER_VISIBLE const obol_driver               \
        *obol_driver_##name##_entry(const obol_driver_host *host)

/*
 * For programs that link a driver in instead of loading it: makes the
 * driver whose entry function is entry available under its name, ahead of
 * any file the loader would search. The table is checked as a loaded one
 * is. Registering the same name again replaces it for stores opened after.
 * Returns OBOL_OK, OBOL_ERR_DRIVER (table refused, with the reason) or
 * OBOL_ERR_NOMEM (more than 32 drivers).
 */
OBOL_API int obol_driver_register(obol_driver_entry_fn entry, obol_error *err);

#ifdef __cplusplus
}
#endif

#endif /* OBOL_DRIVER_H */

/*
 * obol — a session store for C programs.
 *
 * A store keeps authentication sessions (one record per login, per user and
 * per session type) in a backend chosen by a config string:
 *
 *     obol_store *st;
 *     obol_error err;
 *     if (obol_store_open("lmdb:///var/lib/app/sessions?secret=env:OBOL_SECRET",
 *                         &st, &err) != OBOL_OK)
 *         fprintf(stderr, "obol: %s\n", err.message);
 *
 * The core library encodes, signs and checks every session; the backend
 * driver, loaded at run time, only ever stores opaque sealed bytes.
 *
 * Conventions
 *   - Every call that can fail returns a status: 0 (OBOL_OK), a positive
 *     outcome (OBOL_NOT_FOUND, OBOL_CONFLICT) or a negative error. Its last
 *     argument is an obol_error that receives the status and a message saying
 *     what failed and where; it may be NULL.
 *   - Strings are NUL-terminated; any other byte is allowed in ids.
 *   - Times are Unix seconds in int64_t. OBOL_INFINITE means "never".
 *   - The library never prints. Warnings (for example a record refused
 *     because its signature does not verify) go to the logger callback set
 *     with obol_store_set_logger(); by default they are dropped.
 *
 * Thread safety
 *   A store handle may be shared by any number of threads once it is set up:
 *   call obol_store_set_logger() and obol_store_set_clock() before sharing
 *   it. obol_store_add_key() and obol_store_stats() may be called at any
 *   time. An obol_session is plain memory owned by the caller and is not
 *   locked.
 *
 * Caveats
 *   - A session is "live" while now <= refresh_expires_at. No call ever
 *     returns a session that is not live.
 *   - After fork(), the child must not use a store opened by the parent;
 *     open a new one in the child.
 */
#ifndef OBOL_H
#define OBOL_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#if defined(__GNUC__) && !defined(OBOL_STATIC)
#define OBOL_API __attribute__((visibility("default")))
#else
#define OBOL_API
#endif

/* Version of the headers; obol_version() gives the library's at run time. */
#define OBOL_VERSION_MAJOR 0
#define OBOL_VERSION_MINOR 1
#define OBOL_VERSION_PATCH 0
#define OBOL_VERSION_STRING "0.1.0"

/* Returns the library version as "MAJOR.MINOR.PATCH"; fills any non-NULL
 * pointer with the matching number. */
OBOL_API const char *obol_version(int *major, int *minor, int *patch);

/* ---------------------------------------------------------------- statuses */

enum {
    OBOL_OK = 0,
    OBOL_NOT_FOUND = 1,      /* no live session matches */
    OBOL_CONFLICT = 2,       /* optimistic lock lost: reload and retry */
    OBOL_JUST_ROTATED = 3,   /* obol_refresh(): the token was rotated away
                                moments ago; use the current one */
    OBOL_REUSE_DETECTED = 4, /* obol_refresh(): an old token came back;
                                the session was revoked */

    OBOL_ERR_INVALID = -1,   /* bad argument, config string or option */
    OBOL_ERR_DRIVER = -2,    /* driver missing, unloadable, wrong ABI */
    OBOL_ERR_BACKEND = -3,   /* backend failed or unreachable */
    OBOL_ERR_TIMEOUT = -4,   /* backend did not answer in time */
    OBOL_ERR_NOMEM = -5,     /* out of memory */
    OBOL_ERR_KEY = -6,       /* no usable signing key */
    OBOL_ERR_TOO_LARGE = -7, /* payload or record over the limit */
    OBOL_ERR_CORRUPT = -8,   /* a record does not verify or decode */
    OBOL_ERR_NO_STORE = -9,  /* create=0: no store at that location, and
                                nothing was created */
    OBOL_ERR_CANCELLED = -10 /* the completion queue was closed before the
                                operation finished */
};

/* A short, static description of a status ("not found", "driver error"). */
OBOL_API const char *obol_strerror(int status);

/* Filled by every call that fails; message is always NUL-terminated. */
typedef struct obol_error {
    int status;
    char message[256];
} obol_error;

/* Log levels passed to the logger callback. */
enum {
    OBOL_LOG_ERROR = 0,
    OBOL_LOG_WARNING = 1,
    OBOL_LOG_INFO = 2,
    OBOL_LOG_DEBUG = 3
};

/* "Never expires". */
#define OBOL_INFINITE INT64_MAX

/* Default session type, used when a type argument is NULL. */
#define OBOL_DEFAULT_TYPE "full"

/* The longest id, user_id, type or refresh token id, in bytes, that a
 * store writes; a longer one is OBOL_ERR_TOO_LARGE. With max_payload it
 * bounds every record a store writes, which is what max_record builds on. */
#define OBOL_MAX_ID_LEN 1024

/* Current encoding version of a session (see docs/FORMAT.md). */
#define OBOL_SESSION_VERSION 2

/* ----------------------------------------------------------------- session */

/*
 * One login. The struct is plain memory owned by the caller: read any field,
 * change fields before obol_upsert(), free it with obol_session_free().
 * Strings and extra_payload are allocated with malloc(); replace them only
 * with malloc()ed memory (obol_session_set_payload() does this for you).
 */
typedef struct obol_session {
    char *id;                  /* unique session id */
    char *user_id;
    char *type;                /* "full", "oauth2", ... */
    char *refresh_token_id;    /* id of the current refresh token */
    int64_t created_at;
    int64_t expires_at;        /* absolute end, or OBOL_INFINITE */
    int64_t refresh_expires_at;/* refresh token usable until; <= expires_at */
    int64_t refreshed_at;      /* last refresh */
    /* Token generations: tokens_fresh_from is when the current refresh
     * token was issued (the session's creation, then each refresh), and
     * prev_tokens_fresh_from when the one before it was. A client's access
     * tokens issued before tokens_fresh_from belong to an older
     * generation. obol_session_refresh() and obol_refresh() move both on;
     * obol_refresh() uses tokens_fresh_from to tell a refresh that raced
     * another (within refresh_grace_s) from the reuse of an old token. */
    int64_t tokens_fresh_from;
    int64_t prev_tokens_fresh_from;
    uint64_t lock_version;     /* managed by the store: 0 means "new" */
    uint8_t *extra_payload;    /* application bytes, opaque to obol */
    size_t extra_payload_len;
    uint32_t version;          /* encoding version; OBOL_SESSION_VERSION */
    /* The refresh token id the last refresh rotated away, or NULL (a new
     * session, or one stored before obol kept it). */
    char *prev_refresh_token_id;
} obol_session;

/*
 * Makes a new session for user uid of the given type (NULL: "full") with a
 * random 128-bit url-safe id and refresh token id. It expires session_ttl
 * seconds after now (OBOL_INFINITE: never) and its refresh token refresh_ttl
 * seconds after now, capped at the session's end. Returns NULL for one of
 * three reasons: uid is NULL or empty, a ttl is negative, or memory ran
 * out. obol_session_create() says which.
 */
OBOL_API obol_session *obol_session_new(const char *uid, const char *type,
                                        int64_t now, int64_t session_ttl,
                                        int64_t refresh_ttl);

/*
 * obol_session_new() with a status: sets *out to the new session and
 * returns OBOL_OK, or sets it to NULL and returns OBOL_ERR_INVALID (uid
 * NULL or empty, a ttl negative, out NULL; the message names which) or
 * OBOL_ERR_NOMEM, with err filled.
 */
OBOL_API int obol_session_create(const char *uid, const char *type,
                                 int64_t now, int64_t session_ttl,
                                 int64_t refresh_ttl, obol_session **out,
                                 obol_error *err);

/*
 * Rotates the refresh token: a new random refresh_token_id (the old one
 * kept in prev_refresh_token_id), refreshed_at = now, refresh_expires_at = now + refresh_ttl capped at expires_at, and the
 * token generation moved on (prev_tokens_fresh_from = tokens_fresh_from,
 * tokens_fresh_from = now). Store the result with obol_upsert().
 * Returns OBOL_OK, OBOL_ERR_INVALID or OBOL_ERR_NOMEM.
 */
OBOL_API int obol_session_refresh(obol_session *s, int64_t now,
                                  int64_t refresh_ttl);

/* Replaces extra_payload with a copy of len bytes at data (NULL, 0 clears
 * it). Returns OBOL_OK, OBOL_ERR_INVALID or OBOL_ERR_NOMEM. */
OBOL_API int obol_session_set_payload(obol_session *s, const void *data,
                                      size_t len);

/* A deep copy, or NULL when out of memory. */
OBOL_API obol_session *obol_session_dup(const obol_session *s);

/* Frees a session and everything it owns; NULL is allowed. */
OBOL_API void obol_session_free(obol_session *s);

/* Frees count sessions and the array returned by obol_get_all(). */
OBOL_API void obol_sessions_free(obol_session **list, size_t count);

/* ------------------------------------------------------------------- store */

typedef struct obol_store obol_store;

/*
 * Opens a store described by config:
 *
 *   scheme://[user[:password]@]host[:port][/path-or-db][?key=value&...]
 *
 *   lmdb:///var/lib/app/sessions?map_size=1GiB
 *   redis://127.0.0.1:6379/0?prefix=obol&timeout_ms=500
 *   memory:
 *
 * The scheme names the driver. Options for every driver (see docs/CONFIG.md):
 *   prefix=NAME          namespace of this store's records (default "obol")
 *   secret=env:NAME      base secret read from an environment variable
 *   secret=file:PATH     base secret read from a file (at least 32 bytes)
 *   key_id=N             id of the key derived from the secret to sign with
 *                        (default 1)
 *   old_key_ids=N,...    old key ids derived from the same secret: they
 *                        verify, never sign
 *   old_secrets=N:env:NAME,N:file:PATH,...
 *                        retired base secrets, each with the key id it
 *                        signed with: they verify, never sign
 * A store verifies only the key ids these options (and
 * obol_store_add_key()) give it: an id no longer listed is retired, and its
 * records are refused (OBOL_EVENT_UNKNOWN_KEY). At most 16 old keys.
 *   seal=mac|aead        sign only (default), or also encrypt the payload
 *   allow_unsigned=0|1   accept records written without a seal (with a warning)
 *   max_payload=SIZE     limit of extra_payload (default 64KiB)
 *   max_record=SIZE      longest stored record a read takes in; a longer
 *                        one is refused unread, as a bad seal is (default:
 *                        the largest record max_payload allows, plus a
 *                        quarter; never less than that largest record)
 *   types=T1,T2,...      the session types the application uses, for
 *                        obol_delete_everywhere() (at most 32)
 *   create=0|1           0: open only a store that exists; a backend made
 *                        on first use (an LMDB directory, a named memory
 *                        space) that is not there yet is OBOL_ERR_NO_STORE
 *                        and nothing is created (default 1: create it)
 *   require_key=0|1      1: a store that has no signing key once its
 *                        options are read is OBOL_ERR_KEY here, not at
 *                        the first read or write (default 0)
 *   stats=0|1            keep the counters of obol_store_stats() (default 1)
 * Any other option goes to the driver, which refuses options it does not
 * know. Returns OBOL_OK, OBOL_ERR_INVALID, OBOL_ERR_DRIVER, OBOL_ERR_KEY,
 * OBOL_ERR_BACKEND, OBOL_ERR_NO_STORE or OBOL_ERR_NOMEM.
 *
 * A store without a key (no secret option and no obol_store_add_key() yet)
 * opens, but refuses every read and write with OBOL_ERR_KEY, unless
 * require_key=1 refuses it here. A secret shorter than 32 bytes is
 * OBOL_ERR_KEY (an old one may be 16).
 *
 * create=0 is for tools and jobs that only read or fix an existing store
 * (a misspelt path must not become an empty store that reads as "no
 * sessions"). A server (Redis) has nothing to create and ignores it; a
 * third-party driver built for a driver ABI before 1.3 is not told, and
 * may create its storage anyway.
 */
OBOL_API int obol_store_open(const char *config, obol_store **out,
                             obol_error *err);

/*
 * Sets the directories this process trusts to hold driver plugins, for
 * every store opened after: dirs is colon-separated absolute directories
 * ("/opt/app/drivers:/usr/lib/app"), searched after the drivers linked in
 * with obol_driver_register() and before $OBOL_DRIVER_PATH and the
 * installed driver directory. A config string cannot name one (its
 * driver_path option is refused): only the application chooses where code
 * is loaded from. The string is copied; NULL or "" clears the setting.
 * Safe to call from any thread: a store opening meanwhile searches the old
 * directories or the new ones. Whichever directory holds it, a driver file
 * is loaded only when it, and the directory, are neither group- nor
 * world-writable and are owned by root or the effective user (see
 * docs/DRIVERS.md). Returns OBOL_OK, OBOL_ERR_INVALID (an entry that is
 * empty or relative, named in the message; the setting is unchanged) or
 * OBOL_ERR_NOMEM.
 */
OBOL_API int obol_set_driver_path(const char *dirs, obol_error *err);

/* Closes the store and wipes its keys; NULL is allowed. No call on st may
 * be in progress. */
OBOL_API void obol_store_close(obol_store *st);

/*
 * Adds a raw 32-byte key under key_id. With sign_with_it, new records are
 * signed with it; otherwise it only verifies records that name key_id (an
 * old key kept during rotation). A key_id that is already loaded is
 * replaced. Returns OBOL_OK, OBOL_ERR_INVALID or OBOL_ERR_NOMEM.
 */
OBOL_API int obol_store_add_key(obol_store *st, uint32_t key_id,
                                const uint8_t key[32], int sign_with_it,
                                obol_error *err);

/* Sets the logger that receives warnings (records refused and why),
 * information and debug messages. NULL restores the silent default. */
OBOL_API void obol_store_set_logger(obol_store *st,
                                    void (*log)(void *arg, int level,
                                                const char *msg),
                                    void *arg);

/* Sets the clock used for liveness checks and pruning (default: time()).
 * NULL restores the default. */
OBOL_API void obol_store_set_clock(obol_store *st, int64_t (*now)(void *arg),
                                   void *arg);

/* The store's clock: what liveness is checked against. Make sessions with
 * it (obol_session_new(uid, type, obol_store_now(st), ...)) so that the
 * application and the store agree on what is live. */
OBOL_API int64_t obol_store_now(obol_store *st);

/* ------------------------------------------------------------------ events */

/* What a security team alerts on. */
enum {
    OBOL_EVENT_REUSE_DETECTED = 1, /* an old refresh token was presented;
                                      the session was revoked */
    OBOL_EVENT_BAD_SEAL = 2,       /* a record failed its seal or did not
                                      decode, and was refused */
    OBOL_EVENT_UNKNOWN_KEY = 3,    /* a record names a key id this store
                                      does not verify with, and was refused */
    OBOL_EVENT_UNSIGNED_READ = 4   /* an unsigned record was accepted
                                      because of allow_unsigned=1 */
};

/* One event. The strings are valid during the call only and are counted
 * (a record found by a walk may hold any byte); none holds a secret. */
typedef struct obol_event {
    int kind;                  /* OBOL_EVENT_* */
    const char *user_id;
    size_t user_id_len;
    const char *type;
    size_t type_len;
    const char *session_id;
    size_t session_id_len;
    uint32_t key_id;           /* the record's key id; 0 when none */
    const char *reason;        /* a short explanation, for the log */
} obol_event;

typedef void (*obol_event_fn)(void *arg, const obol_event *event);

/* Calls hook once for every event, on the thread of the call that met it;
 * NULL removes it. Set it before sharing the store between threads. */
OBOL_API void obol_store_set_event_hook(obol_store *st, obol_event_fn hook,
                                        void *arg);

/* "reuse detected", "bad seal", "unknown key", "unsigned read". */
OBOL_API const char *obol_event_name(int kind);

/* Name of the driver serving the store ("lmdb", "redis", ...). */
OBOL_API const char *obol_store_driver_name(const obol_store *st);

/* The prefix the store's records are filed under (option prefix=,
 * default "obol"); valid as long as the store. NULL for a NULL store. */
OBOL_API const char *obol_store_prefix(const obol_store *st);

/*
 * Whether the store has a key to sign with, which every read and write
 * needs: 1 when it does (a secret= option, or obol_store_add_key() with
 * sign_with_it), 0 when every read and write would be OBOL_ERR_KEY (or
 * st is NULL). A key is not checked against the stored records: a wrong
 * secret is a key too, and shows as records refused for their seal.
 */
OBOL_API int obol_store_has_key(const obol_store *st);

/* The store prefixes a backend holds records under. */
typedef struct obol_prefix_list {
    char **prefixes;   /* count prefixes, sorted bytewise, each once */
    size_t count;
    int complete;      /* 1: every prefix of the backend is listed; 0: the
                          driver cannot tell (count is then 0), or looked
                          at part of the backend only (a partial list) */
} obol_prefix_list;

/*
 * Fills *out with the prefixes under which the backend behind st holds
 * records (expired ones not yet pruned count), whichever store wrote
 * them: to tell a user who opened an empty prefix which ones are not
 * empty. Cheap where the driver can tell: one cursor seek per prefix on
 * LMDB; on Redis a SCAN that looks at some 16,000 keys per master at
 * most, so that a larger server gives a partial list (complete 0). A
 * driver that cannot tell (memory, a driver built before ABI 1.3) gives
 * an empty list with complete 0, and OBOL_OK. A prefix holding a
 * NUL byte (which no config string can name) is left out. Needs no key.
 * On OBOL_OK free the list with obol_prefix_list_clear(). Returns
 * OBOL_OK, OBOL_ERR_INVALID, OBOL_ERR_NOMEM or a backend error.
 */
OBOL_API int obol_store_prefixes(obol_store *st, obol_prefix_list *out,
                                 obol_error *err);

/* Frees what obol_store_prefixes() filled in and zeroes it; NULL is
 * allowed. */
OBOL_API void obol_prefix_list_clear(obol_prefix_list *list);

/* What serves a store, for diagnostics. */
typedef struct obol_store_info {
    const char *driver;          /* "lmdb", "redis", ...; valid with the store */
    unsigned driver_abi_major;   /* ABI the driver was built for */
    unsigned driver_abi_minor;
    int thread_safe;             /* one handle may serve many threads */
    int multi_process;           /* processes may share the backend */
    int native_expiry;           /* the backend drops dead records itself */
    int persistent;              /* records outlive the process */
    char backend[256];           /* the driver's own one-line description
                                    (server version, path, ...), or "" */
} obol_store_info;

/* Fills *info. Asking the driver about its backend may take a round trip:
 * OBOL_OK, or the backend's error (info is filled as far as it goes). */
OBOL_API int obol_store_describe(obol_store *st, obol_store_info *info,
                                 obol_error *err);

/*
 * Reads the live session (sid, uid, type). Returns OBOL_OK with *out set
 * (free it with obol_session_free()), OBOL_NOT_FOUND, or an error. A record
 * that fails its seal, does not decode, is not live or names another id,
 * user or type is OBOL_NOT_FOUND, and the logger is told why; so is one
 * longer than max_record, which is refused before it is read in.
 */
OBOL_API int obol_get(obol_store *st, const char *sid, const char *uid,
                      const char *type, obol_session **out, obol_error *err);

/*
 * Inserts or updates s under optimistic locking. lock_version 0 inserts
 * only if no record has s->id; lock_version n > 0 updates only if the stored
 * record has lock_version n. On success the stored and s->lock_version
 * become n + 1; otherwise OBOL_CONFLICT and nothing changes. A session whose
 * refresh_expires_at is already past is not written and the call succeeds.
 * An extra_payload over max_payload, or an id, user_id, type or refresh
 * token id over OBOL_MAX_ID_LEN bytes, is OBOL_ERR_TOO_LARGE.
 */
OBOL_API int obol_upsert(obol_store *st, obol_session *s, obol_error *err);

/* Deletes one session; a missing one is OBOL_OK. */
OBOL_API int obol_delete(obol_store *st, const char *sid, const char *uid,
                         const char *type, obol_error *err);

/*
 * Every live session of user uid and type. On OBOL_OK *out is an array of
 * *count sessions (possibly none); free it with obol_sessions_free().
 * Records that do not verify are skipped and logged.
 */
OBOL_API int obol_get_all(obol_store *st, const char *uid, const char *type,
                          obol_session ***out, size_t *count, obol_error *err);

/* Deletes every session of user uid and type, and nothing else. To log a
 * user out of every type, see obol_delete_everywhere(). */
OBOL_API int obol_delete_all(obol_store *st, const char *uid, const char *type,
                             obol_error *err);

/*
 * Logout everywhere: deletes every session of user uid of each type the
 * config string's types= option lists, and of OBOL_DEFAULT_TYPE ("full")
 * whether listed or not; nothing of other users or of unlisted types.
 * A store opened without types= cannot know what "everywhere" is and
 * refuses the call with OBOL_ERR_INVALID.
 *
 * It is obol_delete_all() once per type: N types cost N backend round
 * trips, each on one Redis Cluster slot (a user's types live in different
 * slots by design; that is what keeps every other call on one slot).
 * When a type fails, the others are still deleted: the call returns the
 * first failure's status, and err says how many types failed and why the
 * first did (the logger hears about the rest). What was deleted stays
 * deleted, and calling again is safe. Not a snapshot: a login racing the
 * call may survive it, while a refresh of a session read before it is
 * OBOL_CONFLICT. Returns OBOL_OK, OBOL_ERR_INVALID, OBOL_ERR_KEY or a
 * backend error.
 */
OBOL_API int obol_delete_everywhere(obol_store *st, const char *uid,
                                    obol_error *err);

/* Removes records whose refresh_expires_at has passed. Backends also expire
 * records on their own; this makes it happen now. */
OBOL_API int obol_prune(obol_store *st, obol_error *err);

/*
 * Counts. obol_delete(), obol_delete_all(), obol_delete_everywhere() and
 * obol_prune() that also say, in *removed, how many records they removed
 * (0 when the call fails; removed may be NULL, which makes them the calls
 * above). A record counts whatever it holds: a session no longer live, or
 * one that would be refused for its seal, is removed all the same.
 *
 * The count is the driver's own when it has the counted slots of driver
 * ABI 1.5 (del_counted, del_all_counted, prune_counted; every driver of
 * this tree has them): the removal counts the records it removes, in the
 * same transaction, script or command, so the count is exact whatever
 * other writers do meanwhile, and costs nothing more than the removal. A
 * record another writer removed first, or one the backend already
 * dropped by itself (Redis expires a user's keys), was not removed by
 * this call and is not counted. Only records of the store's prefix are
 * counted: the LMDB driver's prune (and the memory driver's, in a named
 * space) also removes the expired records of the other prefixes it
 * shares, and does not count those.
 *
 * With a driver that lacks a counted slot (an older or out-of-tree one)
 * the count is approximate: the store counts just before the removal,
 * with the driver's own read of the one record, of the user's records of
 * the type, or (prune) of every record of the store's prefix whose expiry
 * is before now. That costs one more round trip (prune: a walk of the
 * store), and a record another writer adds or deletes in between is
 * counted wrongly; the count is exact only when nothing else writes
 * meanwhile.
 */
OBOL_API int obol_delete_counted(obol_store *st, const char *sid,
                                 const char *uid, const char *type,
                                 uint64_t *removed, obol_error *err);
OBOL_API int obol_delete_all_counted(obol_store *st, const char *uid,
                                     const char *type, uint64_t *removed,
                                     obol_error *err);
OBOL_API int obol_delete_everywhere_counted(obol_store *st, const char *uid,
                                            uint64_t *removed,
                                            obol_error *err);
OBOL_API int obol_prune_counted(obol_store *st, uint64_t *removed,
                                obol_error *err);

/* ------------------------------------------------------ tokens, refresh */

/*
 * A client token: one opaque url-safe string ("o1." and base64url) that
 * names a session (user, type, id) and carries its refresh token id, bound
 * by a MAC to the store's prefix and signing key. It is what a client keeps
 * in a cookie; any byte but NUL may be in its ids. A token is a few hundred
 * characters at most for ordinary ids (143 for 22-character ids and a
 * 17-byte user id). docs/FORMAT.md has it byte for byte.
 */
typedef struct obol_token {
    char *user_id;
    char *type;
    char *id;                  /* the session id */
    char *refresh_token_id;
    uint32_t key_id;           /* the key that made it */
} obol_token;

/* The token of s as stored now (its refresh_token_id), in *token (free it
 * with free()). Returns OBOL_OK, OBOL_ERR_INVALID, OBOL_ERR_KEY or
 * OBOL_ERR_NOMEM. */
OBOL_API int obol_token_make(obol_store *st, const obol_session *s,
                             char **token, obol_error *err);

/*
 * Checks a token and reads it into *out (free it with obol_token_free()).
 * No backend is asked. A token that is malformed, made for another prefix,
 * altered in any byte or signed with a key this store does not verify with
 * is OBOL_NOT_FOUND, with the reason in err. Also OBOL_ERR_INVALID (NULL
 * arguments) or OBOL_ERR_NOMEM.
 */
OBOL_API int obol_token_parse(obol_store *st, const char *token,
                              obol_token **out, obol_error *err);

OBOL_API void obol_token_free(obol_token *t);

/*
 * The refresh-token protocol (rotation with reuse detection, RFC 9700
 * section 4.14.2): the client presents its token; obol checks it (no round
 * trip when it fails its MAC), reads the session, compares the presented
 * refresh token id with the stored one in constant time, rotates it
 * (obol_session_refresh() with refresh_ttl) and writes under the lock. A
 * write lost to a concurrent one is read again and decided again, never
 * reported as a failure. Outcomes:
 *
 *   OBOL_OK              rotated: *session is the stored session, *new_token
 *                        the token to hand the client (free both);
 *   OBOL_NOT_FOUND       no live session, or a token that fails its MAC;
 *                        the reason is in err;
 *   OBOL_JUST_ROTATED    the token is the one rotated away less than
 *                        refresh_grace_s ago (option, default 10): two tabs
 *                        refreshing at once. Nothing is revoked and nothing
 *                        is handed out (*session and *new_token are NULL,
 *                        so that the holder of a stolen old token gains
 *                        nothing): the client should use the token the
 *                        other refresh gave it;
 *   OBOL_REUSE_DETECTED  an older token, or the previous one after the
 *                        grace period: the session is deleted (revoked), a
 *                        warning is logged and OBOL_EVENT_REUSE_DETECTED
 *                        fires; *session and *new_token are NULL.
 *
 * Or an error (OBOL_ERR_*), after which nothing was revoked. session and
 * new_token may be NULL when the caller does not want them.
 */
OBOL_API int obol_refresh(obol_store *st, const char *token,
                          int64_t refresh_ttl, obol_session **session,
                          char **new_token, obol_error *err);

/* ------------------------------------------------------------ whole stores */

/* What a walk over a whole store met. */
typedef struct obol_scan_stats {
    uint64_t records;   /* records of the store's prefix seen */
    uint64_t live;      /* live sessions handed on */
    uint64_t expired;   /* no longer live: skipped */
    uint64_t rejected;  /* did not verify or decode: skipped, and logged */
} obol_scan_stats;

/* Called once per live session; s is valid during the call only (keep a
 * copy with obol_session_dup()). Return OBOL_OK to go on. */
typedef int (*obol_scan_fn)(void *arg, const obol_session *s);

/*
 * Calls each() for every live session of the store, of every user and
 * type, in no particular order. A walk is not a snapshot: sessions written
 * meanwhile may or may not be seen. Records that do not verify are counted
 * in stats->rejected and logged, and the walk goes on. Returns OBOL_OK, the
 * first status other than OBOL_OK that each() returned, or an error.
 * stats may be NULL.
 */
OBOL_API int obol_scan(obol_store *st, obol_scan_fn each, void *arg,
                       obol_scan_stats *stats, obol_error *err);

/*
 * obol_scan() that stops after max_records records of the store, whatever
 * became of them (live, expired or refused), and returns OBOL_OK then: a
 * sample whose cost does not depend on how many records verify (with a
 * wrong secret none does). stats->records is at most max_records; 0 walks
 * nothing.
 */
OBOL_API int obol_scan_sample(obol_store *st, uint64_t max_records,
                              obol_scan_fn each, void *arg,
                              obol_scan_stats *stats, obol_error *err);

/*
 * Writes s exactly as it is, lock_version included, sealed with this
 * store's key, replacing whatever the store holds under its id: the way
 * to restore an export or copy sessions between stores, never to refresh
 * one (use obol_upsert()); obol_restore_mode() writes it only where that
 * rolls nothing back. s->lock_version must be at least 1. A session
 * that is no longer live is not written, and the call succeeds. Returns
 * OBOL_OK, OBOL_ERR_INVALID, OBOL_ERR_TOO_LARGE, OBOL_ERR_KEY, or a
 * backend error.
 */
OBOL_API int obol_restore(obol_store *st, const obol_session *s,
                          obol_error *err);

/*
 * What obol_restore_mode() and obol_migrate_mode() do with a session the
 * destination already holds under its id. Each session is decided and
 * written in one compare-and-set of the destination's driver, so a writer
 * on the destination that wins the race is never overwritten by a decision
 * made before its write. The destination keeps no record of what it
 * deleted: a session deleted there comes back with every mode when the
 * source still holds it. docs/SECURITY.md ("Freshness across a restore")
 * says which mode is safe when.
 */
enum {
    /* Write it whatever is there, at the source's lock_version, even a
     * lower one: what obol_restore() and obol_migrate() do. For a
     * destination no application writes to yet (a first copy, a re-run of
     * it), and for a deliberate rollback to a backup. */
    OBOL_RESTORE_REPLACE = 0,
    /* Write it only where the destination holds no live session under its
     * id (one compare-and-set expecting no record). */
    OBOL_RESTORE_ONLY_MISSING = 1,
    /* Write it only where the destination holds none, or holds one with a
     * lower lock_version (the lock its driver keeps, also for a record the
     * destination cannot read): the destination's lock version never goes
     * backwards. The catch-up of a cutover, while the destination already
     * serves writes. */
    OBOL_RESTORE_ONLY_NEWER = 2
};

/*
 * obol_restore() in one of the OBOL_RESTORE_* modes. Returns OBOL_OK when s
 * was written (or is no longer live, and nothing was to be written), or
 * OBOL_CONFLICT when the mode left the store's session alone: it is there
 * (OBOL_RESTORE_ONLY_MISSING), its lock_version is s's or higher
 * (OBOL_RESTORE_ONLY_NEWER), or another writer kept changing it between
 * each read and write (ONLY_NEWER reads and decides again a few times
 * first); err says which. Otherwise the statuses of obol_restore(), and
 * OBOL_ERR_INVALID for an unknown mode.
 */
OBOL_API int obol_restore_mode(obol_store *st, const obol_session *s,
                               int mode, obol_error *err);

/*
 * Whether obol_restore(st, s) would refuse s for what it is, writing
 * nothing: every check obol_restore() makes (ids, times, lock_version,
 * max_payload, a signing key), the same sealing, then the driver's own
 * limits on the sealed record (an id too long for an LMDB key, ...),
 * without a round trip. Returns OBOL_OK, or the status and message
 * obol_restore() would give. What depends on the backend's state or
 * health (a writer racing the restore, a backend down) is not checked.
 * A session that is no longer live is OBOL_OK: obol_restore() skips it.
 * Use it to vet a whole import before writing any of it.
 */
OBOL_API int obol_restore_check(obol_store *st, const obol_session *s,
                                obol_error *err);

/* Progress of a migration. Callers allocate it, so it never grows (see
 * obol_migrate_report for the counts of each outcome). */
typedef struct obol_migrate_stats {
    uint64_t total;     /* records in the source, counted before copying */
    uint64_t seen;      /* records handled so far */
    uint64_t copied;    /* live sessions written to the destination */
    uint64_t skipped;   /* not copied: expired, or left alone by the mode
                           (obol_migrate_report has each count) */
    uint64_t rejected;  /* did not verify or decode: not copied, logged */
} obol_migrate_stats;

/*
 * What obol_migrate_mode() did with each record. Set struct_size to
 * sizeof(obol_migrate_report) before the call: the library fills only what
 * struct_size covers, so that fields can be added at the end.
 * stats.seen = stats.copied + stats.rejected + expired + present +
 * not_newer + conflicts, and stats.skipped is the sum of the last four.
 */
typedef struct obol_migrate_report {
    size_t struct_size;
    obol_migrate_stats stats;
    uint64_t expired;    /* no longer live: not copied */
    uint64_t present;    /* ONLY_MISSING: the destination holds the
                            session: left alone */
    uint64_t not_newer;  /* ONLY_NEWER: the destination's lock_version is
                            the source's or higher: left alone */
    uint64_t conflicts;  /* ONLY_NEWER: a writer on the destination changed
                            the session between each read and write, a few
                            times in a row: left to it */
} obol_migrate_report;

/* Called as a migration (or a rekey, see obol_rekey()) goes on: every few
 * hundred records, and once at the end; so_far is valid during the call
 * only. */
typedef void (*obol_progress_fn)(void *arg, const obol_migrate_stats *so_far);

/*
 * Copies every live session of src into dst as obol_restore() writes one:
 * between backends (redis to lmdb and back), between prefixes, or from
 * unsigned records (src opened with allow_unsigned=1) to sealed ones. Every
 * field is kept; records are sealed anew with dst's key. Sessions are
 * written a few hundred at a time, in one driver call where dst's driver
 * can take a batch (one transaction on LMDB). It replaces what dst holds
 * (OBOL_RESTORE_REPLACE): running it twice gives the same result, and a
 * session refreshed in dst since an earlier run goes back to the source's
 * lock version, its rotated-away refresh token working again. Into a store
 * that already serves writes, use obol_migrate_mode() with
 * OBOL_RESTORE_ONLY_NEWER. progress may be NULL; so may stats. Returns
 * OBOL_OK or the
 * first error, which stops the migration (what was copied stays copied).
 */
OBOL_API int obol_migrate(obol_store *src, obol_store *dst,
                          obol_progress_fn progress, void *arg,
                          obol_migrate_stats *stats, obol_error *err);

/*
 * obol_migrate() in one of the OBOL_RESTORE_* modes, each session decided
 * against the destination in one compare-and-set as obol_restore_mode()
 * decides it, a batch at a time. With OBOL_RESTORE_ONLY_NEWER, the
 * destination's lock versions never go backwards, so a refresh token
 * rotated away there stays refused; and running it again copies only what
 * changed in the source since. progress gets obol_migrate_stats as from
 * obol_migrate(); report (may be NULL) gets every count at the end, as far
 * as the migration went. Returns OBOL_OK, OBOL_ERR_INVALID (an unknown
 * mode, a report whose struct_size is too small), or what obol_migrate()
 * returns. A session left alone is not an error.
 */
OBOL_API int obol_migrate_mode(obol_store *src, obol_store *dst, int mode,
                               obol_progress_fn progress, void *arg,
                               obol_migrate_report *report, obol_error *err);

/* ------------------------------------------------------------ key rotation */

/* What a rekey met. */
typedef struct obol_rekey_stats {
    uint64_t total;      /* records in the store, counted before the walk */
    uint64_t seen;       /* records handled */
    uint64_t rewritten;  /* sealed anew with the signing key */
    uint64_t current;    /* already sealed with the signing key (and the
                            store's seal mode): left alone */
    uint64_t conflicts;  /* left alone: a concurrent write (a refresh, a
                            delete) won the compare-and-set */
    uint64_t expired;    /* no longer live: left for prune */
    uint64_t rejected;   /* did not verify or decode (for example under a
                            retired key id): left alone, and logged */
} obol_rekey_stats;

/*
 * Rewrites every live session of the store that is not sealed with its
 * signing key id and seal mode (an old key id, seal=mac when the store
 * says aead, or unsigned when allow_unsigned=1), so that old key ids can
 * then be retired. Each session is written with the lock version it has,
 * under compare-and-set on that lock version: a refresh that wrote first
 * wins and the session is skipped (counted in conflicts), and a refresh
 * that comes after still finds the lock version it read. No refresh is
 * ever lost, and a deleted session is never brought back. Sessions are
 * written a few hundred at a time. Records already current are skipped,
 * so a rekey that stopped can simply be run again. The application may use
 * the store, through this handle or others, while a rekey runs (on a driver
 * that is not thread-safe, calls on this handle wait for the walk).
 *
 * progress (may be NULL) is called as obol_migrate() calls it, every few
 * hundred records and once at the end, with total and seen as here,
 * copied = rewritten, skipped = current + conflicts + expired, and
 * rejected. stats may be NULL. Returns OBOL_OK, OBOL_ERR_KEY (no signing
 * key), or the first error, which stops the rekey (what was rewritten stays
 * rewritten).
 */
OBOL_API int obol_rekey(obol_store *st, obol_progress_fn progress, void *arg,
                        obol_rekey_stats *stats, obol_error *err);

/* What a store does with a key id. */
enum {
    OBOL_KEY_ROLE_SIGNING = 1,  /* signs new records, and verifies */
    OBOL_KEY_ROLE_OLD = 2,      /* verifies only: kept during rotation */
    OBOL_KEY_ROLE_UNKNOWN = 3   /* not given to the store (retired, or
                                   another store's): records are refused */
};

/* The records of one key id. */
typedef struct obol_key_count {
    uint32_t key_id;
    int role;                   /* OBOL_KEY_ROLE_* */
    uint64_t records;           /* records that name key_id and verify with
                                   it; for OBOL_KEY_ROLE_UNKNOWN, every
                                   record that names it (none can verify) */
} obol_key_count;

/* How a store's records are spread over key ids. */
typedef struct obol_key_census {
    uint64_t records;           /* records of the store's prefix seen */
    uint64_t expired;           /* past their expiry, not yet pruned: not
                                   counted below */
    uint64_t unsigned_records;  /* unsigned legacy records */
    uint64_t bad_seals;         /* under a key id the store holds, but the
                                   seal does not verify (altered, or another
                                   secret under the same key id) */
    uint64_t unreadable;        /* not a sealed record of any format */
    size_t key_count;
    obol_key_count *keys;       /* key_count entries, by key id: every key
                                   the store holds (with 0 records if none
                                   name it) and every other key id met */
} obol_key_census;

/*
 * Counts the store's records by the key id that seals them, in one walk
 * that checks each record's seal but decodes nothing: whether an old key id
 * still holds records before it is retired. Nothing is logged and no event
 * fires (a census reads no session). On OBOL_OK, free census with
 * obol_key_census_clear(). Returns OBOL_OK, OBOL_ERR_INVALID,
 * OBOL_ERR_NOMEM or a backend error.
 */
OBOL_API int obol_count_keys(obol_store *st, obol_key_census *census,
                             obol_error *err);

/* Frees what obol_count_keys() filled in and zeroes it; NULL is allowed. */
OBOL_API void obol_key_census_clear(obol_key_census *census);

/* ------------------------------------------------------------------ stats */

/*
 * A store counts what it does from the moment it opens: for each
 * operation, the calls, their outcomes and errors by status, and a latency
 * histogram; the records it refused, by reason; compare-and-sets lost; and,
 * from a driver that keeps them (driver ABI 1.4; the Redis driver does),
 * connections made, waits for a pooled connection, Redis Cluster
 * redirections and slot-map refreshes. obol_store_stats() copies them into
 * a snapshot; docs/STATS.md shows how to export one to Prometheus.
 *
 * Counting costs two clock reads and three relaxed atomic additions per
 * call, on counters striped by thread so that threads on different cores
 * do not share a cache line (docs/BENCHMARKS.md has the figures). The
 * option stats=0 turns the core's counters off; the driver's stay.
 *
 * Each call is counted once, as the operation the application called:
 * the reads and writes obol_refresh() makes are one refresh, not gets and
 * upserts. The variants count as their operation (obol_delete_counted()
 * as a delete, obol_scan_sample() as a scan, obol_restore_mode() as a
 * restore, obol_migrate_mode() as a migrate, ...). obol_migrate() counts
 * in both stores. obol_restore_check(), the obol_token_*() calls,
 * obol_store_describe() and obol_store_prefixes() are not counted.
 */

/* The operations counted: indexes of obol_stats.ops. Later versions add
 * operations at the end; obol_stats.op_count says how many a library
 * fills, and obol_op_name() names each. */
enum {
    OBOL_OP_GET = 0,
    OBOL_OP_UPSERT = 1,
    OBOL_OP_DELETE = 2,
    OBOL_OP_GET_ALL = 3,
    OBOL_OP_DELETE_ALL = 4,
    OBOL_OP_DELETE_EVERYWHERE = 5,
    OBOL_OP_PRUNE = 6,
    OBOL_OP_REFRESH = 7,
    OBOL_OP_SCAN = 8,
    OBOL_OP_RESTORE = 9,
    OBOL_OP_MIGRATE = 10,
    OBOL_OP_REKEY = 11,
    OBOL_OP_COUNT_KEYS = 12,
    OBOL_OP_COUNT = 13          /* the operations of this header */
};

/* Why a read refused a record (see obol_get()): indexes of
 * obol_stats.refused, named by obol_refusal_name(). */
enum {
    OBOL_REFUSED_BAD_SEAL = 0,    /* the MAC does not verify, it does not
                                     decrypt, or it is no sealed record */
    OBOL_REFUSED_UNKNOWN_KEY = 1, /* sealed with a key id the store does
                                     not verify with (OBOL_EVENT_UNKNOWN_KEY) */
    OBOL_REFUSED_UNSIGNED = 2,    /* unsigned, and allow_unsigned=0 */
    OBOL_REFUSED_OVERSIZED = 3,   /* longer than max_record: refused unread */
    OBOL_REFUSED_UNDECODABLE = 4, /* verified, but the session in it does
                                     not decode */
    OBOL_REFUSED_MISFILED = 5,    /* it holds another session id, user or
                                     type than the key it is filed under */
    OBOL_REFUSED_COUNT = 6        /* the reasons of this header */
};

/* The sizes of the arrays below. They fix the layout and never change;
 * what grows is how many entries are in use. */
#define OBOL_STATS_OUTCOMES 8      /* statuses 0 .. 7 */
#define OBOL_STATS_ERRORS 16       /* statuses -1 .. -16 */
#define OBOL_STATS_BUCKETS 27
#define OBOL_STATS_MAX_OPS 32
#define OBOL_STATS_MAX_REFUSALS 16

/* Where obol_op_stats.errors counts an error status (OBOL_ERR_*). */
#define OBOL_STATS_ERROR_INDEX(status) (-(status) - 1)

/*
 * One operation. latency[] is a histogram of how long calls took, on the
 * monotonic clock, from entry to return, for a sample of the calls: every
 * 8th call of each thread, its first included, is timed (two clock reads
 * are most of what counting costs), so the histogram adds up to timed,
 * not to calls. latency[0] counts the timed calls that
 * took at most 1 us, latency[k] for 0 < k < OBOL_STATS_BUCKETS - 1 those
 * that took more than 2^(k-1) us and at most 2^k us (so up to 2^25 us,
 * about 33.6 s), and the last bucket those that took longer.
 */
typedef struct obol_op_stats {
    uint64_t calls;             /* calls returned: the sum of the statuses */
    uint64_t outcomes[OBOL_STATS_OUTCOMES]; /* by status: [OBOL_OK],
                                   [OBOL_NOT_FOUND], [OBOL_CONFLICT],
                                   [OBOL_JUST_ROTATED], [OBOL_REUSE_DETECTED] */
    uint64_t errors[OBOL_STATS_ERRORS];     /* by status: [OBOL_STATS_ERROR_
                                   INDEX(OBOL_ERR_BACKEND)], ... */
    uint64_t other;             /* any other status: one that a scan
                                   callback returned and obol_scan() passed on */
    uint64_t latency[OBOL_STATS_BUCKETS];
    uint64_t latency_ns;        /* every timed call's time added up */
    uint64_t timed;             /* calls timed: the sum of latency[] */
} obol_op_stats;

/*
 * A snapshot of a store's counters. The library fills the first size bytes
 * that the caller passes to obol_store_stats() and no more, and sets
 * struct_size to how many it filled: a program built against an older
 * header (a smaller struct) gets what it knows of, one built against a
 * newer one finds struct_size smaller than sizeof(obol_stats) and the
 * fields past it zero. Fields are only ever added at the end.
 */
typedef struct obol_stats {
    size_t struct_size;         /* bytes filled in */
    int enabled;                /* 0: opened with stats=0, so ops, refused,
                                   unsigned_accepted and conflicts are 0 */
    uint64_t since_open_ms;     /* monotonic time since the store opened */
    size_t op_count;            /* entries of ops in use (OBOL_OP_COUNT of
                                   the library) */
    obol_op_stats ops[OBOL_STATS_MAX_OPS];
    size_t refusal_count;       /* entries of refused in use */
    uint64_t refused[OBOL_STATS_MAX_REFUSALS]; /* records refused by reads,
                                   by reason: OBOL_REFUSED_* */
    uint64_t unsigned_accepted; /* unsigned records read (allow_unsigned=1) */
    uint64_t conflicts;         /* compare-and-sets lost to another writer:
                                   upserts that were OBOL_CONFLICT, each
                                   round obol_refresh() ran again, and each
                                   session obol_rekey() left to a write */

    /* From the driver, when has_driver_stats is 1 (else all 0). */
    int has_driver_stats;
    uint64_t connects;          /* connections made */
    uint64_t reconnects;        /* of those, in place of one to the same
                                   server that broke, that the server
                                   closed, or that was closed when the
                                   server stopped being the master */
    uint64_t connect_failures;  /* attempts to connect that failed */
    uint64_t pool_waits;        /* takes that found every pooled connection
                                   busy, and waited */
    uint64_t pool_timeouts;     /* of those, gave up at the call's deadline */
    uint64_t moved;             /* Redis Cluster MOVED redirections followed */
    uint64_t asked;             /* ASK redirections followed */
    uint64_t topology_refreshes;        /* cluster slot maps read, or
                                           masters asked of the Sentinels */
    uint64_t topology_refresh_failures; /* of those, that failed */
} obol_stats;

/*
 * Copies the counters of st into *out, of which size bytes are filled
 * (pass sizeof *out): see obol_stats. Safe to call from any thread at any
 * time, also while other calls run; each counter is then exact, but a
 * snapshot is not atomic: the counters of a call in flight may be taken
 * part before and part after it counted. Asks the driver for its counters
 * without a round trip. Returns OBOL_OK, OBOL_ERR_INVALID (st or out NULL,
 * or size too small to hold struct_size) or the driver's error, after
 * which the core's counters are filled in all the same.
 */
OBOL_API int obol_store_stats(obol_store *st, obol_stats *out, size_t size,
                              obol_error *err);

/* "get", "upsert", "delete", "get_all", "delete_all",
 * "delete_everywhere", "prune", "refresh", "scan", "restore", "migrate",
 * "rekey", "count_keys"; NULL for any other number. */
OBOL_API const char *obol_op_name(int op);

/* "bad_seal", "unknown_key", "unsigned", "oversized", "undecodable",
 * "misfiled"; NULL for any other number. */
OBOL_API const char *obol_refusal_name(int reason);

/* A short name of a status, for labels: "ok", "not_found", "conflict",
 * "just_rotated", "reuse_detected", "invalid", "driver", "backend",
 * "timeout", "nomem", "key", "too_large", "corrupt", "no_store",
 * "cancelled"; "other"
 * for any other number. */
OBOL_API const char *obol_status_name(int status);

/* The q-quantile (0 <= q <= 1) of op's latency histogram, in
 * microseconds, interpolated within its bucket: an estimate within a
 * factor of 2. The last bucket has no upper bound, so a quantile in it is
 * 2^25 us. 0 when op is NULL or has no calls. */
OBOL_API double obol_op_stats_quantile(const obol_op_stats *op, double q);

/* ---------------------------------------------------- non-blocking API */

/*
 * A completion queue: operations submitted to it return at once, and their
 * callbacks run later, on the thread that calls obol_queue_dispatch(). An
 * event loop watches the queue's one file descriptor (obol_queue_fd()) and
 * dispatches when it is readable; it never sees the driver's sockets.
 * include/obol/uv.h and include/obol/event.h attach a queue to a libuv or
 * libevent loop in one call; docs/ASYNC.md has a complete example.
 *
 *     obol_queue *q;
 *     obol_queue_open(st, NULL, &q, &err);
 *     obol_get_async(q, sid, uid, NULL, on_session, conn, &err);
 *     ... when obol_queue_fd(q) is readable: obol_queue_dispatch(q);
 *
 * Any number of queues may be opened on one store, typically one per loop
 * thread, and synchronous calls may run on the store at the same time. A
 * queue is used by one thread at a time: submitting, dispatching and
 * closing are not safe to call at once from several threads.
 *
 * How an operation runs depends on the driver: a driver with native
 * support (Redis) pipelines it on its own connections; one whose calls are
 * local and fast (LMDB, memory) runs it at submit time, its callback still
 * waiting for dispatch, unless it is a write that flushes to disk (LMDB's
 * upserts and deletes); anything else runs on a small pool of worker
 * threads of the store. obol_queue_options.mode can choose.
 *
 * Every operation accepted (its submit returned OBOL_OK) has its callback
 * run exactly once: with its result, with an error, with OBOL_ERR_TIMEOUT
 * at its deadline (timeout_ms after submit), or with OBOL_ERR_CANCELLED
 * when the queue is closed first. A timed-out write may still have been
 * applied, exactly as with a synchronous write that timed out.
 */
typedef struct obol_queue obol_queue;

/* How a queue runs its operations. */
enum {
    OBOL_QUEUE_AUTO = 0,    /* inline on a local driver (but for durable
                               writes), else native, else the workers */
    OBOL_QUEUE_WORKERS = 1, /* always the worker pool */
    OBOL_QUEUE_INLINE = 2,  /* always at submit time, blocking the caller
                               for the whole call (tests, benchmarks) */
    OBOL_QUEUE_NATIVE = 3   /* the driver's own non-blocking path where it
                               has one, else the worker pool */
};

typedef struct obol_queue_options {
    size_t struct_size;   /* sizeof(obol_queue_options) */
    int mode;             /* OBOL_QUEUE_*; 0 is OBOL_QUEUE_AUTO */
    int64_t timeout_ms;   /* deadline of each operation after its submit;
                             0: 5000 */
    unsigned workers;     /* threads of the store's worker pool: the first
                             queue opened with a nonzero value before the
                             pool starts sets it; 0: leave it (4 when none
                             does) */
} obol_queue_options;

/*
 * What a callback gets. Everything it points to is the queue's and is
 * freed when the callback returns; to keep session, sessions or
 * new_token, take it: copy the pointer and set the field to NULL (for
 * sessions, also take count; free them as their synchronous calls say).
 */
typedef struct obol_result {
    int op;                  /* OBOL_OP_GET, _UPSERT, _DELETE, _GET_ALL,
                                _DELETE_ALL or _REFRESH */
    int status;              /* what the synchronous call would return */
    const obol_error *error; /* its message (also for some OBOL_OKs) */
    obol_session *session;   /* get, refresh: the session on OBOL_OK */
    obol_session **sessions; /* get_all: the sessions on OBOL_OK */
    size_t count;            /* get_all: how many */
    uint64_t removed;        /* delete, delete_all: records removed, or
                                OBOL_REMOVED_UNKNOWN */
    char *new_token;         /* refresh: the token to hand out on OBOL_OK */
    obol_session *upserted;  /* upsert: the caller's session, given back
                                (lock_version moved on when written) */
} obol_result;

/* What obol_result.removed holds when the driver cannot count what it
 * removes (no counted slots, ABI 1.5; every driver of obol's own counts):
 * the non-blocking deletes never spend an extra read on a count. */
#define OBOL_REMOVED_UNKNOWN UINT64_MAX

/* Runs once per accepted operation, on the thread that dispatches (or
 * closes) the queue. It may submit more operations to the same queue; it
 * must not close or dispatch it. */
typedef void (*obol_done_fn)(void *arg, obol_result *result);

/*
 * Opens a queue on st; options may be NULL (every default). Returns
 * OBOL_OK, OBOL_ERR_INVALID (st or out NULL, an unknown mode, a
 * struct_size too small), OBOL_ERR_NOMEM, or OBOL_ERR_BACKEND when the
 * system refuses a descriptor. st must stay open until every queue on it
 * is closed.
 */
OBOL_API int obol_queue_open(obol_store *st, const obol_queue_options *options,
                             obol_queue **out, obol_error *err);

/*
 * Closes q: the callbacks of completed operations run with their results
 * and those of operations still in flight with OBOL_ERR_CANCELLED, all
 * before it returns, on the calling thread. An operation a worker or the
 * driver is still running ends on its own, its result dropped; a
 * cancelled write may still be applied. NULL is a no-op.
 */
OBOL_API void obol_queue_close(obol_queue *q);

/* The descriptor to watch for reading: readable while callbacks wait for
 * dispatch or a deadline has passed. Never read or close it; it stays the
 * same for the life of the queue. */
OBOL_API int obol_queue_fd(const obol_queue *q);

/*
 * Runs the callbacks that are waiting (those of operations that completed
 * or whose deadline passed), on the calling thread, and returns how many
 * ran. Never blocks. Callbacks queued by the callbacks it runs wait for
 * the next dispatch, so one call is bounded.
 */
OBOL_API size_t obol_queue_dispatch(obol_queue *q);

/* Waits up to timeout_ms (-1: for ever) for something to dispatch, then
 * dispatches; for a thread without a loop. Returns how many ran. */
OBOL_API size_t obol_queue_wait(obol_queue *q, int timeout_ms);

/* Operations accepted whose callbacks have not run yet. */
OBOL_API size_t obol_queue_pending(const obol_queue *q);

/*
 * The operations. Each checks what it can without the backend (arguments,
 * a signing key, sizes) and returns that error at once, with done never
 * to run; OBOL_OK means done will run exactly once. The first operation
 * that needs the store's worker threads starts them: OBOL_ERR_BACKEND when
 * the system gives none (a later submit tries again). A queue being closed
 * (a callback that obol_queue_close() runs) takes nothing more:
 * OBOL_ERR_CANCELLED. obol_refresh_async() checks the token at submit,
 * as obol_refresh() does before any round trip: a token that fails its
 * MAC is OBOL_NOT_FOUND at once, with the reason in err. Strings are copied:
 * the caller may free them when the call returns. obol_upsert_async()
 * borrows s until its callback, which gets it back in result->upserted:
 * do not touch or free it in between. The results are those of the
 * synchronous calls of the same names.
 */
OBOL_API int obol_get_async(obol_queue *q, const char *sid, const char *uid,
                            const char *type, obol_done_fn done, void *arg,
                            obol_error *err);
OBOL_API int obol_upsert_async(obol_queue *q, obol_session *s,
                               obol_done_fn done, void *arg, obol_error *err);
OBOL_API int obol_delete_async(obol_queue *q, const char *sid,
                               const char *uid, const char *type,
                               obol_done_fn done, void *arg, obol_error *err);
OBOL_API int obol_get_all_async(obol_queue *q, const char *uid,
                                const char *type, obol_done_fn done, void *arg,
                                obol_error *err);
OBOL_API int obol_delete_all_async(obol_queue *q, const char *uid,
                                   const char *type, obol_done_fn done,
                                   void *arg, obol_error *err);
OBOL_API int obol_refresh_async(obol_queue *q, const char *token,
                                int64_t refresh_ttl, obol_done_fn done,
                                void *arg, obol_error *err);

#ifdef __cplusplus
}
#endif

#endif /* OBOL_H */

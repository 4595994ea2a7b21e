/*
 * The Lua scripts that make upsert, delete, list and prune one round trip
 * each. Every script takes the three keys of one (prefix, user, type) in
 * the order of redis_keys.h (rec, exp, lock), so it touches a single
 * Cluster slot, and takes the time from its caller (ARGV), never from the
 * server, so that a store's clock decides what is expired. Only commands
 * of Redis 6.2 are used.
 */
#ifndef OBOL_REDIS_LUA_H
#define OBOL_REDIS_LUA_H

typedef enum redis_script_id {
    /* ARGV: id, sealed, score, expected_lock, new_lock, now.
     * Returns 1 when written, 0 on a lock conflict. */
    REDIS_SCRIPT_UPSERT,
    /* ARGV: id. Returns 1 when a record was removed, 0 when there was
     * none. */
    REDIS_SCRIPT_DELETE,
    /* No ARGV. Returns id, sealed, score, lock_version for every record
     * (score and lock are "" when missing). */
    REDIS_SCRIPT_LIST,
    /* ARGV: now. Returns the number of records removed (members of rec,
     * not of the expiry index). */
    REDIS_SCRIPT_PRUNE,
    /* ARGV: now, then id, sealed, score, expected_lock, new_lock for each
     * session. Returns 1 (written) or 0 (conflict) for each, in order. */
    REDIS_SCRIPT_UPSERT_MANY,
    /* No ARGV. Deletes the three keys; returns the number of records
     * that were in them. */
    REDIS_SCRIPT_DELETE_ALL,
    REDIS_SCRIPT_COUNT
} redis_script_id;

/* The Lua source of a script. */
const char *redis_lua_source(redis_script_id id);

#endif

/*
 * The command of each operation and the decoding of its reply, written
 * once for the blocking slots (redis_driver.c, through the router) and
 * the non-blocking path (redis_async.h, pipelined on its own
 * connections):
 *
 *     get       HGET rec id                  -> the record, or nil
 *     put       EVALSHA upsert (6 arguments) -> 1 written, 0 conflict
 *     del       EVALSHA delete id            -> records removed
 *     del_all   EVALSHA delete_all           -> records removed
 *     list      EVALSHA list                 -> id, sealed, score, lock ...
 *     prune     EVALSHA prune now            -> records removed
 *
 * A redis_command holds the key names and every argument the command
 * points to, so it is built in place and never moved (its call points
 * into itself) until redis_command_clear(). Arguments taken from the
 * caller (ids, records) are pointed to, not copied: they must outlive it.
 */
#ifndef OBOL_REDIS_OPS_H
#define OBOL_REDIS_OPS_H

#include <stddef.h>
#include <stdint.h>

#include <hiredis.h>

#include <obol/driver.h>

#include "redis_handle.h"
#include "redis_keys.h"
#include "redis_scripts.h"

/* The decimal arguments of one upsert script call: id, sealed, score,
 * expected lock, new lock, now. */
typedef struct redis_upsert_args {
    char score[24], expected[24], new_lock[24], now[24];
    const char *argv[6];
    size_t argv_len[6];
} redis_upsert_args;

void redis_upsert_args_fill(redis_upsert_args *a,
                            const obol_driver_record *record,
                            uint64_t expected_lock, int64_t now);

typedef struct redis_command {
    redis_keys keys;
    redis_script_call sc;    /* sc.call is the command; for HGET and DEL
                                too, whose arguments sc holds as well */
    redis_upsert_args upsert;/* put's decimals */
} redis_command;

/* Each fills c (OBOL_OK, or OBOL_ERR_NOMEM with nothing to clear). */
int redis_command_get(const redis_handle *h, const obol_driver_key *key,
                      redis_command *c, obol_error *err);
int redis_command_put(const redis_handle *h, const obol_driver_record *record,
                      uint64_t expected_lock, int64_t now, redis_command *c,
                      obol_error *err);
/* The delete script of key (del_counted), the delete_all script of its
 * (user, type) (del_all_counted). */
int redis_command_delete(const redis_handle *h, const obol_driver_key *key,
                         redis_command *c, obol_error *err);
int redis_command_delete_all(const redis_handle *h, const obol_driver_key *key,
                             redis_command *c, obol_error *err);
/* A removal script (delete, delete_all, prune) on key's (user, type),
 * with argc (0 or 1) arguments of its own. */
int redis_command_removal(const redis_handle *h, const obol_driver_key *key,
                          redis_script_id id, int argc, const char *arg,
                          size_t arg_len, redis_command *c, obol_error *err);
/* The list script of (user, type). */
int redis_command_list(const redis_handle *h, obol_bytes user, obol_bytes type,
                       redis_command *c, obol_error *err);
/* DEL of the three keys: del_all without a count. */
int redis_command_del_keys(const redis_handle *h, const obol_driver_key *key,
                           redis_command *c, obol_error *err);
void redis_command_clear(redis_command *c);

/* The reply of each, never an error reply (the router took those). */
int redis_reply_get(const redis_handle *h, const redisReply *reply,
                    uint8_t **sealed, size_t *sealed_len, obol_error *err);
/* OBOL_OK (written) or OBOL_CONFLICT. */
int redis_reply_upsert(const redis_handle *h, const redisReply *reply,
                       obol_error *err);
/* what names the script in messages (its call's what). */
int redis_reply_removed(const redis_handle *h, const char *what,
                        const redisReply *reply, uint64_t *removed,
                        obol_error *err);
/* Visits the records of a list script reply as (user, type)'s. */
int redis_reply_list(const redis_handle *h, const redisReply *reply,
                     obol_bytes user, obol_bytes type, obol_driver_visit visit,
                     void *arg, obol_error *err);

/* A counted string as a hiredis argument; hiredis copies len bytes from
 * it, so an empty one must still point somewhere. */
const char *redis_arg_of(obol_bytes bytes);

/* OBOL_ERR_BACKEND: what answered a reply of an unexpected type. */
int redis_reply_unexpected(const redis_handle *h, const char *what,
                           const redisReply *reply, obol_error *err);

#endif

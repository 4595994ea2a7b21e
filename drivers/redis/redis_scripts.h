/*
 * Running the scripts of redis_lua.h: loaded once by open(), then run with
 * EVALSHA, falling back to EVAL when the server lost them.
 */
#ifndef OBOL_REDIS_SCRIPTS_H
#define OBOL_REDIS_SCRIPTS_H

#include <stddef.h>

#include <hiredis.h>

#include "redis_conn.h"
#include "redis_keys.h"
#include "redis_lua.h"

/* SHA1 of each script, as the server reports it from SCRIPT LOAD. */
typedef struct redis_scripts {
    char sha[REDIS_SCRIPT_COUNT][41];
} redis_scripts;

/* Loads every script (SCRIPT LOAD) and records their SHA1s. */
int redis_scripts_load(redis_pool *pool, redis_scripts *scripts,
                       obol_error *err);

/*
 * One EVALSHA of the script with the keys and argc arguments. When the
 * server does not have the script (NOSCRIPT: it restarted, or SCRIPT FLUSH),
 * runs it once with EVAL, which also caches it again. *reply is never an
 * error reply on OBOL_OK.
 */
int redis_script_run(redis_pool *pool, const redis_scripts *scripts,
                     redis_script_id id, const redis_keys *keys, int argc,
                     const char **argv, const size_t *argv_len,
                     redisReply **reply, obol_error *err);

#endif

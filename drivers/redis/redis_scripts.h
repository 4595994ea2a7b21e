/*
 * Running the scripts of redis_lua.h with EVALSHA. Their SHA1s are learnt
 * once by open() (SCRIPT LOAD on one node; a SHA1 is the same everywhere);
 * a node that does not have a script (a cluster node asked for the first
 * time, a restart, SCRIPT FLUSH) answers NOSCRIPT and the router runs the
 * source with EVAL, which caches it on that node again.
 */
#ifndef OBOL_REDIS_SCRIPTS_H
#define OBOL_REDIS_SCRIPTS_H

#include <stddef.h>
#include <stdint.h>

#include <hiredis.h>

#include "redis_keys.h"
#include "redis_lua.h"
#include "redis_router.h"

/* SHA1 of each script, as the server reports it from SCRIPT LOAD. */
typedef struct redis_scripts {
    char sha[REDIS_SCRIPT_COUNT][41];
} redis_scripts;

/* Loads every script on node (SCRIPT LOAD) and records their SHA1s. */
int redis_scripts_load(redis_router *r, redis_node *node,
                       redis_scripts *scripts, obol_error *err);

/* Records the SHA1s without asking a server, as SCRIPT LOAD would give
 * them (the hex SHA1 of the source): for connect=lazy, where no server
 * may be up at open. The first EVALSHA on each node is then answered
 * NOSCRIPT, and the router runs the source, which caches it there. */
int redis_scripts_digest(redis_scripts *scripts, obol_error *err);

/* The arguments of one script call, kept by the caller as long as the
 * call it fills. */
typedef struct redis_script_call {
    redis_call call;
    const char *argv[REDIS_CALL_MAX_ARGS];
    size_t argv_len[REDIS_CALL_MAX_ARGS];
} redis_script_call;

/* The arguments EVALSHA of a script with argc arguments of its own takes. */
#define REDIS_SCRIPT_ARGC(argc) (6 + (argc))

/*
 * Fills call with EVALSHA of the script on the three keys and argc more
 * arguments, routed to the keys' slot; call_argv and call_len have room
 * for REDIS_SCRIPT_ARGC(argc) entries and must live as long as call.
 */
void redis_script_call_init(const redis_scripts *scripts, redis_script_id id,
                            const redis_keys *keys, int argc,
                            const char **argv, const size_t *argv_len,
                            const char **call_argv, size_t *call_len,
                            redis_call *call);

/* The same into sc, for at most REDIS_CALL_MAX_ARGS arguments in all. */
void redis_script_prepare(const redis_scripts *scripts, redis_script_id id,
                          const redis_keys *keys, int argc, const char **argv,
                          const size_t *argv_len, redis_script_call *sc);

/* One script call; *reply is never an error reply on OBOL_OK. */
int redis_script_run(redis_router *r, const redis_scripts *scripts,
                     redis_script_id id, const redis_keys *keys, int argc,
                     const char **argv, const size_t *argv_len,
                     int64_t deadline, redisReply **reply, obol_error *err);

#endif

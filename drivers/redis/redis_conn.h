/*
 * A pool of hiredis connections shared by the threads using one handle.
 *
 * A thread takes an idle connection (waiting at most timeout_ms for one),
 * connects it if it has none yet (connect_timeout_ms, then AUTH and SELECT),
 * sends one command, reads its reply (at most timeout_ms) and gives the
 * connection back. A connection that saw an I/O error, EOF or a timeout is
 * freed when given back and re-established by the next thread that takes
 * it, so a restarted server is picked up without any help from the caller.
 */
#ifndef OBOL_REDIS_CONN_H
#define OBOL_REDIS_CONN_H

#include <stddef.h>

#include <hiredis.h>

#include <obol/driver.h>

#include "redis_config.h"

typedef struct redis_pool redis_pool;

/* Makes a pool of settings->pool_size connections and connects one of
 * them, so that a wrong address or password is reported by open().
 * settings must outlive the pool. */
int redis_pool_create(const redis_settings *settings, redis_pool **out,
                      obol_error *err);

/* No call on the pool may be in progress. */
void redis_pool_destroy(redis_pool *pool);

/*
 * Sends one command and returns its reply in *reply (free it with
 * freeReplyObject()). An error reply is returned as OBOL_BACKEND with a
 * message naming the server and the command, except when it starts with
 * accept_error (e.g. "NOSCRIPT"): then it is returned with OBOL_OK for the
 * caller to handle. Every other status names the server and the cause.
 *
 * A connection taken from the pool is first checked, without blocking, for
 * an end of file or stray bytes (the server restarted, or dropped idle
 * clients); such a one is replaced before the command is sent. A command
 * is never sent twice: whether a lost one ran is unknowable.
 */
int redis_pool_command(redis_pool *pool, int argc, const char **argv,
                       const size_t *argv_len, const char *accept_error,
                       redisReply **reply, obol_error *err);

/* "127.0.0.1:6379" or "unix:/path", for messages. */
const char *redis_pool_where(const redis_pool *pool);

#endif

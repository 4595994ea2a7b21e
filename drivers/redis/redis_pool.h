/*
 * The connections to one server, shared by the threads of one handle.
 *
 * A thread takes a connection (waiting for one until the call's deadline),
 * which is connected and logged in on first use, uses it for one round
 * trip and gives it back. A broken connection is closed when given back;
 * its slot connects again for the next thread that takes it, so a
 * restarted server is picked up without any help from the caller.
 */
#ifndef OBOL_REDIS_POOL_H
#define OBOL_REDIS_POOL_H

#include <stdint.h>

#include <obol/driver.h>

#include "redis_config.h"
#include "redis_conn.h"

typedef struct redis_pool redis_pool;

/* A pool of settings->pool_size slots, none connected yet; NULL when out
 * of memory. ep and settings must outlive it. */
redis_pool *redis_pool_new(const redis_endpoint *ep,
                           const redis_settings *settings);

/* No connection may be taken. */
void redis_pool_free(redis_pool *pool);

/*
 * A ready connection in *conn. An idle one is first checked without
 * blocking, and replaced when the server closed it. Connecting is bounded
 * by connect_timeout_ms on top of the call's time: *deadline is moved back
 * by the time it took.
 */
int redis_pool_take(redis_pool *pool, int64_t *deadline, redis_conn **conn,
                    obol_error *err);

void redis_pool_give(redis_pool *pool, redis_conn *conn);

/* What a pool counted since it was made. A reconnect is a connection made
 * in place of one closed for good: broken, closed by the server (found
 * stale), or retired. */
typedef struct redis_pool_counters {
    uint64_t connects;
    uint64_t reconnects;
    uint64_t connect_failures;
    uint64_t waits;          /* takes that found no idle slot and waited */
    uint64_t wait_timeouts;  /* of those, that gave up at the deadline */
} redis_pool_counters;

/* Adds pool's counters to *sum; safe while other threads use the pool. */
void redis_pool_add_counters(redis_pool *pool, redis_pool_counters *sum);

/*
 * How a pool makes a new connection, in place of redis_conn_open(): a
 * Sentinel-resolved master first asks the Sentinels whether this node is
 * still the master, and checks ROLE on the connection it made. Set once,
 * before the pool is used.
 */
typedef int (*redis_pool_opener)(void *arg, const redis_endpoint *ep,
                                 const redis_settings *settings,
                                 int64_t deadline, redis_conn **out,
                                 obol_error *err);

void redis_pool_set_opener(redis_pool *pool, redis_pool_opener open,
                           void *arg);

/* retired: the server is no longer the one to talk to (a master the
 * Sentinels replaced): every idle connection is closed now, and every one
 * given back is closed too, so a slot taken later connects again,
 * through the opener. 0: keep connections again (it is the master once
 * more). */
void redis_pool_retire(redis_pool *pool, int retired);

#endif

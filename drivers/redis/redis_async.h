/*
 * The non-blocking path (driver ABI 1.6, native_ops and submit): many
 * operations in flight on each connection, one I/O thread per handle.
 *
 * The thread starts on first use (native_ops() when a queue opens, or a
 * first submit) and owns one connection per node, apart from the
 * blocking pools, so that blocking and non-blocking calls run on one
 * store at the same time. It sleeps in epoll_wait() on those connections,
 * an eventfd that submit() writes when the thread sleeps, and the
 * earliest deadline. Each operation is built (redis_ops.h) on the
 * submitting thread, appended to its node's connection by the I/O
 * thread, and its reply, popped in order from the connection's queue of
 * sent commands, is read by the code the blocking slot uses. Redirections
 * and retries are the router's own steps (redis_router.h,
 * redis_route_next()); a backoff is a timer, never a sleep.
 *
 * Deadlines: an operation still running at op->deadline_ms completes
 * with OBOL_ERR_TIMEOUT. One that was sent leaves its place in the queue
 * to a tombstone, so that its late reply is dropped; when it was the
 * oldest on its connection, the connection is drained: no new command
 * goes on it, new ones get a new connection, and it is closed once
 * nothing on it waits any more. The blocking parts (connecting, topology
 * refreshes) run on the I/O thread, bounded by the earliest deadline of
 * all it holds and by a blocking call's time (timeout_ms, and
 * connect_timeout_ms for a connect); see docs/REDIS.md.
 */
#ifndef OBOL_REDIS_ASYNC_H
#define OBOL_REDIS_ASYNC_H

#include <stdint.h>

#include <obol/driver.h>

#include "redis_handle.h"
#include "redis_pool.h"

typedef struct redis_async redis_async;

/* The kinds h runs natively (OBOL_DRIVER_OP_BIT()s: all five, on a
 * single server, a cluster and a Sentinel-resolved master), starting the
 * thread; 0 when it cannot start. */
uint32_t redis_async_native_ops(redis_handle *h);

/* Accepts op (OBOL_OK: op->complete will run exactly once) or refuses
 * it with the reason. */
int redis_async_submit(redis_handle *h, obol_driver_op *op, obol_error *err);

/* Completes every operation not completed yet with OBOL_ERR_CANCELLED,
 * stops the thread and frees it all. NULL is a no-op. */
void redis_async_free(redis_async *a);

/* Adds the connections the thread made to *sum. */
void redis_async_add_counters(redis_async *a, redis_pool_counters *sum);

#endif

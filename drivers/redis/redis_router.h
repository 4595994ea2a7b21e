/*
 * Sending a command to the node that serves it, and following what a
 * cluster answers while its slots move or its masters change:
 *
 *   MOVED          the slot has a new owner: patch the map, retry there,
 *                  and refresh the whole map once the call is done
 *   ASK            the key is on its way: ASKING plus the command on the
 *                  target, map untouched (ASKING again before an EVAL)
 *   NOSCRIPT       the node lost the script: run its source with EVAL
 *   TRYAGAIN, LOADING                     retry after a backoff
 *   CLUSTERDOWN, MASTERDOWN, READONLY     refresh the map, then retry
 *   no connection  mark the node, refresh the map through another, retry
 *
 * With Sentinel, READONLY (a demoted master) and a failed connection
 * resolve the master again through the Sentinels, then retry; a WAIT
 * shortfall makes the next call resolve it again.
 *
 * Everything happens before the call's deadline. A write whose outcome is
 * unknown (the connection broke, or no reply came, after it was sent) is
 * never resent: under compare-and-set a resent refresh that had been
 * applied would come back as a false conflict. It fails with a message
 * saying that the outcome is unknown.
 */
#ifndef OBOL_REDIS_ROUTER_H
#define OBOL_REDIS_ROUTER_H

#include <stddef.h>
#include <stdint.h>

#include <hiredis.h>

#include <obol/driver.h>

#include "redis_config.h"
#include "redis_topology.h"

/* Arguments of the calls that keep them on the stack (redis_scripts.h). */
#define REDIS_CALL_MAX_ARGS 16

typedef struct redis_call {
    const char *what;        /* names the command in messages */
    unsigned slot;           /* of its keys; unused for a single server */
    redis_node *node;        /* a given node (walks): no redirection is
                                followed; NULL: the owner of slot */
    int is_write;            /* never resent once sent; followed by WAIT
                                when the store has wait_replicas */
    int argc;
    const char **argv;
    const size_t *argv_len;
    const char *script;      /* argv is EVALSHA sha ...: on NOSCRIPT run
                                this source with EVAL */
} redis_call;

typedef struct redis_router {
    const redis_settings *settings;
    redis_topology *topology;
    /* Counted atomically since open (obol_driver_stats): MOVED replies,
     * each of which patched the map, and commands sent again with ASKING. */
    uint64_t moved;
    uint64_t asked;
} redis_router;

/* The start of a call's time: now + timeout_ms. */
int64_t redis_router_deadline(const redis_router *r);

/*
 * Runs call and returns its reply in *reply (free it with
 * freeReplyObject()), which is never an error reply. An error reply that
 * is not one of the transient states above is OBOL_ERR_BACKEND naming the
 * server, the command and the reply; running out of time while retrying
 * is OBOL_ERR_TIMEOUT with the last reason.
 */
int redis_router_call(redis_router *r, const redis_call *call,
                      int64_t deadline, redisReply **reply, obol_error *err);

/*
 * Runs count independent calls, pipelined: one round trip per node in the
 * common case. replies[i] gets the reply of calls[i]; a call that a node
 * did not run (redirected, NOSCRIPT, ...) is run again alone, in order.
 * On an error every reply already received is freed and replies[] is all
 * NULL.
 */
int redis_router_call_many(redis_router *r, const redis_call *calls,
                           size_t count, int64_t deadline,
                           redisReply **replies, obol_error *err);

#endif

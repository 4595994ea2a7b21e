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
#include "redis_conn.h"
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
 * redis_reply_free()), which is never an error reply. An error reply that
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

/*
 * The steps of a call, shared by redis_router_call() (which waits on its
 * own thread) and the non-blocking path (redis_async.h, which runs many
 * calls at once on its I/O thread and must never sleep): what an attempt
 * sends, what its replies mean, and where the call goes next.
 */

/* What one attempt on one node came to. */
typedef enum redis_outcome {
    REDIS_DONE,          /* the reply is the answer, or err the final error */
    REDIS_MOVED,         /* the slot lives at target now */
    REDIS_ASK,           /* this key only: ask target */
    REDIS_NOSCRIPT,      /* the node lost the script: EVAL it */
    REDIS_RETRY,         /* a transient state: the same node, after a
                            backoff */
    REDIS_RETRY_REFRESH  /* the node failed, or the map changed: refresh
                            first */
} redis_outcome;

typedef struct redis_attempt {
    int asking;              /* send ASKING first */
    int use_eval;            /* EVAL the script instead of EVALSHA */
    redis_node *target;      /* MOVED and ASK */
    unsigned moved_slot;
} redis_attempt;

/* Where a call is on its way through redirections and retries. */
typedef struct redis_route {
    redis_attempt a;
    redis_node *node;        /* where the next attempt goes; NULL: none
                                known (it refreshes, then looks again) */
    obol_error refresh_failure; /* the last refresh that failed, if any */
    int moved;               /* a MOVED patched the map: refresh at the end */
    int tries, redirections;
    int refresh;             /* refresh before the next attempt */
} redis_route;

/* Appends [ASKING] and the command (EVALSHA, or EVAL of its script when
 * the attempt says so). */
int redis_router_append(redis_conn *conn, const redis_call *call,
                        const redis_attempt *a, obol_error *err);

/* Whether call is a write that the store's wait_replicas follows with
 * WAIT, and that WAIT. One WAIT answers for every write the connection
 * sent before it: a pipeline needs one after its last write, not one
 * after each. */
int redis_router_wants_wait(const redis_router *r, const redis_call *call);
int redis_router_append_wait(const redis_router *r, redis_conn *conn,
                             obol_error *err);

/* What an error reply of call from node means, with err set to say so. */
redis_outcome redis_router_classify(redis_router *r, const redis_call *call,
                                    const redisReply *reply,
                                    const redis_node *node, redis_attempt *a,
                                    obol_error *err);

/* The WAIT reply after a write that succeeded: OBOL_OK, or the shortfall. */
int redis_router_check_wait(redis_router *r, const redisReply *wait_reply,
                            const redis_node *node, const char *what,
                            obol_error *err);

/* The connection failed after the command left (err says how): a read
 * may go again (REDIS_RETRY_REFRESH), a write may have run and must not
 * (REDIS_DONE, err saying the outcome is unknown). */
redis_outcome redis_router_lost_after_send(const redis_call *call,
                                           const redis_node *node,
                                           obol_error *err);

/* Starts call's route at the owner of its slot (err says why when none
 * is known: route->node NULL). */
void redis_route_start(redis_router *r, const redis_call *call,
                       redis_route *route, obol_error *err);

/* What follows an attempt that came to result: */
enum {
    REDIS_ROUTE_FINISHED,    /* err->status is the call's status (OBOL_OK
                                when the reply is the answer) */
    REDIS_ROUTE_NOW,         /* attempt again at once, on route->node */
    REDIS_ROUTE_LATER        /* back off *wait_ms, then redis_route_resume() */
};
/* A call that was MOVED refreshes the map as it finishes, blocking
 * until block_until at most (as redis_route_resume()). */
int redis_route_next(redis_router *r, const redis_call *call,
                     redis_route *route, redis_outcome result,
                     int64_t deadline, int64_t block_until, int64_t *wait_ms,
                     obol_error *err);

/* After the backoff: refreshes the map when the route asked for it and
 * looks for the owner again. OBOL_OK to attempt again (route->node may
 * be NULL: the attempt is then REDIS_RETRY_REFRESH), or the call's final
 * error (no time left before deadline) in err. May block on a refresh,
 * until block_until (the I/O thread gives the earliest deadline of all
 * it runs, so that one call's refresh never makes another late). */
int redis_route_resume(redis_router *r, const redis_call *call,
                       redis_route *route, int64_t deadline,
                       int64_t block_until, obol_error *err);

#endif

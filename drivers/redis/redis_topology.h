/*
 * Where commands go: the one server of redis://, the master the Sentinels
 * name (redis+sentinel://), or the slot map of a cluster (which master
 * owns each of the 16384 slots), with a pool of connections per node,
 * connected on first use.
 *
 * The map is read from CLUSTER SHARDS (Redis 7), or CLUSTER SLOTS (6.2),
 * asked of a known node; a node that just failed is asked last. A refresh
 * asked for while another thread runs one is merged into it, and refreshes
 * are at most one per REDIS_TOPOLOGY_MIN_REFRESH_MS. Nodes are never freed
 * before the topology, so a node pointer stays valid while a call uses it.
 *
 * Sentinel: the master is resolved (redis_sentinel.h) when the topology
 * is made, on every new connection to a data node (the pool's opener asks
 * the Sentinels, and the node's connection is used only if they still
 * name it and ROLE says master), on a refresh (READONLY: the master was
 * demoted) and after redis_topology_mark_stale(). When the address
 * changes, the previous master's idle connections are closed and calls go
 * to a node for the new address. Concurrent resolutions are merged into
 * one.
 */
#ifndef OBOL_REDIS_TOPOLOGY_H
#define OBOL_REDIS_TOPOLOGY_H

#include <stddef.h>
#include <stdint.h>

#include <obol/driver.h>

#include "redis_config.h"
#include "redis_pool.h"

#define REDIS_TOPOLOGY_MIN_REFRESH_MS 100

typedef struct redis_node {
    redis_endpoint ep;
    redis_pool *pool;
    char id[41];             /* cluster node id; "" until known */
    int is_master;
    int64_t failed_at_ms;    /* last connection failure; 0: none */
} redis_node;

typedef struct redis_topology redis_topology;

/* A single server, or a cluster whose map is read before this returns (so
 * that a cluster none of whose seeds answers is reported by open()), or
 * whose master the Sentinels name before it returns. With
 * settings->lazy_connect nothing is asked: the map stays empty (the
 * master unknown) until the first call refreshes it. */
int redis_topology_new(const redis_settings *settings, int64_t deadline,
                       redis_topology **out, obol_error *err);

void redis_topology_free(redis_topology *t);

int redis_topology_is_cluster(const redis_topology *t);

int redis_topology_is_sentinel(const redis_topology *t);

/* The master may move (cluster or Sentinel): a call that found no master,
 * or a demoted one, refreshes and tries again within its deadline. */
int redis_topology_can_move(const redis_topology *t);

/* The node that serves slot (ignored for a single server and Sentinel);
 * NULL when no node owns it as far as the map knows. */
redis_node *redis_topology_route(redis_topology *t, unsigned slot);

/* The node at host:port, added when new; NULL when out of memory. */
redis_node *redis_topology_node_at(redis_topology *t, const char *host,
                                   uint16_t port);

/* slot now belongs to node (a MOVED reply said so). */
void redis_topology_patch(redis_topology *t, unsigned slot, redis_node *node);

void redis_topology_mark_failed(redis_topology *t, redis_node *node);

/*
 * Reads the map again. wait: when another thread is refreshing, wait for
 * it (until deadline) instead of returning at once. Refreshes within
 * REDIS_TOPOLOGY_MIN_REFRESH_MS of the last one are skipped. A single
 * server has nothing to refresh.
 */
int redis_topology_refresh(redis_topology *t, int64_t deadline, int wait,
                           obol_error *err);

/* Refreshes (without waiting) when topology_refresh_ms has passed since the
 * last refresh, or (Sentinel) after redis_topology_mark_stale(); errors
 * are dropped, a call's own routing reports them. */
void redis_topology_refresh_if_due(redis_topology *t, int64_t deadline);

/* A new connection to node, made as its pool makes one (Sentinel: only
 * while the Sentinels name it, and ROLE says master), for connections
 * kept apart from the pools (redis_async.h). */
int redis_topology_connect(redis_topology *t, redis_node *node,
                           int64_t deadline, redis_conn **out,
                           obol_error *err);

/* The master may have changed (a write reached fewer replicas than
 * wait_replicas asked): Sentinel mode resolves it again on the next
 * call. No effect on a single server or a cluster. */
void redis_topology_mark_stale(redis_topology *t);

/* What the topology counted since it was made: refreshes run (slot maps
 * read, or masters asked of the Sentinels; a refresh merged into another
 * or skipped as too recent is none) and those that failed, and the
 * counters of every node's pool added up. */
typedef struct redis_topology_counters {
    uint64_t refreshes;
    uint64_t refresh_failures;
    redis_pool_counters pools;
} redis_topology_counters;

void redis_topology_counters_get(redis_topology *t,
                                 redis_topology_counters *out);

/* Counts every change of the map (refresh or patch); a walk compares it
 * before and after. */
uint64_t redis_topology_version(redis_topology *t);

/* The masters that own slots (the single server), at most max of them;
 * returns how many. */
size_t redis_topology_masters(redis_topology *t, redis_node **out,
                              size_t max);

/* The masters, as redis_topology_masters() gives them, once at least one
 * is known: when none is (connect=lazy before a server answered, or a
 * map never read), reads the map or asks the Sentinels first, waiting
 * until deadline. OBOL_OK with *count >= 1, or the error that left no
 * master known. */
int redis_topology_known_masters(redis_topology *t, int64_t deadline,
                                 redis_node **out, size_t max, size_t *count,
                                 obol_error *err);

/* "3 masters: 127.0.0.1:7000 slots 0-5460 replicas 127.0.0.1:7003; ..."
 * (cluster), "master 'NAME' at 127.0.0.1:6380, sentinels ..." (Sentinel),
 * or the server's address (single). */
void redis_topology_describe(redis_topology *t, char *out, size_t size);

#endif

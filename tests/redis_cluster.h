/*
 * A private Redis Cluster for a test or a benchmark.
 *
 *     redis_harness_require();               // no server: skip, or fail in CI
 *     redis_cluster *cluster = redis_cluster_start(NULL);
 *     ... redis_cluster_url(cluster) ...     // "redis+cluster://..."
 *     redis_cluster_stop(cluster);
 *
 * Every node is a redis_harness (redis_harness.h) with cluster mode on, so
 * the harness's own helpers work on redis_cluster_node(c, i): a raw client,
 * MONITOR counts, kill, pause, resume, restart. A node's directory, hence
 * its nodes.conf, survives a kill, so a restarted node rejoins as itself;
 * its data does not (persistence is off), so restart a killed master only
 * after its replica took over (redis_cluster_wait_promoted()), or it comes
 * back as an empty master.
 *
 * Nodes are joined by `redis-cli --cluster create`; redis-cli is $REDIS_CLI,
 * else the one next to redis-server, else the first in PATH. Nodes are
 * numbered 0 .. size-1 in the order they were started; which of them are
 * masters is the cluster's business, so tests ask (redis_cluster_owner(),
 * redis_cluster_is_master(), redis_cluster_replica_of()) rather than
 * assume. Questions go to nodes that are up (neither killed nor paused
 * through the harness). Failures are reported on stderr, with the end of
 * the nodes' logs where that helps; these helpers are for test programs
 * only, one thread at a time.
 *
 * Caveats, from Redis itself: a replica elected less than 4 x the node
 * timeout ago (8 s by default) does not run for election again before
 * that, so a second failover or kill on the same shard soon after the
 * first is slow; pick another shard when you can. CLUSTER SLOTS lists a
 * replica only once it has replicated something; nodes here get a
 * replication ping every second so that this takes at most about one.
 */
#ifndef OBOL_TESTS_REDIS_CLUSTER_H
#define OBOL_TESTS_REDIS_CLUSTER_H

#include <stddef.h>
#include <stdint.h>

#include <hiredis.h>

#include "redis_harness.h"

/* The number of hash slots of every Redis Cluster. */
#define REDIS_CLUSTER_SLOTS 16384

typedef struct redis_cluster redis_cluster;

typedef struct redis_cluster_options {
    size_t masters;           /* at least 3, as redis-cli demands */
    size_t replicas;          /* per master */
    int node_timeout_ms;      /* cluster-node-timeout: how long before a
                                 silent node counts as failed */
    int start_timeout_ms;     /* bound on the whole of redis_cluster_start() */
    /* More redis-server arguments for every node, as in
     * redis_harness_options; NULL for none. */
    const char *const *extra_args;
    /* Nonzero: every node speaks only TLS, to clients, on the cluster bus
     * and between master and replica (tls-cluster, tls-replication), with
     * the certificates node 0 makes (redis_harness_make_certs()); the URL
     * is rediss+cluster://...&tls_ca=DIR/ca.crt. */
    int tls;
} redis_cluster_options;

/* The defaults, which a NULL options stands for: 3 masters with one
 * replica each. Start from this and change what matters. */
#define REDIS_CLUSTER_OPTIONS_INIT                                        \
    { .masters = 3, .replicas = 1, .node_timeout_ms = 2000,               \
      .start_timeout_ms = 30000, .extra_args = NULL, .tls = 0 }

/*
 * Starts masters * (1 + replicas) nodes, joins them into one cluster and
 * waits until every node says cluster_state:ok, all agree on the slot map,
 * that map shows every master with all its replicas, and every replica's
 * link to its master is up. Besides cluster mode and the node timeout,
 * nodes are set so that any replica may take over however stale
 * (cluster-replica-validity-factor 0) and a new replica syncs at once.
 * NULL on failure, with what went wrong and the end of each node's log on
 * stderr, everything started stopped again. options may be NULL.
 */
redis_cluster *redis_cluster_start(const redis_cluster_options *options);

/* Stops every node, removes their directories and frees c. NULL is
 * ignored. */
void redis_cluster_stop(redis_cluster *c);

/* How many nodes, masters and replicas. */
size_t redis_cluster_size(const redis_cluster *c);

/* Node i (0 <= i < size), for the redis_harness_* helpers. */
redis_harness *redis_cluster_node(const redis_cluster *c, size_t i);

uint16_t redis_cluster_port(const redis_cluster *c, size_t i);

/* Node i's cluster id (CLUSTER MYID): 40 hex digits. */
const char *redis_cluster_node_id(const redis_cluster *c, size_t i);

/*
 * "redis+cluster://127.0.0.1:P0?nodes=127.0.0.1:P1,...": node 0, and every
 * other node as a further seed, so that a client still finds the cluster
 * when some nodes are down (with TLS "rediss+cluster://...&tls_ca=..."). To
 * add options, append "&name=value".
 */
const char *redis_cluster_url(const redis_cluster *c);

/* A new raw hiredis connection to node i (redis_harness_client()); NULL on
 * failure. Free it with redisFree(). It is not cluster-aware: it gets
 * MOVED and ASK replies as they are. */
redisContext *redis_cluster_client(const redis_cluster *c, size_t i);

/* The hash slot of a key, as Redis computes it: CRC16 (XMODEM) of the key,
 * or of its hash tag (what lies between the first '{' and the next '}',
 * when that is not empty), modulo 16384. */
unsigned redis_cluster_key_slot(const char *key, size_t len);

/* Index of the master that owns slot, as node viewer says (CLUSTER
 * SLOTS); -1 when it does not answer or names no owner. During a migration
 * this is still the source. */
int redis_cluster_owner_seen_by(redis_cluster *c, size_t viewer,
                                unsigned slot);

/* The same, asking the first node that is up and answers. */
int redis_cluster_owner(redis_cluster *c, unsigned slot);

/* 1 when node i says it is a master, 0 when it says it is a replica, -1
 * when it is not up or does not answer. */
int redis_cluster_is_master(redis_cluster *c, size_t i);

/* Index of a replica of master_index that is not flagged as failed or
 * suspected to be, as the first node that is up says (CLUSTER NODES); -1
 * if none. */
int redis_cluster_replica_of(redis_cluster *c, size_t master_index);

/* Waits until every node that is up says cluster_state:ok and they all
 * report the same slot map; 0, or -1 after timeout_ms. A master killed
 * less than node_timeout_ms ago still counts as fine with the others, so
 * after a kill wait for what should follow (redis_cluster_wait_promoted()),
 * not for this. */
int redis_cluster_wait_stable(redis_cluster *c, int timeout_ms);

/* Waits until node i says role:master and the cluster is stable, with
 * every replica that is up linked to its master; 0, or -1 after
 * timeout_ms. */
int redis_cluster_wait_promoted(redis_cluster *c, size_t i, int timeout_ms);

/* Waits until node i (restarted, say) says it is a replica whose link to
 * its master is up and the cluster is stable; 0, or -1 after timeout_ms. */
int redis_cluster_wait_rejoined(redis_cluster *c, size_t i, int timeout_ms);

/*
 * Sends CLUSTER FAILOVER to replica i, with mode NULL (the coordinated
 * failover: no write is lost), "FORCE" (without the master's agreement) or
 * "TAKEOVER" (without the other masters' either), and waits as
 * redis_cluster_wait_promoted() does; 0 or -1. It takes about a second,
 * but a replica elected less than 4 x node_timeout_ms ago (8 s by default)
 * is not elected again before that time is up: Redis then drops the
 * request, which is sent again, all within 4 x node_timeout_ms + 7 s.
 */
int redis_cluster_failover(redis_cluster *c, size_t i, const char *mode);

/*
 * Moving one slot to another master as a resharding tool does, in steps,
 * so that a test can run load, or look, while the slot is half moved: keys
 * already moved then answer -ASK from the source and are on the target.
 */
typedef struct redis_cluster_migration {
    unsigned slot;
    size_t source;            /* the owner when the migration began */
    size_t target;
} redis_cluster_migration;

/* Marks slot IMPORTING on target and MIGRATING on its owner, and fills in
 * m; 0, or -1 (target is not a master, or already owns the slot). */
int redis_cluster_migrate_begin(redis_cluster *c, unsigned slot,
                                size_t target, redis_cluster_migration *m);

/* MIGRATEs one key of the slot from the source to the target: 1 when one
 * went (or expired on the way), 0 when the source has none left, -1 on
 * failure. */
int redis_cluster_migrate_key(redis_cluster *c,
                              const redis_cluster_migration *m);

/* Gives the slot to the target (CLUSTER SETSLOT NODE on the target, the
 * source and the other masters, in that order) and waits until the
 * cluster is stable again; 0 or -1. Call it once no keys are left. */
int redis_cluster_migrate_finish(redis_cluster *c,
                                 const redis_cluster_migration *m);

/* Called between two moved keys; it may sleep or send commands. */
typedef void (*redis_cluster_step_fn)(void *arg);

/* The whole migration: begin, every key one at a time with between(arg)
 * after each (between may be NULL), finish; 0 or -1. On failure the slot
 * may be left half moved. */
int redis_cluster_migrate_slot(redis_cluster *c, unsigned slot,
                               size_t target, redis_cluster_step_fn between,
                               void *arg);

/* SCRIPT FLUSH on every node that is up, so that the next EVALSHA fails
 * with NOSCRIPT everywhere; 0, or -1 when one of them failed. */
int redis_cluster_script_flush(redis_cluster *c);

#endif

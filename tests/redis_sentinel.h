/*
 * A private Redis Sentinel setup for a test or a benchmark: one master,
 * its replicas and three Sentinels watching it, on free loopback ports.
 *
 *     redis_harness_require();               // no server: skip, or fail in CI
 *     redis_sentinel *s = redis_sentinel_start(NULL);
 *     ... redis_sentinel_url(s) ...          // "redis+sentinel://..."
 *     redis_sentinel_stop(s);
 *
 * Every data node and every Sentinel is a redis_harness (redis_harness.h),
 * so its helpers work on redis_sentinel_node(s, i) and
 * redis_sentinel_sentinel(s, k): raw clients, MONITOR counts, kill,
 * pause, resume, restart. Data nodes are numbered 0 .. nodes-1 (node 0 is
 * the first master); which one is the master later is the Sentinels'
 * business, so tests ask (redis_sentinel_master()).
 *
 * The data nodes require the password REDIS_SENTINEL_DATA_PASSWORD and the
 * Sentinels another one, REDIS_SENTINEL_PASSWORD, so that a client that
 * mixed them up fails; redis_sentinel_start() puts both in the environment
 * variables the URL names (OBOL_TEST_REDIS_PASSWORD,
 * OBOL_TEST_SENTINEL_PASSWORD). A Sentinel's config file lives in its
 * directory and survives a kill, so a restarted Sentinel knows what it
 * knew. Questions go to processes that are up; these helpers are for test
 * programs only, one thread at a time.
 *
 * Caveat, from Sentinel itself: after a failover, the old master, when it
 * is reachable, is told to replicate the new one only about 10 s later;
 * until then it is a master with no replicas. redis_sentinel_demote()
 * does it at once.
 */
#ifndef OBOL_TESTS_REDIS_SENTINEL_H
#define OBOL_TESTS_REDIS_SENTINEL_H

#include <stddef.h>

#include <hiredis.h>

#include "redis_harness.h"

#define REDIS_SENTINEL_DATA_PASSWORD "obol-data-secret"
#define REDIS_SENTINEL_PASSWORD "obol-sentinel-secret"

typedef struct redis_sentinel redis_sentinel;

typedef struct redis_sentinel_options {
    size_t replicas;          /* of the master, at least 1 */
    size_t sentinels;         /* at least 1; quorum is a majority */
    int down_after_ms;        /* down-after-milliseconds */
    int failover_timeout_ms;  /* failover-timeout */
    int start_timeout_ms;     /* bound on redis_sentinel_start() */
    /* Nonzero: every server, Sentinels included, speaks only TLS on its
     * TCP port (REDIS_HARNESS_TLS_ONLY, one set of certificates, servers
     * trusting each other), replication and the Sentinels' own links go
     * over TLS, and the URL is rediss+sentinel:// with tls_ca. The
     * harness's own clients use the unix sockets. Needs the openssl
     * command (redis_harness_require_openssl()). */
    int tls;
} redis_sentinel_options;

#define REDIS_SENTINEL_OPTIONS_INIT                                       \
    { .replicas = 2, .sentinels = 3, .down_after_ms = 1000,               \
      .failover_timeout_ms = 2000, .start_timeout_ms = 20000, .tls = 0 }

/* The master's name the Sentinels watch. */
#define REDIS_SENTINEL_MASTER_NAME "obol"

/*
 * Starts the master, its replicas and the Sentinels, and waits until the
 * replicas are linked and every Sentinel knows every replica and every
 * other Sentinel. NULL on failure, with what went wrong and the end of
 * the logs on stderr. options may be NULL.
 */
redis_sentinel *redis_sentinel_start(const redis_sentinel_options *options);

/* Stops everything, removes the directories and frees s; NULL ignored. */
void redis_sentinel_stop(redis_sentinel *s);

/* Data nodes (master and replicas) and Sentinels. */
size_t redis_sentinel_nodes(const redis_sentinel *s);
redis_harness *redis_sentinel_node(const redis_sentinel *s, size_t i);
size_t redis_sentinel_count(const redis_sentinel *s);
redis_harness *redis_sentinel_sentinel(const redis_sentinel *s, size_t k);

/*
 * "redis+sentinel://127.0.0.1:S0/obol?sentinels=127.0.0.1:S1,...&password=
 * env:OBOL_TEST_REDIS_PASSWORD&sentinel_password=env:OBOL_TEST_SENTINEL_
 * PASSWORD": every Sentinel, both logins. Append "&name=value".
 */
const char *redis_sentinel_url(const redis_sentinel *s);

/* A raw client of data node i, logged in (redis_harness_client()). */
redisContext *redis_sentinel_client(const redis_sentinel *s, size_t i);

/* The data node every Sentinel that is up names as the master, when they
 * agree and that node is up and says role:master; else -1. */
int redis_sentinel_master(redis_sentinel *s);

/* Waits until redis_sentinel_master() is a node other than not_this (-1:
 * any); its index, or -1 after timeout_ms. */
int redis_sentinel_wait_master(redis_sentinel *s, int not_this,
                               int timeout_ms);

/* SENTINEL FAILOVER through the first Sentinel that is up, then waits
 * for the Sentinels to agree on another master; its index, or -1. */
int redis_sentinel_failover(redis_sentinel *s, int timeout_ms);

/* REPLICAOF the master on node i (the old master after a failover, or a
 * node just restarted), as the Sentinels would do later; 0 or -1. */
int redis_sentinel_demote(redis_sentinel *s, size_t i);

/* Waits until every data node that is up other than the master is its
 * replica with the link up, every Sentinel counts at least one of them in
 * good standing (what the next failover needs) and the Sentinels know
 * each other; 0, or -1. */
int redis_sentinel_wait_linked(redis_sentinel *s, int timeout_ms);

#endif

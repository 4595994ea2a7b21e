/* The single server, the Sentinel-resolved master or the cluster slot
 * map; see redis_topology.h. */
#define _POSIX_C_SOURCE 200809L
#include "config.h"

#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "redis_driver.h"
#include "redis_reply.h"
#include "redis_sentinel.h"
#include "redis_slot.h"
#include "redis_topology.h"

#define NO_OWNER 0xFFFF
#define MAX_NODES 1024
/* A node whose connection failed this recently is asked for the map only
 * when no other node answers. */
#define FAILED_RECENTLY_MS 2000

typedef struct node_entry {
    redis_node node;
    size_t master;           /* a replica's master (index); SIZE_MAX: none */
    redis_topology *topology;  /* Sentinel: for the pool's opener */
} node_entry;

struct redis_topology {
    const redis_settings *settings;
    int cluster;
    pthread_rwlock_t lock;   /* nodes, node_count, owner, roles */
    node_entry **nodes;
    size_t node_count;
    uint16_t owner[REDIS_SLOT_COUNT];  /* index into nodes, or NO_OWNER */
    uint64_t version;

    pthread_mutex_t refresh_mutex;
    pthread_cond_t refreshed;
    int refreshing;
    int64_t last_refresh_ms;
    uint64_t refreshes;         /* atomic: refreshes run */
    uint64_t refresh_failures;  /* atomic: of those, that failed */

    /* Sentinel mode (sentinels != NULL): the master is nodes[master]
     * (SIZE_MAX: none yet), under lock. Under refresh_mutex: stale asks
     * the next call to resolve again, and the outcome of the last
     * resolution is kept for the threads that waited for it. */
    redis_sentinels *sentinels;
    size_t master;
    int stale;
    int last_status;
    char last_message[sizeof ((obol_error *)0)->message];
};

static int open_on_master(void *arg, const redis_endpoint *ep,
                          const redis_settings *settings, int64_t deadline,
                          redis_conn **out, obol_error *err);

static int nomem(obol_error *err)
{
    return redis_host->set_error(err, OBOL_ERR_NOMEM, "redis: out of memory");
}

int redis_topology_is_cluster(const redis_topology *t)
{
    return t->cluster;
}

int redis_topology_is_sentinel(const redis_topology *t)
{
    return t->sentinels != NULL;
}

int redis_topology_can_move(const redis_topology *t)
{
    return t->cluster || t->sentinels != NULL;
}

/* ----------------------------------------------------------------- nodes */

static node_entry *entry_new(const redis_endpoint *ep,
                             const redis_settings *settings)
{
    node_entry *e = calloc(1, sizeof *e);

    if (e == NULL)
        return NULL;
    e->master = SIZE_MAX;
    if (ep->socket_path != NULL) {
        /* Only a single server is reached through a unix socket; it keeps
         * the settings' endpoint, which outlives it. */
        e->node.ep.socket_path = strdup(ep->socket_path);
        e->node.ep.where = strdup(ep->where);
        if (e->node.ep.socket_path == NULL || e->node.ep.where == NULL)
            goto fail;
    } else if (redis_endpoint_set_tcp(&e->node.ep, ep->host, ep->port) != 0) {
        goto fail;
    }
    e->node.pool = redis_pool_new(&e->node.ep, settings);
    if (e->node.pool == NULL)
        goto fail;
    return e;
fail:
    redis_endpoint_clear(&e->node.ep);
    free(e);
    return NULL;
}

static void entry_free(node_entry *e)
{
    redis_pool_free(e->node.pool);
    redis_endpoint_clear(&e->node.ep);
    free(e);
}

/* With the write lock held. */
static node_entry *find_locked(redis_topology *t, const char *host,
                               uint16_t port, size_t *index)
{
    for (size_t i = 0; i < t->node_count; i++) {
        redis_endpoint *ep = &t->nodes[i]->node.ep;
        if (ep->host != NULL && ep->port == port && strcmp(ep->host, host) == 0) {
            *index = i;
            return t->nodes[i];
        }
    }
    return NULL;
}

static node_entry *add_locked(redis_topology *t, const redis_endpoint *ep,
                              size_t *index)
{
    node_entry *e;

    if (t->node_count == MAX_NODES)
        return NULL;
    e = entry_new(ep, t->settings);
    if (e == NULL)
        return NULL;
    if (t->sentinels != NULL) {
        e->topology = t;
        redis_pool_set_opener(e->node.pool, open_on_master, e);
    }
    *index = t->node_count;
    t->nodes[t->node_count++] = e;
    return e;
}

static node_entry *node_at(redis_topology *t, const char *host, uint16_t port,
                           size_t *index)
{
    redis_endpoint ep = { (char *)host, port, NULL, (char *)"" };
    node_entry *e;

    pthread_rwlock_wrlock(&t->lock);
    e = find_locked(t, host, port, index);
    if (e == NULL)
        e = add_locked(t, &ep, index);
    pthread_rwlock_unlock(&t->lock);
    return e;
}

redis_node *redis_topology_node_at(redis_topology *t, const char *host,
                                   uint16_t port)
{
    size_t index;
    node_entry *e = node_at(t, host, port, &index);

    return e != NULL ? &e->node : NULL;
}

static size_t index_of(redis_topology *t, const redis_node *node)
{
    for (size_t i = 0; i < t->node_count; i++)
        if (&t->nodes[i]->node == node)
            return i;
    return SIZE_MAX;
}

/* ------------------------------------------------------------ routing */

redis_node *redis_topology_route(redis_topology *t, unsigned slot)
{
    redis_node *node = NULL;
    uint16_t owner;

    if (t->sentinels != NULL) {
        pthread_rwlock_rdlock(&t->lock);
        if (t->master != SIZE_MAX)
            node = &t->nodes[t->master]->node;
        pthread_rwlock_unlock(&t->lock);
        return node;
    }
    if (!t->cluster)
        return &t->nodes[0]->node;
    pthread_rwlock_rdlock(&t->lock);
    owner = t->owner[slot % REDIS_SLOT_COUNT];
    if (owner != NO_OWNER)
        node = &t->nodes[owner]->node;
    pthread_rwlock_unlock(&t->lock);
    return node;
}

void redis_topology_patch(redis_topology *t, unsigned slot, redis_node *node)
{
    pthread_rwlock_wrlock(&t->lock);
    {
        size_t index = index_of(t, node);
        if (index != SIZE_MAX && t->owner[slot] != index) {
            t->owner[slot] = (uint16_t)index;
            t->nodes[index]->node.is_master = 1;
            t->version++;
        }
    }
    pthread_rwlock_unlock(&t->lock);
}

void redis_topology_mark_failed(redis_topology *t, redis_node *node)
{
    pthread_rwlock_wrlock(&t->lock);
    node->failed_at_ms = redis_now_ms();
    pthread_rwlock_unlock(&t->lock);
}

void redis_topology_counters_get(redis_topology *t,
                                 redis_topology_counters *out)
{
    memset(out, 0, sizeof *out);
    out->refreshes = __atomic_load_n(&t->refreshes, __ATOMIC_RELAXED);
    out->refresh_failures = __atomic_load_n(&t->refresh_failures,
                                            __ATOMIC_RELAXED);
    /* Nodes are added under the lock and never freed before t. */
    pthread_rwlock_rdlock(&t->lock);
    for (size_t i = 0; i < t->node_count; i++)
        redis_pool_add_counters(t->nodes[i]->node.pool, &out->pools);
    pthread_rwlock_unlock(&t->lock);
}

uint64_t redis_topology_version(redis_topology *t)
{
    uint64_t version;

    pthread_rwlock_rdlock(&t->lock);
    version = t->version;
    pthread_rwlock_unlock(&t->lock);
    return version;
}

size_t redis_topology_masters(redis_topology *t, redis_node **out, size_t max)
{
    unsigned char owns[MAX_NODES] = { 0 };
    size_t count = 0;

    if (t->sentinels != NULL) {
        out[0] = redis_topology_route(t, 0);
        return out[0] != NULL && max > 0 ? 1 : 0;
    }
    if (!t->cluster) {
        out[0] = &t->nodes[0]->node;
        return 1;
    }
    pthread_rwlock_rdlock(&t->lock);
    for (size_t slot = 0; slot < REDIS_SLOT_COUNT; slot++)
        if (t->owner[slot] != NO_OWNER)
            owns[t->owner[slot]] = 1;
    for (size_t i = 0; i < t->node_count && count < max; i++)
        if (owns[i])
            out[count++] = &t->nodes[i]->node;
    pthread_rwlock_unlock(&t->lock);
    return count;
}

/* ----------------------------------------------------- reading the map */

/* The map as one node tells it, before it replaces the current one. */
typedef struct new_map {
    uint16_t owner[REDIS_SLOT_COUNT];
    size_t master_of[MAX_NODES];     /* per node index; SIZE_MAX: master */
    unsigned char listed[MAX_NODES]; /* the reply names this node */
    unsigned char master[MAX_NODES];
} new_map;

static const redisReply *field_of(const redisReply *pairs, const char *name)
{
    if (pairs->type != REDIS_REPLY_ARRAY)
        return NULL;
    for (size_t i = 0; i + 1 < pairs->elements; i += 2)
        if (pairs->element[i]->type == REDIS_REPLY_STRING &&
            strcmp(pairs->element[i]->str, name) == 0)
            return pairs->element[i + 1];
    return NULL;
}

/* A node named in a reply, where host "" or "?" means "the one asked". */
static int listed_node(redis_topology *t, const char *host, long long port,
                       const redis_node *asked, size_t *index)
{
    if (host == NULL || host[0] == '\0' || strcmp(host, "?") == 0)
        host = asked->ep.host;
    if (host == NULL || port <= 0 || port > 65535)
        return -1;
    return node_at(t, host, (uint16_t)port, index) != NULL ? 0 : -1;
}

static int claim(new_map *map, long long first, long long last, size_t index)
{
    if (first < 0 || last >= REDIS_SLOT_COUNT || first > last)
        return -1;
    for (long long slot = first; slot <= last; slot++)
        map->owner[slot] = (uint16_t)index;
    return 0;
}

/* One node of a CLUSTER SHARDS shard: its index and role. */
static int shard_node(redis_topology *t, const redisReply *fields,
                      const redis_node *asked, size_t *index, int *is_master)
{
    const redisReply *ip = field_of(fields, "endpoint");
    /* Over TLS the node's TLS port, which a node of a tls-cluster lists
     * as "tls-port" (and "port" only when it has a plain one too). */
    const redisReply *tls_port = t->settings->tls != NULL
                                     ? field_of(fields, "tls-port")
                                     : NULL;
    const redisReply *port = tls_port != NULL ? tls_port
                                              : field_of(fields, "port");
    const redisReply *role = field_of(fields, "role");
    const char *host;

    if (ip == NULL || ip->type != REDIS_REPLY_STRING || strcmp(ip->str, "?") == 0)
        ip = field_of(fields, "ip");
    if (ip == NULL || ip->type != REDIS_REPLY_STRING || port == NULL ||
        port->type != REDIS_REPLY_INTEGER || role == NULL ||
        role->type != REDIS_REPLY_STRING)
        return -1;
    host = ip->str;
    *is_master = strcmp(role->str, "master") == 0;
    return listed_node(t, host, port->integer, asked, index);
}

static int parse_shards(redis_topology *t, const redisReply *reply,
                        const redis_node *asked, new_map *map)
{
    if (reply->type != REDIS_REPLY_ARRAY)
        return -1;
    for (size_t s = 0; s < reply->elements; s++) {
        const redisReply *slots = field_of(reply->element[s], "slots");
        const redisReply *nodes = field_of(reply->element[s], "nodes");
        size_t master = SIZE_MAX;

        if (slots == NULL || nodes == NULL || slots->type != REDIS_REPLY_ARRAY ||
            nodes->type != REDIS_REPLY_ARRAY || slots->elements % 2 != 0)
            return -1;
        for (size_t n = 0; n < nodes->elements; n++) {
            size_t index;
            int is_master;
            if (shard_node(t, nodes->element[n], asked, &index, &is_master) != 0)
                return -1;
            map->listed[index] = 1;
            map->master[index] = (unsigned char)is_master;
            if (is_master)
                master = index;
        }
        for (size_t n = 0; n < nodes->elements && master != SIZE_MAX; n++) {
            size_t index;
            int is_master;
            shard_node(t, nodes->element[n], asked, &index, &is_master);
            if (!is_master)
                map->master_of[index] = master;
        }
        for (size_t r = 0; r < slots->elements && slots->elements > 0; r += 2) {
            if (master == SIZE_MAX ||
                slots->element[r]->type != REDIS_REPLY_INTEGER ||
                slots->element[r + 1]->type != REDIS_REPLY_INTEGER ||
                claim(map, slots->element[r]->integer,
                      slots->element[r + 1]->integer, master) != 0)
                return -1;
        }
    }
    return 0;
}

/* One [ip, port, id, ...] of CLUSTER SLOTS. */
static int slots_node(redis_topology *t, const redisReply *node,
                      const redis_node *asked, size_t *index)
{
    if (node->type != REDIS_REPLY_ARRAY || node->elements < 2 ||
        node->element[0]->type != REDIS_REPLY_STRING ||
        node->element[1]->type != REDIS_REPLY_INTEGER)
        return -1;
    return listed_node(t, node->element[0]->str, node->element[1]->integer,
                       asked, index);
}

static int parse_slots(redis_topology *t, const redisReply *reply,
                       const redis_node *asked, new_map *map)
{
    if (reply->type != REDIS_REPLY_ARRAY)
        return -1;
    for (size_t r = 0; r < reply->elements; r++) {
        const redisReply *range = reply->element[r];
        size_t master;

        if (range->type != REDIS_REPLY_ARRAY || range->elements < 3 ||
            range->element[0]->type != REDIS_REPLY_INTEGER ||
            range->element[1]->type != REDIS_REPLY_INTEGER ||
            slots_node(t, range->element[2], asked, &master) != 0 ||
            claim(map, range->element[0]->integer, range->element[1]->integer,
                  master) != 0)
            return -1;
        map->listed[master] = 1;
        map->master[master] = 1;
        for (size_t n = 3; n < range->elements; n++) {
            size_t replica;
            if (slots_node(t, range->element[n], asked, &replica) != 0)
                return -1;
            map->listed[replica] = 1;
            map->master_of[replica] = master;
        }
    }
    return 0;
}

/* Replaces the current map by what a node said. */
static void apply_map(redis_topology *t, const new_map *map)
{
    pthread_rwlock_wrlock(&t->lock);
    if (memcmp(t->owner, map->owner, sizeof t->owner) != 0) {
        memcpy(t->owner, map->owner, sizeof t->owner);
        t->version++;
    }
    for (size_t i = 0; i < t->node_count; i++) {
        node_entry *e = t->nodes[i];
        e->node.is_master = map->listed[i] && map->master[i];
        e->master = map->listed[i] ? map->master_of[i] : SIZE_MAX;
    }
    pthread_rwlock_unlock(&t->lock);
}

/* Sends one command to node and reads its reply, on a pooled connection. */
static int ask_node(redis_topology *t, redis_node *node, int64_t deadline,
                    int argc, const char **argv, const size_t *argv_len,
                    redisReply **reply, obol_error *err)
{
    redis_conn *conn = NULL;
    int status = redis_pool_take(node->pool, &deadline, &conn, err);

    if (status != OBOL_OK) {
        if (status != OBOL_ERR_NOMEM)
            redis_topology_mark_failed(t, node);
        return status;
    }
    status = redis_conn_append(conn, argc, argv, argv_len, err);
    if (status == OBOL_OK)
        status = redis_conn_flush(conn, deadline, argv[0], NULL, err);
    if (status == OBOL_OK)
        status = redis_conn_read(conn, deadline, argv[0], reply, err);
    if (status != OBOL_OK && status != OBOL_ERR_NOMEM)
        redis_topology_mark_failed(t, node);
    redis_pool_give(node->pool, conn);
    return status;
}

/* The map as node tells it: CLUSTER SHARDS, or CLUSTER SLOTS from a
 * server older than 7.0. */
static int read_map_from(redis_topology *t, redis_node *node,
                         int64_t deadline, new_map *map, obol_error *err)
{
    const char *argv[2] = { "CLUSTER", "SHARDS" };
    size_t argv_len[2] = { 7, 6 };
    redisReply *reply = NULL;
    int parsed;
    int status = ask_node(t, node, deadline, 2, argv, argv_len, &reply, err);

    if (status != OBOL_OK)
        return status;
    if (reply->type == REDIS_REPLY_ERROR) {
        redis_reply_free(reply);
        reply = NULL;
        argv[1] = "SLOTS";
        argv_len[1] = 5;
        status = ask_node(t, node, deadline, 2, argv, argv_len, &reply, err);
        if (status != OBOL_OK)
            return status;
        if (reply->type == REDIS_REPLY_ERROR) {
            status = redis_host->set_error(err, OBOL_ERR_BACKEND,
                                           "redis %s: CLUSTER SLOTS: %s (is "
                                           "it a cluster node?)",
                                           node->ep.where, reply->str);
            redis_reply_free(reply);
            return status;
        }
        parsed = parse_slots(t, reply, node, map);
    } else {
        parsed = parse_shards(t, reply, node, map);
    }
    redis_reply_free(reply);
    if (parsed != 0)
        return redis_host->set_error(err, OBOL_ERR_BACKEND,
                                     "redis %s: CLUSTER %s: unexpected reply",
                                     node->ep.where, argv[1]);
    return OBOL_OK;
}

/* Nodes to ask, in order: those that did not fail recently first. */
static size_t candidates(redis_topology *t, redis_node **out)
{
    int64_t now = redis_now_ms();
    size_t count = 0;

    pthread_rwlock_rdlock(&t->lock);
    for (int pass = 0; pass < 2; pass++)
        for (size_t i = 0; i < t->node_count; i++) {
            redis_node *node = &t->nodes[i]->node;
            int recent = node->failed_at_ms != 0 &&
                         now - node->failed_at_ms < FAILED_RECENTLY_MS;
            if (recent == pass)
                out[count++] = node;
        }
    pthread_rwlock_unlock(&t->lock);
    return count;
}

static int read_map(redis_topology *t, int64_t deadline, obol_error *err)
{
    redis_node **asked = malloc(MAX_NODES * sizeof *asked);
    new_map *map = malloc(sizeof *map);
    size_t count;
    int status = OBOL_ERR_BACKEND;

    if (asked == NULL || map == NULL) {
        free(asked);
        free(map);
        return nomem(err);
    }
    count = candidates(t, asked);
    for (size_t i = 0; i < count && redis_now_ms() < deadline; i++) {
        for (size_t n = 0; n < MAX_NODES; n++)
            map->master_of[n] = SIZE_MAX;
        memset(map->owner, 0xFF, sizeof map->owner);
        memset(map->listed, 0, sizeof map->listed);
        memset(map->master, 0, sizeof map->master);
        status = read_map_from(t, asked[i], deadline, map, err);
        if (status == OBOL_OK) {
            apply_map(t, map);
            break;
        }
    }
    if (status != OBOL_OK && count > 1) {
        char last[sizeof err->message];

        snprintf(last, sizeof last, "%s", err->message);
        redis_host->set_error(err, status,
                              "redis cluster: no node gave the slot map "
                              "(last: %s)", last);
    }
    free(asked);
    free(map);
    return status;
}

/* ------------------------------------------------------------ Sentinel */

/* The node at host:port becomes the master. The previous master's pool
 * is retired: its idle connections are closed now and those in use when
 * given back, so no connection to it is kept; the new master's pool keeps
 * connections again (it may have been retired, when it was master
 * before). */
static int switch_master(redis_topology *t, const char *host, uint16_t port,
                         obol_error *err)
{
    size_t index, previous;
    node_entry *e = node_at(t, host, port, &index);

    if (e == NULL)
        return nomem(err);
    pthread_rwlock_wrlock(&t->lock);
    previous = t->master;
    if (previous != index) {
        t->master = index;
        if (previous != SIZE_MAX)
            t->nodes[previous]->node.is_master = 0;
        e->node.is_master = 1;
        t->version++;
    }
    pthread_rwlock_unlock(&t->lock);
    if (previous != index && previous != SIZE_MAX) {
        redis_pool_retire(t->nodes[previous]->node.pool, 1);
        redis_pool_retire(e->node.pool, 0);
    }
    return OBOL_OK;
}

/* Asks the Sentinels and follows their answer; with refresh_mutex's
 * refreshing flag held by the caller. */
static int resolve(redis_topology *t, int64_t deadline, obol_error *err)
{
    char host[256];
    uint16_t port = 0;
    int status = redis_sentinels_ask(t->sentinels, deadline, host,
                                     sizeof host, &port, err);

    if (status != OBOL_OK)
        return status;
    return switch_master(t, host, port, err);
}

/* Under refresh_mutex, when a resolution ends: its outcome, for the
 * threads that waited for it. */
static void keep_outcome(redis_topology *t, int status, const obol_error *err)
{
    if (t->sentinels == NULL)
        return;
    t->last_status = status;
    snprintf(t->last_message, sizeof t->last_message, "%s",
             status == OBOL_OK ? "" : err->message);
    if (status == OBOL_OK)
        t->stale = 0;
}

/* Runs the refresh this thread has claimed (t->refreshing set under the
 * mutex): the Sentinels asked, or the slot map read; then the threads
 * waiting for it are woken. */
static int run_claimed_refresh(redis_topology *t, int64_t deadline,
                               obol_error *err)
{
    int status = t->sentinels != NULL ? resolve(t, deadline, err)
                                      : read_map(t, deadline, err);

    __atomic_add_fetch(&t->refreshes, 1, __ATOMIC_RELAXED);
    if (status != OBOL_OK)
        __atomic_add_fetch(&t->refresh_failures, 1, __ATOMIC_RELAXED);
    pthread_mutex_lock(&t->refresh_mutex);
    t->refreshing = 0;
    t->last_refresh_ms = redis_now_ms();
    keep_outcome(t, status, err);
    pthread_cond_broadcast(&t->refreshed);
    pthread_mutex_unlock(&t->refresh_mutex);
    return status;
}

/* A resolution for a new connection: never skipped for being recent, but
 * merged with one under way, whose outcome is then this one's. */
static int resolve_now(redis_topology *t, int64_t deadline, obol_error *err)
{
    struct timespec until = { (time_t)(deadline / 1000),
                              (long)(deadline % 1000) * 1000000L };
    int status;

    pthread_mutex_lock(&t->refresh_mutex);
    if (t->refreshing) {
        while (t->refreshing &&
               pthread_cond_timedwait(&t->refreshed, &t->refresh_mutex,
                                      &until) != ETIMEDOUT)
            ;
        if (t->refreshing)
            status = redis_host->set_error(err, OBOL_ERR_TIMEOUT,
                                           "redis sentinel: the call's time "
                                           "ran out while another thread "
                                           "asked the Sentinels");
        else if (t->last_status != OBOL_OK)
            status = redis_host->set_error(err, t->last_status, "%s",
                                           t->last_message);
        else
            status = OBOL_OK;
        pthread_mutex_unlock(&t->refresh_mutex);
        return status;
    }
    t->refreshing = 1;
    pthread_mutex_unlock(&t->refresh_mutex);
    return run_claimed_refresh(t, deadline, err);
}

/*
 * The pool's opener in Sentinel mode: every new connection to a data node
 * asks the Sentinels first, and is made only when they still name this
 * node; then ROLE must say master. Either refusal fails the take before
 * anything was sent, so the router tries again (the new master, or the
 * same one a little later) within the call's deadline.
 */
static int open_on_master(void *arg, const redis_endpoint *ep,
                          const redis_settings *settings, int64_t deadline,
                          redis_conn **out, obol_error *err)
{
    node_entry *e = arg;
    redis_topology *t = e->topology;
    redis_conn *conn = NULL;
    redis_node *master;
    int status = resolve_now(t, deadline, err);

    if (status != OBOL_OK)
        return status;
    master = redis_topology_route(t, 0);
    if (master != &e->node)
        return redis_host->set_error(err, OBOL_ERR_BACKEND,
                                     "redis %s: no longer the master '%s': "
                                     "the Sentinels name %s", ep->where,
                                     settings->master_name,
                                     master != NULL ? master->ep.where : "?");
    status = redis_conn_open(ep, settings, deadline, &conn, err);
    if (status == OBOL_OK)
        status = redis_sentinel_check_role(conn, deadline, err);
    if (status != OBOL_OK) {
        redis_conn_close(conn);
        return status;
    }
    *out = conn;
    return OBOL_OK;
}

int redis_topology_connect(redis_topology *t, redis_node *node,
                           int64_t deadline, redis_conn **out,
                           obol_error *err)
{
    /* A node is the first member of its entry, which outlives it. */
    node_entry *e = (node_entry *)node;

    if (t->sentinels != NULL)
        return open_on_master(e, &node->ep, t->settings, deadline, out, err);
    return redis_conn_open(&node->ep, t->settings, deadline, out, err);
}

void redis_topology_mark_stale(redis_topology *t)
{
    if (t->sentinels == NULL)
        return;
    pthread_mutex_lock(&t->refresh_mutex);
    t->stale = 1;
    pthread_mutex_unlock(&t->refresh_mutex);
}

/* ----------------------------------------------------- refreshing */

int redis_topology_refresh(redis_topology *t, int64_t deadline, int wait,
                           obol_error *err)
{
    struct timespec until = { (time_t)(deadline / 1000),
                              (long)(deadline % 1000) * 1000000L };

    if (!t->cluster && t->sentinels == NULL)
        return OBOL_OK;
    pthread_mutex_lock(&t->refresh_mutex);
    if (t->refreshing) {
        /* Merged: the refresh under way answers this request too. */
        while (wait && t->refreshing &&
               pthread_cond_timedwait(&t->refreshed, &t->refresh_mutex,
                                      &until) != ETIMEDOUT)
            ;
        pthread_mutex_unlock(&t->refresh_mutex);
        return OBOL_OK;
    }
    if (t->last_refresh_ms != 0 &&
        redis_now_ms() - t->last_refresh_ms < REDIS_TOPOLOGY_MIN_REFRESH_MS) {
        pthread_mutex_unlock(&t->refresh_mutex);
        return OBOL_OK;
    }
    t->refreshing = 1;
    pthread_mutex_unlock(&t->refresh_mutex);
    return run_claimed_refresh(t, deadline, err);
}

void redis_topology_refresh_if_due(redis_topology *t, int64_t deadline)
{
    uint64_t interval = t->settings->topology_refresh_ms;
    obol_error ignored = { 0 };
    int due;

    if (t->sentinels != NULL) {
        /* A plain SENTINEL FAILOVER leaves the old master taking writes
         * until the Sentinels demote it, some 10 s later: without a
         * broken connection, READONLY or a WAIT shortfall to tell, only
         * asking again now and then finds the new master. */
        pthread_mutex_lock(&t->refresh_mutex);
        due = !t->refreshing &&
              (t->stale ||
               (interval > 0 &&
                redis_now_ms() - t->last_refresh_ms >= (int64_t)interval));
        pthread_mutex_unlock(&t->refresh_mutex);
        if (due)
            redis_topology_refresh(t, deadline, 0, &ignored);
        return;
    }
    if (!t->cluster || interval == 0)
        return;
    pthread_mutex_lock(&t->refresh_mutex);
    due = !t->refreshing &&
          redis_now_ms() - t->last_refresh_ms >= (int64_t)interval;
    pthread_mutex_unlock(&t->refresh_mutex);
    if (due)
        redis_topology_refresh(t, deadline, 0, &ignored);
}

/* -------------------------------------------------------- life cycle */

void redis_topology_free(redis_topology *t)
{
    if (t == NULL)
        return;
    for (size_t i = 0; i < t->node_count; i++)
        entry_free(t->nodes[i]);
    free(t->nodes);
    free(t->sentinels);
    pthread_rwlock_destroy(&t->lock);
    pthread_mutex_destroy(&t->refresh_mutex);
    pthread_cond_destroy(&t->refreshed);
    free(t);
}

int redis_topology_new(const redis_settings *settings, int64_t deadline,
                       redis_topology **out, obol_error *err)
{
    redis_topology *t = calloc(1, sizeof *t);
    pthread_condattr_t attr;
    int status;

    if (t == NULL)
        return nomem(err);
    t->settings = settings;
    t->cluster = settings->mode == REDIS_MODE_CLUSTER;
    t->master = SIZE_MAX;
    memset(t->owner, 0xFF, sizeof t->owner);
    pthread_rwlock_init(&t->lock, NULL);
    pthread_mutex_init(&t->refresh_mutex, NULL);
    pthread_condattr_init(&attr);
    pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
    pthread_cond_init(&t->refreshed, &attr);
    pthread_condattr_destroy(&attr);
    t->nodes = calloc(MAX_NODES, sizeof *t->nodes);
    if (settings->mode == REDIS_MODE_SENTINEL) {
        /* The seeds are the Sentinels, which are no nodes: the nodes are
         * the masters they name. */
        t->sentinels = calloc(1, sizeof *t->sentinels);
        if (t->sentinels != NULL)
            redis_sentinels_init(t->sentinels, settings);
    }
    if (t->nodes == NULL ||
        (settings->mode == REDIS_MODE_SENTINEL && t->sentinels == NULL)) {
        redis_topology_free(t);
        return nomem(err);
    }
    for (size_t i = 0; t->sentinels == NULL && i < settings->seed_count;
         i++) {
        size_t index;
        const redis_endpoint *seed = &settings->seeds[i];
        if ((seed->host == NULL || find_locked(t, seed->host, seed->port,
                                               &index) == NULL) &&
            add_locked(t, seed, &index) == NULL) {
            redis_topology_free(t);
            return nomem(err);
        }
    }
    status = settings->lazy_connect
                 ? OBOL_OK
                 : redis_topology_refresh(t, deadline, 1, err);
    if (status != OBOL_OK) {
        redis_topology_free(t);
        return status;
    }
    *out = t;
    return OBOL_OK;
}

int redis_topology_known_masters(redis_topology *t, int64_t deadline,
                                 redis_node **out, size_t max, size_t *count,
                                 obol_error *err)
{
    int status;

    *count = redis_topology_masters(t, out, max);
    if (*count > 0)
        return OBOL_OK;
    status = redis_topology_refresh(t, deadline, 1, err);
    if (status != OBOL_OK)
        return status;
    *count = redis_topology_masters(t, out, max);
    if (*count > 0)
        return OBOL_OK;
    return redis_host->set_error(err, OBOL_ERR_BACKEND,
                                 "redis %s: no master known yet",
                                 t->settings->where);
}

/* ------------------------------------------------------------ describe */

static size_t append(char *out, size_t size, size_t used, const char *fmt,
                     ...)
    __attribute__((format(printf, 4, 5)));

static size_t append(char *out, size_t size, size_t used, const char *fmt, ...)
{
    va_list ap;
    int n;

    if (used >= size)
        return used;
    va_start(ap, fmt);
    n = vsnprintf(out + used, size - used, fmt, ap);
    va_end(ap);
    return n < 0 ? used : used + (size_t)n;
}

/* " slots 0-5460,10923" for the node at index. */
static size_t append_ranges(const redis_topology *t, size_t index, char *out,
                            size_t size, size_t used)
{
    const char *sep = " slots ";

    for (size_t slot = 0; slot < REDIS_SLOT_COUNT; slot++) {
        size_t last = slot;
        if (t->owner[slot] != index)
            continue;
        while (last + 1 < REDIS_SLOT_COUNT && t->owner[last + 1] == index)
            last++;
        if (last == slot)
            used = append(out, size, used, "%s%zu", sep, slot);
        else
            used = append(out, size, used, "%s%zu-%zu", sep, slot, last);
        sep = ",";
        slot = last;
    }
    return used;
}

void redis_topology_describe(redis_topology *t, char *out, size_t size)
{
    redis_node *masters[64];
    size_t count = redis_topology_masters(t, masters, 64);
    size_t used = 0;

    out[0] = '\0';
    if (t->sentinels != NULL) {
        used = append(out, size, 0, "master '%s' at %s, sentinels",
                      t->settings->master_name,
                      count > 0 ? masters[0]->ep.where : "(none)");
        for (size_t i = 0; i < t->settings->seed_count; i++)
            used = append(out, size, used, "%s%s", i > 0 ? "," : " ",
                          t->settings->seeds[i].where);
        if (used >= size && size > 4)
            memcpy(out + size - 4, "...", 4);
        return;
    }
    if (!t->cluster) {
        append(out, size, 0, "%s", t->nodes[0]->node.ep.where);
        return;
    }
    pthread_rwlock_rdlock(&t->lock);
    used = append(out, size, used, "%zu masters:", count);
    for (size_t m = 0; m < count; m++) {
        size_t index = index_of(t, masters[m]);
        const char *sep = " replicas ";

        used = append(out, size, used, "%s %s", m > 0 ? ";" : "",
                      masters[m]->ep.where);
        used = append_ranges(t, index, out, size, used);
        for (size_t r = 0; r < t->node_count; r++)
            if (t->nodes[r]->master == index) {
                used = append(out, size, used, "%s%s", sep,
                              t->nodes[r]->node.ep.where);
                sep = ",";
            }
    }
    pthread_rwlock_unlock(&t->lock);
    if (used >= size && size > 4)
        memcpy(out + size - 4, "...", 4);
}

/*
 * The Redis driver: the driver table and the operations, written once for
 * a single server, a Sentinel-resolved master and a cluster
 * (redis_topology.h decides where a command
 * goes, redis_router.h follows redirections). Each operation of a store is
 * one round trip in steady state (HGET, EVALSHA or DEL, with WAIT behind a
 * write when wait_replicas is set); scan and prune walk every master
 * (redis_walk.h). See docs/REDIS.md.
 */
#define _POSIX_C_SOURCE 200809L
#include "config.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "redis_async.h"
#include "redis_config.h"
#include "redis_driver.h"
#include "redis_handle.h"
#include "redis_keys.h"
#include "redis_ops.h"
#include "redis_reply.h"
#include "redis_router.h"
#include "redis_scripts.h"
#include "redis_slot.h"
#include "redis_topology.h"
#include "redis_walk.h"

const obol_driver_host *redis_host;

static int nomem(obol_error *err)
{
    return redis_host->set_error(err, OBOL_ERR_NOMEM, "redis: out of memory");
}

/* One command of redis_ops.h through the router; its reply in *reply. */
static int run_command(redis_handle *h, const redis_command *c,
                       redisReply **reply, obol_error *err)
{
    return redis_router_call(&h->router, &c->sc.call,
                             redis_router_deadline(&h->router), reply, err);
}

/* ------------------------------------------------------------ open/close */

static void redis_close(void *handle)
{
    redis_handle *h = handle;

    if (h == NULL)
        return;
    redis_async_free(h->async);   /* cancels what is still in flight */
    redis_topology_free(h->topology);
    redis_settings_clear(&h->settings);
    free(h->prefix);
    free(h);
}

static int escape_prefix(redis_handle *h, obol_bytes prefix, obol_error *err)
{
    size_t prefix_len = redis_escape(NULL, prefix.data, prefix.len);

    h->prefix = malloc(prefix_len + 1);
    if (h->prefix == NULL)
        return nomem(err);
    redis_escape(h->prefix, prefix.data, prefix.len);
    h->prefix[prefix_len] = '\0';
    return OBOL_OK;
}

/* Reads the slot map (cluster) and loads the scripts on one master, so
 * that a wrong address or password is reported by open(). With
 * connect=lazy it does neither: every call reaches the servers itself,
 * failing and recovering one by one as after an outage. */
static int connect_store(redis_handle *h, obol_error *err)
{
    redis_node *first = NULL;
    int status = redis_topology_new(&h->settings,
                                    redis_now_ms() +
                                        (int64_t)h->settings.timeout_ms,
                                    &h->topology, err);

    if (status != OBOL_OK)
        return status;
    h->router.settings = &h->settings;
    h->router.topology = h->topology;
    if (h->settings.lazy_connect)
        return redis_scripts_digest(&h->scripts, err);
    if (redis_topology_masters(h->topology, &first, 1) == 0)
        return redis_host->set_error(err, OBOL_ERR_BACKEND,
                                     "redis %s: no master serves any slot",
                                     h->settings.where);
    return redis_scripts_load(&h->router, first, &h->scripts, err);
}

static int redis_open(const obol_driver_config *config, void **handle,
                      obol_error *err)
{
    redis_handle *h = calloc(1, sizeof *h);
    int status;

    if (h == NULL)
        return nomem(err);
    status = redis_settings_parse(config, &h->settings, err);
    if (status != OBOL_OK) {
        free(h);
        return status;
    }
    h->log = config->log;
    h->log_arg = config->log_arg;
    status = escape_prefix(h, config->prefix, err);
    if (status == OBOL_OK)
        status = connect_store(h, err);
    if (status != OBOL_OK) {
        redis_close(h);
        return status;
    }
    *handle = h;
    return OBOL_OK;
}

/* --------------------------------------------------------------- get/put */

static int redis_get(void *handle, const obol_driver_key *key,
                     uint8_t **sealed, size_t *sealed_len, obol_error *err)
{
    redis_handle *h = handle;
    redis_command c;
    redisReply *reply = NULL;
    int status = redis_command_get(h, key, &c, err);

    if (status != OBOL_OK)
        return status;
    status = run_command(h, &c, &reply, err);
    redis_command_clear(&c);
    if (status != OBOL_OK)
        return status;
    status = redis_reply_get(h, reply, sealed, sealed_len, err);
    redis_reply_free(reply);
    return status;
}

static int redis_put(void *handle, const obol_driver_record *record,
                     uint64_t expected_lock, int64_t now, obol_error *err)
{
    redis_handle *h = handle;
    redis_command c;
    redisReply *reply = NULL;
    int status = redis_command_put(h, record, expected_lock, now, &c, err);

    if (status != OBOL_OK)
        return status;
    status = run_command(h, &c, &reply, err);
    redis_command_clear(&c);
    if (status != OBOL_OK)
        return status;
    status = redis_reply_upsert(h, reply, err);
    redis_reply_free(reply);
    return status;
}

/*
 * put_batch. The records of one (user, type) share their keys, so they go
 * as one upsert_many script call (at most BATCH_GROUP_MAX of them), and the
 * calls are pipelined per node by the router: a batch pays one script call
 * per user and one round trip per node. Records are grouped by a stable
 * sort: the records of one session keep their order, which is the only
 * order put_batch promises, since records of different (user, type) share
 * no key.
 */
#define BATCH_GROUP_MAX 64
#define GROUP_ARGS_EACH 5    /* id, sealed, score, expected, new lock */

typedef struct batch_group {
    redis_keys keys;
    size_t first, count;     /* order[first .. first + count) */
    const char **argv;
    size_t *argv_len;
} batch_group;

typedef struct batch {
    const obol_driver_record *records;
    size_t *order;           /* record indices, grouped by (user, type) */
    redis_upsert_args *args; /* per record */
    batch_group *groups;
    size_t group_count;
    redis_call *calls;       /* per group */
    redisReply **replies;    /* per group */
    char now[24];
} batch;

static int compare_bytes(obol_bytes a, obol_bytes b)
{
    size_t n = a.len < b.len ? a.len : b.len;
    int c = n > 0 ? memcmp(a.data, b.data, n) : 0;

    if (c != 0)
        return c;
    return a.len < b.len ? -1 : a.len > b.len;
}

static int compare_user_and_type(const obol_driver_key *a,
                                 const obol_driver_key *b)
{
    int c = compare_bytes(a->user_id, b->user_id);
    return c != 0 ? c : compare_bytes(a->type, b->type);
}

/* A stable merge sort of order[] by (user, type): qsort() is neither
 * stable nor reentrant without a global. scratch has count entries. */
static void sort_records(const obol_driver_record *records, size_t *order,
                         size_t *scratch, size_t count)
{
    for (size_t width = 1; width < count; width *= 2) {
        for (size_t lo = 0; lo < count; lo += 2 * width) {
            size_t mid = lo + width < count ? lo + width : count;
            size_t hi = lo + 2 * width < count ? lo + 2 * width : count;
            size_t i = lo, j = mid, k = lo;

            while (i < mid && j < hi)
                scratch[k++] = compare_user_and_type(&records[order[j]].key,
                                                     &records[order[i]].key) < 0
                                   ? order[j++]
                                   : order[i++];
            while (i < mid)
                scratch[k++] = order[i++];
            while (j < hi)
                scratch[k++] = order[j++];
        }
        memcpy(order, scratch, count * sizeof *order);
    }
}

/* The script call of group g: ARGV now, then five per record. */
static int build_group(redis_handle *h, batch *b, size_t g, obol_error *err)
{
    batch_group *group = &b->groups[g];
    int argc = 1 + (int)(group->count * GROUP_ARGS_EACH);
    size_t slots = REDIS_SCRIPT_ARGC(argc);
    const char **argv;
    size_t *argv_len;

    const obol_driver_key *key = &b->records[b->order[group->first]].key;

    if (redis_keys_build(&group->keys, h->prefix, key->user_id,
                         key->type) != 0)
        return nomem(err);
    group->argv = calloc(slots, sizeof *group->argv);
    group->argv_len = calloc(slots, sizeof *group->argv_len);
    if (group->argv == NULL || group->argv_len == NULL)
        return nomem(err);
    redis_script_call_init(&h->scripts, REDIS_SCRIPT_UPSERT_MANY,
                           &group->keys, 0, NULL, NULL, group->argv,
                           group->argv_len, &b->calls[g]);
    /* The script's own arguments follow the keys. */
    argv = group->argv + REDIS_SCRIPT_ARGC(0);
    argv_len = group->argv_len + REDIS_SCRIPT_ARGC(0);
    argv[0] = b->now;
    argv_len[0] = strlen(b->now);
    for (size_t k = 0; k < group->count; k++) {
        const redis_upsert_args *a = &b->args[b->order[group->first + k]];

        memcpy(&argv[1 + k * GROUP_ARGS_EACH], a->argv,
               GROUP_ARGS_EACH * sizeof *argv);
        memcpy(&argv_len[1 + k * GROUP_ARGS_EACH], a->argv_len,
               GROUP_ARGS_EACH * sizeof *argv_len);
    }
    b->calls[g].argc = (int)slots;
    return OBOL_OK;
}

/* Splits the records into groups and builds their calls. */
static int build_batch(redis_handle *h, batch *b,
                       const uint64_t *expected_locks, size_t count,
                       int64_t now, obol_error *err)
{
    int status = OBOL_OK;

    snprintf(b->now, sizeof b->now, "%" PRId64, now);
    for (size_t i = 0; i < count; i++)
        redis_upsert_args_fill(&b->args[i], &b->records[i], expected_locks[i], now);
    for (size_t i = 0; i < count; i++)
        b->order[i] = i;
    sort_records(b->records, b->order, b->order + count, count);
    for (size_t i = 0; i < count;) {
        batch_group *group = &b->groups[b->group_count++];
        const obol_driver_key *first = &b->records[b->order[i]].key;

        group->first = i;
        group->count = 1;
        while (i + group->count < count && group->count < BATCH_GROUP_MAX &&
               compare_user_and_type(
                   first, &b->records[b->order[i + group->count]].key) == 0)
            group->count++;
        i += group->count;
    }
    for (size_t g = 0; g < b->group_count && status == OBOL_OK; g++)
        status = build_group(h, b, g, err);
    return status;
}

/* Each group's reply: one 1 or 0 per record. */
static int read_batch(const redis_handle *h, const batch *b, int *statuses,
                      obol_error *err)
{
    for (size_t g = 0; g < b->group_count; g++) {
        const batch_group *group = &b->groups[g];
        const redisReply *reply = b->replies[g];

        if (reply->type != REDIS_REPLY_ARRAY ||
            reply->elements != group->count)
            return redis_reply_unexpected(h, "upsert script", reply, err);
        for (size_t k = 0; k < group->count; k++) {
            int decided = redis_reply_upsert(h, reply->element[k], err);
            if (decided != OBOL_OK && decided != OBOL_CONFLICT)
                return decided;
            statuses[b->order[group->first + k]] = decided;
        }
    }
    return OBOL_OK;
}

static void batch_clear(batch *b)
{
    for (size_t g = 0; g < b->group_count; g++) {
        redis_keys_clear(&b->groups[g].keys);
        free(b->groups[g].argv);
        free(b->groups[g].argv_len);
        if (b->replies[g] != NULL)
            redis_reply_free(b->replies[g]);
    }
    free(b->order);
    free(b->args);
    free(b->groups);
    free(b->calls);
    free(b->replies);
}

static int redis_put_batch(void *handle, const obol_driver_record *records,
                           const uint64_t *expected_locks, size_t count,
                           int64_t now, int *statuses, obol_error *err)
{
    redis_handle *h = handle;
    batch b = { records, NULL, NULL, NULL, 0, NULL, NULL, "" };
    int status;

    if (count == 0)
        return OBOL_OK;
    b.order = calloc(2 * count, sizeof *b.order);  /* and sort scratch */
    b.args = calloc(count, sizeof *b.args);
    b.groups = calloc(count, sizeof *b.groups);
    b.calls = calloc(count, sizeof *b.calls);
    b.replies = calloc(count, sizeof *b.replies);
    if (b.order == NULL || b.args == NULL || b.groups == NULL ||
        b.calls == NULL || b.replies == NULL)
        status = nomem(err);
    else
        status = build_batch(h, &b, expected_locks, count, now, err);
    if (status == OBOL_OK)
        status = redis_router_call_many(&h->router, b.calls, b.group_count,
                                        redis_router_deadline(&h->router),
                                        b.replies, err);
    if (status == OBOL_OK)
        status = read_batch(h, &b, statuses, err);
    batch_clear(&b);
    return status;
}

/* ------------------------------------------------------------ del/del_all */

/* Runs a removal script that c holds (when build_status, what building
 * it came to, is OBOL_OK), clears c and reads the count. */
static int run_removal(redis_handle *h, redis_command *c,
                       int build_status, uint64_t *removed, obol_error *err)
{
    redisReply *reply = NULL;
    int status = build_status;

    if (status == OBOL_OK)
        status = run_command(h, c, &reply, err);
    if (build_status == OBOL_OK)
        redis_command_clear(c);
    if (status != OBOL_OK)
        return status;
    status = redis_reply_removed(h, c->sc.call.what, reply, removed, err);
    redis_reply_free(reply);
    return status;
}

/* Each removal is written once, with its count; the uncounted slots call
 * it and drop the count. */
static int redis_del_counted(void *handle, const obol_driver_key *key,
                             uint64_t *removed, obol_error *err)
{
    redis_handle *h = handle;
    redis_command c;

    return run_removal(h, &c, redis_command_delete(h, key, &c, err), removed,
                       err);
}

static int redis_del(void *handle, const obol_driver_key *key,
                     obol_error *err)
{
    uint64_t removed;

    return redis_del_counted(handle, key, &removed, err);
}

static int redis_del_all_counted(void *handle, const obol_driver_key *key,
                                 uint64_t *removed, obol_error *err)
{
    redis_handle *h = handle;
    redis_command c;

    return run_removal(h, &c, redis_command_delete_all(h, key, &c, err),
                       removed, err);
}

/* Uncounted: obol_delete_all() must not pay for a count it does not ask
 * for (redis_command_del_keys()). */
static int redis_del_all(void *handle, const obol_driver_key *key,
                         obol_error *err)
{
    redis_handle *h = handle;
    redis_command c;
    redisReply *reply = NULL;
    int status = redis_command_del_keys(h, key, &c, err);

    if (status != OBOL_OK)
        return status;
    status = run_command(h, &c, &reply, err);
    redis_command_clear(&c);
    if (status == OBOL_OK)
        redis_reply_free(reply);
    return status;
}

/* -------------------------------------------------------------- list/scan */

/* Runs the list script for one (user, type) and visits what it returns. */
static int list_keys(redis_handle *h, obol_bytes user, obol_bytes type,
                     obol_driver_visit visit, void *arg, obol_error *err)
{
    redis_command c;
    redisReply *reply = NULL;
    int status = redis_command_list(h, user, type, &c, err);

    if (status != OBOL_OK)
        return status;
    status = run_command(h, &c, &reply, err);
    redis_command_clear(&c);
    if (status != OBOL_OK)
        return status;
    status = redis_reply_list(h, reply, user, type, visit, arg, err);
    redis_reply_free(reply);
    return status;
}

static int redis_list(void *handle, const obol_driver_key *key,
                      obol_driver_visit visit, void *arg, obol_error *err)
{
    return list_keys(handle, key->user_id, key->type, visit, arg, err);
}

typedef struct scan_state {
    redis_handle *h;
    obol_driver_visit visit;
    void *arg;
} scan_state;

static int scan_one(void *arg, obol_bytes user, obol_bytes type,
                    obol_error *err)
{
    scan_state *state = arg;

    return list_keys(state->h, user, type, state->visit, state->arg, err);
}

static int redis_scan(void *handle, obol_driver_visit visit, void *arg,
                      obol_error *err)
{
    redis_handle *h = handle;
    scan_state state = { h, visit, arg };

    return redis_walk(&h->router, h->prefix, redis_key_suffix[REDIS_KEY_REC],
                      scan_one, &state, err);
}

/* ------------------------------------------------------------ prune/health */

typedef struct prune_state {
    redis_handle *h;
    char now[24];
    uint64_t removed;   /* summed over every (user, type) of every master */
} prune_state;

static int prune_one(void *arg, obol_bytes user, obol_bytes type,
                     obol_error *err)
{
    prune_state *state = arg;
    obol_driver_key key = { user, type, { NULL, 0 } };
    uint64_t removed = 0;
    redis_command c;
    int status = run_removal(
        state->h, &c,
        redis_command_removal(state->h, &key, REDIS_SCRIPT_PRUNE, 1,
                              state->now, strlen(state->now), &c, err),
        &removed, err);

    state->removed += removed;
    return status;
}

/* A (user, type) that SCAN shows twice is pruned twice; the second finds
 * nothing left to remove, so the sum still counts each record once. */
static int redis_prune_counted(void *handle, int64_t now, uint64_t *removed,
                               obol_error *err)
{
    redis_handle *h = handle;
    prune_state state;
    int status;

    state.h = h;
    state.removed = 0;
    snprintf(state.now, sizeof state.now, "%" PRId64, now);
    status = redis_walk(&h->router, h->prefix,
                        redis_key_suffix[REDIS_KEY_EXP], prune_one, &state,
                        err);
    *removed = state.removed;
    return status;
}

static int redis_prune(void *handle, int64_t now, obol_error *err)
{
    uint64_t removed;

    return redis_prune_counted(handle, now, &removed, err);
}

/* "7.0.15", from INFO server of node. */
static int server_version(redis_handle *h, redis_node *node, char *out,
                          size_t size, obol_error *err)
{
    const char *argv[2] = { "INFO", "server" };
    size_t argv_len[2] = { 4, 6 };
    redis_call call = { "INFO", 0, node, 0, 2, argv, argv_len, NULL };
    redisReply *reply = NULL;
    const char *version;
    int status = redis_router_call(&h->router, &call,
                                   redis_router_deadline(&h->router), &reply,
                                   err);

    if (status != OBOL_OK)
        return status;
    if (reply->type != REDIS_REPLY_STRING) {
        status = redis_reply_unexpected(h, "INFO", reply, err);
        redis_reply_free(reply);
        return status;
    }
    version = strstr(reply->str, "redis_version:");
    version = version != NULL ? version + strlen("redis_version:") : "unknown";
    snprintf(out, size, "%.*s", (int)strcspn(version, "\r\n"), version);
    redis_reply_free(reply);
    return OBOL_OK;
}

static int redis_health(void *handle, char *info, size_t info_size,
                        obol_error *err)
{
    redis_handle *h = handle;
    redis_node *first = NULL;
    char version[32], layout[512];
    size_t count;
    int status;

    if (redis_topology_is_cluster(h->topology) &&
        redis_topology_masters(h->topology, &first, 1) > 0) {
        obol_error scratch = { 0 };
        redis_topology_refresh(h->topology, redis_router_deadline(&h->router),
                               1, &scratch);
    }
    status = redis_topology_known_masters(h->topology,
                                          redis_router_deadline(&h->router),
                                          &first, 1, &count, err);
    if (status == OBOL_OK)
        status = server_version(h, first, version, sizeof version, err);
    if (status != OBOL_OK)
        return status;
    redis_topology_describe(h->topology, layout, sizeof layout);
    if (redis_topology_is_cluster(h->topology))
        snprintf(info, info_size, "redis %s cluster, %s", version, layout);
    else if (redis_topology_is_sentinel(h->topology))
        snprintf(info, info_size, "redis %s, %s, db %llu", version, layout,
                 (unsigned long long)h->settings.db);
    else
        snprintf(info, info_size, "redis %s at %s, db %llu", version,
                 h->settings.where, (unsigned long long)h->settings.db);
    return OBOL_OK;
}

/* Prefixes by SCAN with a budget (redis_walk.h): complete on a store of
 * up to some 16,000 keys per master, a partial list beyond. */
static int redis_prefixes(void *handle, obol_driver_prefix_visit visit,
                          void *arg, int *complete, obol_error *err)
{
    redis_handle *h = handle;

    return redis_walk_prefixes(&h->router, visit, arg, complete, err);
}

/* ------------------------------------------------------------------ stats */

/* Sets a field of out only when the core's struct has it (driver.h). */
#define SET_COVERED(out, field, value)                                       \
    do {                                                                     \
        if ((out)->struct_size >= offsetof(obol_driver_stats, field) +      \
                                      sizeof (out)->field)                   \
            (out)->field = (value);                                          \
    } while (0)

/* The counters live where their events happen: connections and waits in
 * each node's pool, refreshes in the topology, redirections in the
 * router. */
static int redis_stats(void *handle, obol_driver_stats *out, obol_error *err)
{
    redis_handle *h = handle;
    redis_topology_counters t;

    (void)err;
    redis_topology_counters_get(h->topology, &t);
    redis_async_add_counters(__atomic_load_n(&h->async, __ATOMIC_ACQUIRE),
                             &t.pools);
    SET_COVERED(out, connects, t.pools.connects);
    SET_COVERED(out, reconnects, t.pools.reconnects);
    SET_COVERED(out, connect_failures, t.pools.connect_failures);
    SET_COVERED(out, pool_waits, t.pools.waits);
    SET_COVERED(out, pool_timeouts, t.pools.wait_timeouts);
    SET_COVERED(out, moved, __atomic_load_n(&h->router.moved,
                                            __ATOMIC_RELAXED));
    SET_COVERED(out, asked, __atomic_load_n(&h->router.asked,
                                            __ATOMIC_RELAXED));
    SET_COVERED(out, topology_refreshes, t.refreshes);
    SET_COVERED(out, topology_refresh_failures, t.refresh_failures);
    return OBOL_OK;
}

/* ----------------------------------------------------------- non-blocking */

static uint32_t redis_native_ops(void *handle)
{
    return redis_async_native_ops(handle);
}

static int redis_submit(void *handle, obol_driver_op *op, obol_error *err)
{
    return redis_async_submit(handle, op, err);
}

/* ------------------------------------------------------------------ table */

/* rediss: over TLS; the core loads this driver for it (lib/config.c). */
static const char *const redis_schemes[] = { "redis", "redis+unix",
                                             "redis+cluster",
                                             "redis+sentinel", "rediss",
                                             "rediss+cluster",
                                             "rediss+sentinel", NULL };

static const obol_driver redis_driver = {
    .abi_major = OBOL_DRIVER_ABI_MAJOR,
    .abi_minor = 6,   /* put_batch (1.1), prefixes (1.3), stats (1.4), the
                         counted removals (1.5), native_ops and submit
                         (1.6); no check (1.2) */
    .struct_size = sizeof(obol_driver),
    .name = "redis",
    .schemes = redis_schemes,
    .capabilities = OBOL_DRIVER_THREAD_SAFE | OBOL_DRIVER_MULTI_PROCESS |
                    OBOL_DRIVER_NATIVE_EXPIRY | OBOL_DRIVER_PERSISTENT,
    .open = redis_open,
    .close = redis_close,
    .get = redis_get,
    .put = redis_put,
    .del = redis_del,
    .list = redis_list,
    .del_all = redis_del_all,
    .scan = redis_scan,
    .prune = redis_prune,
    .health = redis_health,
    .put_batch = redis_put_batch,
    .prefixes = redis_prefixes,
    .stats = redis_stats,
    .del_counted = redis_del_counted,
    .del_all_counted = redis_del_all_counted,
    .prune_counted = redis_prune_counted,
    .native_ops = redis_native_ops,
    .submit = redis_submit,
};

const obol_driver *obol_driver_redis_entry(const obol_driver_host *host)
{
    /* The driver calls every host slot up to parse_size. */
    if (host == NULL || host->abi_major != OBOL_DRIVER_ABI_MAJOR ||
        host->struct_size < offsetof(obol_driver_host, parse_size) +
                                sizeof host->parse_size)
        return NULL;
    redis_host = host;
    return &redis_driver;
}

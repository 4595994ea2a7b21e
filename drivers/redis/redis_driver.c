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

#include "redis_config.h"
#include "redis_driver.h"
#include "redis_keys.h"
#include "redis_router.h"
#include "redis_scripts.h"
#include "redis_slot.h"
#include "redis_topology.h"
#include "redis_walk.h"

const obol_driver_host *redis_host;

typedef struct redis_handle {
    redis_settings settings;
    redis_topology *topology;
    redis_router router;
    redis_scripts scripts;
    char *prefix;             /* escaped, see redis_keys.h */
    void (*log)(void *log_arg, int level, const char *msg);
    void *log_arg;            /* the store's logger (config->log) */
} redis_handle;

/* A counted string as a hiredis argument; hiredis copies len bytes from
 * it, so an empty one must still point somewhere. */
static const char *arg_of(obol_bytes bytes)
{
    return bytes.data != NULL ? (const char *)bytes.data : "";
}

static int nomem(obol_error *err)
{
    return redis_host->set_error(err, OBOL_ERR_NOMEM, "redis: out of memory");
}

static int unexpected(const redis_handle *h, const char *what,
                      const redisReply *reply, obol_error *err)
{
    return redis_host->set_error(err, OBOL_ERR_BACKEND,
                                 "redis %s: %s: unexpected reply type %d",
                                 h->settings.where, what, reply->type);
}

static int build_keys(const redis_handle *h, const obol_driver_key *key,
                      redis_keys *keys, obol_error *err)
{
    if (redis_keys_build(keys, h->prefix, key->user_id, key->type) != 0)
        return nomem(err);
    return OBOL_OK;
}

/* A command on the keys of one (user, type), routed to their slot. */
static int run_on_slot(redis_handle *h, const redis_keys *keys,
                       const char *what, int is_write, int argc,
                       const char **argv, const size_t *argv_len,
                       redisReply **reply, obol_error *err)
{
    redis_call call = { what, redis_slot_of(keys->name[0], keys->len[0]),
                        NULL, is_write, argc, argv, argv_len, NULL };

    return redis_router_call(&h->router, &call,
                             redis_router_deadline(&h->router), reply, err);
}

/* ------------------------------------------------------------ open/close */

static void redis_close(void *handle)
{
    redis_handle *h = handle;

    if (h == NULL)
        return;
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

/*
 * Whether a reply that should hold a record holds one too long for the
 * core to read (driver.h, "Bounded reads"), and its length: a string
 * over max_record, or the integer the connection's guard put in place of
 * a longer one (redis_guard.h).
 */
static int too_long(const redis_handle *h, const redisReply *reply,
                    size_t *len)
{
    uint64_t limit = h->settings.max_record;

    if (limit == 0)
        return 0;
    if (reply->type == REDIS_REPLY_STRING && reply->len > limit) {
        *len = reply->len;
        return 1;
    }
    if (reply->type == REDIS_REPLY_INTEGER && reply->integer > 0 &&
        (unsigned long long)reply->integer > limit &&
        (unsigned long long)reply->integer <= SIZE_MAX) {
        *len = (size_t)reply->integer;
        return 1;
    }
    return 0;
}

static int redis_get(void *handle, const obol_driver_key *key,
                     uint8_t **sealed, size_t *sealed_len, obol_error *err)
{
    redis_handle *h = handle;
    redis_keys keys;
    redisReply *reply = NULL;
    int status = build_keys(h, key, &keys, err);

    if (status != OBOL_OK)
        return status;
    {
        const char *argv[3] = { "HGET", keys.name[REDIS_KEY_REC],
                                arg_of(key->id) };
        size_t argv_len[3] = { 4, keys.len[REDIS_KEY_REC], key->id.len };

        status = run_on_slot(h, &keys, "HGET", 0, 3, argv, argv_len, &reply,
                             err);
    }
    redis_keys_clear(&keys);
    if (status != OBOL_OK)
        return status;

    if (reply->type == REDIS_REPLY_NIL) {
        status = OBOL_NOT_FOUND;
    } else if (too_long(h, reply, sealed_len)) {
        *sealed = NULL;     /* refused by the core: never copied */
    } else if (reply->type != REDIS_REPLY_STRING) {
        status = unexpected(h, "HGET", reply, err);
    } else {
        *sealed = redis_host->alloc(reply->len > 0 ? reply->len : 1);
        if (*sealed == NULL) {
            status = nomem(err);
        } else {
            memcpy(*sealed, reply->str, reply->len);
            *sealed_len = reply->len;
        }
    }
    freeReplyObject(reply);
    return status;
}

/* The decimal arguments of one upsert script call. */
typedef struct upsert_args {
    char score[24], expected[24], new_lock[24], now[24];
    const char *argv[6];
    size_t argv_len[6];
} upsert_args;

static void upsert_args_fill(upsert_args *a, const obol_driver_record *record,
                             uint64_t expected_lock, int64_t now)
{
    /* INT64_MAX ("never") is +inf in the sorted set: a double cannot hold
     * it exactly, and +inf sorts after every real time. */
    if (record->expires_at == INT64_MAX)
        strcpy(a->score, "+inf");
    else
        snprintf(a->score, sizeof a->score, "%" PRId64, record->expires_at);
    snprintf(a->expected, sizeof a->expected, "%" PRIu64, expected_lock);
    snprintf(a->new_lock, sizeof a->new_lock, "%" PRIu64,
             record->lock_version);
    snprintf(a->now, sizeof a->now, "%" PRId64, now);
    a->argv[0] = arg_of(record->key.id);
    a->argv_len[0] = record->key.id.len;
    a->argv[1] = arg_of(record->sealed);
    a->argv_len[1] = record->sealed.len;
    a->argv[2] = a->score;
    a->argv[3] = a->expected;
    a->argv[4] = a->new_lock;
    a->argv[5] = a->now;
    for (int i = 2; i < 6; i++)
        a->argv_len[i] = strlen(a->argv[i]);
}

/* The upsert script answers 1 when it wrote, 0 on a lock conflict. */
static int upsert_status(const redis_handle *h, const redisReply *reply,
                         obol_error *err)
{
    if (reply->type != REDIS_REPLY_INTEGER)
        return unexpected(h, "upsert script", reply, err);
    return reply->integer == 1 ? OBOL_OK : OBOL_CONFLICT;
}

static int redis_put(void *handle, const obol_driver_record *record,
                     uint64_t expected_lock, int64_t now, obol_error *err)
{
    redis_handle *h = handle;
    upsert_args args;
    redis_keys keys;
    redisReply *reply = NULL;
    int status = build_keys(h, &record->key, &keys, err);

    if (status != OBOL_OK)
        return status;
    upsert_args_fill(&args, record, expected_lock, now);
    status = redis_script_run(&h->router, &h->scripts, REDIS_SCRIPT_UPSERT,
                              &keys, 6, args.argv, args.argv_len,
                              redis_router_deadline(&h->router), &reply, err);
    redis_keys_clear(&keys);
    if (status != OBOL_OK)
        return status;
    status = upsert_status(h, reply, err);
    freeReplyObject(reply);
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
    upsert_args *args;       /* per record */
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

    if (build_keys(h, &b->records[b->order[group->first]].key, &group->keys,
                   err) != OBOL_OK)
        return err->status;
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
        const upsert_args *a = &b->args[b->order[group->first + k]];

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
        upsert_args_fill(&b->args[i], &b->records[i], expected_locks[i], now);
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
            return unexpected(h, "upsert script", reply, err);
        for (size_t k = 0; k < group->count; k++) {
            int decided = upsert_status(h, reply->element[k], err);
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
            freeReplyObject(b->replies[g]);
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

/* Runs a removal script on the keys of key's (user, type) with argc (0 or
 * 1) arguments; its reply, an integer, is how many records it removed,
 * counted by the script as it removes them (ABI 1.5's counted slots). */
static int run_removal(redis_handle *h, const obol_driver_key *key,
                       redis_script_id id, const char *what, int argc,
                       const char *arg, size_t arg_len, uint64_t *removed,
                       obol_error *err)
{
    redis_keys keys;
    redisReply *reply = NULL;
    int status = build_keys(h, key, &keys, err);

    if (status != OBOL_OK)
        return status;
    status = redis_script_run(&h->router, &h->scripts, id, &keys, argc, &arg,
                              &arg_len, redis_router_deadline(&h->router),
                              &reply, err);
    redis_keys_clear(&keys);
    if (status != OBOL_OK)
        return status;
    if (reply->type == REDIS_REPLY_INTEGER && reply->integer >= 0)
        *removed = (uint64_t)reply->integer;
    else
        status = unexpected(h, what, reply, err);
    freeReplyObject(reply);
    return status;
}

/* Each removal is written once, with its count; the uncounted slots call
 * it and drop the count. */
static int redis_del_counted(void *handle, const obol_driver_key *key,
                             uint64_t *removed, obol_error *err)
{
    return run_removal(handle, key, REDIS_SCRIPT_DELETE, "delete script", 1,
                       arg_of(key->id), key->id.len, removed, err);
}

static int redis_del(void *handle, const obol_driver_key *key,
                     obol_error *err)
{
    uint64_t removed;

    return redis_del_counted(handle, key, &removed, err);
}

/* A script, since DEL's reply counts keys, not records: HLEN and DEL in
 * one step, one round trip. */
static int redis_del_all_counted(void *handle, const obol_driver_key *key,
                                 uint64_t *removed, obol_error *err)
{
    return run_removal(handle, key, REDIS_SCRIPT_DELETE_ALL,
                       "delete_all script", 0, NULL, 0, removed, err);
}

/* Uncounted, a bare DEL of the three keys: cheaper for the server than
 * running a script (no Lua), and obol_delete_all() must not pay for a
 * count it does not ask for. */
static int redis_del_all(void *handle, const obol_driver_key *key,
                         obol_error *err)
{
    redis_handle *h = handle;
    redis_keys keys;
    redisReply *reply = NULL;
    int status = build_keys(h, key, &keys, err);

    if (status != OBOL_OK)
        return status;
    {
        const char *argv[4] = { "DEL", keys.name[0], keys.name[1],
                                keys.name[2] };
        size_t argv_len[4] = { 3, keys.len[0], keys.len[1], keys.len[2] };

        status = run_on_slot(h, &keys, "DEL", 1, 4, argv, argv_len, &reply,
                             err);
    }
    redis_keys_clear(&keys);
    if (status == OBOL_OK)
        freeReplyObject(reply);
    return status;
}

/* -------------------------------------------------------------- list/scan */

/* A score as Redis prints it ("1700000000", "1.7e+18", "inf") back to
 * expires_at; "" (no score: a damaged entry) reads as long dead. */
static int64_t expires_at_of(const redisReply *score)
{
    char number[64];
    char *end;
    double value;

    if (score->len == 0 || score->len >= sizeof number)
        return 0;
    memcpy(number, score->str, score->len);
    number[score->len] = '\0';
    if (strcmp(number, "inf") == 0)
        return INT64_MAX;
    value = strtod(number, &end);
    if (*end != '\0')
        return 0;
    if (value >= 9223372036854775807.0)
        return INT64_MAX;
    if (value <= -9223372036854775807.0)
        return INT64_MIN;
    return (int64_t)value;
}

static uint64_t lock_version_of(const redisReply *lock)
{
    char number[32];

    if (lock->len == 0 || lock->len >= sizeof number)
        return 0;
    memcpy(number, lock->str, lock->len);
    number[lock->len] = '\0';
    return strtoull(number, NULL, 10);
}

/* One id, sealed, score, lock quadruple of a list script reply as a
 * record: 1, or 0 for an entry to skip. A record too long to read is
 * shown without its bytes; a score or lock the guard replaced (too long
 * for a number) reads as damaged, as an empty one does (dead, lock 0);
 * an id the guard replaced cannot be shown, and is only logged. */
static int record_of(const redis_handle *h, redisReply **e,
                     obol_driver_record *record)
{
    static const redisReply empty = { .type = REDIS_REPLY_STRING, .str = "" };
    size_t len;

    if (e[0]->type == REDIS_REPLY_INTEGER) {
        if (h->log != NULL)
            h->log(h->log_arg, OBOL_LOG_WARNING,
                   "redis: list skipped an entry whose session id is too "
                   "long to read");
        return 0;
    }
    record->key.id.data = (const uint8_t *)e[0]->str;
    record->key.id.len = e[0]->len;
    if (too_long(h, e[1], &len)) {
        record->sealed.data = NULL;
        record->sealed.len = len;
    } else {
        record->sealed.data = (const uint8_t *)e[1]->str;
        record->sealed.len = e[1]->len;
    }
    record->expires_at = expires_at_of(e[2]->type == REDIS_REPLY_STRING
                                           ? e[2] : &empty);
    record->lock_version = lock_version_of(e[3]->type == REDIS_REPLY_STRING
                                               ? e[3] : &empty);
    return 1;
}

/* Whether a list script element has a type it may have: a string, or the
 * integer of one the guard kept back. */
static int list_element_ok(const redisReply *e)
{
    return e->type == REDIS_REPLY_STRING ||
           (e->type == REDIS_REPLY_INTEGER && e->integer > 0);
}

/* Visits the id, sealed, score, lock quadruples of a list script reply. */
static int visit_list(const redis_handle *h, const redisReply *reply,
                      obol_bytes user, obol_bytes type,
                      obol_driver_visit visit, void *arg, obol_error *err)
{
    int status = OBOL_OK;

    if (reply->type != REDIS_REPLY_ARRAY || reply->elements % 4 != 0)
        return unexpected(h, "list script", reply, err);
    for (size_t i = 0; i < reply->elements && status == OBOL_OK; i += 4) {
        redisReply **e = reply->element + i;
        obol_driver_record record;

        for (int k = 0; k < 4; k++)
            if (!list_element_ok(e[k]) ||
                (k == 1 && e[k]->type == REDIS_REPLY_INTEGER &&
                 !too_long(h, e[k], &(size_t){ 0 })))
                return unexpected(h, "list script", e[k], err);
        record.key.user_id = user;
        record.key.type = type;
        if (record_of(h, e, &record))
            status = visit(arg, &record);
    }
    return status;
}

/* Runs the list script for one (user, type) and visits what it returns. */
static int list_keys(redis_handle *h, obol_bytes user, obol_bytes type,
                     obol_driver_visit visit, void *arg, obol_error *err)
{
    obol_driver_key key = { user, type, { NULL, 0 } };
    redis_keys keys;
    redisReply *reply = NULL;
    int status = build_keys(h, &key, &keys, err);

    if (status != OBOL_OK)
        return status;
    status = redis_script_run(&h->router, &h->scripts, REDIS_SCRIPT_LIST,
                              &keys, 0, NULL, NULL,
                              redis_router_deadline(&h->router), &reply, err);
    redis_keys_clear(&keys);
    if (status != OBOL_OK)
        return status;
    status = visit_list(h, reply, user, type, visit, arg, err);
    freeReplyObject(reply);
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
    int status = run_removal(state->h, &key, REDIS_SCRIPT_PRUNE,
                             "prune script", 1, state->now,
                             strlen(state->now), &removed, err);

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
        status = unexpected(h, "INFO", reply, err);
        freeReplyObject(reply);
        return status;
    }
    version = strstr(reply->str, "redis_version:");
    version = version != NULL ? version + strlen("redis_version:") : "unknown";
    snprintf(out, size, "%.*s", (int)strcspn(version, "\r\n"), version);
    freeReplyObject(reply);
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

/* ------------------------------------------------------------------ table */

/* rediss: over TLS; the core loads this driver for it (lib/config.c). */
static const char *const redis_schemes[] = { "redis", "redis+unix",
                                             "redis+cluster",
                                             "redis+sentinel", "rediss",
                                             "rediss+cluster",
                                             "rediss+sentinel", NULL };

static const obol_driver redis_driver = {
    .abi_major = OBOL_DRIVER_ABI_MAJOR,
    .abi_minor = 5,   /* put_batch (1.1), prefixes (1.3), stats (1.4), the
                         counted removals (1.5); no check (1.2) */
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

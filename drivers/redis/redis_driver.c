/*
 * The Redis driver: the driver table and the operations. Each operation of
 * a store is one round trip (HGET, EVALSHA or DEL); scan and prune walk the
 * prefix with SCAN and one round trip per key. See docs/REDIS.md.
 */
#define _POSIX_C_SOURCE 200809L
#include "config.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "redis_config.h"
#include "redis_conn.h"
#include "redis_driver.h"
#include "redis_keys.h"
#include "redis_scripts.h"

const obol_driver_host *redis_host;

typedef struct redis_handle {
    redis_settings settings;
    redis_pool *pool;
    redis_scripts scripts;
    char *prefix;             /* escaped, see redis_keys.h */
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

/* ------------------------------------------------------------ open/close */

static void redis_close(void *handle)
{
    redis_handle *h = handle;

    if (h == NULL)
        return;
    redis_pool_destroy(h->pool);
    redis_settings_clear(&h->settings);
    free(h->prefix);
    free(h);
}

static int redis_open(const obol_driver_config *config, void **handle,
                      obol_error *err)
{
    redis_handle *h = calloc(1, sizeof *h);
    size_t prefix_len;
    int status;

    if (h == NULL)
        return nomem(err);
    status = redis_settings_parse(config, &h->settings, err);
    if (status != OBOL_OK) {
        free(h);
        return status;
    }
    prefix_len = redis_escape(NULL, config->prefix.data, config->prefix.len);
    h->prefix = malloc(prefix_len + 1);
    if (h->prefix == NULL) {
        redis_close(h);
        return nomem(err);
    }
    redis_escape(h->prefix, config->prefix.data, config->prefix.len);
    h->prefix[prefix_len] = '\0';

    status = redis_pool_create(&h->settings, &h->pool, err);
    if (status == OBOL_OK)
        status = redis_scripts_load(h->pool, &h->scripts, err);
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
    redis_keys keys;
    redisReply *reply = NULL;
    int status = build_keys(h, key, &keys, err);

    if (status != OBOL_OK)
        return status;
    {
        const char *argv[3] = { "HGET", keys.name[REDIS_KEY_REC],
                                arg_of(key->id) };
        size_t argv_len[3] = { 4, keys.len[REDIS_KEY_REC], key->id.len };

        status = redis_pool_command(h->pool, 3, argv, argv_len, NULL, &reply,
                                    err);
    }
    redis_keys_clear(&keys);
    if (status != OBOL_OK)
        return status;

    if (reply->type == REDIS_REPLY_NIL) {
        status = OBOL_NOT_FOUND;
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

static int redis_put(void *handle, const obol_driver_record *record,
                     uint64_t expected_lock, int64_t now, obol_error *err)
{
    redis_handle *h = handle;
    char score[24], expected[24], new_lock[24], now_text[24];
    redis_keys keys;
    redisReply *reply = NULL;
    int status = build_keys(h, &record->key, &keys, err);

    if (status != OBOL_OK)
        return status;
    /* INT64_MAX ("never") is +inf in the sorted set: a double cannot hold
     * it exactly, and +inf sorts after every real time. */
    if (record->expires_at == INT64_MAX)
        strcpy(score, "+inf");
    else
        snprintf(score, sizeof score, "%" PRId64, record->expires_at);
    snprintf(expected, sizeof expected, "%" PRIu64, expected_lock);
    snprintf(new_lock, sizeof new_lock, "%" PRIu64, record->lock_version);
    snprintf(now_text, sizeof now_text, "%" PRId64, now);
    {
        const char *argv[6] = { arg_of(record->key.id),
                                arg_of(record->sealed), score,
                                expected, new_lock, now_text };
        size_t argv_len[6] = { record->key.id.len, record->sealed.len,
                               strlen(score), strlen(expected),
                               strlen(new_lock), strlen(now_text) };

        status = redis_script_run(h->pool, &h->scripts, REDIS_SCRIPT_UPSERT,
                                  &keys, 6, argv, argv_len, &reply, err);
    }
    redis_keys_clear(&keys);
    if (status != OBOL_OK)
        return status;
    if (reply->type != REDIS_REPLY_INTEGER)
        status = unexpected(h, "upsert script", reply, err);
    else
        status = reply->integer == 1 ? OBOL_OK : OBOL_CONFLICT;
    freeReplyObject(reply);
    return status;
}

/* ------------------------------------------------------------ del/del_all */

/* Runs a script on the keys of key's (user, type) with one argument and
 * drops its reply: delete and prune answer nothing the caller needs. */
static int run_on_keys(redis_handle *h, const obol_driver_key *key,
                       redis_script_id id, const char *arg, size_t arg_len,
                       obol_error *err)
{
    redis_keys keys;
    redisReply *reply = NULL;
    int status = build_keys(h, key, &keys, err);

    if (status != OBOL_OK)
        return status;
    status = redis_script_run(h->pool, &h->scripts, id, &keys, 1, &arg,
                              &arg_len, &reply, err);
    redis_keys_clear(&keys);
    if (status == OBOL_OK)
        freeReplyObject(reply);
    return status;
}

static int redis_del(void *handle, const obol_driver_key *key,
                     obol_error *err)
{
    return run_on_keys(handle, key, REDIS_SCRIPT_DELETE, arg_of(key->id),
                       key->id.len, err);
}

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

        status = redis_pool_command(h->pool, 4, argv, argv_len, NULL, &reply,
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
    char text[64];
    char *end;
    double value;

    if (score->len == 0 || score->len >= sizeof text)
        return 0;
    memcpy(text, score->str, score->len);
    text[score->len] = '\0';
    if (strcmp(text, "inf") == 0)
        return INT64_MAX;
    value = strtod(text, &end);
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
    char text[32];

    if (lock->len == 0 || lock->len >= sizeof text)
        return 0;
    memcpy(text, lock->str, lock->len);
    text[lock->len] = '\0';
    return strtoull(text, NULL, 10);
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
    status = redis_script_run(h->pool, &h->scripts, REDIS_SCRIPT_LIST, &keys,
                              0, NULL, NULL, &reply, err);
    redis_keys_clear(&keys);
    if (status != OBOL_OK)
        return status;
    if (reply->type != REDIS_REPLY_ARRAY || reply->elements % 4 != 0) {
        status = unexpected(h, "list script", reply, err);
        freeReplyObject(reply);
        return status;
    }
    for (size_t i = 0; i < reply->elements && status == OBOL_OK; i += 4) {
        redisReply **e = reply->element + i;
        obol_driver_record record;

        if (e[0]->type != REDIS_REPLY_STRING ||
            e[1]->type != REDIS_REPLY_STRING ||
            e[2]->type != REDIS_REPLY_STRING ||
            e[3]->type != REDIS_REPLY_STRING) {
            status = unexpected(h, "list script", e[0], err);
            break;
        }
        record.key.user_id = user;
        record.key.type = type;
        record.key.id.data = (const uint8_t *)e[0]->str;
        record.key.id.len = e[0]->len;
        record.sealed.data = (const uint8_t *)e[1]->str;
        record.sealed.len = e[1]->len;
        record.expires_at = expires_at_of(e[2]);
        record.lock_version = lock_version_of(e[3]);
        status = visit(arg, &record);
    }
    freeReplyObject(reply);
    return status;
}

static int redis_list(void *handle, const obol_driver_key *key,
                      obol_driver_visit visit, void *arg, obol_error *err)
{
    return list_keys(handle, key->user_id, key->type, visit, arg, err);
}

/* Called by walk_prefix() for each (user, type) found. */
typedef int (*walk_fn)(redis_handle *h, obol_bytes user, obol_bytes type,
                       void *arg, obol_error *err);

/*
 * SCANs the keys "P:{*}<suffix>" of the prefix (never KEYS, which blocks
 * the server) and calls fn for each (user, type). SCAN may report a key
 * twice when the keyspace is rehashed meanwhile; callers are idempotent.
 */
static int walk_prefix(redis_handle *h, const char *suffix, walk_fn fn,
                       void *arg, obol_error *err)
{
    char *pattern = redis_keys_pattern(h->prefix, suffix);
    char cursor[32] = "0";
    int status = OBOL_OK;

    if (pattern == NULL)
        return nomem(err);
    do {
        const char *argv[6] = { "SCAN", cursor, "MATCH", pattern, "COUNT",
                                "200" };
        size_t argv_len[6] = { 4, strlen(cursor), 5, strlen(pattern), 5, 3 };
        redisReply *reply = NULL;
        redisReply *names;

        status = redis_pool_command(h->pool, 6, argv, argv_len, NULL, &reply,
                                    err);
        if (status != OBOL_OK)
            break;
        if (reply->type != REDIS_REPLY_ARRAY || reply->elements != 2 ||
            reply->element[0]->type != REDIS_REPLY_STRING ||
            reply->element[0]->len >= sizeof cursor ||
            reply->element[1]->type != REDIS_REPLY_ARRAY) {
            status = unexpected(h, "SCAN", reply, err);
            freeReplyObject(reply);
            break;
        }
        memcpy(cursor, reply->element[0]->str, reply->element[0]->len);
        cursor[reply->element[0]->len] = '\0';
        names = reply->element[1];
        for (size_t i = 0; i < names->elements && status == OBOL_OK; i++) {
            const redisReply *name = names->element[i];
            uint8_t *user = NULL, *type = NULL;
            size_t user_len, type_len;

            /* Keys that match the pattern but that this encoding would
             * not have written are someone else's: leave them alone. */
            if (name->type != REDIS_REPLY_STRING ||
                redis_keys_parse(name->str, name->len, h->prefix, suffix,
                                 &user, &user_len, &type, &type_len) != 0)
                continue;
            status = fn(h, (obol_bytes){ user, user_len },
                        (obol_bytes){ type, type_len }, arg, err);
            free(user);
            free(type);
        }
        freeReplyObject(reply);
    } while (status == OBOL_OK && strcmp(cursor, "0") != 0);
    free(pattern);
    return status;
}

typedef struct scan_state {
    obol_driver_visit visit;
    void *arg;
} scan_state;

static int scan_one(redis_handle *h, obol_bytes user, obol_bytes type,
                    void *arg, obol_error *err)
{
    scan_state *state = arg;

    return list_keys(h, user, type, state->visit, state->arg, err);
}

static int redis_scan(void *handle, obol_driver_visit visit, void *arg,
                      obol_error *err)
{
    scan_state state = { visit, arg };

    return walk_prefix(handle, redis_key_suffix[REDIS_KEY_REC], scan_one,
                       &state, err);
}

/* ------------------------------------------------------------ prune/health */

static int prune_one(redis_handle *h, obol_bytes user, obol_bytes type,
                     void *arg, obol_error *err)
{
    const char *now_text = arg;
    obol_driver_key key = { user, type, { NULL, 0 } };

    return run_on_keys(h, &key, REDIS_SCRIPT_PRUNE, now_text,
                       strlen(now_text), err);
}

static int redis_prune(void *handle, int64_t now, obol_error *err)
{
    char now_text[24];

    snprintf(now_text, sizeof now_text, "%" PRId64, now);
    return walk_prefix(handle, redis_key_suffix[REDIS_KEY_EXP], prune_one,
                       now_text, err);
}

static int redis_health(void *handle, char *info, size_t info_size,
                        obol_error *err)
{
    redis_handle *h = handle;
    const char *argv[2] = { "INFO", "server" };
    size_t argv_len[2] = { 4, 6 };
    redisReply *reply = NULL;
    const char *version;
    int status = redis_pool_command(h->pool, 2, argv, argv_len, NULL, &reply,
                                    err);

    if (status != OBOL_OK)
        return status;
    if (reply->type != REDIS_REPLY_STRING) {
        status = unexpected(h, "INFO", reply, err);
        freeReplyObject(reply);
        return status;
    }
    version = strstr(reply->str, "redis_version:");
    if (version == NULL) {
        version = "unknown";
    } else {
        version += strlen("redis_version:");
    }
    snprintf(info, info_size, "redis %.*s at %s, db %llu",
             (int)strcspn(version, "\r\n"), version, h->settings.where,
             (unsigned long long)h->settings.db);
    freeReplyObject(reply);
    return OBOL_OK;
}

/* ------------------------------------------------------------------ table */

static const char *const redis_schemes[] = { "redis", "redis+unix", NULL };

/* An ABI 1.0 driver: without put_batch (1.1) the core writes a batch
 * record by record, each put() one round trip. */
static const obol_driver redis_driver = {
    .abi_major = OBOL_DRIVER_ABI_MAJOR,
    .abi_minor = 0,
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

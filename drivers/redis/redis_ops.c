/* The commands of the operations and their replies; see redis_ops.h. */
#define _POSIX_C_SOURCE 200809L
#include "config.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "redis_driver.h"
#include "redis_number.h"
#include "redis_ops.h"
#include "redis_slot.h"

const char *redis_arg_of(obol_bytes bytes)
{
    return bytes.data != NULL ? (const char *)bytes.data : "";
}

static int nomem(obol_error *err)
{
    return redis_host->set_error(err, OBOL_ERR_NOMEM, "redis: out of memory");
}

int redis_reply_unexpected(const redis_handle *h, const char *what,
                           const redisReply *reply, obol_error *err)
{
    return redis_host->set_error(err, OBOL_ERR_BACKEND,
                                 "redis %s: %s: unexpected reply type %d",
                                 h->settings.where, what, reply->type);
}

/* -------------------------------------------------------------- commands */

static int build_keys(const redis_handle *h, const obol_driver_key *key,
                      redis_command *c, obol_error *err)
{
    if (redis_keys_build(&c->keys, h->prefix, key->user_id, key->type) != 0)
        return nomem(err);
    return OBOL_OK;
}

/* A plain command on the keys of c, with its arguments in c->sc. */
static void plain_call(redis_command *c, const char *what, int is_write,
                       int argc)
{
    redis_call *call = &c->sc.call;

    call->what = what;
    call->slot = redis_slot_of(c->keys.name[0], c->keys.len[0]);
    call->node = NULL;
    call->is_write = is_write;
    call->argc = argc;
    call->argv = c->sc.argv;
    call->argv_len = c->sc.argv_len;
    call->script = NULL;
}

int redis_command_get(const redis_handle *h, const obol_driver_key *key,
                      redis_command *c, obol_error *err)
{
    int status = build_keys(h, key, c, err);

    if (status != OBOL_OK)
        return status;
    c->sc.argv[0] = "HGET";
    c->sc.argv_len[0] = 4;
    c->sc.argv[1] = c->keys.name[REDIS_KEY_REC];
    c->sc.argv_len[1] = c->keys.len[REDIS_KEY_REC];
    c->sc.argv[2] = redis_arg_of(key->id);
    c->sc.argv_len[2] = key->id.len;
    plain_call(c, "HGET", 0, 3);
    return OBOL_OK;
}

int redis_command_put(const redis_handle *h, const obol_driver_record *record,
                      uint64_t expected_lock, int64_t now, redis_command *c,
                      obol_error *err)
{
    int status = build_keys(h, &record->key, c, err);

    if (status != OBOL_OK)
        return status;
    redis_upsert_args_fill(&c->upsert, record, expected_lock, now);
    redis_script_prepare(&h->scripts, REDIS_SCRIPT_UPSERT, &c->keys, 6,
                         c->upsert.argv, c->upsert.argv_len, &c->sc);
    return OBOL_OK;
}

int redis_command_removal(const redis_handle *h, const obol_driver_key *key,
                          redis_script_id id, int argc, const char *arg,
                          size_t arg_len, redis_command *c, obol_error *err)
{
    int status = build_keys(h, key, c, err);

    if (status != OBOL_OK)
        return status;
    redis_script_prepare(&h->scripts, id, &c->keys, argc, &arg, &arg_len,
                         &c->sc);
    return OBOL_OK;
}

int redis_command_delete(const redis_handle *h, const obol_driver_key *key,
                         redis_command *c, obol_error *err)
{
    return redis_command_removal(h, key, REDIS_SCRIPT_DELETE, 1,
                                 redis_arg_of(key->id), key->id.len, c, err);
}

/* A script, since DEL's reply counts keys, not records: HLEN and DEL in
 * one step, one round trip. */
int redis_command_delete_all(const redis_handle *h, const obol_driver_key *key,
                             redis_command *c, obol_error *err)
{
    return redis_command_removal(h, key, REDIS_SCRIPT_DELETE_ALL, 0, NULL, 0,
                                 c, err);
}

int redis_command_list(const redis_handle *h, obol_bytes user, obol_bytes type,
                       redis_command *c, obol_error *err)
{
    obol_driver_key key = { user, type, { NULL, 0 } };
    int status = build_keys(h, &key, c, err);

    if (status != OBOL_OK)
        return status;
    redis_script_prepare(&h->scripts, REDIS_SCRIPT_LIST, &c->keys, 0, NULL,
                         NULL, &c->sc);
    return OBOL_OK;
}

/* A bare DEL of the three keys: cheaper for the server than running a
 * script (no Lua), for a del_all that does not ask for a count. */
int redis_command_del_keys(const redis_handle *h, const obol_driver_key *key,
                           redis_command *c, obol_error *err)
{
    int status = build_keys(h, key, c, err);

    if (status != OBOL_OK)
        return status;
    c->sc.argv[0] = "DEL";
    c->sc.argv_len[0] = 3;
    for (int k = 0; k < 3; k++) {
        c->sc.argv[1 + k] = c->keys.name[k];
        c->sc.argv_len[1 + k] = c->keys.len[k];
    }
    plain_call(c, "DEL", 1, 4);
    return OBOL_OK;
}

void redis_command_clear(redis_command *c)
{
    redis_keys_clear(&c->keys);
}

/* --------------------------------------------------------------- replies */

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

int redis_reply_get(const redis_handle *h, const redisReply *reply,
                    uint8_t **sealed, size_t *sealed_len, obol_error *err)
{
    if (reply->type == REDIS_REPLY_NIL)
        return OBOL_NOT_FOUND;
    if (too_long(h, reply, sealed_len)) {
        *sealed = NULL;     /* refused by the core: never copied */
        return OBOL_OK;
    }
    if (reply->type != REDIS_REPLY_STRING)
        return redis_reply_unexpected(h, "HGET", reply, err);
    *sealed = redis_host->alloc(reply->len > 0 ? reply->len : 1);
    if (*sealed == NULL)
        return nomem(err);
    memcpy(*sealed, reply->str, reply->len);
    *sealed_len = reply->len;
    return OBOL_OK;
}

void redis_upsert_args_fill(redis_upsert_args *a,
                            const obol_driver_record *record,
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
    a->argv[0] = redis_arg_of(record->key.id);
    a->argv_len[0] = record->key.id.len;
    a->argv[1] = redis_arg_of(record->sealed);
    a->argv_len[1] = record->sealed.len;
    a->argv[2] = a->score;
    a->argv[3] = a->expected;
    a->argv[4] = a->new_lock;
    a->argv[5] = a->now;
    for (int i = 2; i < 6; i++)
        a->argv_len[i] = strlen(a->argv[i]);
}

/* The upsert script answers 1 when it wrote, 0 on a lock conflict. */
int redis_reply_upsert(const redis_handle *h, const redisReply *reply,
                       obol_error *err)
{
    if (reply->type != REDIS_REPLY_INTEGER)
        return redis_reply_unexpected(h, "upsert script", reply, err);
    return reply->integer == 1 ? OBOL_OK : OBOL_CONFLICT;
}

/* A removal script's reply, an integer, is how many records it removed,
 * counted by the script as it removes them (ABI 1.5's counted slots). */
int redis_reply_removed(const redis_handle *h, const char *what,
                        const redisReply *reply, uint64_t *removed,
                        obol_error *err)
{
    if (reply->type != REDIS_REPLY_INTEGER || reply->integer < 0)
        return redis_reply_unexpected(h, what, reply, err);
    *removed = (uint64_t)reply->integer;
    return OBOL_OK;
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
    const redisReply *score, *lock;
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
    score = e[2]->type == REDIS_REPLY_STRING ? e[2] : &empty;
    lock = e[3]->type == REDIS_REPLY_STRING ? e[3] : &empty;
    record->expires_at = redis_number_expires_at(score->str, score->len);
    record->lock_version = redis_number_lock_version(lock->str, lock->len);
    return 1;
}

/* Whether a list script element has a type it may have: a string, or the
 * integer of one the guard kept back. */
static int list_element_ok(const redisReply *e)
{
    return e->type == REDIS_REPLY_STRING ||
           (e->type == REDIS_REPLY_INTEGER && e->integer > 0);
}

/* The id, sealed, score, lock quadruples of a list script reply. */
int redis_reply_list(const redis_handle *h, const redisReply *reply,
                     obol_bytes user, obol_bytes type, obol_driver_visit visit,
                     void *arg, obol_error *err)
{
    int status = OBOL_OK;

    if (reply->type != REDIS_REPLY_ARRAY || reply->elements % 4 != 0)
        return redis_reply_unexpected(h, "list script", reply, err);
    for (size_t i = 0; i < reply->elements && status == OBOL_OK; i += 4) {
        redisReply **e = reply->element + i;
        obol_driver_record record;

        for (int k = 0; k < 4; k++)
            if (!list_element_ok(e[k]) ||
                (k == 1 && e[k]->type == REDIS_REPLY_INTEGER &&
                 !too_long(h, e[k], &(size_t){ 0 })))
                return redis_reply_unexpected(h, "list script", e[k], err);
        record.key.user_id = user;
        record.key.type = type;
        if (record_of(h, e, &record))
            status = visit(arg, &record);
    }
    return status;
}

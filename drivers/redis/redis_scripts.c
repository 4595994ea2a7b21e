/* Running the Lua scripts of redis_lua.h; see redis_scripts.h. */
#include "config.h"

#include <string.h>

#include <openssl/evp.h>

#include "redis_driver.h"
#include "redis_lua.h"
#include "redis_reply.h"
#include "redis_scripts.h"
#include "redis_slot.h"

int redis_scripts_load(redis_router *r, redis_node *node,
                       redis_scripts *scripts, obol_error *err)
{
    int64_t deadline = redis_router_deadline(r);

    for (redis_script_id i = 0; i < REDIS_SCRIPT_COUNT; i++) {
        const char *argv[3] = { "SCRIPT", "LOAD", redis_lua_source(i) };
        size_t argv_len[3] = { 6, 4, strlen(redis_lua_source(i)) };
        redis_call call = { "SCRIPT LOAD", 0, node, 0, 3, argv, argv_len,
                            NULL };
        redisReply *reply = NULL;
        int status = redis_router_call(r, &call, deadline, &reply, err);

        if (status != OBOL_OK)
            return status;
        if (reply->type != REDIS_REPLY_STRING ||
            reply->len != sizeof scripts->sha[i] - 1) {
            redis_reply_free(reply);
            return redis_host->set_error(err, OBOL_ERR_BACKEND,
                                         "redis %s: SCRIPT LOAD: unexpected "
                                         "reply", node->ep.where);
        }
        memcpy(scripts->sha[i], reply->str, reply->len);
        scripts->sha[i][reply->len] = '\0';
        redis_reply_free(reply);
    }
    return OBOL_OK;
}

int redis_scripts_digest(redis_scripts *scripts, obol_error *err)
{
    static const char hex[] = "0123456789abcdef";

    for (redis_script_id i = 0; i < REDIS_SCRIPT_COUNT; i++) {
        const char *source = redis_lua_source(i);
        unsigned char digest[EVP_MAX_MD_SIZE];
        unsigned int digest_len = 0;

        if (EVP_Digest(source, strlen(source), digest, &digest_len,
                       EVP_sha1(), NULL) != 1 ||
            digest_len * 2 != sizeof scripts->sha[i] - 1)
            return redis_host->set_error(err, OBOL_ERR_BACKEND,
                                         "redis: cannot compute the SHA1 "
                                         "of the scripts");
        for (unsigned int b = 0; b < digest_len; b++) {
            scripts->sha[i][2 * b] = hex[digest[b] >> 4];
            scripts->sha[i][2 * b + 1] = hex[digest[b] & 0xf];
        }
        scripts->sha[i][2 * digest_len] = '\0';
    }
    return OBOL_OK;
}

static const char *const script_names[REDIS_SCRIPT_COUNT] = {
    "upsert script", "delete script", "list script", "prune script",
    "upsert script", "delete_all script"
};

void redis_script_call_init(const redis_scripts *scripts, redis_script_id id,
                            const redis_keys *keys, int argc,
                            const char **argv, const size_t *argv_len,
                            const char **call_argv, size_t *call_len,
                            redis_call *call)
{
    call_argv[0] = "EVALSHA";
    call_len[0] = 7;
    call_argv[1] = scripts->sha[id];
    call_len[1] = 40;
    call_argv[2] = "3";
    call_len[2] = 1;
    for (int k = 0; k < 3; k++) {
        call_argv[3 + k] = keys->name[k];
        call_len[3 + k] = keys->len[k];
    }
    for (int i = 0; i < argc; i++) {
        call_argv[6 + i] = argv[i];
        call_len[6 + i] = argv_len[i];
    }
    call->what = script_names[id];
    call->slot = redis_slot_of(keys->name[0], keys->len[0]);
    call->node = NULL;
    call->is_write = id != REDIS_SCRIPT_LIST;
    call->argc = REDIS_SCRIPT_ARGC(argc);
    call->argv = call_argv;
    call->argv_len = call_len;
    call->script = redis_lua_source(id);
}

void redis_script_prepare(const redis_scripts *scripts, redis_script_id id,
                          const redis_keys *keys, int argc, const char **argv,
                          const size_t *argv_len, redis_script_call *sc)
{
    redis_script_call_init(scripts, id, keys, argc, argv, argv_len, sc->argv,
                           sc->argv_len, &sc->call);
}

int redis_script_run(redis_router *r, const redis_scripts *scripts,
                     redis_script_id id, const redis_keys *keys, int argc,
                     const char **argv, const size_t *argv_len,
                     int64_t deadline, redisReply **reply, obol_error *err)
{
    redis_script_call sc;

    if (REDIS_SCRIPT_ARGC(argc) > REDIS_CALL_MAX_ARGS)
        return redis_host->set_error(err, OBOL_ERR_INVALID,
                                     "redis: too many script arguments");
    redis_script_prepare(scripts, id, keys, argc, argv, argv_len, &sc);
    return redis_router_call(r, &sc.call, deadline, reply, err);
}

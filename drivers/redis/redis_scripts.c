/* Running the Lua scripts of redis_lua.h; see redis_scripts.h. */
#include "config.h"

#include <string.h>

#include "redis_driver.h"
#include "redis_lua.h"
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
            freeReplyObject(reply);
            return redis_host->set_error(err, OBOL_ERR_BACKEND,
                                         "redis %s: SCRIPT LOAD: unexpected "
                                         "reply", node->ep.where);
        }
        memcpy(scripts->sha[i], reply->str, reply->len);
        scripts->sha[i][reply->len] = '\0';
        freeReplyObject(reply);
    }
    return OBOL_OK;
}

static const char *const script_names[REDIS_SCRIPT_COUNT] = {
    "upsert script", "delete script", "list script", "prune script"
};

void redis_script_prepare(const redis_scripts *scripts, redis_script_id id,
                          const redis_keys *keys, int argc, const char **argv,
                          const size_t *argv_len, redis_script_call *sc)
{
    sc->argv[0] = "EVALSHA";
    sc->argv_len[0] = 7;
    sc->argv[1] = scripts->sha[id];
    sc->argv_len[1] = 40;
    sc->argv[2] = "3";
    sc->argv_len[2] = 1;
    for (int k = 0; k < 3; k++) {
        sc->argv[3 + k] = keys->name[k];
        sc->argv_len[3 + k] = keys->len[k];
    }
    for (int i = 0; i < argc && 6 + i < REDIS_CALL_MAX_ARGS; i++) {
        sc->argv[6 + i] = argv[i];
        sc->argv_len[6 + i] = argv_len[i];
    }
    sc->call.what = script_names[id];
    sc->call.slot = redis_slot_of(keys->name[0], keys->len[0]);
    sc->call.node = NULL;
    sc->call.is_write = id != REDIS_SCRIPT_LIST;
    sc->call.argc = 6 + argc;
    sc->call.argv = sc->argv;
    sc->call.argv_len = sc->argv_len;
    sc->call.script = redis_lua_source(id);
}

int redis_script_run(redis_router *r, const redis_scripts *scripts,
                     redis_script_id id, const redis_keys *keys, int argc,
                     const char **argv, const size_t *argv_len,
                     int64_t deadline, redisReply **reply, obol_error *err)
{
    redis_script_call sc;

    if (6 + argc > REDIS_CALL_MAX_ARGS)
        return redis_host->set_error(err, OBOL_ERR_INVALID,
                                     "redis: too many script arguments");
    redis_script_prepare(scripts, id, keys, argc, argv, argv_len, &sc);
    return redis_router_call(r, &sc.call, deadline, reply, err);
}

/* Running the Lua scripts of redis_lua.h; see redis_scripts.h. */
#include "config.h"

#include <string.h>

#include "redis_driver.h"
#include "redis_lua.h"
#include "redis_scripts.h"

int redis_scripts_load(redis_pool *pool, redis_scripts *scripts,
                       obol_error *err)
{
    for (redis_script_id i = 0; i < REDIS_SCRIPT_COUNT; i++) {
        const char *argv[3] = { "SCRIPT", "LOAD", redis_lua_source(i) };
        size_t argv_len[3] = { 6, 4, strlen(redis_lua_source(i)) };
        redisReply *reply = NULL;
        int status = redis_pool_command(pool, 3, argv, argv_len, NULL, &reply,
                                        err);

        if (status != OBOL_OK)
            return status;
        if (reply->type != REDIS_REPLY_STRING ||
            reply->len != sizeof scripts->sha[i] - 1) {
            freeReplyObject(reply);
            return redis_host->set_error(err, OBOL_ERR_BACKEND,
                                         "redis %s: SCRIPT LOAD: unexpected "
                                         "reply", redis_pool_where(pool));
        }
        memcpy(scripts->sha[i], reply->str, reply->len);
        scripts->sha[i][reply->len] = '\0';
        freeReplyObject(reply);
    }
    return OBOL_OK;
}

#define MAX_SCRIPT_ARGS 8

int redis_script_run(redis_pool *pool, const redis_scripts *scripts,
                     redis_script_id id, const redis_keys *keys, int argc,
                     const char **argv, const size_t *argv_len,
                     redisReply **reply, obol_error *err)
{
    const char *call[3 + 3 + MAX_SCRIPT_ARGS];
    size_t call_len[3 + 3 + MAX_SCRIPT_ARGS];
    int status;

    if (argc > MAX_SCRIPT_ARGS)
        return redis_host->set_error(err, OBOL_ERR_INVALID,
                                     "redis: too many script arguments");
    call[0] = "EVALSHA";
    call_len[0] = 7;
    call[1] = scripts->sha[id];
    call_len[1] = 40;
    call[2] = "3";
    call_len[2] = 1;
    for (int k = 0; k < 3; k++) {
        call[3 + k] = keys->name[k];
        call_len[3 + k] = keys->len[k];
    }
    for (int i = 0; i < argc; i++) {
        call[6 + i] = argv[i];
        call_len[6 + i] = argv_len[i];
    }

    status = redis_pool_command(pool, 6 + argc, call, call_len, "NOSCRIPT",
                                reply, err);
    if (status != OBOL_OK || (*reply)->type != REDIS_REPLY_ERROR)
        return status;

    freeReplyObject(*reply);
    *reply = NULL;
    call[0] = "EVAL";
    call_len[0] = 4;
    call[1] = redis_lua_source(id);
    call_len[1] = strlen(redis_lua_source(id));
    return redis_pool_command(pool, 6 + argc, call, call_len, NULL, reply,
                              err);
}

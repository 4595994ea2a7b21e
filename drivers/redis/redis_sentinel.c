/* Asking the Sentinels where the master is; see redis_sentinel.h. */
#define _POSIX_C_SOURCE 200809L
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "redis_driver.h"
#include "redis_reply.h"
#include "redis_sentinel.h"

void redis_sentinels_init(redis_sentinels *s, const redis_settings *settings)
{
    s->settings = settings;
    s->login = *settings;
    s->login.user = settings->sentinel_user;
    s->login.password = settings->sentinel_password;
    s->login.db = 0;
    s->login.timeout_ms = settings->sentinel_timeout_ms;
    s->first = 0;
}

/* The [host, port] reply of SENTINEL get-master-addr-by-name. */
static int read_address(const redis_endpoint *sentinel, const char *name,
                        const redisReply *reply, char *host,
                        size_t host_size, uint16_t *port, obol_error *err)
{
    long long value = 0;
    char *end = NULL;

    if (reply->type == REDIS_REPLY_NIL ||
        (reply->type == REDIS_REPLY_ARRAY && reply->elements == 0))
        return redis_host->set_error(err, OBOL_ERR_BACKEND,
                                     "redis %s: does not know master '%s'",
                                     sentinel->where, name);
    if (reply->type == REDIS_REPLY_ERROR)
        return redis_host->set_error(err, OBOL_ERR_BACKEND, "redis %s: %s",
                                     sentinel->where, reply->str);
    if (reply->type == REDIS_REPLY_ARRAY && reply->elements == 2 &&
        reply->element[0]->type == REDIS_REPLY_STRING &&
        reply->element[1]->type == REDIS_REPLY_STRING &&
        reply->element[0]->len > 0 && reply->element[0]->len < host_size) {
        value = strtoll(reply->element[1]->str, &end, 10);
        if (end != NULL && *end == '\0' && value > 0 && value <= 65535) {
            memcpy(host, reply->element[0]->str, reply->element[0]->len);
            host[reply->element[0]->len] = '\0';
            *port = (uint16_t)value;
            return OBOL_OK;
        }
    }
    return redis_host->set_error(err, OBOL_ERR_BACKEND,
                                 "redis %s: SENTINEL get-master-addr-by-name: "
                                 "unexpected reply", sentinel->where);
}

/* One Sentinel, within its own timeout and the call's deadline. */
static int ask_one(redis_sentinels *s, const redis_endpoint *sentinel,
                   int64_t deadline, char *host, size_t host_size,
                   uint16_t *port, obol_error *err)
{
    const char *name = s->settings->master_name;
    const char *argv[3] = { "SENTINEL", "get-master-addr-by-name", name };
    size_t argv_len[3] = { 8, 23, strlen(name) };
    /* A copy whose connect timeout is what is left of this Sentinel's
     * time: redis_conn_open() bounds connecting by the settings alone. */
    redis_settings login = s->login;
    int64_t until = redis_now_ms() + (int64_t)s->settings->sentinel_timeout_ms;
    redis_conn *conn = NULL;
    redisReply *reply = NULL;
    int status;

    if (until > deadline)
        until = deadline;
    if (until - redis_now_ms() < 1)
        return redis_host->set_error(err, OBOL_ERR_TIMEOUT,
                                     "redis %s: not asked: the call's time "
                                     "ran out", sentinel->where);
    login.connect_timeout_ms = (uint64_t)(until - redis_now_ms());
    status = redis_conn_open(sentinel, &login, until, &conn, err);
    if (status != OBOL_OK)
        return status;
    status = redis_conn_append(conn, 3, argv, argv_len, err);
    if (status == OBOL_OK)
        status = redis_conn_flush(conn, until, "SENTINEL", NULL, err);
    if (status == OBOL_OK)
        status = redis_conn_read(conn, until, "SENTINEL get-master-addr-by-name",
                                 &reply, err);
    if (status == OBOL_OK) {
        status = read_address(sentinel, name, reply, host, host_size, port,
                              err);
        redis_reply_free(reply);
    }
    redis_conn_close(conn);
    return status;
}

/* Appends one Sentinel's cause to the list of them, without the leading
 * "redis " every message of the driver has. */
static void add_cause(char *causes, size_t size, const char *message)
{
    size_t used = strlen(causes);
    size_t len;

    if (strncmp(message, "redis ", 6) == 0)
        message += 6;
    if (used > 0 && used + 2 < size) {
        memcpy(causes + used, "; ", 2);
        used += 2;
    }
    len = strlen(message);
    if (len > size - 1 - used)
        len = size - 1 - used;
    memcpy(causes + used, message, len);
    causes[used + len] = '\0';
}

int redis_sentinels_ask(redis_sentinels *s, int64_t deadline, char *host,
                        size_t host_size, uint16_t *port, obol_error *err)
{
    size_t count = s->settings->seed_count;
    char causes[sizeof err->message] = "";
    int all_timed_out = 1;

    for (size_t k = 0; k < count; k++) {
        size_t i = (s->first + k) % count;
        int status = ask_one(s, &s->settings->seeds[i], deadline, host,
                             host_size, port, err);

        if (status == OBOL_OK) {
            s->first = i;
            return OBOL_OK;
        }
        if (status == OBOL_ERR_NOMEM)
            return status;
        all_timed_out &= status == OBOL_ERR_TIMEOUT;
        add_cause(causes, sizeof causes, err->message);
    }
    return redis_host->set_error(err,
                                 all_timed_out ? OBOL_ERR_TIMEOUT
                                               : OBOL_ERR_BACKEND,
                                 "redis sentinel: no Sentinel named master "
                                 "'%s': %s", s->settings->master_name, causes);
}

int redis_sentinel_check_role(redis_conn *conn, int64_t deadline,
                              obol_error *err)
{
    const char *argv[1] = { "ROLE" };
    size_t argv_len[1] = { 4 };
    const char *where = redis_conn_endpoint(conn)->where;
    redisReply *reply = NULL;
    int status = redis_conn_append(conn, 1, argv, argv_len, err);

    if (status == OBOL_OK)
        status = redis_conn_flush(conn, deadline, "ROLE", NULL, err);
    if (status == OBOL_OK)
        status = redis_conn_read(conn, deadline, "ROLE", &reply, err);
    if (status != OBOL_OK)
        return status;
    if (reply->type == REDIS_REPLY_ARRAY && reply->elements > 0 &&
        reply->element[0]->type == REDIS_REPLY_STRING &&
        strcmp(reply->element[0]->str, "master") == 0)
        status = OBOL_OK;
    else
        status = redis_host->set_error(
            err, OBOL_ERR_BACKEND,
            "redis %s: ROLE: '%s', not the master the Sentinels named (it "
            "was demoted, or they have not seen the failover yet)",
            where,
            reply->type == REDIS_REPLY_ARRAY && reply->elements > 0 &&
                    reply->element[0]->type == REDIS_REPLY_STRING
                ? reply->element[0]->str
                : reply->type == REDIS_REPLY_ERROR ? reply->str : "?");
    redis_reply_free(reply);
    return status;
}

/* Routing commands and following redirections; see redis_router.h. */
#define _POSIX_C_SOURCE 200809L
#include "config.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "redis_driver.h"
#include "redis_reply.h"
#include "redis_router.h"

static void count(uint64_t *counter)
{
    __atomic_add_fetch(counter, 1, __ATOMIC_RELAXED);
}

/* Redirections followed by one call before it is taken for a loop. */
#define MAX_REDIRECTIONS 16
#define BACKOFF_FIRST_MS 5
#define BACKOFF_MAX_MS 200

int64_t redis_router_deadline(const redis_router *r)
{
    return redis_now_ms() + (int64_t)r->settings->timeout_ms;
}

static int has_prefix(const char *text, const char *prefix)
{
    return strncmp(text, prefix, strlen(prefix)) == 0;
}

/* Sets err to what (formatted) followed by its current message, which
 * says what went wrong last. */
static int wrap_error(obol_error *err, int status, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static int wrap_error(obol_error *err, int status, const char *fmt, ...)
{
    char last[sizeof err->message], what[sizeof err->message];
    va_list ap;

    snprintf(last, sizeof last, "%s", err->message);
    va_start(ap, fmt);
    vsnprintf(what, sizeof what, fmt, ap);
    va_end(ap);
    return redis_host->set_error(err, status, "%s%s", what, last);
}

/* ---------------------------------------------------------- the command */

/* Appends [ASKING] and the command (EVALSHA, or EVAL of its script). */
static int append_command(redis_conn *conn, const redis_call *call,
                          const redis_attempt *a, obol_error *err)
{
    const char **argv;
    size_t *argv_len;
    int status = OBOL_OK;

    if (a->asking) {
        const char *asking = "ASKING";
        size_t asking_len = 6;
        status = redis_conn_append(conn, 1, &asking, &asking_len, err);
    }
    if (status != OBOL_OK)
        return status;
    if (!a->use_eval)
        return redis_conn_append(conn, call->argc, call->argv, call->argv_len,
                                 err);
    /* The rare REDIS_NOSCRIPT: a copy of the arguments with EVAL and the source
     * in place of EVALSHA and the SHA1. */
    argv = malloc((size_t)call->argc * sizeof *argv);
    argv_len = malloc((size_t)call->argc * sizeof *argv_len);
    if (argv != NULL && argv_len != NULL) {
        memcpy(argv, call->argv, (size_t)call->argc * sizeof *argv);
        memcpy(argv_len, call->argv_len,
               (size_t)call->argc * sizeof *argv_len);
        argv[0] = "EVAL";
        argv_len[0] = 4;
        argv[1] = call->script;
        argv_len[1] = strlen(call->script);
        status = redis_conn_append(conn, call->argc, argv, argv_len, err);
    } else {
        status = redis_host->set_error(err, OBOL_ERR_NOMEM,
                                       "redis: out of memory");
    }
    free(argv);
    free(argv_len);
    return status;
}

static int append_wait(redis_conn *conn, const redis_settings *s,
                       obol_error *err)
{
    char replicas[24], timeout[24];
    const char *argv[3] = { "WAIT", replicas, timeout };
    size_t argv_len[3] = { 4, 0, 0 };

    argv_len[1] = (size_t)snprintf(replicas, sizeof replicas, "%llu",
                                   (unsigned long long)s->wait_replicas);
    argv_len[2] = (size_t)snprintf(timeout, sizeof timeout, "%llu",
                                   (unsigned long long)s->wait_timeout_ms);
    return redis_conn_append(conn, 3, argv, argv_len, err);
}

static int wants_wait(const redis_router *r, const redis_call *call)
{
    return call->is_write && r->settings->wait_replicas > 0;
}

int redis_router_append(redis_conn *conn, const redis_call *call,
                        const redis_attempt *a, obol_error *err)
{
    return append_command(conn, call, a, err);
}

int redis_router_wants_wait(const redis_router *r, const redis_call *call)
{
    return wants_wait(r, call);
}

int redis_router_append_wait(const redis_router *r, redis_conn *conn,
                             obol_error *err)
{
    return append_wait(conn, r->settings, err);
}

/* ------------------------------------------------------- reading replies */

/* "MOVED 3999 127.0.0.1:6381" or "ASK ...": the slot and the node. A
 * node that does not know its peer's address sends ":6381", meaning the
 * host of the node that answered. */
static int parse_redirection(redis_router *r, const char *text,
                             const redis_node *answered, unsigned *slot,
                             redis_node **target)
{
    char host[256];
    unsigned long long slot_value;
    unsigned port;
    const char *address = strchr(text, ' ');
    const char *colon;

    if (address == NULL || sscanf(address + 1, "%llu", &slot_value) != 1 ||
        slot_value >= 16384)
        return -1;
    address = strchr(address + 1, ' ');
    if (address == NULL || (colon = strrchr(address, ':')) == NULL ||
        (size_t)(colon - address - 1) >= sizeof host ||
        sscanf(colon + 1, "%u", &port) != 1 || port == 0 || port > 65535)
        return -1;
    memcpy(host, address + 1, (size_t)(colon - address - 1));
    host[colon - address - 1] = '\0';
    if (host[0] == '\0' && answered->ep.host != NULL)
        snprintf(host, sizeof host, "%s", answered->ep.host);
    *slot = (unsigned)slot_value;
    *target = redis_topology_node_at(r->topology, host, (uint16_t)port);
    return *target != NULL ? 0 : -1;
}

/* A demoted master refused a write: "READONLY ..." (Redis 7 also for a
 * write in a script), or a script's error that quotes it (6.2). Nothing
 * was written: the script stopped at its first write. */
static int is_readonly(const char *text)
{
    return has_prefix(text, "READONLY") ||
           strstr(text, "-READONLY You can't write") != NULL;
}

/* What an error reply of the command means for the call. */
redis_outcome redis_router_classify(redis_router *r, const redis_call *call,
                                    const redisReply *reply,
                                    const redis_node *node, redis_attempt *a,
                                    obol_error *err)
{
    const char *text = reply->str;
    int cluster = redis_topology_is_cluster(r->topology);
    redis_outcome what;

    if (cluster && call->node == NULL &&
        (has_prefix(text, "MOVED ") || has_prefix(text, "ASK "))) {
        what = text[0] == 'M' ? REDIS_MOVED : REDIS_ASK;
        if (parse_redirection(r, text, node, &a->moved_slot, &a->target) == 0) {
            redis_host->set_error(err, OBOL_ERR_BACKEND, "redis %s: %s: %s",
                                  node->ep.where, call->what, text);
            return what;
        }
    }
    if (call->script != NULL && !a->use_eval && has_prefix(text, "NOSCRIPT"))
        return REDIS_NOSCRIPT;
    if (has_prefix(text, "TRYAGAIN") || has_prefix(text, "LOADING") ||
        (cluster && (has_prefix(text, "CLUSTERDOWN") ||
                     has_prefix(text, "MASTERDOWN") ||
                     has_prefix(text, "READONLY"))) ||
        (redis_topology_is_sentinel(r->topology) && is_readonly(text))) {
        redis_host->set_error(err, OBOL_ERR_BACKEND, "redis %s: %s: %s",
                              node->ep.where, call->what, text);
        return has_prefix(text, "TRYAGAIN") || has_prefix(text, "LOADING")
                   ? REDIS_RETRY
                   : REDIS_RETRY_REFRESH;
    }
    redis_host->set_error(err, OBOL_ERR_BACKEND, "redis %s: %s: %s%s",
                          node->ep.where, call->what, text,
                          !cluster && (has_prefix(text, "MOVED ") ||
                                       has_prefix(text, "ASK "))
                              ? " (a cluster node: use redis+cluster://)"
                              : "");
    return REDIS_DONE;
}

/* The WAIT reply after a write that succeeded. */
int redis_router_check_wait(redis_router *r, const redisReply *wait_reply,
                            const redis_node *node, const char *what,
                            obol_error *err)
{
    unsigned long long wanted = r->settings->wait_replicas;

    if (wait_reply->type != REDIS_REPLY_INTEGER)
        return redis_host->set_error(err, OBOL_ERR_BACKEND,
                                     "redis %s: %s: the write reached the "
                                     "master, but WAIT answered %s",
                                     node->ep.where, what,
                                     wait_reply->type == REDIS_REPLY_ERROR
                                         ? wait_reply->str
                                         : "no count");
    if ((unsigned long long)wait_reply->integer < wanted) {
        /* After a Sentinel failover the old master keeps taking writes
         * until it is demoted, with fewer replicas: ask again. */
        redis_topology_mark_stale(r->topology);
        return redis_host->set_error(err, OBOL_ERR_BACKEND,
                                     "redis %s: %s: the write reached the "
                                     "master, but only %lld of %llu replicas "
                                     "had it within %llu ms (wait_replicas)",
                                     node->ep.where, what, wait_reply->integer,
                                     wanted,
                                     (unsigned long long)
                                         r->settings->wait_timeout_ms);
    }
    return OBOL_OK;
}

/* The connection failed after the command left: a read may go again,
 * a write may have run and must not. */
redis_outcome redis_router_lost_after_send(const redis_call *call,
                                           const redis_node *node,
                                           obol_error *err)
{
    if (!call->is_write)
        return REDIS_RETRY_REFRESH;
    wrap_error(err, err->status,
               "redis %s: %s: the outcome is unknown (the connection failed "
               "after the command was sent, so it was not sent again): ",
               node->ep.where, call->what);
    return REDIS_DONE;
}

/* Reads what one attempt sent: [ASKING] command [WAIT]. */
static redis_outcome read_replies(redis_router *r, redis_conn *conn,
                            const redis_call *call, redis_attempt *a,
                            const redis_node *node, int64_t deadline,
                            redisReply **reply, obol_error *err)
{
    redisReply *main_reply = NULL, *wait_reply = NULL;
    redis_outcome result = REDIS_DONE;
    int status = OBOL_OK;

    if (a->asking) {
        status = redis_conn_read(conn, deadline, "ASKING", &main_reply, err);
        if (status == OBOL_OK)
            redis_reply_free(main_reply);
        main_reply = NULL;
    }
    if (status == OBOL_OK)
        status = redis_conn_read(conn, deadline, call->what, &main_reply, err);
    if (status == OBOL_OK && wants_wait(r, call))
        status = redis_conn_read(conn, deadline, "WAIT", &wait_reply, err);
    if (status != OBOL_OK) {
        if (main_reply != NULL)
            redis_reply_free(main_reply);
        return status == OBOL_ERR_NOMEM ? REDIS_DONE
                                        : redis_router_lost_after_send(call, node, err);
    }
    if (main_reply->type == REDIS_REPLY_ERROR) {
        result = redis_router_classify(r, call, main_reply, node, a, err);
        redis_reply_free(main_reply);
    } else if (wait_reply != NULL &&
               redis_router_check_wait(r, wait_reply, node, call->what, err) != OBOL_OK) {
        redis_reply_free(main_reply);
    } else {
        *reply = main_reply;
        err->status = OBOL_OK;
    }
    if (wait_reply != NULL)
        redis_reply_free(wait_reply);
    return result;
}

/* One attempt of call on node. On REDIS_DONE, err->status is OBOL_OK with
 * *reply set, or the error. */
static redis_outcome try_node(redis_router *r, const redis_call *call,
                        redis_node *node, redis_attempt *a, int64_t *deadline,
                        redisReply **reply, obol_error *err)
{
    redis_conn *conn = NULL;
    int sent_any = 0;
    int status = redis_pool_take(node->pool, deadline, &conn, err);
    redis_outcome result;

    if (status != OBOL_OK) {
        /* Out of memory, a bad address, or the call's time spent waiting
         * for a free connection: nothing another node would change. */
        if (status == OBOL_ERR_NOMEM || status == OBOL_ERR_INVALID ||
            redis_now_ms() >= *deadline)
            return REDIS_DONE;
        redis_topology_mark_failed(r->topology, node);
        return REDIS_RETRY_REFRESH;
    }
    status = append_command(conn, call, a, err);
    if (status == OBOL_OK && wants_wait(r, call))
        status = append_wait(conn, r->settings, err);
    if (status == OBOL_OK)
        status = redis_conn_flush(conn, *deadline, call->what, &sent_any, err);
    if (status != OBOL_OK) {
        redis_pool_give(node->pool, conn);
        if (status == OBOL_ERR_NOMEM)
            return REDIS_DONE;
        redis_topology_mark_failed(r->topology, node);
        return sent_any ? redis_router_lost_after_send(call, node, err) : REDIS_RETRY_REFRESH;
    }
    result = read_replies(r, conn, call, a, node, *deadline, reply, err);
    if (redis_conn_is_broken(conn))
        redis_topology_mark_failed(r->topology, node);
    redis_pool_give(node->pool, conn);
    return result;
}

/* ------------------------------------------------------------ the loop */

static void sleep_ms(int64_t ms)
{
    struct timespec ts = { (time_t)(ms / 1000), (long)(ms % 1000) * 1000000L };

    if (ms > 0)
        nanosleep(&ts, NULL);
}

static int gave_up(const redis_call *call, int tries, obol_error *err)
{
    return wrap_error(err, OBOL_ERR_TIMEOUT,
                      "redis: %s: no answer within the call's time after %d "
                      "tries; last: ", call->what, tries);
}

/* How long to wait before the next try, never past the deadline; 0 when
 * no time is left for one. */
static int64_t backoff_ms(int tries, int64_t deadline)
{
    int64_t wait = BACKOFF_FIRST_MS << (tries < 6 ? tries : 6);
    int64_t left = deadline - redis_now_ms();

    if (wait > BACKOFF_MAX_MS)
        wait = BACKOFF_MAX_MS;
    if (left <= 0)
        return 0;
    return wait < left ? wait : left;
}

/* The node for call; NULL with the reason in err when none is known.
 * refresh_failure is the last refresh of this call that failed (status
 * OBOL_OK: none did): when the map is empty, or the master unknown,
 * because nothing answered yet (connect=lazy), that is the reason. */
static redis_node *owner_of(redis_router *r, const redis_call *call,
                            const obol_error *refresh_failure,
                            obol_error *err)
{
    redis_node *node = call->node != NULL
                           ? call->node
                           : redis_topology_route(r->topology, call->slot);

    if (node != NULL)
        return node;
    if (refresh_failure->status != OBOL_OK)
        redis_host->set_error(err, refresh_failure->status,
                              "redis: %s: no master known: %s", call->what,
                              refresh_failure->message);
    else if (redis_topology_is_sentinel(r->topology))
        redis_host->set_error(err, OBOL_ERR_BACKEND,
                              "redis sentinel: %s: no master known yet",
                              call->what);
    else
        redis_host->set_error(err, OBOL_ERR_BACKEND,
                              "redis cluster: %s: no master serves slot %u",
                              call->what, call->slot);
    return NULL;
}

/* A refresh inside a call, whose failure is kept for owner_of(). A
 * refresh skipped as too recent leaves the last failure as it was. */
static void refresh_for_call(redis_router *r, int64_t deadline, int wait,
                             obol_error *refresh_failure)
{
    obol_error this_one = { 0 };

    if (redis_topology_refresh(r->topology, deadline, wait, &this_one) !=
        OBOL_OK)
        *refresh_failure = this_one;
}

void redis_route_start(redis_router *r, const redis_call *call,
                       redis_route *route, obol_error *err)
{
    memset(route, 0, sizeof *route);
    route->node = owner_of(r, call, &route->refresh_failure, err);
}

/* A backoff before the next try, or the end when no time is left. */
static int later(const redis_call *call, redis_route *route, int refresh,
                 int64_t deadline, int64_t *wait_ms, obol_error *err)
{
    *wait_ms = backoff_ms(route->tries - 1, deadline);
    if (*wait_ms == 0) {
        gave_up(call, route->tries, err);
        return REDIS_ROUTE_FINISHED;
    }
    route->refresh = refresh;
    return REDIS_ROUTE_LATER;
}

int redis_route_next(redis_router *r, const redis_call *call,
                     redis_route *route, redis_outcome result,
                     int64_t deadline, int64_t block_until, int64_t *wait_ms,
                     obol_error *err)
{
    obol_error scratch = { 0 };  /* a refresh's own error is no answer */
    int was_asking = route->a.asking;

    route->tries++;
    route->a.asking = 0;
    switch (result) {
    case REDIS_DONE:
        if (route->moved)
            redis_topology_refresh(r->topology, block_until, 0, &scratch);
        return REDIS_ROUTE_FINISHED;
    case REDIS_MOVED:
    case REDIS_ASK:
        if (++route->redirections > MAX_REDIRECTIONS) {
            wrap_error(err, OBOL_ERR_BACKEND,
                       "redis cluster: %s: more than %d redirections; last: ",
                       call->what, MAX_REDIRECTIONS);
            return REDIS_ROUTE_FINISHED;
        }
        if (result == REDIS_MOVED) {
            redis_topology_patch(r->topology, route->a.moved_slot,
                                 route->a.target);
            route->moved = 1;
        }
        count(result == REDIS_MOVED ? &r->moved : &r->asked);
        route->a.asking = result == REDIS_ASK;
        route->node = route->a.target;
        return REDIS_ROUTE_NOW;
    case REDIS_NOSCRIPT:
        /* ASKING lasts for one command: the EVAL needs it again. */
        route->a.use_eval = 1;
        route->a.asking = was_asking;
        return REDIS_ROUTE_NOW;
    case REDIS_RETRY_REFRESH:
        if (!redis_topology_can_move(r->topology) || call->node != NULL)
            return REDIS_ROUTE_FINISHED;
        return later(call, route, 1, deadline, wait_ms, err);
    case REDIS_RETRY:
        return later(call, route, 0, deadline, wait_ms, err);
    }
    return REDIS_ROUTE_FINISHED;
}

int redis_route_resume(redis_router *r, const redis_call *call,
                       redis_route *route, int64_t deadline,
                       int64_t block_until, obol_error *err)
{
    if (redis_now_ms() >= deadline)
        return gave_up(call, route->tries, err);
    if (route->refresh) {
        refresh_for_call(r, block_until, 1, &route->refresh_failure);
        route->node = owner_of(r, call, &route->refresh_failure, err);
        route->refresh = 0;
    }
    return OBOL_OK;
}

int redis_router_call(redis_router *r, const redis_call *call,
                      int64_t deadline, redisReply **reply, obol_error *err)
{
    redis_route route;
    int routed = call->node == NULL && redis_topology_can_move(r->topology);
    /* A try that connects gets connect_timeout_ms on top (the pool adds
     * it); each try starts from the call's own deadline, so that tries
     * that connect again and again add it once, not each time. */
    const int64_t call_deadline = deadline;

    if (routed)
        redis_topology_refresh_if_due(r->topology, deadline);
    redis_route_start(r, call, &route, err);
    for (;;) {
        redis_outcome result;
        int64_t wait_ms = 0;

        if (deadline > call_deadline)
            deadline = call_deadline;
        result = route.node != NULL ? try_node(r, call, route.node, &route.a,
                                               &deadline, reply, err)
                                    : REDIS_RETRY_REFRESH;
        switch (redis_route_next(r, call, &route, result, deadline, deadline,
                                 &wait_ms, err)) {
        case REDIS_ROUTE_FINISHED:
            return err->status;
        case REDIS_ROUTE_LATER:
            sleep_ms(wait_ms);
            if (redis_route_resume(r, call, &route, deadline, deadline,
                                   err) != OBOL_OK)
                return err->status;
            break;
        default:
            break;
        }
    }
}

/* ------------------------------------------------------------ pipelines */

static void free_replies(redisReply **replies, size_t count)
{
    for (size_t i = 0; i < count; i++)
        if (replies[i] != NULL) {
            redis_reply_free(replies[i]);
            replies[i] = NULL;
        }
}

/* The replies of a group sent to one node, in order. A reply that says
 * the node did not run the command marks it for redo. */
static int read_group(redis_router *r, redis_conn *conn, redis_node *node,
                      const redis_call *calls, const size_t *group,
                      size_t group_size, int with_wait, int64_t deadline,
                      redisReply **replies, unsigned char *redo,
                      obol_error *err)
{
    redisReply *reply = NULL;
    int status = OBOL_OK;

    for (size_t g = 0; g < group_size && status == OBOL_OK; g++) {
        const redis_call *call = &calls[group[g]];
        redis_attempt a = { 0, 0, NULL, 0 };

        status = redis_conn_read(conn, deadline, call->what, &reply, err);
        if (status != OBOL_OK) {
            if (status != OBOL_ERR_NOMEM)
                redis_router_lost_after_send(call, node, err);
            return err->status;
        }
        if (reply->type != REDIS_REPLY_ERROR) {
            replies[group[g]] = reply;
            continue;
        }
        switch (redis_router_classify(r, call, reply, node, &a, err)) {
        case REDIS_DONE:
            status = err->status;
            break;
        case REDIS_MOVED:
            redis_topology_patch(r->topology, a.moved_slot, a.target);
            count(&r->moved);
            /* fall through */
        default:
            redo[group[g]] = 1;
        }
        redis_reply_free(reply);
    }
    if (status == OBOL_OK && with_wait) {
        status = redis_conn_read(conn, deadline, "WAIT", &reply, err);
        if (status == OBOL_OK) {
            status = redis_router_check_wait(r, reply, node, calls[group[0]].what, err);
            redis_reply_free(reply);
        }
    }
    return status;
}

/* Sends a group of calls to node in one round trip. A node that cannot be
 * reached leaves them all for redo: none of them was sent. */
static int run_group(redis_router *r, redis_node *node, const redis_call *calls,
                     const size_t *group, size_t group_size, int64_t deadline,
                     redisReply **replies, unsigned char *redo,
                     obol_error *err)
{
    redis_attempt plain = { 0, 0, NULL, 0 };
    redis_conn *conn = NULL;
    int with_wait = 0, sent_any = 0;
    int status = redis_pool_take(node->pool, &deadline, &conn, err);

    if (status != OBOL_OK) {
        if (status == OBOL_ERR_NOMEM)
            return status;
        redis_topology_mark_failed(r->topology, node);
        for (size_t g = 0; g < group_size; g++)
            redo[group[g]] = 1;
        return OBOL_OK;
    }
    for (size_t g = 0; g < group_size && status == OBOL_OK; g++) {
        status = append_command(conn, &calls[group[g]], &plain, err);
        with_wait |= wants_wait(r, &calls[group[g]]);
    }
    if (status == OBOL_OK && with_wait)
        status = append_wait(conn, r->settings, err);
    if (status == OBOL_OK)
        status = redis_conn_flush(conn, deadline, calls[group[0]].what,
                                  &sent_any, err);
    if (status == OBOL_OK)
        status = read_group(r, conn, node, calls, group, group_size, with_wait,
                            deadline, replies, redo, err);
    else if (status != OBOL_ERR_NOMEM && sent_any)
        redis_router_lost_after_send(&calls[group[0]], node, err);
    if (redis_conn_is_broken(conn))
        redis_topology_mark_failed(r->topology, node);
    redis_pool_give(node->pool, conn);
    return status;
}

int redis_router_call_many(redis_router *r, const redis_call *calls,
                           size_t count, int64_t deadline,
                           redisReply **replies, obol_error *err)
{
    redis_node **nodes = calloc(count + 1, sizeof *nodes);
    size_t *group = calloc(count + 1, sizeof *group);
    unsigned char *redo = calloc(count + 1, 1);
    int status = OBOL_OK;

    memset(replies, 0, count * sizeof *replies);
    if (nodes == NULL || group == NULL || redo == NULL) {
        status = redis_host->set_error(err, OBOL_ERR_NOMEM,
                                       "redis: out of memory");
        goto done;
    }
    for (size_t i = 0; i < count; i++) {
        nodes[i] = calls[i].node != NULL
                       ? calls[i].node
                       : redis_topology_route(r->topology, calls[i].slot);
        redo[i] = nodes[i] == NULL;
    }
    /* One group per node, each in the order of the calls. */
    for (size_t i = 0; i < count && status == OBOL_OK; i++) {
        redis_node *node = nodes[i];
        size_t group_size = 0;

        if (node == NULL)
            continue;
        for (size_t j = i; j < count; j++)
            if (nodes[j] == node) {
                group[group_size++] = j;
                nodes[j] = NULL;
            }
        status = run_group(r, node, calls, group, group_size, deadline,
                           replies, redo, err);
    }
    for (size_t i = 0; i < count && status == OBOL_OK; i++)
        if (redo[i])
            status = redis_router_call(r, &calls[i], deadline, &replies[i],
                                       err);
done:
    if (status != OBOL_OK)
        free_replies(replies, count);
    free(nodes);
    free(group);
    free(redo);
    return status;
}

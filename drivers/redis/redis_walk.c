/* Walking every (user, type) of a prefix; see redis_walk.h. */
#define _POSIX_C_SOURCE 200809L
#include "config.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "redis_driver.h"
#include "redis_keys.h"
#include "redis_reply.h"
#include "redis_walk.h"

#define MAX_MASTERS 256
#define SCAN_COUNT 200
#define SCAN_COUNT_TEXT "200"
#define PASS_PAUSE_MS 100

static int nomem(obol_error *err)
{
    return redis_host->set_error(err, OBOL_ERR_NOMEM, "redis: out of memory");
}

static int unexpected(const redis_node *node, const char *what,
                      obol_error *err)
{
    return redis_host->set_error(err, OBOL_ERR_BACKEND,
                                 "redis %s: %s: unexpected reply",
                                 node->ep.where, what);
}

/* One command to one node, no redirection followed. */
static int ask(redis_router *r, redis_node *node, const char *what, int argc,
               const char **argv, const size_t *argv_len, redisReply **reply,
               obol_error *err)
{
    redis_call call = { what, 0, node, 0, argc, argv, argv_len, NULL };

    return redis_router_call(r, &call, redis_router_deadline(r), reply, err);
}

/* The keys of one SCAN reply that this encoding wrote, handed to fn. */
static int visit_names(const redisReply *names, const char *prefix,
                       const char *suffix, redis_walk_fn fn, void *arg,
                       obol_error *err)
{
    int status = OBOL_OK;

    for (size_t i = 0; i < names->elements && status == OBOL_OK; i++) {
        const redisReply *name = names->element[i];
        uint8_t *user = NULL, *type = NULL;
        size_t user_len, type_len;

        /* Keys that match the pattern but that this encoding would not
         * have written are someone else's: leave them alone. */
        if (name->type != REDIS_REPLY_STRING ||
            redis_keys_parse(name->str, name->len, prefix, suffix, &user,
                             &user_len, &type, &type_len) != 0)
            continue;
        status = fn(arg, (obol_bytes){ user, user_len },
                    (obol_bytes){ type, type_len }, err);
        free(user);
        free(type);
    }
    return status;
}

/* How many SCAN calls a walk of node may take: a cursor goes once round
 * a hash table of at most about twice the keys, COUNT buckets or more a
 * call, so four times keys / COUNT is a wide margin, and a server that
 * keeps handing out cursors (broken, or not Redis) is stopped rather than
 * followed forever. */
static long long scan_budget(redis_router *r, redis_node *node)
{
    const char *argv[1] = { "DBSIZE" };
    size_t argv_len[1] = { 6 };
    redisReply *reply = NULL;
    obol_error ignored = { 0 };
    long long keys = 1LL << 22;

    if (ask(r, node, "DBSIZE", 1, argv, argv_len, &reply, &ignored) ==
        OBOL_OK) {
        if (reply->type == REDIS_REPLY_INTEGER && reply->integer >= 0)
            keys = reply->integer;
        redis_reply_free(reply);
    }
    return 4 * keys / SCAN_COUNT + 1000;
}

/* SCAN of one node, to the end of its cursor. */
static int scan_node(redis_router *r, redis_node *node, const char *pattern,
                     const char *prefix, const char *suffix, redis_walk_fn fn,
                     void *arg, obol_error *err)
{
    char cursor[32] = "0";
    long long budget = scan_budget(r, node);
    int status;

    do {
        const char *argv[6] = { "SCAN", cursor, "MATCH", pattern, "COUNT",
                                SCAN_COUNT_TEXT };
        size_t argv_len[6] = { 4, strlen(cursor), 5, strlen(pattern), 5,
                               sizeof SCAN_COUNT_TEXT - 1 };
        redisReply *reply = NULL;

        status = ask(r, node, "SCAN", 6, argv, argv_len, &reply, err);
        if (status != OBOL_OK)
            break;
        if (reply->type != REDIS_REPLY_ARRAY || reply->elements != 2 ||
            reply->element[0]->type != REDIS_REPLY_STRING ||
            reply->element[0]->len >= sizeof cursor ||
            reply->element[1]->type != REDIS_REPLY_ARRAY) {
            redis_reply_free(reply);
            status = unexpected(node, "SCAN", err);
            break;
        }
        if (strcmp(cursor, "0") != 0 &&
            strlen(cursor) == reply->element[0]->len &&
            memcmp(cursor, reply->element[0]->str, reply->element[0]->len) ==
                0) {
            redis_reply_free(reply);
            return redis_host->set_error(err, OBOL_ERR_BACKEND,
                                         "redis %s: SCAN: the cursor %s does "
                                         "not advance", node->ep.where,
                                         cursor);
        }
        memcpy(cursor, reply->element[0]->str, reply->element[0]->len);
        cursor[reply->element[0]->len] = '\0';
        status = visit_names(reply->element[1], prefix, suffix, fn, arg, err);
        redis_reply_free(reply);
        if (status == OBOL_OK && --budget == 0 && strcmp(cursor, "0") != 0)
            return redis_host->set_error(err, OBOL_ERR_BACKEND,
                                         "redis %s: SCAN: no end after more "
                                         "calls than the server's keys "
                                         "allow", node->ep.where);
    } while (status == OBOL_OK && strcmp(cursor, "0") != 0);
    return status;
}

/* ---------------------------------------------------------- the layout */

typedef struct text {
    char *data;
    size_t len, cap;
} text;

static int text_add(text *t, const char *data, size_t len)
{
    if (t->len + len + 1 > t->cap) {
        size_t cap = t->cap != 0 ? t->cap * 2 : 1024;
        char *grown;

        while (cap < t->len + len + 1)
            cap *= 2;
        grown = realloc(t->data, cap);
        if (grown == NULL)
            return -1;
        t->data = grown;
        t->cap = cap;
    }
    memcpy(t->data + t->len, data, len);
    t->len += len;
    t->data[t->len] = '\0';
    return 0;
}

/* Appends the slots node serves by its own account: the part of its
 * "myself" line after the eighth field, where a slot in migration shows
 * as [slot->-id] or [slot-<-id]. */
static int add_own_slots(redis_router *r, redis_node *node, text *layout,
                         obol_error *err)
{
    const char *argv[2] = { "CLUSTER", "NODES" };
    size_t argv_len[2] = { 7, 5 };
    redisReply *reply = NULL;
    const char *line, *end, *slots;
    int status = ask(r, node, "CLUSTER NODES", 2, argv, argv_len, &reply, err);

    if (status != OBOL_OK)
        return status;
    if (reply->type != REDIS_REPLY_STRING ||
        (line = strstr(reply->str, "myself")) == NULL) {
        redis_reply_free(reply);
        return unexpected(node, "CLUSTER NODES", err);
    }
    while (line > reply->str && line[-1] != '\n')
        line--;
    end = line + strcspn(line, "\n");
    slots = line;
    for (int field = 0; field < 8 && slots < end; field++) {
        slots += strcspn(slots, " \n");
        if (*slots == ' ')
            slots++;
    }
    if (text_add(layout, node->ep.where, strlen(node->ep.where)) != 0 ||
        text_add(layout, " ", 1) != 0 ||
        text_add(layout, slots, (size_t)(end - slots)) != 0 ||
        text_add(layout, "\n", 1) != 0)
        status = nomem(err);
    redis_reply_free(reply);
    return status;
}

/* The masters, with every master's own view of its slots in *layout. */
static int read_layout(redis_router *r, redis_node **masters, size_t *count,
                       text *layout, obol_error *err)
{
    obol_error scratch = { 0 };
    int status = OBOL_OK;

    layout->len = 0;
    /* With no master known (connect=lazy, before the first answer) the
     * refresh's failure is the walk's: an empty map must not pass for a
     * cluster without records. */
    if (redis_topology_masters(r->topology, masters, 1) > 0)
        redis_topology_refresh(r->topology, redis_router_deadline(r), 1,
                               &scratch);
    status = redis_topology_known_masters(r->topology,
                                          redis_router_deadline(r), masters,
                                          MAX_MASTERS, count, err);
    for (size_t m = 0; m < *count && status == OBOL_OK; m++)
        status = add_own_slots(r, masters[m], layout, err);
    return status;
}

static int in_migration(const text *layout)
{
    return strstr(layout->data, "->-") != NULL ||
           strstr(layout->data, "-<-") != NULL;
}

static void pause_ms(long ms)
{
    struct timespec ts = { ms / 1000, ms % 1000 * 1000000L };
    nanosleep(&ts, NULL);
}

/* ------------------------------------------------------------ the walk */

static int walk_cluster(redis_router *r, const char *pattern,
                        const char *prefix, const char *suffix,
                        redis_walk_fn fn, void *arg, obol_error *err)
{
    redis_node *masters[MAX_MASTERS];
    text before = { NULL, 0, 0 }, after = { NULL, 0, 0 };
    size_t count = 0;
    int status = OBOL_OK;
    int pass;

    for (pass = 0; pass < REDIS_WALK_MAX_PASSES; pass++) {
        if (pass > 0)
            pause_ms(PASS_PAUSE_MS);
        status = read_layout(r, masters, &count, &before, err);
        for (size_t m = 0; m < count && status == OBOL_OK; m++)
            status = scan_node(r, masters[m], pattern, prefix, suffix, fn,
                               arg, err);
        if (status == OBOL_OK)
            status = read_layout(r, masters, &count, &after, err);
        if (status != OBOL_OK)
            break;
        if (before.len == after.len &&
            memcmp(before.data, after.data, before.len) == 0 &&
            !in_migration(&before))
            break;
    }
    if (status == OBOL_OK && pass == REDIS_WALK_MAX_PASSES)
        status = redis_host->set_error(err, OBOL_ERR_BACKEND,
                                       "redis cluster: slots kept moving "
                                       "during %d passes of the walk, so it "
                                       "may have missed records; try again",
                                       REDIS_WALK_MAX_PASSES);
    free(before.data);
    free(after.data);
    return status;
}

int redis_walk(redis_router *r, const char *escaped_prefix,
               const char *suffix, redis_walk_fn fn, void *arg,
               obol_error *err)
{
    char *pattern = redis_keys_pattern(escaped_prefix, suffix);
    int status;

    if (pattern == NULL)
        return nomem(err);
    if (redis_topology_is_cluster(r->topology)) {
        status = walk_cluster(r, pattern, escaped_prefix, suffix, fn, arg,
                              err);
    } else {
        redis_node *server;
        size_t count;
        status = redis_topology_known_masters(r->topology,
                                              redis_router_deadline(r),
                                              &server, 1, &count, err);
        if (status == OBOL_OK)
            status = scan_node(r, server, pattern, escaped_prefix, suffix, fn,
                               arg, err);
    }
    free(pattern);
    return status;
}

/* ------------------------------------------------------------ prefixes */

#define PREFIX_SCAN_COUNT_TEXT "1000"

static int visit_prefixes(const redisReply *names,
                          obol_driver_prefix_visit visit, void *arg,
                          obol_error *err)
{
    int status = OBOL_OK;

    for (size_t i = 0; i < names->elements && status == OBOL_OK; i++) {
        const redisReply *name = names->element[i];
        uint8_t *prefix = NULL;
        size_t prefix_len;
        int out_of_memory;

        if (name->type != REDIS_REPLY_STRING)
            continue;
        if (redis_keys_prefix_of(name->str, name->len,
                                 redis_key_suffix[REDIS_KEY_REC], &prefix,
                                 &prefix_len, &out_of_memory) != 0) {
            if (out_of_memory)
                status = nomem(err);
            continue;   /* someone else's key */
        }
        status = visit(arg, (obol_bytes){ prefix, prefix_len });
        free(prefix);
    }
    return status;
}

/* SCAN of one node for record hashes of any prefix, at most
 * REDIS_PREFIXES_SCAN_CALLS calls; *ended says whether it reached the
 * end of the cursor. */
static int scan_prefixes(redis_router *r, redis_node *node,
                         obol_driver_prefix_visit visit, void *arg,
                         int *ended, obol_error *err)
{
    static const char pattern[] = "*:{*}:rec";
    char cursor[32] = "0";
    int status = OBOL_OK;

    for (int calls = 0; calls < REDIS_PREFIXES_SCAN_CALLS; calls++) {
        const char *argv[6] = { "SCAN", cursor, "MATCH", pattern, "COUNT",
                                PREFIX_SCAN_COUNT_TEXT };
        size_t argv_len[6] = { 4, strlen(cursor), 5, sizeof pattern - 1, 5,
                               sizeof PREFIX_SCAN_COUNT_TEXT - 1 };
        redisReply *reply = NULL;

        status = ask(r, node, "SCAN", 6, argv, argv_len, &reply, err);
        if (status != OBOL_OK)
            return status;
        if (reply->type != REDIS_REPLY_ARRAY || reply->elements != 2 ||
            reply->element[0]->type != REDIS_REPLY_STRING ||
            reply->element[0]->len >= sizeof cursor ||
            reply->element[1]->type != REDIS_REPLY_ARRAY) {
            redis_reply_free(reply);
            return unexpected(node, "SCAN", err);
        }
        memcpy(cursor, reply->element[0]->str, reply->element[0]->len);
        cursor[reply->element[0]->len] = '\0';
        status = visit_prefixes(reply->element[1], visit, arg, err);
        redis_reply_free(reply);
        if (status != OBOL_OK || strcmp(cursor, "0") == 0)
            break;
    }
    *ended = strcmp(cursor, "0") == 0;
    return status;
}

int redis_walk_prefixes(redis_router *r, obol_driver_prefix_visit visit,
                        void *arg, int *complete, obol_error *err)
{
    redis_node *masters[MAX_MASTERS];
    size_t count = 0;
    int status = redis_topology_known_masters(r->topology,
                                              redis_router_deadline(r),
                                              masters, MAX_MASTERS, &count,
                                              err);

    *complete = 1;
    for (size_t m = 0; m < count && status == OBOL_OK; m++) {
        int ended = 0;

        status = scan_prefixes(r, masters[m], visit, arg, &ended, err);
        if (!ended)
            *complete = 0;
    }
    if (status != OBOL_OK)
        *complete = 0;
    return status;
}

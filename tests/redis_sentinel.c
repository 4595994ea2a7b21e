/* A private Redis Sentinel setup for tests and benchmarks; see
 * redis_sentinel.h. */
#define _POSIX_C_SOURCE 200809L
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "redis_sentinel.h"

#define POLL_MS 50
#define MAX_NODES 8
#define MAX_SENTINELS 8

struct redis_sentinel {
    size_t node_count, sentinel_count;
    int tls;
    redis_harness *nodes[MAX_NODES];
    redis_harness *sentinels[MAX_SENTINELS];
    char url[1024];
    char why[256];            /* why the last look found it unsettled */
};

static long long now_ms(void)
{
    return (long long)redis_harness_monotonic_ms();
}

static int is_up(redis_harness *h)
{
    return h != NULL && redis_harness_state(h) == REDIS_HARNESS_UP;
}

static int unsettled(redis_sentinel *s, const char *fmt, const char *what,
                     unsigned port)
{
    snprintf(s->why, sizeof s->why, fmt, what, port);
    return 0;
}

/* The value of "name:value" in INFO text, or "" when missing. */
static void info_field(const char *text, const char *name, char *out,
                       size_t size)
{
    size_t name_len = strlen(name);

    out[0] = '\0';
    for (const char *line = text; *line != '\0';) {
        size_t len = strcspn(line, "\r\n");
        if (len > name_len && strncmp(line, name, name_len) == 0 &&
            line[name_len] == ':') {
            snprintf(out, size, "%.*s", (int)(len - name_len - 1),
                     line + name_len + 1);
            return;
        }
        line += len;
        line += strspn(line, "\r\n");
    }
}

/* INFO replication of a node: role, and for a replica its master's port
 * and link; 0, or -1 when it did not answer. */
typedef struct node_role {
    char role[16], link[16];
    unsigned master_port;
} node_role;

static int role_of(redis_harness *node, node_role *out)
{
    redisContext *c = is_up(node) ? redis_harness_client(node) : NULL;
    redisReply *reply = redis_harness_command(c, "INFO replication");
    char port[16];
    int ok = reply != NULL && reply->type == REDIS_REPLY_STRING;

    if (ok) {
        info_field(reply->str, "role", out->role, sizeof out->role);
        info_field(reply->str, "master_link_status", out->link,
                   sizeof out->link);
        info_field(reply->str, "master_port", port, sizeof port);
        out->master_port = (unsigned)strtoul(port, NULL, 10);
    }
    freeReplyObject(reply);
    if (c != NULL)
        redisFree(c);
    return ok ? 0 : -1;
}

static int node_of_port(const redis_sentinel *s, unsigned port)
{
    for (size_t i = 0; i < s->node_count; i++)
        if (redis_harness_port(s->nodes[i]) == port)
            return (int)i;
    return -1;
}

/* The port one Sentinel names for the master; 0 when it does not. */
static unsigned named_by(redis_harness *sentinel)
{
    redisContext *c = is_up(sentinel) ? redis_harness_client(sentinel) : NULL;
    redisReply *reply = redis_harness_command(
        c, "SENTINEL get-master-addr-by-name %s", REDIS_SENTINEL_MASTER_NAME);
    unsigned port = 0;

    if (reply != NULL && reply->type == REDIS_REPLY_ARRAY &&
        reply->elements == 2 && reply->element[1]->type == REDIS_REPLY_STRING)
        port = (unsigned)strtoul(reply->element[1]->str, NULL, 10);
    freeReplyObject(reply);
    if (c != NULL)
        redisFree(c);
    return port;
}

int redis_sentinel_master(redis_sentinel *s)
{
    unsigned agreed = 0;
    node_role role;
    int master;

    for (size_t k = 0; k < s->sentinel_count; k++) {
        unsigned port;
        if (!is_up(s->sentinels[k]))
            continue;
        port = named_by(s->sentinels[k]);
        if (port == 0 || (agreed != 0 && port != agreed))
            return unsettled(s, "sentinel %s%u: no agreement on the master",
                             "", redis_harness_port(s->sentinels[k])) - 1;
        agreed = port;
    }
    master = node_of_port(s, agreed);
    if (master < 0 || !is_up(s->nodes[master]) ||
        role_of(s->nodes[master], &role) != 0 ||
        strcmp(role.role, "master") != 0)
        return unsettled(s, "node %s%u: named, but not up as a master", "",
                         agreed) - 1;
    return master;
}

int redis_sentinel_wait_master(redis_sentinel *s, int not_this,
                               int timeout_ms)
{
    long long deadline = now_ms() + timeout_ms;

    for (;;) {
        int master = redis_sentinel_master(s);
        if (master >= 0 && master != not_this)
            return master;
        if (master >= 0)
            unsettled(s, "%snode %u is still the master", "",
                      redis_harness_port(s->nodes[master]));
        if (now_ms() >= deadline) {
            fprintf(stderr, "redis sentinel: no new master after %d ms "
                            "(%s)\n", timeout_ms, s->why);
            return -1;
        }
        redis_harness_sleep_ms(POLL_MS);
    }
}

int redis_sentinel_failover(redis_sentinel *s, int timeout_ms)
{
    long long deadline = now_ms() + timeout_ms;
    int before = redis_sentinel_master(s);

    for (;;) {
        redis_harness *sentinel = NULL;
        redisContext *c;
        redisReply *reply;
        int ok;

        for (size_t k = 0; k < s->sentinel_count && sentinel == NULL; k++)
            if (is_up(s->sentinels[k]))
                sentinel = s->sentinels[k];
        c = sentinel != NULL ? redis_harness_client(sentinel) : NULL;
        reply = redis_harness_command(c, "SENTINEL FAILOVER %s",
                                      REDIS_SENTINEL_MASTER_NAME);
        ok = reply != NULL && reply->type == REDIS_REPLY_STATUS;
        /* INPROG or NOGOODSLAVE: a failover just ended, or the replicas
         * are not known good yet; ask again shortly. */
        if (!ok && now_ms() >= deadline)
            fprintf(stderr, "redis sentinel: SENTINEL FAILOVER: %s\n",
                    reply != NULL && reply->str != NULL ? reply->str
                                                        : "no reply");
        freeReplyObject(reply);
        if (c != NULL)
            redisFree(c);
        if (ok)
            break;
        if (now_ms() >= deadline)
            return -1;
        redis_harness_sleep_ms(200);
    }
    return redis_sentinel_wait_master(s, before,
                                      (int)(deadline - now_ms() > 0
                                                ? deadline - now_ms()
                                                : 1));
}

int redis_sentinel_demote(redis_sentinel *s, size_t i)
{
    int master = redis_sentinel_master(s);
    redisContext *c;
    int status;

    if (master < 0 || (size_t)master == i || i >= s->node_count)
        return -1;
    c = redis_harness_client(s->nodes[i]);
    status = redis_harness_run(c, "REPLICAOF 127.0.0.1 %u",
                               redis_harness_port(s->nodes[master]));
    if (c != NULL)
        redisFree(c);
    return status;
}

/* Whether one Sentinel lists count replicas of the master in good
 * standing (flags "slave" alone, link ok). */
static int sentinel_sees_replicas(redis_sentinel *s, redis_harness *sentinel,
                                  size_t count)
{
    redisContext *c = redis_harness_client(sentinel);
    redisReply *reply = redis_harness_command(c, "SENTINEL REPLICAS %s",
                                              REDIS_SENTINEL_MASTER_NAME);
    size_t good = 0;

    for (size_t r = 0; reply != NULL && reply->type == REDIS_REPLY_ARRAY &&
                       r < reply->elements;
         r++) {
        const redisReply *fields = reply->element[r];
        int flags_ok = 0, link_ok = 0;

        for (size_t f = 0; f + 1 < fields->elements; f += 2) {
            const char *name = fields->element[f]->str;
            const char *value = fields->element[f + 1]->str;
            if (name == NULL || value == NULL)
                continue;
            if (strcmp(name, "flags") == 0)
                flags_ok = strcmp(value, "slave") == 0;
            if (strcmp(name, "master-link-status") == 0)
                link_ok = strcmp(value, "ok") == 0;
        }
        good += flags_ok && link_ok;
    }
    freeReplyObject(reply);
    if (c != NULL)
        redisFree(c);
    if (good < count)
        return unsettled(s, "sentinel %s%u: too few good replicas", "",
                         redis_harness_port(sentinel));
    return 1;
}

/* Every Sentinel that is up knows every other one. */
static int sentinels_know_each_other(redis_sentinel *s)
{
    size_t up = 0;

    for (size_t k = 0; k < s->sentinel_count; k++)
        up += is_up(s->sentinels[k]);
    for (size_t k = 0; k < s->sentinel_count; k++) {
        redisContext *c;
        redisReply *reply;
        size_t known;

        if (!is_up(s->sentinels[k]))
            continue;
        c = redis_harness_client(s->sentinels[k]);
        reply = redis_harness_command(c, "SENTINEL SENTINELS %s",
                                      REDIS_SENTINEL_MASTER_NAME);
        known = reply != NULL && reply->type == REDIS_REPLY_ARRAY
                    ? reply->elements
                    : 0;
        freeReplyObject(reply);
        if (c != NULL)
            redisFree(c);
        /* Those down count too: a Sentinel forgets none. */
        if (known + 1 < up)
            return unsettled(s, "sentinel %s%u: does not know the others",
                             "", redis_harness_port(s->sentinels[k]));
    }
    return 1;
}

static int linked(redis_sentinel *s)
{
    int master = redis_sentinel_master(s);
    size_t replicas = 0;

    if (master < 0)
        return 0;
    for (size_t i = 0; i < s->node_count; i++) {
        node_role role;
        if ((int)i == master || !is_up(s->nodes[i]))
            continue;
        if (role_of(s->nodes[i], &role) != 0 ||
            strcmp(role.role, "slave") != 0 || strcmp(role.link, "up") != 0 ||
            role.master_port != redis_harness_port(s->nodes[master]))
            return unsettled(s, "node %s%u: not a linked replica", "",
                             redis_harness_port(s->nodes[i]));
        replicas++;
    }
    /* One good replica is what a failover needs; a demoted master is
     * seen as one only at the Sentinels' next INFO, up to 10 s later. */
    for (size_t k = 0; k < s->sentinel_count; k++)
        if (is_up(s->sentinels[k]) &&
            !sentinel_sees_replicas(s, s->sentinels[k],
                                    replicas > 0 ? 1 : 0))
            return 0;
    return sentinels_know_each_other(s);
}

int redis_sentinel_wait_linked(redis_sentinel *s, int timeout_ms)
{
    long long deadline = now_ms() + timeout_ms;

    while (!linked(s)) {
        if (now_ms() >= deadline) {
            fprintf(stderr, "redis sentinel: not settled after %d ms (%s)\n",
                    timeout_ms, s->why);
            return -1;
        }
        redis_harness_sleep_ms(POLL_MS);
    }
    return 0;
}

/* ------------------------------------------------------------ starting */

/* With TLS: TLS only, the certificates of the first server for all, and
 * TLS for what servers say to each other (replication, Sentinel links). */
static void use_tls(const redis_sentinel *s, redis_harness_options *options,
                    const char **args, size_t *argc)
{
    if (!s->tls)
        return;
    options->tls = REDIS_HARNESS_TLS_ONLY;
    options->tls_peers = 1;
    if (s->nodes[0] != NULL)
        options->tls_dir = redis_harness_tls_dir(s->nodes[0]);
    args[(*argc)++] = "--tls-replication";
    args[(*argc)++] = "yes";
    args[*argc] = NULL;
}

static int start_nodes(redis_sentinel *s)
{
    const char *args[12] = { "--masterauth", REDIS_SENTINEL_DATA_PASSWORD,
                             "--repl-diskless-sync-delay", "0",
                             "--repl-ping-replica-period", "1", NULL };
    size_t argc = 6;
    redis_harness_options options = {
        .requirepass = REDIS_SENTINEL_DATA_PASSWORD, .extra_args = args
    };

    use_tls(s, &options, args, &argc);
    for (size_t i = 0; i < s->node_count; i++) {
        s->nodes[i] = redis_harness_start(&options);
        if (s->nodes[i] == NULL)
            return -1;
        /* The first made the certificates; the others use them. */
        if (s->tls)
            options.tls_dir = redis_harness_tls_dir(s->nodes[0]);
    }
    /* REPLICAOF once started rather than --replicaof, which a restart
     * would pass again whoever the master is by then. */
    for (size_t i = 1; i < s->node_count; i++) {
        redisContext *c = redis_harness_client(s->nodes[i]);
        int status = redis_harness_run(c, "REPLICAOF 127.0.0.1 %u",
                                       redis_harness_port(s->nodes[0]));
        if (c != NULL)
            redisFree(c);
        if (status != 0)
            return -1;
    }
    return 0;
}

static int start_sentinels(redis_sentinel *s, const redis_sentinel_options *o)
{
    const char *args[8] = { "--sentinel", NULL };
    size_t argc = 1;
    char text[1024];
    redis_harness_options options = { .requirepass = REDIS_SENTINEL_PASSWORD,
                                      .extra_args = args,
                                      .config_text = text };
    int quorum = (int)s->sentinel_count / 2 + 1;

    use_tls(s, &options, args, &argc);

    /* The Sentinels log in to the data nodes with auth-pass and to each
     * other with sentinel-pass. */
    snprintf(text, sizeof text,
             "sentinel monitor %s 127.0.0.1 %u %d\n"
             "sentinel down-after-milliseconds %s %d\n"
             "sentinel failover-timeout %s %d\n"
             "sentinel auth-pass %s %s\n"
             "sentinel sentinel-pass %s\n",
             REDIS_SENTINEL_MASTER_NAME, redis_harness_port(s->nodes[0]),
             quorum, REDIS_SENTINEL_MASTER_NAME, o->down_after_ms,
             REDIS_SENTINEL_MASTER_NAME, o->failover_timeout_ms,
             REDIS_SENTINEL_MASTER_NAME, REDIS_SENTINEL_DATA_PASSWORD,
             REDIS_SENTINEL_PASSWORD);
    for (size_t k = 0; k < s->sentinel_count; k++) {
        s->sentinels[k] = redis_harness_start(&options);
        if (s->sentinels[k] == NULL)
            return -1;
    }
    return 0;
}

static void build_url(redis_sentinel *s)
{
    size_t used = (size_t)snprintf(s->url, sizeof s->url,
                                   "%s://127.0.0.1:%u/%s",
                                   s->tls ? "rediss+sentinel"
                                          : "redis+sentinel",
                                   redis_harness_port(s->sentinels[0]),
                                   REDIS_SENTINEL_MASTER_NAME);

    for (size_t k = 1; k < s->sentinel_count; k++)
        used += (size_t)snprintf(s->url + used, sizeof s->url - used,
                                 "%s127.0.0.1:%u",
                                 k == 1 ? "?sentinels=" : ",",
                                 redis_harness_port(s->sentinels[k]));
    used += (size_t)snprintf(s->url + used, sizeof s->url - used,
                             "%cpassword=env:OBOL_TEST_REDIS_PASSWORD"
                             "&sentinel_password=env:"
                             "OBOL_TEST_SENTINEL_PASSWORD",
                             s->sentinel_count > 1 ? '&' : '?');
    if (s->tls)
        snprintf(s->url + used, sizeof s->url - used, "&tls_ca=%s/ca.crt",
                 redis_harness_tls_dir(s->nodes[0]));
}

static void report_failure(const redis_sentinel *s, const char *what)
{
    fprintf(stderr, "redis sentinel: %s (%s)\n", what, s->why);
    for (size_t i = 0; i < s->node_count; i++)
        if (s->nodes[i] != NULL)
            redis_harness_print_log_tail(s->nodes[i], 10);
    for (size_t k = 0; k < s->sentinel_count; k++)
        if (s->sentinels[k] != NULL)
            redis_harness_print_log_tail(s->sentinels[k], 15);
}

redis_sentinel *redis_sentinel_start(const redis_sentinel_options *options)
{
    const redis_sentinel_options defaults = REDIS_SENTINEL_OPTIONS_INIT;
    const redis_sentinel_options *o = options != NULL ? options : &defaults;
    redis_sentinel *s;

    if (o->replicas < 1 || o->replicas + 1 > MAX_NODES || o->sentinels < 1 ||
        o->sentinels > MAX_SENTINELS) {
        fprintf(stderr, "redis sentinel: bad options\n");
        return NULL;
    }
    s = calloc(1, sizeof *s);
    if (s == NULL)
        return NULL;
    s->node_count = 1 + o->replicas;
    s->sentinel_count = o->sentinels;
    s->tls = o->tls;
    setenv("OBOL_TEST_REDIS_PASSWORD", REDIS_SENTINEL_DATA_PASSWORD, 1);
    setenv("OBOL_TEST_SENTINEL_PASSWORD", REDIS_SENTINEL_PASSWORD, 1);
    if (start_nodes(s) != 0 || start_sentinels(s, o) != 0) {
        report_failure(s, "a server did not start");
        redis_sentinel_stop(s);
        return NULL;
    }
    build_url(s);
    if (redis_sentinel_wait_linked(s, o->start_timeout_ms) != 0) {
        report_failure(s, "the setup did not settle");
        redis_sentinel_stop(s);
        return NULL;
    }
    return s;
}

void redis_sentinel_stop(redis_sentinel *s)
{
    if (s == NULL)
        return;
    for (size_t k = 0; k < s->sentinel_count; k++)
        redis_harness_stop(s->sentinels[k]);
    for (size_t i = 0; i < s->node_count; i++)
        redis_harness_stop(s->nodes[i]);
    free(s);
}

size_t redis_sentinel_nodes(const redis_sentinel *s)
{
    return s->node_count;
}

redis_harness *redis_sentinel_node(const redis_sentinel *s, size_t i)
{
    return i < s->node_count ? s->nodes[i] : NULL;
}

size_t redis_sentinel_count(const redis_sentinel *s)
{
    return s->sentinel_count;
}

redis_harness *redis_sentinel_sentinel(const redis_sentinel *s, size_t k)
{
    return k < s->sentinel_count ? s->sentinels[k] : NULL;
}

const char *redis_sentinel_url(const redis_sentinel *s)
{
    return s->url;
}

redisContext *redis_sentinel_client(const redis_sentinel *s, size_t i)
{
    return i < s->node_count ? redis_harness_client(s->nodes[i]) : NULL;
}

/* A private Redis Cluster for tests and benchmarks; see redis_cluster.h. */
#define _POSIX_C_SOURCE 200809L
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "../drivers/redis/redis_slot.h"
#include "redis_cluster.h"

/* A node id is 40 hex digits. */
#define NODE_ID_SIZE 41

/* Polling, not sleeping: a cluster settles in tens of milliseconds once
 * it can, and a test should not wait longer than that. */
#define POLL_MS 50

/* Commands to a node: long enough for a loaded node, short enough that a
 * stalled one does not hold a test for long. MIGRATE waits up to 5 s for
 * the target itself, so its client waits longer. */
#define QUERY_TIMEOUT_MS 1000
#define MIGRATE_TIMEOUT_MS 6000

/* After a migration: the new owner tells every node at once, but a
 * replica may hear of it only with its master's next ping (1 s). */
#define SETTLE_TIMEOUT_MS 10000

struct redis_cluster {
    size_t size;
    size_t masters;           /* as started */
    redis_harness **nodes;
    char (*ids)[NODE_ID_SIZE];
    char *url;
    int node_timeout_ms;
    int tls;
    char why[256];            /* why the last look found it unsettled */
};

/* ------------------------------------------------------------- time */

static long long now_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* ------------------------------------------------------ talking to nodes */

static int node_is_up(const redis_cluster *c, size_t i)
{
    return i < c->size &&
           redis_harness_state(c->nodes[i]) == REDIS_HARNESS_UP;
}

/* A short-lived connection to node i, NULL when it is not up or does not
 * accept. A fresh one each time: a node may have been killed and restarted
 * behind a kept one. */
static redisContext *node_link(const redis_cluster *c, size_t i,
                               int timeout_ms)
{
    if (!node_is_up(c, i))
        return NULL;
    /* Through the unix socket when the node speaks only TLS. */
    return redis_harness_client_timeout(c->nodes[i], timeout_ms);
}

/* A reply of the expected type, or NULL (and the reply freed). */
static redisReply *expect(redisReply *reply, int type)
{
    if (reply != NULL && reply->type != type) {
        freeReplyObject(reply);
        return NULL;
    }
    return reply;
}

/* The value of "name:value\r\n" in INFO-style text (INFO, CLUSTER INFO). */
static int info_field(const char *text, const char *name, char *out,
                      size_t size)
{
    size_t name_len = strlen(name);

    for (const char *line = text; line != NULL && *line != '\0';) {
        const char *end = strpbrk(line, "\r\n");
        size_t len = end != NULL ? (size_t)(end - line) : strlen(line);

        if (len > name_len && strncmp(line, name, name_len) == 0 &&
            line[name_len] == ':') {
            snprintf(out, size, "%.*s", (int)(len - name_len - 1),
                     line + name_len + 1);
            return 0;
        }
        line = end != NULL ? end + strspn(end, "\r\n") : NULL;
    }
    return -1;
}

/* The text of an INFO-style command (INFO, CLUSTER INFO); NULL when none
 * came. */
static redisReply *query_text(redisContext *ctx, const char *command)
{
    return expect(redis_harness_command(ctx, command), REDIS_REPLY_STRING);
}

enum { ROLE_MASTER, ROLE_REPLICA_LINKED, ROLE_REPLICA_UNLINKED };

static int role_in_info(const char *info)
{
    char role[32], link[32];

    if (info_field(info, "role", role, sizeof role) != 0)
        return -1;
    if (strcmp(role, "master") == 0)
        return ROLE_MASTER;
    if (info_field(info, "master_link_status", link, sizeof link) != 0)
        return -1;
    return strcmp(link, "up") == 0 ? ROLE_REPLICA_LINKED
                                   : ROLE_REPLICA_UNLINKED;
}

static int link_role(redisContext *ctx)
{
    redisReply *info = query_text(ctx, "INFO replication");
    int role = info != NULL ? role_in_info(info->str) : -1;

    freeReplyObject(info);
    return role;
}

static int node_role(const redis_cluster *c, size_t i)
{
    redisContext *ctx = node_link(c, i, QUERY_TIMEOUT_MS);
    int role = ctx != NULL ? link_role(ctx) : -1;

    if (ctx != NULL)
        redisFree(ctx);
    return role;
}

static int index_of_id(const redis_cluster *c, const char *id, size_t len)
{
    for (size_t i = 0; i < c->size; i++)
        if (len == strlen(c->ids[i]) && memcmp(c->ids[i], id, len) == 0)
            return (int)i;
    return -1;
}

/* ------------------------------------------------------------ slot map */

/* What one node says about who serves what (CLUSTER SLOTS), by node
 * index, so that two nodes' views compare with memcmp(). */
typedef struct slot_view {
    int16_t owner[REDIS_CLUSTER_SLOTS];  /* -1: unassigned */
    int16_t master_of[];                 /* per node: -1 unless listed as
                                            a replica */
} slot_view;

static size_t slot_view_size(const redis_cluster *c)
{
    return sizeof(slot_view) + c->size * sizeof(int16_t);
}

static slot_view *slot_view_new(const redis_cluster *c)
{
    return malloc(slot_view_size(c));
}

/* The node index in one entry [ip, port, id, ...] of CLUSTER SLOTS. */
static int entry_node(const redis_cluster *c, const redisReply *entry)
{
    const redisReply *id;

    if (entry->type != REDIS_REPLY_ARRAY || entry->elements < 3)
        return -1;
    id = entry->element[2];
    return id->type == REDIS_REPLY_STRING ? index_of_id(c, id->str, id->len)
                                          : -1;
}

/* One range [start, end, master, replica...] into view; -1 if malformed
 * or naming a node not of this cluster. */
static int read_range(const redis_cluster *c, const redisReply *range,
                      slot_view *view)
{
    long long start, end;
    int master;

    if (range->type != REDIS_REPLY_ARRAY || range->elements < 3 ||
        range->element[0]->type != REDIS_REPLY_INTEGER ||
        range->element[1]->type != REDIS_REPLY_INTEGER)
        return -1;
    start = range->element[0]->integer;
    end = range->element[1]->integer;
    master = entry_node(c, range->element[2]);
    if (start < 0 || end >= REDIS_CLUSTER_SLOTS || start > end || master < 0)
        return -1;
    for (long long slot = start; slot <= end; slot++)
        view->owner[slot] = (int16_t)master;
    for (size_t k = 3; k < range->elements; k++) {
        int replica = entry_node(c, range->element[k]);
        if (replica < 0)
            return -1;
        view->master_of[replica] = (int16_t)master;
    }
    return 0;
}

static int link_slot_view(const redis_cluster *c, redisContext *ctx,
                          slot_view *view)
{
    redisReply *reply = expect(redis_harness_command(ctx, "CLUSTER SLOTS"),
                               REDIS_REPLY_ARRAY);
    int status = reply != NULL ? 0 : -1;

    for (size_t s = 0; s < REDIS_CLUSTER_SLOTS; s++)
        view->owner[s] = -1;
    for (size_t i = 0; i < c->size; i++)
        view->master_of[i] = -1;
    for (size_t k = 0; status == 0 && k < reply->elements; k++)
        status = read_range(c, reply->element[k], view);
    freeReplyObject(reply);
    return status;
}

/* ------------------------------------------------------------- settling */

static int unsettled(redis_cluster *c, size_t i, const char *what)
{
    snprintf(c->why, sizeof c->why, "node %zu (port %u): %s", i,
             redis_cluster_port(c, i), what);
    return 0;
}

/* Whether node i, over ctx, says the cluster is whole: state ok and every
 * node known. */
static int link_state_ok(redis_cluster *c, size_t i, redisContext *ctx)
{
    char state[32], known[32];
    redisReply *info = query_text(ctx, "CLUSTER INFO");
    int read = info != NULL &&
               info_field(info->str, "cluster_state", state,
                          sizeof state) == 0 &&
               info_field(info->str, "cluster_known_nodes", known,
                          sizeof known) == 0;

    freeReplyObject(info);
    if (!read)
        return unsettled(c, i, "no CLUSTER INFO");
    if (strcmp(state, "ok") != 0)
        return unsettled(c, i, "cluster_state is not ok");
    if (strtoul(known, NULL, 10) != c->size)
        return unsettled(c, i, "does not know every node yet");
    return 1;
}

/* One look at node i: whether it is settled and its view is the same as
 * first's (which it fills in when *has_first is 0). */
static int node_settled(redis_cluster *c, size_t i, int check_links,
                        slot_view *first, int *has_first, slot_view *view)
{
    redisContext *ctx = node_link(c, i, QUERY_TIMEOUT_MS);
    int settled = 0, role;

    if (ctx == NULL)
        return unsettled(c, i, "does not accept connections");
    if (link_state_ok(c, i, ctx) != 1)
        goto done;
    if (link_slot_view(c, ctx, *has_first ? view : first) != 0) {
        unsettled(c, i, "no readable CLUSTER SLOTS");
        goto done;
    }
    if (*has_first && memcmp(first, view, slot_view_size(c)) != 0) {
        unsettled(c, i, "its slot map differs from another node's");
        goto done;
    }
    *has_first = 1;
    role = check_links ? link_role(ctx) : ROLE_MASTER;
    if (role != ROLE_MASTER && role != ROLE_REPLICA_LINKED) {
        unsettled(c, i, "replica not linked to its master");
        goto done;
    }
    settled = 1;
done:
    redisFree(ctx);
    return settled;
}

/* Whether view shows as many masters serving slots, and replicas of
 * them, as were asked for. */
static int layout_complete(redis_cluster *c, const slot_view *view)
{
    size_t masters = 0, replicas = 0;

    for (size_t i = 0; i < c->size; i++) {
        replicas += view->master_of[i] >= 0;
        for (size_t slot = 0; slot < REDIS_CLUSTER_SLOTS; slot++)
            if (view->owner[slot] == (int16_t)i) {
                masters++;
                break;
            }
    }
    if (masters != c->masters || replicas != c->size - c->masters) {
        snprintf(c->why, sizeof c->why, "%zu masters and %zu replicas so "
                 "far", masters, replicas);
        return 0;
    }
    return 1;
}

enum {
    CHECK_LINKS = 1,   /* every replica that is up is linked */
    CHECK_LAYOUT = 2   /* every node in its place (layout_complete()) */
};

/* Whether every node that is up is settled, all with the same view. */
static int cluster_settled(redis_cluster *c, int checks)
{
    slot_view *first = slot_view_new(c), *view = slot_view_new(c);
    int has_first = 0, settled = first != NULL && view != NULL;

    for (size_t i = 0; settled && i < c->size; i++)
        if (node_is_up(c, i))
            settled = node_settled(c, i, checks & CHECK_LINKS, first,
                                   &has_first, view);
    if (settled && (checks & CHECK_LAYOUT))
        settled = has_first && layout_complete(c, first);
    free(first);
    free(view);
    return settled;
}

typedef int (*cluster_check_fn)(redis_cluster *c, size_t i);

/* Polls done(c, i) until it holds; 0, or -1 after timeout_ms, the last
 * reason in c->why. */
static int poll_until(redis_cluster *c, cluster_check_fn done, size_t i,
                      long long timeout_ms)
{
    long long deadline = now_ms() + timeout_ms;

    c->why[0] = '\0';
    for (;;) {
        if (done(c, i))
            return 0;
        if (now_ms() >= deadline)
            return -1;
        redis_harness_sleep_ms(POLL_MS);
    }
}

/* poll_until(), saying on stderr what did not happen. */
static int wait_for(redis_cluster *c, cluster_check_fn done, size_t i,
                    long long timeout_ms, const char *what)
{
    if (poll_until(c, done, i, timeout_ms) == 0)
        return 0;
    fprintf(stderr, "redis cluster: %s: not after %lld ms (%s)\n", what,
            timeout_ms, c->why[0] != '\0' ? c->why : "no reason known");
    return -1;
}

static int is_stable(redis_cluster *c, size_t unused)
{
    (void)unused;
    return cluster_settled(c, 0);
}

/* Just started: redis-cli may be done before every replica is known as
 * one (they still answer role:master then), so the layout is checked
 * too. */
static int is_up_as_asked(redis_cluster *c, size_t unused)
{
    (void)unused;
    return cluster_settled(c, CHECK_LINKS | CHECK_LAYOUT);
}

static int is_promoted(redis_cluster *c, size_t i)
{
    if (node_role(c, i) != ROLE_MASTER)
        return unsettled(c, i, "not a master yet");
    return cluster_settled(c, CHECK_LINKS);
}

static int is_rejoined(redis_cluster *c, size_t i)
{
    if (node_role(c, i) != ROLE_REPLICA_LINKED)
        return unsettled(c, i, "not a linked replica yet");
    return cluster_settled(c, CHECK_LINKS);
}

int redis_cluster_wait_stable(redis_cluster *c, int timeout_ms)
{
    return wait_for(c, is_stable, 0, timeout_ms, "cluster stable");
}

int redis_cluster_wait_promoted(redis_cluster *c, size_t i, int timeout_ms)
{
    return wait_for(c, is_promoted, i, timeout_ms, "node promoted");
}

int redis_cluster_wait_rejoined(redis_cluster *c, size_t i, int timeout_ms)
{
    return wait_for(c, is_rejoined, i, timeout_ms, "node rejoined");
}

/* ------------------------------------------------------------- starting */

static void create_log_path(const redis_cluster *c, char *out, size_t size)
{
    snprintf(out, size, "%s/cluster-create.log",
             redis_harness_dir(c->nodes[0]));
}

static void report_failure(const redis_cluster *c, const char *what)
{
    char create_log[PATH_MAX];

    fprintf(stderr, "redis cluster: %s\n", what);
    if (c->nodes[0] != NULL) {
        create_log_path(c, create_log, sizeof create_log);
        redis_harness_print_file(create_log);
    }
    for (size_t i = 0; i < c->size; i++)
        if (c->nodes[i] != NULL)
            redis_harness_print_log_tail(c->nodes[i], 15);
}

static int options_valid(const redis_cluster_options *o)
{
    size_t extra = 0;

    while (o->extra_args != NULL && o->extra_args[extra] != NULL)
        extra++;
    if (o->masters < 3 || o->masters > 100 || o->replicas > 10 ||
        o->node_timeout_ms <= 0 || o->start_timeout_ms <= 0 ||
        extra > REDIS_HARNESS_EXTRA_ARGS_MAX - 16) {
        fprintf(stderr, "redis cluster: bad options (at least 3 masters; "
                        "start from REDIS_CLUSTER_OPTIONS_INIT)\n");
        return 0;
    }
    return 1;
}

static redis_cluster *cluster_new(const redis_cluster_options *o)
{
    redis_cluster *c = calloc(1, sizeof *c);

    if (c == NULL)
        return NULL;
    c->masters = o->masters;
    c->size = o->masters * (1 + o->replicas);
    c->node_timeout_ms = o->node_timeout_ms;
    c->tls = o->tls;
    c->nodes = calloc(c->size, sizeof *c->nodes);
    c->ids = calloc(c->size, sizeof *c->ids);
    if (c->nodes == NULL || c->ids == NULL) {
        redis_cluster_stop(c);
        return NULL;
    }
    return c;
}

/*
 * Cluster mode, with nodes.conf in the node's own directory (relative
 * paths are relative to it). A replica may always take over however long
 * it was cut off (validity factor 0): in a test, a failover that silently
 * does not happen is worse than stale data. A master serves a new replica
 * at once (no diskless sync delay, 5 s by default), and pings its replicas
 * every second rather than every 10: CLUSTER SLOTS lists a replica only
 * once its replication offset is not 0, which on an idle master only that
 * ping makes so.
 */
static int start_nodes(redis_cluster *c, const redis_cluster_options *o)
{
    char timeout[16];
    const char *args[REDIS_HARNESS_EXTRA_ARGS_MAX + 1] = {
        "--cluster-enabled", "yes",
        "--cluster-config-file", "nodes.conf",
        "--cluster-node-timeout", timeout,
        "--cluster-replica-validity-factor", "0",
        "--repl-diskless-sync-delay", "0",
        "--repl-ping-replica-period", "1",
    };
    size_t argc = 12;
    redis_harness_options node_options = { .extra_args = args,
                                           .bus_port_free = 1 };

    snprintf(timeout, sizeof timeout, "%d", o->node_timeout_ms);
    if (o->tls) {
        /* Nodes connect to each other with server.crt (tls_peers). */
        node_options.tls = REDIS_HARNESS_TLS_ONLY;
        node_options.tls_peers = 1;
        args[argc++] = "--tls-cluster";
        args[argc++] = "yes";
        args[argc++] = "--tls-replication";
        args[argc++] = "yes";
    }
    for (size_t k = 0; o->extra_args != NULL && o->extra_args[k] != NULL; k++)
        args[argc++] = o->extra_args[k];
    args[argc] = NULL;
    for (size_t i = 0; i < c->size; i++) {
        c->nodes[i] = redis_harness_start(&node_options);
        if (c->nodes[i] == NULL)
            return -1;
        /* Node 0 made the certificates; the others use them. */
        node_options.tls_dir = redis_harness_tls_dir(c->nodes[0]);
    }
    return 0;
}

/* redis-cli of the same installation as redis-server, when there is one
 * next to it: a redis-cli of another version may not know --cluster. */
static int find_cli(char *out, size_t size)
{
    const char *env = getenv("REDIS_CLI");
    /* The nodes run, so a server was found and this returns its path
     * without printing or exiting. */
    const char *server = redis_harness_require();
    const char *slash = strrchr(server, '/');

    if ((env == NULL || env[0] == '\0') && slash != NULL) {
        snprintf(out, size, "%.*s/redis-cli", (int)(slash - server), server);
        if (redis_harness_is_executable(out))
            return 0;
    }
    return redis_harness_find_program("REDIS_CLI", "redis-cli", out, size);
}

/* In the child: output to the log, no input, then redis-cli. */
static void exec_cli(const char *log_path, char *const argv[])
{
    int log_fd = open(log_path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    int null_fd = open("/dev/null", O_RDONLY);

    if (log_fd >= 0) {
        dup2(log_fd, STDOUT_FILENO);
        dup2(log_fd, STDERR_FILENO);
    }
    if (null_fd >= 0)
        dup2(null_fd, STDIN_FILENO);
    execv(argv[0], argv);
    fprintf(stderr, "exec %s: %s\n", argv[0], strerror(errno));
    _exit(127);
}

/* Waits for child until deadline, killing it then; its exit status, or -1
 * when it did not exit by itself with one. */
static int wait_child(pid_t child, long long deadline)
{
    int wstatus;

    for (;;) {
        pid_t done = waitpid(child, &wstatus, WNOHANG);
        if (done == child)
            return WIFEXITED(wstatus) ? WEXITSTATUS(wstatus) : -1;
        if (done < 0 && errno != EINTR)
            return -1;
        if (now_ms() >= deadline) {
            kill(child, SIGKILL);
            waitpid(child, NULL, 0);
            fprintf(stderr, "redis cluster: redis-cli did not finish\n");
            return -1;
        }
        redis_harness_sleep_ms(POLL_MS);
    }
}

/* Runs redis-cli --cluster create over every node; 0 when it succeeded.
 * Everything is built before fork(): the child of a threaded test may
 * only call async-signal-safe functions. */
static int create_cluster(redis_cluster *c, size_t replicas,
                          long long deadline)
{
    char cli[PATH_MAX], log_path[PATH_MAX], replica_count[16];
    char tls_files[3][PATH_MAX + 32];
    char (*addresses)[24] = calloc(c->size, sizeof *addresses);
    char **argv = calloc(c->size + 16, sizeof *argv);
    size_t argc = 0;
    int status = -1;
    pid_t child;

    if (addresses == NULL || argv == NULL || find_cli(cli, sizeof cli) != 0) {
        fprintf(stderr, "redis cluster: redis-cli not found (set "
                        "REDIS_CLI or PATH)\n");
        goto done;
    }
    create_log_path(c, log_path, sizeof log_path);
    snprintf(replica_count, sizeof replica_count, "%zu", replicas);
    argv[argc++] = cli;
    if (c->tls) {
        const char *dir = redis_harness_tls_dir(c->nodes[0]);
        snprintf(tls_files[0], sizeof tls_files[0], "%s/ca.crt", dir);
        snprintf(tls_files[1], sizeof tls_files[1], "%s/client.crt", dir);
        snprintf(tls_files[2], sizeof tls_files[2], "%s/client.key", dir);
        argv[argc++] = "--tls";
        argv[argc++] = "--cacert";
        argv[argc++] = tls_files[0];
        argv[argc++] = "--cert";
        argv[argc++] = tls_files[1];
        argv[argc++] = "--key";
        argv[argc++] = tls_files[2];
    }
    argv[argc++] = "--cluster";
    argv[argc++] = "create";
    for (size_t i = 0; i < c->size; i++) {
        snprintf(addresses[i], sizeof addresses[i], "127.0.0.1:%u",
                 redis_cluster_port(c, i));
        argv[argc++] = addresses[i];
    }
    argv[argc++] = "--cluster-replicas";
    argv[argc++] = replica_count;
    argv[argc++] = "--cluster-yes";
    fflush(stdout);
    fflush(stderr);
    child = fork();
    if (child == 0)
        exec_cli(log_path, argv);
    if (child > 0)
        status = wait_child(child, deadline);
    if (status != 0)
        fprintf(stderr, "redis cluster: %s --cluster create: exit status "
                        "%d\n", cli, status);
done:
    free(addresses);
    free(argv);
    return status == 0 ? 0 : -1;
}

static int read_ids(redis_cluster *c)
{
    for (size_t i = 0; i < c->size; i++) {
        redisContext *ctx = node_link(c, i, QUERY_TIMEOUT_MS);
        redisReply *reply = expect(redis_harness_command(ctx, "CLUSTER MYID"),
                                   REDIS_REPLY_STRING);
        int ok = reply != NULL && reply->len == NODE_ID_SIZE - 1;

        if (ok)
            memcpy(c->ids[i], reply->str, reply->len);
        freeReplyObject(reply);
        if (ctx != NULL)
            redisFree(ctx);
        if (!ok)
            return -1;
    }
    return 0;
}

/* Node 0, then the others as seeds: "127.0.0.1:65535," is 16 bytes. */
static int build_url(redis_cluster *c)
{
    const char *tls_dir = redis_harness_tls_dir(c->nodes[0]);
    size_t size = 64 + 16 * c->size + (tls_dir != NULL ? strlen(tls_dir) : 0);
    size_t used;

    c->url = malloc(size);
    if (c->url == NULL)
        return -1;
    used = (size_t)snprintf(c->url, size,
                            "%s://127.0.0.1:%u?nodes=",
                            c->tls ? "rediss+cluster" : "redis+cluster",
                            redis_cluster_port(c, 0));
    for (size_t i = 1; i < c->size; i++)
        used += (size_t)snprintf(c->url + used, size - used, "%s127.0.0.1:%u",
                                 i > 1 ? "," : "", redis_cluster_port(c, i));
    if (c->tls)
        snprintf(c->url + used, size - used, "&tls_ca=%s/ca.crt", tls_dir);
    return 0;
}

redis_cluster *redis_cluster_start(const redis_cluster_options *options)
{
    const redis_cluster_options defaults = REDIS_CLUSTER_OPTIONS_INIT;
    const redis_cluster_options *o = options != NULL ? options : &defaults;
    long long started = now_ms();
    redis_cluster *c;
    int left_ms;

    if (!options_valid(o) || (c = cluster_new(o)) == NULL)
        return NULL;
    if (start_nodes(c, o) != 0) {
        report_failure(c, "a node did not start");
        goto fail;
    }
    if (create_cluster(c, o->replicas, started + o->start_timeout_ms) != 0 ||
        read_ids(c) != 0) {
        report_failure(c, "redis-cli --cluster create failed");
        goto fail;
    }
    left_ms = (int)(started + o->start_timeout_ms - now_ms());
    if (wait_for(c, is_up_as_asked, 0, left_ms > 0 ? left_ms : 1,
                 "cluster up") != 0) {
        report_failure(c, "the cluster did not settle");
        goto fail;
    }
    if (build_url(c) == 0)
        return c;
fail:
    redis_cluster_stop(c);
    return NULL;
}

void redis_cluster_stop(redis_cluster *c)
{
    if (c == NULL)
        return;
    for (size_t i = 0; c->nodes != NULL && i < c->size; i++)
        redis_harness_stop(c->nodes[i]);
    free(c->nodes);
    free(c->ids);
    free(c->url);
    free(c);
}

/* ------------------------------------------------------------ accessors */

size_t redis_cluster_size(const redis_cluster *c)
{
    return c->size;
}

redis_harness *redis_cluster_node(const redis_cluster *c, size_t i)
{
    return i < c->size ? c->nodes[i] : NULL;
}

uint16_t redis_cluster_port(const redis_cluster *c, size_t i)
{
    return i < c->size ? redis_harness_port(c->nodes[i]) : 0;
}

const char *redis_cluster_node_id(const redis_cluster *c, size_t i)
{
    return i < c->size ? c->ids[i] : NULL;
}

const char *redis_cluster_url(const redis_cluster *c)
{
    return c->url;
}

redisContext *redis_cluster_client(const redis_cluster *c, size_t i)
{
    return i < c->size ? redis_harness_client(c->nodes[i]) : NULL;
}

/* ------------------------------------------------------------- topology */

/* The driver's own function, so that the tests check it against the
 * server's CLUSTER KEYSLOT. */
unsigned redis_cluster_key_slot(const char *key, size_t len)
{
    return redis_slot_of(key, len);
}

int redis_cluster_owner_seen_by(redis_cluster *c, size_t viewer,
                                unsigned slot)
{
    redisContext *ctx = node_link(c, viewer, QUERY_TIMEOUT_MS);
    slot_view *view = slot_view_new(c);
    int owner = -1;

    if (slot < REDIS_CLUSTER_SLOTS && ctx != NULL && view != NULL &&
        link_slot_view(c, ctx, view) == 0)
        owner = view->owner[slot];
    free(view);
    if (ctx != NULL)
        redisFree(ctx);
    return owner;
}

int redis_cluster_owner(redis_cluster *c, unsigned slot)
{
    for (size_t i = 0; i < c->size; i++) {
        int owner = node_is_up(c, i) ? redis_cluster_owner_seen_by(c, i, slot)
                                     : -1;
        if (owner >= 0)
            return owner;
    }
    return -1;
}

int redis_cluster_is_master(redis_cluster *c, size_t i)
{
    int role = node_role(c, i);

    return role < 0 ? -1 : role == ROLE_MASTER;
}

/* From one line of CLUSTER NODES ("id address flags master ..."): the
 * index of the node when it is a replica of master_id in good standing,
 * else -1. */
static int replica_in_line(const redis_cluster *c, const char *line,
                           const char *master_id)
{
    char id[NODE_ID_SIZE], flags[128], master[NODE_ID_SIZE];

    if (sscanf(line, "%40s %*s %127s %40s", id, flags, master) != 3)
        return -1;
    if (strcmp(master, master_id) != 0 || strstr(flags, "slave") == NULL ||
        strstr(flags, "fail") != NULL || strstr(flags, "noaddr") != NULL)
        return -1;
    return index_of_id(c, id, strlen(id));
}

static int replica_in_nodes(const redis_cluster *c, const char *nodes,
                            const char *master_id)
{
    for (const char *line = nodes; line != NULL && *line != '\0';) {
        int replica = replica_in_line(c, line, master_id);
        if (replica >= 0)
            return replica;
        line = strchr(line, '\n');
        if (line != NULL)
            line++;
    }
    return -1;
}

int redis_cluster_replica_of(redis_cluster *c, size_t master_index)
{
    for (size_t i = 0; master_index < c->size && i < c->size; i++) {
        redisContext *ctx = node_link(c, i, QUERY_TIMEOUT_MS);
        redisReply *reply = expect(redis_harness_command(ctx, "CLUSTER NODES"),
                                   REDIS_REPLY_STRING);
        int replica = -1, answered = reply != NULL;

        if (answered)
            replica = replica_in_nodes(c, reply->str, c->ids[master_index]);
        freeReplyObject(reply);
        if (ctx != NULL)
            redisFree(ctx);
        if (answered)
            return replica;
    }
    return -1;
}

/* ------------------------------------------------------------- commands */

/* One command on node i that must succeed; 0 or -1 (the error on
 * stderr). */
static int node_run(const redis_cluster *c, size_t i, const char *format,
                    ...)
{
    redisContext *ctx = node_link(c, i, QUERY_TIMEOUT_MS);
    redisReply *reply = NULL;
    va_list ap;
    int status;

    if (ctx != NULL) {
        va_start(ap, format);
        reply = redisvCommand(ctx, format, ap);
        va_end(ap);
    }
    status = reply != NULL && reply->type != REDIS_REPLY_ERROR ? 0 : -1;
    if (status != 0)
        fprintf(stderr, "redis cluster: node %zu: %s: %s\n", i, format,
                reply != NULL ? reply->str : "no reply");
    freeReplyObject(reply);
    if (ctx != NULL)
        redisFree(ctx);
    return status;
}

/*
 * Redis drops a manual failover that has not won an election within 5 s
 * (CLUSTER_MF_TIMEOUT), and a replica that ran an election less than
 * twice the failover auth timeout ago (4 x node timeout, at least 4 s)
 * does not start another one: failing over the same replica again soon
 * after its last election times out once. So a failover is asked for
 * again each time the previous request expired, within a bound that
 * leaves room for one such wait.
 */
#define MANUAL_FAILOVER_MS 5500

static long long failover_timeout_ms(const redis_cluster *c)
{
    long long auth_timeout_ms = 2LL * c->node_timeout_ms;

    if (auth_timeout_ms < 2000)
        auth_timeout_ms = 2000;
    return 2 * auth_timeout_ms + MANUAL_FAILOVER_MS + 1500;
}

static int send_failover(const redis_cluster *c, size_t i, const char *mode)
{
    return mode != NULL ? node_run(c, i, "CLUSTER FAILOVER %s", mode)
                        : node_run(c, i, "CLUSTER FAILOVER");
}

int redis_cluster_failover(redis_cluster *c, size_t i, const char *mode)
{
    long long deadline = now_ms() + failover_timeout_ms(c), left_ms;

    for (int asked = 0; (left_ms = deadline - now_ms()) > 0; asked++) {
        /* A master already (an earlier request won late): no new request,
         * which it would refuse; only the settling is left. The first
         * request goes out regardless, so that a master refuses it. */
        if (asked > 0 && node_role(c, i) == ROLE_MASTER)
            return redis_cluster_wait_promoted(c, i, (int)left_ms);
        if (send_failover(c, i, mode) != 0)
            return -1;
        if (poll_until(c, is_promoted, i,
                       left_ms < MANUAL_FAILOVER_MS ? left_ms
                                                    : MANUAL_FAILOVER_MS) == 0)
            return 0;
    }
    fprintf(stderr, "redis cluster: failover of node %zu: not after %lld "
                    "ms (%s)\n", i, failover_timeout_ms(c), c->why);
    return -1;
}

int redis_cluster_script_flush(redis_cluster *c)
{
    int status = 0;

    for (size_t i = 0; i < c->size; i++)
        if (node_is_up(c, i) && node_run(c, i, "SCRIPT FLUSH") != 0)
            status = -1;
    return status;
}

/* ------------------------------------------------------------ migration */

int redis_cluster_migrate_begin(redis_cluster *c, unsigned slot,
                                size_t target, redis_cluster_migration *m)
{
    int source = slot < REDIS_CLUSTER_SLOTS ? redis_cluster_owner(c, slot)
                                            : -1;

    if (source < 0 || (size_t)source == target ||
        redis_cluster_is_master(c, target) != 1) {
        fprintf(stderr, "redis cluster: cannot move slot %u (owner %d) to "
                        "node %zu\n", slot, source, target);
        return -1;
    }
    m->slot = slot;
    m->source = (size_t)source;
    m->target = target;
    /* Importing first: once the source says MIGRATING it sends clients to
     * the target with ASK, which must then accept them. */
    if (node_run(c, target, "CLUSTER SETSLOT %u IMPORTING %s", slot,
                 c->ids[source]) != 0 ||
        node_run(c, m->source, "CLUSTER SETSLOT %u MIGRATING %s", slot,
                 c->ids[target]) != 0)
        return -1;
    return 0;
}

/* MIGRATE one key; 1 on OK or NOKEY (it expired meanwhile), else -1. */
static int migrate_one(const redis_cluster *c, redisContext *source,
                       const redis_cluster_migration *m,
                       const redisReply *key)
{
    redisReply *reply = redis_harness_command(
        source, "MIGRATE 127.0.0.1 %u %b 0 5000 KEYS %b",
        redis_cluster_port(c, m->target), "", (size_t)0, key->str, key->len);
    int moved = reply != NULL && reply->type == REDIS_REPLY_STATUS;

    if (!moved)
        fprintf(stderr, "redis cluster: MIGRATE of a key of slot %u: %s\n",
                m->slot, reply != NULL && reply->str != NULL ? reply->str
                                                             : "no reply");
    freeReplyObject(reply);
    return moved ? 1 : -1;
}

int redis_cluster_migrate_key(redis_cluster *c,
                              const redis_cluster_migration *m)
{
    redisContext *source = node_link(c, m->source, MIGRATE_TIMEOUT_MS);
    redisReply *keys = expect(
        redis_harness_command(source, "CLUSTER GETKEYSINSLOT %u 1", m->slot),
        REDIS_REPLY_ARRAY);
    int status = -1;

    if (keys != NULL && keys->elements == 0)
        status = 0;
    else if (keys != NULL && keys->element[0]->type == REDIS_REPLY_STRING)
        status = migrate_one(c, source, m, keys->element[0]);
    freeReplyObject(keys);
    if (source != NULL)
        redisFree(source);
    return status;
}

int redis_cluster_migrate_finish(redis_cluster *c,
                                 const redis_cluster_migration *m)
{
    const char *target_id = c->ids[m->target];

    /* The target first, so that it owns the slot (with a new epoch) before
     * the source stops answering for it. */
    if (node_run(c, m->target, "CLUSTER SETSLOT %u NODE %s", m->slot,
                 target_id) != 0 ||
        node_run(c, m->source, "CLUSTER SETSLOT %u NODE %s", m->slot,
                 target_id) != 0)
        return -1;
    for (size_t i = 0; i < c->size; i++) {
        if (i == m->source || i == m->target ||
            redis_cluster_is_master(c, i) != 1)
            continue;
        if (node_run(c, i, "CLUSTER SETSLOT %u NODE %s", m->slot,
                     target_id) != 0)
            return -1;
    }
    return redis_cluster_wait_stable(c, SETTLE_TIMEOUT_MS);
}

int redis_cluster_migrate_slot(redis_cluster *c, unsigned slot,
                               size_t target, redis_cluster_step_fn between,
                               void *arg)
{
    redis_cluster_migration m;
    int moved;

    if (redis_cluster_migrate_begin(c, slot, target, &m) != 0)
        return -1;
    while ((moved = redis_cluster_migrate_key(c, &m)) == 1)
        if (between != NULL)
            between(arg);
    if (moved < 0)
        return -1;
    return redis_cluster_migrate_finish(c, &m);
}

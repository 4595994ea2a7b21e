/*
 * The store on a real Redis Cluster through what clusters do every day:
 * slots moving under load, scripts flushed, a coordinated failover, a
 * master stalled, a master killed. One cluster (three masters, three
 * replicas, cluster-node-timeout 2000 ms) serves every case; the cases
 * that kill or fail over run last and leave a working cluster behind.
 * Everything goes through the public API, checked from raw clients.
 */
#define _POSIX_C_SOURCE 200809L
#include "config.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <hiredis.h>
#include <obol/obol.h>

#include "redis_cluster.h"
#include "redis_harness.h"
#include "store_checks.h"

static redis_cluster *cluster;
static int prefix_counter;
static char prefix[32];

static const uint8_t signing_key[32] = {
    0x63, 0x6c, 0x75, 0x73, 0x74, 0x65, 0x72, 0x2d, 0x66, 0x61, 0x75, 0x6c,
    0x74, 0x2d, 0x74, 0x65, 0x73, 0x74, 0x2d, 0x6b, 0x65, 0x79, 0x2d, 0x30,
    0x31, 0x32, 0x33, 0x34, 0x35, 0x36, 0x37, 0x38,
};

static int group_setup(void **state)
{
    (void)state;
    cluster = redis_cluster_start(NULL);
    return cluster != NULL ? 0 : -1;
}

static int group_teardown(void **state)
{
    (void)state;
    redis_cluster_stop(cluster);
    return 0;
}

static int test_setup(void **state)
{
    (void)state;
    snprintf(prefix, sizeof prefix, "cf%d", ++prefix_counter);
    return 0;
}

/* -------------------------------------------------------------- helpers */

static int64_t now_s(void)
{
    return (int64_t)time(NULL);
}

/* A store on the cluster under this test's prefix. */
static obol_store *open_store(const char *options)
{
    return open_store_with_key(redis_cluster_url(cluster), prefix, options,
                               signing_key);
}

/* The slot of a user's keys (type "full"), as Redis computes it. */
static unsigned slot_of(const char *user)
{
    char name[256];
    int len = snprintf(name, sizeof name, "%s:{%s:full}:rec", prefix, user);
    return redis_cluster_key_slot(name, (size_t)len);
}

static int owner_of(const char *user)
{
    int owner = redis_cluster_owner(cluster, slot_of(user));
    assert_true(owner >= 0);
    return owner;
}

/* A master other than the one given. */
static size_t other_master(size_t master)
{
    for (size_t i = 0; i < redis_cluster_size(cluster); i++)
        if (i != master && redis_cluster_is_master(cluster, i) == 1)
            return i;
    fail_msg("no other master");
    return 0;
}

/* ----------------------------------------------------------- refreshers */

/* A thread that refreshes one session over and over, as a client that
 * keeps its login alive does, and counts what came back. */
typedef struct refresher {
    obol_store *st;
    obol_session *s;
    volatile int stop;
    int refreshed, errors, conflicts;
    double slowest_ms;
    char last_error[256];
    pthread_t thread;
} refresher;

static void *refresh_loop(void *arg)
{
    refresher *r = arg;

    while (!r->stop) {
        obol_error err = { 0 };
        double started = redis_harness_monotonic_ms();
        int status;

        obol_session_refresh(r->s, now_s(), 3600);
        status = obol_upsert(r->st, r->s, &err);
        if (redis_harness_monotonic_ms() - started > r->slowest_ms)
            r->slowest_ms = redis_harness_monotonic_ms() - started;
        if (status == OBOL_OK) {
            r->refreshed++;
        } else if (status == OBOL_CONFLICT) {
            r->conflicts++;
        } else {
            r->errors++;
            snprintf(r->last_error, sizeof r->last_error, "%s", err.message);
        }
    }
    return NULL;
}

static void refresher_start(refresher *r, obol_store *st, const char *user)
{
    memset(r, 0, sizeof *r);
    r->st = st;
    r->s = insert(st, user);
    assert_int_equal(pthread_create(&r->thread, NULL, refresh_loop, r), 0);
}

/* Stops the thread and checks that nothing surfaced and nothing was lost:
 * the stored lock version counts exactly the acknowledged refreshes. */
static void refresher_finish(refresher *r)
{
    r->stop = 1;
    assert_int_equal(pthread_join(r->thread, NULL), 0);
    if (r->errors != 0 || r->conflicts != 0)
        fprintf(stderr, "%d errors, %d conflicts; last: %s\n", r->errors,
                r->conflicts, r->last_error);
    assert_int_equal(r->errors, 0);
    assert_int_equal(r->conflicts, 0);
    assert_true(r->refreshed > 0);
    assert_int_equal(stored_lock(r->st, r->s), 1 + (uint64_t)r->refreshed);
    obol_session_free(r->s);
}

/* ---------------------------------------------------------------- cases */

static void describe_names_masters_replicas_and_slots(void **state)
{
    obol_store *st = open_store("");
    obol_store_info info;
    obol_error err = { 0 };
    (void)state;

    assert_int_equal(obol_store_describe(st, &info, &err), OBOL_OK);
    assert_message_has(info.backend, "cluster, 3 masters: ");
    assert_message_has(info.backend, " slots 0-");
    assert_message_has(info.backend, "-16383");
    assert_message_has(info.backend, " replicas 127.0.0.1:");
    obol_store_close(st);
}

/* Steady state: each operation is one command on the master that owns
 * the user's slot (MONITOR on that node). */
static void every_operation_is_one_round_trip_to_the_owner(void **state)
{
    obol_store *st = open_store("");
    obol_session *s = insert(st, "alice"), *got = NULL, **list = NULL;
    obol_error err = { 0 };
    redis_harness *owner = redis_cluster_node(cluster, (size_t)owner_of("alice"));
    redis_harness_monitor *m;
    size_t count = 0;
    (void)state;

    /* Warm: every script has run once on the owner. */
    assert_int_equal(obol_get_all(st, "alice", NULL, &list, &count, &err),
                     OBOL_OK);
    obol_sessions_free(list, count);
    obol_session *spare = insert(st, "alice");
    assert_int_equal(obol_delete(st, spare->id, "alice", NULL, &err), OBOL_OK);
    obol_session_free(spare);

    m = redis_harness_monitor_begin(owner);
    assert_non_null(m);
    assert_int_equal(obol_get(st, s->id, "alice", NULL, &got, &err), OBOL_OK);
    assert_int_equal(redis_harness_monitor_end(m), 1);
    obol_session_free(got);

    m = redis_harness_monitor_begin(owner);
    assert_int_equal(obol_upsert(st, s, &err), OBOL_OK);
    assert_int_equal(redis_harness_monitor_end(m), 1);

    m = redis_harness_monitor_begin(owner);
    assert_int_equal(obol_get_all(st, "alice", NULL, &list, &count, &err),
                     OBOL_OK);
    assert_int_equal(redis_harness_monitor_end(m), 1);
    assert_int_equal(count, 1);
    obol_sessions_free(list, count);

    m = redis_harness_monitor_begin(owner);
    assert_int_equal(obol_delete(st, s->id, "alice", NULL, &err), OBOL_OK);
    assert_int_equal(redis_harness_monitor_end(m), 1);

    m = redis_harness_monitor_begin(owner);
    assert_int_equal(obol_delete_all(st, "alice", NULL, &err), OBOL_OK);
    assert_int_equal(redis_harness_monitor_end(m), 1);
    obol_session_free(s);
    obol_store_close(st);
}

static void wait_replicas_is_met_on_a_cluster(void **state)
{
    obol_store *st = open_store("&wait_replicas=1&wait_timeout_ms=400");
    obol_session *s = insert(st, "bob");
    obol_error err = { 0 };
    (void)state;

    obol_session_refresh(s, now_s(), 3600);
    assert_int_equal(obol_upsert(st, s, &err), OBOL_OK);
    assert_int_equal(stored_lock(st, s), 2);
    obol_session_free(s);
    obol_store_close(st);
}

/* After SCRIPT FLUSH on every node each script goes again by EVAL. */
static void flushed_scripts_break_nothing(void **state)
{
    obol_store *st = open_store("");
    obol_session *s = insert(st, "carol"), **list = NULL, *got = NULL;
    obol_error err = { 0 };
    size_t count = 0;
    (void)state;

    assert_int_equal(redis_cluster_script_flush(cluster), 0);
    obol_session_refresh(s, now_s(), 3600);
    assert_int_equal(obol_upsert(st, s, &err), OBOL_OK);
    assert_int_equal(redis_cluster_script_flush(cluster), 0);
    assert_int_equal(obol_get_all(st, "carol", NULL, &list, &count, &err),
                     OBOL_OK);
    assert_int_equal(count, 1);
    obol_sessions_free(list, count);
    assert_int_equal(redis_cluster_script_flush(cluster), 0);
    assert_int_equal(obol_prune(st, &err), OBOL_OK);
    assert_int_equal(redis_cluster_script_flush(cluster), 0);
    assert_int_equal(obol_delete(st, s->id, "carol", NULL, &err), OBOL_OK);
    assert_int_equal(obol_get(st, s->id, "carol", NULL, &got, &err),
                     OBOL_NOT_FOUND);
    obol_session_free(s);
    obol_store_close(st);
}

/* A plain redis:// on a cluster node is told what it talks to. */
static void plain_redis_on_a_cluster_node_says_so(void **state)
{
    char config[256];
    obol_store *st = NULL;
    obol_session *got = NULL;
    obol_error err = { 0 };
    size_t node;
    const char *user = NULL;
    static const char *const users[] = { "alice", "bob", "carol", "dave",
                                         "erin", "frank", "grace", "heidi" };
    (void)state;

    node = (size_t)owner_of(users[0]);
    for (size_t i = 0; i < 8 && user == NULL; i++)
        if ((size_t)owner_of(users[i]) != node)
            user = users[i];
    assert_non_null(user);
    snprintf(config, sizeof config, "redis://127.0.0.1:%u?prefix=%s",
             redis_cluster_port(cluster, node), prefix);
    assert_int_equal(obol_store_open(config, &st, &err), OBOL_OK);
    assert_int_equal(obol_store_add_key(st, 1, signing_key, 1, &err), OBOL_OK);
    assert_int_equal(obol_get(st, "s", user, NULL, &got, &err),
                     OBOL_ERR_BACKEND);
    assert_message_has(err.message, "MOVED");
    assert_message_has(err.message, "use redis+cluster://");
    obol_store_close(st);
}

/* The slot of a user being refreshed moves to another master key by key
 * (ASK, then TRYAGAIN for the scripts while the keys are split, then
 * MOVED): no error reaches the callers and no refresh is lost. */
static void pause_between_keys(void *arg)
{
    (void)arg;
    redis_harness_sleep_ms(150);
}

static void slot_migration_under_load_surfaces_nothing(void **state)
{
    obol_store *st = open_store("&pool=4");
    refresher r[2];
    int source = owner_of("dave");
    (void)state;

    refresher_start(&r[0], st, "dave");
    refresher_start(&r[1], st, "dave");
    redis_harness_sleep_ms(100);
    assert_int_equal(redis_cluster_migrate_slot(cluster, slot_of("dave"),
                                                other_master((size_t)source),
                                                pause_between_keys, NULL),
                     0);
    assert_int_not_equal(owner_of("dave"), source);
    redis_harness_sleep_ms(100);
    refresher_finish(&r[0]);
    refresher_finish(&r[1]);
    obol_store_close(st);
}

/* How many HGETs node refused (MOVED, ASK): INFO commandstats counts
 * them apart from those it ran. */
static long long hget_rejected(size_t node)
{
    redisContext *c = redis_cluster_client(cluster, node);
    redisReply *reply;
    const char *line;
    long long rejected = 0;

    assert_non_null(c);
    reply = redis_harness_command(c, "INFO commandstats");
    assert_non_null(reply);
    assert_int_equal(reply->type, REDIS_REPLY_STRING);
    line = strstr(reply->str, "cmdstat_hget:");
    if (line != NULL && (line = strstr(line, "rejected_calls=")) != NULL)
        rejected = atoll(line + strlen("rejected_calls="));
    freeReplyObject(reply);
    redisFree(c);
    return rejected;
}

/* Moves the user's slot away and reads the session: with
 * topology_refresh_ms the store has read the new map by then and asks the
 * new owner straight away; without it the old owner answers MOVED. */
static long long moved_gets_after_a_migration(const char *user,
                                              const char *options)
{
    obol_store *st = open_store(options);
    obol_session *s = insert(st, user), *got = NULL;
    obol_error err = { 0 };
    size_t source = (size_t)owner_of(user);
    long long before;

    assert_int_equal(obol_get(st, s->id, user, NULL, &got, &err), OBOL_OK);
    obol_session_free(got);
    assert_int_equal(redis_cluster_migrate_slot(cluster, slot_of(user),
                                                other_master(source), NULL,
                                                NULL),
                     0);
    redis_harness_sleep_ms(400);
    before = hget_rejected(source);
    assert_int_equal(obol_get(st, s->id, user, NULL, &got, &err), OBOL_OK);
    obol_session_free(got);
    obol_session_free(s);
    obol_store_close(st);
    return hget_rejected(source) - before;
}

static void periodic_refresh_follows_a_moved_slot(void **state)
{
    (void)state;
    assert_int_equal(moved_gets_after_a_migration("ivan",
                                                  "&topology_refresh_ms=0"),
                     1);
    assert_int_equal(moved_gets_after_a_migration("judy",
                                                  "&topology_refresh_ms=200"),
                     0);
}

static obol_stats stats_of(obol_store *st)
{
    obol_stats s;
    obol_error err = { 0 };

    assert_int_equal(obol_store_stats(st, &s, sizeof s, &err), OBOL_OK);
    assert_true(s.has_driver_stats);
    return s;
}

/* obol_store_stats() counts a MOVED after a slot migration (and the map
 * refresh that follows it) and an ASK halfway through one. */
static void stats_count_redirections_and_map_refreshes(void **state)
{
    obol_store *st = open_store("&topology_refresh_ms=0");
    obol_session *mona = insert(st, "mona"), *ned = insert(st, "ned");
    obol_session *got = NULL;
    obol_error err = { 0 };
    redis_cluster_migration m;
    size_t source = (size_t)owner_of("mona");
    obol_stats before = stats_of(st), after;
    (void)state;

    assert_true(before.topology_refreshes >= 1);   /* the map read at open */
    assert_int_equal(before.moved + before.asked, 0);
    assert_int_equal(redis_cluster_migrate_slot(cluster, slot_of("mona"),
                                                other_master(source), NULL,
                                                NULL),
                     0);
    redis_harness_sleep_ms(400);
    assert_int_equal(obol_get(st, mona->id, "mona", NULL, &got, &err), OBOL_OK);
    obol_session_free(got);
    after = stats_of(st);
    assert_int_equal(after.moved, 1);
    assert_int_equal(after.asked, 0);
    assert_true(after.topology_refreshes > before.topology_refreshes);
    assert_int_equal(after.topology_refresh_failures, 0);

    source = (size_t)owner_of("ned");
    assert_int_equal(redis_cluster_migrate_begin(cluster, slot_of("ned"),
                                                 other_master(source), &m),
                     0);
    while (redis_cluster_migrate_key(cluster, &m) == 1)
        ;
    assert_int_equal(obol_get(st, ned->id, "ned", NULL, &got, &err), OBOL_OK);
    obol_session_free(got);
    assert_int_equal(redis_cluster_migrate_finish(cluster, &m), 0);
    after = stats_of(st);
    assert_int_equal(after.moved, 1);
    assert_int_equal(after.asked, 1);
    obol_session_free(ned);
    obol_session_free(mona);
    obol_store_close(st);
}

/* Halfway through a migration the user's keys are all on the target,
 * which has never run the scripts: the upsert is redirected with ASK, the
 * target answers NOSCRIPT, and the EVAL must carry ASKING again. */
static void ask_then_noscript_sends_asking_again(void **state)
{
    obol_store *st = open_store("");
    obol_session *s = insert(st, "kate");
    obol_error err = { 0 };
    redis_cluster_migration m;
    size_t source = (size_t)owner_of("kate");
    redisContext *target;
    int moved, status;
    (void)state;

    assert_int_equal(redis_cluster_migrate_begin(cluster, slot_of("kate"),
                                                 other_master(source), &m),
                     0);
    while ((moved = redis_cluster_migrate_key(cluster, &m)) == 1)
        ;
    assert_int_equal(moved, 0);
    target = redis_cluster_client(cluster, m.target);
    assert_non_null(target);
    assert_int_equal(redis_harness_run(target, "SCRIPT FLUSH"), 0);
    redisFree(target);

    obol_session_refresh(s, now_s(), 3600);
    status = obol_upsert(st, s, &err);
    if (status != OBOL_OK)
        fprintf(stderr, "upsert: %s\n", err.message);
    assert_int_equal(status, OBOL_OK);
    assert_int_equal(redis_cluster_migrate_finish(cluster, &m), 0);
    assert_int_equal(stored_lock(st, s), 2);
    obol_session_free(s);
    obol_store_close(st);
}

/* A walk while a slot moves sees every record that was there throughout. */
typedef struct mover {
    unsigned slot;
    size_t target;
    volatile int done;
    int status;
} mover;

static void *move_slot(void *arg)
{
    mover *m = arg;

    m->status = redis_cluster_migrate_slot(cluster, m->slot, m->target,
                                           pause_between_keys, NULL);
    m->done = 1;
    return NULL;
}

static int count_session(void *arg, const obol_session *s)
{
    (void)s;
    (*(int *)arg)++;
    return OBOL_OK;
}

static void walk_while_a_slot_moves_skips_nothing(void **state)
{
    enum { USERS = 40, EACH = 5 };
    obol_store *st = open_store("");
    char user[32];
    mover m;
    pthread_t thread;
    int walks = 0;
    (void)state;

    for (int u = 0; u < USERS; u++) {
        snprintf(user, sizeof user, "walker%d", u);
        for (int i = 0; i < EACH; i++)
            obol_session_free(insert(st, user));
    }
    m.slot = slot_of("walker0");
    m.target = other_master((size_t)owner_of("walker0"));
    m.done = 0;
    assert_int_equal(pthread_create(&thread, NULL, move_slot, &m), 0);
    while (!m.done || walks == 0) {
        obol_error err = { 0 };
        int seen = 0;
        int status = obol_scan(st, count_session, &seen, NULL, &err);

        if (status != OBOL_OK)
            fprintf(stderr, "scan: %s\n", err.message);
        assert_int_equal(status, OBOL_OK);
        /* Seen twice is allowed, skipped never. */
        assert_true(seen >= USERS * EACH);
        walks++;
    }
    assert_int_equal(pthread_join(thread, NULL), 0);
    assert_int_equal(m.status, 0);
    obol_store_close(st);
}

static int count_scanned(void *arg, const obol_session *s)
{
    (void)s;
    ++*(int *)arg;
    return OBOL_OK;
}

/* connect=lazy on a cluster none of whose nodes answers yet (all of them
 * stopped, for well under cluster-node-timeout): the store opens without
 * a slot map; a call fails within its time, and so does a walk, which an
 * empty map must not turn into "no records". Once the nodes answer, the
 * same handle reads the map and serves every call. */
static void lazy_store_opens_before_the_cluster_answers(void **state)
{
    obol_store *st;
    obol_session *s, *got = NULL;
    obol_error err = { 0 };
    double started;
    int scanned = 0, status;
    (void)state;

    for (size_t i = 0; i < redis_cluster_size(cluster); i++)
        assert_int_equal(redis_harness_pause(redis_cluster_node(cluster, i)),
                         0);
    st = open_store("&timeout_ms=250&connect_timeout_ms=100&connect=lazy");
    started = redis_harness_monotonic_ms();
    status = obol_get(st, "no-such-session", "lazy", NULL, &got, &err);
    assert_true(status == OBOL_ERR_TIMEOUT || status == OBOL_ERR_BACKEND);
    assert_true(redis_harness_monotonic_ms() - started < 600);
    started = redis_harness_monotonic_ms();
    status = obol_scan(st, count_scanned, &scanned, NULL, &err);
    assert_true(status == OBOL_ERR_TIMEOUT || status == OBOL_ERR_BACKEND);
    assert_true(redis_harness_monotonic_ms() - started < 600);
    for (size_t i = 0; i < redis_cluster_size(cluster); i++)
        assert_int_equal(redis_harness_resume(redis_cluster_node(cluster, i)),
                         0);

    s = insert(st, "lazy");
    assert_int_equal(obol_get(st, s->id, "lazy", NULL, &got, &err), OBOL_OK);
    obol_session_free(got);
    assert_int_equal(obol_scan(st, count_scanned, &scanned, NULL, &err),
                     OBOL_OK);
    assert_int_equal(scanned, 1);
    {
        obol_prefix_list list;
        int found = 0;

        assert_int_equal(obol_store_prefixes(st, &list, &err), OBOL_OK);
        assert_int_equal(list.complete, 1);
        for (size_t i = 0; i < list.count; i++)
            found += strcmp(list.prefixes[i], prefix) == 0;
        assert_int_equal(found, 1);
        obol_prefix_list_clear(&list);
    }
    obol_session_free(s);
    obol_store_close(st);
}

/* A master stops answering without closing anything (SIGSTOP): calls fail
 * within their time, a write says its outcome is unknown, and all is well
 * again after SIGCONT, well before the cluster would fail it over. */
static void stalled_master_times_out_then_recovers(void **state)
{
    obol_store *st = open_store("&timeout_ms=300");
    obol_session *s = insert(st, "erin"), *got = NULL;
    redis_harness *owner = redis_cluster_node(cluster, (size_t)owner_of("erin"));
    obol_error err = { 0 };
    double started;
    int status;
    (void)state;

    assert_int_equal(redis_harness_pause(owner), 0);
    started = redis_harness_monotonic_ms();
    status = obol_get(st, s->id, "erin", NULL, &got, &err);
    assert_int_equal(status, OBOL_ERR_TIMEOUT);
    assert_true(redis_harness_monotonic_ms() - started < 600);
    started = redis_harness_monotonic_ms();
    obol_session_refresh(s, now_s(), 3600);
    status = obol_upsert(st, s, &err);
    assert_int_equal(status, OBOL_ERR_TIMEOUT);
    assert_true(redis_harness_monotonic_ms() - started < 600);
    assert_message_has(err.message, "the outcome is unknown");
    assert_int_equal(redis_harness_resume(owner), 0);

    /* The stalled server ran the refresh once it woke: sent once, never
     * twice. */
    assert_int_equal(stored_lock(st, s), 2);
    obol_session_free(s);
    obol_store_close(st);
}

/* CLUSTER FAILOVER on the replica of a master under refresh load: the old
 * master is demoted (READONLY, MOVED) and nothing surfaces. */
static void graceful_failover_surfaces_nothing(void **state)
{
    obol_store *st = open_store("&pool=4");
    refresher r;
    int master, replica;
    (void)state;

    master = owner_of("frank");
    replica = redis_cluster_replica_of(cluster, (size_t)master);
    assert_true(replica >= 0);
    refresher_start(&r, st, "frank");
    redis_harness_sleep_ms(100);
    assert_int_equal(redis_cluster_failover(cluster, (size_t)replica, NULL), 0);
    redis_harness_sleep_ms(300);
    refresher_finish(&r);
    assert_int_equal(owner_of("frank"), replica);
    obol_store_close(st);
}

/* kill -9 of a master while sessions are written with wait_replicas=1:
 * each call returns within its time, and every session that was
 * acknowledged is there once the replica took over. */
static void crash_failover_loses_no_acknowledged_write(void **state)
{
    obol_store *st = open_store("&wait_replicas=1&wait_timeout_ms=300"
                                "&timeout_ms=800&connect_timeout_ms=200");
    session_writer *w;
    int master, replica, before;
    (void)state;

    master = owner_of("grace");
    replica = redis_cluster_replica_of(cluster, (size_t)master);
    assert_true(replica >= 0);
    w = session_writer_start(st, "grace");
    redis_harness_sleep_ms(200);
    assert_int_equal(
        redis_harness_kill(redis_cluster_node(cluster, (size_t)master)), 0);
    assert_int_equal(redis_cluster_wait_promoted(cluster, (size_t)replica,
                                                 20000),
                     0);
    /* The new master has no replica until the old one rejoins as its
     * replica: until then wait_replicas=1 cannot be met, and each write
     * says so. */
    assert_int_equal(
        redis_harness_restart(redis_cluster_node(cluster, (size_t)master)), 0);
    assert_int_equal(redis_cluster_wait_rejoined(cluster, (size_t)master,
                                                 20000),
                     0);
    before = w->acknowledged;
    session_writer_wait_for(w, 20, 5000);
    session_writer_finish(w, "crash failover");

    /* Within the call's time: timeout_ms plus connect_timeout_ms. */
    assert_true(w->slowest_ms < 800 + 200 + 300);
    assert_true(w->failed > 0);
    assert_true(w->acknowledged >= before + 20);
    session_writer_free(w);
    obol_store_close(st);
}

#define T(name) cmocka_unit_test_setup(name, test_setup)

int main(void)
{
    const struct CMUnitTest tests[] = {
        T(describe_names_masters_replicas_and_slots),
        T(every_operation_is_one_round_trip_to_the_owner),
        T(wait_replicas_is_met_on_a_cluster),
        T(flushed_scripts_break_nothing),
        T(plain_redis_on_a_cluster_node_says_so),
        T(slot_migration_under_load_surfaces_nothing),
        T(ask_then_noscript_sends_asking_again),
        T(walk_while_a_slot_moves_skips_nothing),
        T(periodic_refresh_follows_a_moved_slot),
        T(stats_count_redirections_and_map_refreshes),
        T(lazy_store_opens_before_the_cluster_answers),
        T(stalled_master_times_out_then_recovers),
        T(graceful_failover_surfaces_nothing),
        T(crash_failover_loses_no_acknowledged_write),
    };

    redis_harness_require();
    return cmocka_run_group_tests_name("redis cluster faults", tests,
                                       group_setup, group_teardown);
}

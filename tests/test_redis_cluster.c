/*
 * Redis Cluster, against a real cluster of six redis-servers (three
 * masters, a replica each) started by tests/redis_cluster.h once for the
 * whole program and shared by every case.
 *
 * The harness cases prove the harness itself: that the cluster is what it
 * says, and that its moves (migration, failover, a killed master) happen
 * and are seen by every node. Each case that changes the layout puts it
 * back before it ends, and the most disruptive run last, so that cases
 * added after them, driver cases among them, find three masters with a
 * replica each. A case finds the nodes it needs by asking (who owns the
 * slot of its key, which replica serves that master), never by number.
 */
#define _POSIX_C_SOURCE 200809L
#include "config.h"

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

#include "redis_cluster.h"
#include "redis_harness.h"

/* Generous next to what a loaded CI machine needs: a promotion takes the
 * node timeout (2 s) plus an election, a rejoin a full resync. */
#define PROMOTION_TIMEOUT_MS 15000
#define STABLE_TIMEOUT_MS 10000

/* ------------------------------------------------------------- fixtures */

static redis_cluster *cluster;  /* shared, started once */

static long long now_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int group_setup(void **state)
{
    long long started = now_ms();

    (void)state;
    cluster = redis_cluster_start(NULL);
    if (cluster == NULL)
        return -1;
    fprintf(stderr, "# cluster of %zu nodes up in %lld ms\n",
            redis_cluster_size(cluster), now_ms() - started);
    return 0;
}

static int group_teardown(void **state)
{
    (void)state;
    redis_cluster_stop(cluster);
    cluster = NULL;
    return 0;
}

/* ------------------------------------------------------------- helpers */

static unsigned slot_of(const char *key)
{
    return redis_cluster_key_slot(key, strlen(key));
}

/* A raw client to node i; the case fails without one. */
static redisContext *client_of(size_t i)
{
    redisContext *c = redis_cluster_client(cluster, i);

    assert_non_null(c);
    return c;
}

/* The master that owns the slot of key, which must be known. */
static size_t owner_of(const char *key)
{
    int owner = redis_cluster_owner(cluster, slot_of(key));

    assert_true(owner >= 0);
    return (size_t)owner;
}

static size_t replica_of(size_t master)
{
    int replica = redis_cluster_replica_of(cluster, master);

    assert_true(replica >= 0);
    return (size_t)replica;
}

/* Another master than this one. */
static size_t other_master(size_t master)
{
    for (size_t i = 0; i < redis_cluster_size(cluster); i++)
        if (i != master && redis_cluster_is_master(cluster, i) == 1)
            return i;
    fail_msg("no master besides node %zu", master);
    return 0;
}

/* Writes into buffer a key whose slot master owns: "{tag.N}". */
static void key_owned_by(size_t master, const char *tag, char *buffer,
                         size_t size)
{
    for (int n = 0; n < 1000; n++) {
        snprintf(buffer, size, "{%s.%d}", tag, n);
        if (redis_cluster_owner(cluster, slot_of(buffer)) == (int)master)
            return;
    }
    fail_msg("no key of node %zu found", master);
}

/* Writes key on its owner and waits until its replica has it too, so
 * that a failover cannot lose it. */
static void set_replicated(const char *key, const char *value)
{
    redisContext *c = client_of(owner_of(key));

    assert_int_equal(redis_harness_run(c, "SET %s %s", key, value), 0);
    assert_int_equal(redis_harness_integer(c, "WAIT 1 5000"), 1);
    redisFree(c);
}

/* Asserts that node i serves key with value (as a master, no redirect). */
static void assert_node_has(size_t i, const char *key, const char *value)
{
    redisContext *c = client_of(i);
    redisReply *reply = redis_harness_command(c, "GET %s", key);

    assert_non_null(reply);
    if (reply->type == REDIS_REPLY_ERROR)
        fail_msg("GET %s on node %zu: %s", key, i, reply->str);
    assert_int_equal(reply->type, REDIS_REPLY_STRING);
    assert_string_equal(reply->str, value);
    freeReplyObject(reply);
    redisFree(c);
}

/* Asserts that every node that is up names owner for slot. */
static void assert_every_node_says_owner(unsigned slot, size_t owner)
{
    for (size_t i = 0; i < redis_cluster_size(cluster); i++)
        if (redis_harness_state(redis_cluster_node(cluster, i)) ==
            REDIS_HARNESS_UP)
            assert_int_equal(redis_cluster_owner_seen_by(cluster, i, slot),
                             owner);
}

/* -------------------------------------------------------- harness cases */

static void cluster_has_three_masters_each_with_its_own_replica(void **state)
{
    size_t masters = 0;
    int served[64] = { 0 };

    (void)state;
    assert_int_equal(redis_cluster_size(cluster), 6);
    for (size_t i = 0; i < redis_cluster_size(cluster); i++) {
        int replica;
        if (redis_cluster_is_master(cluster, i) != 1)
            continue;
        masters++;
        replica = redis_cluster_replica_of(cluster, i);
        assert_true(replica >= 0);
        assert_int_equal(redis_cluster_is_master(cluster, (size_t)replica), 0);
        assert_int_equal(served[replica]++, 0);
    }
    assert_int_equal(masters, 3);
    for (unsigned slot = 0; slot < REDIS_CLUSTER_SLOTS; slot += 4095)
        assert_int_equal(redis_cluster_is_master(
                             cluster,
                             (size_t)redis_cluster_owner(cluster, slot)), 1);
}

static void url_names_node_zero_and_every_other_node_as_a_seed(void **state)
{
    char expected[256];
    size_t used;

    (void)state;
    used = (size_t)snprintf(expected, sizeof expected,
                            "redis+cluster://127.0.0.1:%u?nodes=",
                            redis_cluster_port(cluster, 0));
    for (size_t i = 1; i < redis_cluster_size(cluster); i++)
        used += (size_t)snprintf(expected + used, sizeof expected - used,
                                 "%s127.0.0.1:%u", i > 1 ? "," : "",
                                 redis_cluster_port(cluster, i));
    assert_string_equal(redis_cluster_url(cluster), expected);
}

static void key_slot_agrees_with_cluster_keyslot(void **state)
{
    static const char *const keys[] = {
        "", "a", "foo", "a{x}b", "x", "{x}", "{}x", "{x", "x}{y}",
        "{user1000}.following", "{{x}}", "p:{alice:web}:rec",
    };
    redisContext *c = client_of(0);

    (void)state;
    /* The CRC16/XMODEM check value of "123456789" is 0x31C3. */
    assert_int_equal(slot_of("123456789"), 0x31C3);
    assert_int_equal(redis_cluster_key_slot("a\0{b}", 5), slot_of("b"));
    for (size_t k = 0; k < sizeof keys / sizeof keys[0]; k++)
        assert_int_equal(slot_of(keys[k]),
                         redis_harness_integer(c, "CLUSTER KEYSLOT %s",
                                               keys[k]));
    redisFree(c);
}

static void script_flush_empties_every_script_cache(void **state)
{
    redisReply *sha = NULL;

    (void)state;
    for (size_t i = 0; i < redis_cluster_size(cluster); i++) {
        redisContext *c = client_of(i);
        freeReplyObject(sha);
        sha = redis_harness_command(c, "SCRIPT LOAD %s", "return 1");
        assert_non_null(sha);
        assert_int_equal(sha->type, REDIS_REPLY_STRING);
        redisFree(c);
    }
    assert_int_equal(redis_cluster_script_flush(cluster), 0);
    for (size_t i = 0; i < redis_cluster_size(cluster); i++) {
        redisContext *c = client_of(i);
        redisReply *exists = redis_harness_command(c, "SCRIPT EXISTS %s",
                                                   sha->str);
        assert_non_null(exists);
        assert_int_equal(exists->type, REDIS_REPLY_ARRAY);
        assert_int_equal(exists->element[0]->integer, 0);
        freeReplyObject(exists);
        redisFree(c);
    }
    freeReplyObject(sha);
}

static void wait_stable_passes_over_a_paused_node(void **state)
{
    redis_harness *replica =
        redis_cluster_node(cluster, replica_of(owner_of("{paused}")));

    (void)state;
    assert_int_equal(redis_harness_pause(replica), 0);
    assert_int_equal(redis_harness_state(replica), REDIS_HARNESS_PAUSED);
    /* Well within the node timeout: nobody has noticed yet. */
    assert_int_equal(redis_cluster_wait_stable(cluster, 1000), 0);
    assert_int_equal(redis_harness_resume(replica), 0);
    assert_int_equal(redis_cluster_wait_stable(cluster, STABLE_TIMEOUT_MS), 0);
}

/* What the migration case sees between two moved keys. */
typedef struct migration_watch {
    const char *const *keys;
    size_t key_count;
    size_t source, target;
    int steps;
    int wrong_steps;          /* steps where the ASK count was not steps */
} migration_watch;

/* 1 when key answers -ASK from the source and is on the target. */
static int moved_with_ask(const migration_watch *w, const char *key)
{
    redisContext *source = redis_cluster_client(cluster, w->source);
    redisContext *target = redis_cluster_client(cluster, w->target);
    redisReply *reply = redis_harness_command(source, "GET %s", key);
    int asked = reply != NULL && reply->type == REDIS_REPLY_ERROR &&
                strncmp(reply->str, "ASK ", 4) == 0;

    freeReplyObject(reply);
    /* Without ASKING the target would answer MOVED to the source. */
    if (asked && redis_harness_run(target, "ASKING") == 0) {
        reply = redis_harness_command(target, "GET %s", key);
        asked = reply != NULL && reply->type == REDIS_REPLY_STRING;
        freeReplyObject(reply);
    }
    redisFree(source);
    redisFree(target);
    return asked;
}

static void count_asks(void *arg)
{
    migration_watch *w = arg;
    int asks = 0;

    w->steps++;
    for (size_t k = 0; k < w->key_count; k++)
        asks += moved_with_ask(w, w->keys[k]);
    if (asks != w->steps)
        w->wrong_steps++;
}

static void migrate_slot_moves_every_key_and_every_node_sees_it(void **state)
{
    static const char *const keys[] = { "{moving}1", "{moving}2",
                                        "{moving}3" };
    unsigned slot = slot_of(keys[0]);
    migration_watch watch = { .keys = keys, .key_count = 3 };
    redisContext *c;

    (void)state;
    watch.source = owner_of(keys[0]);
    watch.target = other_master(watch.source);
    c = client_of(watch.source);
    for (size_t k = 0; k < 3; k++)
        assert_int_equal(redis_harness_run(c, "SET %s %s", keys[k], keys[k]),
                         0);
    redisFree(c);

    assert_int_equal(redis_cluster_migrate_slot(cluster, slot, watch.target,
                                                count_asks, &watch), 0);
    assert_int_equal(watch.steps, 3);
    assert_int_equal(watch.wrong_steps, 0);
    assert_every_node_says_owner(slot, watch.target);
    for (size_t k = 0; k < 3; k++)
        assert_node_has(watch.target, keys[k], keys[k]);

    /* And back, which also puts the layout as it was. */
    assert_int_equal(redis_cluster_migrate_slot(cluster, slot, watch.source,
                                                NULL, NULL), 0);
    assert_every_node_says_owner(slot, watch.source);
    assert_node_has(watch.source, keys[0], keys[0]);
}

static void failover_swaps_master_and_replica(void **state)
{
    const char *key = "{failover}";
    size_t master = owner_of(key), replica = replica_of(master);

    (void)state;
    set_replicated(key, "kept");
    assert_int_equal(redis_cluster_failover(cluster, replica, NULL), 0);
    assert_int_equal(redis_cluster_is_master(cluster, replica), 1);
    assert_int_equal(redis_cluster_is_master(cluster, master), 0);
    assert_int_equal(redis_cluster_replica_of(cluster, replica), master);
    assert_every_node_says_owner(slot_of(key), replica);
    assert_node_has(replica, key, "kept");

    assert_int_equal(redis_cluster_failover(cluster, master, NULL), 0);
    assert_every_node_says_owner(slot_of(key), master);
}

/* Last: it takes the longest, and a failure here leaves the most behind.
 * On another shard than the failover case's: a replica elected less than
 * 8 s ago (4 x node timeout) waits out the rest before it runs for
 * election again. */
static void killed_master_is_replaced_and_rejoins_as_replica(void **state)
{
    char key[64];
    size_t master, replica;
    redis_harness *node;
    long long killed_at;

    (void)state;
    master = other_master(owner_of("{failover}"));
    key_owned_by(master, "killed", key, sizeof key);
    replica = replica_of(master);
    node = redis_cluster_node(cluster, master);
    set_replicated(key, "survives");
    killed_at = now_ms();
    assert_int_equal(redis_harness_kill(node), 0);
    assert_int_equal(redis_cluster_wait_promoted(cluster, replica,
                                                 PROMOTION_TIMEOUT_MS), 0);
    fprintf(stderr, "# replica promoted %lld ms after the kill\n",
            now_ms() - killed_at);
    assert_every_node_says_owner(slot_of(key), replica);
    assert_node_has(replica, key, "survives");

    assert_int_equal(redis_harness_restart(node), 0);
    assert_int_equal(redis_cluster_wait_rejoined(cluster, master,
                                                 PROMOTION_TIMEOUT_MS), 0);
    assert_int_equal(redis_cluster_is_master(cluster, master), 0);
    assert_int_equal(redis_cluster_replica_of(cluster, replica), master);

    /* Roles back as they were, for whatever runs next. */
    assert_int_equal(redis_cluster_failover(cluster, master, NULL), 0);
}

/* ----------------------------------------------------------------- main */

int main(void)
{
    const struct CMUnitTest tests[] = {
        /* harness cases */
        cmocka_unit_test(cluster_has_three_masters_each_with_its_own_replica),
        cmocka_unit_test(url_names_node_zero_and_every_other_node_as_a_seed),
        cmocka_unit_test(key_slot_agrees_with_cluster_keyslot),
        cmocka_unit_test(script_flush_empties_every_script_cache),
        cmocka_unit_test(wait_stable_passes_over_a_paused_node),
        cmocka_unit_test(migrate_slot_moves_every_key_and_every_node_sees_it),
        cmocka_unit_test(failover_swaps_master_and_replica),
        cmocka_unit_test(killed_master_is_replaced_and_rejoins_as_replica),
    };

    redis_harness_require();
    return cmocka_run_group_tests_name("redis cluster", tests, group_setup,
                                       group_teardown);
}

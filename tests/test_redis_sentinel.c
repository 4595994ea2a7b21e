/*
 * The store on redis+sentinel:// through what Sentinel setups go through:
 * a Sentinel down, every Sentinel down, a stalled master, SENTINEL
 * FAILOVER under load, a master killed. One setup (a master, two replicas,
 * three Sentinels with down-after-milliseconds 1000, data nodes and
 * Sentinels with passwords of their own) serves every case; the cases
 * that fail over run last and leave a working setup behind. Everything
 * goes through the public API, checked from raw clients.
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

#include "redis_harness.h"
#include "redis_sentinel.h"

/* How long the Sentinels may take to agree on a new master after a
 * master died or stalled: down-after (1 s), the vote, the promotion. */
#define FAILOVER_WAIT_MS 15000
#define SETTLE_WAIT_MS 15000

static redis_sentinel *setup;
static int prefix_counter;
static char prefix[32];

static const uint8_t signing_key[32] = {
    0x73, 0x65, 0x6e, 0x74, 0x69, 0x6e, 0x65, 0x6c, 0x2d, 0x74, 0x65, 0x73,
    0x74, 0x2d, 0x6b, 0x65, 0x79, 0x2d, 0x30, 0x31, 0x32, 0x33, 0x34, 0x35,
    0x36, 0x37, 0x38, 0x39, 0x61, 0x62, 0x63, 0x64,
};

static int group_setup(void **state)
{
    (void)state;
    setup = redis_sentinel_start(NULL);
    return setup != NULL ? 0 : -1;
}

static int group_teardown(void **state)
{
    (void)state;
    redis_sentinel_stop(setup);
    return 0;
}

static int test_setup(void **state)
{
    (void)state;
    snprintf(prefix, sizeof prefix, "sn%d", ++prefix_counter);
    return 0;
}

/* -------------------------------------------------------------- helpers */

static int64_t now_s(void)
{
    return (int64_t)time(NULL);
}

static void assert_message_has(const char *message, const char *part)
{
    if (strstr(message, part) == NULL) {
        fprintf(stderr, "message \"%s\" lacks \"%s\"\n", message, part);
        fail();
    }
}

/* Opening config: its status, the message in err. */
static int open_status(const char *config, obol_error *err)
{
    obol_store *st = NULL;
    int status = obol_store_open(config, &st, err);

    obol_store_close(st);
    return status;
}

/* A store on the setup under this test's prefix. */
static obol_store *open_store(const char *options)
{
    char config[2048];
    obol_store *st = NULL;
    obol_error err = { 0 };
    int status;

    snprintf(config, sizeof config, "%s&prefix=%s%s",
             redis_sentinel_url(setup), prefix, options);
    status = obol_store_open(config, &st, &err);
    if (status != OBOL_OK)
        fprintf(stderr, "open %s: %s\n", config, err.message);
    assert_int_equal(status, OBOL_OK);
    assert_int_equal(obol_store_add_key(st, 1, signing_key, 1, &err),
                     OBOL_OK);
    return st;
}

static obol_session *insert(obol_store *st, const char *user)
{
    obol_session *s = obol_session_new(user, NULL, now_s(), 3600, 3600);
    obol_error err = { 0 };
    int status;

    assert_non_null(s);
    status = obol_upsert(st, s, &err);
    if (status != OBOL_OK)
        fprintf(stderr, "upsert: %s\n", err.message);
    assert_int_equal(status, OBOL_OK);
    return s;
}

static uint64_t stored_lock(obol_store *st, const obol_session *s)
{
    obol_session *got = NULL;
    obol_error err = { 0 };
    uint64_t lock;
    int status = obol_get(st, s->id, s->user_id, NULL, &got, &err);

    if (status != OBOL_OK)
        fprintf(stderr, "get: %d %s\n", status, err.message);
    assert_int_equal(status, OBOL_OK);
    lock = got->lock_version;
    obol_session_free(got);
    return lock;
}

static void refresh_ok(obol_store *st, obol_session *s)
{
    obol_error err = { 0 };
    int status;

    obol_session_refresh(s, now_s(), 3600);
    status = obol_upsert(st, s, &err);
    if (status != OBOL_OK)
        fprintf(stderr, "refresh: %d %s\n", status, err.message);
    assert_int_equal(status, OBOL_OK);
}

static int master(void)
{
    int m = redis_sentinel_master(setup);

    assert_true(m >= 0);
    return m;
}

static redis_harness *master_node(void)
{
    return redis_sentinel_node(setup, (size_t)master());
}

/* How many connections Sentinel k accepted so far, this look's own
 * included (INFO stats; a Sentinel has no commandstats). Sentinels keep
 * their links to each other, so every new one is a client's: the
 * driver's, which connects to ask, or a look like this one. */
static long long sentinel_connections(size_t k)
{
    static const char field[] = "total_connections_received:";
    redisContext *c = redis_harness_client(redis_sentinel_sentinel(setup, k));
    redisReply *reply = redis_harness_command(c, "INFO stats");
    const char *line;
    long long count = -1;

    assert_non_null(reply);
    assert_int_equal(reply->type, REDIS_REPLY_STRING);
    line = strstr(reply->str, field);
    assert_non_null(line);
    count = atoll(line + strlen(field));
    freeReplyObject(reply);
    redisFree(c);
    return count;
}

/* Closes the store's connections on the master (CLIENT KILL TYPE normal
 * from a raw client, which spares itself with SKIPME), so that its next
 * call connects again. */
static void drop_connections(redis_harness *node)
{
    redisContext *c = redis_harness_client(node);

    assert_int_equal(redis_harness_run(c, "CLIENT KILL TYPE normal SKIPME yes"),
                     0);
    redisFree(c);
}

/* ---------------------------------------------------------------- config */

static void config_refuses_what_sentinel_mode_cannot_take(void **state)
{
    obol_error err = { 0 };
    (void)state;

    assert_int_equal(open_status("redis+sentinel://127.0.0.1:26379?prefix=p",
                                 &err),
                     OBOL_ERR_INVALID);
    assert_message_has(err.message, "needs the master's name as the path");
    assert_int_equal(open_status("redis+sentinel://127.0.0.1:26379/a/b", &err),
                     OBOL_ERR_INVALID);
    assert_message_has(err.message, "not '/a/b'");
    assert_int_equal(open_status("redis+sentinel:///obol", &err),
                     OBOL_ERR_INVALID);
    assert_message_has(err.message, "host is empty");
    assert_int_equal(open_status("redis+sentinel://h/obol?sentinels=h", &err),
                     OBOL_ERR_INVALID);
    assert_message_has(err.message, "option 'sentinels': 'h' is not HOST:PORT");
    assert_int_equal(open_status("redis+sentinel://h/obol?sentinels=h:1,,h:2",
                                 &err),
                     OBOL_ERR_INVALID);
    assert_message_has(err.message, "'' is not HOST:PORT");
    assert_int_equal(open_status("redis+sentinel://h/obol?sentinels=h:99999",
                                 &err),
                     OBOL_ERR_INVALID);
    assert_message_has(err.message, "'h:99999' is not HOST:PORT");
    assert_int_equal(open_status("redis+sentinel://h/obol?"
                                 "sentinel_timeout_ms=0", &err),
                     OBOL_ERR_INVALID);
    assert_message_has(err.message, "sentinel_timeout_ms '0'");
    assert_int_equal(open_status("redis+sentinel://h/obol?"
                                 "sentinel_password=hunter2", &err),
                     OBOL_ERR_INVALID);
    assert_message_has(err.message,
                       "'sentinel_password' must be env:NAME or file:PATH");
    assert_int_equal(open_status("redis+sentinel://h/obol?sentinel_user=ops",
                                 &err),
                     OBOL_ERR_INVALID);
    assert_message_has(err.message,
                       "sentinel_user 'ops' has no sentinel_password");
    assert_int_equal(open_status("redis+sentinel://h/obol?nodes=h:1", &err),
                     OBOL_ERR_INVALID);
    assert_message_has(err.message, "'nodes' is for redis+cluster");
}

static void sentinel_options_are_refused_elsewhere(void **state)
{
    obol_error err = { 0 };
    (void)state;

    assert_int_equal(open_status("redis://h?sentinels=h:26379", &err),
                     OBOL_ERR_INVALID);
    assert_message_has(err.message, "'sentinels' is for redis+sentinel://");
    assert_int_equal(open_status("redis://h?sentinel_timeout_ms=100", &err),
                     OBOL_ERR_INVALID);
    assert_message_has(err.message,
                       "'sentinel_timeout_ms' is for redis+sentinel://");
    assert_int_equal(open_status("redis+cluster://h?sentinel_user=a", &err),
                     OBOL_ERR_INVALID);
    assert_message_has(err.message, "'sentinel_user' is for redis+sentinel");
    assert_int_equal(open_status("redis+unix:///run/r.sock?"
                                 "sentinel_password=env:X", &err),
                     OBOL_ERR_INVALID);
    assert_message_has(err.message,
                       "'sentinel_password' is for redis+sentinel");
}

/* ----------------------------------------------------------- steady state */

static void describe_names_master_and_sentinels(void **state)
{
    obol_store *st = open_store("");
    obol_store_info info;
    obol_error err = { 0 };
    char part[64];
    (void)state;

    assert_int_equal(obol_store_describe(st, &info, &err), OBOL_OK);
    snprintf(part, sizeof part, "master 'obol' at 127.0.0.1:%u, sentinels ",
             redis_harness_port(master_node()));
    assert_message_has(info.backend, part);
    snprintf(part, sizeof part, "127.0.0.1:%u",
             redis_harness_port(redis_sentinel_sentinel(setup, 2)));
    assert_message_has(info.backend, part);
    obol_store_close(st);
}

/* Steady state: one command per operation on the master, and not one
 * question to a Sentinel: the master is resolved on connect, not per
 * call. */
static void calls_are_one_round_trip_and_ask_no_sentinel(void **state)
{
    obol_store *st = open_store("&pool=1");
    obol_session *s = insert(st, "alice"), *got = NULL;
    obol_error err = { 0 };
    redis_harness *node = master_node();  /* asks the Sentinels itself */
    redis_harness_monitor *m;
    long long asked;
    (void)state;

    /* Sentinel 0 is the one the driver asks first (it answered the open);
     * the others see connections of the Sentinels among themselves. */
    asked = sentinel_connections(0);
    m = redis_harness_monitor_begin(node);
    assert_non_null(m);
    assert_int_equal(obol_get(st, s->id, "alice", NULL, &got, &err), OBOL_OK);
    assert_int_equal(redis_harness_monitor_end(m), 1);
    obol_session_free(got);
    m = redis_harness_monitor_begin(node);
    refresh_ok(st, s);
    assert_int_equal(redis_harness_monitor_end(m), 1);
    for (int i = 0; i < 200; i++) {
        assert_int_equal(obol_get(st, s->id, "alice", NULL, &got, &err),
                         OBOL_OK);
        obol_session_free(got);
        refresh_ok(st, s);
    }
    /* One more: the look itself. */
    assert_int_equal(sentinel_connections(0), asked + 1);
    obol_session_free(s);
    obol_store_close(st);
}

/* A new connection asks the Sentinels again (CLIENT KILL on the master). */
static void a_new_connection_asks_the_sentinels_again(void **state)
{
    obol_store *st = open_store("&pool=1");
    obol_session *s = insert(st, "bob");
    redis_harness *node = master_node();
    long long before = sentinel_connections(0);
    (void)state;

    drop_connections(node);
    refresh_ok(st, s);
    assert_int_equal(sentinel_connections(0), before + 2);
    assert_int_equal(stored_lock(st, s), 2);
    obol_session_free(s);
    obol_store_close(st);
}

static void wait_replicas_is_met(void **state)
{
    obol_store *st = open_store("&wait_replicas=2&wait_timeout_ms=400");
    obol_session *s = insert(st, "carol");
    (void)state;

    refresh_ok(st, s);
    assert_int_equal(stored_lock(st, s), 2);
    obol_session_free(s);
    obol_store_close(st);
}

/* The Sentinels' password is not the data nodes': each login goes where
 * it belongs, and a wrong one is named with the Sentinel that refused. */
static void sentinel_login_is_the_sentinels_own(void **state)
{
    char config[2048];
    obol_error err = { 0 };
    (void)state;

    setenv("OBOL_TEST_WRONG_PASSWORD", "not-the-password", 1);
    snprintf(config, sizeof config, "%s&prefix=%s&sentinel_password=env:"
             "OBOL_TEST_WRONG_PASSWORD", redis_sentinel_url(setup), prefix);
    /* The URL names sentinel_password already: given twice. */
    assert_int_equal(open_status(config, &err), OBOL_ERR_INVALID);
    assert_message_has(err.message, "'sentinel_password' is given twice");

    snprintf(config, sizeof config,
             "redis+sentinel://127.0.0.1:%u/obol?password=env:"
             "OBOL_TEST_REDIS_PASSWORD&sentinel_password=env:"
             "OBOL_TEST_REDIS_PASSWORD&prefix=%s",
             redis_harness_port(redis_sentinel_sentinel(setup, 0)), prefix);
    assert_int_equal(open_status(config, &err), OBOL_ERR_BACKEND);
    assert_message_has(err.message, "no Sentinel named master 'obol'");
    assert_message_has(err.message, "AUTH: WRONGPASS");

    snprintf(config, sizeof config,
             "redis+sentinel://127.0.0.1:%u/obol?password=env:"
             "OBOL_TEST_SENTINEL_PASSWORD&sentinel_password=env:"
             "OBOL_TEST_SENTINEL_PASSWORD&prefix=%s",
             redis_harness_port(redis_sentinel_sentinel(setup, 0)), prefix);
    assert_int_equal(open_status(config, &err), OBOL_ERR_BACKEND);
    assert_message_has(err.message, "AUTH: WRONGPASS");
    assert_message_has(err.message, "127.0.0.1:");
}

static void unknown_master_name_is_named(void **state)
{
    char config[2048];
    obol_error err = { 0 };
    (void)state;

    snprintf(config, sizeof config,
             "redis+sentinel://127.0.0.1:%u/nosuch?sentinel_password=env:"
             "OBOL_TEST_SENTINEL_PASSWORD&prefix=%s",
             redis_harness_port(redis_sentinel_sentinel(setup, 0)), prefix);
    assert_int_equal(open_status(config, &err), OBOL_ERR_BACKEND);
    assert_message_has(err.message, "does not know master 'nosuch'");
}

/* ----------------------------------------------------- Sentinels down */

/* The first Sentinel of the list is down: the next ones answer, on open
 * and on every reconnect. */
static void one_sentinel_down_changes_nothing(void **state)
{
    redis_harness *first = redis_sentinel_sentinel(setup, 0);
    obol_store *st;
    obol_session *s, *got = NULL;
    obol_error err = { 0 };
    (void)state;

    assert_int_equal(redis_harness_kill(first), 0);
    st = open_store("&sentinel_timeout_ms=200");
    s = insert(st, "dave");
    drop_connections(master_node());
    refresh_ok(st, s);
    assert_int_equal(obol_get(st, s->id, "dave", NULL, &got, &err), OBOL_OK);
    obol_session_free(got);
    assert_int_equal(stored_lock(st, s), 2);
    obol_session_free(s);
    obol_store_close(st);
    assert_int_equal(redis_harness_restart(first), 0);
}

/* Every Sentinel down: an open store keeps working on the connection it
 * has; a new store, or a new connection, fails naming every Sentinel with
 * its cause, quickly. */
static void every_sentinel_down_is_named(void **state)
{
    obol_store *st = open_store("&pool=1&sentinel_timeout_ms=200");
    obol_session *s = insert(st, "erin");
    redis_harness *node = master_node();
    obol_error err = { 0 };
    char config[2048], part[64];
    double started;
    int status;
    (void)state;

    for (size_t k = 0; k < redis_sentinel_count(setup); k++)
        assert_int_equal(redis_harness_kill(redis_sentinel_sentinel(setup, k)),
                         0);
    refresh_ok(st, s);

    snprintf(config, sizeof config, "%s&prefix=%s", redis_sentinel_url(setup),
             prefix);
    started = redis_harness_monotonic_ms();
    assert_int_equal(open_status(config, &err), OBOL_ERR_BACKEND);
    assert_true(redis_harness_monotonic_ms() - started < 1000);
    assert_message_has(err.message, "no Sentinel named master 'obol': ");
    for (size_t k = 0; k < redis_sentinel_count(setup); k++) {
        snprintf(part, sizeof part, "127.0.0.1:%u: connect: Connection refused",
                 redis_harness_port(redis_sentinel_sentinel(setup, k)));
        assert_message_has(err.message, part);
    }

    drop_connections(node);
    obol_session_refresh(s, now_s(), 3600);
    status = obol_upsert(st, s, &err);
    /* Tried again until the call's time ran out: a Sentinel may come
     * back meanwhile. */
    assert_int_equal(status, OBOL_ERR_TIMEOUT);
    assert_message_has(err.message, "no Sentinel named master 'obol'");

    for (size_t k = 0; k < redis_sentinel_count(setup); k++)
        assert_int_equal(
            redis_harness_restart(redis_sentinel_sentinel(setup, k)), 0);
    assert_int_equal(redis_sentinel_wait_linked(setup, SETTLE_WAIT_MS), 0);
    /* Nothing was sent: the refresh that failed never left. */
    obol_session_refresh(s, now_s(), 3600);
    refresh_ok(st, s);
    obol_session_free(s);
    obol_store_close(st);
}

#define T(name) cmocka_unit_test_setup(name, test_setup)

int main(void)
{
    const struct CMUnitTest tests[] = {
        T(config_refuses_what_sentinel_mode_cannot_take),
        T(sentinel_options_are_refused_elsewhere),
        T(describe_names_master_and_sentinels),
        T(calls_are_one_round_trip_and_ask_no_sentinel),
        T(a_new_connection_asks_the_sentinels_again),
        T(wait_replicas_is_met),
        T(sentinel_login_is_the_sentinels_own),
        T(unknown_master_name_is_named),
        T(one_sentinel_down_changes_nothing),
        T(every_sentinel_down_is_named),
    };

    redis_harness_require();
    return cmocka_run_group_tests_name("redis sentinel", tests, group_setup,
                                       group_teardown);
}

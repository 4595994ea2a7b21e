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
#include "store_checks.h"
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
    return open_store_with_key(redis_sentinel_url(setup), prefix, options,
                               signing_key);
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
    /* topology_refresh_ms=0: not even the check once a second. */
    obol_store *st = open_store("&pool=1&topology_refresh_ms=0");
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

/* connect=lazy while no Sentinel answers: the store opens, a call fails
 * within its time, and the same handle finds the master once the
 * Sentinels are back. */
static void lazy_store_opens_before_the_sentinels_answer(void **state)
{
    obol_store *st;
    obol_session *s, *got = NULL;
    obol_error err = { 0 };
    double started;
    int status;
    (void)state;

    for (size_t k = 0; k < redis_sentinel_count(setup); k++)
        assert_int_equal(redis_harness_kill(redis_sentinel_sentinel(setup, k)),
                         0);
    st = open_store("&sentinel_timeout_ms=100&timeout_ms=400&connect=lazy");
    started = redis_harness_monotonic_ms();
    status = obol_get(st, "no-such-session", "lazy", NULL, &got, &err);
    assert_true(status == OBOL_ERR_TIMEOUT || status == OBOL_ERR_BACKEND);
    assert_message_has(err.message, "no Sentinel named master 'obol'");
    assert_true(redis_harness_monotonic_ms() - started < 1000);
    for (size_t k = 0; k < redis_sentinel_count(setup); k++)
        assert_int_equal(
            redis_harness_restart(redis_sentinel_sentinel(setup, k)), 0);
    assert_int_equal(redis_sentinel_wait_linked(setup, SETTLE_WAIT_MS), 0);
    s = insert(st, "lazy");
    assert_int_equal(obol_get(st, s->id, "lazy", NULL, &got, &err), OBOL_OK);
    obol_session_free(got);
    obol_session_free(s);
    obol_store_close(st);
}

/* ----------------------------------------------------------- refreshers */

/* A thread that refreshes one session over and over, as a client that
 * keeps its login alive does, and counts what came back. On a conflict
 * it reads the session again and goes on, as an application would. */
typedef struct refresher {
    obol_store *st;
    obol_session *s;
    volatile int stop;
    int refreshed, errors, conflicts;
    uint64_t lost;            /* acknowledged refreshes a conflict showed
                                 were not stored */
    double slowest_ms, last_ok_ms, first_error_ms, last_error_ms;
    char last_error[256];
    char watch[32];           /* "127.0.0.1:PORT:" of the old master */
    double last_watch_ms;     /* last error that named it */
    pthread_t thread;
} refresher;

static void reread(refresher *r, int after_conflict)
{
    obol_session *got = NULL;
    obol_error err = { 0 };

    if (obol_get(r->st, r->s->id, r->s->user_id, NULL, &got, &err) ==
        OBOL_OK) {
        if (after_conflict && got->lock_version < r->s->lock_version)
            r->lost += r->s->lock_version - got->lock_version;
        obol_session_free(r->s);
        r->s = got;
    }
}

static void *refresh_loop(void *arg)
{
    refresher *r = arg;

    while (!r->stop) {
        obol_error err = { 0 };
        double started = redis_harness_monotonic_ms(), took;
        int status;

        obol_session_refresh(r->s, now_s(), 3600);
        status = obol_upsert(r->st, r->s, &err);
        took = redis_harness_monotonic_ms() - started;
        if (took > r->slowest_ms)
            r->slowest_ms = took;
        if (status == OBOL_OK) {
            r->refreshed++;
            r->last_ok_ms = redis_harness_monotonic_ms();
        } else if (status == OBOL_CONFLICT) {
            r->conflicts++;
            reread(r, 1);
        } else {
            if (r->errors++ == 0)
                r->first_error_ms = redis_harness_monotonic_ms();
            r->last_error_ms = redis_harness_monotonic_ms();
            snprintf(r->last_error, sizeof r->last_error, "%s", err.message);
            if (r->watch[0] != '\0' && strstr(err.message, r->watch) != NULL)
                r->last_watch_ms = r->last_error_ms;
            /* The outcome may be unknown: read what is stored. */
            reread(r, 0);
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

static void refresher_stop(refresher *r)
{
    r->stop = 1;
    assert_int_equal(pthread_join(r->thread, NULL), 0);
    if (r->errors != 0 || r->conflicts != 0)
        fprintf(stderr, "# %s: %d refreshed, %d errors, %d conflicts, "
                        "slowest %.0f ms; last error: %s\n",
                r->s->user_id, r->refreshed, r->errors, r->conflicts,
                r->slowest_ms, r->last_error);
}

/* The sealed record of a session on node i, raw; "" when missing. */
static void raw_record(size_t i, const obol_session *s, char *out,
                       size_t size)
{
    char names[3][REDIS_HARNESS_KEY_MAX];
    redisContext *c = redis_sentinel_client(setup, i);
    redisReply *reply;

    redis_harness_key_names(prefix, s->user_id, "full", names);
    reply = redis_harness_command(c, "HGET %s %s", names[REDIS_HARNESS_REC],
                                  s->id);
    assert_non_null(reply);
    out[0] = '\0';
    if (reply->type == REDIS_REPLY_STRING)
        snprintf(out, size, "%.*s", (int)reply->len, reply->str);
    freeReplyObject(reply);
    redisFree(c);
}

/* -------------------------------------------------------------- failovers */

/* A master stops answering without closing anything (SIGSTOP), briefly
 * (less than down-after-milliseconds, so the Sentinels keep it): calls
 * fail within their time (timeout_ms, plus connect_timeout_ms when they
 * had to connect), and all is well again after SIGCONT. */
static void stalled_master_times_out_then_recovers(void **state)
{
    obol_store *st = open_store("&timeout_ms=200&connect_timeout_ms=150");
    obol_session *s = insert(st, "frank"), *got = NULL;
    redis_harness *node = master_node();
    obol_error err = { 0 };
    double started;
    uint64_t expected_lock;
    int status;
    (void)state;

    assert_int_equal(redis_harness_pause(node), 0);
    started = redis_harness_monotonic_ms();
    status = obol_get(st, s->id, "frank", NULL, &got, &err);
    assert_int_equal(status, OBOL_ERR_TIMEOUT);
    assert_true(redis_harness_monotonic_ms() - started < 200 + 100);
    assert_message_has(err.message, "HGET: no reply within 200 ms");
    /* The get's connection is gone: the refresh connects again, which
     * the stalled server accepts (its kernel does) but never logs in. */
    started = redis_harness_monotonic_ms();
    obol_session_refresh(s, now_s(), 3600);
    status = obol_upsert(st, s, &err);
    assert_int_equal(status, OBOL_ERR_TIMEOUT);
    assert_true(redis_harness_monotonic_ms() - started < 200 + 150 + 100);
    /* Sent (its outcome unknown), or never sent (the login stalled). */
    expected_lock = strstr(err.message, "the outcome is unknown") ? 2 : 1;
    assert_int_equal(redis_harness_resume(node), 0);

    assert_int_equal(stored_lock(st, s), expected_lock);
    obol_session_free(s);
    obol_store_close(st);
}

/* "127.0.0.1:PORT:", as messages name data node i. */
static void node_tag(size_t i, char *out, size_t size)
{
    snprintf(out, size, "127.0.0.1:%u:",
             redis_harness_port(redis_sentinel_node(setup, i)));
}

/* How many client connections node i has that are neither this look's
 * own nor a Sentinel's (which name theirs "sentinel-..."): the store's. */
static int store_connections_on(size_t i)
{
    redisContext *c = redis_sentinel_client(setup, i);
    long long own = redis_harness_integer(c, "CLIENT ID");
    redisReply *reply = redis_harness_command(c, "CLIENT LIST TYPE normal");
    char own_id[32];
    int count = 0;

    assert_non_null(reply);
    assert_int_equal(reply->type, REDIS_REPLY_STRING);
    snprintf(own_id, sizeof own_id, "id=%lld ", own);
    for (const char *line = reply->str; *line != '\0';) {
        size_t len = strcspn(line, "\n");
        if (len > 0 && strncmp(line, own_id, strlen(own_id)) != 0 &&
            memmem(line, len, "name=sentinel-", 14) == NULL)
            count++;
        line += len + (line[len] == '\n');
    }
    freeReplyObject(reply);
    redisFree(c);
    return count;
}

/* Waits until each refresher has gone quiet_ms without an error (and at
 * least quiet_ms has passed), for at most limit_ms; when the last error
 * came, from the start. */
static double wait_until_quiet(refresher *r, int count, double quiet_ms,
                               double limit_ms)
{
    double started = redis_harness_monotonic_ms();

    for (;;) {
        double now = redis_harness_monotonic_ms(), last = started;
        int quiet = now - started >= quiet_ms;

        for (int k = 0; k < count; k++)
            if (r[k].last_error_ms > last)
                last = r[k].last_error_ms;
        for (int k = 0; k < count; k++)
            quiet &= now - r[k].last_error_ms >= quiet_ms &&
                     r[k].last_ok_ms > r[k].last_error_ms;
        if (quiet || now - started > limit_ms)
            return last - started;
        redis_harness_sleep_ms(50);
    }
}

/*
 * SENTINEL FAILOVER as Sentinel does it, under refresh load with
 * wait_replicas=1. Sentinel promotes a replica and names it to clients
 * only about a second later; the old master goes on taking writes until
 * it is demoted, some 10 s later. The store leaves the old master once
 * the Sentinels name the new one (a WAIT that falls short asks them
 * again), so service resumes within seconds and every call returns within
 * its time. Writes the old master took after the promotion are lost; most
 * are reported as failures (their WAIT falls short at once), but for a
 * moment the old master's other replica may still acknowledge one, which
 * then comes back as a conflict on the new master: at most one per
 * refresher, right after the switch, counted and printed.
 */
static void plain_sentinel_failover_resumes_within_seconds(void **state)
{
    obol_store *st = open_store("&pool=4&wait_replicas=1&wait_timeout_ms=300"
                                "&timeout_ms=1000&connect_timeout_ms=300");
    refresher r[2];
    int old_master = master(), new_master;
    double agreed, resumed_after;
    (void)state;

    refresher_start(&r[0], st, "grace");
    refresher_start(&r[1], st, "heidi");
    for (int k = 0; k < 2; k++)
        node_tag((size_t)old_master, r[k].watch, sizeof r[k].watch);
    redis_harness_sleep_ms(200);
    new_master = redis_sentinel_failover(setup, FAILOVER_WAIT_MS);
    assert_true(new_master >= 0 && new_master != old_master);
    agreed = redis_harness_monotonic_ms();
    resumed_after = wait_until_quiet(r, 2, 1000, 8000);
    refresher_stop(&r[0]);
    refresher_stop(&r[1]);
    fprintf(stderr, "# plain SENTINEL FAILOVER: service resumed %.0f ms "
                    "after the Sentinels agreed\n", resumed_after);
    for (int k = 0; k < 2; k++) {
        fprintf(stderr, "# plain SENTINEL FAILOVER, %s: %d refreshed, %d "
                        "failed, %llu acknowledged and lost\n",
                r[k].s->user_id, r[k].refreshed, r[k].errors,
                (unsigned long long)r[k].lost);
        assert_true(r[k].conflicts <= 1);
        assert_true(r[k].slowest_ms < 1000 + 300 + 200);
        assert_true(r[k].last_ok_ms - r[k].last_error_ms >= 900);
        /* Off the old master once the Sentinels named the new one (a
         * call then under way may still end on it). */
        assert_true(r[k].last_watch_ms < agreed + 1000 + 300);
        /* The refresher's last acknowledged refresh is the stored one. */
        assert_int_equal(stored_lock(st, r[k].s), r[k].s->lock_version);
        obol_session_free(r[k].s);
    }
    assert_true(resumed_after < 6000);
    /* The old master, still up and a master until it is demoted, keeps
     * none of the store's connections: dropped when the address changed
     * (idle ones) or when given back (those then in use). */
    assert_int_equal(store_connections_on((size_t)old_master), 0);
    assert_true(store_connections_on((size_t)new_master) > 0);
    assert_int_equal(redis_sentinel_demote(setup, (size_t)old_master), 0);
    assert_int_equal(redis_sentinel_wait_linked(setup, SETTLE_WAIT_MS), 0);
    obol_store_close(st);
}

/* How many EVALSHA node i ran (INFO commandstats). */
static long long evalsha_calls(size_t i)
{
    static const char field[] = "cmdstat_evalsha:calls=";
    redisContext *c = redis_sentinel_client(setup, i);
    redisReply *reply = redis_harness_command(c, "INFO commandstats");
    const char *line;
    long long calls = 0;

    assert_non_null(reply);
    line = strstr(reply->str, field);
    if (line != NULL)
        calls = atoll(line + strlen(field));
    freeReplyObject(reply);
    redisFree(c);
    return calls;
}

/*
 * The same failover without wait_replicas: nothing tells the store that
 * the old master, which goes on answering, is not the master any more,
 * but the store asks the Sentinels again every topology_refresh_ms
 * (1000 by default), so it leaves the old master about a second after
 * the Sentinels name the new one. What it wrote there meanwhile was
 * acknowledged and is lost when the old master is demoted (a conflict
 * shows it; the loss is counted here); that is the price of asynchronous
 * replication that wait_replicas is for.
 */
static void periodic_check_leaves_the_old_master(void **state)
{
    obol_store *st = open_store("&pool=2&timeout_ms=1000");
    refresher r;
    int old_master = master(), new_master;
    long long later;
    (void)state;

    refresher_start(&r, st, "mallory");
    redis_harness_sleep_ms(200);
    new_master = redis_sentinel_failover(setup, FAILOVER_WAIT_MS);
    assert_true(new_master >= 0 && new_master != old_master);
    redis_harness_sleep_ms(1000 + 500);
    later = evalsha_calls((size_t)old_master);
    redis_harness_sleep_ms(500);
    assert_int_equal(evalsha_calls((size_t)old_master), later);
    refresher_stop(&r);
    fprintf(stderr, "# failover without wait_replicas: %d refreshed, %llu "
                    "acknowledged by the old master and lost\n",
            r.refreshed, (unsigned long long)r.lost);
    assert_true(r.conflicts <= 1);
    assert_int_equal(r.errors, 0);
    assert_int_equal(stored_lock(st, r.s), r.s->lock_version);
    obol_session_free(r.s);
    assert_int_equal(redis_sentinel_demote(setup, (size_t)old_master), 0);
    assert_int_equal(redis_sentinel_wait_linked(setup, SETTLE_WAIT_MS), 0);
    obol_store_close(st);
}

/* Node i says it is a replica with its link up. */
static int is_linked_replica(size_t i)
{
    redisContext *c = redis_sentinel_client(setup, i);
    redisReply *reply = redis_harness_command(c, "INFO replication");
    int linked = reply != NULL && reply->type == REDIS_REPLY_STRING &&
                 strstr(reply->str, "role:slave") != NULL &&
                 strstr(reply->str, "master_link_status:up") != NULL;

    freeReplyObject(reply);
    if (c != NULL)
        redisFree(c);
    return linked;
}

/*
 * A switchover that loses nothing: writes paused on the master (CLIENT
 * PAUSE WRITE), SENTINEL FAILOVER, the old master demoted at once
 * (REPLICAOF, what the Sentinels would do 10 s later), writes resumed.
 * The refreshes held on the old master then get READONLY (nothing ran);
 * the store asks the Sentinels again and sends them to the new master
 * within their time. Under refresh load with wait_replicas=1: no
 * conflict, every acknowledged refresh stored, nothing written on the old
 * master once paused (its copy, as a replica, is the new master's).
 */
static void paused_switchover_surfaces_nothing(void **state)
{
    obol_store *st = open_store("&pool=4&wait_replicas=1&wait_timeout_ms=500"
                                "&timeout_ms=5000");
    refresher r[2];
    int old_master = master(), new_master;
    redisContext *old;
    char on_old[512], on_new[512];
    double paused_at;
    (void)state;

    refresher_start(&r[0], st, "ivan");
    refresher_start(&r[1], st, "judy");
    redis_harness_sleep_ms(200);
    old = redis_sentinel_client(setup, (size_t)old_master);
    assert_int_equal(redis_harness_run(old, "CLIENT PAUSE 4000 WRITE"), 0);
    paused_at = redis_harness_monotonic_ms();
    new_master = redis_sentinel_failover(setup, FAILOVER_WAIT_MS);
    assert_true(new_master >= 0 && new_master != old_master);
    assert_int_equal(redis_sentinel_demote(setup, (size_t)old_master), 0);
    for (int waited = 0; !is_linked_replica((size_t)old_master); waited += 20) {
        assert_true(waited < 3000);
        redis_harness_sleep_ms(20);
    }
    assert_int_equal(redis_harness_run(old, "CLIENT UNPAUSE"), 0);
    redisFree(old);
    redis_harness_sleep_ms(1000);
    refresher_stop(&r[0]);
    refresher_stop(&r[1]);
    for (int k = 0; k < 2; k++) {
        /* The old master, a replica now, holds what the new one holds. */
        for (int waited = 0;; waited += 20) {
            raw_record((size_t)old_master, r[k].s, on_old, sizeof on_old);
            raw_record((size_t)new_master, r[k].s, on_new, sizeof on_new);
            if (strcmp(on_old, on_new) == 0)
                break;
            assert_true(waited < 2000);
            redis_harness_sleep_ms(20);
        }
        assert_true(r[k].slowest_ms < 5000);
        /* A refresh that ran just before the pause has its WAIT held by
         * it (replication waits too): a shortfall, or UNBLOCKED when the
         * demotion comes first. Done on the old master, replicated, not
         * acknowledged. Nothing else. */
        assert_true(r[k].errors <= 1);
        if (r[k].errors == 1) {
            assert_true(r[k].first_error_ms < paused_at + 3000);
            assert_message_has(r[k].last_error,
                               "the write reached the master, but");
        }
        assert_int_equal(r[k].conflicts, 0);
        assert_true(r[k].refreshed > 0);
        assert_int_equal(stored_lock(st, r[k].s), r[k].s->lock_version);
        obol_session_free(r[k].s);
    }
    assert_int_equal(redis_sentinel_wait_linked(setup, SETTLE_WAIT_MS), 0);
    obol_store_close(st);
}

/* kill -9 of the master while sessions are written with wait_replicas=1:
 * each call returns within its time while the Sentinels fail it over,
 * then writes succeed on the new master, and every session that was
 * acknowledged is there. */
static void killed_master_fails_over_and_loses_no_acknowledged_write(
    void **state)
{
    obol_store *st = open_store("&wait_replicas=1&wait_timeout_ms=300"
                                "&timeout_ms=800&connect_timeout_ms=200");
    session_writer *w = session_writer_start(st, "kate");
    int old_master = master(), new_master, before;
    (void)state;

    redis_harness_sleep_ms(200);
    assert_int_equal(
        redis_harness_kill(redis_sentinel_node(setup, (size_t)old_master)), 0);
    new_master = redis_sentinel_wait_master(setup, old_master,
                                            FAILOVER_WAIT_MS);
    assert_true(new_master >= 0);
    before = w->acknowledged;
    session_writer_wait_for(w, 20, 5000);
    session_writer_finish(w, "kill -9");

    assert_true(w->slowest_ms < 800 + 200 + 300);
    assert_true(w->failed > 0);
    assert_true(w->acknowledged >= before + 20);
    session_writer_free(w);
    obol_store_close(st);
    /* The old master comes back empty, as a replica of the new one. */
    assert_int_equal(
        redis_harness_restart(redis_sentinel_node(setup, (size_t)old_master)),
        0);
    assert_int_equal(redis_sentinel_demote(setup, (size_t)old_master), 0);
    assert_int_equal(redis_sentinel_wait_linked(setup, SETTLE_WAIT_MS), 0);
}

/* A master stalled for good (SIGSTOP): calls time out within their time
 * until the Sentinels fail it over, then succeed on the new master while
 * the old one is still stopped, and after SIGCONT too. */
static void stalled_master_is_failed_over(void **state)
{
    obol_store *st = open_store("&timeout_ms=300&connect_timeout_ms=200");
    obol_session *s = insert(st, "leo"), *got = NULL;
    int old_master = master(), new_master;
    redis_harness *old = redis_sentinel_node(setup, (size_t)old_master);
    obol_error err = { 0 };
    double started;
    int status;
    (void)state;

    assert_int_equal(redis_harness_pause(old), 0);
    started = redis_harness_monotonic_ms();
    status = obol_get(st, s->id, "leo", NULL, &got, &err);
    assert_int_equal(status, OBOL_ERR_TIMEOUT);
    assert_true(redis_harness_monotonic_ms() - started < 300 + 200 + 100);
    new_master = redis_sentinel_wait_master(setup, old_master,
                                            FAILOVER_WAIT_MS);
    assert_true(new_master >= 0);
    /* The session was replicated before the stall. */
    assert_int_equal(obol_get(st, s->id, "leo", NULL, &got, &err), OBOL_OK);
    obol_session_free(got);
    refresh_ok(st, s);
    assert_int_equal(redis_harness_resume(old), 0);
    refresh_ok(st, s);
    assert_int_equal(stored_lock(st, s), s->lock_version);
    obol_session_free(s);
    obol_store_close(st);
    assert_int_equal(redis_sentinel_demote(setup, (size_t)old_master), 0);
    assert_int_equal(redis_sentinel_wait_linked(setup, SETTLE_WAIT_MS), 0);
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
        T(lazy_store_opens_before_the_sentinels_answer),
        T(stalled_master_times_out_then_recovers),
        T(plain_sentinel_failover_resumes_within_seconds),
        T(paused_switchover_surfaces_nothing),
        T(periodic_check_leaves_the_old_master),
        T(killed_master_fails_over_and_loses_no_acknowledged_write),
        T(stalled_master_is_failed_over),
    };

    redis_harness_require();
    return cmocka_run_group_tests_name("redis sentinel", tests, group_setup,
                                       group_teardown);
}

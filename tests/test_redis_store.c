/*
 * The store on Redis, through the public API only, checked from a second,
 * raw hiredis client: the keys' expiry follows the sessions, a record
 * changed or moved behind the store's back is refused, every operation is
 * one round trip, an outage gives clear errors and the handle recovers,
 * and racing refreshes lose no update. The store-semantics suite
 * (tests/test_store_redis.c) covers the rest; here is what only Redis can
 * show. Each test has a prefix of its own on one shared server.
 */
#define _POSIX_C_SOURCE 200809L
#include "config.h"

#include <inttypes.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <setjmp.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <hiredis.h>
#include <obol/obol.h>

#include "redis_harness.h"

/* ------------------------------------------------------------- fixtures */

static redis_harness *redis;   /* one server for every test */
static redisContext *raw;      /* the second client, behind the store */
static int prefix_counter;
static char prefix[32];        /* this test's prefix */

static const uint8_t signing_key[32] = {
    0x6f, 0x62, 0x6f, 0x6c, 0x2d, 0x72, 0x65, 0x64, 0x69, 0x73, 0x2d, 0x73,
    0x74, 0x6f, 0x72, 0x65, 0x2d, 0x74, 0x65, 0x73, 0x74, 0x2d, 0x6b, 0x65,
    0x79, 0x2d, 0x30, 0x31, 0x32, 0x33, 0x34, 0x35,
};

/* What the store told its logger during one test. */
static struct {
    int warnings;
    char last_warning[512];
} logged;

static void capture_log(void *arg, int level, const char *msg)
{
    (void)arg;
    if (level != OBOL_LOG_WARNING)
        return;
    logged.warnings++;
    snprintf(logged.last_warning, sizeof logged.last_warning, "%s", msg);
}

static int group_setup(void **state)
{
    (void)state;
    redis = redis_harness_start(NULL);
    if (redis == NULL)
        return -1;
    raw = redis_harness_client(redis);
    return raw != NULL ? 0 : -1;
}

static int group_teardown(void **state)
{
    (void)state;
    if (raw != NULL)
        redisFree(raw);
    redis_harness_stop(redis);
    return 0;
}

static int test_setup(void **state)
{
    (void)state;
    snprintf(prefix, sizeof prefix, "rs%d", ++prefix_counter);
    memset(&logged, 0, sizeof logged);
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

/* A store on the shared server under this test's prefix, with the test key
 * and the capturing logger; options start with '&' or are "". */
static obol_store *open_store(const char *options)
{
    char config[512];
    obol_store *st = NULL;
    obol_error err = { 0 };
    int status;

    snprintf(config, sizeof config, "%s?prefix=%s%s",
             redis_harness_url(redis), prefix, options);
    status = obol_store_open(config, &st, &err);
    if (status != OBOL_OK)
        fprintf(stderr, "open %s: %s\n", config, err.message);
    assert_int_equal(status, OBOL_OK);
    assert_int_equal(obol_store_add_key(st, 1, signing_key, 1, &err),
                     OBOL_OK);
    obol_store_set_logger(st, capture_log, NULL);
    return st;
}

static void upsert_ok(obol_store *st, obol_session *s)
{
    obol_error err = { 0 };
    int status = obol_upsert(st, s, &err);

    if (status != OBOL_OK)
        fprintf(stderr, "upsert: %d %s\n", status, err.message);
    assert_int_equal(status, OBOL_OK);
}

/* A stored session of user uid, type "full", whose refresh token lasts
 * refresh_ttl seconds and the session itself far longer, so that the keys'
 * expiry can only have come from refresh_expires_at. */
static obol_session *stored_session(obol_store *st, const char *uid,
                                    int64_t refresh_ttl)
{
    obol_session *s = obol_session_new(uid, NULL, now_s(), 100000,
                                       refresh_ttl);

    assert_non_null(s);
    upsert_ok(st, s);
    return s;
}

static int get_status(obol_store *st, const char *sid, const char *uid,
                      obol_error *err)
{
    obol_session *s = NULL;
    int status = obol_get(st, sid, uid, NULL, &s, err);

    obol_session_free(s);
    return status;
}

/* Looking behind the store with the second client (redis_harness.h).
 * The user ids of these tests need no escaping; the type is "full". */
static void key_names(const char *uid, char names[3][REDIS_HARNESS_KEY_MAX])
{
    redis_harness_key_names(prefix, uid, "full", names);
}

static void assert_no_keys_of(const char *uid)
{
    assert_int_equal(redis_harness_keys_left(raw, prefix, uid, "full"), 0);
}

/* Nothing at all under this test's prefix. */
static void assert_prefix_empty(void)
{
    redisReply *reply = redis_harness_command(
        raw, "SCAN 0 MATCH %s:* COUNT 100000", prefix);

    assert_non_null(reply);
    assert_int_equal(reply->type, REDIS_REPLY_ARRAY);
    assert_int_equal(reply->elements, 2);
    assert_int_equal(reply->element[1]->elements, 0);
    freeReplyObject(reply);
}

/*
 * Every key of uid expires one second after refresh_expires_at (a record
 * is live through its last second; docs/REDIS.md). PEXPIRETIME (Redis 7)
 * gives the exact instant; on Redis 6.2 PTTL gives it give or take the
 * time this check takes.
 */
static void assert_keys_expire_after(const char *uid,
                                     int64_t refresh_expires_at)
{
    long long want_ms = (refresh_expires_at + 1) * 1000LL;
    char names[3][REDIS_HARNESS_KEY_MAX];

    key_names(uid, names);
    for (int k = 0; k < 3; k++) {
        redisReply *reply = redis_harness_command(raw, "PEXPIRETIME %s",
                                                  names[k]);
        long long got_ms, slack_ms = 0;

        assert_non_null(reply);
        if (reply->type == REDIS_REPLY_ERROR) {
            struct timespec ts;
            clock_gettime(CLOCK_REALTIME, &ts);
            got_ms = redis_harness_integer(raw, "PTTL %s", names[k]);
            assert_true(got_ms != REDIS_HARNESS_NO_INTEGER);
            got_ms += (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
            slack_ms = 1000;
        } else {
            assert_int_equal(reply->type, REDIS_REPLY_INTEGER);
            got_ms = reply->integer;
        }
        freeReplyObject(reply);
        if (got_ms < want_ms - slack_ms || got_ms > want_ms + slack_ms) {
            fprintf(stderr, "%s expires at %lld ms, want %lld\n", names[k],
                    got_ms, want_ms);
            fail();
        }
    }
}

/* The stored bytes of (uid, sid), or fails; free with freeReplyObject(). */
static redisReply *raw_record(const char *uid, const char *sid)
{
    char names[3][REDIS_HARNESS_KEY_MAX];
    redisReply *reply;

    key_names(uid, names);
    reply = redis_harness_command(raw, "HGET %s %s",
                                  names[REDIS_HARNESS_REC], sid);
    assert_non_null(reply);
    assert_int_equal(reply->type, REDIS_REPLY_STRING);
    return reply;
}

/* Writes sealed bytes as (uid, sid) the way the driver would, score and
 * lock included, so that only the seal can tell they do not belong. */
static void raw_plant(const char *uid, const char *sid, const char *sealed,
                      size_t len, int64_t expires_at)
{
    char names[3][REDIS_HARNESS_KEY_MAX];

    key_names(uid, names);
    assert_int_equal(redis_harness_run(raw, "HSET %s %s %b",
                                       names[REDIS_HARNESS_REC], sid, sealed,
                                       len),
                     0);
    assert_int_equal(redis_harness_run(raw, "ZADD %s %" PRId64 " %s",
                                       names[REDIS_HARNESS_EXP], expires_at,
                                       sid),
                     0);
    assert_int_equal(redis_harness_run(raw, "HSET %s %s 1",
                                       names[REDIS_HARNESS_LOCK], sid),
                     0);
}

/* Counting round trips (redis_harness.h). */
static redis_harness_monitor *monitor_begin(void)
{
    redis_harness_monitor *monitor = redis_harness_monitor_begin(redis);

    assert_non_null(monitor);
    return monitor;
}

/* ----------------------------------------------------------- key expiry */

static void key_ttl_is_the_highest_refresh_expiry(void **state)
{
    obol_store *st = open_store("");
    obol_session *a = stored_session(st, "alice", 300);
    obol_session *b = stored_session(st, "alice", 900);
    obol_session *c = stored_session(st, "alice", 600);
    (void)state;

    assert_true(b->refresh_expires_at < b->expires_at);
    assert_keys_expire_after("alice", b->refresh_expires_at);
    /* A refresh of the latest pushes the expiry on; of another, not. */
    assert_int_equal(obol_session_refresh(b, now_s(), 1200), OBOL_OK);
    upsert_ok(st, b);
    assert_keys_expire_after("alice", b->refresh_expires_at);
    assert_int_equal(obol_session_refresh(a, now_s(), 60), OBOL_OK);
    upsert_ok(st, a);
    assert_keys_expire_after("alice", b->refresh_expires_at);
    obol_session_free(a);
    obol_session_free(b);
    obol_session_free(c);
    obol_store_close(st);
}

static void key_ttl_is_lowered_after_deleting_the_highest(void **state)
{
    obol_store *st = open_store("");
    obol_session *a = stored_session(st, "alice", 300);
    obol_session *b = stored_session(st, "alice", 900);
    obol_session *c = stored_session(st, "alice", 600);
    (void)state;

    assert_keys_expire_after("alice", b->refresh_expires_at);
    assert_int_equal(obol_delete(st, b->id, "alice", NULL, NULL), OBOL_OK);
    assert_keys_expire_after("alice", c->refresh_expires_at);
    assert_int_equal(obol_delete(st, c->id, "alice", NULL, NULL), OBOL_OK);
    assert_keys_expire_after("alice", a->refresh_expires_at);
    obol_session_free(a);
    obol_session_free(b);
    obol_session_free(c);
    obol_store_close(st);
}

static void keys_are_gone_after_deleting_the_last_session(void **state)
{
    obol_store *st = open_store("");
    obol_session *a = stored_session(st, "alice", 300);
    obol_session *b = stored_session(st, "alice", 900);
    (void)state;

    assert_int_equal(obol_delete(st, a->id, "alice", NULL, NULL), OBOL_OK);
    assert_int_equal(obol_delete(st, b->id, "alice", NULL, NULL), OBOL_OK);
    assert_no_keys_of("alice");
    assert_prefix_empty();
    obol_session_free(a);
    obol_session_free(b);
    obol_store_close(st);
}

static void keys_are_gone_after_delete_all(void **state)
{
    obol_store *st = open_store("");
    obol_session *a = stored_session(st, "alice", 300);
    obol_session *b = stored_session(st, "alice", 900);
    obol_session *other = stored_session(st, "bob", 600);
    (void)state;

    assert_int_equal(obol_delete_all(st, "alice", NULL, NULL), OBOL_OK);
    assert_no_keys_of("alice");
    assert_keys_expire_after("bob", other->refresh_expires_at);
    assert_int_equal(obol_delete_all(st, "bob", NULL, NULL), OBOL_OK);
    assert_prefix_empty();
    obol_session_free(a);
    obol_session_free(b);
    obol_session_free(other);
    obol_store_close(st);
}

static void upsert_of_an_expired_session_writes_nothing(void **state)
{
    obol_store *st = open_store("");
    int64_t long_ago = now_s() - 5000;
    obol_session *dead = obol_session_new("alice", NULL, long_ago, 100000,
                                          60);
    redis_harness_monitor *monitor;
    (void)state;

    assert_non_null(dead);
    monitor = monitor_begin();
    upsert_ok(st, dead);
    assert_int_equal(redis_harness_monitor_end(monitor), 0);
    assert_int_equal(dead->lock_version, 0);
    assert_prefix_empty();
    obol_session_free(dead);
    obol_store_close(st);
}

/* -------------------------------------------- records changed behind us */

static void changed_record_is_not_found_and_logged(void **state)
{
    obol_store *st = open_store("");
    obol_session *s = stored_session(st, "alice", 600);
    redisReply *record = raw_record("alice", s->id);
    size_t len = record->len;
    const size_t positions[4] = { 0, 4, 20, len - 1 };
    char *changed = malloc(len);
    obol_error err = { 0 };
    (void)state;

    assert_non_null(changed);
    assert_true(len > 37);
    /* One bit of the format, the key id, the MAC and the body in turn
     * (docs/FORMAT.md). */
    for (size_t i = 0; i < 4; i++) {
        memcpy(changed, record->str, len);
        changed[positions[i]] ^= 0x01;
        raw_plant("alice", s->id, changed, len, s->refresh_expires_at);
        logged.warnings = 0;
        assert_int_equal(get_status(st, s->id, "alice", &err),
                         OBOL_NOT_FOUND);
        assert_int_equal(logged.warnings, 1);
        assert_message_has(logged.last_warning, s->id);
    }
    {
        obol_session **all = NULL;
        size_t count = 99;
        logged.warnings = 0;
        assert_int_equal(obol_get_all(st, "alice", NULL, &all, &count, &err),
                         OBOL_OK);
        assert_int_equal(count, 0);
        assert_int_equal(logged.warnings, 1);
        obol_sessions_free(all, count);
    }
    free(changed);
    freeReplyObject(record);
    obol_session_free(s);
    obol_store_close(st);
}

static void record_copied_to_another_user_is_not_found(void **state)
{
    obol_store *st = open_store("");
    obol_session *s = stored_session(st, "alice", 600);
    redisReply *record = raw_record("alice", s->id);
    obol_session **all = NULL;
    size_t count = 99;
    obol_error err = { 0 };
    (void)state;

    raw_plant("mallory", s->id, record->str, record->len,
              s->refresh_expires_at);
    assert_int_equal(get_status(st, s->id, "mallory", &err), OBOL_NOT_FOUND);
    assert_int_equal(logged.warnings, 1);
    assert_message_has(logged.last_warning, "mallory");
    assert_int_equal(obol_get_all(st, "mallory", NULL, &all, &count, &err),
                     OBOL_OK);
    assert_int_equal(count, 0);
    assert_int_equal(logged.warnings, 2);
    obol_sessions_free(all, count);
    /* The original is untouched. */
    assert_int_equal(get_status(st, s->id, "alice", &err), OBOL_OK);
    freeReplyObject(record);
    obol_session_free(s);
    obol_store_close(st);
}

static void record_copied_to_another_session_id_is_not_found(void **state)
{
    obol_store *st = open_store("");
    obol_session *s = stored_session(st, "alice", 600);
    redisReply *record = raw_record("alice", s->id);
    obol_error err = { 0 };
    (void)state;

    raw_plant("alice", "forged-id", record->str, record->len,
              s->refresh_expires_at);
    assert_int_equal(get_status(st, "forged-id", "alice", &err),
                     OBOL_NOT_FOUND);
    assert_int_equal(logged.warnings, 1);
    assert_message_has(logged.last_warning, "forged-id");
    freeReplyObject(record);
    obol_session_free(s);
    obol_store_close(st);
}

/* ---------------------------------------------------------- round trips */

static void every_operation_is_one_round_trip(void **state)
{
    obol_store *st = open_store("&pool=1");
    obol_session *s = obol_session_new("alice", NULL, now_s(), 3600, 600);
    obol_session *stale, *got = NULL, **all = NULL;
    size_t count = 0;
    redis_harness_monitor *monitor;
    (void)state;

    assert_non_null(s);
    monitor = monitor_begin();
    upsert_ok(st, s);                                      /* insert */
    assert_int_equal(redis_harness_monitor_end(monitor), 1);
    stale = obol_session_dup(s);
    assert_non_null(stale);

    monitor = monitor_begin();
    assert_int_equal(obol_get(st, s->id, "alice", NULL, &got, NULL), OBOL_OK);
    assert_int_equal(redis_harness_monitor_end(monitor), 1);
    obol_session_free(got);

    assert_int_equal(obol_session_refresh(s, now_s(), 600), OBOL_OK);
    monitor = monitor_begin();
    upsert_ok(st, s);                                      /* update */
    assert_int_equal(redis_harness_monitor_end(monitor), 1);

    monitor = monitor_begin();
    assert_int_equal(obol_upsert(st, stale, NULL), OBOL_CONFLICT);
    assert_int_equal(redis_harness_monitor_end(monitor), 1);

    monitor = monitor_begin();
    assert_int_equal(obol_get_all(st, "alice", NULL, &all, &count, NULL),
                     OBOL_OK);
    assert_int_equal(redis_harness_monitor_end(monitor), 1);
    assert_int_equal(count, 1);
    obol_sessions_free(all, count);

    monitor = monitor_begin();
    assert_int_equal(obol_delete(st, s->id, "alice", NULL, NULL), OBOL_OK);
    assert_int_equal(redis_harness_monitor_end(monitor), 1);

    monitor = monitor_begin();
    assert_int_equal(get_status(st, s->id, "alice", NULL), OBOL_NOT_FOUND);
    assert_int_equal(redis_harness_monitor_end(monitor), 1);

    monitor = monitor_begin();
    assert_int_equal(obol_delete_all(st, "alice", NULL, NULL), OBOL_OK);
    assert_int_equal(redis_harness_monitor_end(monitor), 1);

    obol_session_free(stale);
    obol_session_free(s);
    obol_store_close(st);
}

/* -------------------------------------------------------------- outages */

enum { TIMEOUT_MS = 300, CONNECT_TIMEOUT_MS = 300, SLACK_MS = 400 };

static void assert_fails_naming_server(int status, double started,
                                       const obol_error *err)
{
    char where[64];

    snprintf(where, sizeof where, "redis 127.0.0.1:%u",
             redis_harness_port(redis));
    if (status != OBOL_ERR_BACKEND && status != OBOL_ERR_TIMEOUT)
        fprintf(stderr, "status %d: %s\n", status, err->message);
    assert_true(status == OBOL_ERR_BACKEND || status == OBOL_ERR_TIMEOUT);
    assert_int_equal(err->status, status);
    assert_message_has(err->message, where);
    assert_true(redis_harness_monotonic_ms() - started <
                TIMEOUT_MS + CONNECT_TIMEOUT_MS + SLACK_MS);
}

static void killed_server_fails_within_timeout_then_recovers(void **state)
{
    char options[96];
    obol_store *st;
    obol_session *s, *fresh, *got = NULL;
    obol_error err = { 0 };
    double started;
    (void)state;

    snprintf(options, sizeof options,
             "&timeout_ms=%d&connect_timeout_ms=%d&pool=2", TIMEOUT_MS,
             CONNECT_TIMEOUT_MS);
    st = open_store(options);
    s = stored_session(st, "alice", 600);
    redisFree(raw);
    raw = NULL;
    assert_int_equal(redis_harness_kill(redis), 0);

    /* More calls than connections: a dead idle connection is no excuse. */
    for (int attempt = 0; attempt < 3; attempt++) {
        started = redis_harness_monotonic_ms();
        assert_fails_naming_server(get_status(st, s->id, "alice", &err),
                                   started, &err);
        assert_int_equal(obol_session_refresh(s, now_s(), 600), OBOL_OK);
        started = redis_harness_monotonic_ms();
        assert_fails_naming_server(obol_upsert(st, s, &err), started, &err);
        assert_int_equal(s->lock_version, 1);
    }

    assert_int_equal(redis_harness_restart(redis), 0);
    raw = redis_harness_client(redis);
    assert_non_null(raw);
    /* The server came back empty; the same handle serves it. */
    assert_int_equal(get_status(st, s->id, "alice", &err), OBOL_NOT_FOUND);
    assert_int_equal(obol_upsert(st, s, &err), OBOL_CONFLICT);
    fresh = stored_session(st, "alice", 600);
    assert_int_equal(obol_get(st, fresh->id, "alice", NULL, &got, &err),
                     OBOL_OK);
    assert_string_equal(got->refresh_token_id, fresh->refresh_token_id);
    assert_int_equal(got->lock_version, 1);
    obol_session_free(got);
    obol_session_free(fresh);
    obol_session_free(s);
    obol_store_close(st);
}

/* A scan visitor that counts. */
static int count_scanned(void *arg, const obol_session *s)
{
    (void)s;
    ++*(int *)arg;
    return OBOL_OK;
}

/* connect=lazy: a service whose Redis is not up yet opens its store all
 * the same; every call fails as it would in an outage (a walk too, never
 * an empty success), and the same handle serves the server once it is
 * up. The normal open still fails at once. */
static void lazy_store_opens_before_the_server_and_serves_it_after(void **state)
{
    char options[128];
    obol_store *st = NULL, *eager = NULL;
    obol_session *s, *got = NULL, **all = NULL;
    obol_session *fresh;
    obol_error err = { 0 };
    size_t count = 0;
    int scanned = 0;
    double started;
    redis_harness_monitor *monitor;
    (void)state;

    redisFree(raw);
    raw = NULL;
    assert_int_equal(redis_harness_kill(redis), 0);
    snprintf(options, sizeof options,
             "&timeout_ms=%d&connect_timeout_ms=%d", TIMEOUT_MS,
             CONNECT_TIMEOUT_MS);

    started = redis_harness_monotonic_ms();
    {
        char config[512];
        snprintf(config, sizeof config, "%s?prefix=%s%s",
                 redis_harness_url(redis), prefix, options);
        assert_fails_naming_server(obol_store_open(config, &eager, &err),
                                   started, &err);
        assert_null(eager);
    }
    /* Opens although nothing listens (no time limit asserted: the first
     * use of OpenSSL's digests is slow under valgrind). */
    strcat(options, "&connect=lazy");
    st = open_store(options);

    s = obol_session_new("alice", NULL, now_s(), 100000, 600);
    assert_non_null(s);
    started = redis_harness_monotonic_ms();
    assert_fails_naming_server(obol_upsert(st, s, &err), started, &err);
    assert_int_equal(s->lock_version, 0);
    started = redis_harness_monotonic_ms();
    assert_fails_naming_server(get_status(st, s->id, "alice", &err), started,
                               &err);
    started = redis_harness_monotonic_ms();
    assert_fails_naming_server(obol_get_all(st, "alice", NULL, &all, &count,
                                            &err), started, &err);
    started = redis_harness_monotonic_ms();
    assert_fails_naming_server(obol_scan(st, count_scanned, &scanned, NULL,
                                         &err), started, &err);
    assert_int_equal(scanned, 0);

    assert_int_equal(redis_harness_restart(redis), 0);
    raw = redis_harness_client(redis);
    assert_non_null(raw);
    /* The same handle, no reopening. The scripts' SHA1s were computed at
     * open: the first EVALSHA is NOSCRIPT and runs the source, after
     * which an upsert is one round trip again. */
    upsert_ok(st, s);
    assert_int_equal(s->lock_version, 1);
    assert_int_equal(obol_get(st, s->id, "alice", NULL, &got, &err), OBOL_OK);
    assert_string_equal(got->refresh_token_id, s->refresh_token_id);
    obol_session_free(got);
    fresh = obol_session_new("alice", NULL, now_s(), 100000, 600);
    assert_non_null(fresh);
    monitor = monitor_begin();
    upsert_ok(st, fresh);
    assert_int_equal(redis_harness_monitor_end(monitor), 1);
    assert_int_equal(obol_scan(st, count_scanned, &scanned, NULL, &err),
                     OBOL_OK);
    assert_int_equal(scanned, 2);
    obol_session_free(fresh);
    obol_session_free(s);
    obol_store_close(st);
}

static void connect_option_takes_eager_or_lazy(void **state)
{
    char config[512];
    obol_store *st = NULL;
    obol_error err = { 0 };
    (void)state;

    snprintf(config, sizeof config, "%s?prefix=%s&connect=eager",
             redis_harness_url(redis), prefix);
    assert_int_equal(obol_store_open(config, &st, &err), OBOL_OK);
    obol_store_close(st);
    st = NULL;
    snprintf(config, sizeof config, "%s?prefix=%s&connect=later",
             redis_harness_url(redis), prefix);
    assert_int_equal(obol_store_open(config, &st, &err), OBOL_ERR_INVALID);
    assert_message_has(err.message, "connect 'later' is not eager or lazy");
}

/* ------------------------------------------------------------ prefixes */

static int lists_prefix(const obol_prefix_list *list, const char *name)
{
    for (size_t i = 0; i < list->count; i++)
        if (strcmp(list->prefixes[i], name) == 0)
            return 1;
    return 0;
}

/* A store under prefix base + suffix (suffix as written in a URL). */
static obol_store *open_store_under(const char *suffix)
{
    char saved[sizeof prefix];
    obol_store *st;

    snprintf(saved, sizeof saved, "%s", prefix);
    snprintf(prefix, sizeof prefix, "%s%s", saved, suffix);
    st = open_store("");
    snprintf(prefix, sizeof prefix, "%s", saved);
    return st;
}

/* SCAN with a budget: every prefix with records on a small server (its
 * escaping undone), someone else's keys ignored, and "maybe more" once
 * the server holds more keys than the budget looks at. */
static void prefixes_are_found_by_scan_within_a_budget(void **state)
{
    char plain[64], odd[64];
    obol_store *a = open_store_under("-a");
    obol_store *b = open_store_under("%20b%3A%7Bx%7D");
    obol_store *empty = open_store("");
    obol_session *s1, *s2;
    obol_prefix_list list;
    obol_error err = { 0 };
    (void)state;

    snprintf(plain, sizeof plain, "%s-a", prefix);
    snprintf(odd, sizeof odd, "%s b:{x}", prefix);
    s1 = stored_session(a, "alice", 600);
    s2 = stored_session(b, "bob", 600);
    /* Matches the pattern, but no prefix escapes to "bad%zz". */
    assert_int_equal(redis_harness_run(raw, "SET %s x", "bad%zz:{u:t}:rec"),
                     0);
    assert_int_equal(obol_store_prefixes(empty, &list, &err), OBOL_OK);
    assert_int_equal(list.complete, 1);
    assert_true(lists_prefix(&list, plain));
    assert_true(lists_prefix(&list, odd));
    assert_false(lists_prefix(&list, prefix));
    for (size_t i = 0; i < list.count; i++)
        assert_null(strstr(list.prefixes[i], "bad"));
    obol_prefix_list_clear(&list);

    assert_int_equal(redis_harness_run(raw, "EVAL %s 0",
                                       "for i = 1, 40000 do "
                                       "redis.call('SET', 'filler:' .. i, 'x') "
                                       "end"), 0);
    assert_int_equal(obol_store_prefixes(empty, &list, &err), OBOL_OK);
    assert_int_equal(list.complete, 0);
    obol_prefix_list_clear(&list);
    assert_int_equal(redis_harness_run(raw, "EVAL %s 0",
                                       "for i = 1, 40000 do "
                                       "redis.call('DEL', 'filler:' .. i) "
                                       "end"), 0);
    assert_int_equal(redis_harness_run(raw, "DEL %s", "bad%zz:{u:t}:rec"), 0);
    obol_session_free(s1);
    obol_session_free(s2);
    obol_store_close(empty);
    obol_store_close(b);
    obol_store_close(a);
}

/* -------------------------------------------------------------- threads */

enum { RACERS = 8, WINS_EACH = 20 };

typedef struct racer {
    obol_store *st;
    const char *sid;
    int wins, conflicts, failures;
    char failure[300];
} racer;

/*
 * A refresh as an application does it: read, refresh, write back under the
 * lock, and on a conflict start again from a fresh read. The payload holds
 * a counter each winner increments, so a lost update would show as a
 * counter behind the lock version.
 */
static void *refresh_race(void *arg)
{
    racer *r = arg;

    while (r->wins < WINS_EACH) {
        obol_session *s = NULL;
        obol_error err = { 0 };
        char counter[24] = "";
        int status = obol_get(r->st, r->sid, "alice", NULL, &s, &err);

        if (status == OBOL_OK) {
            memcpy(counter, s->extra_payload,
                   s->extra_payload_len < 23 ? s->extra_payload_len : 23);
            snprintf(counter, sizeof counter, "%llu",
                     strtoull(counter, NULL, 10) + 1);
            status = obol_session_refresh(s, now_s(), 600);
        }
        if (status == OBOL_OK)
            status = obol_session_set_payload(s, counter, strlen(counter));
        if (status == OBOL_OK)
            status = obol_upsert(r->st, s, &err);
        obol_session_free(s);
        if (status == OBOL_OK) {
            r->wins++;
        } else if (status == OBOL_CONFLICT) {
            r->conflicts++;
        } else {
            r->failures++;
            snprintf(r->failure, sizeof r->failure, "%d %s", status,
                     err.message);
            return NULL;
        }
    }
    return NULL;
}

static void racing_refreshes_lose_no_update(void **state)
{
    obol_store *st = open_store("&pool=4&timeout_ms=5000");
    obol_session *s = obol_session_new("alice", NULL, now_s(), 3600, 600);
    obol_session *final = NULL;
    pthread_t threads[RACERS];
    racer racers[RACERS];
    int wins = 0;
    char expected[24];
    (void)state;

    assert_non_null(s);
    assert_int_equal(obol_session_set_payload(s, "0", 1), OBOL_OK);
    upsert_ok(st, s);
    for (int i = 0; i < RACERS; i++) {
        racers[i] = (racer){ .st = st, .sid = s->id };
        assert_int_equal(pthread_create(&threads[i], NULL, refresh_race,
                                        &racers[i]), 0);
    }
    for (int i = 0; i < RACERS; i++) {
        assert_int_equal(pthread_join(threads[i], NULL), 0);
        if (racers[i].failures != 0)
            fprintf(stderr, "racer %d: %s\n", i, racers[i].failure);
        assert_int_equal(racers[i].failures, 0);
        wins += racers[i].wins;
    }
    assert_int_equal(wins, RACERS * WINS_EACH);
    assert_int_equal(obol_get(st, s->id, "alice", NULL, &final, NULL),
                     OBOL_OK);
    assert_int_equal(final->lock_version, (uint64_t)wins + 1);
    snprintf(expected, sizeof expected, "%d", wins);
    assert_int_equal(final->extra_payload_len, strlen(expected));
    assert_memory_equal(final->extra_payload, expected, strlen(expected));
    obol_session_free(final);
    obol_session_free(s);
    obol_store_close(st);
}

/* ---------------------------------------------------------------- stats */

static obol_stats driver_counters(obol_store *st)
{
    obol_stats s;
    obol_error err = { 0 };

    assert_int_equal(obol_store_stats(st, &s, sizeof s, &err), OBOL_OK);
    assert_true(s.has_driver_stats);
    return s;
}

enum { WAITERS = 4, WAITER_GETS = 200 };

typedef struct waiter {
    obol_store *st;
    const char *sid;
    int failures;
} waiter;

static void *get_many(void *arg)
{
    waiter *w = arg;

    for (int i = 0; i < WAITER_GETS; i++)
        w->failures += get_status(w->st, w->sid, "alice", NULL) != OBOL_OK;
    return NULL;
}

/* One connection for four threads: they wait for it (and none times
 * out); a connection the server killed is found closed and replaced,
 * which is a reconnect. */
static void stats_count_connects_reconnects_and_pool_waits(void **state)
{
    obol_store *st = open_store("&pool=1&timeout_ms=5000");
    obol_session *s = stored_session(st, "alice", 600);
    pthread_t threads[WAITERS];
    waiter waiters[WAITERS];
    obol_stats c = driver_counters(st);
    (void)state;

    assert_int_equal(c.connects, 1);
    assert_int_equal(c.reconnects, 0);
    assert_int_equal(c.pool_waits, 0);
    for (int i = 0; i < WAITERS; i++) {
        waiters[i] = (waiter){ st, s->id, 0 };
        assert_int_equal(pthread_create(&threads[i], NULL, get_many,
                                        &waiters[i]), 0);
    }
    for (int i = 0; i < WAITERS; i++) {
        assert_int_equal(pthread_join(threads[i], NULL), 0);
        assert_int_equal(waiters[i].failures, 0);
    }
    c = driver_counters(st);
    assert_true(c.pool_waits > 0);
    assert_int_equal(c.pool_timeouts, 0);
    assert_int_equal(c.connects, 1);

    assert_int_equal(redis_harness_run(raw, "CLIENT KILL TYPE normal "
                                            "SKIPME yes"), 0);
    redis_harness_sleep_ms(50);
    assert_int_equal(get_status(st, s->id, "alice", NULL), OBOL_OK);
    c = driver_counters(st);
    assert_int_equal(c.connects, 2);
    assert_int_equal(c.reconnects, 1);
    assert_int_equal(c.connect_failures, 0);
    assert_int_equal(c.moved + c.asked + c.topology_refreshes, 0);
    obol_session_free(s);
    obol_store_close(st);
}

/* ----------------------------------------------------------------- main */

#define T(name) cmocka_unit_test_setup(name, test_setup)

int main(void)
{
    const struct CMUnitTest tests[] = {
        T(key_ttl_is_the_highest_refresh_expiry),
        T(key_ttl_is_lowered_after_deleting_the_highest),
        T(keys_are_gone_after_deleting_the_last_session),
        T(keys_are_gone_after_delete_all),
        T(upsert_of_an_expired_session_writes_nothing),
        T(changed_record_is_not_found_and_logged),
        T(record_copied_to_another_user_is_not_found),
        T(record_copied_to_another_session_id_is_not_found),
        T(every_operation_is_one_round_trip),
        T(killed_server_fails_within_timeout_then_recovers),
        T(lazy_store_opens_before_the_server_and_serves_it_after),
        T(connect_option_takes_eager_or_lazy),
        T(prefixes_are_found_by_scan_within_a_budget),
        T(racing_refreshes_lose_no_update),
        T(stats_count_connects_reconnects_and_pool_waits),
    };

    redis_harness_require();
    return cmocka_run_group_tests_name("redis store", tests, group_setup,
                                       group_teardown);
}

/*
 * The Redis driver on its own, against a real redis-server started by
 * tests/redis_harness.h: loaded from $OBOL_DRIVER_PATH by the core's own
 * loader, opened from config strings parsed by the core's own parser, and
 * checked from a second, raw hiredis client. Each test uses a
 * prefix of its own, so the tests share one server without seeing each
 * other.
 */
#define _POSIX_C_SOURCE 200809L
#include "config.h"

#include <arpa/inet.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <setjmp.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <hiredis.h>
#include <obol/driver.h>

#include "config_internal.h"
#include "loader_internal.h"
#include "redis_harness.h"

/* ------------------------------------------------------------- fixtures */

static const obol_driver *driver;
static redis_harness *redis;  /* shared server, started once */
static redisContext *raw;     /* second client, to look behind the driver */
static int prefix_counter;
static char prefix[32];       /* this test's prefix */

/* Through the core's own loader, as a store loads it. */
static int load_driver(void)
{
    obol_error err = { 0 };

    if (obol_loader_load("redis", "redis", &driver, &err) != OBOL_OK) {
        fprintf(stderr, "%s\n", err.message);
        return -1;
    }
    return 0;
}

static int group_setup(void **state)
{
    (void)state;
    if (load_driver() != 0)
        return -1;
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

/* Every test gets a fresh prefix. */
static int test_setup(void **state)
{
    (void)state;
    snprintf(prefix, sizeof prefix, "t%d", ++prefix_counter);
    return 0;
}

/* -------------------------------------------------------------- helpers */

static int64_t now_s(void)
{
    return (int64_t)time(NULL);
}

/* Opens the driver from a config string, as the core would after parsing
 * it; the test's prefix is added unless the string names one. */
static int open_url(const char *url, void **handle, obol_error *err)
{
    obol_config config;
    obol_driver_config driver_config;
    char full[1024];
    int status;

    if (strstr(url, "prefix=") != NULL)
        snprintf(full, sizeof full, "%s", url);
    else
        snprintf(full, sizeof full, "%s%cprefix=%s", url,
                 strchr(url, '?') != NULL ? '&' : '?', prefix);
    status = obol_config_parse(full, &config, err);
    if (status != OBOL_OK)
        return status;
    obol_config_for_driver(&config, &driver_config);
    *handle = NULL;
    status = driver->open(&driver_config, handle, err);
    obol_config_clear(&config);
    return status;
}

/* The shared server with the given options ("" for none). */
static void *open_default(const char *options)
{
    char url[512];
    obol_error err = { 0 };
    void *handle = NULL;
    int status;

    snprintf(url, sizeof url, "%s%s", redis_harness_url(redis), options);
    status = open_url(url, &handle, &err);
    if (status != OBOL_OK)
        fprintf(stderr, "open %s: %s\n", url, err.message);
    assert_int_equal(status, OBOL_OK);
    return handle;
}

/* The status of opening url, with the message in err. */
static int open_status(const char *url, obol_error *err)
{
    void *handle = NULL;
    int status = open_url(url, &handle, err);

    if (status == OBOL_OK)
        driver->close(handle);
    return status;
}

static void assert_message_has(const obol_error *err, const char *part)
{
    if (strstr(err->message, part) == NULL) {
        fprintf(stderr, "message \"%s\" lacks \"%s\"\n", err->message, part);
        fail();
    }
}

static obol_bytes bytes_of(const void *data, size_t len)
{
    obol_bytes b = { data, len };
    return b;
}

static obol_bytes text(const char *s)
{
    return bytes_of(s, strlen(s));
}

static obol_driver_key key_of(const char *user, const char *type,
                              const char *id)
{
    obol_driver_key key = { text(user), text(type), text(id) };
    return key;
}

static int put_record(void *handle, obol_driver_key key, const char *sealed,
                      int64_t expires_at, uint64_t expected, int64_t now,
                      obol_error *err)
{
    obol_driver_record record = { key, text(sealed), expires_at,
                                  expected + 1 };
    return driver->put(handle, &record, expected, now, err);
}

/* put() that must succeed. */
static void put_ok(void *handle, obol_driver_key key, const char *sealed,
                   int64_t expires_at, uint64_t expected)
{
    obol_error err = { 0 };
    int status = put_record(handle, key, sealed, expires_at, expected,
                            now_s(), &err);
    if (status != OBOL_OK)
        fprintf(stderr, "put: %d %s\n", status, err.message);
    assert_int_equal(status, OBOL_OK);
}

static int get_status(void *handle, obol_driver_key key, char *out,
                      size_t out_size, obol_error *err)
{
    uint8_t *sealed = NULL;
    size_t sealed_len = 0;
    int status = driver->get(handle, &key, &sealed, &sealed_len, err);

    if (status == OBOL_OK) {
        size_t n = sealed_len < out_size - 1 ? sealed_len : out_size - 1;
        memcpy(out, sealed, n);
        out[n] = '\0';
        free(sealed);
    }
    return status;
}

/* get() compared with the expected text; NULL expects OBOL_NOT_FOUND. */
static void assert_stored(void *handle, obol_driver_key key,
                          const char *expected)
{
    char got[256];
    obol_error err = { 0 };
    int status = get_status(handle, key, got, sizeof got, &err);

    if (expected == NULL) {
        assert_int_equal(status, OBOL_NOT_FOUND);
        return;
    }
    if (status != OBOL_OK)
        fprintf(stderr, "get: %d %s\n", status, err.message);
    assert_int_equal(status, OBOL_OK);
    assert_string_equal(got, expected);
}

static void del_ok(void *handle, obol_driver_key key)
{
    obol_error err = { 0 };
    assert_int_equal(driver->del(handle, &key, &err), OBOL_OK);
}

/* Collects what list() or scan() visit. */
typedef struct seen {
    size_t count;
    struct {
        char user[64], type[64], id[64], sealed[128];
        size_t user_len, type_len;
        int64_t expires_at;
        uint64_t lock_version;
    } r[64];
} seen;

static void copy_out(char *out, size_t size, obol_bytes b)
{
    size_t n = b.len < size - 1 ? b.len : size - 1;
    memcpy(out, b.data, n);
    out[n] = '\0';
}

static int collect(void *arg, const obol_driver_record *record)
{
    seen *s = arg;

    if (s->count == 64)
        return OBOL_ERR_INVALID;
    copy_out(s->r[s->count].user, 64, record->key.user_id);
    copy_out(s->r[s->count].type, 64, record->key.type);
    copy_out(s->r[s->count].id, 64, record->key.id);
    copy_out(s->r[s->count].sealed, 128, record->sealed);
    s->r[s->count].user_len = record->key.user_id.len;
    s->r[s->count].type_len = record->key.type.len;
    s->r[s->count].expires_at = record->expires_at;
    s->r[s->count].lock_version = record->lock_version;
    s->count++;
    return OBOL_OK;
}

static size_t list_count(void *handle, obol_driver_key key, seen *s)
{
    obol_error err = { 0 };
    memset(s, 0, sizeof *s);
    assert_int_equal(driver->list(handle, &key, collect, s, &err), OBOL_OK);
    return s->count;
}

static int seen_index(const seen *s, const char *id)
{
    for (size_t i = 0; i < s->count; i++)
        if (strcmp(s->r[i].id, id) == 0)
            return (int)i;
    return -1;
}

/* Looking behind the driver with the second client (redis_harness.h). */
static void assert_keys_absent(const char *user, const char *type)
{
    assert_int_equal(redis_harness_keys_left(raw, prefix, user, type), 0);
}

/* Every key of (user, type) expires within [low_ms, high_ms]. */
static void assert_ttl_between(const char *user, const char *type,
                               long long low_ms, long long high_ms)
{
    char names[3][REDIS_HARNESS_KEY_MAX];

    redis_harness_key_names(prefix, user, type, names);
    for (int k = 0; k < 3; k++) {
        long long ttl = redis_harness_integer(raw, "PTTL %s", names[k]);
        if (ttl < low_ms || ttl > high_ms) {
            fprintf(stderr, "PTTL %s = %lld, want %lld..%lld\n", names[k],
                    ttl, low_ms, high_ms);
            fail();
        }
    }
}

/* --------------------------------------------------------------- config */

static int serves_scheme(const char *scheme)
{
    for (const char *const *s = driver->schemes; *s != NULL; s++)
        if (strcmp(*s, scheme) == 0)
            return 1;
    return 0;
}

static void entry_declares_the_driver(void **state)
{
    (void)state;
    assert_int_equal(driver->abi_major, OBOL_DRIVER_ABI_MAJOR);
    assert_true(driver->struct_size >= OBOL_DRIVER_MIN_SIZE);
    assert_string_equal(driver->name, "redis");
    assert_string_equal(driver->schemes[0], "redis");
    assert_true(serves_scheme("redis+unix"));
    assert_true(serves_scheme("redis+cluster"));
    assert_true(serves_scheme("redis+sentinel"));
    assert_true(serves_scheme("rediss"));
    assert_true(serves_scheme("rediss+cluster"));
    assert_int_equal(driver->capabilities,
                     OBOL_DRIVER_THREAD_SAFE | OBOL_DRIVER_MULTI_PROCESS |
                         OBOL_DRIVER_NATIVE_EXPIRY | OBOL_DRIVER_PERSISTENT);
    assert_non_null(driver->health);
}

/* Appends options to the shared server's URL and expects INVALID with a
 * message naming part. */
static void assert_refused(const char *suffix, const char *part)
{
    char url[512];
    obol_error err = { 0 };

    snprintf(url, sizeof url, "%s%s", redis_harness_url(redis), suffix);
    assert_int_equal(open_status(url, &err), OBOL_ERR_INVALID);
    assert_message_has(&err, part);
}

static void config_refuses_unknown_option(void **state)
{
    (void)state;
    assert_refused("?colour=blue", "unknown option 'colour'");
}

static void config_refuses_bad_numbers(void **state)
{
    (void)state;
    assert_refused("?timeout_ms=abc", "timeout_ms 'abc'");
    assert_refused("?timeout_ms=0", "timeout_ms '0'");
    assert_refused("?timeout_ms=-5", "timeout_ms '-5'");
    assert_refused("?connect_timeout_ms=1e3", "connect_timeout_ms '1e3'");
    assert_refused("?pool=0", "pool '0'");
    assert_refused("?pool=99999", "pool '99999'");
    assert_refused("?pool=4x", "pool '4x'");
    assert_refused("?db=two", "db 'two'");
}

static void config_refuses_option_given_twice(void **state)
{
    (void)state;
    assert_refused("?pool=2&pool=3", "'pool' is given twice");
    assert_refused("/1?db=2", "both as the path and as option 'db'");
}

static void config_refuses_db_path_that_is_not_a_number(void **state)
{
    (void)state;
    assert_refused("/abc", "path '/abc'");
    assert_refused("/1/2", "path '/1/2'");
    assert_refused("/-1", "path '/-1'");
}

static void config_refuses_empty_host(void **state)
{
    obol_error err = { 0 };
    (void)state;
    assert_int_equal(open_status("redis:///0", &err), OBOL_ERR_INVALID);
    assert_message_has(&err, "host is empty");
}

static void config_refuses_host_for_unix_socket(void **state)
{
    obol_error err = { 0 };
    (void)state;
    assert_int_equal(open_status("redis+unix://localhost/run/redis.sock",
                                 &err),
                     OBOL_ERR_INVALID);
    assert_message_has(&err, "takes no host ('localhost')");
    assert_int_equal(open_status("redis+unix://", &err), OBOL_ERR_INVALID);
    assert_message_has(&err, "absolute path of the socket");
}

static void config_refuses_user_without_password(void **state)
{
    char url[256];
    obol_error err = { 0 };
    (void)state;
    snprintf(url, sizeof url, "redis://bob@127.0.0.1:%u",
             redis_harness_port(redis));
    assert_int_equal(open_status(url, &err), OBOL_ERR_INVALID);
    assert_message_has(&err, "user 'bob' has no password");
    assert_refused("?password=hunter2", "env:NAME or file:PATH");
    assert_refused("?password=env:OBOL_TEST_UNSET_VARIABLE",
                   "'OBOL_TEST_UNSET_VARIABLE' is not set");
}

static void open_names_server_and_cause_when_unreachable(void **state)
{
    obol_error err = { 0 };
    (void)state;
    /* Port 1 on loopback: nothing listens there. */
    assert_int_equal(open_status("redis://127.0.0.1:1?connect_timeout_ms=300",
                                 &err),
                     OBOL_ERR_BACKEND);
    assert_message_has(&err, "redis 127.0.0.1:1: connect: ");
    assert_message_has(&err, "refused");
}

/* A cluster config string with the shared server as its seed. */
static void assert_cluster_refused(const char *suffix, const char *part)
{
    char url[512];
    obol_error err = { 0 };

    snprintf(url, sizeof url, "redis+cluster://127.0.0.1:%u%s",
             redis_harness_port(redis), suffix);
    assert_int_equal(open_status(url, &err), OBOL_ERR_INVALID);
    assert_message_has(&err, part);
}

static void cluster_config_refuses_a_database(void **state)
{
    (void)state;
    assert_cluster_refused("/3", "Redis Cluster has only database 0");
    assert_cluster_refused("?db=2", "Redis Cluster has only database 0");
}

static void cluster_config_refuses_malformed_nodes(void **state)
{
    (void)state;
    assert_cluster_refused("?nodes=", "option 'nodes': '' is not HOST:PORT");
    assert_cluster_refused("?nodes=abc", "'abc' is not HOST:PORT");
    assert_cluster_refused("?nodes=h:0", "'h:0' is not HOST:PORT");
    assert_cluster_refused("?nodes=h:99999", "'h:99999' is not HOST:PORT");
    assert_cluster_refused("?nodes=:7000", "':7000' is not HOST:PORT");
    assert_cluster_refused("?nodes=h:7000,,h:7001", "'' is not HOST:PORT");
    assert_cluster_refused("?nodes=%5B::1:7000", "is not HOST:PORT");
    assert_cluster_refused("?nodes=a:1&nodes=b:2", "'nodes' is given twice");
    assert_cluster_refused("?nodes=user:s3cret@h:7000", "holds '@' (not shown)");
    assert_cluster_refused("?topology_refresh_ms=x",
                           "topology_refresh_ms 'x'");
}

static void cluster_options_are_refused_for_one_server(void **state)
{
    (void)state;
    assert_refused("?nodes=127.0.0.1:7000", "'nodes' is for redis+cluster");
    assert_refused("?topology_refresh_ms=10",
                   "'topology_refresh_ms' is for redis+cluster");
}

/* The TLS options, refused before anything is connected or read. */
static void tls_options_are_refused_without_tls(void **state)
{
    obol_error err = { 0 };
    char url[512];

    (void)state;
    assert_refused("?tls_ca=/x/ca.crt", "option 'tls_ca' is for TLS only "
                                        "(rediss://, rediss+cluster://, "
                                        "rediss+sentinel://)");
    assert_refused("?tls_server_name=localhost",
                   "option 'tls_server_name' is for TLS only");
    assert_int_equal(open_status("redis+cluster://127.0.0.1:1?tls_cert=/x/c"
                                 "&tls_key=/x/k", &err),
                     OBOL_ERR_INVALID);
    assert_message_has(&err, "option 'tls_cert' is for TLS only");
    snprintf(url, sizeof url, "redis+unix://%s?tls_key=/x/k",
             redis_harness_socket(redis));
    assert_int_equal(open_status(url, &err), OBOL_ERR_INVALID);
    assert_message_has(&err, "option 'tls_key' is for TLS only");
}

static void tls_config_refuses_a_certificate_without_its_key(void **state)
{
    obol_error err = { 0 };

    (void)state;
    assert_int_equal(open_status("rediss://127.0.0.1:1?tls_cert=/x/c", &err),
                     OBOL_ERR_INVALID);
    assert_message_has(&err, "option 'tls_cert' needs tls_key");
    assert_int_equal(open_status("rediss+cluster://127.0.0.1:1?tls_key=/x/k",
                                 &err),
                     OBOL_ERR_INVALID);
    assert_message_has(&err, "option 'tls_key' needs tls_cert");
}

static void tls_config_refuses_bad_options(void **state)
{
    obol_error err = { 0 };

    (void)state;
    assert_int_equal(open_status("rediss+unix:///run/redis.sock", &err),
                     OBOL_ERR_INVALID);
    assert_message_has(&err, "TLS over a unix socket is not supported");
    assert_int_equal(open_status("rediss://127.0.0.1:1?tls_ca=/x/ca.crt",
                                 &err),
                     OBOL_ERR_INVALID);
    assert_message_has(&err, "tls_ca '/x/ca.crt': cannot open");
    assert_int_equal(open_status("rediss://127.0.0.1:1?tls_server_name=",
                                 &err),
                     OBOL_ERR_INVALID);
    assert_message_has(&err, "'tls_server_name' is empty");
    assert_int_equal(open_status("rediss://127.0.0.1:1?tls_ca=/a&tls_ca=/b",
                                 &err),
                     OBOL_ERR_INVALID);
    assert_message_has(&err, "option 'tls_ca' is given twice");
}

static void config_refuses_bad_wait_options(void **state)
{
    (void)state;
    assert_refused("?wait_replicas=-1", "wait_replicas '-1'");
    assert_refused("?wait_replicas=1000", "wait_replicas '1000'");
    assert_refused("?wait_timeout_ms=10", "'wait_timeout_ms' needs "
                                          "wait_replicas");
    assert_refused("?wait_replicas=1&timeout_ms=100&wait_timeout_ms=100",
                   "wait_timeout_ms 100 must be shorter than timeout_ms 100");
}

static void cluster_open_fails_when_no_seed_answers(void **state)
{
    obol_error err = { 0 };
    (void)state;
    assert_int_equal(open_status("redis+cluster://127.0.0.1:1?nodes="
                                 "127.0.0.1:2&connect_timeout_ms=200",
                                 &err),
                     OBOL_ERR_BACKEND);
    assert_message_has(&err, "no node gave the slot map");
    assert_message_has(&err, "refused");
}

static void cluster_seed_that_is_no_cluster_node_is_named(void **state)
{
    obol_error err = { 0 };
    char url[256];
    (void)state;
    snprintf(url, sizeof url, "redis+cluster://127.0.0.1:%u",
             redis_harness_port(redis));
    assert_int_equal(open_status(url, &err), OBOL_ERR_BACKEND);
    assert_message_has(&err, "cluster support disabled");
    assert_message_has(&err, "is it a cluster node?");
}

/* A server without replicas cannot satisfy wait_replicas=1: the write is
 * done, and the error says so and how many replicas had it. */
static void wait_replicas_short_reports_the_count(void **state)
{
    void *h = open_default("?wait_replicas=1&wait_timeout_ms=50");
    obol_error err = { 0 };
    int status;
    (void)state;

    status = put_record(h, key_of("alice", "full", "s1"), "v1",
                        now_s() + 100, 0, now_s(), &err);
    assert_int_equal(status, OBOL_ERR_BACKEND);
    assert_message_has(&err, "the write reached the master");
    assert_message_has(&err, "only 0 of 1 replicas had it within 50 ms");
    assert_stored(h, key_of("alice", "full", "s1"), "v1");
    driver->close(h);
}

/* ------------------------------------------------------------ basic ops */

static void put_then_get_returns_bytes_verbatim(void **state)
{
    void *h = open_default("");
    static const uint8_t sealed[] = { 0, 1, 2, 0xff, '\r', '\n', 0, '$' };
    obol_driver_key key = key_of("alice", "full", "s1");
    obol_driver_record record = { key, bytes_of(sealed, sizeof sealed),
                                  now_s() + 100, 1 };
    obol_error err = { 0 };
    uint8_t *got = NULL;
    size_t got_len = 0;
    (void)state;

    assert_int_equal(driver->put(h, &record, 0, now_s(), &err), OBOL_OK);
    assert_int_equal(driver->get(h, &key, &got, &got_len, &err), OBOL_OK);
    assert_int_equal(got_len, sizeof sealed);
    assert_memory_equal(got, sealed, sizeof sealed);
    free(got);
    driver->close(h);
}

static void get_of_missing_session_is_not_found(void **state)
{
    void *h = open_default("");
    (void)state;
    assert_stored(h, key_of("alice", "full", "nope"), NULL);
    put_ok(h, key_of("alice", "full", "s1"), "one", now_s() + 100, 0);
    assert_stored(h, key_of("alice", "full", "nope"), NULL);
    assert_stored(h, key_of("alice", "oauth2", "s1"), NULL);
    driver->close(h);
}

static void empty_record_and_empty_id_are_stored(void **state)
{
    void *h = open_default("");
    (void)state;
    put_ok(h, key_of("", "", ""), "", now_s() + 100, 0);
    assert_stored(h, key_of("", "", ""), "");
    del_ok(h, key_of("", "", ""));
    assert_stored(h, key_of("", "", ""), NULL);
    driver->close(h);
}

/* ------------------------------------------------------------------ CAS */

static void insert_conflicts_with_a_live_record(void **state)
{
    void *h = open_default("");
    obol_driver_key key = key_of("alice", "full", "s1");
    obol_error err = { 0 };
    (void)state;

    put_ok(h, key, "first", now_s() + 100, 0);
    assert_int_equal(put_record(h, key, "second", now_s() + 100, 0, now_s(),
                                &err),
                     OBOL_CONFLICT);
    assert_stored(h, key, "first");
    driver->close(h);
}

static void update_needs_the_stored_lock_version(void **state)
{
    void *h = open_default("");
    obol_driver_key key = key_of("alice", "full", "s1");
    obol_error err = { 0 };
    seen s;
    (void)state;

    put_ok(h, key, "v1", now_s() + 100, 0);
    put_ok(h, key, "v2", now_s() + 100, 1);
    assert_int_equal(put_record(h, key, "stale", now_s() + 100, 1, now_s(),
                                &err),
                     OBOL_CONFLICT);
    assert_int_equal(put_record(h, key, "ahead", now_s() + 100, 7, now_s(),
                                &err),
                     OBOL_CONFLICT);
    assert_stored(h, key, "v2");
    assert_int_equal(list_count(h, key, &s), 1);
    assert_int_equal(s.r[0].lock_version, 2);
    driver->close(h);
}

static void update_of_missing_record_conflicts(void **state)
{
    void *h = open_default("");
    obol_driver_key key = key_of("alice", "full", "s1");
    obol_error err = { 0 };
    (void)state;

    assert_int_equal(put_record(h, key, "x", now_s() + 100, 3, now_s(), &err),
                     OBOL_CONFLICT);
    assert_stored(h, key, NULL);
    assert_keys_absent("alice", "full");
    driver->close(h);
}

static void expired_record_counts_as_lock_zero(void **state)
{
    void *h = open_default("");
    obol_driver_key key = key_of("alice", "full", "s1");
    int64_t now = now_s();
    obol_error err = { 0 };
    (void)state;

    put_ok(h, key, "old", now + 50, 0);
    /* At now + 60 (the store's clock) the record is dead: an update of it
     * conflicts, a new insert under its id goes through. */
    assert_int_equal(put_record(h, key, "revived", now + 100, 1, now + 60,
                                &err),
                     OBOL_CONFLICT);
    assert_int_equal(put_record(h, key, "new", now + 100, 0, now + 60, &err),
                     OBOL_OK);
    assert_stored(h, key, "new");
    driver->close(h);
}

static void deleted_session_is_not_brought_back(void **state)
{
    void *h = open_default("");
    obol_driver_key key = key_of("alice", "full", "s1");
    obol_error err = { 0 };
    (void)state;

    put_ok(h, key, "v1", now_s() + 100, 0);
    del_ok(h, key);
    assert_int_equal(put_record(h, key, "refresh", now_s() + 100, 1, now_s(),
                                &err),
                     OBOL_CONFLICT);
    assert_stored(h, key, NULL);
    del_ok(h, key); /* deleting a missing session is fine */
    driver->close(h);
}

static void lock_versions_beyond_double_precision_compare_exactly(void **state)
{
    void *h = open_default("");
    obol_driver_key key = key_of("alice", "full", "s1");
    /* 2^53 + 1 is not a double: a Lua number compare would see 2^53. */
    uint64_t big = 9007199254740993ull;
    obol_driver_record record = { key, text("big"), now_s() + 100, big + 1 };
    obol_error err = { 0 };
    seen s;
    (void)state;

    put_ok(h, key, "v1", now_s() + 100, 0);
    /* Set the stored lock to 2^53 + 1 behind the driver's back. */
    {
        char names[3][REDIS_HARNESS_KEY_MAX];
        redis_harness_key_names(prefix, "alice", "full", names);
        assert_int_equal(redis_harness_run(raw, "HSET %s s1 %llu",
                                           names[REDIS_HARNESS_LOCK],
                                           (unsigned long long)big),
                         0);
    }
    assert_int_equal(driver->put(h, &record, big - 1, now_s(), &err),
                     OBOL_CONFLICT);
    assert_int_equal(driver->put(h, &record, big, now_s(), &err), OBOL_OK);
    assert_int_equal(list_count(h, key, &s), 1);
    assert_true(s.r[0].lock_version == big + 1);
    driver->close(h);
}

/* ----------------------------------------------------------- key names */

static void keys_follow_the_documented_layout(void **state)
{
    void *h = open_default("");
    char names[3][REDIS_HARNESS_KEY_MAX];
    static const char *const types[3] = { "hash", "zset", "hash" };
    (void)state;

    put_ok(h, key_of("alice@example.com", "full", "s1"), "x", now_s() + 100,
           0);
    redis_harness_key_names(prefix, "alice@example.com", "full", names);
    for (int k = 0; k < 3; k++) {
        redisReply *r;

        assert_int_equal(redis_harness_integer(raw, "EXISTS %s", names[k]),
                         1);
        r = redis_harness_command(raw, "TYPE %s", names[k]);
        assert_non_null(r);
        assert_string_equal(r->str, types[k]);
        freeReplyObject(r);
    }
    driver->close(h);
}

/* users "a:b"/type "c" against user "a"/type "b:c", and friends. */
static void separator_in_user_or_type_does_not_collide(void **state)
{
    void *h = open_default("");
    seen s;
    (void)state;

    put_ok(h, key_of("a:b", "c", "s"), "one", now_s() + 100, 0);
    put_ok(h, key_of("a", "b:c", "s"), "two", now_s() + 100, 0);
    put_ok(h, key_of("a:b:c", "", "s"), "three", now_s() + 100, 0);
    put_ok(h, key_of("", "a:b:c", "s"), "four", now_s() + 100, 0);
    assert_stored(h, key_of("a:b", "c", "s"), "one");
    assert_stored(h, key_of("a", "b:c", "s"), "two");
    assert_stored(h, key_of("a:b:c", "", "s"), "three");
    assert_stored(h, key_of("", "a:b:c", "s"), "four");
    assert_int_equal(list_count(h, key_of("a", "b:c", ""), &s), 1);
    assert_string_equal(s.r[0].sealed, "two");
    driver->close(h);
}

static void odd_bytes_in_ids_never_collide(void **state)
{
    static const struct {
        const char *user;
        size_t user_len;
        const char *type;
        size_t type_len;
    } tuples[] = {
        { "{x}", 3, "full", 4 },
        { "x", 1, "}{full", 6 },
        { "}", 1, "{", 1 },
        { "a\0b", 3, "full", 4 },
        { "a\0c", 3, "full", 4 },
        { "a", 1, "full", 4 },
        { "\xff\xfe", 2, "full", 4 },
        { "%FF%FE", 6, "full", 4 },
        { "a b*c?[d]", 9, "full", 4 },
        { "a%20b", 5, "full", 4 },
        { "\xc3\xa9t\xc3\xa9", 6, "full\0", 5 },
    };
    enum { N = sizeof tuples / sizeof tuples[0] };
    void *h = open_default("");
    obol_error err = { 0 };
    (void)state;

    for (size_t i = 0; i < N; i++) {
        obol_driver_key key = { bytes_of(tuples[i].user, tuples[i].user_len),
                                bytes_of(tuples[i].type, tuples[i].type_len),
                                text("s") };
        char sealed[8];
        snprintf(sealed, sizeof sealed, "%zu", i);
        assert_int_equal(put_record(h, key, sealed, now_s() + 100, 0, now_s(),
                                    &err),
                         OBOL_OK);
    }
    for (size_t i = 0; i < N; i++) {
        obol_driver_key key = { bytes_of(tuples[i].user, tuples[i].user_len),
                                bytes_of(tuples[i].type, tuples[i].type_len),
                                text("s") };
        char sealed[8];
        seen s;
        snprintf(sealed, sizeof sealed, "%zu", i);
        assert_stored(h, key, sealed);
        assert_int_equal(list_count(h, key, &s), 1);
        assert_string_equal(s.r[0].sealed, sealed);
    }

    /* On the server: 3 keys per tuple, each with the hash tag "{U:T}" right
     * after the prefix, with no brace inside it, and no two tuples sharing
     * a tag. */
    {
        redisReply *r = redis_harness_command(raw, "KEYS %s:*", prefix);
        char tags[N * 3][128];
        size_t distinct = 0;

        assert_non_null(r);
        assert_int_equal(r->elements, N * 3);
        for (size_t i = 0; i < r->elements; i++) {
            const char *name = r->element[i]->str;
            const char *open = strchr(name, '{');
            const char *close = open != NULL ? strchr(open, '}') : NULL;
            size_t len;
            int known = 0;

            assert_non_null(open);
            assert_non_null(close);
            assert_int_equal(open - name, (long)strlen(prefix) + 1);
            assert_true(close - open > 1); /* a tag is never empty */
            assert_null(memchr(open + 1, '{', (size_t)(close - open - 1)));
            len = (size_t)(close - open + 1);
            assert_true(len < sizeof tags[0]);
            for (size_t j = 0; j < distinct; j++)
                if (strlen(tags[j]) == len && memcmp(tags[j], open, len) == 0)
                    known = 1;
            if (!known) {
                memcpy(tags[distinct], open, len);
                tags[distinct][len] = '\0';
                distinct++;
            }
        }
        assert_int_equal(distinct, N);
        freeReplyObject(r);
    }
    driver->close(h);
}

/* ------------------------------------------------------------ key expiry */

static void key_ttl_is_the_highest_expiry(void **state)
{
    void *h = open_default("");
    int64_t now = now_s();
    (void)state;

    put_ok(h, key_of("alice", "full", "short"), "a", now + 100, 0);
    put_ok(h, key_of("alice", "full", "long"), "b", now + 500, 0);
    put_ok(h, key_of("alice", "full", "mid"), "c", now + 300, 0);
    /* Keys live through the last second of the latest record. */
    assert_ttl_between("alice", "full", 499000, 501000);
    driver->close(h);
}

static void key_ttl_is_lowered_after_deleting_the_highest(void **state)
{
    void *h = open_default("");
    int64_t now = now_s();
    (void)state;

    put_ok(h, key_of("alice", "full", "short"), "a", now + 100, 0);
    put_ok(h, key_of("alice", "full", "long"), "b", now + 500, 0);
    del_ok(h, key_of("alice", "full", "long"));
    assert_ttl_between("alice", "full", 99000, 101000);
    driver->close(h);
}

static void keys_are_gone_after_deleting_the_last_session(void **state)
{
    void *h = open_default("");
    (void)state;

    put_ok(h, key_of("alice", "full", "s1"), "a", now_s() + 100, 0);
    put_ok(h, key_of("alice", "full", "s2"), "b", now_s() + 100, 0);
    del_ok(h, key_of("alice", "full", "s1"));
    del_ok(h, key_of("alice", "full", "s2"));
    assert_keys_absent("alice", "full");
    driver->close(h);
}

static void put_of_an_expired_record_leaves_no_key(void **state)
{
    void *h = open_default("");
    (void)state;

    put_ok(h, key_of("alice", "full", "s1"), "dead", now_s() - 10, 0);
    assert_keys_absent("alice", "full");
    assert_stored(h, key_of("alice", "full", "s1"), NULL);
    driver->close(h);
}

static void put_drops_expired_members(void **state)
{
    void *h = open_default("");
    int64_t now = now_s();
    obol_error err = { 0 };
    seen s;
    (void)state;

    put_ok(h, key_of("alice", "full", "old"), "a", now + 10, 0);
    assert_int_equal(put_record(h, key_of("alice", "full", "new"), "b",
                                now + 500, 0, now + 20, &err),
                     OBOL_OK);
    assert_int_equal(list_count(h, key_of("alice", "full", ""), &s), 1);
    assert_string_equal(s.r[0].id, "new");
    driver->close(h);
}

static void never_expiring_record_keeps_keys_forever(void **state)
{
    void *h = open_default("");
    seen s;
    (void)state;

    put_ok(h, key_of("alice", "full", "short"), "a", now_s() + 100, 0);
    put_ok(h, key_of("alice", "full", "forever"), "b", INT64_MAX, 0);
    assert_ttl_between("alice", "full", -1, -1);
    assert_int_equal(list_count(h, key_of("alice", "full", ""), &s), 2);
    assert_true(s.r[seen_index(&s, "forever")].expires_at == INT64_MAX);
    del_ok(h, key_of("alice", "full", "forever"));
    assert_ttl_between("alice", "full", 99000, 101000);
    driver->close(h);
}

/* ------------------------------------------------------ list, del_all, scan */

static void list_returns_records_with_expiry_and_lock(void **state)
{
    void *h = open_default("");
    int64_t now = now_s();
    seen s;
    int i;
    (void)state;

    put_ok(h, key_of("alice", "full", "s1"), "one", now + 100, 0);
    put_ok(h, key_of("alice", "full", "s2"), "two", now + 200, 0);
    put_ok(h, key_of("alice", "full", "s2"), "two'", now + 300, 1);
    put_ok(h, key_of("alice", "oauth2", "s3"), "other type", now + 100, 0);
    put_ok(h, key_of("bob", "full", "s4"), "other user", now + 100, 0);

    assert_int_equal(list_count(h, key_of("alice", "full", ""), &s), 2);
    i = seen_index(&s, "s1");
    assert_true(i >= 0);
    assert_string_equal(s.r[i].sealed, "one");
    assert_true(s.r[i].expires_at == now + 100);
    assert_int_equal(s.r[i].lock_version, 1);
    assert_string_equal(s.r[i].user, "alice");
    assert_string_equal(s.r[i].type, "full");
    i = seen_index(&s, "s2");
    assert_true(i >= 0);
    assert_string_equal(s.r[i].sealed, "two'");
    assert_true(s.r[i].expires_at == now + 300);
    assert_int_equal(s.r[i].lock_version, 2);
    assert_int_equal(list_count(h, key_of("nobody", "full", ""), &s), 0);
    driver->close(h);
}

static int stop_after_one(void *arg, const obol_driver_record *record)
{
    (void)record;
    ++*(int *)arg;
    return OBOL_CONFLICT;
}

static void visit_status_stops_the_walk(void **state)
{
    void *h = open_default("");
    obol_driver_key key = key_of("alice", "full", "");
    obol_error err = { 0 };
    int calls = 0;
    (void)state;

    put_ok(h, key_of("alice", "full", "s1"), "a", now_s() + 100, 0);
    put_ok(h, key_of("alice", "full", "s2"), "b", now_s() + 100, 0);
    assert_int_equal(driver->list(h, &key, stop_after_one, &calls, &err),
                     OBOL_CONFLICT);
    assert_int_equal(calls, 1);
    calls = 0;
    assert_int_equal(driver->scan(h, stop_after_one, &calls, &err),
                     OBOL_CONFLICT);
    assert_int_equal(calls, 1);
    driver->close(h);
}

static void del_all_touches_no_other_user_or_type(void **state)
{
    void *h = open_default("");
    obol_driver_key all = key_of("alice", "full", "");
    obol_error err = { 0 };
    seen s;
    (void)state;

    put_ok(h, key_of("alice", "full", "s1"), "a", now_s() + 100, 0);
    put_ok(h, key_of("alice", "full", "s2"), "b", now_s() + 100, 0);
    put_ok(h, key_of("alice", "oauth2", "s3"), "c", now_s() + 100, 0);
    put_ok(h, key_of("alice:full", "", "s4"), "d", now_s() + 100, 0);
    assert_int_equal(driver->del_all(h, &all, &err), OBOL_OK);
    assert_keys_absent("alice", "full");
    assert_int_equal(list_count(h, all, &s), 0);
    assert_stored(h, key_of("alice", "oauth2", "s3"), "c");
    assert_stored(h, key_of("alice:full", "", "s4"), "d");
    driver->close(h);
}

static void scan_visits_every_record_of_the_prefix_only(void **state)
{
    void *h = open_default("");
    void *other;
    char other_prefix[sizeof prefix];
    obol_error err = { 0 };
    seen s;
    (void)state;

    for (int i = 0; i < 30; i++) {
        char user[16], id[16];
        snprintf(user, sizeof user, "u%d", i % 10);
        snprintf(id, sizeof id, "s%d", i);
        put_ok(h, key_of(user, i % 2 ? "full" : "oauth2", id), id,
               now_s() + 100, 0);
    }
    put_ok(h, key_of("we{ird}:*", "t\xff", "odd"), "odd", now_s() + 100, 0);
    /* A prefix that starts like this one: its records are not ours. */
    snprintf(other_prefix, sizeof other_prefix, "%s", prefix);
    strcat(prefix, "x");
    other = open_default("");
    put_ok(other, key_of("u1", "full", "foreign"), "foreign", now_s() + 100,
           0);
    driver->close(other);
    snprintf(prefix, sizeof prefix, "%s", other_prefix);

    memset(&s, 0, sizeof s);
    assert_int_equal(driver->scan(h, collect, &s, &err), OBOL_OK);
    assert_int_equal(s.count, 31);
    for (int i = 0; i < 30; i++) {
        char id[16];
        int at;
        snprintf(id, sizeof id, "s%d", i);
        at = seen_index(&s, id);
        assert_true(at >= 0);
        assert_string_equal(s.r[at].sealed, id);
        assert_string_equal(s.r[at].type, i % 2 ? "full" : "oauth2");
    }
    assert_true(seen_index(&s, "foreign") < 0);
    {
        int at = seen_index(&s, "odd");
        assert_true(at >= 0);
        assert_string_equal(s.r[at].user, "we{ird}:*");
        assert_string_equal(s.r[at].type, "t\xff");
    }
    driver->close(h);
}

static void prune_removes_only_expired_records(void **state)
{
    void *h = open_default("");
    int64_t now = now_s();
    obol_error err = { 0 };
    seen s;
    (void)state;

    put_ok(h, key_of("alice", "full", "soon"), "a", now + 10, 0);
    put_ok(h, key_of("alice", "full", "later"), "b", now + 500, 0);
    put_ok(h, key_of("bob", "full", "soon"), "c", now + 10, 0);
    assert_int_equal(driver->prune(h, now + 20, &err), OBOL_OK);
    assert_int_equal(list_count(h, key_of("alice", "full", ""), &s), 1);
    assert_string_equal(s.r[0].id, "later");
    assert_int_equal(list_count(h, key_of("bob", "full", ""), &s), 0);
    assert_keys_absent("bob", "full");
    assert_ttl_between("alice", "full", 499000, 501000);
    driver->close(h);
}

static void health_names_version_and_server(void **state)
{
    void *h = open_default("");
    char info[256], where[64];
    obol_error err = { 0 };
    (void)state;

    assert_int_equal(driver->health(h, info, sizeof info, &err), OBOL_OK);
    snprintf(where, sizeof where, "127.0.0.1:%u", redis_harness_port(redis));
    assert_non_null(strstr(info, "redis "));
    assert_non_null(strstr(info, where));
    driver->close(h);
}

/* ---------------------------------------------------------- round trips */

/* Counts the commands clients send while op runs (redis_harness.h). */
typedef void (*operation)(void *handle);

static int commands_sent_by(operation op, void *handle)
{
    redis_harness_monitor *monitor = redis_harness_monitor_begin(redis);

    assert_non_null(monitor);
    op(handle);
    return redis_harness_monitor_end(monitor);
}

static void op_get(void *h)
{
    assert_stored(h, key_of("alice", "full", "s1"), "v1");
}

static void op_put(void *h)
{
    put_ok(h, key_of("alice", "full", "s2"), "v2", now_s() + 100, 0);
}

static void op_update(void *h)
{
    put_ok(h, key_of("alice", "full", "s2"), "v2'", now_s() + 100, 1);
}

static void op_del(void *h)
{
    del_ok(h, key_of("alice", "full", "s2"));
}

static void op_list(void *h)
{
    seen s;
    assert_int_equal(list_count(h, key_of("alice", "full", ""), &s), 1);
}

static void op_del_all(void *h)
{
    obol_driver_key key = key_of("alice", "full", "");
    obol_error err = { 0 };
    assert_int_equal(driver->del_all(h, &key, &err), OBOL_OK);
}

static void every_operation_is_one_round_trip(void **state)
{
    void *h = open_default("?pool=1");
    (void)state;

    put_ok(h, key_of("alice", "full", "s1"), "v1", now_s() + 100, 0);
    assert_int_equal(commands_sent_by(op_get, h), 1);
    assert_int_equal(commands_sent_by(op_put, h), 1);
    assert_int_equal(commands_sent_by(op_update, h), 1);
    assert_int_equal(commands_sent_by(op_del, h), 1);
    assert_int_equal(commands_sent_by(op_list, h), 1);
    assert_int_equal(commands_sent_by(op_del_all, h), 1);
    driver->close(h);
}

static void lost_scripts_are_loaded_again(void **state)
{
    void *h = open_default("?pool=1");
    seen s;
    (void)state;

    assert_int_equal(redis_harness_run(raw, "SCRIPT FLUSH"), 0);
    put_ok(h, key_of("alice", "full", "s1"), "v1", now_s() + 100, 0);
    assert_int_equal(redis_harness_run(raw, "SCRIPT FLUSH"), 0);
    assert_int_equal(list_count(h, key_of("alice", "full", ""), &s), 1);
    assert_int_equal(redis_harness_run(raw, "SCRIPT FLUSH"), 0);
    del_ok(h, key_of("alice", "full", "s1"));
    assert_keys_absent("alice", "full");
    /* NOSCRIPT costs one retry with EVAL, which caches the script again,
     * so the next call is back to one EVALSHA. */
    assert_int_equal(redis_harness_run(raw, "SCRIPT FLUSH"), 0);
    assert_int_equal(commands_sent_by(op_put, h), 2);
    assert_int_equal(commands_sent_by(op_update, h), 1);
    driver->close(h);
}

/* ----------------------------------------------------------- outages */

static void killed_server_fails_fast_and_handle_recovers(void **state)
{
    void *h = open_default("?timeout_ms=300&connect_timeout_ms=300&pool=2");
    char where[64], got[64];
    obol_error err = { 0 };
    double started;
    int status;
    (void)state;

    snprintf(where, sizeof where, "redis 127.0.0.1:%u: ",
             redis_harness_port(redis));
    put_ok(h, key_of("alice", "full", "s1"), "v1", now_s() + 100, 0);
    redisFree(raw);
    raw = NULL;
    assert_int_equal(redis_harness_kill(redis), 0);

    for (int attempt = 0; attempt < 3; attempt++) {
        started = redis_harness_monotonic_ms();
        status = get_status(h, key_of("alice", "full", "s1"), got, sizeof got,
                            &err);
        assert_true(status == OBOL_ERR_BACKEND || status == OBOL_ERR_TIMEOUT);
        assert_true(redis_harness_monotonic_ms() - started < 1000);
        assert_message_has(&err, where);
    }
    assert_message_has(&err, "connect: Connection refused");
    status = put_record(h, key_of("alice", "full", "s2"), "v2",
                        now_s() + 100, 0, now_s(), &err);
    assert_int_equal(status, OBOL_ERR_BACKEND);

    assert_int_equal(redis_harness_restart(redis), 0);
    raw = redis_harness_client(redis);
    assert_non_null(raw);
    /* The restarted server is empty and has no scripts; same handle. */
    assert_stored(h, key_of("alice", "full", "s1"), NULL);
    put_ok(h, key_of("alice", "full", "s1"), "again", now_s() + 100, 0);
    assert_stored(h, key_of("alice", "full", "s1"), "again");
    driver->close(h);
}

static void *get_in_thread(void *arg)
{
    static char got[64];
    obol_error err = { 0 };
    int *status = malloc(sizeof *status);

    *status = get_status(arg, key_of("alice", "full", "s1"), got, sizeof got,
                         &err);
    return status;
}

static void stalled_server_times_out(void **state)
{
    void *h = open_default("?timeout_ms=300&pool=1");
    char got[64];
    obol_error err = { 0 };
    pthread_t thread;
    void *thread_status;
    double started;
    int status;
    (void)state;

    put_ok(h, key_of("alice", "full", "s1"), "v1", now_s() + 100, 0);
    assert_int_equal(redis_harness_pause(redis), 0);

    started = redis_harness_monotonic_ms();
    status = get_status(h, key_of("alice", "full", "s1"), got, sizeof got,
                        &err);
    assert_int_equal(status, OBOL_ERR_TIMEOUT);
    assert_true(redis_harness_monotonic_ms() - started < 1000);
    assert_message_has(&err, "no reply within 300 ms");

    /* Two threads, one connection: the one left waiting gives up too. */
    started = redis_harness_monotonic_ms();
    assert_int_equal(pthread_create(&thread, NULL, get_in_thread, h), 0);
    status = get_status(h, key_of("alice", "full", "s1"), got, sizeof got,
                        &err);
    assert_int_equal(pthread_join(thread, &thread_status), 0);
    assert_int_equal(status, OBOL_ERR_TIMEOUT);
    assert_int_equal(*(int *)thread_status, OBOL_ERR_TIMEOUT);
    free(thread_status);
    assert_true(redis_harness_monotonic_ms() - started < 2000);

    assert_int_equal(redis_harness_resume(redis), 0);
    assert_stored(h, key_of("alice", "full", "s1"), "v1");
    driver->close(h);
}

/*
 * Servers no real Redis would be, for the deadline rules: a small fake on
 * loopback that answers SCRIPT LOAD at once (so that open() works) and then
 * misbehaves in one way: drips every reply a byte per 100 ms, never answers
 * at all, or answers SCAN with a cursor that never ends (the same cursor
 * again, or a new one every time).
 */
typedef enum fake_mode {
    FAKE_DRIP,
    FAKE_SILENT,
    FAKE_SCAN_SAME_CURSOR,
    FAKE_SCAN_NEW_CURSORS,
    FAKE_HUGE_RECORD,   /* HGET: a gigabyte announced; list: 200 kB */
    FAKE_HUGE_ARRAY     /* every reply: an array of 10^8 elements */
} fake_mode;

typedef struct fake_server {
    fake_mode mode;
    int listen_fd;
    uint16_t port;
    pthread_t thread;
    int connections_ended;   /* closed by the client (atomic) */
} fake_server;

/* Reads one byte from fd; -1 at the end. */
static int read_byte(int fd)
{
    unsigned char c;
    return read(fd, &c, 1) == 1 ? c : -1;
}

/* Reads "<char><number>\r\n" and returns the number, -1 on EOF. */
static long read_header(int fd)
{
    long n = 0;
    int c = read_byte(fd);

    if (c < 0)
        return -1;
    while ((c = read_byte(fd)) >= 0 && c != '\r')
        n = n * 10 + (c - '0');
    return read_byte(fd) < 0 ? -1 : n;
}

/* Reads one command: its first two arguments (cut to 15 bytes) into
 * name and arg; 0, or -1 at the end. */
static int read_command(int fd, char name[16], char arg[16])
{
    long args = read_header(fd);
    char *keep[2] = { name, arg };

    name[0] = arg[0] = '\0';
    if (args < 0)
        return -1;
    for (long i = 0; i < args; i++) {
        long len = read_header(fd);

        for (long k = 0; k < len + 2; k++) {
            int c = read_byte(fd);
            if (c < 0)
                return -1;
            if (i < 2 && k < len && k < 15) {
                keep[i][k] = (char)c;
                keep[i][k + 1] = '\0';
            }
        }
    }
    return 0;
}

static int send_text(int fd, const char *text)
{
    size_t len = strlen(text);
    return send(fd, text, len, MSG_NOSIGNAL) == (ssize_t)len ? 0 : -1;
}

static int drip(int fd, const char *text)
{
    for (const char *p = text; *p != '\0'; p++) {
        if (send(fd, p, 1, MSG_NOSIGNAL) != 1)
            return -1;
        redis_harness_sleep_ms(100);
    }
    return 0;
}

/* A list script reply of two records, the first 200,000 bytes long
 * (over the default max_record), the second "hi". */
static int send_huge_list(int fd)
{
    static char record[200000];
    static const char head[] = "*8\r\n$2\r\ns1\r\n$200000\r\n";
    static const char tail[] = "\r\n$4\r\n9999\r\n$1\r\n3\r\n"
                               "$2\r\ns2\r\n$2\r\nhi\r\n$3\r\ninf\r\n$1\r\n1\r\n";

    memset(record, 'r', sizeof record);
    if (send_text(fd, head) != 0)
        return -1;
    for (size_t at = 0; at < sizeof record;) {
        ssize_t n = send(fd, record + at, sizeof record - at, MSG_NOSIGNAL);
        if (n <= 0)
            return -1;
        at += (size_t)n;
    }
    return send_text(fd, tail);
}

/* What the fake answers a command other than SCRIPT LOAD. */
static int misbehave(const fake_server *f, int fd, const char *name,
                     const char *arg)
{
    char reply[64];

    switch (f->mode) {
    case FAKE_DRIP:
        return drip(fd, "$5\r\nhello\r\n");
    case FAKE_SILENT:
        return 0;
    case FAKE_HUGE_RECORD:
        /* The gigabyte never comes: only a client that reads no further
         * than the header answers in time. */
        return strcmp(name, "HGET") == 0
                   ? send_text(fd, "$1000000000\r\nrrrr")
                   : send_huge_list(fd);
    case FAKE_HUGE_ARRAY:
        return send_text(fd, "*100000000\r\n:1\r\n");
    default:
        break;
    }
    if (strcmp(name, "DBSIZE") == 0)
        return send_text(fd, ":0\r\n");
    if (strcmp(name, "SCAN") != 0)
        return send_text(fd, "$-1\r\n");
    snprintf(reply, sizeof reply, "%ld",
             f->mode == FAKE_SCAN_SAME_CURSOR ? 7L : strtol(arg, NULL, 10) + 1);
    {
        char framed[96];
        snprintf(framed, sizeof framed, "*2\r\n$%zu\r\n%s\r\n*0\r\n",
                 strlen(reply), reply);
        return send_text(fd, framed);
    }
}

/* Serves one connection after another, until fake_stop(). */
static void *fake_loop(void *arg)
{
    fake_server *f = arg;
    int fd;
    char name[16], cmd_arg[16];

    while ((fd = accept(f->listen_fd, NULL, NULL)) >= 0) {
        int ended = 1;

        while (read_command(fd, name, cmd_arg) == 0) {
            int sent = strcmp(name, "SCRIPT") == 0 && f->mode != FAKE_SILENT
                           ? send_text(fd, "$40\r\n01234567890123456789"
                                           "01234567890123456789\r\n")
                           : misbehave(f, fd, name, cmd_arg);
            if (sent != 0) {
                ended = 0;
                break;
            }
        }
        close(fd);
        __atomic_add_fetch(&f->connections_ended, ended, __ATOMIC_RELEASE);
    }
    return NULL;
}

/* Waits up to a second for the client to have closed count connections. */
static int fake_saw_closed(fake_server *f, int count)
{
    for (int waited = 0; waited < 100; waited++) {
        if (__atomic_load_n(&f->connections_ended, __ATOMIC_ACQUIRE) >= count)
            return 1;
        redis_harness_sleep_ms(10);
    }
    return 0;
}

static void fake_start(fake_server *f, fake_mode mode)
{
    struct sockaddr_in addr;
    socklen_t len = sizeof addr;

    memset(&addr, 0, sizeof addr);
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    f->mode = mode;
    f->connections_ended = 0;
    f->listen_fd = socket(AF_INET, SOCK_STREAM, 0);
    assert_true(f->listen_fd >= 0);
    assert_int_equal(bind(f->listen_fd, (struct sockaddr *)&addr, sizeof addr),
                     0);
    assert_int_equal(getsockname(f->listen_fd, (struct sockaddr *)&addr, &len),
                     0);
    assert_int_equal(listen(f->listen_fd, 1), 0);
    f->port = ntohs(addr.sin_port);
    assert_int_equal(pthread_create(&f->thread, NULL, fake_loop, f), 0);
}

/* Closing the listening socket ends an accept() still waiting. */
static void fake_stop(fake_server *f)
{
    shutdown(f->listen_fd, SHUT_RDWR);
    close(f->listen_fd);
    assert_int_equal(pthread_join(f->thread, NULL), 0);
}

static void *fake_open(fake_server *f, fake_mode mode, const char *options)
{
    char url[160];
    obol_error err = { 0 };
    void *h = NULL;

    fake_start(f, mode);
    snprintf(url, sizeof url, "redis://127.0.0.1:%u?pool=1%s", f->port,
             options);
    if (open_url(url, &h, &err) != OBOL_OK)
        fail_msg("open %s: %s", url, err.message);
    return h;
}

static void dripped_reply_times_out_at_the_deadline(void **state)
{
    fake_server f;
    void *h = fake_open(&f, FAKE_DRIP, "&timeout_ms=300");
    char got[64];
    obol_error err = { 0 };
    double started = redis_harness_monotonic_ms();
    int status = get_status(h, key_of("alice", "full", "s1"), got, sizeof got,
                            &err);
    (void)state;

    assert_int_equal(status, OBOL_ERR_TIMEOUT);
    /* The reply would take 1.1 s to arrive whole. */
    assert_true(redis_harness_monotonic_ms() - started < 500);
    assert_message_has(&err, "HGET: no reply within 300 ms");
    driver->close(h);
    fake_stop(&f);
}

static void server_that_never_answers_times_out(void **state)
{
    fake_server f;
    char url[160];
    obol_error err = { 0 };
    double started;
    (void)state;

    fake_start(&f, FAKE_SILENT);
    snprintf(url, sizeof url,
             "redis://127.0.0.1:%u?timeout_ms=300&connect_timeout_ms=300",
             f.port);
    started = redis_harness_monotonic_ms();
    assert_int_equal(open_status(url, &err), OBOL_ERR_TIMEOUT);
    assert_true(redis_harness_monotonic_ms() - started < 900);
    assert_message_has(&err, "no reply within 300 ms");
    fake_stop(&f);
}

static void scan_whose_cursor_never_ends_stops(void **state)
{
    static const fake_mode modes[2] = { FAKE_SCAN_SAME_CURSOR,
                                        FAKE_SCAN_NEW_CURSORS };
    static const char *const says[2] = { "does not advance", "no end" };
    (void)state;

    for (int m = 0; m < 2; m++) {
        fake_server f;
        void *h = fake_open(&f, modes[m], "");
        obol_error err = { 0 };
        seen s;
        double started = redis_harness_monotonic_ms();

        memset(&s, 0, sizeof s);
        assert_int_equal(driver->scan(h, collect, &s, &err), OBOL_ERR_BACKEND);
        assert_message_has(&err, says[m]);
        assert_true(redis_harness_monotonic_ms() - started < 5000);
        driver->close(h);
        fake_stop(&f);
    }
}

/* Bounded reads: a reply announcing a record longer than max_record is
 * answered from its header alone, and the connection that carried it is
 * closed rather than reused. */
static void a_huge_record_is_never_read_in(void **state)
{
    fake_server f;
    void *h = fake_open(&f, FAKE_HUGE_RECORD, "&timeout_ms=500");
    uint8_t *sealed = (uint8_t *)"untouched";
    size_t sealed_len = 0;
    obol_error err = { 0 };
    double started = redis_harness_monotonic_ms();
    obol_driver_key key = key_of("alice", "full", "s1");
    (void)state;

    assert_int_equal(driver->get(h, &key, &sealed, &sealed_len, &err),
                     OBOL_OK);
    assert_null(sealed);
    assert_true(sealed_len == 1000000000);
    assert_true(redis_harness_monotonic_ms() - started < 400);
    assert_true(fake_saw_closed(&f, 1));
    driver->close(h);
    fake_stop(&f);
}

typedef struct kept_back {
    size_t count;
    int without_bytes[4];
    size_t len[4];
} kept_back;

static int note_kept_back(void *arg, const obol_driver_record *record)
{
    kept_back *k = arg;

    if (k->count == 4)
        return OBOL_ERR_INVALID;
    k->without_bytes[k->count] = record->sealed.data == NULL;
    k->len[k->count++] = record->sealed.len;
    return OBOL_OK;
}

/* Inside an array, a record too long to keep is read past, without being
 * kept, and the rest of the reply is visited. */
static void a_huge_record_in_a_list_is_read_past(void **state)
{
    fake_server f;
    void *h = fake_open(&f, FAKE_HUGE_RECORD, "");
    kept_back s = { 0 };
    obol_error err = { 0 };
    obol_driver_key key = key_of("alice", "full", "");
    (void)state;

    assert_int_equal(driver->list(h, &key, note_kept_back, &s, &err),
                     OBOL_OK);
    assert_int_equal(s.count, 2);
    assert_true(s.without_bytes[0] && !s.without_bytes[1]);
    assert_int_equal(s.len[0], 200000);
    assert_int_equal(s.len[1], 2);
    assert_true(fake_saw_closed(&f, 1));
    driver->close(h);
    fake_stop(&f);
}

static void a_reply_of_too_many_elements_is_refused(void **state)
{
    fake_server f;
    void *h = fake_open(&f, FAKE_HUGE_ARRAY, "");
    char got[64];
    obol_error err = { 0 };
    (void)state;

    assert_int_equal(get_status(h, key_of("alice", "full", "s1"), got,
                                sizeof got, &err),
                     OBOL_ERR_BACKEND);
    assert_message_has(&err, "100000000 elements");
    driver->close(h);
    fake_stop(&f);
}

/* ------------------------------------------------------------ threads */

enum { RACERS = 8, WINS_EACH = 25 };

typedef struct racer {
    void *handle;
    int conflicts;
    int failures;
} racer;

/* Read, increment, compare-and-set, as a refresh does; the stored record
 * is the counter itself. */
static void *race(void *arg)
{
    racer *r = arg;
    obol_driver_key key = key_of("alice", "full", "shared");

    for (int wins = 0; wins < WINS_EACH;) {
        char got[32], next[32];
        obol_error err = { 0 };
        unsigned long long value;
        int status = get_status(r->handle, key, got, sizeof got, &err);

        if (status != OBOL_OK) {
            r->failures++;
            return NULL;
        }
        value = strtoull(got, NULL, 10);
        snprintf(next, sizeof next, "%llu", value + 1);
        status = put_record(r->handle, key, next, now_s() + 100, value,
                            now_s(), &err);
        if (status == OBOL_OK)
            wins++;
        else if (status == OBOL_CONFLICT)
            r->conflicts++;
        else {
            r->failures++;
            return NULL;
        }
    }
    return NULL;
}

static void racing_threads_lose_no_update(void **state)
{
    void *h = open_default("?pool=4&timeout_ms=5000");
    pthread_t threads[RACERS];
    racer racers[RACERS];
    char expected[16];
    (void)state;

    /* Lock version and counter move together: the record "n" has lock n. */
    put_ok(h, key_of("alice", "full", "shared"), "1", now_s() + 100, 0);
    for (int i = 0; i < RACERS; i++) {
        racers[i] = (racer){ h, 0, 0 };
        assert_int_equal(pthread_create(&threads[i], NULL, race, &racers[i]),
                         0);
    }
    for (int i = 0; i < RACERS; i++) {
        assert_int_equal(pthread_join(threads[i], NULL), 0);
        assert_int_equal(racers[i].failures, 0);
    }
    snprintf(expected, sizeof expected, "%d", 1 + RACERS * WINS_EACH);
    assert_stored(h, key_of("alice", "full", "shared"), expected);
    driver->close(h);
}

/* ------------------------------------------------------ auth and sockets */

static void password_protected_server(void **state)
{
    redis_harness_options options = { .requirepass = "s3cret-pass" };
    redis_harness *locked = redis_harness_start(&options);
    char url[256];
    void *h = NULL;
    obol_error err = { 0 };
    (void)state;

    assert_non_null(locked);
    snprintf(url, sizeof url, "redis://:s3cret-pass@127.0.0.1:%u",
             redis_harness_port(locked));
    assert_int_equal(open_url(url, &h, &err), OBOL_OK);
    put_ok(h, key_of("alice", "full", "s1"), "v1", now_s() + 100, 0);
    assert_stored(h, key_of("alice", "full", "s1"), "v1");
    driver->close(h);

    snprintf(url, sizeof url, "redis://:wrong@127.0.0.1:%u",
             redis_harness_port(locked));
    assert_int_equal(open_url(url, &h, &err), OBOL_ERR_BACKEND);
    assert_message_has(&err, "AUTH: WRONGPASS");

    snprintf(url, sizeof url, "redis://127.0.0.1:%u",
             redis_harness_port(locked));
    assert_int_equal(open_url(url, &h, &err), OBOL_ERR_BACKEND);
    assert_message_has(&err, "NOAUTH");

    setenv("OBOL_TEST_REDIS_PASSWORD", "s3cret-pass", 1);
    snprintf(url, sizeof url,
             "redis://127.0.0.1:%u?password=env:OBOL_TEST_REDIS_PASSWORD",
             redis_harness_port(locked));
    assert_int_equal(open_url(url, &h, &err), OBOL_OK);
    assert_stored(h, key_of("alice", "full", "s1"), "v1");
    driver->close(h);
    redis_harness_stop(locked);
}

static void acl_user_logs_in_with_its_name(void **state)
{
    char url[256];
    void *h = NULL;
    obol_error err = { 0 };
    (void)state;

    assert_int_equal(redis_harness_run(raw, "ACL SETUSER obol-app on "
                                            ">app-pass ~* +@all"),
                     0);
    snprintf(url, sizeof url, "redis://obol-app:app-pass@127.0.0.1:%u/3",
             redis_harness_port(redis));
    assert_int_equal(open_url(url, &h, &err), OBOL_OK);
    put_ok(h, key_of("alice", "full", "s1"), "v1", now_s() + 100, 0);
    assert_stored(h, key_of("alice", "full", "s1"), "v1");
    driver->close(h);

    snprintf(url, sizeof url, "redis://obol-app:nope@127.0.0.1:%u",
             redis_harness_port(redis));
    assert_int_equal(open_url(url, &h, &err), OBOL_ERR_BACKEND);
    assert_message_has(&err, "WRONGPASS");
    assert_int_equal(redis_harness_run(raw, "ACL DELUSER obol-app"), 0);
}

static void unix_socket_with_db(void **state)
{
    char url[512], names[3][REDIS_HARNESS_KEY_MAX];
    void *h = NULL;
    obol_error err = { 0 };
    (void)state;

    snprintf(url, sizeof url, "redis+unix://%s?db=2",
             redis_harness_socket(redis));
    if (open_url(url, &h, &err) != OBOL_OK)
        fprintf(stderr, "%s: %s\n", url, err.message);
    assert_non_null(h);
    put_ok(h, key_of("alice", "full", "s1"), "v1", now_s() + 100, 0);
    redis_harness_key_names(prefix, "alice", "full", names);
    assert_int_equal(redis_harness_integer(raw, "EXISTS %s", names[0]), 0);
    assert_int_equal(redis_harness_run(raw, "SELECT 2"), 0);
    assert_int_equal(redis_harness_integer(raw, "EXISTS %s", names[0]), 1);
    assert_int_equal(redis_harness_run(raw, "SELECT 0"), 0);
    {
        char info[256];
        assert_int_equal(driver->health(h, info, sizeof info, &err), OBOL_OK);
        assert_non_null(strstr(info, "unix:"));
        assert_non_null(strstr(info, "db 2"));
    }
    driver->close(h);
}

/* ----------------------------------------------------------------- main */

#define T(name) cmocka_unit_test_setup(name, test_setup)

int main(void)
{
    const struct CMUnitTest tests[] = {
        T(entry_declares_the_driver),
        T(config_refuses_unknown_option),
        T(config_refuses_bad_numbers),
        T(config_refuses_option_given_twice),
        T(config_refuses_db_path_that_is_not_a_number),
        T(config_refuses_empty_host),
        T(config_refuses_host_for_unix_socket),
        T(config_refuses_user_without_password),
        T(open_names_server_and_cause_when_unreachable),
        T(cluster_config_refuses_a_database),
        T(cluster_config_refuses_malformed_nodes),
        T(cluster_options_are_refused_for_one_server),
        T(tls_options_are_refused_without_tls),
        T(tls_config_refuses_a_certificate_without_its_key),
        T(tls_config_refuses_bad_options),
        T(config_refuses_bad_wait_options),
        T(cluster_open_fails_when_no_seed_answers),
        T(cluster_seed_that_is_no_cluster_node_is_named),
        T(wait_replicas_short_reports_the_count),
        T(put_then_get_returns_bytes_verbatim),
        T(get_of_missing_session_is_not_found),
        T(empty_record_and_empty_id_are_stored),
        T(insert_conflicts_with_a_live_record),
        T(update_needs_the_stored_lock_version),
        T(update_of_missing_record_conflicts),
        T(expired_record_counts_as_lock_zero),
        T(deleted_session_is_not_brought_back),
        T(lock_versions_beyond_double_precision_compare_exactly),
        T(keys_follow_the_documented_layout),
        T(separator_in_user_or_type_does_not_collide),
        T(odd_bytes_in_ids_never_collide),
        T(key_ttl_is_the_highest_expiry),
        T(key_ttl_is_lowered_after_deleting_the_highest),
        T(keys_are_gone_after_deleting_the_last_session),
        T(put_of_an_expired_record_leaves_no_key),
        T(put_drops_expired_members),
        T(never_expiring_record_keeps_keys_forever),
        T(list_returns_records_with_expiry_and_lock),
        T(visit_status_stops_the_walk),
        T(del_all_touches_no_other_user_or_type),
        T(scan_visits_every_record_of_the_prefix_only),
        T(prune_removes_only_expired_records),
        T(health_names_version_and_server),
        T(every_operation_is_one_round_trip),
        T(lost_scripts_are_loaded_again),
        T(killed_server_fails_fast_and_handle_recovers),
        T(stalled_server_times_out),
        T(dripped_reply_times_out_at_the_deadline),
        T(server_that_never_answers_times_out),
        T(scan_whose_cursor_never_ends_stops),
        T(a_huge_record_is_never_read_in),
        T(a_huge_record_in_a_list_is_read_past),
        T(a_reply_of_too_many_elements_is_refused),
        T(racing_threads_lose_no_update),
        T(password_protected_server),
        T(acl_user_logs_in_with_its_name),
        T(unix_socket_with_db),
    };

    redis_harness_require();
    return cmocka_run_group_tests_name("redis driver", tests, group_setup,
                                       group_teardown);
}

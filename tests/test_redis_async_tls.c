/*
 * The Redis driver's non-blocking slots over TLS (rediss://), against a
 * redis-server that speaks only TLS with certificates made for the run:
 * many operations in flight on one TLS connection, records large enough
 * that the socket takes them in parts (TLS's partial writes, several
 * records read at once), and a stall that times out and recovers.
 */
#define _POSIX_C_SOURCE 200809L
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <obol/driver.h>

#include "redis_async_kit.h"
#include "redis_harness.h"

static redis_harness *redis;
static int prefix_counter;
static char prefix[32];

static int group_setup(void **state)
{
    redis_harness_options options = { .tls = REDIS_HARNESS_TLS_ONLY };

    (void)state;
    if (async_kit_load() != 0)
        return -1;
    redis = redis_harness_start(&options);
    return redis != NULL ? 0 : -1;
}

static int group_teardown(void **state)
{
    (void)state;
    redis_harness_stop(redis);
    return 0;
}

static int test_setup(void **state)
{
    (void)state;
    snprintf(prefix, sizeof prefix, "at%d", ++prefix_counter);
    return 0;
}

/* rediss://...?tls_ca=... with this test's prefix; the blocking calls
 * of open() get time for a handshake under valgrind. */
static void *open_tls(void)
{
    char url[1024];

    snprintf(url, sizeof url, "%s&prefix=%s&timeout_ms=10000"
             "&connect_timeout_ms=10000", redis_harness_url(redis), prefix);
    return async_kit_open(url);
}

/* 500 puts of 32 KiB records and their gets, all in flight at once on
 * the one TLS connection, each answered with its own bytes. */
static void large_records_pipeline_over_tls(void **state)
{
    enum { COUNT = 500, SIZE = 32 * 1024 };
    void *h = open_tls();
    async_kit_op **ops = calloc(COUNT, sizeof *ops);
    char *sealed = malloc(SIZE + 1);
    obol_driver_stats before = { .struct_size = sizeof before };
    obol_driver_stats after = { .struct_size = sizeof after };
    obol_error err = { 0 };
    (void)state;

    assert_non_null(ops);
    assert_non_null(sealed);
    assert_int_equal(async_kit_run_put(h, "tess", "web", "first", "x", 0, 1),
                     OBOL_OK);
    assert_int_equal(async_kit_driver->stats(h, &before, &err), OBOL_OK);
    for (int i = 0; i < COUNT; i++) {
        char id[16];

        memset(sealed, 'a' + i % 26, SIZE);
        sealed[SIZE] = '\0';
        snprintf(id, sizeof id, "s%d", i);
        ops[i] = async_kit_put(h, "tess", "web", id, sealed, 0, 1);
    }
    for (int i = 0; i < COUNT; i++) {
        assert_int_equal(async_kit_wait(ops[i]), OBOL_OK);
        async_kit_free(ops[i]);
    }
    for (int i = 0; i < COUNT; i++) {
        char id[16];

        snprintf(id, sizeof id, "s%d", i);
        ops[i] = async_kit_get(h, "tess", "web", id);
    }
    for (int i = 0; i < COUNT; i++) {
        assert_int_equal(async_kit_wait(ops[i]), OBOL_OK);
        assert_int_equal(ops[i]->d.sealed_len, SIZE);
        assert_int_equal(ops[i]->d.sealed[0], 'a' + i % 26);
        assert_int_equal(ops[i]->d.sealed[SIZE - 1], 'a' + i % 26);
        async_kit_free(ops[i]);
    }
    assert_int_equal(async_kit_driver->stats(h, &after, &err), OBOL_OK);
    if (after.connects != before.connects)   /* seen once under load */
        print_message("# connects %llu -> %llu, reconnects %llu -> %llu\n",
                      (unsigned long long)before.connects,
                      (unsigned long long)after.connects,
                      (unsigned long long)before.reconnects,
                      (unsigned long long)after.reconnects);
    assert_int_equal(after.connects, before.connects);
    free(sealed);
    free(ops);
    async_kit_driver->close(h);
}

/* A stalled TLS server times the operations out; after SIGCONT the next
 * ones succeed. */
static void a_stalled_tls_server_times_out_then_recovers(void **state)
{
    enum { COUNT = 20 };
    void *h = open_tls();
    async_kit_op *ops[COUNT];
    (void)state;

    assert_int_equal(async_kit_run_put(h, "uma", "web", "s1", "kept", 0, 1),
                     OBOL_OK);
    assert_int_equal(redis_harness_pause(redis), 0);
    async_kit_timeout_ms = 300;
    for (int i = 0; i < COUNT; i++)
        ops[i] = async_kit_get(h, "uma", "web", "s1");
    async_kit_timeout_ms = 0;
    for (int i = 0; i < COUNT; i++) {
        assert_int_equal(async_kit_wait(ops[i]), OBOL_ERR_TIMEOUT);
        async_kit_free(ops[i]);
    }
    assert_int_equal(redis_harness_resume(redis), 0);
    ops[0] = async_kit_get(h, "uma", "web", "s1");
    assert_int_equal(async_kit_wait(ops[0]), OBOL_OK);
    assert_memory_equal(ops[0]->d.sealed, "kept", 4);
    async_kit_free(ops[0]);
    async_kit_driver->close(h);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup(large_records_pipeline_over_tls, test_setup),
        cmocka_unit_test_setup(a_stalled_tls_server_times_out_then_recovers,
                               test_setup),
    };

    redis_harness_require();
    redis_harness_require_openssl();
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}

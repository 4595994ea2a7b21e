/*
 * The non-blocking API on a Sentinel-resolved master (redis+sentinel://),
 * natively pipelined by the Redis driver: its I/O thread connects as the
 * pools do (only to the master the Sentinels name, ROLE checked), and
 * SENTINEL FAILOVER under load leaves every callback run once, with
 * service back on the new master within seconds.
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

#include <obol/obol.h>

#include "queue_internal.h"
#include "redis_async_load.h"
#include "redis_harness.h"
#include "redis_sentinel.h"
#include "store_checks.h"

#define FAILOVER_WAIT_MS 30000
#define SETTLE_WAIT_MS 30000

static redis_sentinel *setup;
static int prefix_counter;
static char prefix[32];

static const uint8_t signing_key[32] = {
    0x61, 0x73, 0x79, 0x6e, 0x63, 0x2d, 0x73, 0x65, 0x6e, 0x74, 0x69, 0x6e,
    0x65, 0x6c, 0x2d, 0x6b, 0x65, 0x79, 0x2d, 0x30, 0x31, 0x32, 0x33, 0x34,
    0x35, 0x36, 0x37, 0x38, 0x39, 0x61, 0x62, 0x63,
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
    snprintf(prefix, sizeof prefix, "as%d", ++prefix_counter);
    return 0;
}

static obol_store *open_store(const char *options)
{
    return open_store_with_key(redis_sentinel_url(setup), prefix, options,
                               signing_key);
}

/* Every kind runs natively there, and answers. */
static void operations_run_natively_on_the_master(void **state)
{
    obol_store *st = open_store("");
    obol_queue *q = open_queue(st, 5000);
    obol_session *s = insert(st, "kim");
    (void)state;

    /* Sentinel too: the core's workers are not needed. */
    assert_int_equal(obol_queue_native_ops(q), 0x1f);
    assert_int_equal(get_through(q, s), OBOL_OK);
    obol_queue_close(q);
    obol_session_free(s);
    obol_store_close(st);
}

/* SENTINEL FAILOVER under a 64-deep load: each callback once; the writes
 * the old master took after the promotion may fail (their WAIT falls
 * short), and once the Sentinels name the new master, operations succeed
 * there. */
static void a_failover_under_load_resumes_on_the_new_master(void **state)
{
    obol_store *st = open_store("&wait_replicas=1&wait_timeout_ms=300");
    int old_master = redis_sentinel_master(setup), new_master;
    obol_session *kept = insert(st, "lee");
    obol_queue *q;
    double until;
    int status = OBOL_ERR_BACKEND;
    load l;
    (void)state;

    assert_true(old_master >= 0);
    load_start(&l, st, "lee", 64);
    redis_harness_sleep_ms(200);
    new_master = redis_sentinel_failover(setup, FAILOVER_WAIT_MS);
    assert_true(new_master >= 0 && new_master != old_master);
    redis_harness_sleep_ms(500);
    load_finish(&l, "SENTINEL FAILOVER");
    /* Writes may fall short of their replica on the old master; none is
     * left waiting behind another's WAIT until its deadline. */
    assert_int_equal(l.timeouts, 0);
    q = open_queue(st, 2000);
    until = redis_harness_monotonic_ms() + 8000;
    while (status != OBOL_OK && redis_harness_monotonic_ms() < until) {
        status = get_through(q, kept);
        if (status != OBOL_OK)
            redis_harness_sleep_ms(100);
    }
    assert_int_equal(status, OBOL_OK);
    obol_queue_close(q);
    obol_session_free(kept);
    obol_store_close(st);
    assert_int_equal(redis_sentinel_demote(setup, (size_t)old_master), 0);
    assert_int_equal(redis_sentinel_wait_linked(setup, SETTLE_WAIT_MS), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup(operations_run_natively_on_the_master,
                               test_setup),
        cmocka_unit_test_setup(a_failover_under_load_resumes_on_the_new_master,
                               test_setup),
    };

    redis_harness_require();
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}

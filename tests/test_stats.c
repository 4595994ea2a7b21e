/*
 * obol_store_stats() below the store suite: the histogram's buckets and
 * quantiles, the names, a snapshot into a struct smaller or larger than
 * the library's, the stats= option, exact counts with every thread on one
 * stripe, and the Prometheus example of docs/STATS.md, compiled out of
 * the document itself and its output checked line by line. On "memory:".
 */
#define _POSIX_C_SOURCE 200809L
#include "config.h"

#include <math.h>
#include <pthread.h>
#include <regex.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include <obol/obol.h>

#include "stats_internal.h"
#include "store_internal.h"

/* The block of docs/STATS.md, extracted by the build (tests/local.mk);
 * its prototype is what an application's header would hold. */
void obol_stats_write_prometheus(FILE *out, const obol_stats *s);
#include "tests/stats_prometheus.inc"

static const uint8_t test_key[32] = "obol stats test key, not secret";
static unsigned store_counter;

static obol_store *open_memory(const char *options)
{
    char url[256];
    obol_store *st = NULL;
    obol_error err;

    snprintf(url, sizeof url, "memory:?prefix=stats%u%s", ++store_counter,
             options);
    if (obol_store_open(url, &st, &err) != OBOL_OK)
        fail_msg("open %s: %s", url, err.message);
    assert_int_equal(obol_store_add_key(st, 1, test_key, 1, NULL), OBOL_OK);
    return st;
}

static obol_session *stored(obol_store *st, const char *uid)
{
    obol_session *s = obol_session_new(uid, NULL, obol_store_now(st), 3600,
                                       3600);

    assert_non_null(s);
    assert_int_equal(obol_upsert(st, s, NULL), OBOL_OK);
    return s;
}

static int get_status(obol_store *st, const char *sid, const char *uid)
{
    obol_session *got = NULL;
    int status = obol_get(st, sid, uid, NULL, &got, NULL);

    obol_session_free(got);
    return status;
}

/* ------------------------------------------------------------- buckets */

static void buckets_are_powers_of_two_microseconds(void **state)
{
    const uint64_t us = 1000;
    (void)state;

    assert_int_equal(obol_stats_bucket_of(0), 0);
    assert_int_equal(obol_stats_bucket_of(1 * us), 0);
    assert_int_equal(obol_stats_bucket_of(1 * us + 1), 1);
    assert_int_equal(obol_stats_bucket_of(2 * us), 1);
    assert_int_equal(obol_stats_bucket_of(2 * us + 1), 2);
    assert_int_equal(obol_stats_bucket_of(4 * us), 2);
    assert_int_equal(obol_stats_bucket_of(4 * us + 1), 3);
    assert_int_equal(obol_stats_bucket_of(1000 * us), 10);    /* 1 ms */
    assert_int_equal(obol_stats_bucket_of(1024 * us), 10);
    assert_int_equal(obol_stats_bucket_of((1ull << 25) * us), 25);
    assert_int_equal(obol_stats_bucket_of((1ull << 25) * us + 1),
                     OBOL_STATS_BUCKETS - 1);
    assert_int_equal(obol_stats_bucket_of(UINT64_MAX), OBOL_STATS_BUCKETS - 1);
}

static void quantiles_interpolate_within_a_bucket(void **state)
{
    obol_op_stats op = { 0 };
    (void)state;

    assert_true(obol_op_stats_quantile(NULL, 0.5) == 0);
    assert_true(obol_op_stats_quantile(&op, 0.5) == 0);
    op.latency[3] = 10;                  /* (4, 8] us */
    assert_true(fabs(obol_op_stats_quantile(&op, 0.5) - 6) < 1e-9);
    assert_true(fabs(obol_op_stats_quantile(&op, 0) - 4) < 1e-9);
    assert_true(fabs(obol_op_stats_quantile(&op, 1) - 8) < 1e-9);
    assert_true(fabs(obol_op_stats_quantile(&op, 7) - 8) < 1e-9);
    assert_true(fabs(obol_op_stats_quantile(&op, NAN) - 4) < 1e-9);
    op.latency[0] = 10;                  /* (0, 1] us */
    assert_true(fabs(obol_op_stats_quantile(&op, 0.25) - 0.5) < 1e-9);
    assert_true(fabs(obol_op_stats_quantile(&op, 0.75) - 6) < 1e-9);
    op.latency[OBOL_STATS_BUCKETS - 1] = 80;   /* past 2^25 us */
    assert_true(obol_op_stats_quantile(&op, 0.99) == (double)(1ull << 25));
}

/* --------------------------------------------------------------- names */

static void every_operation_reason_and_status_has_a_name(void **state)
{
    (void)state;
    for (int i = 0; i < OBOL_OP_COUNT; i++) {
        assert_non_null(obol_op_name(i));
        for (int j = 0; j < i; j++)
            assert_string_not_equal(obol_op_name(i), obol_op_name(j));
    }
    assert_null(obol_op_name(OBOL_OP_COUNT));
    assert_null(obol_op_name(-1));
    assert_string_equal(obol_op_name(OBOL_OP_DELETE_EVERYWHERE),
                        "delete_everywhere");
    for (int r = 0; r < OBOL_REFUSED_COUNT; r++)
        assert_non_null(obol_refusal_name(r));
    assert_null(obol_refusal_name(OBOL_REFUSED_COUNT));
    assert_string_equal(obol_refusal_name(OBOL_REFUSED_UNKNOWN_KEY),
                        "unknown_key");
    for (int status = OBOL_ERR_NO_STORE; status <= OBOL_REUSE_DETECTED;
         status++)
        assert_string_not_equal(obol_status_name(status), "other");
    assert_string_equal(obol_status_name(OBOL_ERR_TIMEOUT), "timeout");
    assert_string_equal(obol_status_name(1000), "other");
    assert_true(OBOL_OP_COUNT <= OBOL_STATS_MAX_OPS);
    assert_true(OBOL_REFUSED_COUNT <= OBOL_STATS_MAX_REFUSALS);
    assert_true(-OBOL_ERR_NO_STORE <= OBOL_STATS_ERRORS);
}

/* ------------------------------------------------------------ snapshot */

/* A caller built against an older header: a struct that ends before ops.
 * Nothing past it is written. */
static void snapshot_fills_only_the_size_asked(void **state)
{
    obol_store *st = open_memory("");
    obol_session *s = stored(st, "alice");
    size_t small = offsetof(obol_stats, ops);
    unsigned char *buf = malloc(sizeof(obol_stats));
    obol_stats *seen = (obol_stats *)buf;
    (void)state;

    assert_non_null(buf);
    memset(buf, 0xAA, sizeof(obol_stats));
    assert_int_equal(obol_store_stats(st, seen, small, NULL), OBOL_OK);
    assert_int_equal(seen->struct_size, small);
    assert_true(seen->enabled);
    assert_int_equal(seen->op_count, OBOL_OP_COUNT);
    for (size_t i = small; i < sizeof(obol_stats); i++)
        assert_int_equal(buf[i], 0xAA);
    free(buf);
    obol_session_free(s);
    obol_store_close(st);
}

/* A caller built against a newer header: what the library does not know
 * of is zero. */
static void snapshot_zeroes_what_the_library_does_not_know(void **state)
{
    obol_store *st = open_memory("");
    obol_session *s = stored(st, "alice");
    size_t big = sizeof(obol_stats) + 64;
    unsigned char *buf = malloc(big);
    obol_stats *seen = (obol_stats *)buf;
    (void)state;

    assert_non_null(buf);
    memset(buf, 0xAA, big);
    assert_int_equal(obol_store_stats(st, seen, big, NULL), OBOL_OK);
    assert_int_equal(seen->struct_size, sizeof(obol_stats));
    assert_int_equal(seen->ops[OBOL_OP_UPSERT].calls, 1);
    for (size_t i = sizeof(obol_stats); i < big; i++)
        assert_int_equal(buf[i], 0);
    free(buf);
    obol_session_free(s);
    obol_store_close(st);
}

static void snapshot_refuses_what_it_cannot_fill(void **state)
{
    obol_store *st = open_memory("");
    obol_stats seen;
    obol_error err;
    (void)state;

    assert_int_equal(obol_store_stats(NULL, &seen, sizeof seen, &err),
                     OBOL_ERR_INVALID);
    assert_non_null(strstr(err.message, "stats"));
    assert_int_equal(obol_store_stats(st, NULL, sizeof seen, &err),
                     OBOL_ERR_INVALID);
    assert_int_equal(obol_store_stats(st, &seen, sizeof seen.struct_size - 1,
                                      &err), OBOL_ERR_INVALID);
    /* A call on no store has nowhere to be counted, and is no crash. */
    assert_int_equal(get_status(NULL, "x", "alice"), OBOL_ERR_INVALID);
    obol_store_close(st);
}

static void stats_option_takes_0_or_1(void **state)
{
    obol_store *st = NULL;
    obol_error err;
    (void)state;

    assert_int_equal(obol_store_open("memory:?stats=yes", &st, &err),
                     OBOL_ERR_INVALID);
    assert_null(st);
    assert_non_null(strstr(err.message, "'stats' must be 0 or 1"));
    st = open_memory("&stats=1");
    assert_non_null(st->stats);
    obol_store_close(st);
    st = open_memory("&stats=0");
    assert_null(st->stats);
    obol_store_close(st);
}

/* ------------------------------------------------------------- threads */

enum { CROWD = 8, CROWD_GETS = 2000 };

typedef struct crowd_member {
    obol_store *st;
    const char *sid;
    int failures;
} crowd_member;

static void *get_in_a_crowd(void *arg)
{
    crowd_member *m = arg;

    for (int i = 0; i < CROWD_GETS; i++)
        m->failures += get_status(m->st, m->sid, "alice") != OBOL_OK;
    return NULL;
}

/* Every thread on one stripe, the worst case for the counters: a count
 * lost to a race would show. */
static void one_stripe_for_every_thread_loses_no_count(void **state)
{
    obol_store *st = open_memory("");
    obol_session *s = stored(st, "alice");
    pthread_t threads[CROWD];
    crowd_member crowd[CROWD];
    obol_stats seen;
    uint64_t buckets = 0;
    (void)state;

    obol_stats_use_stripes(st->stats, 1);
    for (int i = 0; i < CROWD; i++) {
        crowd[i] = (crowd_member){ st, s->id, 0 };
        assert_int_equal(pthread_create(&threads[i], NULL, get_in_a_crowd,
                                        &crowd[i]), 0);
    }
    for (int i = 0; i < CROWD; i++) {
        assert_int_equal(pthread_join(threads[i], NULL), 0);
        assert_int_equal(crowd[i].failures, 0);
    }
    assert_int_equal(obol_store_stats(st, &seen, sizeof seen, NULL), OBOL_OK);
    assert_int_equal(seen.ops[OBOL_OP_GET].calls, CROWD * CROWD_GETS);
    assert_int_equal(seen.ops[OBOL_OP_GET].outcomes[OBOL_OK],
                     CROWD * CROWD_GETS);
    for (int k = 0; k < OBOL_STATS_BUCKETS; k++)
        buckets += seen.ops[OBOL_OP_GET].latency[k];
    assert_int_equal(buckets, CROWD * CROWD_GETS);
    obol_session_free(s);
    obol_store_close(st);
}

/* The histogram is a sample: one call in OBOL_STATS_SAMPLE of each
 * thread, its first included, is timed; every call is counted. */
static void *gets_on_a_fresh_thread(void *arg)
{
    crowd_member *m = arg;

    for (int i = 0; i < 10 * OBOL_STATS_SAMPLE + 1; i++)
        m->failures += get_status(m->st, m->sid, "alice") != OBOL_OK;
    return NULL;
}

static void one_call_in_eight_is_timed(void **state)
{
    obol_store *st = open_memory("");
    obol_session *s = stored(st, "alice");
    crowd_member m = { st, s->id, 0 };
    pthread_t thread;
    obol_stats seen;
    uint64_t buckets = 0;
    (void)state;

    obol_stats_time_every(OBOL_STATS_SAMPLE);
    assert_int_equal(pthread_create(&thread, NULL, gets_on_a_fresh_thread, &m), 0);
    assert_int_equal(pthread_join(thread, NULL), 0);
    obol_stats_time_every(1);
    assert_int_equal(m.failures, 0);
    assert_int_equal(obol_store_stats(st, &seen, sizeof seen, NULL), OBOL_OK);
    assert_int_equal(seen.ops[OBOL_OP_GET].calls, 10 * OBOL_STATS_SAMPLE + 1);
    assert_int_equal(seen.ops[OBOL_OP_GET].timed, 11);
    for (int k = 0; k < OBOL_STATS_BUCKETS; k++)
        buckets += seen.ops[OBOL_OP_GET].latency[k];
    assert_int_equal(buckets, 11);
    assert_true(seen.ops[OBOL_OP_GET].latency_ns > 0);
    obol_session_free(s);
    obol_store_close(st);
}

/* ---------------------------------------------------------- Prometheus */

/* What obol_stats_write_prometheus() wrote for s (free it). */
static char *prometheus_text(const obol_stats *s)
{
    char *text = NULL;
    size_t len = 0;
    FILE *out = open_memstream(&text, &len);

    assert_non_null(out);
    obol_stats_write_prometheus(out, s);
    assert_int_equal(fclose(out), 0);
    return text;
}

static int has_line(const char *text, const char *line)
{
    size_t len = strlen(line);

    for (const char *at = text; (at = strstr(at, line)) != NULL; at += len)
        if ((at == text || at[-1] == '\n') && at[len] == '\n')
            return 1;
    return 0;
}

static void assert_line(const char *text, const char *line)
{
    if (!has_line(text, line))
        fail_msg("no line \"%s\" in:\n%s", line, text);
}

/* Every line is a TYPE line or a sample of the family the last TYPE line
 * named, as the text format wants; bucket counts never go down. */
static void assert_exposition_format(const char *text)
{
    regex_t type_line, sample;
    char family[128] = "", line[512];
    const char *at = text;
    unsigned long long last_bucket = 0;

    assert_int_equal(regcomp(&type_line, "^# TYPE ([a-z_]+) "
                             "(counter|histogram)$", REG_EXTENDED), 0);
    assert_int_equal(regcomp(&sample, "^([a-z_]+)(\\{[a-z_]+=\"[^\"]*\""
                             "(,[a-z_]+=\"[^\"]*\")*\\})? [0-9.]+$",
                             REG_EXTENDED), 0);
    while (*at != '\0') {
        size_t len = strcspn(at, "\n");
        regmatch_t m[2];

        assert_true(len < sizeof line);
        memcpy(line, at, len);
        line[len] = '\0';
        at += len + (at[len] == '\n');
        if (regexec(&type_line, line, 2, m, 0) == 0) {
            snprintf(family, sizeof family, "%.*s",
                     (int)(m[1].rm_eo - m[1].rm_so), line + m[1].rm_so);
            continue;
        }
        if (regexec(&sample, line, 2, m, 0) != 0)
            fail_msg("not a sample: \"%s\"", line);
        assert_true(strncmp(line, family, strlen(family)) == 0);
        if (strstr(line, "_bucket{") != NULL) {
            unsigned long long n = strtoull(strrchr(line, ' ') + 1, NULL, 10);
            if (strstr(line, "le=\"0.000001\"") == NULL)
                assert_true(n >= last_bucket);
            last_bucket = n;
        }
    }
    regfree(&type_line);
    regfree(&sample);
}

static void prometheus_example_of_the_docs_exports_a_snapshot(void **state)
{
    obol_store *st = open_memory("");
    obol_session *s = stored(st, "alice");
    obol_stats seen;
    char *text;
    int buckets = 0;
    (void)state;

    assert_int_equal(get_status(st, s->id, "alice"), OBOL_OK);
    assert_int_equal(get_status(st, "missing", "alice"), OBOL_NOT_FOUND);
    assert_int_equal(get_status(st, "x", ""), OBOL_ERR_INVALID);
    assert_int_equal(obol_store_stats(st, &seen, sizeof seen, NULL), OBOL_OK);
    text = prometheus_text(&seen);
    assert_exposition_format(text);
    assert_line(text, "# TYPE obol_calls_total counter");
    assert_line(text, "obol_calls_total{op=\"get\",status=\"ok\"} 1");
    assert_line(text, "obol_calls_total{op=\"get\",status=\"not_found\"} 1");
    assert_line(text, "obol_calls_total{op=\"get\",status=\"invalid\"} 1");
    assert_line(text, "obol_calls_total{op=\"upsert\",status=\"ok\"} 1");
    assert_line(text, "obol_call_duration_seconds_bucket{op=\"get\","
                      "le=\"+Inf\"} 3");
    assert_line(text, "obol_call_duration_seconds_bucket{op=\"get\","
                      "le=\"33.554432\"} 3");
    assert_line(text, "obol_call_duration_seconds_count{op=\"get\"} 3");
    assert_line(text, "obol_refused_records_total{reason=\"bad_seal\"} 0");
    assert_line(text, "obol_conflicts_total 0");
    for (const char *at = text; (at = strstr(at, "_bucket{op=\"get\"")); at++)
        buckets++;
    assert_int_equal(buckets, OBOL_STATS_BUCKETS);
    /* No call, no histogram; a driver without counters, no driver lines. */
    assert_null(strstr(text, "{op=\"prune\""));
    assert_null(strstr(text, "obol_connects_total"));
    free(text);

    seen.has_driver_stats = 1;
    seen.connects = 3;
    seen.moved = 2;
    text = prometheus_text(&seen);
    assert_exposition_format(text);
    assert_line(text, "obol_connects_total 3");
    assert_line(text, "obol_cluster_moved_total 2");
    assert_line(text, "obol_topology_refresh_failures_total 0");
    free(text);
    obol_session_free(s);
    obol_store_close(st);
}

/* A status of the application's own, and one without a name, go to one
 * "other" series. */
static void prometheus_example_folds_unnamed_statuses_into_other(void **state)
{
    obol_stats *seen = calloc(1, sizeof *seen);
    char *text;
    (void)state;

    assert_non_null(seen);
    seen->op_count = OBOL_OP_COUNT;
    seen->refusal_count = OBOL_REFUSED_COUNT;
    seen->ops[OBOL_OP_SCAN].other = 2;
    seen->ops[OBOL_OP_SCAN].errors[OBOL_STATS_ERROR_INDEX(-12)] = 1;
    seen->ops[OBOL_OP_SCAN].calls = 3;
    seen->ops[OBOL_OP_SCAN].latency[4] = 3;
    seen->ops[OBOL_OP_SCAN].timed = 3;
    text = prometheus_text(seen);
    assert_exposition_format(text);
    assert_line(text, "obol_calls_total{op=\"scan\",status=\"other\"} 3");
    free(text);
    free(seen);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(buckets_are_powers_of_two_microseconds),
        cmocka_unit_test(quantiles_interpolate_within_a_bucket),
        cmocka_unit_test(every_operation_reason_and_status_has_a_name),
        cmocka_unit_test(snapshot_fills_only_the_size_asked),
        cmocka_unit_test(snapshot_zeroes_what_the_library_does_not_know),
        cmocka_unit_test(snapshot_refuses_what_it_cannot_fill),
        cmocka_unit_test(stats_option_takes_0_or_1),
        cmocka_unit_test(one_stripe_for_every_thread_loses_no_count),
        cmocka_unit_test(one_call_in_eight_is_timed),
        cmocka_unit_test(prometheus_example_of_the_docs_exports_a_snapshot),
        cmocka_unit_test(prometheus_example_folds_unnamed_statuses_into_other),
    };

    /* Exact histograms for the cases, which count calls one by one. */
    obol_stats_time_every(1);
    return cmocka_run_group_tests_name("stats", tests, NULL, NULL);
}

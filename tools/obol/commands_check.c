/*
 * `obol check`: can this store be used from here, how fast does it
 * answer, do its records verify with the keys given, and how many does
 * each key id hold?
 */
#include "config.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>

#include <jansson.h>

#include "cli.h"

/* Reads of a missing session timed for the round trip. */
#define LATENCY_READS 21

typedef struct latency {
    double min_ms, median_ms, max_ms;
} latency;

static int compare_doubles(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;

    return x < y ? -1 : x > y;
}

/* A read of a random id that no session has costs one round trip to the
 * backend and no decoding: the latency a get pays at least. */
static int measure_latency(obol_store *st, latency *out, obol_error *err)
{
    obol_session *probe = obol_session_new("obol-check", NULL, 0, 0, 0);
    double took[LATENCY_READS];
    int status = OBOL_OK;

    if (probe == NULL)
        return OBOL_ERR_NOMEM;
    for (int i = 0; i < LATENCY_READS && status == OBOL_OK; i++) {
        obol_session *found = NULL;
        double started = cli_monotonic_seconds();

        status = obol_get(st, probe->id, probe->user_id, NULL, &found, err);
        took[i] = (cli_monotonic_seconds() - started) * 1000;
        obol_session_free(found);
        if (status == OBOL_NOT_FOUND)
            status = OBOL_OK;
    }
    obol_session_free(probe);
    if (status != OBOL_OK)
        return status;
    qsort(took, LATENCY_READS, sizeof took[0], compare_doubles);
    *out = (latency){ took[0], took[LATENCY_READS / 2], took[LATENCY_READS - 1] };
    return OBOL_OK;
}

/* The sample counts what obol_scan_sample() met; the sessions themselves
 * are not needed. */
static int take_session(void *arg, const obol_session *s)
{
    (void)arg;
    (void)s;
    return OBOL_OK;
}

/* Microseconds to one decimal: more digits would be noise. */
static double rounded_us(double ms)
{
    return cli_rounded(ms * 1000, 1);
}

/* "thread-safe, multi-process, ..." for people. */
static void describe_capabilities(const obol_store_info *info, char *buf,
                                  size_t size)
{
    snprintf(buf, size, "%s%s%s%s", info->thread_safe ? "thread-safe " : "",
             info->multi_process ? "multi-process " : "",
             info->native_expiry ? "native-expiry " : "",
             info->persistent ? "persistent" : "");
}

static const char *role_name(int role)
{
    switch (role) {
    case OBOL_KEY_ROLE_SIGNING: return "signing";
    case OBOL_KEY_ROLE_OLD: return "old";
    default: return "unknown";
    }
}

/* Records the store refuses whatever it is asked: under a key id it does
 * not hold (retired), with a seal that does not verify, or of no format. */
static uint64_t census_refused(const obol_key_census *census)
{
    uint64_t refused = census->bad_seals + census->unreadable;

    for (size_t i = 0; i < census->key_count; i++)
        if (census->keys[i].role == OBOL_KEY_ROLE_UNKNOWN)
            refused += census->keys[i].records;
    return refused;
}

static json_t *census_json(const obol_key_census *census)
{
    json_t *ids = json_array();

    for (size_t i = 0; ids != NULL && i < census->key_count; i++) {
        const obol_key_count *k = &census->keys[i];

        if (json_array_append_new(ids, json_pack("{s:I, s:s, s:I}", "key_id",
                                                 (json_int_t)k->key_id, "role",
                                                 role_name(k->role), "records",
                                                 (json_int_t)k->records)) != 0) {
            json_decref(ids);
            return NULL;
        }
    }
    return json_pack("{s:I, s:I, s:I, s:I, s:I, s:o}",
                     "records", (json_int_t)census->records,
                     "expired", (json_int_t)census->expired,
                     "unsigned", (json_int_t)census->unsigned_records,
                     "bad_seals", (json_int_t)census->bad_seals,
                     "unreadable", (json_int_t)census->unreadable, "ids", ids);
}

static void print_key_count(const obol_key_count *k, int *first)
{
    printf("%skey %" PRIu32 ": %" PRIu64 " record%s (%s)", *first ? "" : ", ",
           k->key_id, k->records, k->records == 1 ? "" : "s",
           k->role == OBOL_KEY_ROLE_UNKNOWN ? "unknown: refused"
                                            : role_name(k->role));
    *first = 0;
}

/* "key 2: 1200 records (signing), key 1: 34 records (old)": the signing
 * key first, then the others by key id. */
static void print_census(const obol_key_census *census)
{
    int first = 1;

    printf("%-16s", "key ids");
    for (size_t i = 0; i < census->key_count; i++)
        if (census->keys[i].role == OBOL_KEY_ROLE_SIGNING)
            print_key_count(&census->keys[i], &first);
    for (size_t i = 0; i < census->key_count; i++)
        if (census->keys[i].role != OBOL_KEY_ROLE_SIGNING)
            print_key_count(&census->keys[i], &first);
    if (first)
        printf("no key");
    if (census->unsigned_records > 0)
        printf("; %" PRIu64 " unsigned", census->unsigned_records);
    if (census->bad_seals > 0)
        printf("; %" PRIu64 " with a seal that does not verify", census->bad_seals);
    if (census->unreadable > 0)
        printf("; %" PRIu64 " unreadable", census->unreadable);
    putchar('\n');
    if (census_refused(census) > census->bad_seals + census->unreadable)
        printf("%-16srecords under a key id the store does not hold are "
               "refused: keep it listed until `obol rekey` has rewritten them\n",
               "");
}

/* The quantiles `check` shows of each operation's histogram. */
static const double shown_quantiles[] = { 0.5, 0.9, 0.99 };

/* The operations check ran, from the store's own counters (docs/STATS.md):
 * "get: 21 calls, p50 24.6 us, p90 30.7 us, p99 62.4 us". */
static void print_op_latencies(const obol_stats *ops)
{
    const char *label = "latency";

    for (size_t op = 0; op < ops->op_count; op++) {
        const obol_op_stats *o = &ops->ops[op];

        if (o->calls == 0)
            continue;
        printf("%-16s%s: %" PRIu64 " call%s", label, obol_op_name((int)op),
               o->calls, o->calls == 1 ? "" : "s");
        for (size_t q = 0; q < sizeof shown_quantiles / sizeof *shown_quantiles;
             q++)
            printf(", p%g %.1f us", shown_quantiles[q] * 100,
                   obol_op_stats_quantile(o, shown_quantiles[q]));
        putchar('\n');
        label = "";
    }
}

/* A quantile of o in microseconds, rounded as the round trip's are. */
static double quantile_us(const obol_op_stats *o, double q)
{
    return rounded_us(obol_op_stats_quantile(o, q) / 1000);
}

/* {"get": {"calls": 21, "p50_us": 24.6, ...}, ...}; NULL when out of
 * memory. */
static json_t *op_latencies_json(const obol_stats *ops)
{
    json_t *all = json_object();

    for (size_t op = 0; all != NULL && op < ops->op_count; op++) {
        const obol_op_stats *o = &ops->ops[op];
        json_t *one;

        if (o->calls == 0)
            continue;
        one = json_pack("{s:I, s:f, s:f, s:f}", "calls", (json_int_t)o->calls,
                        "p50_us", quantile_us(o, 0.5),
                        "p90_us", quantile_us(o, 0.9),
                        "p99_us", quantile_us(o, 0.99));
        if (json_object_set_new(all, obol_op_name((int)op), one) != 0) {
            json_decref(all);
            return NULL;
        }
    }
    return all;
}

/* What the driver says of itself and of its backend (a Redis INFO line,
 * an LMDB path), escaped: it is not the tool's text, and a path need not
 * be UTF-8, which JSON strings must. */
typedef struct described {
    char *driver;
    char *backend;
} described;

static int report_json(const obol_store_info *info, const described *d,
                       const latency *lat, const obol_scan_stats *stats,
                       const obol_key_census *census, const obol_stats *ops)
{
    char abi[32], capabilities[80];

    snprintf(abi, sizeof abi, "%u.%u", info->driver_abi_major,
             info->driver_abi_minor);
    describe_capabilities(info, capabilities, sizeof capabilities);
    return cli_print_json(json_pack(
        "{s:s, s:s, s:s, s:s, s:s, s:s, s:{s:f, s:f, s:f, s:i}, "
        "s:{s:I, s:I, s:I, s:I}, s:o*, s:o*}",
        "driver", d->driver, "driver_abi", abi, "capabilities",
        capabilities, "backend", d->backend, "library_version",
        obol_version(NULL, NULL, NULL), "tool_version", OBOL_VERSION_STRING,
        "latency_us", "min", rounded_us(lat->min_ms),
        "median", rounded_us(lat->median_ms), "max", rounded_us(lat->max_ms),
        "reads", LATENCY_READS,
        "sample", "records", (json_int_t)stats->records,
        "verified", (json_int_t)stats->live, "expired", (json_int_t)stats->expired,
        "rejected", (json_int_t)stats->rejected,
        "keys", census != NULL ? census_json(census) : NULL,
        "operations", op_latencies_json(ops)));
}

static void report_text(const obol_store_info *info, const described *d,
                        const latency *lat, const obol_scan_stats *stats,
                        const obol_key_census *census, const obol_stats *ops)
{
    char capabilities[80];

    describe_capabilities(info, capabilities, sizeof capabilities);
    printf("%-16s%s (ABI %u.%u; %s)\n", "driver", d->driver,
           info->driver_abi_major, info->driver_abi_minor, capabilities);
    printf("%-16s%s\n", "backend", d->backend[0] ? d->backend : "(no description)");
    printf("%-16s%s (tool built with %s)\n", "library",
           obol_version(NULL, NULL, NULL), OBOL_VERSION_STRING);
    printf("%-16smin %.1f us, median %.1f us, max %.1f us over %d reads of a "
           "missing session\n", "round trip", lat->min_ms * 1000,
           lat->median_ms * 1000, lat->max_ms * 1000, LATENCY_READS);
    printf("%-16s%" PRIu64 " records: %" PRIu64 " verified, %" PRIu64
           " expired, %" PRIu64 " rejected\n", "keys", stats->records, stats->live,
           stats->expired, stats->rejected);
    if (stats->rejected > 0)
        printf("%-16srecords that do not verify: wrong secret or key_id, "
               "unsigned records (allow_unsigned=1), or tampering\n", "");
    if (census != NULL)
        print_census(census);
    print_op_latencies(ops);
}

/* 0, or -1 when out of memory. */
static int print_report(const obol_store_info *info, const latency *lat,
                        const obol_scan_stats *stats,
                        const obol_key_census *census, const obol_stats *ops,
                        int json)
{
    described d = { cli_escaped(info->driver), cli_escaped(info->backend) };
    int status = -1;

    if (d.driver != NULL && d.backend != NULL) {
        status = 0;
        if (json)
            status = report_json(info, &d, lat, stats, census, ops);
        else
            report_text(info, &d, lat, stats, census, ops);
    }
    free(d.driver);
    free(d.backend);
    return status;
}

int cmd_check(const cli_options *o)
{
    obol_key_census census = { 0 };
    obol_scan_stats stats = { 0 };
    obol_stats ops;
    obol_store_info info;
    latency lat;
    obol_store *st;
    obol_error err;
    int status, code;

    code = cli_open_store(o->args[0], cli_secret_for(o, ""), "check", &st);
    if (code != EXIT_OK)
        return code;
    status = obol_store_describe(st, &info, &err);
    if (status == OBOL_OK)
        status = measure_latency(st, &lat, &err);
    if (status != OBOL_OK) {
        code = cli_fail_store("check", status, &err);
        goto done;
    }
    /* N records, not N live sessions: with a wrong secret none is live,
     * and the sample must not become a walk of the whole store. */
    status = obol_scan_sample(st, o->sample, take_session, NULL, &stats, &err);
    if (status == OBOL_OK)
        status = o->sample > 0 ? obol_count_keys(st, &census, &err) : OBOL_OK;
    if (status == OBOL_OK)
        status = obol_store_stats(st, &ops, sizeof ops, &err);
    if (status != OBOL_OK) {
        code = cli_fail_store("check", status, &err);
        goto done;
    }
    if (print_report(&info, &lat, &stats, o->sample > 0 ? &census : NULL,
                     &ops, o->json) != 0)
        code = cli_fail("check", OBOL_ERR_NOMEM, NULL);
    else if (stats.rejected > 0 || census_refused(&census) > 0)
        code = EXIT_REJECTED;
    if (o->sample > 0 && stats.records == 0)
        cli_note_empty_prefix(st, "check", 1);
done:
    obol_key_census_clear(&census);
    obol_store_close(st);
    return cli_finish_output("check", code);
}

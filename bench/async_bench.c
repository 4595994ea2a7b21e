/*
 * The non-blocking API against what it replaces, in one run:
 *
 *     bench/async_bench [-n OPS] [-r ROUNDS] [-d DEPTH] [-p]
 *
 * On one redis-server of its own (tests/redis_harness.h), each on one
 * connection and DEPTH (64) operations in flight where it pipelines:
 *   (a) raw hiredis: HGET of the record obol stores, pipelined
 *   (b) obol_get_async on a queue in OBOL_QUEUE_NATIVE mode (the driver's
 *       one connection of its I/O thread; the store's pool is 1)
 *   (c) obol_get, synchronous
 *   (d) raw hiredis: EVALSHA of the driver's upsert script with the
 *       arguments the driver sends (a record of obol's, the lock carried
 *       forward), pipelined
 *   (e) obol_upsert_async, native
 * and on LMDB (sync=off, so that the disk is not what is measured):
 * obol_get_async and obol_upsert_async on an OBOL_QUEUE_INLINE and an
 * OBOL_QUEUE_WORKERS queue, next to obol_get and obol_upsert.
 *
 * A queue is driven as a loop drives it: poll() on obol_queue_fd(), then
 * obol_queue_dispatch(); each callback submits the next operation, so
 * that DEPTH stay in flight. The rows compared run in alternating rounds;
 * a row is the median of its rounds, a ratio the median of the rounds'
 * ratios. It prints ops/s and the ratios b/a, b/c and e/d with their
 * targets (docs/BENCHMARKS.md). -p runs only (b) and (c), with the CPU
 * time of an operation (see profile_rounds()).
 */
#define _POSIX_C_SOURCE 200809L
#include "config.h"

#include <inttypes.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <hiredis.h>
#include <obol/obol.h>

#include "../drivers/redis/redis_lua.h"
#include "../tests/redis_harness.h"
#include "../tests/tmpdir.h"

#define USER "bench"
#define PREFIX "abench"
#define REC_KEY PREFIX ":{" USER ":full}:rec"
#define EXP_KEY PREFIX ":{" USER ":full}:exp"
#define LOCK_KEY PREFIX ":{" USER ":full}:lock"
#define MAX_DEPTH 1024
#define MAX_ROUNDS 64

static const uint8_t store_key[32] = {
    0x61, 0x73, 0x79, 0x6e, 0x63, 0x2d, 0x62, 0x65, 0x6e, 0x63, 0x68, 0x2d,
    0x6b, 0x65, 0x79, 0x2d, 0x30, 0x31, 0x32, 0x33, 0x34, 0x35, 0x36, 0x37,
    0x38, 0x39, 0x61, 0x62, 0x63, 0x64, 0x65, 0x66,
};

static long ops = 50000;
static int rounds = 5;
static int depth = 64;

static void die(const char *what, const char *why)
{
    fprintf(stderr, "async_bench: %s: %s\n", what, why);
    exit(1);
}

static double now_s(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* ------------------------------------------------------------ the store */

static obol_store *open_store(const char *url)
{
    obol_store *st;
    obol_error err = { 0 };

    if (obol_store_open(url, &st, &err) != OBOL_OK)
        die(url, err.message);
    if (obol_store_add_key(st, 1, store_key, 1, &err) != OBOL_OK)
        die("add_key", err.message);
    return st;
}

/* depth sessions of USER, stored. */
static obol_session **make_sessions(obol_store *st)
{
    obol_session **s = calloc((size_t)depth, sizeof *s);
    obol_error err = { 0 };

    if (s == NULL)
        die("sessions", "out of memory");
    for (int i = 0; i < depth; i++) {
        s[i] = obol_session_new(USER, NULL, (int64_t)time(NULL), 86400,
                                86400);
        if (s[i] == NULL || obol_upsert(st, s[i], &err) != OBOL_OK)
            die("upsert", err.message);
    }
    return s;
}

static obol_queue *open_queue(obol_store *st, int mode)
{
    obol_queue_options options = { .struct_size = sizeof options,
                                   .mode = mode, .timeout_ms = 10000 };
    obol_queue *q;
    obol_error err = { 0 };

    if (obol_queue_open(st, &options, &q, &err) != OBOL_OK)
        die("queue", err.message);
    return q;
}

/* ------------------------------------------------------- async, looped */

typedef struct async_run {
    obol_queue *q;
    obol_session **sessions;
    long submitted, completed;
    int upsert;
} async_run;

typedef struct slot {
    async_run *run;
    int index;
} slot;

static void submit(slot *sl);

static void on_done(void *arg, obol_result *result)
{
    slot *sl = arg;
    async_run *run = sl->run;

    if (result->status != OBOL_OK)
        die(run->upsert ? "obol_upsert_async" : "obol_get_async",
            result->error != NULL ? result->error->message : "failed");
    run->completed++;
    if (run->submitted < ops)
        submit(sl);
}

static void submit(slot *sl)
{
    async_run *run = sl->run;
    obol_session *s = run->sessions[sl->index];
    obol_error err = { 0 };
    int status;

    run->submitted++;
    if (run->upsert) {
        obol_session_refresh(s, (int64_t)time(NULL), 86400);
        status = obol_upsert_async(run->q, s, on_done, sl, &err);
    } else {
        status = obol_get_async(run->q, s->id, USER, NULL, on_done, sl, &err);
    }
    if (status != OBOL_OK)
        die("submit", err.message);
}

/* ops operations, depth in flight, as an event loop runs them. */
static double async_round(obol_queue *q, obol_session **sessions, int upsert)
{
    static slot slots[MAX_DEPTH];
    async_run run = { q, sessions, 0, 0, upsert };
    double started = now_s();

    for (int i = 0; i < depth; i++) {
        slots[i].run = &run;
        slots[i].index = i;
        submit(&slots[i]);
    }
    while (run.completed < ops) {
        struct pollfd pfd = { .fd = obol_queue_fd(q), .events = POLLIN };

        if (poll(&pfd, 1, 1000) < 0)
            die("poll", "failed");
        obol_queue_dispatch(q);
    }
    return (double)ops / (now_s() - started);
}

/* ------------------------------------------------------------------ sync */

static double sync_round(obol_store *st, obol_session **sessions, int upsert)
{
    long n = ops / 5 > 2000 ? ops / 5 : 2000;  /* one round trip each */
    double started = now_s();

    for (long i = 0; i < n; i++) {
        obol_session *s = sessions[i % depth];
        obol_error err = { 0 };
        int status;

        if (upsert) {
            obol_session_refresh(s, (int64_t)time(NULL), 86400);
            status = obol_upsert(st, s, &err);
        } else {
            obol_session *got = NULL;
            status = obol_get(st, s->id, USER, NULL, &got, &err);
            obol_session_free(got);
        }
        if (status != OBOL_OK)
            die(upsert ? "obol_upsert" : "obol_get", err.message);
    }
    return (double)n / (now_s() - started);
}

/* ------------------------------------------------------------ raw hiredis */

typedef struct raw_record {
    char id[64];
    redisReply *sealed;      /* obol's record bytes, as HGET gives them */
    uint64_t lock;           /* the raw copy's, carried forward */
} raw_record;

static char upsert_sha[41];

static void expect(redisReply *r, int type, const char *what)
{
    if (r == NULL || r->type != type)
        die(what, r != NULL && r->type == REDIS_REPLY_ERROR ? r->str
                                                            : "bad reply");
}

/* The raw upserts write copies of obol's records under ids of their own
 * ("raw<i>"), so that the locks of obol's sessions stay obol's. */
static raw_record *raw_records(redisContext *c, obol_session **sessions)
{
    raw_record *r = calloc((size_t)depth, sizeof *r);
    redisReply *reply = redisCommand(c, "SCRIPT LOAD %s",
                                     redis_lua_source(REDIS_SCRIPT_UPSERT));

    expect(reply, REDIS_REPLY_STRING, "SCRIPT LOAD");
    snprintf(upsert_sha, sizeof upsert_sha, "%s", reply->str);
    freeReplyObject(reply);
    for (int i = 0; i < depth; i++) {
        snprintf(r[i].id, sizeof r[i].id, "raw%d", i);
        r[i].sealed = redisCommand(c, "HGET %s %s", REC_KEY, sessions[i]->id);
        expect(r[i].sealed, REDIS_REPLY_STRING, "HGET");
    }
    return r;
}

static void raw_append_hget(redisContext *c, obol_session **sessions, long i)
{
    redisAppendCommand(c, "HGET %s %s", REC_KEY, sessions[i % depth]->id);
}

static void raw_append_upsert(redisContext *c, raw_record *r)
{
    char score[24], expected[24], new_lock[24], now[24];
    int64_t t = (int64_t)time(NULL);

    snprintf(score, sizeof score, "%" PRId64, t + 86400);
    snprintf(expected, sizeof expected, "%" PRIu64, r->lock);
    snprintf(new_lock, sizeof new_lock, "%" PRIu64, r->lock + 1);
    snprintf(now, sizeof now, "%" PRId64, t);
    redisAppendCommand(c, "EVALSHA %s 3 %s %s %s %s %b %s %s %s %s",
                       upsert_sha, REC_KEY, EXP_KEY, LOCK_KEY, r->id,
                       r->sealed->str, r->sealed->len, score, expected,
                       new_lock, now);
    r->lock++;
}

/* ops commands, depth in flight: one more is appended as each reply
 * comes (hiredis sends what is appended before it reads). */
static double raw_round(redisContext *c, obol_session **sessions,
                        raw_record *records, int upsert)
{
    long sent = 0, received = 0;
    double started = now_s();

    for (; sent < depth; sent++)
        if (upsert)
            raw_append_upsert(c, &records[sent % depth]);
        else
            raw_append_hget(c, sessions, sent);
    while (received < ops) {
        redisReply *reply = NULL;

        if (redisGetReply(c, (void **)&reply) != REDIS_OK)
            die("raw", c->errstr);
        expect(reply, upsert ? REDIS_REPLY_INTEGER : REDIS_REPLY_STRING,
               upsert ? "raw EVALSHA" : "raw HGET");
        if (upsert && reply->integer != 1)
            die("raw EVALSHA", "conflict");
        freeReplyObject(reply);
        received++;
        if (sent < ops) {
            if (upsert)
                raw_append_upsert(c, &records[sent % depth]);
            else
                raw_append_hget(c, sessions, sent);
            sent++;
        }
    }
    return (double)ops / (now_s() - started);
}

/* -------------------------------------------------------------- reporting */

static int compare_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static double median(const double *values, int n)
{
    double sorted[MAX_ROUNDS];

    memcpy(sorted, values, (size_t)n * sizeof *values);
    qsort(sorted, (size_t)n, sizeof *sorted, compare_double);
    return n % 2 ? sorted[n / 2] : (sorted[n / 2 - 1] + sorted[n / 2]) / 2;
}

static double median_ratio(const double *a, const double *b)
{
    double r[MAX_ROUNDS];

    for (int i = 0; i < rounds; i++)
        r[i] = a[i] / b[i];
    return median(r, rounds);
}

static void row(const char *what, const double *values)
{
    printf("  %-52s %10.0f ops/s\n", what, median(values, rounds));
}

static void ratio(const char *what, const double *a, const double *b,
                  double target)
{
    double r = median_ratio(a, b);

    if (target <= 0)
        printf("  %-52s %10.2f\n", what, r);
    else
        printf("  %-52s %10.2f   (target >= %.1f: %s)\n", what, r, target,
               r >= target ? "met" : "NOT met");
}

/* ------------------------------------------------------------- profiling */

static int profile;

static double cpu_us(clockid_t clock)
{
    struct timespec ts;

    clock_gettime(clock, &ts);
    return (double)ts.tv_sec * 1e6 + (double)ts.tv_nsec / 1e3;
}

/* -p: rounds of (b) and (c) alone, with the CPU time each operation
 * costs the process and, of that, the loop thread (the rest is the
 * driver's I/O thread): what to look at when tuning, since on a shared
 * machine the ops/s of a round move with the neighbours' load. */
static void profile_rounds(obol_store *st, obol_queue *q,
                           obol_session **sessions)
{
    for (int i = 0; i < rounds; i++) {
        double process = cpu_us(CLOCK_PROCESS_CPUTIME_ID);
        double loop = cpu_us(CLOCK_THREAD_CPUTIME_ID);
        double rate = async_round(q, sessions, 0);

        printf("(b) %8.0f ops/s  %.2f us of CPU an op, %.2f of it the "
               "loop's\n", rate,
               (cpu_us(CLOCK_PROCESS_CPUTIME_ID) - process) / (double)ops,
               (cpu_us(CLOCK_THREAD_CPUTIME_ID) - loop) / (double)ops);
        process = cpu_us(CLOCK_PROCESS_CPUTIME_ID);
        rate = sync_round(st, sessions, 0);
        printf("(c) %8.0f ops/s  %.2f us of CPU an op\n", rate,
               (cpu_us(CLOCK_PROCESS_CPUTIME_ID) - process) /
                   (double)(ops / 5 > 2000 ? ops / 5 : 2000));
    }
}

/* ----------------------------------------------------------------- redis */

static void bench_redis(void)
{
    redis_harness *redis = redis_harness_start(NULL);
    char url[512];
    obol_store *st;
    obol_queue *q;
    obol_session **sessions, **upserted;
    raw_record *records;
    redisContext *c;
    double a[MAX_ROUNDS], b[MAX_ROUNDS], cc[MAX_ROUNDS], d[MAX_ROUNDS],
        e[MAX_ROUNDS];

    if (redis == NULL)
        die("redis-server", "did not start");
    snprintf(url, sizeof url, "%s?prefix=" PREFIX "&pool=1",
             redis_harness_url(redis));
    st = open_store(url);
    q = open_queue(st, OBOL_QUEUE_NATIVE);
    sessions = make_sessions(st);
    upserted = make_sessions(st);
    c = redis_harness_client(redis);
    if (c == NULL)
        die("hiredis", "no connection");
    records = raw_records(c, sessions);
    if (profile) {
        profile_rounds(st, q, sessions);
        rounds = 0;
    }
    for (int i = 0; i < rounds; i++) {
        a[i] = raw_round(c, sessions, records, 0);
        b[i] = async_round(q, sessions, 0);
        cc[i] = sync_round(st, sessions, 0);
        d[i] = raw_round(c, sessions, records, 1);
        e[i] = async_round(q, upserted, 1);
    }
    if (rounds == 0)
        goto done;
    printf("redis %s, one connection each, depth %d, %ld ops a round, "
           "%d rounds\n", redis_harness_url(redis), depth, ops, rounds);
    row("(a) raw hiredis HGET, pipelined", a);
    row("(b) obol_get_async (native)", b);
    row("(c) obol_get (synchronous)", cc);
    row("(d) raw hiredis EVALSHA upsert, pipelined", d);
    row("(e) obol_upsert_async (native)", e);
    ratio("b/a  async get / raw pipelined HGET", b, a, 0.5);
    ratio("b/c  async get / synchronous get", b, cc, 5.0);
    ratio("e/d  async upsert / raw pipelined EVALSHA", e, d, 0.5);
done:
    for (int i = 0; i < depth; i++) {
        freeReplyObject(records[i].sealed);
        obol_session_free(sessions[i]);
        obol_session_free(upserted[i]);
    }
    free(records);
    free(sessions);
    free(upserted);
    redisFree(c);
    obol_queue_close(q);
    obol_store_close(st);
    redis_harness_stop(redis);
}

/* ------------------------------------------------------------------ LMDB */

static void bench_lmdb(void)
{
    char *dir = tmpdir_make("async-bench");
    char url[4096];
    obol_store *st;
    obol_queue *inline_q, *workers_q;
    obol_session **sessions;
    double gi[MAX_ROUNDS], gw[MAX_ROUNDS], gs[MAX_ROUNDS], ui[MAX_ROUNDS],
        uw[MAX_ROUNDS], us[MAX_ROUNDS];

    if (dir == NULL)
        die("tmpdir", "cannot make one");
    snprintf(url, sizeof url, "lmdb://%s/obol?sync=off", dir);
    st = open_store(url);
    inline_q = open_queue(st, OBOL_QUEUE_INLINE);
    workers_q = open_queue(st, OBOL_QUEUE_WORKERS);
    sessions = make_sessions(st);
    for (int i = 0; i < rounds; i++) {
        gi[i] = async_round(inline_q, sessions, 0);
        gw[i] = async_round(workers_q, sessions, 0);
        gs[i] = sync_round(st, sessions, 0);
        ui[i] = async_round(inline_q, sessions, 1);
        uw[i] = async_round(workers_q, sessions, 1);
        us[i] = sync_round(st, sessions, 1);
    }
    printf("lmdb (sync=off), depth %d\n", depth);
    row("obol_get_async, OBOL_QUEUE_INLINE", gi);
    row("obol_get_async, OBOL_QUEUE_WORKERS", gw);
    row("obol_get (synchronous)", gs);
    row("obol_upsert_async, OBOL_QUEUE_INLINE", ui);
    row("obol_upsert_async, OBOL_QUEUE_WORKERS", uw);
    row("obol_upsert (synchronous)", us);
    ratio("inline get / synchronous get", gi, gs, 0);
    ratio("workers get / synchronous get", gw, gs, 0);
    ratio("inline upsert / synchronous upsert", ui, us, 0);
    ratio("workers upsert / synchronous upsert", uw, us, 0);
    for (int i = 0; i < depth; i++)
        obol_session_free(sessions[i]);
    free(sessions);
    obol_queue_close(inline_q);
    obol_queue_close(workers_q);
    obol_store_close(st);
    tmpdir_remove(dir);
}

/* A whole decimal number in [1, max], else the usage. */
static long number(const char *text, long max);

static void usage(void)
{
    fprintf(stderr,
            "usage: async_bench [-n OPS] [-r ROUNDS] [-d DEPTH] [-p]\n");
    exit(2);
}

static long number(const char *text, long max)
{
    char *end;
    long value = strtol(text, &end, 10);

    if (*text == '\0' || *end != '\0' || value < 1 || value > max)
        usage();
    return value;
}

int main(int argc, char **argv)
{
    for (int i = 1; i < argc; i++) {
        const char *value = i + 1 < argc ? argv[i + 1] : "";

        if (strcmp(argv[i], "-p") == 0) {
            profile = 1;
            continue;
        }
        if (strcmp(argv[i], "-n") == 0)
            ops = number(value, 100000000);
        else if (strcmp(argv[i], "-r") == 0)
            rounds = (int)number(value, MAX_ROUNDS);
        else if (strcmp(argv[i], "-d") == 0)
            depth = (int)number(value, MAX_DEPTH);
        else
            usage();
        i++;
    }
    redis_harness_require();
    bench_redis();
    if (!profile)
        bench_lmdb();
    return 0;
}

/*
 * Redis benchmark: what the driver and the store cost over raw hiredis.
 *
 *     bench/redis_bench [-n OPS] [-r ROUNDS] [redis://HOST:PORT]
 *
 * Without a URL it starts a private redis-server (tests/redis_harness.h).
 * It measures ops/s and p50/p99 latency of
 *   - raw hiredis: HGET, and EVALSHA of the driver's own scripts (upsert as
 *     an insert and as an update under the lock, list, delete),
 *   - the driver's get() and put() called through its ABI table,
 *   - the store's public API: obol_get, obol_upsert (a refresh of one
 *     session, its lock version carried forward), obol_get_all of a user
 *     with 10 sessions, obol_delete (of sessions created beforehand),
 * on one connection (one thread), and on 8 connections with 8 threads (8
 * raw connections, or a pool of 8), against the same server in the same
 * run. The paths compared with each other run in alternating rounds; a
 * row's ops/s is the median over the rounds and a ratio the median of the
 * ratios of each round, so that a noisy neighbour slows both sides alike.
 * Only the operations are timed: connecting, and creating the sessions a
 * delete removes, happen before a round's clock starts. The keys written
 * are under the prefix "obol-bench" and removed at the end.
 */
#define _POSIX_C_SOURCE 200809L
#include "config.h"

#include <inttypes.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <hiredis.h>
#include <obol/driver.h>
#include <obol/obol.h>

#include "../drivers/redis/redis_lua.h"
#include "../tests/redis_harness.h"
#include "config_internal.h"
#include "loader_internal.h"

#define BENCH_PREFIX "obol-bench"
#define BENCH_THREADS 8
#define RECORD_SIZE 200     /* about a sealed session with a small payload */
#define LIST_SESSIONS 10    /* sessions of the user get_all reads */
#define MAX_ROUNDS 64
#define SESSION_TTL 86400   /* long enough for any run */

static const uint8_t store_key[32] = {
    0x62, 0x65, 0x6e, 0x63, 0x68, 0x2d, 0x6b, 0x65, 0x79, 0x2d, 0x6e, 0x6f,
    0x74, 0x2d, 0x61, 0x2d, 0x73, 0x65, 0x63, 0x72, 0x65, 0x74, 0x2d, 0x30,
    0x31, 0x32, 0x33, 0x34, 0x35, 0x36, 0x37, 0x38,
};

static const obol_driver *driver;
static char server_host[256] = "127.0.0.1";
static int server_port;
static char server_url[512];
static char script_sha[REDIS_SCRIPT_COUNT][41];
static uint8_t record_bytes[RECORD_SIZE];
static long id_base;  /* moved on every round, so that each insert is new */
static char get_ids[BENCH_THREADS][64];  /* the session each thread gets */

static double now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e9 + (double)ts.tv_nsec;
}

static void die(const char *what, const char *why)
{
    fprintf(stderr, "redis_bench: %s: %s\n", what, why);
    exit(1);
}

/* ------------------------------------------------------------ the paths */

/* What one thread holds while it runs a path; each path uses its part. */
typedef struct bench_state {
    int thread;
    redisContext *redis;      /* raw paths: a connection of their own */
    void *handle;             /* driver paths: the shared driver handle */
    obol_store *store;        /* store paths: the shared store */
    obol_session *session;    /* obol upsert: the session it refreshes */
    obol_session **doomed;    /* obol delete: the sessions it removes */
    long doomed_count;
    uint64_t lock_version;    /* raw update: the record's current lock */
    char id[32];              /* raw update: its id */
} bench_state;

/* One benchmarked operation: setup (not timed) prepares ops iterations,
 * run does iteration i. */
typedef struct path {
    const char *name;
    int (*setup)(struct path *p, bench_state *state, long ops);
    int (*run)(bench_state *state, long i);
    void *shared;             /* the driver handle or the store */
} path;

static redisContext *raw_connect(void)
{
    redisContext *c = redisConnect(server_host, server_port);
    if (c == NULL || c->err != 0)
        die("connect", c != NULL ? c->errstr : "out of memory");
    return c;
}

static void state_clear(bench_state *state)
{
    if (state->redis != NULL)
        redisFree(state->redis);
    obol_session_free(state->session);
    obol_sessions_free(state->doomed, (size_t)state->doomed_count);
    memset(state, 0, sizeof *state);
}

/* The key of user "<user>-T", type "full", as docs/REDIS.md lays it out
 * (these names need no escaping). */
static void user_key(const char *user, int thread, const char *suffix,
                     char *out, size_t size)
{
    snprintf(out, size, BENCH_PREFIX ":{%s-%d:full}:%s", user, thread,
             suffix);
}

static int raw_setup(path *p, bench_state *state, long ops)
{
    (void)p;
    (void)ops;
    state->redis = raw_connect();
    return 0;
}

static int raw_hget(bench_state *state, long i)
{
    char key[128];
    redisReply *r;
    (void)i;

    user_key("bench", state->thread, "rec", key, sizeof key);
    r = redisCommand(state->redis, "HGET %s s", key);
    if (r == NULL || r->type != REDIS_REPLY_STRING)
        return -1;
    freeReplyObject(r);
    return 0;
}

/* EVALSHA of a script on the three keys of (user, thread), with argc
 * arguments; the reply, or NULL on an I/O error. */
static redisReply *raw_script(bench_state *state, redis_script_id script,
                              const char *user, int argc,
                              const char *const *args, const size_t *lens)
{
    static const char *const suffix[3] = { "rec", "exp", "lock" };
    char keys[3][128];
    const char *argv[16];
    size_t argv_len[16];

    argv[0] = "EVALSHA";
    argv[1] = script_sha[script];
    argv[2] = "3";
    for (int k = 0; k < 3; k++) {
        user_key(user, state->thread, suffix[k], keys[k], sizeof keys[k]);
        argv[3 + k] = keys[k];
    }
    for (int k = 0; k < 6; k++)
        argv_len[k] = strlen(argv[k]);
    for (int k = 0; k < argc; k++) {
        argv[6 + k] = args[k];
        argv_len[6 + k] = lens != NULL && lens[k] != 0 ? lens[k]
                                                       : strlen(args[k]);
    }
    return redisCommandArgv(state->redis, 6 + argc, argv, argv_len);
}

/* The upsert script with exactly the arguments the driver sends. */
static int raw_upsert(bench_state *state, const char *user, const char *id,
                      uint64_t expected)
{
    char score[24], now[24], expected_text[24], new_text[24];
    int64_t t = (int64_t)time(NULL);
    const char *args[6] = { id, (const char *)record_bytes, score,
                            expected_text, new_text, now };
    size_t lens[6] = { 0, RECORD_SIZE, 0, 0, 0, 0 };
    redisReply *r;
    int ok;

    snprintf(score, sizeof score, "%" PRId64, t + 3600);
    snprintf(now, sizeof now, "%" PRId64, t);
    snprintf(expected_text, sizeof expected_text, "%" PRIu64, expected);
    snprintf(new_text, sizeof new_text, "%" PRIu64, expected + 1);
    r = raw_script(state, REDIS_SCRIPT_UPSERT, user, 6, args, lens);
    ok = r != NULL && r->type == REDIS_REPLY_INTEGER && r->integer == 1;
    freeReplyObject(r);
    return ok ? 0 : -1;
}

/* An insert: the session id "raw<i>" is new each time, as a login is. */
static int raw_insert(bench_state *state, long i)
{
    char id[32];

    snprintf(id, sizeof id, "raw%ld", id_base + i);
    return raw_upsert(state, "bench", id, 0);
}

static int raw_update_setup(path *p, bench_state *state, long ops)
{
    raw_setup(p, state, ops);
    snprintf(state->id, sizeof state->id, "upd%ld", id_base);
    state->lock_version = 1;
    return raw_upsert(state, "bench", state->id, 0);
}

/* An update of one record, its lock version carried forward: what the
 * store's upsert of a refreshed session sends. */
static int raw_update(bench_state *state, long i)
{
    (void)i;
    if (raw_upsert(state, "bench", state->id, state->lock_version) != 0)
        return -1;
    state->lock_version++;
    return 0;
}

/* The list script on the keys obol get_all reads. */
static int raw_list(bench_state *state, long i)
{
    redisReply *r = raw_script(state, REDIS_SCRIPT_LIST, "list", 0, NULL,
                               NULL);
    int ok = r != NULL && r->type == REDIS_REPLY_ARRAY &&
             r->elements == 4 * LIST_SESSIONS;
    (void)i;

    freeReplyObject(r);
    return ok ? 0 : -1;
}

static int raw_delete_setup(path *p, bench_state *state, long ops)
{
    raw_setup(p, state, ops);
    for (long i = 0; i < ops; i++) {
        char id[32];
        snprintf(id, sizeof id, "del%ld", id_base + i);
        if (raw_upsert(state, "rawdel", id, 0) != 0)
            return -1;
    }
    return 0;
}

static int raw_delete(bench_state *state, long i)
{
    char id[32];
    const char *args[1] = { id };
    redisReply *r;
    int ok;

    snprintf(id, sizeof id, "del%ld", id_base + i);
    r = raw_script(state, REDIS_SCRIPT_DELETE, "rawdel", 1, args, NULL);
    ok = r != NULL && r->type == REDIS_REPLY_INTEGER;
    freeReplyObject(r);
    return ok ? 0 : -1;
}

static int shared_setup(path *p, bench_state *state, long ops)
{
    (void)ops;
    state->handle = p->shared;
    state->store = p->shared;
    return 0;
}

static obol_driver_key bench_key(int thread, const char *id, char *user,
                                 size_t size)
{
    obol_driver_key key;

    snprintf(user, size, "bench-%d", thread);
    key.user_id = (obol_bytes){ (const uint8_t *)user, strlen(user) };
    key.type = (obol_bytes){ (const uint8_t *)"full", 4 };
    key.id = (obol_bytes){ (const uint8_t *)id, strlen(id) };
    return key;
}

static int driver_get(bench_state *state, long i)
{
    char user[32];
    obol_driver_key key = bench_key(state->thread, "s", user, sizeof user);
    obol_error err;
    uint8_t *sealed;
    size_t len;
    (void)i;

    if (driver->get(state->handle, &key, &sealed, &len, &err) != OBOL_OK)
        return -1;
    free(sealed);
    return 0;
}

static int driver_put(bench_state *state, long i)
{
    char user[32], id[32];
    obol_driver_key key;
    obol_driver_record record;
    int64_t t = (int64_t)time(NULL);
    obol_error err;

    snprintf(id, sizeof id, "drv%ld", id_base + i);
    key = bench_key(state->thread, id, user, sizeof user);
    record = (obol_driver_record){ key, { record_bytes, RECORD_SIZE },
                                   t + 3600, 1 };
    return driver->put(state->handle, &record, 0, t, &err) == OBOL_OK ? 0
                                                                     : -1;
}

/* The store's users are "<what>-T", like the raw paths' keys. */
static void store_user(const char *what, int thread, char *out, size_t size)
{
    snprintf(out, size, "%s-%d", what, thread);
}

/* A new stored session of user, or NULL. */
static obol_session *store_insert(obol_store *st, const char *user)
{
    obol_session *s = obol_session_new(user, NULL, (int64_t)time(NULL),
                                       SESSION_TTL, SESSION_TTL);
    obol_error err;

    if (s != NULL && obol_upsert(st, s, &err) != OBOL_OK) {
        fprintf(stderr, "redis_bench: upsert: %s\n", err.message);
        obol_session_free(s);
        return NULL;
    }
    return s;
}

static int store_get(bench_state *state, long i)
{
    char user[32];
    obol_session *s;
    obol_error err;
    (void)i;

    store_user("store", state->thread, user, sizeof user);
    if (obol_get(state->store, get_ids[state->thread], user, NULL, &s,
                 &err) != OBOL_OK)
        return -1;
    obol_session_free(s);
    return 0;
}

static int store_upsert_setup(path *p, bench_state *state, long ops)
{
    char user[32];

    shared_setup(p, state, ops);
    store_user("store", state->thread, user, sizeof user);
    state->session = store_insert(state->store, user);
    return state->session != NULL ? 0 : -1;
}

/* A refresh as an application does it: new refresh token, then the write
 * under the lock; the session's lock version moves on with each. */
static int store_upsert(bench_state *state, long i)
{
    obol_error err;
    (void)i;

    if (obol_session_refresh(state->session, (int64_t)time(NULL),
                             SESSION_TTL) != OBOL_OK)
        return -1;
    return obol_upsert(state->store, state->session, &err) == OBOL_OK ? 0
                                                                      : -1;
}

static int store_get_all(bench_state *state, long i)
{
    char user[32];
    obol_session **all;
    size_t count;
    obol_error err;
    (void)i;

    store_user("list", state->thread, user, sizeof user);
    if (obol_get_all(state->store, user, NULL, &all, &count, &err) != OBOL_OK)
        return -1;
    obol_sessions_free(all, count);
    return count == LIST_SESSIONS ? 0 : -1;
}

static int store_delete_setup(path *p, bench_state *state, long ops)
{
    char user[32];

    shared_setup(p, state, ops);
    store_user("del", state->thread, user, sizeof user);
    state->doomed = calloc((size_t)ops, sizeof *state->doomed);
    if (state->doomed == NULL)
        return -1;
    for (; state->doomed_count < ops; state->doomed_count++) {
        obol_session *s = store_insert(state->store, user);
        if (s == NULL)
            return -1;
        state->doomed[state->doomed_count] = s;
    }
    return 0;
}

static int store_delete(bench_state *state, long i)
{
    obol_session *s = state->doomed[i];
    obol_error err;

    return obol_delete(state->store, s->id, s->user_id, NULL, &err) == OBOL_OK
               ? 0
               : -1;
}

/* ---------------------------------------------------------- measurement */

typedef struct worker {
    path *p;
    int thread;
    long ops;
    double *latency_ns;
    pthread_barrier_t *start_line;
    double started_ns, finished_ns;
    int failed;
} worker;

/* Sets up, waits for the other threads, then runs the timed loop. */
static void *work(void *arg)
{
    worker *w = arg;
    bench_state state = { .thread = w->thread };

    w->failed = w->p->setup(w->p, &state, w->ops) != 0;
    pthread_barrier_wait(w->start_line);
    w->started_ns = now_ns();
    for (long i = 0; i < w->ops && !w->failed; i++) {
        double started = now_ns();
        if (w->p->run(&state, i) != 0) {
            w->failed = 1;
            break;
        }
        w->latency_ns[i] = now_ns() - started;
    }
    w->finished_ns = now_ns();
    state_clear(&state);
    return NULL;
}

/* One path measured over several rounds. */
typedef struct series {
    path *p;
    double *latency_ns;       /* every operation of every round */
    long count;
    double round_ops[MAX_ROUNDS];
} series;

static void measure_round(series *s, int threads, long per_thread,
                          int round)
{
    pthread_t ids[BENCH_THREADS];
    worker workers[BENCH_THREADS];
    pthread_barrier_t start_line;
    double first = 0, last = 0;

    pthread_barrier_init(&start_line, NULL, (unsigned)threads);
    for (int t = 0; t < threads; t++) {
        workers[t] = (worker){ .p = s->p, .thread = t, .ops = per_thread,
                               .latency_ns = s->latency_ns + s->count +
                                             t * per_thread,
                               .start_line = &start_line };
        if (pthread_create(&ids[t], NULL, work, &workers[t]) != 0)
            die(s->p->name, "pthread_create failed");
    }
    for (int t = 0; t < threads; t++) {
        pthread_join(ids[t], NULL);
        if (workers[t].failed)
            die(s->p->name, "an operation failed");
        if (t == 0 || workers[t].started_ns < first)
            first = workers[t].started_ns;
        if (t == 0 || workers[t].finished_ns > last)
            last = workers[t].finished_ns;
    }
    pthread_barrier_destroy(&start_line);
    s->count += per_thread * threads;
    s->round_ops[round] = (double)(per_thread * threads) / ((last - first) / 1e9);
}

static int compare_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static double median(const double *values, int n)
{
    double sorted[MAX_ROUNDS];

    memcpy(sorted, values, (size_t)n * sizeof *sorted);
    qsort(sorted, (size_t)n, sizeof *sorted, compare_double);
    return n % 2 ? sorted[n / 2] : (sorted[n / 2 - 1] + sorted[n / 2]) / 2;
}

static int rounds = 10;

/*
 * Measures the paths of one group in alternating rounds: each round runs
 * every path once, forwards on even rounds and backwards on odd ones, so
 * that neither a noisy neighbour nor the order favours one of them.
 */
static void measure_group(series *group, int n, int threads, long ops)
{
    long per_thread = ops / threads / rounds;

    if (per_thread < 1)
        die("measure", "too few operations for the rounds");
    for (int k = 0; k < n; k++) {
        group[k].count = 0;
        group[k].latency_ns = calloc((size_t)(per_thread * threads * rounds),
                                     sizeof(double));
        if (group[k].latency_ns == NULL)
            die("measure", "out of memory");
    }
    for (int round = 0; round < rounds; round++) {
        for (int j = 0; j < n; j++) {
            int k = round % 2 == 0 ? j : n - 1 - j;
            measure_round(&group[k], threads, per_thread, round);
        }
        id_base += per_thread;
    }
}

static double ops_per_s(const series *s)
{
    return median(s->round_ops, rounds);
}

/* The median over rounds of a's ops/s over b's in the same round. */
static double ratio(const series *a, const series *b)
{
    double r[MAX_ROUNDS];

    for (int round = 0; round < rounds; round++)
        r[round] = a->round_ops[round] / b->round_ops[round];
    return median(r, rounds);
}

/* Sorts the latencies, then prints the row. */
static void print_row(series *s, int threads)
{
    double p50, p99;

    qsort(s->latency_ns, (size_t)s->count, sizeof *s->latency_ns,
          compare_double);
    p50 = s->latency_ns[s->count / 2] / 1e3;
    p99 = s->latency_ns[s->count * 99 / 100] / 1e3;
    printf("%-26s %5d %7d %11.0f %9.1f %9.1f\n", s->p->name, threads,
           threads, ops_per_s(s), p50, p99);
}

static void print_ratio(const char *what, const series *a, const series *b,
                        double target)
{
    double r = ratio(a, b);

    if (target > 0)
        printf("  %-34s %5.2f  (target >= %.2f: %s)\n", what, r, target,
               r >= target ? "met" : "MISSED");
    else
        printf("  %-34s %5.2f\n", what, r);
}

/* ---------------------------------------------------------------- setup */

static const char *driver_dir(void)
{
    const char *dir = getenv("OBOL_DRIVER_PATH");

    return dir != NULL && dir[0] != '\0' ? dir : OBOL_BUILD_DRIVER_PATH;
}

/* Through the core's own loader, from where the stores find it too. */
static void load_driver(void)
{
    obol_error err = { 0 };

    if (obol_loader_load("redis", "redis", driver_dir(), &driver, &err) !=
        OBOL_OK)
        die("load", err.message);
}

static void *open_driver(int pool)
{
    char url[700];
    obol_config config;
    obol_driver_config driver_config;
    obol_error err;
    void *handle = NULL;

    snprintf(url, sizeof url, "%s?prefix=" BENCH_PREFIX "&pool=%d",
             server_url, pool);
    if (obol_config_parse(url, &config, &err) != OBOL_OK)
        die(url, err.message);
    obol_config_for_driver(&config, &driver_config);
    if (driver->open(&driver_config, &handle, &err) != OBOL_OK)
        die(url, err.message);
    obol_config_clear(&config);
    return handle;
}

/* The store on the same server, with the driver the bench loaded. */
static obol_store *open_store(int pool)
{
    char config[PATH_MAX + 700];
    obol_store *st;
    obol_error err;

    snprintf(config, sizeof config,
             "%s?prefix=" BENCH_PREFIX "&pool=%d&driver_path=%s", server_url,
             pool, driver_dir());
    if (obol_store_open(config, &st, &err) != OBOL_OK)
        die(config, err.message);
    if (obol_store_add_key(st, 1, store_key, 1, &err) != OBOL_OK)
        die("add_key", err.message);
    return st;
}

/* The record each raw and driver get reads, the scripts' SHAs, and through
 * the store the session each store get reads and the sessions of the user
 * each get_all lists. */
static void prepare_server(obol_store *st)
{
    redisContext *c = raw_connect();
    redisReply *r;

    for (int k = 0; k < REDIS_SCRIPT_COUNT; k++) {
        r = redisCommand(c, "SCRIPT LOAD %s",
                         redis_lua_source((redis_script_id)k));
        if (r == NULL || r->type != REDIS_REPLY_STRING || r->len != 40)
            die("SCRIPT LOAD", r != NULL && r->str ? r->str : c->errstr);
        memcpy(script_sha[k], r->str, 41);
        freeReplyObject(r);
    }
    for (int t = 0; t < BENCH_THREADS; t++) {
        char key[128], user[32];
        obol_session *s;

        user_key("bench", t, "rec", key, sizeof key);
        r = redisCommand(c, "HSET %s s %b", key, record_bytes,
                         (size_t)RECORD_SIZE);
        if (r == NULL)
            die("HSET", c->errstr);
        freeReplyObject(r);

        store_user("store", t, user, sizeof user);
        s = store_insert(st, user);
        if (s == NULL)
            die("prepare", "could not store a session");
        snprintf(get_ids[t], sizeof get_ids[t], "%s", s->id);
        obol_session_free(s);
        store_user("list", t, user, sizeof user);
        for (int k = 0; k < LIST_SESSIONS; k++) {
            s = store_insert(st, user);
            if (s == NULL)
                die("prepare", "could not store a session");
            obol_session_free(s);
        }
    }
    redisFree(c);
}

/* Deletes every key of the bench's prefix. */
static void clean_server(void)
{
    redisContext *c = raw_connect();
    char cursor[32] = "0";

    do {
        redisReply *r = redisCommand(c, "SCAN %s MATCH " BENCH_PREFIX
                                        ":* COUNT 1000", cursor);
        if (r == NULL || r->type != REDIS_REPLY_ARRAY || r->elements != 2)
            die("SCAN", c->errstr);
        snprintf(cursor, sizeof cursor, "%s", r->element[0]->str);
        for (size_t k = 0; k < r->element[1]->elements; k++)
            freeReplyObject(redisCommand(c, "DEL %b",
                                         r->element[1]->element[k]->str,
                                         r->element[1]->element[k]->len));
        freeReplyObject(r);
    } while (strcmp(cursor, "0") != 0);
    redisFree(c);
}

static int parse_url(const char *url)
{
    char rest[256];
    int port = 6379;

    if (sscanf(url, "redis://%255[^:/]:%d", rest, &port) < 1)
        return -1;
    snprintf(server_host, sizeof server_host, "%s", rest);
    server_port = port;
    snprintf(server_url, sizeof server_url, "redis://%s:%d", server_host,
             server_port);
    return 0;
}

/* ------------------------------------------------------------------ run */

enum {
    RAW_HGET, DRIVER_GET, OBOL_GET,
    RAW_INSERT, DRIVER_PUT, RAW_UPDATE, OBOL_UPSERT,
    RAW_LIST, OBOL_GET_ALL,
    RAW_DELETE, OBOL_DELETE,
    PATH_COUNT
};

/* Every path on one connection (threads 1) or on 8 with 8 threads; the
 * figures are printed when print is set. */
static void run_all(int threads, void *handle, obol_store *st, long ops,
                    int print)
{
    path paths[PATH_COUNT] = {
        [RAW_HGET] = { "raw HGET", raw_setup, raw_hget, NULL },
        [DRIVER_GET] = { "driver get", shared_setup, driver_get, handle },
        [OBOL_GET] = { "obol_get", shared_setup, store_get, st },
        [RAW_INSERT] = { "raw EVALSHA upsert (new)", raw_setup, raw_insert,
                         NULL },
        [DRIVER_PUT] = { "driver put (new)", shared_setup, driver_put,
                         handle },
        [RAW_UPDATE] = { "raw EVALSHA upsert (lock)", raw_update_setup,
                         raw_update, NULL },
        [OBOL_UPSERT] = { "obol_upsert (refresh)", store_upsert_setup,
                          store_upsert, st },
        [RAW_LIST] = { "raw EVALSHA list (10)", raw_setup, raw_list, NULL },
        [OBOL_GET_ALL] = { "obol_get_all (10)", shared_setup, store_get_all,
                           st },
        [RAW_DELETE] = { "raw EVALSHA delete", raw_delete_setup, raw_delete,
                         NULL },
        [OBOL_DELETE] = { "obol_delete", store_delete_setup, store_delete,
                          st },
    };
    series s[PATH_COUNT];

    for (int k = 0; k < PATH_COUNT; k++)
        s[k] = (series){ .p = &paths[k] };
    measure_group(&s[RAW_HGET], 3, threads, ops);
    measure_group(&s[RAW_INSERT], 4, threads, ops);
    measure_group(&s[RAW_LIST], 2, threads, ops);
    measure_group(&s[RAW_DELETE], 2, threads, ops);
    for (int k = 0; k < PATH_COUNT; k++) {
        if (print)
            print_row(&s[k], threads);
        free(s[k].latency_ns);
    }
    if (!print)
        return;
    printf("ratios, %d connection%s (median of %d rounds):\n", threads,
           threads > 1 ? "s" : "", rounds);
    print_ratio("driver get / raw HGET", &s[DRIVER_GET], &s[RAW_HGET], 0);
    print_ratio("obol_get / raw HGET", &s[OBOL_GET], &s[RAW_HGET],
                threads == 1 ? 0.9 : 0);
    print_ratio("driver put / raw EVALSHA (new)", &s[DRIVER_PUT],
                &s[RAW_INSERT], 0);
    print_ratio("obol_upsert / raw EVALSHA (lock)", &s[OBOL_UPSERT],
                &s[RAW_UPDATE], 0.8);
    print_ratio("obol_upsert / raw EVALSHA (new)", &s[OBOL_UPSERT],
                &s[RAW_INSERT], 0);
    print_ratio("obol_get_all / raw EVALSHA list", &s[OBOL_GET_ALL],
                &s[RAW_LIST], 0);
    print_ratio("obol_delete / raw EVALSHA delete", &s[OBOL_DELETE],
                &s[RAW_DELETE], 0);
}

int main(int argc, char **argv)
{
    long ops = 20000;
    redis_harness *redis = NULL;
    const char *url = NULL;
    void *pooled_1, *pooled_8;
    obol_store *store_1, *store_8;

    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "-n") == 0 && i + 1 < argc)
            ops = strtol(argv[++i], NULL, 10);
        else if (strcmp(argv[i], "-r") == 0 && i + 1 < argc)
            rounds = (int)strtol(argv[++i], NULL, 10);
        else
            url = argv[i];
    }
    if (rounds < 1 || rounds > MAX_ROUNDS)
        die("-r", "rounds must be 1 to 64");
    if (ops < 100)
        ops = 100;
    /* As servers do: a dead peer then fails a write() with EPIPE instead of
     * killing the process. Raw hiredis needs it; the driver then skips its
     * own SIGPIPE guard (docs/REDIS.md), so both paths run alike. Run with
     * OBOL_BENCH_SIGPIPE=default to measure the guard's cost. */
    if (getenv("OBOL_BENCH_SIGPIPE") == NULL ||
        strcmp(getenv("OBOL_BENCH_SIGPIPE"), "default") != 0)
        signal(SIGPIPE, SIG_IGN);
    for (int i = 0; i < RECORD_SIZE; i++)
        record_bytes[i] = (uint8_t)(i * 7 + 1);

    if (url != NULL) {
        if (parse_url(url) != 0)
            die(url, "expected redis://HOST[:PORT]");
    } else {
        redis = redis_harness_start(NULL);
        if (redis == NULL)
            die("redis-server", "could not start one (set REDIS_SERVER)");
        snprintf(server_url, sizeof server_url, "%s",
                 redis_harness_url(redis));
        server_port = redis_harness_port(redis);
    }

    load_driver();
    pooled_1 = open_driver(1);
    pooled_8 = open_driver(BENCH_THREADS);
    store_1 = open_store(1);
    store_8 = open_store(BENCH_THREADS);
    prepare_server(store_1);

    printf("server %s, %ld ops per row in %d rounds\n", server_url, ops,
           rounds);
    printf("%-26s %5s %7s %11s %9s %9s\n", "path", "conns", "threads",
           "ops/s", "p50 us", "p99 us");
    /* A short run first warms the server, the connections and the caches;
     * its figures are not printed. */
    {
        int saved = rounds;
        rounds = 2;
        run_all(1, pooled_1, store_1, ops / 10 > 100 ? ops / 10 : 100, 0);
        rounds = saved;
    }
    run_all(1, pooled_1, store_1, ops, 1);
    run_all(BENCH_THREADS, pooled_8, store_8, ops, 1);

    clean_server();
    obol_store_close(store_1);
    obol_store_close(store_8);
    driver->close(pooled_1);
    driver->close(pooled_8);
    redis_harness_stop(redis);
    return 0;
}

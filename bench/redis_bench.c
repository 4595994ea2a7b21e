/*
 * Redis benchmark: what the driver and the store cost over raw hiredis.
 *
 *     bench/redis_bench [-n OPS] [-r ROUNDS] [-m SESSIONS] [-l | --lists]
 *                       [-c | --cluster | --no-cluster] [redis://HOST:PORT]
 *
 * Without a URL it starts a private redis-server (tests/redis_harness.h).
 * It measures ops/s and p50/p99 latency of
 *   - raw hiredis: HGET, and EVALSHA of the driver's own scripts (upsert as
 *     an insert and as an update under the lock, list, delete),
 *   - the driver's get() and put() called through its ABI table,
 *   - the store's public API: obol_get, obol_upsert (a refresh of one
 *     session, its lock version carried forward), obol_get_all of a user
 *     with 10 sessions and of one with 100 (a tenth as many calls, next
 *     to the list script on the same keys), obol_delete (of sessions
 *     created beforehand),
 *   - a refresh both ways: obol_refresh of a client token (chained: each
 *     call presents the token the one before handed out, so every call is
 *     a rotation), and by hand, obol_get + obol_session_refresh +
 *     obol_upsert; on one connection, also the round trips of one call of
 *     each (the store's driver calls, and the commands MONITOR sees),
 *     counted outside the timed rounds,
 * on one connection (one thread), and on 8 connections with 8 threads (8
 * raw connections, or a pool of 8), against the same server in the same
 * run. obol_get and obol_upsert also run on a second store with the
 * same prefix and pool opened with stats=0, in the same rounds: what the
 * counters of obol_store_stats() cost (docs/STATS.md). The paths compared with each other run in alternating rounds; a
 * row's ops/s is the median over the rounds and a ratio the median of the
 * ratios of each round, so that a noisy neighbour slows both sides alike.
 * Only the operations are timed: connecting, and creating the sessions a
 * delete removes, happen before a round's clock starts. The keys written
 * are under the prefix "obol-bench" and removed at the end.
 *
 * With -l only the get_all rows and their raw lists run, on one
 * connection, and nothing after them; with them, the CPU time each
 * costs the client per call (the calling thread's user and system time
 * over the timed rounds), which a server shared with the neighbours
 * cannot blur.
 *
 * Next, when it runs its own server and the openssl command is there to
 * make certificates: obol_get and obol_upsert on rediss:// to the
 * server's TLS port next to the same calls on redis:// to its plain port,
 * one connection each, in alternating rounds: what TLS costs.
 *
 * Then, on a private Redis Cluster of 3 masters and 3 replicas
 * (tests/redis_cluster.h; without a URL, or with --cluster), on one
 * connection: raw HGET and raw EVALSHA of the upsert script under the lock,
 * sent with hiredis to the master that owns the keys' slot, next to the
 * driver's get, obol_get and obol_upsert on redis+cluster://. The store's
 * user is picked so that its keys live on that same master.
 *
 * Then, on a private master with two replicas and three Sentinels
 * (tests/redis_sentinel.h; without a URL, or with --sentinel), on one
 * connection: obol_get and obol_upsert through redis+sentinel:// next to
 * the same calls through redis:// straight to the master the Sentinels
 * name, in alternating rounds. The master is resolved when a connection
 * is made, not per call, so the two should be equal.
 *
 * Last, migrations into Redis (the server, and the cluster): SESSIONS
 * sessions (default 10000, of 1000 users; 0 skips this) in a memory: store
 * copied by obol_migrate(), whose batches go to the driver's put_batch,
 * next to the same walk restoring one session per call (obol_scan() and
 * obol_restore()), each into a fresh prefix that is removed after its
 * round; and, with records of RECORD_SIZE bytes, the driver's put_batch
 * and put next to raw EVALSHA of the upsert script pipelined 256 at a
 * time (per master) and sent one round trip each, so that what batching
 * can gain on this server is measured beside what the driver and the core
 * get from it. These six run in alternating rounds too (5 of them).
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
#include "../tests/redis_cluster.h"
#include "../tests/redis_harness.h"
#include "../tests/redis_sentinel.h"
#include "config_internal.h"
#include "loader_internal.h"
#include "store_internal.h"   /* driver_calls, for round trips per call */

#define BENCH_PREFIX "obol-bench"
#define BENCH_THREADS 8
#define RECORD_SIZE 200     /* about a sealed session with a small payload */
#define LIST_SESSIONS 10    /* sessions of the user get_all reads */
#define LONG_LIST_SESSIONS 100  /* ... and of the user of the long list */
#define MAX_ROUNDS 64
#define SESSION_TTL 86400   /* long enough for any run */

static const uint8_t store_key[32] = {
    0x62, 0x65, 0x6e, 0x63, 0x68, 0x2d, 0x6b, 0x65, 0x79, 0x2d, 0x6e, 0x6f,
    0x74, 0x2d, 0x61, 0x2d, 0x73, 0x65, 0x63, 0x72, 0x65, 0x74, 0x2d, 0x30,
    0x31, 0x32, 0x33, 0x34, 0x35, 0x36, 0x37, 0x38,
};

/* Where raw paths send their commands: the server, or on a cluster the
 * master that owns the slot of the keys they use. */
typedef struct raw_target {
    const char *host;
    int port;
} raw_target;

/* A store the store paths use, and the user whose sessions they read and
 * refresh: "<user>-T" for thread T, whose get reads get_ids[T]. */
typedef struct store_target {
    obol_store *store;
    char user[24];            /* short enough for "<user>-T" in 32 bytes */
    char get_ids[BENCH_THREADS][64];
} store_target;

static const obol_driver *driver;
static char server_host[256] = "127.0.0.1";
static int server_port;
static char server_url[512];
static raw_target server_target;
static char script_sha[REDIS_SCRIPT_COUNT][41];
static uint8_t record_bytes[RECORD_SIZE];
static long id_base;  /* moved on every round, so that each insert is new */

static double now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e9 + (double)ts.tv_nsec;
}

/* CPU time of the calling thread, user and system: what a path costs
 * the client, whatever the server and the neighbours do meanwhile. */
static double thread_cpu_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
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
    const store_target *target;  /* ... with its user and sessions */
    obol_session *session;    /* obol upsert: the session it refreshes */
    obol_session **doomed;    /* obol delete: the sessions it removes */
    long doomed_count;
    uint64_t lock_version;    /* raw update: the record's current lock */
    char id[32];              /* raw update: its id */
    char *token;              /* obol_refresh: the client token to present */
} bench_state;

/* One benchmarked operation: setup (not timed) prepares ops iterations,
 * run does iteration i. */
typedef struct path {
    const char *name;
    int (*setup)(struct path *p, bench_state *state, long ops);
    int (*run)(bench_state *state, long i);
    void *shared;             /* the raw_target, driver handle or
                                 store_target */
} path;

static redisContext *raw_connect(const raw_target *target)
{
    redisContext *c = redisConnect(target->host, target->port);
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
    free(state->token);
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
    (void)ops;
    state->redis = raw_connect(p->shared);
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

/* The list script on the keys obol get_all reads of user, which has
 * count sessions. */
static int raw_list_of(bench_state *state, const char *user, size_t count)
{
    redisReply *r = raw_script(state, REDIS_SCRIPT_LIST, user, 0, NULL,
                               NULL);
    int ok = r != NULL && r->type == REDIS_REPLY_ARRAY &&
             r->elements == 4 * count;

    freeReplyObject(r);
    return ok ? 0 : -1;
}

static int raw_list(bench_state *state, long i)
{
    (void)i;
    return raw_list_of(state, "list", LIST_SESSIONS);
}

static int raw_list_long(bench_state *state, long i)
{
    (void)i;
    return raw_list_of(state, "list100", LONG_LIST_SESSIONS);
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
    return 0;
}

static int store_setup(path *p, bench_state *state, long ops)
{
    (void)ops;
    state->target = p->shared;
    state->store = state->target->store;
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

    store_user(state->target->user, state->thread, user, sizeof user);
    if (obol_get(state->store, state->target->get_ids[state->thread], user,
                 NULL, &s, &err) != OBOL_OK)
        return -1;
    obol_session_free(s);
    return 0;
}

static int store_upsert_setup(path *p, bench_state *state, long ops)
{
    char user[32];

    store_setup(p, state, ops);
    store_user(state->target->user, state->thread, user, sizeof user);
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

/* The same refresh by hand: read the session, rotate, write under the
 * lock (two round trips, as obol_refresh's get and upsert). */
static int store_refresh_by_hand(bench_state *state, long i)
{
    obol_session *s;
    obol_error err;
    int status;
    (void)i;

    if (obol_get(state->store, state->session->id, state->session->user_id,
                 NULL, &s, &err) != OBOL_OK)
        return -1;
    status = obol_session_refresh(s, (int64_t)time(NULL), SESSION_TTL);
    if (status == OBOL_OK)
        status = obol_upsert(state->store, s, &err);
    obol_session_free(s);
    return status == OBOL_OK ? 0 : -1;
}

static int store_refresh_setup(path *p, bench_state *state, long ops)
{
    obol_error err;

    if (store_upsert_setup(p, state, ops) != 0)
        return -1;
    return obol_token_make(state->store, state->session, &state->token,
                           &err) == OBOL_OK ? 0 : -1;
}

/* obol_refresh of the current token; the new one is presented next. */
static int store_refresh(bench_state *state, long i)
{
    char *next;
    obol_error err;
    (void)i;

    if (obol_refresh(state->store, state->token, SESSION_TTL, NULL, &next,
                     &err) != OBOL_OK)
        return -1;
    free(state->token);
    state->token = next;
    return 0;
}

static int store_get_all_of(bench_state *state, const char *what,
                            size_t expected)
{
    char user[32];
    obol_session **all;
    size_t count;
    obol_error err;

    store_user(what, state->thread, user, sizeof user);
    if (obol_get_all(state->store, user, NULL, &all, &count, &err) != OBOL_OK)
        return -1;
    obol_sessions_free(all, count);
    return count == expected ? 0 : -1;
}

static int store_get_all(bench_state *state, long i)
{
    (void)i;
    return store_get_all_of(state, "list", LIST_SESSIONS);
}

static int store_get_all_long(bench_state *state, long i)
{
    (void)i;
    return store_get_all_of(state, "list100", LONG_LIST_SESSIONS);
}

static int store_delete_setup(path *p, bench_state *state, long ops)
{
    char user[32];

    store_setup(p, state, ops);
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
    double cpu_ns;           /* the thread's, over the timed loop */
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
    w->cpu_ns = thread_cpu_ns();
    for (long i = 0; i < w->ops && !w->failed; i++) {
        double started = now_ns();
        if (w->p->run(&state, i) != 0) {
            w->failed = 1;
            break;
        }
        w->latency_ns[i] = now_ns() - started;
    }
    w->finished_ns = now_ns();
    w->cpu_ns = thread_cpu_ns() - w->cpu_ns;
    state_clear(&state);
    return NULL;
}

/* One path measured over several rounds. */
typedef struct series {
    path *p;
    double *latency_ns;       /* every operation of every round */
    long count;
    double round_ops[MAX_ROUNDS];
    double cpu_ns;            /* the client threads', every round */
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
        s->cpu_ns += workers[t].cpu_ns;
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
static redis_harness *bench_redis;  /* the bench's own server, or NULL */

#define COUNTED_CALLS 200

/* Round trips of one call of p on one connection, outside the timed
 * rounds: the store's driver calls per call and, on the bench's own
 * server, the commands MONITOR sees clients send per call (-1: not
 * counted). Commands a script runs inside the server are no round trips
 * and MONITOR's count leaves them out. */
static void count_round_trips(path *p, double *driver_calls,
                              double *commands)
{
    bench_state state = { .thread = 0 };
    obol_store *st = ((const store_target *)p->shared)->store;
    redis_harness_monitor *m;
    uint64_t before;
    int seen;

    if (p->setup(p, &state, COUNTED_CALLS) != 0)
        die(p->name, "setup failed");
    m = bench_redis != NULL ? redis_harness_monitor_begin(bench_redis) : NULL;
    before = __atomic_load_n(&st->driver_calls, __ATOMIC_RELAXED);
    for (long i = 0; i < COUNTED_CALLS; i++)
        if (p->run(&state, i) != 0)
            die(p->name, "an operation failed");
    *driver_calls = (double)(__atomic_load_n(&st->driver_calls,
                                             __ATOMIC_RELAXED) - before) /
                    COUNTED_CALLS;
    seen = m != NULL ? redis_harness_monitor_end(m) : -1;
    *commands = seen < 0 ? -1 : (double)seen / COUNTED_CALLS;
    state_clear(&state);
}

static void print_round_trips(path *p)
{
    double driver_calls, commands;

    count_round_trips(p, &driver_calls, &commands);
    if (commands < 0)
        printf("  %-34s %5.2f driver calls\n", p->name, driver_calls);
    else
        printf("  %-34s %5.2f driver calls, %.2f commands (MONITOR)\n",
               p->name, driver_calls, commands);
}

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
        group[k].cpu_ns = 0;
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

/* The median over n rounds of a's rate over b's in the same round. */
static double median_ratio(const double *a, const double *b, int n)
{
    double r[MAX_ROUNDS];

    for (int round = 0; round < n; round++)
        r[round] = a[round] / b[round];
    return median(r, n);
}

static double ratio(const series *a, const series *b)
{
    return median_ratio(a->round_ops, b->round_ops, rounds);
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

/* A ratio's line; target 0 for none. */
static void print_ratio_value(const char *what, double r, double target)
{
    if (target > 0)
        printf("  %-34s %5.2f  (target >= %.2f: %s)\n", what, r, target,
               r >= target ? "met" : "MISSED");
    else
        printf("  %-34s %5.2f\n", what, r);
}

static void print_ratio(const char *what, const series *a, const series *b,
                        double target)
{
    print_ratio_value(what, ratio(a, b), target);
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

    if (obol_set_driver_path(driver_dir(), &err) != OBOL_OK)
        die("driver path", err.message);
    if (obol_loader_load("redis", "redis", &driver, &err) != OBOL_OK)
        die("load", err.message);
}

/* url with more options: after '?', or after '&' when it has some. */
static void url_with(char *out, size_t size, const char *url,
                     const char *options)
{
    snprintf(out, size, "%s%c%s", url, strchr(url, '?') != NULL ? '&' : '?',
             options);
}

static void *open_driver(const char *base_url, const char *prefix, int pool)
{
    char options[128], url[1024];
    obol_config config;
    obol_driver_config driver_config;
    obol_error err;
    void *handle = NULL;

    snprintf(options, sizeof options, "prefix=%s&pool=%d", prefix, pool);
    url_with(url, sizeof url, base_url, options);
    if (obol_config_parse(url, &config, &err) != OBOL_OK)
        die(url, err.message);
    obol_config_for_driver(&config, &driver_config);
    if (driver->open(&driver_config, &handle, &err) != OBOL_OK)
        die(url, err.message);
    obol_config_clear(&config);
    return handle;
}

/* A store on base_url with the driver the bench loaded. */
static obol_store *open_store(const char *base_url, const char *prefix,
                              int pool)
{
    char options[128], config[PATH_MAX + 1024];
    obol_store *st;
    obol_error err;

    snprintf(options, sizeof options, "prefix=%s&pool=%d", prefix, pool);
    url_with(config, sizeof config, base_url, options);
    if (obol_store_open(config, &st, &err) != OBOL_OK)
        die(config, err.message);
    if (obol_store_add_key(st, 1, store_key, 1, &err) != OBOL_OK)
        die("add_key", err.message);
    return st;
}

/* Loads the driver's scripts on the server c is connected to and keeps
 * their SHAs (the same on every server). */
static void load_scripts(redisContext *c)
{
    for (int k = 0; k < REDIS_SCRIPT_COUNT; k++) {
        redisReply *r = redisCommand(c, "SCRIPT LOAD %s",
                                     redis_lua_source((redis_script_id)k));
        if (r == NULL || r->type != REDIS_REPLY_STRING || r->len != 40)
            die("SCRIPT LOAD", r != NULL && r->str ? r->str : c->errstr);
        memcpy(script_sha[k], r->str, 41);
        freeReplyObject(r);
    }
}

/* The record the raw and driver gets of thread read. */
static void put_raw_record(redisContext *c, int thread)
{
    char key[128];
    redisReply *r;

    user_key("bench", thread, "rec", key, sizeof key);
    r = redisCommand(c, "HSET %s s %b", key, record_bytes,
                     (size_t)RECORD_SIZE);
    if (r == NULL || r->type != REDIS_REPLY_INTEGER)
        die("HSET", r != NULL && r->str ? r->str : c->errstr);
    freeReplyObject(r);
}

/* The record each raw and driver get reads, the scripts' SHAs, and through
 * the store the session each store get reads and the sessions of the user
 * each get_all lists. */
static void prepare_server(store_target *st)
{
    redisContext *c = raw_connect(&server_target);

    load_scripts(c);
    for (int t = 0; t < BENCH_THREADS; t++) {
        char user[32];
        obol_session *s;

        put_raw_record(c, t);
        store_user(st->user, t, user, sizeof user);
        s = store_insert(st->store, user);
        if (s == NULL)
            die("prepare", "could not store a session");
        snprintf(st->get_ids[t], sizeof st->get_ids[t], "%s", s->id);
        obol_session_free(s);
        store_user("list", t, user, sizeof user);
        for (int k = 0; k < LIST_SESSIONS; k++) {
            s = store_insert(st->store, user);
            if (s == NULL)
                die("prepare", "could not store a session");
            obol_session_free(s);
        }
        store_user("list100", t, user, sizeof user);
        for (int k = 0; k < LONG_LIST_SESSIONS; k++) {
            s = store_insert(st->store, user);
            if (s == NULL)
                die("prepare", "could not store a session");
            obol_session_free(s);
        }
    }
    redisFree(c);
}

/* Deletes every key under prefix on one server, a batch of SCAN at a time
 * with its DELs pipelined (one key each: on a cluster node the keys of a
 * batch belong to different slots). */
static void clean_prefix(const raw_target *target, const char *prefix)
{
    redisContext *c = raw_connect(target);
    char cursor[32] = "0";

    do {
        redisReply *r = redisCommand(c, "SCAN %s MATCH %s:* COUNT 1000",
                                     cursor, prefix);
        size_t found;

        if (r == NULL || r->type != REDIS_REPLY_ARRAY || r->elements != 2)
            die("SCAN", c->errstr);
        snprintf(cursor, sizeof cursor, "%s", r->element[0]->str);
        found = r->element[1]->elements;
        for (size_t k = 0; k < found; k++)
            redisAppendCommand(c, "DEL %b", r->element[1]->element[k]->str,
                               r->element[1]->element[k]->len);
        for (size_t k = 0; k < found; k++) {
            void *reply = NULL;
            if (redisGetReply(c, &reply) != REDIS_OK)
                die("DEL", c->errstr);
            freeReplyObject(reply);
        }
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

/* ---------------------------------------------------------- single node */

enum {
    RAW_HGET, DRIVER_GET, OBOL_GET_QUIET, OBOL_GET,
    RAW_INSERT, DRIVER_PUT, RAW_UPDATE, OBOL_UPSERT_QUIET, OBOL_UPSERT,
    RAW_LIST, OBOL_GET_ALL,
    RAW_LIST_LONG, OBOL_GET_ALL_LONG,
    RAW_DELETE, OBOL_DELETE,
    BY_HAND_REFRESH, OBOL_REFRESH,
    PATH_COUNT
};

/* -l: only the get_all rows, on one connection. */
static int lists_only;

/* A tenth as many calls of the long list: each reads ten times as much. */
static long long_list_ops(int threads, long ops)
{
    long least = (long)threads * rounds;

    return ops / 10 > least ? ops / 10 : least;
}

static void run_lists(series *s, int threads, long ops, int print)
{
    measure_group(&s[RAW_LIST], 2, threads, ops);
    measure_group(&s[RAW_LIST_LONG], 2, threads, long_list_ops(threads, ops));
    for (int k = RAW_LIST; k <= OBOL_GET_ALL_LONG; k++) {
        if (print)
            print_row(&s[k], threads);
        free(s[k].latency_ns);
    }
    if (!print)
        return;
    printf("ratios, %d connection%s (median of %d rounds):\n", threads,
           threads > 1 ? "s" : "", rounds);
    print_ratio("obol_get_all / raw EVALSHA list", &s[OBOL_GET_ALL],
                &s[RAW_LIST], 0);
    print_ratio("obol_get_all (100) / raw list (100)", &s[OBOL_GET_ALL_LONG],
                &s[RAW_LIST_LONG], threads == 1 ? 0.9 : 0);
    /* The server runs the same script for both sides of a ratio, so
     * what the client spends is where the two differ. */
    printf("client CPU per call (user+sys of the calling thread%s):\n",
           threads > 1 ? "s" : "");
    for (int k = RAW_LIST; k <= OBOL_GET_ALL_LONG; k++)
        printf("  %-34s %7.1f us\n", s[k].p->name,
               s[k].cpu_ns / (double)s[k].count / 1e3);
}

/* Every path on one connection (threads 1) or on 8 with 8 threads; the
 * figures are printed when print is set. quiet is st's store opened with
 * stats=0. */
static void run_all(int threads, void *handle, store_target *st,
                    store_target *quiet, long ops, int print)
{
    raw_target *raw = &server_target;
    path paths[PATH_COUNT] = {
        [RAW_HGET] = { "raw HGET", raw_setup, raw_hget, raw },
        [DRIVER_GET] = { "driver get", shared_setup, driver_get, handle },
        [OBOL_GET_QUIET] = { "obol_get (stats=0)", store_setup, store_get,
                             quiet },
        [OBOL_GET] = { "obol_get", store_setup, store_get, st },
        [RAW_INSERT] = { "raw EVALSHA upsert (new)", raw_setup, raw_insert,
                         raw },
        [DRIVER_PUT] = { "driver put (new)", shared_setup, driver_put,
                         handle },
        [RAW_UPDATE] = { "raw EVALSHA upsert (lock)", raw_update_setup,
                         raw_update, raw },
        [OBOL_UPSERT_QUIET] = { "obol_upsert (stats=0)", store_upsert_setup,
                                store_upsert, quiet },
        [OBOL_UPSERT] = { "obol_upsert (refresh)", store_upsert_setup,
                          store_upsert, st },
        [RAW_LIST] = { "raw EVALSHA list (10)", raw_setup, raw_list, raw },
        [OBOL_GET_ALL] = { "obol_get_all (10)", store_setup, store_get_all,
                           st },
        [RAW_LIST_LONG] = { "raw EVALSHA list (100)", raw_setup,
                            raw_list_long, raw },
        [OBOL_GET_ALL_LONG] = { "obol_get_all (100)", store_setup,
                                store_get_all_long, st },
        [RAW_DELETE] = { "raw EVALSHA delete", raw_delete_setup, raw_delete,
                         raw },
        [OBOL_DELETE] = { "obol_delete", store_delete_setup, store_delete,
                          st },
        [BY_HAND_REFRESH] = { "get+refresh+upsert by hand",
                              store_upsert_setup, store_refresh_by_hand, st },
        [OBOL_REFRESH] = { "obol_refresh (chained)", store_refresh_setup,
                           store_refresh, st },
    };
    series s[PATH_COUNT];

    for (int k = 0; k < PATH_COUNT; k++)
        s[k] = (series){ .p = &paths[k] };
    measure_group(&s[RAW_HGET], 4, threads, ops);
    measure_group(&s[RAW_INSERT], 5, threads, ops);
    if (lists_only) {
        run_lists(s, threads, ops, print);
        return;
    }
    measure_group(&s[RAW_LIST], 2, threads, ops);
    measure_group(&s[RAW_LIST_LONG], 2, threads, long_list_ops(threads, ops));
    measure_group(&s[RAW_DELETE], 2, threads, ops);
    measure_group(&s[BY_HAND_REFRESH], 2, threads, ops);
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
    print_ratio("obol_get_all (100) / raw list (100)", &s[OBOL_GET_ALL_LONG],
                &s[RAW_LIST_LONG], threads == 1 ? 0.9 : 0);
    print_ratio("obol_delete / raw EVALSHA delete", &s[OBOL_DELETE],
                &s[RAW_DELETE], 0);
    print_ratio("obol_refresh / get+upsert by hand", &s[OBOL_REFRESH],
                &s[BY_HAND_REFRESH], 0);
    print_ratio("obol_get stats=0 / raw HGET", &s[OBOL_GET_QUIET],
                &s[RAW_HGET], 0);
    print_ratio("obol_get stats=1 / stats=0", &s[OBOL_GET],
                &s[OBOL_GET_QUIET], 0);
    print_ratio("obol_upsert stats=0 / raw (lock)", &s[OBOL_UPSERT_QUIET],
                &s[RAW_UPDATE], 0);
    print_ratio("obol_upsert stats=1 / stats=0", &s[OBOL_UPSERT],
                &s[OBOL_UPSERT_QUIET], 0);
    if (threads > 1)
        return;
    printf("round trips per call (%d calls, not timed):\n", COUNTED_CALLS);
    print_round_trips(&paths[BY_HAND_REFRESH]);
    print_round_trips(&paths[OBOL_REFRESH]);
}

/* A short run first warms the server, the connections and the caches; its
 * figures are not printed. */
static void warm_up(void (*run)(void *arg, long ops, int print), void *arg,
                    long ops)
{
    int saved = rounds;

    rounds = 2;
    run(arg, ops / 10 > 100 ? ops / 10 : 100, 0);
    rounds = saved;
}

/* The single-node rows' handles and stores, on one connection and on 8. */
typedef struct server_bench {
    void *pooled_1, *pooled_8;
    store_target store_1, store_8;
    store_target quiet_1, quiet_8;   /* the same, opened with stats=0 */
} server_bench;

static void run_server(void *arg, long ops, int print)
{
    server_bench *sb = arg;

    run_all(1, sb->pooled_1, &sb->store_1, &sb->quiet_1, ops, print);
    if (print && !lists_only)
        run_all(BENCH_THREADS, sb->pooled_8, &sb->store_8, &sb->quiet_8, ops,
                print);
}

/* target with its store replaced by one opened on url (same prefix and
 * sessions). */
static store_target same_sessions_on(const store_target *target,
                                     const char *url, int pool)
{
    store_target copy = *target;

    copy.store = open_store(url, BENCH_PREFIX, pool);
    return copy;
}

static void bench_server(long ops)
{
    server_bench sb = { 0 };
    char quiet_url[600];

    sb.pooled_1 = open_driver(server_url, BENCH_PREFIX, 1);
    sb.pooled_8 = open_driver(server_url, BENCH_PREFIX, BENCH_THREADS);
    sb.store_1.store = open_store(server_url, BENCH_PREFIX, 1);
    sb.store_8.store = open_store(server_url, BENCH_PREFIX, BENCH_THREADS);
    snprintf(sb.store_1.user, sizeof sb.store_1.user, "store");
    prepare_server(&sb.store_1);
    sb.store_8 = (store_target){ sb.store_8.store, "store", { { 0 } } };
    memcpy(sb.store_8.get_ids, sb.store_1.get_ids, sizeof sb.store_8.get_ids);
    url_with(quiet_url, sizeof quiet_url, server_url, "stats=0");
    sb.quiet_1 = same_sessions_on(&sb.store_1, quiet_url, 1);
    sb.quiet_8 = same_sessions_on(&sb.store_8, quiet_url, BENCH_THREADS);

    printf("server %s, %ld ops per row in %d rounds\n", server_url, ops,
           rounds);
    printf("%-26s %5s %7s %11s %9s %9s\n", "path", "conns", "threads",
           "ops/s", "p50 us", "p99 us");
    warm_up(run_server, &sb, ops);
    run_server(&sb, ops, 1);

    clean_prefix(&server_target, BENCH_PREFIX);
    obol_store_close(sb.store_1.store);
    obol_store_close(sb.store_8.store);
    obol_store_close(sb.quiet_1.store);
    obol_store_close(sb.quiet_8.store);
    driver->close(sb.pooled_1);
    driver->close(sb.pooled_8);
}

/* ------------------------------------------------------------------ TLS */

/* The TLS rows: the store on redis:// and on rediss:// to the same server
 * (its plain port and its TLS port), pool=1 each, on the same keys. */
typedef struct tls_bench {
    store_target plain, tls;
} tls_bench;

enum {
    TLS_PLAIN_GET, TLS_GET,
    TLS_PLAIN_UPSERT, TLS_UPSERT,
    TLS_PATH_COUNT
};

static void run_tls(void *arg, long ops, int print)
{
    tls_bench *tb = arg;
    path paths[TLS_PATH_COUNT] = {
        [TLS_PLAIN_GET] = { "obol_get (redis://)", store_setup, store_get,
                            &tb->plain },
        [TLS_GET] = { "obol_get (rediss://)", store_setup, store_get,
                      &tb->tls },
        [TLS_PLAIN_UPSERT] = { "obol_upsert (redis://)", store_upsert_setup,
                               store_upsert, &tb->plain },
        [TLS_UPSERT] = { "obol_upsert (rediss://)", store_upsert_setup,
                         store_upsert, &tb->tls },
    };
    series s[TLS_PATH_COUNT];

    for (int k = 0; k < TLS_PATH_COUNT; k++)
        s[k] = (series){ .p = &paths[k] };
    measure_group(&s[TLS_PLAIN_GET], 2, 1, ops);
    measure_group(&s[TLS_PLAIN_UPSERT], 2, 1, ops);
    for (int k = 0; k < TLS_PATH_COUNT; k++) {
        if (print)
            print_row(&s[k], 1);
        free(s[k].latency_ns);
    }
    if (!print)
        return;
    printf("ratios, TLS, 1 connection (median of %d rounds):\n", rounds);
    print_ratio("obol_get rediss:// / redis://", &s[TLS_GET],
                &s[TLS_PLAIN_GET], 0.8);
    print_ratio("obol_upsert rediss:// / redis://", &s[TLS_UPSERT],
                &s[TLS_PLAIN_UPSERT], 0);
}

static void bench_tls(const char *tls_url, long ops)
{
    tls_bench tb = { 0 };
    obol_session *s;

    tb.plain.store = open_store(server_url, BENCH_PREFIX "-tls", 1);
    tb.tls.store = open_store(tls_url, BENCH_PREFIX "-tls", 1);
    snprintf(tb.plain.user, sizeof tb.plain.user, "tls");
    snprintf(tb.tls.user, sizeof tb.tls.user, "tls");
    /* The session both gets read, written once. */
    s = store_insert(tb.plain.store, "tls-0");
    if (s == NULL)
        die("prepare", "could not store a session");
    snprintf(tb.plain.get_ids[0], sizeof tb.plain.get_ids[0], "%s", s->id);
    snprintf(tb.tls.get_ids[0], sizeof tb.tls.get_ids[0], "%s", s->id);
    obol_session_free(s);

    printf("\nTLS: %s next to %s (the same server), pool=1, %ld ops per "
           "row in %d rounds\n", tls_url, server_url, ops, rounds);
    printf("%-26s %5s %7s %11s %9s %9s\n", "path", "conns", "threads",
           "ops/s", "p50 us", "p99 us");
    warm_up(run_tls, &tb, ops);
    run_tls(&tb, ops, 1);

    clean_prefix(&server_target, BENCH_PREFIX "-tls");
    obol_store_close(tb.plain.store);
    obol_store_close(tb.tls.store);
}

/* The bench's own server, with a TLS port beside the plain one when the
 * openssl command is there to make its certificates. */
static redis_harness *start_own_server(void)
{
    redis_harness_options options = { .tls = REDIS_HARNESS_TLS_BESIDE };
    char openssl[PATH_MAX];
    redis_harness *h = NULL;

    if (redis_harness_find_program("OPENSSL", "openssl", openssl,
                                   sizeof openssl) == 0)
        h = redis_harness_start(&options);
    if (h == NULL)
        fprintf(stderr, "redis_bench: no TLS port (is the openssl command "
                        "there?): no TLS rows\n");
    return h != NULL ? h : redis_harness_start(NULL);
}

/* -------------------------------------------------------------- cluster */

/* The cluster rows: the raw paths talk to the master that owns the slot of
 * the user "bench-0", and the store's user is one whose keys that master
 * owns too, so that both sides wait on the same server. */
typedef struct cluster_bench {
    redis_cluster *cluster;
    raw_target owner;
    int owner_index;
    void *handle;             /* the driver on redis+cluster://, pool=1 */
    store_target store;       /* the store on it, pool=1 */
} cluster_bench;

/* Index of the master that owns the keys of user "<user>-0", or -1. */
static int owner_of_user(redis_cluster *c, const char *user)
{
    char key[128];

    user_key(user, 0, "rec", key, sizeof key);
    return redis_cluster_owner(c, redis_cluster_key_slot(key, strlen(key)));
}

static void prepare_cluster(cluster_bench *cb)
{
    redisContext *c;
    char user[32];
    obol_session *s;

    cb->owner_index = owner_of_user(cb->cluster, "bench");
    if (cb->owner_index < 0)
        die("cluster", "no master owns the slot of the bench's keys");
    cb->owner = (raw_target){
        "127.0.0.1", redis_cluster_port(cb->cluster, (size_t)cb->owner_index)
    };
    c = raw_connect(&cb->owner);
    load_scripts(c);
    put_raw_record(c, 0);
    redisFree(c);

    for (int k = 0;; k++) {
        if (k == 1000)
            die("cluster", "no store user found on the raw keys' master");
        snprintf(cb->store.user, sizeof cb->store.user, "cstore%d", k);
        if (owner_of_user(cb->cluster, cb->store.user) == cb->owner_index)
            break;
    }
    store_user(cb->store.user, 0, user, sizeof user);
    s = store_insert(cb->store.store, user);
    if (s == NULL)
        die("prepare", "could not store a session on the cluster");
    snprintf(cb->store.get_ids[0], sizeof cb->store.get_ids[0], "%s", s->id);
    obol_session_free(s);
}

enum {
    CLUSTER_RAW_HGET, CLUSTER_DRIVER_GET, CLUSTER_OBOL_GET,
    CLUSTER_RAW_UPDATE, CLUSTER_OBOL_UPSERT,
    CLUSTER_PATH_COUNT
};

static void run_cluster(void *arg, long ops, int print)
{
    cluster_bench *cb = arg;
    path paths[CLUSTER_PATH_COUNT] = {
        [CLUSTER_RAW_HGET] = { "raw HGET", raw_setup, raw_hget, &cb->owner },
        [CLUSTER_DRIVER_GET] = { "driver get", shared_setup, driver_get,
                                 cb->handle },
        [CLUSTER_OBOL_GET] = { "obol_get", store_setup, store_get,
                               &cb->store },
        [CLUSTER_RAW_UPDATE] = { "raw EVALSHA upsert (lock)",
                                 raw_update_setup, raw_update, &cb->owner },
        [CLUSTER_OBOL_UPSERT] = { "obol_upsert (refresh)",
                                  store_upsert_setup, store_upsert,
                                  &cb->store },
    };
    series s[CLUSTER_PATH_COUNT];

    for (int k = 0; k < CLUSTER_PATH_COUNT; k++)
        s[k] = (series){ .p = &paths[k] };
    measure_group(&s[CLUSTER_RAW_HGET], 3, 1, ops);
    measure_group(&s[CLUSTER_RAW_UPDATE], 2, 1, ops);
    for (int k = 0; k < CLUSTER_PATH_COUNT; k++) {
        if (print)
            print_row(&s[k], 1);
        free(s[k].latency_ns);
    }
    if (!print)
        return;
    printf("ratios, cluster, 1 connection (median of %d rounds):\n", rounds);
    print_ratio("driver get / raw HGET", &s[CLUSTER_DRIVER_GET],
                &s[CLUSTER_RAW_HGET], 0);
    print_ratio("obol_get / raw HGET", &s[CLUSTER_OBOL_GET],
                &s[CLUSTER_RAW_HGET], 0.9);
    print_ratio("obol_upsert / raw EVALSHA (lock)", &s[CLUSTER_OBOL_UPSERT],
                &s[CLUSTER_RAW_UPDATE], 0.85);
}

static void bench_cluster(redis_cluster *cluster, long ops)
{
    cluster_bench cb = { .cluster = cluster };
    const char *url = redis_cluster_url(cluster);

    cb.handle = open_driver(url, BENCH_PREFIX, 1);
    cb.store.store = open_store(url, BENCH_PREFIX, 1);
    prepare_cluster(&cb);

    printf("\ncluster %s (3 masters, 3 replicas), pool=1, %ld ops per row "
           "in %d rounds;\nraw commands go to the master of the keys' slot, "
           "127.0.0.1:%d, as the store's do\n", url, ops, rounds,
           cb.owner.port);
    printf("%-26s %5s %7s %11s %9s %9s\n", "path", "conns", "threads",
           "ops/s", "p50 us", "p99 us");
    warm_up(run_cluster, &cb, ops);
    run_cluster(&cb, ops, 1);

    obol_store_close(cb.store.store);
    driver->close(cb.handle);
}

/* ------------------------------------------------------------ migration */

#define MIGRATE_USERS 1000
#define MIGRATE_ROUNDS 5
#define MIGRATE_BATCH 256     /* what obol_migrate() hands put_batch */
#define MIGRATE_PAYLOAD 300   /* payloads of 0 to 300 bytes */
#define MAX_MASTERS 16

#define DRIVER_PREFIX BENCH_PREFIX "-drv"  /* the driver's and raw writes */

/* Where migrations write: a server or a cluster, its masters (where a
 * prefix is cleaned), and which of them owns the keys of each user of the
 * driver's and the raw writes. */
typedef struct destination {
    const char *url;
    raw_target masters[MAX_MASTERS];
    size_t master_count;
    size_t user_master[MIGRATE_USERS];
} destination;

static void clean_destination(const destination *d, const char *prefix)
{
    for (size_t i = 0; i < d->master_count; i++)
        clean_prefix(&d->masters[i], prefix);
}

/* The memory: store the migrations read: count sessions of MIGRATE_USERS
 * users, with payloads of 0 to MIGRATE_PAYLOAD bytes. A user's sessions
 * are written one after the other, so a walk meets them together, as it
 * does on the stores a migration reads in practice (LMDB walks in key
 * order, Redis user by user); OBOL_BENCH_INTERLEAVE=1 writes them round
 * robin instead, the worst order for put_batch's grouping by user. */
static obol_store *make_source(long count)
{
    uint8_t payload[MIGRATE_PAYLOAD];
    int64_t now = (int64_t)time(NULL);
    obol_store *src;
    obol_error err;

    for (int i = 0; i < MIGRATE_PAYLOAD; i++)
        payload[i] = (uint8_t)(i * 13 + 5);
    if (obol_store_open("memory:", &src, &err) != OBOL_OK)
        die("memory:", err.message);
    if (obol_store_add_key(src, 1, store_key, 1, &err) != OBOL_OK)
        die("add_key", err.message);
    const char *interleave = getenv("OBOL_BENCH_INTERLEAVE");
    long per_user = count / MIGRATE_USERS > 0 ? count / MIGRATE_USERS : 1;

    for (long i = 0; i < count; i++) {
        char user[32];
        obol_session *s;

        snprintf(user, sizeof user, "user-%04ld",
                 interleave != NULL && strcmp(interleave, "1") == 0
                     ? i % MIGRATE_USERS
                     : (i / per_user) % MIGRATE_USERS);
        s = obol_session_new(user, NULL, now, SESSION_TTL, SESSION_TTL);
        if (s == NULL ||
            obol_session_set_payload(s, payload,
                                     (size_t)(i % (MIGRATE_PAYLOAD + 1))) !=
                OBOL_OK)
            die("source", "out of memory");
        if (obol_upsert(src, s, &err) != OBOL_OK)
            die("source", err.message);
        obol_session_free(s);
    }
    return src;
}

typedef struct restore_walk {
    obol_store *dst;
    obol_error err;
} restore_walk;

static int restore_one(void *arg, const obol_session *s)
{
    restore_walk *w = arg;

    return obol_restore(w->dst, s, &w->err);
}

/* Copies src into a fresh prefix of d, with obol_migrate() (batched) or
 * one obol_restore() per session of the same walk; sessions/s. Opening
 * the destination and cleaning it are not timed. */
static double migrate_once(obol_store *src, const destination *d,
                           const char *prefix, int batched, long count)
{
    obol_store *dst;
    restore_walk w = { NULL, { 0 } };
    obol_error err = { 0 };
    uint64_t copied;
    double started, elapsed_ns;
    int status;

    clean_destination(d, prefix);
    dst = open_store(d->url, prefix, 1);
    w.dst = dst;
    started = now_ns();
    if (batched) {
        obol_migrate_stats stats = { 0 };
        status = obol_migrate(src, dst, NULL, NULL, &stats, &err);
        copied = stats.copied;
    } else {
        obol_scan_stats stats = { 0 };
        status = obol_scan(src, restore_one, &w, &stats, &err);
        copied = stats.live;
    }
    elapsed_ns = now_ns() - started;
    if (status != OBOL_OK)
        die(prefix, w.err.message[0] != '\0' ? w.err.message : err.message);
    if (copied != (uint64_t)count)
        die(prefix, "not every session was copied");
    obol_store_close(dst);
    clean_destination(d, prefix);
    return (double)count / (elapsed_ns / 1e9);
}

/* The driver alone, as a migration drives it: count new records of
 * MIGRATE_USERS users (RECORD_SIZE bytes each, not sealed: the driver does
 * not look), through put_batch MIGRATE_BATCH at a time or through put one
 * at a time; records/s. */
static double driver_write_once(void *handle, long count, int batched,
                                int round)
{
    obol_driver_record *records = calloc((size_t)count, sizeof *records);
    uint64_t *expected = calloc((size_t)count, sizeof *expected);
    int *statuses = calloc((size_t)count, sizeof *statuses);
    char (*names)[2][32] = calloc((size_t)count, sizeof *names);
    int64_t now = (int64_t)time(NULL);
    obol_error err;
    double started, elapsed_ns;

    if (records == NULL || expected == NULL || statuses == NULL ||
        names == NULL)
        die("driver", "out of memory");
    for (long i = 0; i < count; i++) {
        snprintf(names[i][0], sizeof names[i][0], "user-%04ld",
                 i % MIGRATE_USERS);
        snprintf(names[i][1], sizeof names[i][1], "drv-%d-%c-%ld", round,
                 batched ? 'b' : 'p', i);
        records[i].key.user_id = (obol_bytes){ (const uint8_t *)names[i][0],
                                               strlen(names[i][0]) };
        records[i].key.type = (obol_bytes){ (const uint8_t *)"full", 4 };
        records[i].key.id = (obol_bytes){ (const uint8_t *)names[i][1],
                                          strlen(names[i][1]) };
        records[i].sealed = (obol_bytes){ record_bytes, RECORD_SIZE };
        records[i].expires_at = now + 3600;
        records[i].lock_version = 1;
    }
    started = now_ns();
    for (long i = 0; i < count;) {
        long n = batched ? (count - i < MIGRATE_BATCH ? count - i
                                                      : MIGRATE_BATCH)
                         : 1;
        int status = batched ? driver->put_batch(handle, records + i,
                                                 expected + i, (size_t)n, now,
                                                 statuses + i, &err)
                             : driver->put(handle, records + i, 0, now, &err);
        if (status != OBOL_OK)
            die(batched ? "put_batch" : "put", err.message);
        for (long k = 0; batched && k < n; k++)
            if (statuses[i + k] != OBOL_OK)
                die("put_batch", "a new record conflicted");
        i += n;
    }
    elapsed_ns = now_ns() - started;
    free(records);
    free(expected);
    free(statuses);
    free(names);
    return (double)count / (elapsed_ns / 1e9);
}

/* Queues on c the upsert script inserting record id of user under
 * DRIVER_PREFIX, with the arguments the driver's put sends (as
 * raw_upsert() does). */
static void append_raw_insert(redisContext *c, const char *user,
                              const char *id, int64_t now)
{
    static const char *const suffix[3] = { "rec", "exp", "lock" };
    char keys[3][128], score[24], now_text[24];
    const char *argv[12] = { "EVALSHA", script_sha[REDIS_SCRIPT_UPSERT], "3",
                             keys[0], keys[1], keys[2], id,
                             (const char *)record_bytes, score, "0", "1",
                             now_text };
    size_t argv_len[12];

    for (int k = 0; k < 3; k++)
        snprintf(keys[k], sizeof keys[k], DRIVER_PREFIX ":{%s:full}:%s", user,
                 suffix[k]);
    snprintf(score, sizeof score, "%" PRId64, now + 3600);
    snprintf(now_text, sizeof now_text, "%" PRId64, now);
    for (int k = 0; k < 12; k++)
        argv_len[k] = strlen(argv[k]);
    argv_len[7] = RECORD_SIZE;
    if (redisAppendCommandArgv(c, 12, argv, argv_len) != REDIS_OK)
        die("EVALSHA", c->errstr);
}

static void read_raw_insert(redisContext *c)
{
    void *reply = NULL;
    redisReply *r;

    if (redisGetReply(c, &reply) != REDIS_OK)
        die("EVALSHA", c->errstr);
    r = reply;
    if (r->type != REDIS_REPLY_INTEGER || r->integer != 1)
        die("EVALSHA", r->type == REDIS_REPLY_ERROR ? r->str
                                                    : "unexpected reply");
    freeReplyObject(r);
}

/* The raw baseline of the driver's writes: the same records as
 * driver_write_once(), as EVALSHA with hiredis on one connection to each
 * master, each to the master of its keys; MIGRATE_BATCH at a time
 * pipelined (every node's commands sent, then every reply read), or one
 * round trip each; records/s. */
static double raw_write_once(const destination *d, long count, int batched,
                             int round)
{
    redisContext *nodes[MAX_MASTERS];
    size_t pending[MAX_MASTERS] = { 0 };
    int64_t now = (int64_t)time(NULL);
    double started, elapsed_ns;

    for (size_t m = 0; m < d->master_count; m++)
        nodes[m] = raw_connect(&d->masters[m]);
    started = now_ns();
    for (long i = 0; i < count;) {
        long n = batched ? (count - i < MIGRATE_BATCH ? count - i
                                                      : MIGRATE_BATCH)
                         : 1;
        for (long k = i; k < i + n; k++) {
            char user[32], id[32];
            size_t m = d->user_master[k % MIGRATE_USERS];

            snprintf(user, sizeof user, "user-%04ld", k % MIGRATE_USERS);
            snprintf(id, sizeof id, "raw-%d-%c-%ld", round,
                     batched ? 'b' : 'p', k);
            append_raw_insert(nodes[m], user, id, now);
            pending[m]++;
        }
        for (size_t m = 0; m < d->master_count; m++)
            for (; pending[m] > 0; pending[m]--)
                read_raw_insert(nodes[m]);
        i += n;
    }
    elapsed_ns = now_ns() - started;
    for (size_t m = 0; m < d->master_count; m++)
        redisFree(nodes[m]);
    return (double)count / (elapsed_ns / 1e9);
}

static void print_rate(const char *what, const double *rates)
{
    printf("%-34s %11.0f\n", what, median(rates, MIGRATE_ROUNDS));
}

enum {
    MIGRATE_OBOL_BATCH, MIGRATE_OBOL_ONE,
    MIGRATE_RAW_PIPELINE, MIGRATE_DRIVER_BATCH,
    MIGRATE_RAW_ONE, MIGRATE_DRIVER_ONE,
    MIGRATE_WAY_COUNT
};

/* One way of writing count sessions or records into d, in round; its
 * rate. The migrations write into fresh prefixes, removed after them. */
static double migrate_way(int way, obol_store *src, const destination *d,
                          void *handle, long count, int round)
{
    char prefix[64];

    snprintf(prefix, sizeof prefix, BENCH_PREFIX "-mig-%d-%s", round,
             way == MIGRATE_OBOL_BATCH ? "batch" : "one");
    switch (way) {
    case MIGRATE_OBOL_BATCH:
    case MIGRATE_OBOL_ONE:
        return migrate_once(src, d, prefix, way == MIGRATE_OBOL_BATCH,
                            count);
    case MIGRATE_RAW_PIPELINE:
    case MIGRATE_RAW_ONE:
        return raw_write_once(d, count, way == MIGRATE_RAW_PIPELINE, round);
    default:
        return driver_write_once(handle, count, way == MIGRATE_DRIVER_BATCH,
                                 round);
    }
}

/* Every way in alternating rounds (forwards, then backwards), as
 * measure_group() does; the driver's and the raw records are removed
 * after each round. */
static void bench_migration(obol_store *src, const destination *d,
                            long count)
{
    double rate[MIGRATE_WAY_COUNT][MIGRATE_ROUNDS];
    void *handle = open_driver(d->url, DRIVER_PREFIX, 1);

    for (size_t m = 0; m < d->master_count; m++) {
        redisContext *c = raw_connect(&d->masters[m]);
        load_scripts(c);   /* the raw writes' EVALSHA, on every master */
        redisFree(c);
    }
    clean_destination(d, DRIVER_PREFIX);
    for (int round = 0; round < MIGRATE_ROUNDS; round++) {
        for (int j = 0; j < MIGRATE_WAY_COUNT; j++) {
            int way = round % 2 == 0 ? j : MIGRATE_WAY_COUNT - 1 - j;
            rate[way][round] = migrate_way(way, src, d, handle, count, round);
        }
        clean_destination(d, DRIVER_PREFIX);
    }
    driver->close(handle);

    printf("\nmigration of %ld sessions (%d users) from memory: into %s, "
           "median of %d rounds\n", count,
           count < MIGRATE_USERS ? (int)count : MIGRATE_USERS, d->url,
           MIGRATE_ROUNDS);
    printf("%-34s %11s\n", "how", "sessions/s");
    print_rate("obol_migrate (put_batch of 256)", rate[MIGRATE_OBOL_BATCH]);
    print_rate("obol_restore, one per call", rate[MIGRATE_OBOL_ONE]);
    print_rate("raw EVALSHA upsert, 256 pipelined",
               rate[MIGRATE_RAW_PIPELINE]);
    print_rate("driver put_batch (256 per call)", rate[MIGRATE_DRIVER_BATCH]);
    print_rate("raw EVALSHA upsert, one per call", rate[MIGRATE_RAW_ONE]);
    print_rate("driver put, one per call", rate[MIGRATE_DRIVER_ONE]);
    printf("ratios (median of %d rounds):\n", MIGRATE_ROUNDS);
    print_ratio_value("obol_migrate / obol_restore each",
                      median_ratio(rate[MIGRATE_OBOL_BATCH],
                                   rate[MIGRATE_OBOL_ONE], MIGRATE_ROUNDS),
                      5);
    print_ratio_value("driver put_batch / driver put",
                      median_ratio(rate[MIGRATE_DRIVER_BATCH],
                                   rate[MIGRATE_DRIVER_ONE], MIGRATE_ROUNDS),
                      0);
    print_ratio_value("raw pipelined / raw one per call",
                      median_ratio(rate[MIGRATE_RAW_PIPELINE],
                                   rate[MIGRATE_RAW_ONE], MIGRATE_ROUNDS),
                      0);
    print_ratio_value("driver put_batch / raw pipelined",
                      median_ratio(rate[MIGRATE_DRIVER_BATCH],
                                   rate[MIGRATE_RAW_PIPELINE],
                                   MIGRATE_ROUNDS),
                      0);
    print_ratio_value("obol_migrate / raw pipelined",
                      median_ratio(rate[MIGRATE_OBOL_BATCH],
                                   rate[MIGRATE_RAW_PIPELINE],
                                   MIGRATE_ROUNDS),
                      0);
}

/* The server: one master that owns every key. */
static void server_destination(destination *d)
{
    memset(d, 0, sizeof *d);
    d->url = server_url;
    d->masters[0] = server_target;
    d->master_count = 1;
}

/* The index in d->masters of cluster node i, added when it is new. */
static size_t master_slot_of(redis_cluster *c, size_t i, destination *d)
{
    uint16_t port = redis_cluster_port(c, i);

    for (size_t m = 0; m < d->master_count; m++)
        if (d->masters[m].port == port)
            return m;
    if (d->master_count == MAX_MASTERS)
        die("cluster", "too many masters");
    d->masters[d->master_count] = (raw_target){ "127.0.0.1", port };
    return d->master_count++;
}

/* The cluster's masters, and the master of each user's keys under
 * DRIVER_PREFIX (as CLUSTER SLOTS says). */
static void cluster_destination(redis_cluster *c, destination *d)
{
    memset(d, 0, sizeof *d);
    d->url = redis_cluster_url(c);
    for (size_t i = 0; i < redis_cluster_size(c); i++)
        if (redis_cluster_is_master(c, i) == 1)
            master_slot_of(c, i, d);
    for (long u = 0; u < MIGRATE_USERS; u++) {
        char key[128];
        int owner;

        snprintf(key, sizeof key, DRIVER_PREFIX ":{user-%04ld:full}:rec", u);
        owner = redis_cluster_owner(c, redis_cluster_key_slot(key,
                                                              strlen(key)));
        if (owner < 0)
            die("cluster", "a slot has no owner");
        d->user_master[u] = master_slot_of(c, (size_t)owner, d);
    }
}

/* ------------------------------------------------------------- Sentinel */

/* The Sentinel rows: the store on redis+sentinel:// and on redis:// to the
 * master the Sentinels name, both pool=1, on the same keys (the sessions
 * each get reads are written once, through the direct store). */
typedef struct sentinel_bench {
    store_target direct, sentinel;
} sentinel_bench;

enum {
    SENTINEL_DIRECT_GET, SENTINEL_GET,
    SENTINEL_DIRECT_UPSERT, SENTINEL_UPSERT,
    SENTINEL_PATH_COUNT
};

static void run_sentinel(void *arg, long ops, int print)
{
    sentinel_bench *sb = arg;
    path paths[SENTINEL_PATH_COUNT] = {
        [SENTINEL_DIRECT_GET] = { "obol_get (redis://)", store_setup,
                                  store_get, &sb->direct },
        [SENTINEL_GET] = { "obol_get (sentinel)", store_setup,
                           store_get, &sb->sentinel },
        [SENTINEL_DIRECT_UPSERT] = { "obol_upsert (redis://)",
                                     store_upsert_setup, store_upsert,
                                     &sb->direct },
        [SENTINEL_UPSERT] = { "obol_upsert (sentinel)",
                              store_upsert_setup, store_upsert,
                              &sb->sentinel },
    };
    series s[SENTINEL_PATH_COUNT];

    for (int k = 0; k < SENTINEL_PATH_COUNT; k++)
        s[k] = (series){ .p = &paths[k] };
    measure_group(&s[SENTINEL_DIRECT_GET], 2, 1, ops);
    measure_group(&s[SENTINEL_DIRECT_UPSERT], 2, 1, ops);
    for (int k = 0; k < SENTINEL_PATH_COUNT; k++) {
        if (print)
            print_row(&s[k], 1);
        free(s[k].latency_ns);
    }
    if (!print)
        return;
    printf("ratios, Sentinel / direct, 1 connection (median of %d rounds; "
           "target 1.00):\n", rounds);
    print_ratio("obol_get sentinel / direct", &s[SENTINEL_GET],
                &s[SENTINEL_DIRECT_GET], 0);
    print_ratio("obol_upsert sentinel / direct", &s[SENTINEL_UPSERT],
                &s[SENTINEL_DIRECT_UPSERT], 0);
}

static void bench_sentinel(redis_sentinel *rs, long ops)
{
    sentinel_bench sb = { 0 };
    char direct_url[256], user[32];
    int master = redis_sentinel_master(rs);
    obol_session *s;

    if (master < 0)
        die("sentinel", "the Sentinels name no master");
    snprintf(direct_url, sizeof direct_url,
             "redis://127.0.0.1:%u?password=env:OBOL_TEST_REDIS_PASSWORD",
             redis_harness_port(redis_sentinel_node(rs, (size_t)master)));
    sb.direct.store = open_store(direct_url, BENCH_PREFIX, 1);
    sb.sentinel.store = open_store(redis_sentinel_url(rs), BENCH_PREFIX, 1);
    snprintf(sb.direct.user, sizeof sb.direct.user, "sentinel");
    snprintf(sb.sentinel.user, sizeof sb.sentinel.user, "sentinel");
    store_user(sb.direct.user, 0, user, sizeof user);
    s = store_insert(sb.direct.store, user);
    if (s == NULL)
        die("prepare", "could not store a session");
    snprintf(sb.direct.get_ids[0], sizeof sb.direct.get_ids[0], "%s", s->id);
    snprintf(sb.sentinel.get_ids[0], sizeof sb.sentinel.get_ids[0], "%s",
             s->id);
    obol_session_free(s);

    printf("\nSentinel: master 127.0.0.1:%u with 2 replicas, 3 Sentinels; "
           "pool=1, %ld ops per row in %d rounds;\nredis:// goes straight "
           "to the master the Sentinels name\n",
           redis_harness_port(redis_sentinel_node(rs, (size_t)master)), ops,
           rounds);
    printf("%-26s %5s %7s %11s %9s %9s\n", "path", "conns", "threads",
           "ops/s", "p50 us", "p99 us");
    warm_up(run_sentinel, &sb, ops);
    run_sentinel(&sb, ops, 1);

    obol_store_close(sb.direct.store);
    obol_store_close(sb.sentinel.store);
}

/* ------------------------------------------------------------------ run */

static void usage(void)
{
    fprintf(stderr, "usage: redis_bench [-n OPS] [-r ROUNDS] [-m SESSIONS] "
                    "[-l | --lists] [-c | --cluster | --no-cluster] "
                    "[-s | --sentinel | --no-sentinel] "
                    "[redis://HOST:PORT]\n");
    exit(2);
}

int main(int argc, char **argv)
{
    long ops = 20000, migrate_sessions = 10000;
    int with_cluster = -1;    /* -1: when no URL is given */
    int with_sentinel = -1;   /* the same */
    redis_harness *redis = NULL;
    redis_cluster *cluster = NULL;
    const char *url = NULL;

    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "-n") == 0 && i + 1 < argc)
            ops = strtol(argv[++i], NULL, 10);
        else if (strcmp(argv[i], "-r") == 0 && i + 1 < argc)
            rounds = (int)strtol(argv[++i], NULL, 10);
        else if (strcmp(argv[i], "-m") == 0 && i + 1 < argc)
            migrate_sessions = strtol(argv[++i], NULL, 10);
        else if (strcmp(argv[i], "--cluster") == 0 ||
                 strcmp(argv[i], "-c") == 0)
            with_cluster = 1;
        else if (strcmp(argv[i], "--no-cluster") == 0)
            with_cluster = 0;
        else if (strcmp(argv[i], "--sentinel") == 0 ||
                 strcmp(argv[i], "-s") == 0)
            with_sentinel = 1;
        else if (strcmp(argv[i], "--no-sentinel") == 0)
            with_sentinel = 0;
        else if (strcmp(argv[i], "-l") == 0 ||
                 strcmp(argv[i], "--lists") == 0)
            lists_only = 1;
        else if (argv[i][0] == '-' || url != NULL)
            usage();
        else
            url = argv[i];
    }
    if (rounds < 1 || rounds > MAX_ROUNDS)
        die("-r", "rounds must be 1 to 64");
    if (ops < 100)
        ops = 100;
    if (migrate_sessions < 0)
        die("-m", "the number of sessions must not be negative");
    if (with_cluster < 0)
        with_cluster = url == NULL;
    if (with_sentinel < 0)
        with_sentinel = url == NULL;
    /* As servers do: a dead peer then fails raw hiredis's write() with
     * EPIPE instead of killing the process. The driver sends with
     * MSG_NOSIGNAL and needs nothing of the kind. */
    signal(SIGPIPE, SIG_IGN);
    for (int i = 0; i < RECORD_SIZE; i++)
        record_bytes[i] = (uint8_t)(i * 7 + 1);

    if (url != NULL) {
        if (parse_url(url) != 0)
            die(url, "expected redis://HOST[:PORT]");
    } else {
        redis = start_own_server();
        if (redis == NULL)
            die("redis-server", "could not start one (set REDIS_SERVER)");
        snprintf(server_url, sizeof server_url, "%s",
                 redis_harness_url(redis));
        bench_redis = redis;
        server_port = redis_harness_port(redis);
    }
    server_target = (raw_target){ server_host, server_port };

    if (lists_only)
        with_cluster = with_sentinel = 0, migrate_sessions = 0;
    load_driver();
    bench_server(ops);
    if (redis != NULL && redis_harness_tls_url(redis) != NULL && !lists_only)
        bench_tls(redis_harness_tls_url(redis), ops);
    if (with_cluster) {
        cluster = redis_cluster_start(NULL);
        if (cluster == NULL)
            die("redis cluster", "could not start one (see above)");
        bench_cluster(cluster, ops);
    }
    if (with_sentinel) {
        redis_sentinel *rs = redis_sentinel_start(NULL);

        if (rs == NULL)
            die("redis sentinel", "could not start one (see above)");
        bench_sentinel(rs, ops);
        redis_sentinel_stop(rs);
    }
    if (migrate_sessions > 0) {
        obol_store *src = make_source(migrate_sessions);
        destination d;

        if (!OBOL_DRIVER_HAS_SLOT(driver, put_batch, 1))
            die("redis", "the driver has no put_batch");
        server_destination(&d);
        bench_migration(src, &d, migrate_sessions);
        if (cluster != NULL) {
            cluster_destination(cluster, &d);
            bench_migration(src, &d, migrate_sessions);
        }
        obol_store_close(src);
    }

    redis_cluster_stop(cluster);
    redis_harness_stop(redis);
    return 0;
}

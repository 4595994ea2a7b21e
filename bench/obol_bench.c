/*
 * obol_bench: what obol costs on top of the raw backend, measured in one run.
 *
 *   obol_bench [ITERATIONS] [SYNC]
 *
 * Prints, for a session with a 256-byte payload:
 *   - encode+seal and verify+decode time per session, and making and
 *     checking a client token (ns/op);
 *   - single-thread LMDB get and upsert through obol, next to raw mdb_get
 *     and mdb_put of the same bytes in an environment with the same flags,
 *     as ops/s and as the ratio obol/raw;
 *   - a refresh: obol_refresh of a client token (chained, each call
 *     presenting the token the one before handed out, so that every call
 *     rotates), next to the same refresh by hand (obol_get,
 *     obol_session_refresh, obol_upsert) in alternating rounds, as ops/s,
 *     driver calls per call and the ratio obol_refresh / by hand.
 *   - what the counters of obol_store_stats() cost (docs/STATS.md): a read
 *     of the monotonic clock, counting one call (the two clock reads and
 *     three atomic additions every counted call makes) on one thread and on
 *     two at once, in stripes of their own and all on one stripe; then
 *     raw mdb_get, obol_get on a store opened with stats=0 and obol_get on
 *     one with stats=1 (the same environment and session), in alternating
 *     rounds, each obol row as the ratio obol/raw; and the same for upsert;
 *   - the read path next to its floor, on the thread's CPU time in
 *     alternating rounds (medians): the floor (a read transaction
 *     renewed from a reset one, as the LMDB driver keeps them, mdb_get
 *     of the sealed record, one keyed BLAKE2b-256 over its context and
 *     body as the seal defines it, crypto_verify_32 against the stored
 *     MAC: nothing copied, decoded or allocated), the same with the MAC
 *     key's state prepared once as the keyring keeps it, obol_get as the
 *     ratio to each, verify+decode+checks (obol_record_open), and
 *     obol_get's parts each alone: the store's checks, the driver's get
 *     and the free of its copy, obol_unseal, decode and session free, the
 *     stats calls.
 * SYNC is the LMDB driver's sync option (full, nometasync, off), applied to
 * both sides (default: full).
 * Each figure is the best of several rounds, since the machine is shared.
 */
#include "config.h"

#include <inttypes.h>
#include <lmdb.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include <sodium.h>

#include <obol/obol.h>

#include "codec_internal.h"
#include "record_internal.h"
#include "seal_internal.h"
#include "stats_internal.h"
#include "store_internal.h"
#include "tmpdir.h"

#define ROUNDS 5
#define PAYLOAD_BYTES 256

static const uint8_t bench_key[32] = "benchmark key, not for real use";
static long iterations = 20000;
static const char *sync_mode = "full";

static double now_ns(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e9 + (double)ts.tv_nsec;
}

/* Runs body(arg) `iterations` times per round; returns the best ns/op. */
static double best_ns_per_op(void (*body)(void *arg, long i), void *arg)
{
    double best = 0;

    for (int round = 0; round < ROUNDS; round++) {
        double start = now_ns();
        for (long i = 0; i < iterations; i++)
            body(arg, i);
        double per_op = (now_ns() - start) / (double)iterations;
        if (round == 0 || per_op < best)
            best = per_op;
    }
    return best;
}

static void die(const char *what, const char *why)
{
    fprintf(stderr, "obol_bench: %s: %s\n", what, why);
    exit(1);
}

/* ------------------------------------------------------------ the core */

typedef struct core_bench {
    obol_store *st;
    obol_session *session;
    obol_driver_key key;
    obol_record_buf sealed;
    char *token;              /* obol_refresh: the token to present next */
} core_bench;

static void seal_once(void *arg, long i)
{
    core_bench *b = arg;
    obol_record_buf buf;

    if (obol_record_seal(b->st, b->session, (uint64_t)i + 1, &buf, NULL) != OBOL_OK)
        die("seal", "failed");
    obol_record_buf_release(&buf);
}

static void open_once(void *arg, long i)
{
    core_bench *b = arg;
    obol_session *s;

    (void)i;
    if (obol_record_open(b->st, &b->key, b->sealed.data, b->sealed.len, &s,
                         NULL) != OBOL_OK)
        die("open", "failed");
    obol_session_free(s);
}

/* ------------------------------------------------------------ raw LMDB */

typedef struct raw_bench {
    MDB_env *env;
    MDB_dbi dbi;
    MDB_val key;
    MDB_val value;
} raw_bench;

static unsigned sync_flags(void)
{
    if (strcmp(sync_mode, "off") == 0)
        return MDB_NOSYNC;
    if (strcmp(sync_mode, "nometasync") == 0)
        return MDB_NOMETASYNC;
    return 0;
}

static void raw_open(raw_bench *b, const char *dir, const obol_record_buf *sealed)
{
    MDB_txn *txn;
    int rc;

    if ((rc = mdb_env_create(&b->env)) != 0 ||
        (rc = mdb_env_set_mapsize(b->env, (size_t)64 << 20)) != 0 ||
        (rc = mdb_env_open(b->env, dir, MDB_NOTLS | sync_flags(), 0600)) != 0 ||
        (rc = mdb_txn_begin(b->env, NULL, 0, &txn)) != 0 ||
        (rc = mdb_dbi_open(txn, NULL, 0, &b->dbi)) != 0 ||
        (rc = mdb_txn_commit(txn)) != 0)
        die("raw lmdb", mdb_strerror(rc));
    b->key.mv_data = "obol\0alice\0full\0session-id-of-22chars";
    b->key.mv_size = 38;
    b->value.mv_data = sealed->data;
    b->value.mv_size = sealed->len;
}

static void raw_put_once(void *arg, long i)
{
    raw_bench *b = arg;
    MDB_txn *txn;
    int rc;

    (void)i;
    if ((rc = mdb_txn_begin(b->env, NULL, 0, &txn)) != 0 ||
        (rc = mdb_put(txn, b->dbi, &b->key, &b->value, 0)) != 0 ||
        (rc = mdb_txn_commit(txn)) != 0)
        die("mdb_put", mdb_strerror(rc));
}

static void raw_get_once(void *arg, long i)
{
    raw_bench *b = arg;
    MDB_txn *txn;
    MDB_val value;
    int rc;

    (void)i;
    if ((rc = mdb_txn_begin(b->env, NULL, MDB_RDONLY, &txn)) != 0 ||
        (rc = mdb_get(txn, b->dbi, &b->key, &value)) != 0)
        die("mdb_get", mdb_strerror(rc));
    mdb_txn_abort(txn);
}

/* ------------------------------------------------------------ obol LMDB */

static void obol_upsert_once(void *arg, long i)
{
    core_bench *b = arg;
    obol_error err;

    (void)i;
    if (obol_upsert(b->st, b->session, &err) != OBOL_OK)
        die("obol_upsert", err.message);
}

static void obol_get_once(void *arg, long i)
{
    core_bench *b = arg;
    obol_session *s;
    obol_error err;

    (void)i;
    if (obol_get(b->st, b->session->id, "alice", NULL, &s, &err) != OBOL_OK)
        die("obol_get", err.message);
    obol_session_free(s);
}

/* A new session of "alice" with the bench's payload (not stored). */
static obol_session *bench_session(obol_store *st)
{
    obol_session *s = obol_session_new("alice", NULL, obol_store_now(st),
                                       86400 * 30, 86400);
    uint8_t payload[PAYLOAD_BYTES];

    for (size_t i = 0; i < sizeof payload; i++)
        payload[i] = (uint8_t)(i * 7);
    if (s == NULL || obol_session_set_payload(s, payload, sizeof payload) !=
                         OBOL_OK)
        die("session", "out of memory");
    return s;
}

/* A refresh by hand: read, rotate, write under the lock. */
static void refresh_by_hand_once(void *arg, long i)
{
    core_bench *b = arg;
    obol_session *s;
    obol_error err;

    (void)i;
    if (obol_get(b->st, b->session->id, "alice", NULL, &s, &err) != OBOL_OK ||
        obol_session_refresh(s, obol_store_now(b->st), 86400) != OBOL_OK ||
        obol_upsert(b->st, s, &err) != OBOL_OK)
        die("refresh by hand", err.message);
    obol_session_free(s);
}

/* obol_refresh of the current token; the new one is presented next. */
static void obol_refresh_once(void *arg, long i)
{
    core_bench *b = arg;
    char *next;
    obol_error err;

    (void)i;
    if (obol_refresh(b->st, b->token, 86400, NULL, &next, &err) != OBOL_OK)
        die("obol_refresh", err.message);
    free(b->token);
    b->token = next;
}

static void token_make_once(void *arg, long i)
{
    core_bench *b = arg;
    char *token;
    obol_error err;

    (void)i;
    if (obol_token_make(b->st, b->session, &token, &err) != OBOL_OK)
        die("obol_token_make", err.message);
    free(token);
}

static void token_parse_once(void *arg, long i)
{
    core_bench *b = arg;
    obol_token *t;
    obol_error err;

    (void)i;
    if (obol_token_parse(b->st, b->token, &t, &err) != OBOL_OK)
        die("obol_token_parse", err.message);
    obol_token_free(t);
}

/* A second stored session like the first, and its token for the first
 * obol_refresh: the refresh by hand rotates the first session in the
 * rounds in between, which would make a token of it stale. */
static void start_token_chain(core_bench *b)
{
    obol_session *s = bench_session(b->st);
    obol_error err;

    if (obol_upsert(b->st, s, &err) != OBOL_OK ||
        obol_token_make(b->st, s, &b->token, &err) != OBOL_OK)
        die("token", err.message);
    obol_session_free(s);
}

/* One of two rows compared in alternating rounds. */
typedef struct counted_row {
    void (*body)(void *arg, long i);
    double best_ns;
    double driver_calls_per_op;
} counted_row;

/* One round of row: ns/op, and the store's driver calls added up. */
static double counted_round(counted_row *row, core_bench *b,
                            uint64_t *calls)
{
    uint64_t before = b->st->driver_calls;
    double start = now_ns();

    for (long i = 0; i < iterations; i++)
        row->body(b, i);
    *calls += b->st->driver_calls - before;
    return (now_ns() - start) / (double)iterations;
}

/* Best ns/op of two rows whose rounds alternate (a then b, then b then
 * a), so that both see the same moments of a shared machine; and each
 * row's driver calls per operation. */
static void best_of_pair(counted_row rows[2], core_bench *b)
{
    uint64_t calls[2] = { 0, 0 };

    for (int round = 0; round < ROUNDS; round++) {
        for (int j = 0; j < 2; j++) {
            int k = round % 2 == 0 ? j : 1 - j;
            double per_op = counted_round(&rows[k], b, &calls[k]);
            if (round == 0 || per_op < rows[k].best_ns)
                rows[k].best_ns = per_op;
        }
    }
    for (int k = 0; k < 2; k++)
        rows[k].driver_calls_per_op = (double)calls[k] /
                                      (double)(iterations * ROUNDS);
}

/* ------------------------------------------------------------ stats */

static void clock_once(void *arg, long i)
{
    volatile uint64_t *sink = arg;

    (void)i;
    *sink = obol_stats_now_ns();
}

/* What every counted call adds: obol_stats_start() and
 * obol_stats_finish(), as obol_get makes them. */
static void count_once(void *arg, long i)
{
    obol_store *st = arg;

    (void)i;
    obol_stats_finish(st, OBOL_OP_GET, obol_stats_start(st), OBOL_OK);
}

static double thread_cpu_ns(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return (double)ts.tv_sec * 1e9 + (double)ts.tv_nsec;
}

/* Long enough (a fifth of a second or more) for the scheduler to put the
 * two threads on two CPUs at once, which is when a shared line bounces:
 * in a short run they take turns on one. */
#define THREADED_ITERATIONS (100 * iterations)
#define THREADED_ROUNDS 3

typedef struct counter_thread {
    void (*body)(void *arg, long i);
    obol_store *st;
    pthread_barrier_t *start_line;
    double cpu_ns;
} counter_thread;

/* The counters alone, without the clock reads: the three atomic
 * additions. */
static void add_once(void *arg, long i)
{
    obol_store *st = arg;

    obol_stats_count_call(st->stats, OBOL_OP_GET, 20000 + (uint64_t)(i & 7),
                          OBOL_OK);
}

static void *count_loop(void *arg)
{
    counter_thread *c = arg;
    double start;

    pthread_barrier_wait(c->start_line);
    start = thread_cpu_ns();
    for (long i = 0; i < THREADED_ITERATIONS; i++)
        c->body(c->st, i);
    c->cpu_ns = thread_cpu_ns() - start;
    return NULL;
}

/* Best CPU ns per counted call of `threads` threads counting at once on
 * st, in stripes of their own (stripes 8) or all on one (stripes 1). CPU
 * time, not wall time: a cache line bouncing between cores stalls the
 * thread on its CPU, while time waiting for a CPU on a busy machine is
 * not the counters' doing. */
static double count_in_threads(void (*body)(void *arg, long i),
                               obol_store *st, int threads, unsigned stripes)
{
    pthread_t ids[8];
    counter_thread counters[8];
    pthread_barrier_t start_line;
    double best = 0;

    obol_stats_use_stripes(st->stats, stripes);
    for (int round = 0; round < THREADED_ROUNDS; round++) {
        double per_op = 0;

        pthread_barrier_init(&start_line, NULL, (unsigned)threads);
        for (int t = 0; t < threads; t++) {
            counters[t] = (counter_thread){ body, st, &start_line, 0 };
            if (pthread_create(&ids[t], NULL, count_loop, &counters[t]) != 0)
                die("threads", "pthread_create failed");
        }
        for (int t = 0; t < threads; t++) {
            pthread_join(ids[t], NULL);
            per_op += counters[t].cpu_ns / (double)THREADED_ITERATIONS /
                      threads;
        }
        pthread_barrier_destroy(&start_line);
        if (round == 0 || per_op < best)
            best = per_op;
    }
    obol_stats_use_stripes(st->stats, OBOL_STATS_STRIPES);
    return best;
}

/* Rows measured in alternating rounds (forwards, then backwards), so that
 * all see the same moments of a shared machine, on the thread's CPU time
 * (these paths never wait for I/O with sync=off; on a busy machine, time
 * spent waiting for a CPU is nobody's cost). Each row keeps its ns/op of
 * every round. */
#define STATS_ROUNDS 9

typedef struct alternating_row {
    const char *name;
    void (*body)(void *arg, long i);
    void *arg;
    double ns[STATS_ROUNDS];
} alternating_row;

static void run_alternating(alternating_row *rows, int n)
{
    for (int round = 0; round < STATS_ROUNDS; round++) {
        for (int j = 0; j < n; j++) {
            alternating_row *row = &rows[round % 2 == 0 ? j : n - 1 - j];
            double start = thread_cpu_ns();

            for (long i = 0; i < iterations; i++)
                row->body(row->arg, i);
            row->ns[round] = (thread_cpu_ns() - start) / (double)iterations;
        }
    }
}

static int compare_doubles(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;

    return (x > y) - (x < y);
}

/* The median over the rounds of a's rate over b's in the same round. */
static double median_ratio(const alternating_row *a, const alternating_row *b)
{
    double r[STATS_ROUNDS];

    for (int round = 0; round < STATS_ROUNDS; round++)
        r[round] = b->ns[round] / a->ns[round];
    qsort(r, STATS_ROUNDS, sizeof r[0], compare_doubles);
    return r[STATS_ROUNDS / 2];
}

static double median_ns(const alternating_row *row)
{
    double sorted[STATS_ROUNDS];

    memcpy(sorted, row->ns, sizeof sorted);
    qsort(sorted, STATS_ROUNDS, sizeof sorted[0], compare_doubles);
    return sorted[STATS_ROUNDS / 2];
}

/* rows[0] is raw; each other row with its ratio obol/raw; then the last
 * over the one before it. Medians over the rounds. */
static void print_alternating(const alternating_row *rows, int n,
                              const char *last_over_previous)
{
    printf("%-28s %10.0f ops/s\n", rows[0].name, 1e9 / median_ns(&rows[0]));
    for (int k = 1; k < n; k++)
        printf("%-28s %10.0f ops/s   ratio %.3fx raw\n", rows[k].name,
               1e9 / median_ns(&rows[k]), median_ratio(&rows[k], &rows[0]));
    printf("  %-26s %10.3f\n", last_over_previous,
           median_ratio(&rows[n - 1], &rows[n - 2]));
}

static void bench_stats(core_bench *counted, core_bench *quiet,
                        raw_bench *raw)
{
    volatile uint64_t sink;
    alternating_row gets[3] = {
        { "raw mdb_get (txn each)", raw_get_once, raw, { 0 } },
        { "obol_get, stats=0", obol_get_once, quiet, { 0 } },
        { "obol_get, stats=1", obol_get_once, counted, { 0 } },
    };
    alternating_row puts[3] = {
        { "raw mdb_put (txn each)", raw_put_once, raw, { 0 } },
        { "obol_upsert, stats=0", obol_upsert_once, quiet, { 0 } },
        { "obol_upsert, stats=1", obol_upsert_once, counted, { 0 } },
    };

    printf("stats (obol_store_stats, docs/STATS.md):\n");
    printf("%-28s %10.1f ns/op\n", "clock_gettime(MONOTONIC)",
           best_ns_per_op(clock_once, (void *)&sink));
    printf("%-28s %10.1f ns/op\n", "count a call, 1 thread",
           best_ns_per_op(count_once, counted->st));
    printf("%-28s %10.1f ns/op per thread (CPU)\n",
           "count, 2 threads, 8 stripes",
           count_in_threads(count_once, counted->st, 2, OBOL_STATS_STRIPES));
    printf("%-28s %10.1f ns/op per thread (CPU)\n",
           "count, 2 threads, 1 stripe",
           count_in_threads(count_once, counted->st, 2, 1));
    printf("%-28s %10.1f ns/op\n", "counters alone, 1 thread",
           best_ns_per_op(add_once, counted->st));
    printf("%-28s %10.1f ns/op per thread (CPU)\n",
           "counters alone, 2 thr, 8 str",
           count_in_threads(add_once, counted->st, 2, OBOL_STATS_STRIPES));
    printf("%-28s %10.1f ns/op per thread (CPU)\n",
           "counters alone, 2 thr, 1 str",
           count_in_threads(add_once, counted->st, 2, 1));
    printf("CPU time, medians of %d alternating rounds:\n", STATS_ROUNDS);
    run_alternating(gets, 3);
    print_alternating(gets, 3, "obol_get stats=1 / stats=0");
    /* The refresh rows rotated the session: write from what is stored. */
    if (obol_get(counted->st, counted->session->id, "alice", NULL,
                 &quiet->session, NULL) != OBOL_OK)
        die("obol_get", "the session is gone");
    obol_session_free(counted->session);
    counted->session = quiet->session;
    run_alternating(puts, 3);
    print_alternating(puts, 3, "obol_upsert stats=1 / =0");
}

/* ------------------------------------------------------------ the floor */

/* What a signed read cannot do without: the stored bytes read in place
 * (a read transaction renewed from a reset one, as the LMDB driver keeps
 * them, and mdb_get), one keyed BLAKE2b-256 over the context
 * and the record, as the seal defines it (docs/FORMAT.md), and the
 * constant-time comparison with the stored MAC. Nothing is copied,
 * decoded or allocated. */
typedef struct floor_bench {
    raw_bench *raw;
    MDB_txn *txn;             /* reset between reads */
    obol_keyring *ring;
    uint8_t mac_key[32];
    uint8_t context[512];     /* format, key id and the four parts */
    size_t context_len;
} floor_bench;

static size_t put_part(uint8_t *p, obol_bytes part)
{
    for (int i = 0; i < 8; i++)
        p[i] = (uint8_t)((uint64_t)part.len >> (8 * i));
    memcpy(p + 8, part.data, part.len);
    return 8 + part.len;
}

/* The MAC key of key id 1 as the keyring derives it, and the context of
 * the bench's session as the seal absorbs it. */
static void floor_setup(floor_bench *f, raw_bench *raw, const core_bench *b,
                        const uint8_t key[32])
{
    obol_bytes parts[4] = { b->st->prefix, b->key.user_id, b->key.type,
                            b->key.id };
    size_t n = 5;

    f->raw = raw;
    if (mdb_txn_begin(raw->env, NULL, MDB_RDONLY, &f->txn) != 0)
        die("floor", "no read transaction");
    mdb_txn_reset(f->txn);
    f->ring = b->st->keys;
    crypto_kdf_derive_from_key(f->mac_key, sizeof f->mac_key, 1, "obol_mac",
                               key);
    f->context[0] = OBOL_SEAL_MAC;
    f->context[1] = f->context[2] = f->context[3] = 0;
    f->context[4] = 1;
    for (int k = 0; k < 4; k++)
        n += put_part(f->context + n, parts[k]);
    f->context_len = n;
}

/* One read at the floor: the MAC starts from the key (keyed) or from
 * the state the keyring prepared for it once, copied, as obol_unseal()
 * does; the key block is compressed in either case (lib/keys.c). */
static void floor_read(floor_bench *f, int prepared)
{
    raw_bench *b = f->raw;
    crypto_generichash_state state;
    uint8_t mac[32];
    MDB_val value;
    int rc;

    if ((rc = mdb_txn_renew(f->txn)) != 0 ||
        (rc = mdb_get(f->txn, b->dbi, &b->key, &value)) != 0)
        die("mdb_get", mdb_strerror(rc));
    if (!prepared)
        crypto_generichash_init(&state, f->mac_key, sizeof f->mac_key, 32);
    else if (obol_keyring_mac_state(f->ring, 1, &state, NULL) != OBOL_OK)
        die("floor", "no key 1");
    crypto_generichash_update(&state, f->context, f->context_len);
    crypto_generichash_update(&state, (const uint8_t *)value.mv_data +
                              OBOL_SEAL_HEADER_BYTES,
                              value.mv_size - OBOL_SEAL_HEADER_BYTES);
    crypto_generichash_final(&state, mac, sizeof mac);
    if (crypto_verify_32(mac, (const uint8_t *)value.mv_data + 5) != 0)
        die("floor", "the MAC does not verify");
    mdb_txn_reset(f->txn);
}

static void floor_once(void *arg, long i)
{
    (void)i;
    floor_read(arg, 0);
}

static void floor_prepared_once(void *arg, long i)
{
    (void)i;
    floor_read(arg, 1);
}

/* The parts of obol_get, each alone, for the breakdown. */
static void prepare_once(void *arg, long i)
{
    core_bench *b = arg;
    obol_driver_key key;

    (void)i;
    if (obol_store_prepare(b->st, "get", b->session->id, 1, "alice", NULL,
                           &key, NULL) != OBOL_OK)
        die("prepare", "failed");
}

static void driver_get_once(void *arg, long i)
{
    core_bench *b = arg;
    uint8_t *bytes;
    size_t len;

    (void)i;
    if (b->st->driver->get(b->st->handle, &b->key, &bytes, &len, NULL) !=
        OBOL_OK)
        die("driver get", "failed");
    free(bytes);
}

static void verify_once(void *arg, long i)
{
    core_bench *b = arg;
    obol_seal_context ctx = { b->st->prefix, b->key.user_id, b->key.type,
                              b->key.id };
    obol_unsealed payload;

    (void)i;
    if (obol_unseal(b->st->keys, 0, &ctx, b->sealed.data, b->sealed.len,
                    &payload, NULL) != OBOL_OK)
        die("verify", "failed");
}

static void decode_once(void *arg, long i)
{
    core_bench *b = arg;
    obol_session *s;
    size_t header = obol_seal_payload_offset(OBOL_SEAL_MAC);

    (void)i;
    if (obol_codec_decode(b->sealed.data + header, b->sealed.len - header, &s,
                          NULL, 0) != OBOL_OK)
        die("decode", "failed");
    obol_session_free(s);
}

/* The driver's get and the open of what it read, without the store:
 * next to the two alone, what they cost each other (the allocator's and
 * the caches' state one leaves to the other). */
static void get_then_open_once(void *arg, long i)
{
    core_bench *b = arg;
    uint8_t *bytes;
    size_t len;
    obol_session *s;

    (void)i;
    if (b->st->driver->get(b->st->handle, &b->key, &bytes, &len, NULL) !=
        OBOL_OK)
        die("driver get", "failed");
    if (obol_record_open(b->st, &b->key, bytes, len, &s, NULL) != OBOL_OK)
        die("open", "x");
    obol_session_free(s);
    free(bytes);
}

static void stats_once(void *arg, long i)
{
    core_bench *b = arg;

    (void)i;
    obol_stats_finish(b->st, OBOL_OP_GET, obol_stats_start(b->st), OBOL_OK);
}

enum { FLOOR, FLOOR_PREPARED, OBOL_GET_ROW, OPEN, PREPARE, DRIVER_GET, VERIFY, DECODE,
       STATS, GET_THEN_OPEN, READ_ROWS };

/* obol_get next to its floor, and what its time goes to: CPU time,
 * medians of alternating rounds. The driver's get reads the session
 * obol_upsert stored; the others read the sealed record of core.sealed,
 * the same bytes. */
static void bench_floor(core_bench *b, raw_bench *raw, const uint8_t key[32])
{
    floor_bench f;
    alternating_row rows[READ_ROWS] = {
        [FLOOR] = { "floor: mdb_get + keyed MAC", floor_once, &f, { 0 } },
        [FLOOR_PREPARED] = { "floor, prepared key state", floor_prepared_once,
                             &f, { 0 } },
        [OBOL_GET_ROW] = { "obol_get on lmdb", obol_get_once, b, { 0 } },
        [OPEN] = { "verify+decode+checks", open_once, b, { 0 } },
        [PREPARE] = { "  ids, signing key", prepare_once, b, { 0 } },
        [DRIVER_GET] = { "  driver get (+ free)", driver_get_once, b, { 0 } },
        [VERIFY] = { "  verify (obol_unseal)", verify_once, b, { 0 } },
        [DECODE] = { "  decode (+ session free)", decode_once, b, { 0 } },
        [STATS] = { "  stats start+finish", stats_once, b, { 0 } },
        [GET_THEN_OPEN] = { "driver get, then open", get_then_open_once,
                            b, { 0 } },
    };
    double parts = 0;

    floor_setup(&f, raw, b, key);
    run_alternating(rows, READ_ROWS);
    mdb_txn_abort(f.txn);
    printf("read path, CPU time, medians of %d alternating rounds:\n",
           STATS_ROUNDS);
    printf("%-28s %10.0f ops/s %8.0f ns\n", rows[FLOOR].name,
           1e9 / median_ns(&rows[FLOOR]), median_ns(&rows[FLOOR]));
    printf("%-28s %10.0f ops/s %8.0f ns\n", rows[FLOOR_PREPARED].name,
           1e9 / median_ns(&rows[FLOOR_PREPARED]),
           median_ns(&rows[FLOOR_PREPARED]));
    printf("%-28s %10.0f ops/s %8.0f ns   ratio %.3fx floor, %.3fx "
           "prepared floor\n",
           rows[OBOL_GET_ROW].name, 1e9 / median_ns(&rows[OBOL_GET_ROW]),
           median_ns(&rows[OBOL_GET_ROW]),
           median_ratio(&rows[OBOL_GET_ROW], &rows[FLOOR]),
           median_ratio(&rows[OBOL_GET_ROW], &rows[FLOOR_PREPARED]));
    printf("%-28s %10.0f ns/op\n", rows[OPEN].name, median_ns(&rows[OPEN]));
    printf("obol_get's parts, each alone (ns/op):\n");
    for (int k = PREPARE; k <= STATS; k++) {
        printf("%-28s %10.0f\n", rows[k].name, median_ns(&rows[k]));
        parts += median_ns(&rows[k]);
    }
    printf("%-28s %10.0f   (obol_get %.0f)\n", "  sum of the parts", parts,
           median_ns(&rows[OBOL_GET_ROW]));
    printf("%-28s %10.0f   (alone %.0f + %.0f)\n", rows[GET_THEN_OPEN].name,
           median_ns(&rows[GET_THEN_OPEN]), median_ns(&rows[DRIVER_GET]),
           median_ns(&rows[OPEN]));
}

/* A second store on the same environment and prefix, opened with
 * stats=0, reading and writing the same session as b. */
static void setup_quiet(core_bench *quiet, const core_bench *b,
                        const char *dir)
{
    const uint8_t *key = bench_key;
    char url[4200];
    obol_error err;

    snprintf(url, sizeof url, "lmdb://%s/obol?sync=%s&stats=0", dir,
             sync_mode);
    if (obol_store_open(url, &quiet->st, &err) != OBOL_OK)
        die("open", err.message);
    obol_store_add_key(quiet->st, 1, key, 1, NULL);
    quiet->session = b->session;
}

static void setup_core(core_bench *b, const char *dir)
{
    const uint8_t *key = bench_key;
    char url[4200];
    obol_error err;

    snprintf(url, sizeof url, "lmdb://%s/obol?sync=%s", dir, sync_mode);
    if (obol_store_open(url, &b->st, &err) != OBOL_OK)
        die("open", err.message);
    obol_store_add_key(b->st, 1, key, 1, NULL);
    b->session = bench_session(b->st);
    b->key.user_id = (obol_bytes){ (const uint8_t *)"alice", 5 };
    b->key.type = (obol_bytes){ (const uint8_t *)"full", 4 };
    b->key.id = (obol_bytes){ (const uint8_t *)b->session->id, strlen(b->session->id) };
    if (obol_record_seal(b->st, b->session, 1, &b->sealed, &err) != OBOL_OK)
        die("seal", err.message);
}

int main(int argc, char **argv)
{
    core_bench core = { 0 }, quiet = { 0 };
    raw_bench raw = { 0 };
    char *dir = tmpdir_make("bench");
    char raw_dir[4200];
    double seal_ns, open_ns, raw_put, raw_get, obol_put, obol_get_ns;
    double make_ns, parse_ns;
    counted_row refresh_rows[2] = { { refresh_by_hand_once, 0, 0 },
                                    { obol_refresh_once, 0, 0 } };

    if (argc > 1)
        iterations = strtol(argv[1], NULL, 10);
    if (argc > 2)
        sync_mode = argv[2];
    if (dir == NULL || iterations <= 0)
        die("setup", "bad arguments or no temporary directory");
    setup_core(&core, dir);
    snprintf(raw_dir, sizeof raw_dir, "%s/raw", dir);
    if (mkdir(raw_dir, 0700) != 0)
        die("mkdir", raw_dir);
    raw_open(&raw, raw_dir, &core.sealed);

    seal_ns = best_ns_per_op(seal_once, &core);
    open_ns = best_ns_per_op(open_once, &core);
    printf("session with a %d-byte payload, sealed record of %zu bytes, "
           "%ld iterations x %d rounds (best), sync=%s\n",
           PAYLOAD_BYTES, core.sealed.len, iterations, ROUNDS, sync_mode);
    printf("%-28s %10.0f ns/op\n", "encode+seal", seal_ns);
    printf("%-28s %10.0f ns/op\n", "verify+decode", open_ns);

    raw_put = best_ns_per_op(raw_put_once, &raw);
    obol_upsert_once(&core, 0);
    obol_put = best_ns_per_op(obol_upsert_once, &core);
    raw_get = best_ns_per_op(raw_get_once, &raw);
    obol_get_ns = best_ns_per_op(obol_get_once, &core);
    printf("%-28s %10.0f ops/s\n", "raw mdb_put (txn each)", 1e9 / raw_put);
    printf("%-28s %10.0f ops/s   ratio %.2fx raw\n", "obol_upsert on lmdb",
           1e9 / obol_put, raw_put / obol_put);
    printf("%-28s %10.0f ops/s\n", "raw mdb_get (txn each)", 1e9 / raw_get);
    printf("%-28s %10.0f ops/s   ratio %.2fx raw\n", "obol_get on lmdb",
           1e9 / obol_get_ns, raw_get / obol_get_ns);

    /* Before the refresh rows rotate the stored session: obol_get then
     * reads a record of the size of the floor's. */
    bench_floor(&core, &raw, bench_key);

    start_token_chain(&core);
    make_ns = best_ns_per_op(token_make_once, &core);
    parse_ns = best_ns_per_op(token_parse_once, &core);
    best_of_pair(refresh_rows, &core);
    printf("%-28s %10.0f ns/op\n", "obol_token_make", make_ns);
    printf("%-28s %10.0f ns/op\n", "obol_token_parse", parse_ns);
    printf("%-28s %10.0f ops/s   %.2f driver calls/op\n",
           "get+refresh+upsert by hand", 1e9 / refresh_rows[0].best_ns,
           refresh_rows[0].driver_calls_per_op);
    printf("%-28s %10.0f ops/s   %.2f driver calls/op   ratio %.2fx by "
           "hand\n", "obol_refresh (chained)", 1e9 / refresh_rows[1].best_ns,
           refresh_rows[1].driver_calls_per_op,
           refresh_rows[0].best_ns / refresh_rows[1].best_ns);

    setup_quiet(&quiet, &core, dir);
    bench_stats(&core, &quiet, &raw);
    obol_store_close(quiet.st);

    free(core.token);
    obol_record_buf_release(&core.sealed);
    obol_session_free(core.session);
    obol_store_close(core.st);
    mdb_env_close(raw.env);
    tmpdir_remove(dir);
    return 0;
}

/* The store's counters and their snapshot; see stats_internal.h. */
#include "config.h"

#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "errors_internal.h"
#include "loader_internal.h"
#include "stats_internal.h"
#include "store_internal.h"

/* The counters of one operation in one stripe. */
typedef struct op_counters {
    uint64_t outcomes[OBOL_STATS_OUTCOMES];
    uint64_t errors[OBOL_STATS_ERRORS];
    uint64_t other;
    uint64_t latency[OBOL_STATS_BUCKETS];
    uint64_t latency_ns;
} op_counters;

/* One thread's copy of every counter, on cache lines of its own. */
typedef struct stripe {
    _Alignas(64) op_counters ops[OBOL_OP_COUNT];
    uint64_t refused[OBOL_REFUSED_COUNT];
    uint64_t unsigned_accepted;
    uint64_t conflicts;
} stripe;

struct obol_stats_state {
    stripe stripes[OBOL_STATS_STRIPES];
    unsigned stripe_mask;
};

/* The stripe of this thread, picked on its first count: threads take
 * stripes in turn, so that up to OBOL_STATS_STRIPES threads never share
 * one. */
static _Thread_local unsigned thread_stripe = UINT_MAX;
static unsigned next_stripe;

static stripe *my_stripe(obol_stats_state *stats)
{
    if (thread_stripe == UINT_MAX)
        thread_stripe = __atomic_fetch_add(&next_stripe, 1, __ATOMIC_RELAXED);
    return &stats->stripes[thread_stripe & stats->stripe_mask];
}

static void count(uint64_t *counter, uint64_t n)
{
    __atomic_add_fetch(counter, n, __ATOMIC_RELAXED);
}

static uint64_t read_counter(const uint64_t *counter)
{
    return __atomic_load_n(counter, __ATOMIC_RELAXED);
}

obol_stats_state *obol_stats_new(void)
{
    obol_stats_state *stats = aligned_alloc(64, sizeof *stats);

    if (stats == NULL)
        return NULL;
    memset(stats, 0, sizeof *stats);
    stats->stripe_mask = OBOL_STATS_STRIPES - 1;
    return stats;
}

void obol_stats_free(obol_stats_state *stats)
{
    free(stats);
}

void obol_stats_use_stripes(obol_stats_state *stats, unsigned n)
{
    stats->stripe_mask = n >= 1 && n <= OBOL_STATS_STRIPES ? n - 1 : 0;
}

/* ------------------------------------------------------------ counting */

uint64_t obol_stats_now_ns(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* Calls this thread started on counting stores, for the timing sample. */
static _Thread_local unsigned thread_calls;
static unsigned sample_every = OBOL_STATS_SAMPLE;

/* n is rounded down to a power of two, so that the hot path masks
 * instead of dividing. */
void obol_stats_time_every(unsigned n)
{
    unsigned p = 1;

    while (p <= n / 2)
        p *= 2;
    __atomic_store_n(&sample_every, p, __ATOMIC_RELAXED);
}

uint64_t obol_stats_start(const obol_store *st)
{
    uint64_t now;

    if (st == NULL || st->stats == NULL)
        return 0;
    /* Two clock reads are most of what counting costs (tens of
     * nanoseconds each in a virtual machine), so only every
     * OBOL_STATS_SAMPLE-th call of a thread, its first included, is
     * timed; every call is counted. */
    if ((thread_calls++ & (__atomic_load_n(&sample_every, __ATOMIC_RELAXED) - 1)) != 0)
        return OBOL_STATS_UNTIMED;
    now = obol_stats_now_ns();
    return now != OBOL_STATS_UNTIMED ? now : now - 1;
}

unsigned obol_stats_bucket_of(uint64_t ns)
{
    /* Rounded up, as the bounds are "at most". */
    uint64_t us = ns / 1000 + (ns % 1000 != 0);
    unsigned k;

    if (us <= 1)
        return 0;
    k = 64u - (unsigned)__builtin_clzll(us - 1);
    return k < OBOL_STATS_BUCKETS - 1 ? k : OBOL_STATS_BUCKETS - 1;
}

static uint64_t *status_counter(op_counters *c, int status)
{
    if (status >= 0 && status < OBOL_STATS_OUTCOMES)
        return &c->outcomes[status];
    if (status < 0 && status >= -OBOL_STATS_ERRORS)
        return &c->errors[OBOL_STATS_ERROR_INDEX(status)];
    return &c->other;
}

void obol_stats_count_call(obol_stats_state *stats, int op, uint64_t took_ns,
                           int status)
{
    op_counters *c = &my_stripe(stats)->ops[op];

    count(status_counter(c, status), 1);
    count(&c->latency[obol_stats_bucket_of(took_ns)], 1);
    count(&c->latency_ns, took_ns);
}

void obol_stats_count_status(obol_stats_state *stats, int op, int status)
{
    count(status_counter(&my_stripe(stats)->ops[op], status), 1);
}

int obol_stats_finish(obol_store *st, int op, uint64_t started, int status)
{
    if (st == NULL || st->stats == NULL)
        return status;
    if (started == OBOL_STATS_UNTIMED)
        obol_stats_count_status(st->stats, op, status);
    else
        obol_stats_count_call(st->stats, op, obol_stats_now_ns() - started,
                              status);
    return status;
}

void obol_stats_refused(obol_store *st, int reason)
{
    if (st->stats != NULL)
        count(&my_stripe(st->stats)->refused[reason], 1);
}

void obol_stats_unsigned_accepted(obol_store *st)
{
    if (st->stats != NULL)
        count(&my_stripe(st->stats)->unsigned_accepted, 1);
}

void obol_stats_conflict(obol_store *st)
{
    if (st->stats != NULL)
        count(&my_stripe(st->stats)->conflicts, 1);
}

/* ------------------------------------------------------------ snapshot */

/* calls is what the statuses add up to, timed what the histogram does:
 * each is read once, so the two always agree with what was counted. */
static void add_op(obol_op_stats *out, const op_counters *c)
{
    for (int i = 0; i < OBOL_STATS_OUTCOMES; i++) {
        uint64_t n = read_counter(&c->outcomes[i]);

        out->outcomes[i] += n;
        out->calls += n;
    }
    for (int i = 0; i < OBOL_STATS_ERRORS; i++) {
        uint64_t n = read_counter(&c->errors[i]);

        out->errors[i] += n;
        out->calls += n;
    }
    {
        uint64_t other = read_counter(&c->other);

        out->other += other;
        out->calls += other;
    }
    for (int k = 0; k < OBOL_STATS_BUCKETS; k++) {
        uint64_t n = read_counter(&c->latency[k]);

        out->latency[k] += n;
        out->timed += n;
    }
    out->latency_ns += read_counter(&c->latency_ns);
}

static void add_stripe(obol_stats *out, const stripe *s)
{
    for (int op = 0; op < OBOL_OP_COUNT; op++)
        add_op(&out->ops[op], &s->ops[op]);
    for (int r = 0; r < OBOL_REFUSED_COUNT; r++)
        out->refused[r] += read_counter(&s->refused[r]);
    out->unsigned_accepted += read_counter(&s->unsigned_accepted);
    out->conflicts += read_counter(&s->conflicts);
}

static void copy_driver_stats(obol_stats *out, const obol_driver_stats *d)
{
    out->has_driver_stats = 1;
    out->connects = d->connects;
    out->reconnects = d->reconnects;
    out->connect_failures = d->connect_failures;
    out->pool_waits = d->pool_waits;
    out->pool_timeouts = d->pool_timeouts;
    out->moved = d->moved;
    out->asked = d->asked;
    out->topology_refreshes = d->topology_refreshes;
    out->topology_refresh_failures = d->topology_refresh_failures;
}

/* The driver's counters (ABI 1.4), when it keeps any. Not counted as a
 * driver call: it is no round trip. */
static int driver_stats(obol_store *st, obol_stats *out, obol_error *err)
{
    obol_driver_stats d;
    int status;

    if (!OBOL_DRIVER_HAS_SLOT(st->driver, stats, 4))
        return OBOL_OK;
    memset(&d, 0, sizeof d);
    d.struct_size = sizeof d;
    if (st->serialize_calls)
        pthread_mutex_lock(&st->call_lock);
    status = st->driver->stats(st->handle, &d, err);
    if (st->serialize_calls)
        pthread_mutex_unlock(&st->call_lock);
    if (status == OBOL_OK)
        copy_driver_stats(out, &d);
    return status;
}

int obol_store_stats(obol_store *st, obol_stats *out, size_t size,
                     obol_error *err)
{
    obol_stats *all;
    size_t filled = size < sizeof *all ? size : sizeof *all;
    int status;

    if (st == NULL || out == NULL || size < sizeof out->struct_size)
        return obol_set_error(err, OBOL_ERR_INVALID, "stats: store and out "
                              "must be set, and size hold struct_size");
    /* A whole snapshot is made here, then as much as the caller's struct
     * holds is copied. */
    all = calloc(1, sizeof *all);
    if (all == NULL)
        return obol_set_error(err, OBOL_ERR_NOMEM, "stats: out of memory");
    all->enabled = st->stats != NULL;
    all->since_open_ms = (obol_stats_now_ns() - st->opened_ns) / 1000000u;
    all->op_count = OBOL_OP_COUNT;
    all->refusal_count = OBOL_REFUSED_COUNT;
    for (int i = 0; st->stats != NULL && i < OBOL_STATS_STRIPES; i++)
        add_stripe(all, &st->stats->stripes[i]);
    status = driver_stats(st, all, err);
    all->struct_size = filled;
    memset(out, 0, size);
    memcpy(out, all, filled);
    free(all);
    if (status == OBOL_OK)
        obol_clear_error(err);
    return status;
}

/* --------------------------------------------------------------- names */

const char *obol_op_name(int op)
{
    static const char *const names[OBOL_OP_COUNT] = {
        [OBOL_OP_GET] = "get",
        [OBOL_OP_UPSERT] = "upsert",
        [OBOL_OP_DELETE] = "delete",
        [OBOL_OP_GET_ALL] = "get_all",
        [OBOL_OP_DELETE_ALL] = "delete_all",
        [OBOL_OP_DELETE_EVERYWHERE] = "delete_everywhere",
        [OBOL_OP_PRUNE] = "prune",
        [OBOL_OP_REFRESH] = "refresh",
        [OBOL_OP_SCAN] = "scan",
        [OBOL_OP_RESTORE] = "restore",
        [OBOL_OP_MIGRATE] = "migrate",
        [OBOL_OP_REKEY] = "rekey",
        [OBOL_OP_COUNT_KEYS] = "count_keys",
    };

    return op >= 0 && op < OBOL_OP_COUNT ? names[op] : NULL;
}

const char *obol_refusal_name(int reason)
{
    static const char *const names[OBOL_REFUSED_COUNT] = {
        [OBOL_REFUSED_BAD_SEAL] = "bad_seal",
        [OBOL_REFUSED_UNKNOWN_KEY] = "unknown_key",
        [OBOL_REFUSED_UNSIGNED] = "unsigned",
        [OBOL_REFUSED_OVERSIZED] = "oversized",
        [OBOL_REFUSED_UNDECODABLE] = "undecodable",
        [OBOL_REFUSED_MISFILED] = "misfiled",
    };

    return reason >= 0 && reason < OBOL_REFUSED_COUNT ? names[reason] : NULL;
}

const char *obol_status_name(int status)
{
    switch (status) {
    case OBOL_OK: return "ok";
    case OBOL_NOT_FOUND: return "not_found";
    case OBOL_CONFLICT: return "conflict";
    case OBOL_JUST_ROTATED: return "just_rotated";
    case OBOL_REUSE_DETECTED: return "reuse_detected";
    case OBOL_ERR_INVALID: return "invalid";
    case OBOL_ERR_DRIVER: return "driver";
    case OBOL_ERR_BACKEND: return "backend";
    case OBOL_ERR_TIMEOUT: return "timeout";
    case OBOL_ERR_NOMEM: return "nomem";
    case OBOL_ERR_KEY: return "key";
    case OBOL_ERR_TOO_LARGE: return "too_large";
    case OBOL_ERR_CORRUPT: return "corrupt";
    case OBOL_ERR_NO_STORE: return "no_store";
    case OBOL_ERR_CANCELLED: return "cancelled";
    default: return "other";
    }
}

/* ----------------------------------------------------------- quantiles */

/* Bucket k spans (lower, upper] microseconds. */
static double bucket_lower_us(int k)
{
    return k == 0 ? 0 : (double)(1ull << (k - 1));
}

double obol_op_stats_quantile(const obol_op_stats *op, double q)
{
    uint64_t total = 0, below = 0;
    double rank;

    if (op == NULL)
        return 0;
    for (int k = 0; k < OBOL_STATS_BUCKETS; k++)
        total += op->latency[k];
    if (total == 0)
        return 0;
    q = q > 0 ? (q < 1 ? q : 1) : 0;   /* NaN too becomes 0 */
    rank = q * (double)total;
    for (int k = 0; k < OBOL_STATS_BUCKETS; k++) {
        uint64_t n = op->latency[k];
        double lower = bucket_lower_us(k);

        if (n > 0 && (double)(below + n) >= rank) {
            if (k == OBOL_STATS_BUCKETS - 1)
                return lower;
            return lower + ((double)(1ull << k) - lower) *
                               (rank - (double)below) / (double)n;
        }
        below += n;
    }
    return bucket_lower_us(OBOL_STATS_BUCKETS - 1);
}

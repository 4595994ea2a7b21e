/*
 * The counters behind obol_store_stats(): what every operation counts as
 * it returns, and what a read counts when it refuses a record.
 *
 * The hot path is one relaxed atomic addition, and for one call in
 * OBOL_STATS_SAMPLE of each thread two clock reads and two more. The
 * counters are striped: a thread counts in one of OBOL_STATS_STRIPES
 * copies, picked once per thread in turn, each on cache lines of its own,
 * so that threads on different cores do not bounce one line between them
 * on every call. A snapshot adds the stripes up.
 */
#ifndef OBOL_STATS_INTERNAL_H
#define OBOL_STATS_INTERNAL_H

#include <stdint.h>

#include <obol/obol.h>

#define OBOL_STATS_STRIPES 8

/* One call in this many of each thread is timed (its first included); a
 * power of two. */
#define OBOL_STATS_SAMPLE 8

/* What obol_stats_start() returns for a call it does not time. */
#define OBOL_STATS_UNTIMED UINT64_MAX

typedef struct obol_stats_state obol_stats_state;

/* Zeroed counters; NULL when out of memory. */
obol_stats_state *obol_stats_new(void);

void obol_stats_free(obol_stats_state *stats);

/* The monotonic clock in nanoseconds. */
uint64_t obol_stats_now_ns(void);

/* The start of a call on st: the clock for a call that is timed,
 * OBOL_STATS_UNTIMED for one that is only counted, 0 when st counts
 * nothing (NULL, or opened with stats=0). */
uint64_t obol_stats_start(const obol_store *st);

/* Counts a call of op that started at started (obol_stats_start()) and
 * returned status; returns status, so that an operation can end with
 * `return obol_stats_finish(st, OP, started, real_call(...))`. */
int obol_stats_finish(obol_store *st, int op, uint64_t started, int status);

/* The histogram bucket of a call that took ns: the k with
 * 2^(k-1) us < ns <= 2^k us, 0 for at most 1 us, the last one past
 * 2^(OBOL_STATS_BUCKETS - 2) us. */
unsigned obol_stats_bucket_of(uint64_t ns);

/* A call of op that returned status and was not timed. */
void obol_stats_count_status(obol_stats_state *stats, int op, int status);

/* What obol_stats_finish() counts once it has read the clock: a call of
 * op that took took_ns and returned status. */
void obol_stats_count_call(obol_stats_state *stats, int op, uint64_t took_ns,
                           int status);

/* A record a read refused for reason (OBOL_REFUSED_*). */
void obol_stats_refused(obol_store *st, int reason);

/* An unsigned record a read accepted (allow_unsigned=1). */
void obol_stats_unsigned_accepted(obol_store *st);

/* A compare-and-set lost to another writer. */
void obol_stats_conflict(obol_store *st);

/* For tests and benchmarks: time one call in n of each thread from now
 * on (1: every call; n is rounded down to a power of two), instead of
 * OBOL_STATS_SAMPLE. */
void obol_stats_time_every(unsigned n);

/* For the benchmarks: count in the first n stripes only (n a power of
 * two, at most OBOL_STATS_STRIPES; 1 puts every thread on one line). */
void obol_stats_use_stripes(obol_stats_state *stats, unsigned n);

#endif

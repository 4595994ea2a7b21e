/*
 * A mixed load on a store, for fault tests: STORE_LOAD_THREADS threads,
 * each with users of its own, inserting, refreshing, deleting and reading
 * sessions through the public API while the test breaks the backend.
 *
 *     store_load *load = store_load_start(st, seed);
 *     store_load_set_phase(load, STALLED);    // before or after a fault
 *     ... store_load_stats(load, thread, STALLED) ...
 *     store_load_stop(load);
 *     store_load_check(load);                 // everything acknowledged?
 *     store_load_free(load);
 *
 * Since each user has one writer, each thread knows what the store must
 * hold: every session's last acknowledged write (OBOL_OK), deletes
 * included. A write that failed with a message saying its outcome is
 * unknown may have run, now or later (a stalled server runs it when it
 * wakes up): its session then holds either state and is not written
 * again. A write that failed otherwise must not have run. Every read
 * that succeeds is checked against this, under load and in
 * store_load_check(); what does not match is a violation.
 *
 * Every call is timed and counted under the phase it started in (a small
 * number the test chooses, below STORE_LOAD_PHASES). The threads never
 * assert: the test reads the counts and the violations from its own
 * thread.
 */
#ifndef OBOL_TESTS_STORE_LOAD_H
#define OBOL_TESTS_STORE_LOAD_H

#include <obol/obol.h>

enum {
    STORE_LOAD_THREADS = 4,
    STORE_LOAD_USERS = 4,        /* per thread */
    STORE_LOAD_PHASES = 16
};

typedef struct store_load store_load;

/* What the calls that started in one phase did (one thread's, or every
 * thread's with store_load_totals()). */
typedef struct store_load_stats {
    long calls;           /* started in the phase */
    double slowest_ms;    /* the longest of them */
    char slowest[288];    /* which it was: operation, status, message */
    long writes_acknowledged;
    long outcome_unknown; /* writes whose failure said so */
    /* Calls that started and ended in the phase, by result: */
    long whole;           /* how many */
    long succeeded;       /* OBOL_OK or OBOL_NOT_FOUND (one the model
                           * does not allow is a violation besides) */
    long timed_out;       /* OBOL_ERR_TIMEOUT */
    long backend;         /* OBOL_ERR_BACKEND */
    long refused;         /* ... of which "Connection refused" */
    long other;           /* any other status */
    char other_example[256]; /* the first of them, with its message */
    /* When the first call that succeeded ended in the phase (whenever it
     * started), on the monotonic clock; 0 when none did. */
    double first_success_ms;
} store_load_stats;

/* Starts the threads on st (which must outlive the load), in phase 0.
 * seed makes the choice of operations reproducible. NULL on failure. */
store_load *store_load_start(obol_store *st, unsigned seed);

/* Calls that start from now on count under phase; the phase's start time
 * (monotonic ms) is kept. */
void store_load_set_phase(store_load *load, int phase);
double store_load_phase_started_ms(const store_load *load, int phase);

/* Copies one thread's counts for phase. */
void store_load_stats_of(store_load *load, int thread, int phase,
                         store_load_stats *out);

/* Every thread's counts for phase added up (slowest: the slowest of all;
 * first_success_ms: the latest first success, the time by which every
 * thread had one, or 0 when some thread had none). */
void store_load_totals(store_load *load, int phase, store_load_stats *out);

/* How many violations were seen so far; the first few are printed on
 * stderr as TAP comments by store_load_print_violations(). */
long store_load_violations(store_load *load);
void store_load_print_violations(store_load *load);

/* Stops the threads and waits for them; the model stays for
 * store_load_check(). Safe to call twice. */
void store_load_stop(store_load *load);

/*
 * After store_load_stop(): reads every user's sessions (obol_get_all) and
 * every session the load ever wrote (obol_get) and checks each against
 * the model. A read that fails counts as a violation too. Prints what was
 * checked as a TAP comment; returns the number of new violations.
 */
long store_load_check(store_load *load);

void store_load_free(store_load *load);

#endif

/*
 * The allocation-failure sweep: a whole cycle of a store's life,
 *
 *   open (secret=env:) → new session A → upsert A → get A → token of A →
 *   refresh A → new session B → upsert B → get_all → delete A →
 *   delete_all → close
 *
 * run once for every allocation it makes, with that allocation failing
 * (and, in a second pass, with every allocation from that one on failing,
 * which reaches the error paths of error paths). Each run must end either
 * with every step OK (the failure was absorbed) or at the failing step
 * with OBOL_ERR_NOMEM and a message saying memory ran out; never another
 * status, a crash or a leak. Then, with nothing failing any more, the
 * store must open, every record in it must verify, and it must hold
 * exactly what was acknowledged: an upsert or refresh that returned
 * OBOL_OK is there with its content, one that failed left the state
 * before it, an acknowledged delete left nothing. The sweep goes on until
 * a run meets no injected failure, so it follows the cycle as it changes.
 *
 * How failures are injected: by interposition (tests/alloc_fail.c), not
 * by a hook in the core. The program defines malloc and its family, so
 * the allocations of the driver plugins, libsodium, uriparser, LMDB and
 * glibc fail too, as they would in a process out of memory; a hook in
 * the core would see only its own. See docs/DECISIONS.md.
 *
 * Leaks: the interposer counts live blocks. Two uninjected cycles warm up
 * first, so that what is allocated once per process (the driver's
 * dlopen(), libsodium's init, stdio buffers) is not taken for a leak. A
 * run that leaves blocks behind is run again; only blocks left twice are
 * a leak (the first time a failure path runs may fill a cache once).
 *
 * Backends: "memory:NAME" and "lmdb://" in a temporary directory, and
 * memory with seal=aead. A "memory:" store is gone once closed, so the
 * memory cycle runs on a named space that a second handle, opened before
 * the sweep, keeps alive for the check that follows each run (the space
 * is therefore made once, not in every run). The LMDB cycle has no such
 * handle: each run opens and closes the environment.
 *
 * Under valgrind (make check-valgrind), whose allocator replaces glibc's,
 * each cycle runs once without injection, and says so.
 */
#include "config.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <cmocka.h>
#include <obol/obol.h>

#include "alloc_fail.h"
#include "tmpdir.h"

#define SECRET_ENV "OBOL_SWEEP_SECRET"
#define USER "sweep-user"
#define SESSION_TTL 3600
#define REFRESH_TTL 600
/* No cycle comes near this; a sweep that gets here is looping. */
#define MAX_RUNS 100000
/* Problems reported before a sweep gives up. */
#define MAX_PROBLEMS 8

/* ------------------------------------------------------------ one cycle */

/* One run of the cycle: the application's view and what was
 * acknowledged. */
typedef struct cycle {
    const char *config;
    obol_store *st;
    obol_session *a, *b;        /* the application's copies, or NULL */
    char *token;                /* A's client token */
    obol_session *stored_a;     /* what the store acknowledged for A, or */
    obol_session *stored_b;     /* NULL: nothing (never written, deleted) */
    const char *step;           /* the step that ended the run, or "done" */
    int status;                 /* what it returned */
    int has_message;            /* whether the call fills an obol_error */
    obol_error err;
    char wrong[256];            /* a read that returned other content */
} cycle;

static const char *payload_a = "payload of session A";
static const char *payload_b = "payload of session B";

/* Why got is not want, or NULL. Allocates nothing: it runs armed. */
static const char *mismatch(const obol_session *want, const obol_session *got)
{
    if (strcmp(want->id, got->id) != 0)
        return "id";
    if (strcmp(want->user_id, got->user_id) != 0 ||
        strcmp(want->type, got->type) != 0)
        return "user or type";
    if (strcmp(want->refresh_token_id, got->refresh_token_id) != 0)
        return "refresh_token_id";
    if ((want->prev_refresh_token_id == NULL) !=
            (got->prev_refresh_token_id == NULL) ||
        (want->prev_refresh_token_id != NULL &&
         strcmp(want->prev_refresh_token_id, got->prev_refresh_token_id) != 0))
        return "prev_refresh_token_id";
    if (want->lock_version != got->lock_version)
        return "lock_version";
    if (want->created_at != got->created_at ||
        want->expires_at != got->expires_at ||
        want->refresh_expires_at != got->refresh_expires_at ||
        want->refreshed_at != got->refreshed_at ||
        want->tokens_fresh_from != got->tokens_fresh_from ||
        want->prev_tokens_fresh_from != got->prev_tokens_fresh_from)
        return "a time";
    if (want->extra_payload_len != got->extra_payload_len ||
        (want->extra_payload_len > 0 &&
         memcmp(want->extra_payload, got->extra_payload,
                want->extra_payload_len) != 0))
        return "extra_payload";
    return NULL;
}

/* Notes what the store acknowledged, outside the count: the test's own
 * copy is bookkeeping, not part of the cycle. */
static void acknowledge(obol_session **stored, const obol_session *now)
{
    alloc_fail_pause();
    obol_session_free(*stored);
    *stored = now != NULL ? obol_session_dup(now) : NULL;
    alloc_fail_resume();
}

static void note_wrong(cycle *c, const char *what, const char *field)
{
    if (c->wrong[0] == '\0')
        snprintf(c->wrong, sizeof c->wrong, "%s returned another %s than "
                 "was acknowledged", what, field);
}

static int step_open(cycle *c)
{
    return obol_store_open(c->config, &c->st, &c->err);
}

/* Without an obol_error to fill, the session calls say "out of memory"
 * by their result alone. */
static int new_session(cycle *c, obol_session **s, const char *payload)
{
    c->has_message = 0;
    *s = obol_session_new(USER, NULL, obol_store_now(c->st), SESSION_TTL,
                          REFRESH_TTL);
    if (*s == NULL)
        return OBOL_ERR_NOMEM;
    return obol_session_set_payload(*s, payload, strlen(payload));
}

static int step_new_a(cycle *c)
{
    return new_session(c, &c->a, payload_a);
}

static int step_new_b(cycle *c)
{
    return new_session(c, &c->b, payload_b);
}

static int upsert(cycle *c, obol_session *s, obol_session **stored)
{
    int status = obol_upsert(c->st, s, &c->err);

    if (status == OBOL_OK)
        acknowledge(stored, s);
    return status;
}

static int step_upsert_a(cycle *c)
{
    return upsert(c, c->a, &c->stored_a);
}

static int step_upsert_b(cycle *c)
{
    return upsert(c, c->b, &c->stored_b);
}

static int step_get_a(cycle *c)
{
    obol_session *got = NULL;
    int status = obol_get(c->st, c->a->id, USER, NULL, &got, &c->err);

    if (status == OBOL_OK && mismatch(c->stored_a, got) != NULL)
        note_wrong(c, "get", mismatch(c->stored_a, got));
    obol_session_free(got);
    return status;
}

static int step_token_a(cycle *c)
{
    return obol_token_make(c->st, c->a, &c->token, &c->err);
}

/* The client presents A's token; the store rotates it. */
static int step_refresh_a(cycle *c)
{
    obol_session *fresh = NULL;
    char *new_token = NULL;
    int status = obol_refresh(c->st, c->token, REFRESH_TTL, &fresh,
                              &new_token, &c->err);

    if (status == OBOL_OK) {
        if (new_token == NULL || fresh == NULL)
            note_wrong(c, "refresh", "token or session (NULL)");
        acknowledge(&c->stored_a, fresh);
        obol_session_free(c->a);
        c->a = fresh;
    }
    free(new_token);
    return status;
}

static int step_get_all(cycle *c)
{
    obol_session **list = NULL;
    size_t count = 0;
    int status = obol_get_all(c->st, USER, NULL, &list, &count, &c->err);

    if (status == OBOL_OK && count != 2)
        note_wrong(c, "get_all", "number of sessions");
    for (size_t i = 0; status == OBOL_OK && i < count; i++) {
        const obol_session *want =
            strcmp(list[i]->id, c->stored_a->id) == 0 ? c->stored_a
                                                       : c->stored_b;
        const char *field = mismatch(want, list[i]);
        if (field != NULL)
            note_wrong(c, "get_all", field);
    }
    obol_sessions_free(list, count);
    return status;
}

static int step_delete_a(cycle *c)
{
    int status = obol_delete(c->st, c->a->id, USER, NULL, &c->err);

    if (status == OBOL_OK)
        acknowledge(&c->stored_a, NULL);
    return status;
}

static int step_delete_all(cycle *c)
{
    int status = obol_delete_all(c->st, USER, NULL, &c->err);

    if (status == OBOL_OK)
        acknowledge(&c->stored_b, NULL);
    return status;
}

typedef struct step {
    const char *name;
    int (*run)(cycle *c);
} step;

static const step steps[] = {
    { "open", step_open },
    { "new session A", step_new_a },
    { "upsert A", step_upsert_a },
    { "get A", step_get_a },
    { "token of A", step_token_a },
    { "refresh A", step_refresh_a },
    { "new session B", step_new_b },
    { "upsert B", step_upsert_b },
    { "get_all", step_get_all },
    { "delete A", step_delete_a },
    { "delete_all", step_delete_all },
};

/* Runs the steps until one does not return OBOL_OK, then closes. */
static void run_cycle(cycle *c)
{
    c->step = "done";
    c->status = OBOL_OK;
    for (size_t i = 0; i < sizeof steps / sizeof steps[0]; i++) {
        int status;

        c->has_message = 1;
        status = steps[i].run(c);
        if (status != OBOL_OK) {
            c->step = steps[i].name;
            c->status = status;
            break;
        }
    }
    free(c->token);
    c->token = NULL;
    obol_store_close(c->st);
    c->st = NULL;
}

/* The application's copies; what was acknowledged is kept for the check. */
static void drop_copies(cycle *c)
{
    obol_session_free(c->a);
    obol_session_free(c->b);
    c->a = c->b = NULL;
}

static void cycle_clear(cycle *c)
{
    drop_copies(c);
    obol_session_free(c->stored_a);
    obol_session_free(c->stored_b);
    c->stored_a = c->stored_b = NULL;
}

/* ------------------------------------------------------------ checking */

typedef struct sweep {
    const char *name;
    char config[4400];
    obol_store *keeper;         /* keeps a memory space alive, or NULL */
    char *dir;                  /* the LMDB directory, or NULL */
    int mode;                   /* ALLOC_FAIL_NTH or ALLOC_FAIL_FROM */
    unsigned long n;            /* the run being checked */
    int problems;
    char ended[320];            /* how the last run ended, for a leak */
    unsigned long absorbed;     /* runs that failed an allocation and
                                   still ended OK */
} sweep;

/* Reports one problem of run sw->n as a TAP comment; c is how the run
 * ended, or NULL. */
static void problem(sweep *sw, const cycle *c, const char *fmt, ...)
{
    char what[512];
    char ended[400] = "";
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(what, sizeof what, fmt, ap);
    va_end(ap);
    if (c != NULL)
        snprintf(ended, sizeof ended, " (ended at %s: %s \"%s\")", c->step,
                 obol_strerror(c->status), c->err.message);
    print_message("# %s, %s %lu%s: %s\n", sw->name,
                  sw->mode == ALLOC_FAIL_NTH ? "failing allocation"
                                             : "failing from allocation",
                  sw->n, ended, what);
    sw->problems++;
}

/* The run ended as it should: every step OK, or the failing one with
 * OBOL_ERR_NOMEM saying so. */
static void check_outcome(sweep *sw, const cycle *c)
{
    if (c->wrong[0] != '\0')
        problem(sw, c, "%s", c->wrong);
    if (c->status == OBOL_OK)
        return;
    if (alloc_fail_injected() == 0)
        problem(sw, c, "failed with no allocation failing");
    else if (c->status != OBOL_ERR_NOMEM)
        problem(sw, c, "status is not OBOL_ERR_NOMEM");
    else if (c->has_message && c->err.status != OBOL_ERR_NOMEM)
        problem(sw, c, "err->status is %d", c->err.status);
    else if (c->has_message && strcasestr(c->err.message, "memory") == NULL)
        problem(sw, c, "the message does not say memory ran out");
}

/* One acknowledged session (or its absence) is what the store holds. */
static void check_session(sweep *sw, const cycle *c, obol_store *st,
                          const obol_session *app, const obol_session *stored)
{
    obol_session *got = NULL;
    obol_error err;
    int status;

    if (app == NULL)
        return;   /* never made: nothing to look for */
    status = obol_get(st, app->id, USER, NULL, &got, &err);
    if (status != OBOL_OK && status != OBOL_NOT_FOUND)
        problem(sw, c, "get: %s (%s)", obol_strerror(status), err.message);
    else if (stored == NULL && status == OBOL_OK)
        problem(sw, c, "a session is stored that was never acknowledged, "
                "or was deleted");
    else if (stored != NULL && status == OBOL_NOT_FOUND)
        problem(sw, c, "an acknowledged session is lost (%s)", err.message);
    else if (stored != NULL && mismatch(stored, got) != NULL)
        problem(sw, c, "the stored session differs in %s from what was "
                "acknowledged", mismatch(stored, got));
    obol_session_free(got);
}

/* obol_scan() wants a callback; the stats are what counts. */
static int ignore_session(void *arg, const obol_session *s)
{
    (void)arg;
    (void)s;
    return OBOL_OK;
}

/* Every record verifies, and there are exactly as many as acknowledged. */
static void check_records(sweep *sw, const cycle *c, obol_store *st)
{
    uint64_t want = (c->stored_a != NULL) + (c->stored_b != NULL);
    obol_scan_stats stats;
    obol_error err;
    int status = obol_scan(st, ignore_session, NULL, &stats, &err);

    if (status != OBOL_OK)
        problem(sw, c, "scan: %s (%s)", obol_strerror(status), err.message);
    else if (stats.rejected != 0 || stats.records != want)
        problem(sw, c, "the store holds %llu records, %llu of them refused; "
                "%llu were acknowledged", (unsigned long long)stats.records,
                (unsigned long long)stats.rejected, (unsigned long long)want);
}

/* With nothing failing: the store opens, holds what was acknowledged, and
 * is emptied for the next run. */
static void check_store(sweep *sw, cycle *c)
{
    obol_store *st;
    obol_error err;
    int status = obol_store_open(sw->config, &st, &err);

    if (status != OBOL_OK) {
        problem(sw, c, "the store does not open again: %s (%s)",
                obol_strerror(status), err.message);
        return;
    }
    check_session(sw, c, st, c->a, c->stored_a);
    check_session(sw, c, st, c->b, c->stored_b);
    check_records(sw, c, st);
    status = obol_delete_all(st, USER, NULL, &err);
    if (status != OBOL_OK)
        problem(sw, c, "emptying the store: %s (%s)", obol_strerror(status),
                err.message);
    obol_store_close(st);
}

/* One run: arm, cycle, disarm, check. Returns the allocations the cycle
 * made (failed ones included); *injected says whether one was made to
 * fail, *leaked how many blocks the run left alive. */
static unsigned long run_once(sweep *sw, int *injected, long *leaked)
{
    cycle c = { .config = sw->config };
    long blocks = alloc_fail_live_blocks();
    unsigned long seen;

    alloc_fail_arm(sw->n, sw->mode);
    run_cycle(&c);
    alloc_fail_disarm();
    seen = alloc_fail_seen();
    *injected = alloc_fail_injected() > 0;
    if (*injected && c.status == OBOL_OK)
        sw->absorbed++;
    check_outcome(sw, &c);
    snprintf(sw->ended, sizeof sw->ended, "%s: %s", c.step,
             obol_strerror(c.status));
    check_store(sw, &c);
    cycle_clear(&c);
    *leaked = alloc_fail_live_blocks() - blocks;
    return seen;
}

/* A run that leaves blocks alive is run again: a leak leaves them every
 * time, a cache filled by a path's first run only once. */
static unsigned long run_checked(sweep *sw, int *injected)
{
    long leaked, again;
    unsigned long seen = run_once(sw, injected, &leaked);

    if (leaked == 0)
        return seen;
    run_once(sw, injected, &again);
    if (again != 0)
        problem(sw, NULL, "a leak: the run (ended at %s) left %ld blocks "
                "alive, and %ld when run again", sw->ended, leaked, again);
    return seen;
}

/* ------------------------------------------------------------ the sweeps */

static void sweep_setenv(void)
{
    setenv(SECRET_ENV, "an allocation-failure sweep secret, 32+ bytes", 1);
}

static int setup_memory(sweep *sw, const char *name, const char *options)
{
    obol_error err;

    sw->name = name;
    snprintf(sw->config, sizeof sw->config, "memory:sweep?secret=env:%s%s",
             SECRET_ENV, options);
    return obol_store_open(sw->config, &sw->keeper, &err) == OBOL_OK ? 0 : -1;
}

static int setup_lmdb(sweep *sw)
{
    sw->name = "lmdb";
    sw->dir = tmpdir_make("alloc-sweep");
    if (sw->dir == NULL)
        return -1;
    /* sync=off: a sweep commits thousands of times, and durability is not
     * what it checks. */
    snprintf(sw->config, sizeof sw->config,
             "lmdb://%s?secret=env:%s&sync=off", sw->dir, SECRET_ENV);
    return 0;
}

static void sweep_teardown(sweep *sw)
{
    obol_store_close(sw->keeper);
    tmpdir_remove(sw->dir);
}

/* Runs the sweep of sw->mode from allocation 1 until a run meets no
 * injected failure; fails the test on any problem. */
static void run_sweep(sweep *sw)
{
    const char *why_not = alloc_fail_unavailable();
    unsigned long total = 0;
    int injected = 0;

    sw->n = 0;
    if (why_not != NULL) {
        run_checked(sw, &injected);
        print_message("# %s: one cycle, without injection: %s\n", sw->name,
                      why_not);
        assert_int_equal(sw->problems, 0);
        return;
    }
    /* Warm-up: what a process allocates once, before the counting. */
    run_checked(sw, &injected);
    total = run_checked(sw, &injected);
    for (sw->n = 1; sw->n <= MAX_RUNS && sw->problems < MAX_PROBLEMS;
         sw->n++) {
        run_checked(sw, &injected);
        if (!injected)
            break;
    }
    print_message("# %s: a cycle makes %lu allocations; %lu runs %s, %lu "
                  "of them absorbed\n", sw->name, total, sw->n - 1,
                  sw->mode == ALLOC_FAIL_NTH ? "failing one each"
                                             : "failing all from one on",
                  sw->absorbed);
    assert_int_equal(sw->problems, 0);
    assert_true(sw->n <= MAX_RUNS);
}

static void sweep_memory(int mode, const char *name, const char *options)
{
    sweep sw = { .mode = mode };

    assert_int_equal(setup_memory(&sw, name, options), 0);
    run_sweep(&sw);
    sweep_teardown(&sw);
}

static void sweep_lmdb(int mode)
{
    sweep sw = { .mode = mode };

    assert_int_equal(setup_lmdb(&sw), 0);
    run_sweep(&sw);
    sweep_teardown(&sw);
}

static void test_memory_fails_each_allocation(void **state)
{
    (void)state;
    sweep_memory(ALLOC_FAIL_NTH, "memory", "");
}

static void test_memory_fails_from_each_allocation(void **state)
{
    (void)state;
    sweep_memory(ALLOC_FAIL_FROM, "memory", "");
}

static void test_memory_aead_fails_each_allocation(void **state)
{
    (void)state;
    sweep_memory(ALLOC_FAIL_NTH, "memory, seal=aead", "&seal=aead");
}

static void test_memory_aead_fails_from_each_allocation(void **state)
{
    (void)state;
    sweep_memory(ALLOC_FAIL_FROM, "memory, seal=aead", "&seal=aead");
}

static void test_lmdb_fails_each_allocation(void **state)
{
    (void)state;
    sweep_lmdb(ALLOC_FAIL_NTH);
}

static void test_lmdb_fails_from_each_allocation(void **state)
{
    (void)state;
    sweep_lmdb(ALLOC_FAIL_FROM);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_memory_fails_each_allocation),
        cmocka_unit_test(test_memory_fails_from_each_allocation),
        cmocka_unit_test(test_memory_aead_fails_each_allocation),
        cmocka_unit_test(test_memory_aead_fails_from_each_allocation),
        cmocka_unit_test(test_lmdb_fails_each_allocation),
        cmocka_unit_test(test_lmdb_fails_from_each_allocation),
    };

    sweep_setenv();
    return cmocka_run_group_tests_name("alloc_sweep", tests, NULL, NULL);
}

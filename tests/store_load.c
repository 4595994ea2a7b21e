/* A mixed load on a store and a model of what it acknowledged; see
 * store_load.h. */
#include "config.h"

#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "redis_harness.h"
#include "store_load.h"

enum {
    USER_SESSIONS_MAX = 512, /* sessions one user's model can follow */
    LIVE_MAX = 6,            /* writable sessions per user, at most */
    VIOLATIONS_KEPT = 8,
    TEXT_MAX = 48
};

/* ------------------------------------------------------------- the model */

/* One state of a session in the store. */
typedef struct version {
    int stored;              /* 0: no such session */
    uint64_t lock_version;
    char refresh_token_id[TEXT_MAX];
    char payload[TEXT_MAX];
} version;

typedef struct tracked {
    char id[TEXT_MAX];
    /* The last write's outcome is unknown: the store holds acked or maybe,
     * and the session is not written again (the write may still run). */
    int unsure;
    version acked;           /* what the last acknowledged write left */
    version maybe;           /* unsure: what the unknown write would leave */
    obol_session *session;   /* acked.stored && !unsure: to write from */
} tracked;

typedef struct user_model {
    char name[32];
    tracked sessions[USER_SESSIONS_MAX];
    size_t count;
} user_model;

typedef struct worker {
    store_load *load;
    int index;
    unsigned seed;
    long writes;             /* numbers the payloads */
    user_model users[STORE_LOAD_USERS];
    pthread_mutex_t mutex;   /* stats, read from the test's thread */
    store_load_stats stats[STORE_LOAD_PHASES];
    pthread_t thread;
    int running;
} worker;

struct store_load {
    obol_store *st;
    atomic_int phase;
    atomic_int stop;
    double phase_started_ms[STORE_LOAD_PHASES];
    pthread_mutex_t violations_mutex;
    long violations;
    char violation_text[VIOLATIONS_KEPT][400];
    worker workers[STORE_LOAD_THREADS];
};

/* One call as it is timed and counted. */
typedef struct call {
    const char *what;
    int phase;               /* when it started */
    double started_ms;
    int is_write;
} call;

static void violation(store_load *load, const char *format, ...)
{
    va_list ap;

    pthread_mutex_lock(&load->violations_mutex);
    if (load->violations < VIOLATIONS_KEPT) {
        va_start(ap, format);
        vsnprintf(load->violation_text[load->violations],
                  sizeof load->violation_text[0], format, ap);
        va_end(ap);
    }
    load->violations++;
    pthread_mutex_unlock(&load->violations_mutex);
}

static version version_of(const obol_session *s, uint64_t lock_version)
{
    version v = { 1, lock_version, "", "" };

    snprintf(v.refresh_token_id, sizeof v.refresh_token_id, "%s",
             s->refresh_token_id);
    snprintf(v.payload, sizeof v.payload, "%.*s", (int)s->extra_payload_len,
             (const char *)s->extra_payload);
    return v;
}

static int same(const version *v, const obol_session *got)
{
    return v->stored && got->lock_version == v->lock_version &&
           strcmp(got->refresh_token_id, v->refresh_token_id) == 0 &&
           got->extra_payload_len == strlen(v->payload) &&
           memcmp(got->extra_payload, v->payload, got->extra_payload_len) == 0;
}

static int may_be_absent(const tracked *t)
{
    return !t->acked.stored || (t->unsure && !t->maybe.stored);
}

static int writable(const tracked *t)
{
    return t->acked.stored && !t->unsure;
}

/* A session read back: is it one the model allows? */
static void check_read(store_load *load, const char *where, const tracked *t,
                       const obol_session *got)
{
    if (same(&t->acked, got) || (t->unsure && same(&t->maybe, got)))
        return;
    violation(load,
              "%s: session %s: read lock %llu, token %s, payload '%.*s'; "
              "acknowledged: %s lock %llu, payload '%s'%s",
              where, t->id, (unsigned long long)got->lock_version,
              got->refresh_token_id, (int)got->extra_payload_len,
              (const char *)got->extra_payload,
              t->acked.stored ? "stored," : "none (never stored, or deleted)",
              (unsigned long long)t->acked.lock_version, t->acked.payload,
              t->unsure ? " (or the write of unknown outcome)" : "");
}

static void check_absent(store_load *load, const char *where,
                         const tracked *t)
{
    if (!may_be_absent(t))
        violation(load, "%s: acknowledged session %s (lock %llu) is gone",
                  where, t->id, (unsigned long long)t->acked.lock_version);
}

/* ------------------------------------------------------------ counting */

static void begin(worker *w, call *c, const char *what, int is_write)
{
    c->what = what;
    c->is_write = is_write;
    c->phase = atomic_load(&w->load->phase);
    c->started_ms = redis_harness_monotonic_ms();
}

static int is_success(int status)
{
    return status == OBOL_OK || status == OBOL_NOT_FOUND;
}

static int outcome_unknown(const obol_error *err)
{
    return strstr(err->message, "the outcome is unknown") != NULL;
}

static void count_whole(store_load_stats *s, int status,
                        const obol_error *err)
{
    s->whole++;
    if (is_success(status))
        s->succeeded++;
    else if (status == OBOL_ERR_TIMEOUT)
        s->timed_out++;
    else if (status == OBOL_ERR_BACKEND) {
        s->backend++;
        if (strstr(err->message, "Connection refused") != NULL)
            s->refused++;
    } else {
        if (s->other++ == 0)
            snprintf(s->other_example, sizeof s->other_example, "%d %.200s",
                     status, err->message);
    }
}

/* Times and counts a finished call. */
static void end(worker *w, const call *c, int status, const obol_error *err)
{
    double ended = redis_harness_monotonic_ms();
    int end_phase = atomic_load(&w->load->phase);
    store_load_stats *s = &w->stats[c->phase];
    double took = ended - c->started_ms;

    pthread_mutex_lock(&w->mutex);
    s->calls++;
    if (took > s->slowest_ms) {
        s->slowest_ms = took;
        snprintf(s->slowest, sizeof s->slowest, "%s, status %d%s%.240s",
                 c->what, status, status == OBOL_OK ? "" : ": ",
                 status == OBOL_OK ? "" : err->message);
    }
    if (c->is_write && status == OBOL_OK)
        s->writes_acknowledged++;
    if (c->is_write && status != OBOL_OK && outcome_unknown(err))
        s->outcome_unknown++;
    if (end_phase == c->phase)
        count_whole(s, status, err);
    if (is_success(status) && w->stats[end_phase].first_success_ms == 0)
        w->stats[end_phase].first_success_ms = ended;
    pthread_mutex_unlock(&w->mutex);
}

/* ---------------------------------------------------------- operations */

static int64_t now_s(void)
{
    return (int64_t)time(NULL);
}

static void set_payload(worker *w, obol_session *s, const user_model *u)
{
    char text[TEXT_MAX];
    int len = snprintf(text, sizeof text, "%s write %ld", u->name,
                       ++w->writes);

    if (obol_session_set_payload(s, text, (size_t)len) != OBOL_OK)
        violation(w->load, "%s: set_payload failed", u->name);
}

static int insert(worker *w, user_model *u)
{
    tracked *t = &u->sessions[u->count];
    obol_session *s = obol_session_new(u->name, NULL, now_s(), 3600, 3600);
    obol_error err = { 0 };
    call c;
    int status;

    if (s == NULL) {
        violation(w->load, "%s: obol_session_new failed", u->name);
        return OBOL_ERR_NOMEM;
    }
    set_payload(w, s, u);
    snprintf(t->id, sizeof t->id, "%s", s->id);
    u->count++;
    begin(w, &c, "insert", 1);
    status = obol_upsert(w->load->st, s, &err);
    end(w, &c, status, &err);
    if (status == OBOL_OK) {
        t->acked = version_of(s, s->lock_version);
        t->session = s;
        return status;
    }
    /* Kept in the model either way: a failed insert must never show. */
    if (status == OBOL_CONFLICT)
        violation(w->load, "%s: insert of the new session %s: conflict (%s)",
                  u->name, t->id, err.message);
    else if (outcome_unknown(&err)) {
        t->unsure = 1;
        t->maybe = version_of(s, 1);
    }
    obol_session_free(s);
    return status;
}

static int refresh(worker *w, user_model *u, tracked *t)
{
    obol_session *next = obol_session_dup(t->session);
    obol_error err = { 0 };
    uint64_t lock;
    call c;
    int status;

    if (next == NULL || obol_session_refresh(next, now_s(), 3600) != OBOL_OK) {
        violation(w->load, "%s: copying session %s failed", u->name, t->id);
        obol_session_free(next);
        return OBOL_ERR_NOMEM;
    }
    set_payload(w, next, u);
    lock = next->lock_version;
    begin(w, &c, "refresh", 1);
    status = obol_upsert(w->load->st, next, &err);
    end(w, &c, status, &err);
    if (status == OBOL_OK) {
        t->acked = version_of(next, next->lock_version);
        obol_session_free(t->session);
        t->session = next;
        return status;
    }
    if (status == OBOL_CONFLICT)
        violation(w->load, "%s: refresh of %s under its acknowledged lock "
                           "%llu: conflict (%s)", u->name, t->id,
                  (unsigned long long)lock, err.message);
    else if (outcome_unknown(&err)) {
        t->unsure = 1;
        t->maybe = version_of(next, lock + 1);
        obol_session_free(t->session);
        t->session = NULL;
    }
    obol_session_free(next);
    return status;
}

static int delete_one(worker *w, user_model *u, tracked *t)
{
    obol_error err = { 0 };
    call c;
    int status;

    begin(w, &c, "delete", 1);
    status = obol_delete(w->load->st, t->id, u->name, NULL, &err);
    end(w, &c, status, &err);
    if (status != OBOL_OK && !outcome_unknown(&err))
        return status;
    if (status == OBOL_OK)
        t->acked.stored = 0;
    else {
        t->unsure = 1;
        t->maybe.stored = 0;
    }
    obol_session_free(t->session);
    t->session = NULL;
    return status;
}

/* A read of one session; during the load (counted) or in the final check
 * (w NULL). The status, for the final check. */
static int get_one(store_load *load, worker *w, const user_model *u,
                   const tracked *t, const char *where)
{
    obol_session *got = NULL;
    obol_error err = { 0 };
    call c;
    int status;

    if (w != NULL)
        begin(w, &c, "get", 0);
    status = obol_get(load->st, t->id, u->name, NULL, &got, &err);
    if (w != NULL)
        end(w, &c, status, &err);
    if (status == OBOL_OK)
        check_read(load, where, t, got);
    else if (status == OBOL_NOT_FOUND)
        check_absent(load, where, t);
    else if (w == NULL)
        violation(load, "%s: get %s: %d %s", where, t->id, status,
                  err.message);
    obol_session_free(got);
    return status;
}

static const tracked *find(const user_model *u, const char *id)
{
    for (size_t i = 0; i < u->count; i++)
        if (strcmp(u->sessions[i].id, id) == 0)
            return &u->sessions[i];
    return NULL;
}

/* Every session of one user, checked both ways: nothing returned that
 * the model does not allow, nothing acknowledged missing. */
static int get_all(store_load *load, worker *w, const user_model *u,
                   const char *where)
{
    unsigned char seen[USER_SESSIONS_MAX] = { 0 };
    obol_session **list = NULL;
    size_t count = 0;
    obol_error err = { 0 };
    call c;
    int status;

    if (w != NULL)
        begin(w, &c, "get_all", 0);
    status = obol_get_all(load->st, u->name, NULL, &list, &count, &err);
    if (w != NULL)
        end(w, &c, status, &err);
    if (status != OBOL_OK) {
        if (w == NULL)
            violation(load, "%s: get_all %s: %d %s", where, u->name, status,
                      err.message);
        return status;
    }
    for (size_t i = 0; i < count; i++) {
        const tracked *t = find(u, list[i]->id);

        if (t == NULL) {
            violation(load, "%s: get_all %s returned session %s, never "
                            "written", where, u->name, list[i]->id);
            continue;
        }
        seen[t - u->sessions] = 1;
        check_read(load, where, t, list[i]);
    }
    for (size_t i = 0; i < u->count; i++)
        if (!seen[i])
            check_absent(load, where, &u->sessions[i]);
    obol_sessions_free(list, count);
    return status;
}

/* ------------------------------------------------------------ a worker */

static unsigned next_random(worker *w)
{
    return (unsigned)rand_r(&w->seed);
}

/* A writable session of u chosen at random (NULL when none), and how
 * many there are. */
static tracked *pick_writable(worker *w, user_model *u, size_t *count)
{
    tracked *chosen = NULL;

    *count = 0;
    for (size_t i = 0; i < u->count; i++)
        if (writable(&u->sessions[i]) && next_random(w) % ++*count == 0)
            chosen = &u->sessions[i];
    return chosen;
}

/* One operation: a quarter inserts, a quarter refreshes, a tenth
 * deletes, the rest reads (get, get_all). Its status. */
static int run_one(worker *w)
{
    user_model *u = &w->users[next_random(w) % STORE_LOAD_USERS];
    unsigned choice = next_random(w) % 20;
    size_t live;
    tracked *target = pick_writable(w, u, &live);
    char where[64];

    snprintf(where, sizeof where, "thread %d, %s", w->index, u->name);
    if (choice < 5 && live < LIVE_MAX && u->count < USER_SESSIONS_MAX)
        return insert(w, u);
    if (choice < 10 && target != NULL)
        return refresh(w, u, target);
    if (choice < 12 && target != NULL)
        return delete_one(w, u, target);
    if (choice < 17 && u->count > 0)
        return get_one(w->load, w, u,
                       target != NULL && choice % 2 == 0
                           ? target
                           : &u->sessions[next_random(w) % u->count],
                       where);
    return get_all(w->load, w, u, where);
}

static void *work(void *arg)
{
    worker *w = arg;

    while (!atomic_load(&w->load->stop)) {
        int status = run_one(w);

        /* A steady load, not a flood: the test shares two cores with
         * others. Failures are not hurried either. */
        redis_harness_sleep_ms(is_success(status) ? 1 : 5);
    }
    return NULL;
}

/* ----------------------------------------------------------- the API */

store_load *store_load_start(obol_store *st, unsigned seed)
{
    store_load *load = calloc(1, sizeof *load);

    if (load == NULL)
        return NULL;
    load->st = st;
    atomic_init(&load->phase, 0);
    atomic_init(&load->stop, 0);
    load->phase_started_ms[0] = redis_harness_monotonic_ms();
    pthread_mutex_init(&load->violations_mutex, NULL);
    for (int i = 0; i < STORE_LOAD_THREADS; i++) {
        worker *w = &load->workers[i];

        w->load = load;
        w->index = i;
        w->seed = seed + (unsigned)i * 7919u;
        pthread_mutex_init(&w->mutex, NULL);
        for (int k = 0; k < STORE_LOAD_USERS; k++)
            snprintf(w->users[k].name, sizeof w->users[k].name, "t%d-u%d",
                     i, k);
    }
    for (int i = 0; i < STORE_LOAD_THREADS; i++) {
        worker *w = &load->workers[i];

        if (pthread_create(&w->thread, NULL, work, w) != 0) {
            store_load_stop(load);
            store_load_free(load);
            return NULL;
        }
        w->running = 1;
    }
    return load;
}

void store_load_set_phase(store_load *load, int phase)
{
    load->phase_started_ms[phase] = redis_harness_monotonic_ms();
    atomic_store(&load->phase, phase);
}

double store_load_phase_started_ms(const store_load *load, int phase)
{
    return load->phase_started_ms[phase];
}

void store_load_stats_of(store_load *load, int thread, int phase,
                         store_load_stats *out)
{
    worker *w = &load->workers[thread];

    pthread_mutex_lock(&w->mutex);
    *out = w->stats[phase];
    pthread_mutex_unlock(&w->mutex);
}

void store_load_totals(store_load *load, int phase, store_load_stats *out)
{
    int some_had_none = 0;

    memset(out, 0, sizeof *out);
    for (int i = 0; i < STORE_LOAD_THREADS; i++) {
        store_load_stats s;

        store_load_stats_of(load, i, phase, &s);
        out->calls += s.calls;
        if (s.slowest_ms > out->slowest_ms) {
            out->slowest_ms = s.slowest_ms;
            memcpy(out->slowest, s.slowest, sizeof out->slowest);
        }
        out->writes_acknowledged += s.writes_acknowledged;
        out->outcome_unknown += s.outcome_unknown;
        out->whole += s.whole;
        out->succeeded += s.succeeded;
        out->timed_out += s.timed_out;
        out->backend += s.backend;
        out->refused += s.refused;
        if (out->other == 0 && s.other > 0)
            memcpy(out->other_example, s.other_example,
                   sizeof out->other_example);
        out->other += s.other;
        some_had_none |= s.first_success_ms == 0;
        if (s.first_success_ms > out->first_success_ms)
            out->first_success_ms = s.first_success_ms;
    }
    if (some_had_none)
        out->first_success_ms = 0;
}

long store_load_violations(store_load *load)
{
    long count;

    pthread_mutex_lock(&load->violations_mutex);
    count = load->violations;
    pthread_mutex_unlock(&load->violations_mutex);
    return count;
}

void store_load_print_violations(store_load *load)
{
    pthread_mutex_lock(&load->violations_mutex);
    for (long i = 0; i < load->violations && i < VIOLATIONS_KEPT; i++)
        fprintf(stderr, "# violation: %s\n", load->violation_text[i]);
    if (load->violations > VIOLATIONS_KEPT)
        fprintf(stderr, "# ... and %ld more violations\n",
                load->violations - VIOLATIONS_KEPT);
    pthread_mutex_unlock(&load->violations_mutex);
}

void store_load_stop(store_load *load)
{
    atomic_store(&load->stop, 1);
    for (int i = 0; i < STORE_LOAD_THREADS; i++)
        if (load->workers[i].running) {
            pthread_join(load->workers[i].thread, NULL);
            load->workers[i].running = 0;
        }
}

long store_load_check(store_load *load)
{
    long before = store_load_violations(load);
    long sessions = 0, stored = 0, unsure = 0, acknowledged = 0;

    for (int i = 0; i < STORE_LOAD_THREADS; i++)
        for (int k = 0; k < STORE_LOAD_USERS; k++) {
            const user_model *u = &load->workers[i].users[k];

            get_all(load, NULL, u, "final check");
            for (size_t n = 0; n < u->count; n++) {
                const tracked *t = &u->sessions[n];

                sessions++;
                stored += t->acked.stored;
                unsure += t->unsure;
                get_one(load, NULL, u, t, "final check");
            }
        }
    for (int i = 0; i < STORE_LOAD_THREADS; i++)
        for (int p = 0; p < STORE_LOAD_PHASES; p++)
            acknowledged += load->workers[i].stats[p].writes_acknowledged;
    fprintf(stderr, "# final check: %ld writes acknowledged; %ld sessions "
                    "written, %ld stored when last acknowledged, %ld left "
                    "by a write of unknown outcome; %ld violations\n",
            acknowledged, sessions, stored, unsure,
            store_load_violations(load) - before);
    return store_load_violations(load) - before;
}

void store_load_free(store_load *load)
{
    if (load == NULL)
        return;
    for (int i = 0; i < STORE_LOAD_THREADS; i++) {
        worker *w = &load->workers[i];

        for (int k = 0; k < STORE_LOAD_USERS; k++)
            for (size_t n = 0; n < w->users[k].count; n++)
                obol_session_free(w->users[k].sessions[n].session);
        pthread_mutex_destroy(&w->mutex);
    }
    pthread_mutex_destroy(&load->violations_mutex);
    free(load);
}

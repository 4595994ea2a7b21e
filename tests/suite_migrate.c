/*
 * Restores and migrations in a mode, on every driver with the store suite:
 * OBOL_RESTORE_ONLY_MISSING and OBOL_RESTORE_ONLY_NEWER never roll a
 * destination session back, decide each session in one compare-and-set
 * (a write between the read and the put wins), count each outcome, and,
 * having no tombstones, bring back a session deleted in the destination
 * (documented in docs/SECURITY.md; asserted so the text stays true).
 * OBOL_RESTORE_REPLACE rolls back, as obol.h warns.
 */
#include "config.h"

#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include <obol/driver.h>
#include <obol/obol.h>

#include "record_internal.h"
#include "store_internal.h"
#include "suite_fixture.h"
#include "suite_migrate.h"

/* ------------------------------------------------------------- helpers */

/* A destination: a store of its own prefix on the same backend, on f's
 * clock and key. Its config string goes to url when url is not NULL. */
static obol_store *open_destination(fixture *f, char url[1024])
{
    fixture to = { 0 };

    suite_make_url(&to, NULL);
    if (url != NULL)
        memcpy(url, to.url, sizeof to.url);
    return suite_open_store(f, to.url, 1);
}

static obol_migrate_report migrate_in(obol_store *src, obol_store *dst,
                                      int mode)
{
    obol_migrate_report report = { .struct_size = sizeof report };
    obol_error err;

    if (obol_migrate_mode(src, dst, mode, NULL, NULL, &report, &err) != OBOL_OK)
        fail_msg("migrate: %s", err.message);
    return report;
}

/* The session st holds for s's id, which must be there; free it. */
static obol_session *stored(obol_store *st, const obol_session *s)
{
    obol_session *got = NULL;
    obol_error err;

    if (obol_get(st, s->id, s->user_id, s->type, &got, &err) != OBOL_OK)
        fail_msg("get %s: %s", s->id, err.message);
    return got;
}

static uint64_t stored_lock_of(obol_store *st, const obol_session *s)
{
    obol_session *got = stored(st, s);
    uint64_t lock = got->lock_version;

    obol_session_free(got);
    return lock;
}

/* A copy of s restored into st at lock version lock. */
static void restore_at(obol_store *st, const obol_session *s, uint64_t lock)
{
    obol_session *copy = obol_session_dup(s);
    obol_error err;

    assert_non_null(copy);
    copy->lock_version = lock;
    if (obol_restore(st, copy, &err) != OBOL_OK)
        fail_msg("restore: %s", err.message);
    obol_session_free(copy);
}

/* s refreshed and written in st under the lock: lock version + 1. */
static void refresh_in(fixture *f, obol_store *st, obol_session *s)
{
    obol_error err;

    assert_int_equal(obol_session_refresh(s, f->now, DAY), OBOL_OK);
    if (obol_upsert(st, s, &err) != OBOL_OK)
        fail_msg("upsert: %s", err.message);
}

static char *token_in(obol_store *st, const obol_session *s)
{
    char *token = NULL;
    obol_error err;

    if (obol_token_make(st, s, &token, &err) != OBOL_OK)
        fail_msg("token: %s", err.message);
    return token;
}

/* obol_refresh() that must rotate; the token it hands out (free it). */
static char *refresh_token_in(obol_store *st, const char *token,
                              uint64_t *lock)
{
    obol_session *s = NULL;
    char *next = NULL;
    obol_error err;
    int status = obol_refresh(st, token, DAY, &s, &next, &err);

    if (status != OBOL_OK)
        fail_msg("refresh: %d %s", status, err.message);
    if (lock != NULL)
        *lock = s->lock_version;
    obol_session_free(s);
    return next;
}

static int refresh_status_in(obol_store *st, const char *token)
{
    return obol_refresh(st, token, DAY, NULL, NULL, NULL);
}

static void assert_report(const obol_migrate_report *r, uint64_t copied,
                          uint64_t present, uint64_t not_newer)
{
    assert_int_equal(r->stats.copied, copied);
    assert_int_equal(r->present, present);
    assert_int_equal(r->not_newer, not_newer);
    assert_int_equal(r->conflicts, 0);
    assert_int_equal(r->stats.skipped,
                     r->expired + r->present + r->not_newer + r->conflicts);
    assert_int_equal(r->stats.seen, r->stats.copied + r->stats.rejected +
                                    r->stats.skipped);
}

/* ------------------------------------------------------ never backwards */

/* The second run of a cutover catch-up, after a client refreshed in the
 * destination: the destination's session stays, and the token rotated
 * away there stays refused. */
static void only_newer_keeps_a_session_refreshed_in_the_destination(void **state)
{
    fixture *f = *state;
    obol_session *s = suite_stored_session(f, "alice", NULL);
    obol_store *dst = open_destination(f, NULL);
    obol_migrate_report r = migrate_in(f->st, dst, OBOL_RESTORE_ONLY_NEWER);
    char *first = token_in(dst, s), *second;
    uint64_t lock;

    assert_report(&r, 1, 0, 0);
    second = refresh_token_in(dst, first, &lock);
    assert_int_equal(lock, 2);
    r = migrate_in(f->st, dst, OBOL_RESTORE_ONLY_NEWER);
    assert_report(&r, 0, 0, 1);
    assert_int_equal(stored_lock_of(dst, s), 2);
    assert_int_equal(refresh_status_in(dst, first), OBOL_JUST_ROTATED);
    free(refresh_token_in(dst, second, &lock));
    assert_int_equal(lock, 3);
    free(first);
    free(second);
    obol_store_close(dst);
    obol_session_free(s);
}

/* Why the catch-up needs a mode: obol_migrate() replaces, so the lock
 * version goes back and the rotated-away token works again (obol.h). */
static void replace_rolls_a_session_refreshed_in_the_destination_back(void **state)
{
    fixture *f = *state;
    obol_session *s = suite_stored_session(f, "alice", NULL);
    obol_store *dst = open_destination(f, NULL);
    char *first, *second;

    assert_int_equal(obol_migrate(f->st, dst, NULL, NULL, NULL, NULL), OBOL_OK);
    first = token_in(dst, s);
    second = refresh_token_in(dst, first, NULL);
    assert_int_equal(obol_migrate(f->st, dst, NULL, NULL, NULL, NULL), OBOL_OK);
    assert_int_equal(stored_lock_of(dst, s), 1);
    free(refresh_token_in(dst, first, NULL));
    free(first);
    free(second);
    obol_store_close(dst);
    obol_session_free(s);
}

static void only_newer_copies_a_session_newer_in_the_source(void **state)
{
    fixture *f = *state;
    obol_session *s = suite_stored_session(f, "alice", NULL);
    obol_store *dst = open_destination(f, NULL);
    obol_migrate_report r = migrate_in(f->st, dst, OBOL_RESTORE_ONLY_NEWER);
    obol_session *got;

    refresh_in(f, f->st, s);   /* the old store still serves this client */
    r = migrate_in(f->st, dst, OBOL_RESTORE_ONLY_NEWER);
    assert_report(&r, 1, 0, 0);
    got = stored(dst, s);
    assert_int_equal(got->lock_version, 2);
    assert_string_equal(got->refresh_token_id, s->refresh_token_id);
    obol_session_free(got);
    obol_store_close(dst);
    obol_session_free(s);
}

static void only_newer_copies_a_missing_session(void **state)
{
    fixture *f = *state;
    obol_session *there = suite_stored_session(f, "alice", NULL);
    obol_store *dst = open_destination(f, NULL);
    obol_migrate_report r = migrate_in(f->st, dst, OBOL_RESTORE_ONLY_NEWER);
    obol_session *missing = suite_stored_session(f, "bob", "oauth2");

    r = migrate_in(f->st, dst, OBOL_RESTORE_ONLY_NEWER);
    assert_report(&r, 1, 0, 1);
    assert_int_equal(stored_lock_of(dst, missing), 1);
    obol_store_close(dst);
    obol_session_free(missing);
    obol_session_free(there);
}

static void only_missing_copies_only_missing_sessions(void **state)
{
    fixture *f = *state;
    obol_session *there = suite_stored_session(f, "alice", NULL);
    obol_store *dst = open_destination(f, NULL);
    obol_migrate_report r = migrate_in(f->st, dst, OBOL_RESTORE_ONLY_MISSING);
    obol_session *missing = suite_stored_session(f, "bob", NULL);

    assert_report(&r, 1, 0, 0);
    refresh_in(f, f->st, there);   /* newer in the source: still present */
    r = migrate_in(f->st, dst, OBOL_RESTORE_ONLY_MISSING);
    assert_report(&r, 1, 1, 0);
    assert_int_equal(stored_lock_of(dst, there), 1);
    assert_int_equal(stored_lock_of(dst, missing), 1);
    obol_store_close(dst);
    obol_session_free(missing);
    obol_session_free(there);
}

/* More sessions than a batch, a third of them each: missing in the
 * destination, older there, newer there. */
static void only_newer_decides_each_session_of_many_batches(void **state)
{
    enum { COUNT = 300 };
    fixture *f = *state;
    obol_store *dst = open_destination(f, NULL);
    obol_session *made[COUNT];
    obol_migrate_report r;

    for (int i = 0; i < COUNT; i++) {
        char uid[16];

        snprintf(uid, sizeof uid, "user%d", i % 7);
        made[i] = suite_stored_session(f, uid, i % 2 ? "oauth2" : NULL);
        if (i % 3 != 0)
            restore_at(dst, made[i], i % 3 == 1 ? 1 : 5);
        if (i % 3 != 2)
            refresh_in(f, f->st, made[i]);   /* lock 2 in the source */
    }
    r = migrate_in(f->st, dst, OBOL_RESTORE_ONLY_NEWER);
    assert_int_equal(r.stats.total, COUNT);
    assert_report(&r, 2 * COUNT / 3, 0, COUNT / 3);
    for (int i = 0; i < COUNT; i++) {
        assert_int_equal(stored_lock_of(dst, made[i]), i % 3 == 2 ? 5 : 2);
        obol_session_free(made[i]);
    }
    r = migrate_in(f->st, dst, OBOL_RESTORE_ONLY_MISSING);
    assert_report(&r, 0, COUNT, 0);
    obol_store_close(dst);
}

/* The lock a put compares with is the driver's: also that of a record the
 * destination cannot read (sealed with a key it does not hold). */
static void only_newer_compares_with_a_record_it_cannot_read(void **state)
{
    fixture *f = *state;
    char url[1024];
    obol_store *dst = open_destination(f, url);
    obol_store *stranger = suite_open_store(f, url, 0);
    obol_session *s = suite_stored_session(f, "alice", NULL);
    obol_migrate_report r;

    assert_int_equal(obol_store_add_key(stranger, 2, suite_key_two, 1, NULL),
                     OBOL_OK);
    restore_at(stranger, s, 4);
    restore_at(f->st, s, 3);
    r = migrate_in(f->st, dst, OBOL_RESTORE_ONLY_NEWER);
    assert_report(&r, 0, 0, 1);
    restore_at(f->st, s, 6);
    r = migrate_in(f->st, dst, OBOL_RESTORE_ONLY_NEWER);
    assert_report(&r, 1, 0, 0);
    assert_int_equal(stored_lock_of(dst, s), 6);
    obol_store_close(stranger);
    obol_store_close(dst);
    obol_session_free(s);
}

/* ------------------------------------------------------ resurrection */

/* No mode can tell a session deleted in the destination from one never
 * copied: the destination keeps no tombstone, and a migration never
 * deletes (docs/SECURITY.md). */
static void a_session_deleted_in_the_destination_comes_back(void **state)
{
    static const int modes[] = { OBOL_RESTORE_ONLY_MISSING,
                                 OBOL_RESTORE_ONLY_NEWER };
    fixture *f = *state;
    obol_session *s = suite_stored_session(f, "alice", NULL);
    obol_store *dst = open_destination(f, NULL);
    obol_migrate_report r = migrate_in(f->st, dst, OBOL_RESTORE_ONLY_NEWER);

    for (size_t i = 0; i < sizeof modes / sizeof modes[0]; i++) {
        assert_int_equal(obol_delete(dst, s->id, "alice", NULL, NULL), OBOL_OK);
        r = migrate_in(f->st, dst, modes[i]);
        assert_report(&r, 1, 0, 0);
        assert_int_equal(stored_lock_of(dst, s), 1);
    }
    /* Nor is a delete in the source carried over. */
    assert_int_equal(obol_delete(f->st, s->id, "alice", NULL, NULL), OBOL_OK);
    r = migrate_in(f->st, dst, OBOL_RESTORE_ONLY_NEWER);
    assert_int_equal(stored_lock_of(dst, s), 1);
    obol_store_close(dst);
    obol_session_free(s);
}

/* ------------------------------------------------------ racing writers */

/* The destination's driver with get wrapped: each of the next armed gets
 * lets a writer store its own version of the session right after the
 * read, as a refresh on another server would, one lock version further
 * each time. */
static struct {
    obol_driver table;
    const obol_driver *original;
    obol_store *st;
    obol_session *writer;   /* written next at its lock_version */
    uint64_t writer_expects;
    int armed;
} wrap;

static int write_as_the_writer(void *handle, obol_error *err)
{
    const obol_session *w = wrap.writer;
    obol_driver_key key = {
        { (const uint8_t *)w->user_id, strlen(w->user_id) },
        { (const uint8_t *)w->type, strlen(w->type) },
        { (const uint8_t *)w->id, strlen(w->id) } };
    obol_record_buf sealed;
    obol_driver_record record;
    int status = obol_record_build(wrap.st, &key, w, w->lock_version, &sealed,
                                   &record, err);

    if (status == OBOL_OK)
        status = wrap.original->put(handle, &record, wrap.writer_expects,
                                    obol_store_now(wrap.st), err);
    obol_record_buf_release(&sealed);
    return status;
}

static int wrapped_get(void *handle, const obol_driver_key *key,
                       uint8_t **sealed, size_t *sealed_len, obol_error *err)
{
    int status = wrap.original->get(handle, key, sealed, sealed_len, err);

    if (wrap.armed > 0) {
        wrap.armed--;
        if (write_as_the_writer(handle, err) != OBOL_OK)
            fail_msg("the writer's put: %s", err->message);
        wrap.writer_expects = wrap.writer->lock_version++;
    }
    return status;
}

static void wrap_get(obol_store *st, obol_session *writer, uint64_t expects,
                     int armed)
{
    memset(&wrap, 0, sizeof wrap);
    wrap.original = st->driver;
    wrap.table = *st->driver;
    wrap.table.get = wrapped_get;
    wrap.st = st;
    wrap.writer = writer;
    wrap.writer_expects = expects;
    wrap.armed = armed;
    st->driver = &wrap.table;
}

static void unwrap_get(void)
{
    wrap.st->driver = wrap.original;
}

/* Between the read of the destination's lock (2, lower than the source's
 * 5) and the put expecting it, a writer moves the session to 9: the put
 * loses, the lock is read again, and the writer's version stays. */
static void a_write_between_the_read_and_the_put_wins(void **state)
{
    fixture *f = *state;
    obol_session *s = suite_stored_session(f, "alice", NULL);
    obol_store *dst = open_destination(f, NULL);
    obol_session *writer = obol_session_dup(s), *got;
    obol_migrate_report r;

    restore_at(f->st, s, 5);
    restore_at(dst, s, 2);
    assert_int_equal(obol_session_refresh(writer, f->now, DAY), OBOL_OK);
    writer->lock_version = 9;
    wrap_get(dst, writer, 2, 1);
    r = migrate_in(f->st, dst, OBOL_RESTORE_ONLY_NEWER);
    unwrap_get();
    assert_int_equal(wrap.armed, 0);
    assert_report(&r, 0, 0, 1);
    got = stored(dst, s);
    assert_int_equal(got->lock_version, 9);
    assert_string_equal(got->refresh_token_id, writer->refresh_token_id);
    obol_session_free(got);
    obol_session_free(writer);
    obol_store_close(dst);
    obol_session_free(s);
}

/* A writer that moves the session on between every read and put, yet
 * stays below the source's lock version: after a few rounds the catch-up
 * leaves the session to it and counts a conflict. */
static void a_writer_that_keeps_winning_is_left_the_session(void **state)
{
    fixture *f = *state;
    obol_session *s = suite_stored_session(f, "alice", NULL);
    obol_store *dst = open_destination(f, NULL);
    obol_session *writer = obol_session_dup(s);
    uint64_t written;
    obol_migrate_report r;
    obol_error err;

    restore_at(f->st, s, 100);
    restore_at(dst, s, 2);
    writer->lock_version = 3;
    wrap_get(dst, writer, 2, 1000);
    r = migrate_in(f->st, dst, OBOL_RESTORE_ONLY_NEWER);
    written = writer->lock_version - 1;
    assert_true(wrap.armed < 1000);
    assert_int_equal(r.conflicts, 1);
    assert_int_equal(r.stats.copied, 0);
    assert_int_equal(r.stats.skipped, 1);
    s->lock_version = 100;
    assert_int_equal(obol_restore_mode(dst, s, OBOL_RESTORE_ONLY_NEWER, &err),
                     OBOL_CONFLICT);
    assert_non_null(strstr(err.message, "kept changing"));
    unwrap_get();
    assert_true(writer->lock_version - 1 > written);
    assert_int_equal(stored_lock_of(dst, s), writer->lock_version - 1);
    obol_session_free(writer);
    obol_store_close(dst);
    obol_session_free(s);
}

enum { RACE_REFRESHES = 40, RACE_FILLERS = 300 };

typedef struct refresher {
    obol_store *st;
    char *token;
    uint64_t lock;        /* of the last refresh */
    int backwards;        /* refreshes that found a lower lock than before */
    int failures;
    int done;
} refresher;

static void *keep_refreshing(void *arg)
{
    refresher *r = arg;

    for (int i = 0; i < RACE_REFRESHES && r->failures == 0; i++) {
        obol_session *s = NULL;
        char *next = NULL;

        if (obol_refresh(r->st, r->token, DAY, &s, &next, NULL) != OBOL_OK) {
            r->failures++;
            break;
        }
        if (s->lock_version != r->lock + 1)
            r->backwards++;
        r->lock = s->lock_version;
        free(r->token);
        r->token = next;
        obol_session_free(s);
    }
    __atomic_store_n(&r->done, 1, __ATOMIC_RELEASE);
    return NULL;
}

/* A client refreshing in the destination while the catch-up runs again
 * and again (copying sessions that changed in the source each time):
 * every refresh goes through, and the lock only ever moves on by one. */
static void a_refresh_racing_the_catch_up_is_never_undone(void **state)
{
    fixture *f = *state;
    obol_session *s = suite_stored_session(f, "racer", NULL);
    obol_store *dst = open_destination(f, NULL);
    obol_session *fillers[RACE_FILLERS];
    refresher r = { dst, NULL, 0, 0, 0, 0 };
    pthread_t thread;
    int runs = 0;

    for (int i = 0; i < RACE_FILLERS; i++)
        fillers[i] = suite_stored_session(f, i % 2 ? "filler" : "racer", NULL);
    migrate_in(f->st, dst, OBOL_RESTORE_ONLY_NEWER);
    r.token = token_in(dst, s);
    r.lock = 1;
    assert_int_equal(pthread_create(&thread, NULL, keep_refreshing, &r), 0);
    while (!__atomic_load_n(&r.done, __ATOMIC_ACQUIRE) || runs < 2) {
        for (int i = runs % 10; i < RACE_FILLERS; i += 10)
            refresh_in(f, f->st, fillers[i]);
        migrate_in(f->st, dst, OBOL_RESTORE_ONLY_NEWER);
        runs++;
    }
    assert_int_equal(pthread_join(thread, NULL), 0);
    assert_int_equal(r.failures, 0);
    assert_int_equal(r.backwards, 0);
    assert_int_equal(stored_lock_of(dst, s), 1 + RACE_REFRESHES);
    free(refresh_token_in(dst, r.token, NULL));
    free(r.token);
    for (int i = 0; i < RACE_FILLERS; i++) {
        assert_int_equal(stored_lock_of(dst, fillers[i]),
                         fillers[i]->lock_version);
        obol_session_free(fillers[i]);
    }
    obol_store_close(dst);
    obol_session_free(s);
}

/* ------------------------------------------------------ one at a time */

static void restore_mode_says_why_it_left_a_session_alone(void **state)
{
    fixture *f = *state;
    obol_session *s = suite_stored_session(f, "alice", NULL);
    obol_session *other = obol_session_new("bob", NULL, f->now, DAY, DAY);
    obol_error err;

    assert_int_equal(obol_restore_mode(f->st, s, OBOL_RESTORE_ONLY_MISSING, &err),
                     OBOL_CONFLICT);
    assert_non_null(strstr(err.message, "holds the session already"));
    assert_int_equal(obol_restore_mode(f->st, s, OBOL_RESTORE_ONLY_NEWER, &err),
                     OBOL_CONFLICT);
    assert_non_null(strstr(err.message, "lock_version"));
    s->lock_version = 3;
    assert_int_equal(obol_restore_mode(f->st, s, OBOL_RESTORE_ONLY_NEWER, &err),
                     OBOL_OK);
    assert_int_equal(stored_lock_of(f->st, s), 3);
    other->lock_version = 1;
    assert_int_equal(obol_restore_mode(f->st, other, OBOL_RESTORE_ONLY_MISSING,
                                       &err), OBOL_OK);
    assert_int_equal(stored_lock_of(f->st, other), 1);
    assert_int_equal(obol_restore_mode(f->st, other, 7, &err), OBOL_ERR_INVALID);
    assert_non_null(strstr(err.message, "unknown mode 7"));
    obol_session_free(other);
    obol_session_free(s);
}

static void migrate_mode_refuses_bad_arguments(void **state)
{
    fixture *f = *state;
    obol_store *dst = open_destination(f, NULL);
    obol_migrate_report r = { .struct_size = 0 };
    obol_error err;

    assert_int_equal(obol_migrate_mode(f->st, dst, OBOL_RESTORE_ONLY_NEWER, NULL,
                                       NULL, &r, &err), OBOL_ERR_INVALID);
    assert_non_null(strstr(err.message, "struct_size"));
    r.struct_size = sizeof r;
    assert_int_equal(obol_migrate_mode(f->st, dst, -1, NULL, NULL, &r, &err),
                     OBOL_ERR_INVALID);
    assert_int_equal(obol_migrate_mode(f->st, dst, OBOL_RESTORE_ONLY_MISSING,
                                       NULL, NULL, NULL, &err), OBOL_OK);
    obol_store_close(dst);
}

#define CASE(name) cmocka_unit_test_setup_teardown(name, suite_setup, suite_teardown)

const struct CMUnitTest migrate_suite_tests[] = {
    CASE(only_newer_keeps_a_session_refreshed_in_the_destination),
    CASE(replace_rolls_a_session_refreshed_in_the_destination_back),
    CASE(only_newer_copies_a_session_newer_in_the_source),
    CASE(only_newer_copies_a_missing_session),
    CASE(only_missing_copies_only_missing_sessions),
    CASE(only_newer_decides_each_session_of_many_batches),
    CASE(only_newer_compares_with_a_record_it_cannot_read),
    CASE(a_session_deleted_in_the_destination_comes_back),
    CASE(a_write_between_the_read_and_the_put_wins),
    CASE(a_writer_that_keeps_winning_is_left_the_session),
    CASE(a_refresh_racing_the_catch_up_is_never_undone),
    CASE(restore_mode_says_why_it_left_a_session_alone),
    CASE(migrate_mode_refuses_bad_arguments),
};

const size_t migrate_suite_test_count =
    sizeof migrate_suite_tests / sizeof migrate_suite_tests[0];

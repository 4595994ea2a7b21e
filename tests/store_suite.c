/*
 * The store-semantics suite (see store_suite.h). Each test is one rule of
 * DESIGN.md's "The store API", named for it.
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
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include <obol/obol.h>

#include "codec_internal.h"
#include "driver_suite.h"
#include "session_assert.h"
#include "store_internal.h"
#include "store_suite.h"
#include "suite_counts.h"
#include "suite_fixture.h"
#include "suite_keys.h"
#include "suite_logout.h"
#include "suite_migrate.h"
#include "suite_security.h"
#include "suite_sweep.h"
#include "suite_watchdog.h"
#include "suite_refresh.h"
#include "suite_stats.h"

static void assert_not_found(fixture *f, const char *sid, const char *uid,
                             const char *type)
{
    obol_session *got = NULL;

    assert_int_equal(obol_get(f->st, sid, uid, type, &got, NULL), OBOL_NOT_FOUND);
    assert_null(got);
}

/* ---------------------------------------------------------------- reads */

static void get_of_missing_session_is_not_found(void **state)
{
    fixture *f = *state;

    assert_not_found(f, "no-such-session", "alice", NULL);
}

static void every_field_survives_a_round_trip(void **state)
{
    fixture *f = *state;
    static const uint8_t payload[] = { 0, 1, 2, 0, 0xff, 'x', 0, 0x80 };
    obol_session *s = obol_session_new("alice", "oauth2", f->now, 7 * DAY, DAY);
    obol_session *got = NULL;

    assert_non_null(s);
    s->created_at = f->now - 100;
    s->tokens_fresh_from = f->now - 50;
    s->prev_tokens_fresh_from = f->now - 75;
    assert_int_equal(obol_session_set_payload(s, payload, sizeof payload), OBOL_OK);
    assert_int_equal(obol_upsert(f->st, s, NULL), OBOL_OK);
    assert_int_equal(obol_get(f->st, s->id, "alice", "oauth2", &got, NULL), OBOL_OK);
    assert_sessions_equal(s, got);
    assert_int_equal(got->version, OBOL_SESSION_VERSION);
    obol_session_free(got);
    obol_session_free(s);
}

static void infinite_session_round_trips(void **state)
{
    fixture *f = *state;
    obol_session *s = obol_session_new("alice", NULL, f->now, OBOL_INFINITE, DAY);
    obol_session *got = NULL;

    assert_non_null(s);
    assert_true(s->expires_at == OBOL_INFINITE);
    assert_int_equal(obol_upsert(f->st, s, NULL), OBOL_OK);
    assert_int_equal(obol_get(f->st, s->id, "alice", NULL, &got, NULL), OBOL_OK);
    assert_true(got->expires_at == OBOL_INFINITE);
    obol_session_free(got);
    obol_session_free(s);
}

static void null_type_means_full(void **state)
{
    fixture *f = *state;
    obol_session *s = suite_stored_session(f, "alice", NULL);
    obol_session *got = NULL;

    assert_string_equal(s->type, "full");
    assert_int_equal(obol_get(f->st, s->id, "alice", "full", &got, NULL), OBOL_OK);
    obol_session_free(got);
    obol_session_free(s);
}

static void expired_session_is_not_returned(void **state)
{
    fixture *f = *state;
    obol_session *s = suite_stored_session(f, "alice", NULL);

    f->now += DAY + 1;
    assert_not_found(f, s->id, "alice", NULL);
    obol_session_free(s);
}

/* ------------------------------------------------------------ isolation */

static void types_are_isolated(void **state)
{
    fixture *f = *state;
    obol_session *s = suite_stored_session(f, "alice", "full");

    assert_not_found(f, s->id, "alice", "oauth2");
    obol_session_free(s);
}

static void users_are_isolated(void **state)
{
    fixture *f = *state;
    obol_session *s = suite_stored_session(f, "alice", NULL);

    assert_not_found(f, s->id, "bob", NULL);
    assert_not_found(f, s->id, "alic", NULL);
    assert_not_found(f, s->id, "alicee", NULL);
    obol_session_free(s);
}

/* User ids and types that would collide under a naive "user:type" key. */
static void odd_bytes_in_ids_never_collide(void **state)
{
    fixture *f = *state;
    static const char *const users[] = {
        "a", "a:b", "a:b:c", "{a}", "a}", "{", "a b", "a*", "a?", "a\\",
        "\xff\xfe", "a\x01", "a/b", "a%00", "\xc3\xa9t\xc3\xa9",
    };
    static const char *const types[] = { "full", "b", "b:full", "full:b", "}" };
    enum { USERS = sizeof users / sizeof users[0], TYPES = sizeof types / sizeof types[0] };
    obol_session *made[USERS][TYPES];

    for (size_t u = 0; u < USERS; u++)
        for (size_t t = 0; t < TYPES; t++)
            made[u][t] = suite_stored_session(f, users[u], types[t]);
    for (size_t u = 0; u < USERS; u++) {
        for (size_t t = 0; t < TYPES; t++) {
            obol_session **all = NULL;
            size_t count = 0;

            assert_int_equal(obol_get_all(f->st, users[u], types[t], &all, &count,
                                          NULL), OBOL_OK);
            assert_int_equal(count, 1);
            assert_string_equal(all[0]->id, made[u][t]->id);
            obol_sessions_free(all, count);
        }
    }
    for (size_t u = 0; u < USERS; u++)
        for (size_t t = 0; t < TYPES; t++)
            obol_session_free(made[u][t]);
}

/* A valid record filed under another user's key must not be served. */
static void record_copied_to_another_user_is_refused(void **state)
{
    fixture *f = *state;
    obol_store *st = f->st;
    obol_session *s = suite_stored_session(f, "alice", NULL);
    obol_driver_key from = { { (const uint8_t *)"alice", 5 },
                             { (const uint8_t *)"full", 4 },
                             { (const uint8_t *)s->id, strlen(s->id) } };
    obol_driver_record copy = { { { (const uint8_t *)"mallory", 7 },
                                  { (const uint8_t *)"full", 4 },
                                  from.id }, { NULL, 0 }, s->refresh_expires_at, 1 };
    obol_error err;
    uint8_t *bytes;
    size_t len;

    assert_int_equal(st->driver->get(st->handle, &from, &bytes, &len, &err), OBOL_OK);
    copy.sealed.data = bytes;
    copy.sealed.len = len;
    assert_int_equal(st->driver->put(st->handle, &copy, 0, f->now, &err), OBOL_OK);
    free(bytes);
    f->warnings = 0;
    assert_not_found(f, s->id, "mallory", NULL);
    assert_int_equal(f->warnings, 1);
    assert_non_null(strstr(f->last_warning, "MAC mismatch"));
    obol_session_free(s);
}

static void record_altered_in_the_backend_is_refused(void **state)
{
    fixture *f = *state;
    obol_store *st = f->st;
    obol_session *s = suite_stored_session(f, "alice", NULL);
    obol_driver_record rec = { { { (const uint8_t *)"alice", 5 },
                                 { (const uint8_t *)"full", 4 },
                                 { (const uint8_t *)s->id, strlen(s->id) } },
                               { NULL, 0 }, s->refresh_expires_at, 2 };
    obol_error err;
    uint8_t *bytes;
    size_t len;

    assert_int_equal(st->driver->get(st->handle, &rec.key, &bytes, &len, &err), OBOL_OK);
    bytes[len - 1] ^= 0x01;
    rec.sealed.data = bytes;
    rec.sealed.len = len;
    assert_int_equal(st->driver->put(st->handle, &rec, 1, f->now, &err), OBOL_OK);
    free(bytes);
    f->warnings = 0;
    assert_not_found(f, s->id, "alice", NULL);
    assert_int_equal(f->warnings, 1);
    obol_session_free(s);
}

/* --------------------------------------------------------------- upsert */

static void new_session_gets_lock_version_one(void **state)
{
    fixture *f = *state;
    obol_session *s = suite_stored_session(f, "alice", NULL);

    assert_true(s->lock_version == 1);
    obol_session_free(s);
}

static void insert_of_an_existing_id_conflicts(void **state)
{
    fixture *f = *state;
    obol_session *s = suite_stored_session(f, "alice", NULL);
    obol_session *twin = obol_session_dup(s);

    twin->lock_version = 0;
    assert_int_equal(obol_upsert(f->st, twin, NULL), OBOL_CONFLICT);
    assert_true(twin->lock_version == 0);
    obol_session_free(twin);
    obol_session_free(s);
}

static void refresh_with_current_lock_succeeds(void **state)
{
    fixture *f = *state;
    obol_session *s = suite_stored_session(f, "alice", NULL);
    obol_session *got = NULL;

    f->now += 60;
    assert_int_equal(obol_session_refresh(s, f->now, DAY), OBOL_OK);
    assert_int_equal(obol_upsert(f->st, s, NULL), OBOL_OK);
    assert_true(s->lock_version == 2);
    assert_int_equal(obol_get(f->st, s->id, "alice", NULL, &got, NULL), OBOL_OK);
    assert_sessions_equal(s, got);
    obol_session_free(got);
    obol_session_free(s);
}

static void stale_refresh_conflicts_and_changes_nothing(void **state)
{
    fixture *f = *state;
    obol_session *s = suite_stored_session(f, "alice", NULL);
    obol_session *stale = obol_session_dup(s);
    obol_session *got = NULL;
    obol_error err;

    assert_int_equal(obol_session_refresh(s, f->now + 1, DAY), OBOL_OK);
    assert_int_equal(obol_upsert(f->st, s, NULL), OBOL_OK);
    assert_int_equal(obol_session_refresh(stale, f->now + 2, DAY), OBOL_OK);
    assert_int_equal(obol_upsert(f->st, stale, &err), OBOL_CONFLICT);
    assert_int_equal(err.status, OBOL_CONFLICT);
    assert_true(stale->lock_version == 1);
    assert_int_equal(obol_get(f->st, s->id, "alice", NULL, &got, NULL), OBOL_OK);
    assert_string_equal(got->refresh_token_id, s->refresh_token_id);
    obol_session_free(got);
    obol_session_free(stale);
    obol_session_free(s);
}

static void refresh_after_delete_does_not_resurrect(void **state)
{
    fixture *f = *state;
    obol_session *s = suite_stored_session(f, "alice", NULL);

    assert_int_equal(obol_delete(f->st, s->id, "alice", NULL, NULL), OBOL_OK);
    assert_int_equal(obol_session_refresh(s, f->now + 1, DAY), OBOL_OK);
    assert_int_equal(obol_upsert(f->st, s, NULL), OBOL_CONFLICT);
    assert_not_found(f, s->id, "alice", NULL);
    obol_session_free(s);
}

static void refresh_of_an_expired_record_conflicts(void **state)
{
    fixture *f = *state;
    obol_session *s = suite_stored_session(f, "alice", NULL);

    f->now += DAY + 10;
    assert_int_equal(obol_session_refresh(s, f->now, DAY), OBOL_OK);
    assert_int_equal(obol_upsert(f->st, s, NULL), OBOL_CONFLICT);
    obol_session_free(s);
}

static void upsert_of_an_expired_session_writes_nothing(void **state)
{
    fixture *f = *state;
    obol_session *s = obol_session_new("alice", NULL, f->now - 2 * DAY, 7 * DAY, DAY);
    obol_session **all = NULL;
    size_t count = 0;

    assert_int_equal(obol_upsert(f->st, s, NULL), OBOL_OK);
    assert_true(s->lock_version == 0);
    f->now -= 2 * DAY;   /* even a clock turned back finds nothing */
    assert_not_found(f, s->id, "alice", NULL);
    assert_int_equal(obol_get_all(f->st, "alice", NULL, &all, &count, NULL), OBOL_OK);
    assert_int_equal(count, 0);
    obol_sessions_free(all, count);
    obol_session_free(s);
}

static void payload_over_the_limit_is_too_large(void **state)
{
    fixture *f = *state;
    obol_session *s = obol_session_new("alice", NULL, f->now, 7 * DAY, DAY);
    uint8_t big[1025];
    obol_error err;

    memset(big, 'p', sizeof big);
    assert_int_equal(obol_session_set_payload(s, big, sizeof big), OBOL_OK);
    assert_int_equal(obol_upsert(f->st, s, &err), OBOL_ERR_TOO_LARGE);
    assert_non_null(strstr(err.message, "max_payload"));
    assert_not_found(f, s->id, "alice", NULL);
    assert_int_equal(obol_session_set_payload(s, big, 1024), OBOL_OK);
    assert_int_equal(obol_upsert(f->st, s, NULL), OBOL_OK);
    obol_session_free(s);
}

/* Every string of a session is bounded (OBOL_MAX_ID_LEN), which is what
 * lets max_record cover every record a store writes. */
static void ids_over_the_limit_are_too_large(void **state)
{
    fixture *f = *state;
    obol_session *s = obol_session_new("alice", NULL, f->now, 7 * DAY, DAY);
    char *long_id = malloc(OBOL_MAX_ID_LEN + 2);
    obol_error err;

    assert_non_null(long_id);
    memset(long_id, 'x', OBOL_MAX_ID_LEN + 1);
    long_id[OBOL_MAX_ID_LEN + 1] = '\0';
    free(s->refresh_token_id);
    s->refresh_token_id = long_id;
    assert_int_equal(obol_upsert(f->st, s, &err), OBOL_ERR_TOO_LARGE);
    assert_non_null(strstr(err.message, "refresh_token_id of 1025 bytes"));
    assert_not_found(f, s->id, "alice", NULL);
    long_id[OBOL_MAX_ID_LEN] = '\0';
    assert_int_equal(obol_upsert(f->st, s, &err), OBOL_OK);
    obol_session_free(s);
}

static void invalid_arguments_are_refused(void **state)
{
    fixture *f = *state;
    obol_session *s = obol_session_new("alice", NULL, f->now, 7 * DAY, DAY);
    obol_session *got = NULL;
    obol_error err;

    assert_int_equal(obol_get(f->st, NULL, "alice", NULL, &got, &err), OBOL_ERR_INVALID);
    assert_int_equal(obol_get(f->st, "x", "", NULL, &got, &err), OBOL_ERR_INVALID);
    assert_int_equal(obol_get(f->st, "x", "alice", "", &got, &err), OBOL_ERR_INVALID);
    assert_int_equal(obol_upsert(f->st, NULL, &err), OBOL_ERR_INVALID);
    s->refresh_expires_at = s->expires_at + 1;
    assert_int_equal(obol_upsert(f->st, s, &err), OBOL_ERR_INVALID);
    assert_non_null(strstr(err.message, "refresh_expires_at"));
    obol_session_free(s);
}

/* -------------------------------------------------------- lists, deletes */

static void delete_of_a_missing_session_is_ok(void **state)
{
    fixture *f = *state;

    assert_int_equal(obol_delete(f->st, "nothing", "alice", NULL, NULL), OBOL_OK);
}

static void delete_removes_only_that_session(void **state)
{
    fixture *f = *state;
    obol_session *a = suite_stored_session(f, "alice", NULL);
    obol_session *b = suite_stored_session(f, "alice", NULL);
    obol_session *got = NULL;

    assert_int_equal(obol_delete(f->st, a->id, "alice", NULL, NULL), OBOL_OK);
    assert_not_found(f, a->id, "alice", NULL);
    assert_int_equal(obol_get(f->st, b->id, "alice", NULL, &got, NULL), OBOL_OK);
    obol_session_free(got);
    obol_session_free(a);
    obol_session_free(b);
}

static int has_session(obol_session **all, size_t count, const char *id)
{
    for (size_t i = 0; i < count; i++)
        if (strcmp(all[i]->id, id) == 0)
            return 1;
    return 0;
}

static void get_all_returns_only_live_sessions_of_that_user_and_type(void **state)
{
    fixture *f = *state;
    obol_session *mine1 = suite_stored_session(f, "alice", NULL);
    obol_session *mine2 = suite_stored_session(f, "alice", NULL);
    obol_session *other_type = suite_stored_session(f, "alice", "oauth2");
    obol_session *other_user = suite_stored_session(f, "bob", NULL);
    obol_session *short_lived = obol_session_new("alice", NULL, f->now, 7 * DAY, 60);
    obol_session **all = NULL;
    size_t count = 0;

    assert_int_equal(obol_upsert(f->st, short_lived, NULL), OBOL_OK);
    f->now += 61;
    assert_int_equal(obol_get_all(f->st, "alice", NULL, &all, &count, NULL), OBOL_OK);
    assert_int_equal(count, 2);
    assert_true(has_session(all, count, mine1->id));
    assert_true(has_session(all, count, mine2->id));
    obol_sessions_free(all, count);
    obol_session_free(mine1);
    obol_session_free(mine2);
    obol_session_free(other_type);
    obol_session_free(other_user);
    obol_session_free(short_lived);
}

static void get_all_of_an_unknown_user_is_empty(void **state)
{
    fixture *f = *state;
    obol_session **all = NULL;
    size_t count = 7;

    assert_int_equal(obol_get_all(f->st, "nobody", NULL, &all, &count, NULL), OBOL_OK);
    assert_int_equal(count, 0);
    obol_sessions_free(all, count);
}

static void delete_all_touches_no_other_user_or_type(void **state)
{
    fixture *f = *state;
    obol_session *mine = suite_stored_session(f, "alice", NULL);
    obol_session *other_type = suite_stored_session(f, "alice", "oauth2");
    obol_session *other_user = suite_stored_session(f, "alice2", NULL);
    obol_session *got = NULL;

    assert_int_equal(obol_delete_all(f->st, "alice", NULL, NULL), OBOL_OK);
    assert_not_found(f, mine->id, "alice", NULL);
    assert_int_equal(obol_get(f->st, other_type->id, "alice", "oauth2", &got, NULL), OBOL_OK);
    obol_session_free(got);
    assert_int_equal(obol_get(f->st, other_user->id, "alice2", NULL, &got, NULL), OBOL_OK);
    obol_session_free(got);
    obol_session_free(mine);
    obol_session_free(other_type);
    obol_session_free(other_user);
}

static void prune_removes_expired_records_only(void **state)
{
    fixture *f = *state;
    obol_session *dies = obol_session_new("alice", NULL, f->now, 7 * DAY, 60);
    obol_session *lives = suite_stored_session(f, "alice", NULL);
    obol_session *got = NULL;
    int64_t start = f->now;

    assert_int_equal(obol_upsert(f->st, dies, NULL), OBOL_OK);
    f->now += 120;
    assert_int_equal(obol_prune(f->st, NULL), OBOL_OK);
    /* Turn the clock back: only a record that is really gone stays away. */
    f->now = start;
    assert_not_found(f, dies->id, "alice", NULL);
    assert_int_equal(obol_get(f->st, lives->id, "alice", NULL, &got, NULL), OBOL_OK);
    obol_session_free(got);
    obol_session_free(dies);
    obol_session_free(lives);
}

/* A session of uid stored under key two, which f's store does not hold:
 * a record the store refuses for its seal. */
static obol_session *stored_under_key_two(fixture *f, const char *uid)
{
    obol_store *other = suite_open_store(f, f->url, 0);
    obol_session *s = obol_session_new(uid, NULL, f->now, 7 * DAY, DAY);

    s->lock_version = 1;
    assert_int_equal(obol_store_add_key(other, 1, suite_key_two, 1, NULL), OBOL_OK);
    assert_int_equal(obol_restore(other, s, NULL), OBOL_OK);
    obol_store_close(other);
    return s;
}

static void delete_counted_says_whether_it_removed_one(void **state)
{
    fixture *f = *state;
    obol_session *a = suite_stored_session(f, "alice", NULL);
    obol_session *refused = stored_under_key_two(f, "alice");
    uint64_t removed = 99;

    assert_int_equal(obol_delete_counted(f->st, a->id, "alice", NULL, &removed,
                                         NULL), OBOL_OK);
    assert_int_equal(removed, 1);
    assert_int_equal(obol_delete_counted(f->st, a->id, "alice", NULL, &removed,
                                         NULL), OBOL_OK);
    assert_int_equal(removed, 0);
    /* A record the store refuses to read is removed, and counted, all the
     * same. */
    assert_int_equal(obol_delete_counted(f->st, refused->id, "alice", NULL,
                                         &removed, NULL), OBOL_OK);
    assert_int_equal(removed, 1);
    assert_int_equal(obol_delete_counted(f->st, "", "alice", NULL, &removed,
                                         NULL), OBOL_ERR_INVALID);
    assert_int_equal(removed, 0);
    obol_session_free(a);
    obol_session_free(refused);
}

static void delete_all_counted_counts_that_user_and_type_only(void **state)
{
    fixture *f = *state;
    uint64_t removed = 99;

    obol_session_free(suite_stored_session(f, "alice", NULL));
    obol_session_free(suite_stored_session(f, "alice", NULL));
    obol_session_free(stored_under_key_two(f, "alice"));
    obol_session_free(suite_stored_session(f, "alice", "oauth2"));
    obol_session_free(suite_stored_session(f, "bob", NULL));
    assert_int_equal(obol_delete_all_counted(f->st, "alice", NULL, &removed,
                                             NULL), OBOL_OK);
    assert_int_equal(removed, 3);
    assert_int_equal(obol_delete_all_counted(f->st, "alice", NULL, &removed,
                                             NULL), OBOL_OK);
    assert_int_equal(removed, 0);
    assert_int_equal(obol_delete_all_counted(f->st, "alice", "oauth2",
                                             &removed, NULL), OBOL_OK);
    assert_int_equal(removed, 1);
}

static void prune_counted_counts_the_expired_records(void **state)
{
    fixture *f = *state;
    obol_session *dies = obol_session_new("alice", NULL, f->now, 7 * DAY, 60);
    obol_session *dies_too = obol_session_new("bob", "api", f->now, 7 * DAY, 60);
    obol_session *lives = suite_stored_session(f, "alice", NULL);
    uint64_t removed = 99;

    assert_int_equal(obol_upsert(f->st, dies, NULL), OBOL_OK);
    assert_int_equal(obol_upsert(f->st, dies_too, NULL), OBOL_OK);
    f->now += 120;
    assert_int_equal(obol_prune_counted(f->st, &removed, NULL), OBOL_OK);
    assert_int_equal(removed, 2);
    assert_int_equal(obol_prune_counted(f->st, &removed, NULL), OBOL_OK);
    assert_int_equal(removed, 0);
    assert_not_found(f, dies->id, "alice", NULL);
    obol_session_free(dies);
    obol_session_free(dies_too);
    obol_session_free(lives);
}

/* ----------------------------------------------------------------- keys */

static void store_without_key_refuses_everything(void **state)
{
    fixture *f = *state;
    obol_store *bare = suite_open_store(f, f->url, 0);
    obol_session *s = obol_session_new("alice", NULL, f->now, 7 * DAY, DAY);
    obol_session *got = NULL;
    obol_session **all = NULL;
    size_t count = 0;
    obol_error err;

    assert_int_equal(obol_get(bare, "x", "alice", NULL, &got, &err), OBOL_ERR_KEY);
    assert_int_equal(obol_upsert(bare, s, &err), OBOL_ERR_KEY);
    assert_int_equal(obol_delete(bare, "x", "alice", NULL, &err), OBOL_ERR_KEY);
    assert_int_equal(obol_get_all(bare, "alice", NULL, &all, &count, &err), OBOL_ERR_KEY);
    assert_int_equal(obol_delete_all(bare, "alice", NULL, &err), OBOL_ERR_KEY);
    assert_non_null(strstr(err.message, "key"));
    obol_store_close(bare);
    obol_session_free(s);
}

static void record_signed_with_another_key_is_refused(void **state)
{
    fixture *f = *state;
    obol_session *s = suite_stored_session(f, "alice", NULL);
    obol_store *other = suite_open_store(f, f->url, 0);
    obol_session *got = NULL;

    assert_int_equal(obol_store_add_key(other, 1, suite_key_two, 1, NULL), OBOL_OK);
    f->warnings = 0;
    assert_int_equal(obol_get(other, s->id, "alice", NULL, &got, NULL), OBOL_NOT_FOUND);
    assert_int_equal(f->warnings, 1);
    obol_store_close(other);
    obol_session_free(s);
}

static void old_key_keeps_verifying_after_rotation(void **state)
{
    fixture *f = *state;
    obol_session *old = suite_stored_session(f, "alice", NULL);
    obol_session *got = NULL;

    assert_int_equal(obol_store_add_key(f->st, 2, suite_key_two, 1, NULL), OBOL_OK);
    assert_int_equal(obol_get(f->st, old->id, "alice", NULL, &got, NULL), OBOL_OK);
    obol_session_free(got);
    /* A rewrite is signed with the new key: a store with only key two reads it. */
    assert_int_equal(obol_upsert(f->st, old, NULL), OBOL_OK);
    {
        obol_store *only_two = suite_open_store(f, f->url, 0);
        assert_int_equal(obol_store_add_key(only_two, 2, suite_key_two, 1, NULL), OBOL_OK);
        assert_int_equal(obol_get(only_two, old->id, "alice", NULL, &got, NULL), OBOL_OK);
        obol_session_free(got);
        obol_store_close(only_two);
    }
    obol_session_free(old);
}

/* A record written by an unsigned deployment: the bare encoding. */
static void put_unsigned_record(fixture *f, const obol_session *s)
{
    obol_driver_record rec = { { { (const uint8_t *)s->user_id, strlen(s->user_id) },
                                 { (const uint8_t *)s->type, strlen(s->type) },
                                 { (const uint8_t *)s->id, strlen(s->id) } },
                               { NULL, 0 }, s->refresh_expires_at, 1 };
    obol_session copy = *s;
    uint8_t buf[1024];
    size_t len;
    obol_error err;

    copy.lock_version = 1;
    assert_int_equal(obol_codec_encode(&copy, buf, sizeof buf, &len), OBOL_OK);
    rec.sealed.data = buf;
    rec.sealed.len = len;
    assert_int_equal(f->st->driver->put(f->st->handle, &rec, 0, f->now, &err), OBOL_OK);
}

static void count_unsigned_read(void *arg, const obol_event *event)
{
    if (event->kind == OBOL_EVENT_UNSIGNED_READ)
        (*(int *)arg)++;
}

static void unsigned_record_is_read_only_when_allowed(void **state)
{
    fixture *f = *state;
    obol_session *s = obol_session_new("alice", NULL, f->now, 7 * DAY, DAY);
    obol_session *got = NULL;
    char url[1100];
    obol_store *lenient;

    int unsigned_reads = 0;

    put_unsigned_record(f, s);
    assert_not_found(f, s->id, "alice", NULL);
    snprintf(url, sizeof url, "%s&allow_unsigned=1", f->url);
    lenient = suite_open_store(f, url, 1);
    obol_store_set_event_hook(lenient, count_unsigned_read, &unsigned_reads);
    f->warnings = 0;
    assert_int_equal(obol_get(lenient, s->id, "alice", NULL, &got, NULL), OBOL_OK);
    assert_int_equal(f->warnings, 1);
    assert_int_equal(unsigned_reads, 1);
    assert_non_null(strstr(f->last_warning, "unsigned"));
    assert_string_equal(got->refresh_token_id, s->refresh_token_id);
    obol_session_free(got);
    obol_store_close(lenient);
    obol_session_free(s);
}

static void secret_from_environment_signs_and_verifies(void **state)
{
    fixture *f = *state;
    obol_session *s = obol_session_new("alice", NULL, f->now, 7 * DAY, DAY);
    obol_session *got = NULL;
    char url[1100];
    obol_store *a, *b;

    setenv("OBOL_SUITE_SECRET", "a test secret that is long enough", 1);
    snprintf(url, sizeof url, "%s&secret=env:OBOL_SUITE_SECRET&key_id=7", f->url);
    a = suite_open_store(f, url, 0);
    b = suite_open_store(f, url, 0);
    assert_int_equal(obol_upsert(a, s, NULL), OBOL_OK);
    assert_int_equal(obol_get(b, s->id, "alice", NULL, &got, NULL), OBOL_OK);
    obol_session_free(got);
    /* The store keyed by raw key one cannot read it. */
    assert_not_found(f, s->id, "alice", NULL);
    obol_store_close(a);
    obol_store_close(b);
    obol_session_free(s);
}

static void aead_sealed_session_round_trips(void **state)
{
    fixture *f = *state;
    obol_session *s = obol_session_new("alice", NULL, f->now, 7 * DAY, DAY);
    obol_session *got = NULL;

    assert_int_equal(obol_session_set_payload(s, "secret-ish payload", 18), OBOL_OK);
    assert_int_equal(obol_upsert(f->st, s, NULL), OBOL_OK);
    assert_int_equal(obol_get(f->st, s->id, "alice", NULL, &got, NULL), OBOL_OK);
    assert_sessions_equal(s, got);
    obol_session_free(got);
    obol_session_free(s);
}

static void describe_names_the_driver_and_its_backend(void **state)
{
    fixture *f = *state;
    obol_store_info info;

    assert_int_equal(obol_store_describe(f->st, &info, NULL), OBOL_OK);
    assert_string_equal(info.driver, obol_store_driver_name(f->st));
    assert_int_equal(info.driver_abi_major, OBOL_DRIVER_ABI_MAJOR);
    assert_int_equal(info.thread_safe,
                     !!(f->st->driver->capabilities & OBOL_DRIVER_THREAD_SAFE));
    if (f->st->driver->health != NULL)
        assert_true(strlen(info.backend) > 0);
}

/* --------------------------------------------------------- whole stores */

typedef struct seen_ids {
    char ids[8][32];
    size_t count;
} seen_ids;

static int remember_id(void *arg, const obol_session *s)
{
    seen_ids *seen = arg;

    if (seen->count < 8)
        snprintf(seen->ids[seen->count], sizeof seen->ids[0], "%s", s->id);
    seen->count++;
    return OBOL_OK;
}

static int seen_id(const seen_ids *seen, const char *id)
{
    for (size_t i = 0; i < seen->count && i < 8; i++)
        if (strcmp(seen->ids[i], id) == 0)
            return 1;
    return 0;
}

static void scan_visits_every_live_session_and_counts_the_rest(void **state)
{
    fixture *f = *state;
    obol_session *a = suite_stored_session(f, "alice", NULL);
    obol_session *b = suite_stored_session(f, "bob", "oauth2");
    obol_session *dies = obol_session_new("carol", NULL, f->now, DAY, 60);
    obol_session *bad = suite_stored_session(f, "dave", NULL);
    obol_store *other = suite_open_store(f, f->url, 0);
    obol_scan_stats stats;
    seen_ids seen = { 0 };

    assert_int_equal(obol_upsert(f->st, dies, NULL), OBOL_OK);
    /* dave's record, rewritten under another key, no longer verifies. */
    assert_int_equal(obol_store_add_key(other, 1, suite_key_two, 1, NULL), OBOL_OK);
    assert_int_equal(obol_restore(other, bad, NULL), OBOL_OK);
    f->now += 61;
    f->warnings = 0;
    assert_int_equal(obol_scan(f->st, remember_id, &seen, &stats, NULL), OBOL_OK);
    assert_true(stats.records == 4 && stats.live == 2 && stats.expired == 1 &&
                stats.rejected == 1);
    assert_int_equal(seen.count, 2);
    assert_true(seen_id(&seen, a->id) && seen_id(&seen, b->id));
    assert_int_equal(f->warnings, 1);
    obol_store_close(other);
    obol_session_free(a);
    obol_session_free(b);
    obol_session_free(dies);
    obol_session_free(bad);
}

static int stop_at_first(void *arg, const obol_session *s)
{
    (void)arg;
    (void)s;
    return OBOL_CONFLICT;
}

static void scan_stops_when_the_callback_says_so(void **state)
{
    fixture *f = *state;
    obol_session *a = suite_stored_session(f, "alice", NULL);
    obol_session *b = suite_stored_session(f, "alice", NULL);
    obol_scan_stats stats;

    assert_int_equal(obol_scan(f->st, stop_at_first, NULL, &stats, NULL), OBOL_CONFLICT);
    assert_true(stats.live == 1);
    obol_session_free(a);
    obol_session_free(b);
}

static void scan_sample_stops_after_that_many_records_verified_or_not(void **state)
{
    fixture *f = *state;
    obol_scan_stats stats;
    seen_ids seen = { 0 };

    /* Records of another key only: with a wrong secret none verifies, and
     * a sample must not walk the whole store looking for a live one. */
    for (int i = 0; i < 5; i++)
        obol_session_free(stored_under_key_two(f, "alice"));
    assert_int_equal(obol_scan_sample(f->st, 2, remember_id, &seen, &stats,
                                      NULL), OBOL_OK);
    assert_true(stats.records == 2 && stats.rejected == 2 && stats.live == 0);
    assert_int_equal(obol_scan_sample(f->st, 0, remember_id, &seen, &stats,
                                      NULL), OBOL_OK);
    assert_true(stats.records == 0);
    obol_session_free(suite_stored_session(f, "bob", NULL));
    assert_int_equal(obol_scan_sample(f->st, 100, remember_id, &seen, &stats,
                                      NULL), OBOL_OK);
    assert_true(stats.records == 6 && stats.rejected == 5 && stats.live == 1);
    assert_int_equal(seen.count, 1);
}

static void restore_writes_the_session_as_it_is(void **state)
{
    fixture *f = *state;
    obol_session *s = suite_stored_session(f, "alice", NULL);
    obol_session *copy = obol_session_dup(s);
    obol_session *got = NULL;

    copy->lock_version = 41;
    copy->refreshed_at = f->now - 5;
    assert_int_equal(obol_restore(f->st, copy, NULL), OBOL_OK);
    assert_true(copy->lock_version == 41);
    assert_int_equal(obol_get(f->st, s->id, "alice", NULL, &got, NULL), OBOL_OK);
    assert_sessions_equal(copy, got);
    obol_session_free(got);
    /* The old copy's lock is stale now; the restored one's is current. */
    assert_int_equal(obol_upsert(f->st, s, NULL), OBOL_CONFLICT);
    assert_int_equal(obol_upsert(f->st, copy, NULL), OBOL_OK);
    obol_session_free(copy);
    obol_session_free(s);
}

static void restore_refuses_a_new_session(void **state)
{
    fixture *f = *state;
    obol_session *s = obol_session_new("alice", NULL, f->now, DAY, DAY);
    obol_error err;

    assert_int_equal(obol_restore(f->st, s, &err), OBOL_ERR_INVALID);
    assert_non_null(strstr(err.message, "lock_version"));
    obol_session_free(s);
}

/* obol_restore_check() says what obol_restore() would, and writes
 * nothing either way. */
static void restore_check_judges_as_restore_does_and_writes_nothing(
    void **state)
{
    fixture *f = *state;
    obol_session *s = obol_session_new("alice", NULL, f->now, 7 * DAY, DAY);
    uint8_t big[1025];
    obol_error checked, restored;

    memset(big, 'p', sizeof big);
    s->lock_version = 5;
    assert_int_equal(obol_session_set_payload(s, big, 1024), OBOL_OK);
    assert_int_equal(obol_restore_check(f->st, s, &checked), OBOL_OK);
    assert_int_equal(checked.status, OBOL_OK);
    assert_not_found(f, s->id, "alice", NULL);

    assert_int_equal(obol_session_set_payload(s, big, sizeof big), OBOL_OK);
    assert_int_equal(obol_restore_check(f->st, s, &checked),
                     OBOL_ERR_TOO_LARGE);
    assert_int_equal(obol_restore(f->st, s, &restored), OBOL_ERR_TOO_LARGE);
    assert_string_equal(checked.message, restored.message);
    assert_non_null(strstr(checked.message, "max_payload"));
    assert_not_found(f, s->id, "alice", NULL);

    s->lock_version = 0;   /* what obol_restore() refuses, so does this */
    assert_int_equal(obol_restore_check(f->st, s, &checked), OBOL_ERR_INVALID);
    assert_int_equal(obol_restore(f->st, s, &restored), OBOL_ERR_INVALID);
    assert_string_equal(checked.message, restored.message);
    obol_session_free(s);
}

/* Checks that dst holds each of the count sessions exactly, then frees
 * them. */
static void assert_migrated_then_free(obol_store *dst, obol_session **made,
                                      size_t count)
{
    for (size_t i = 0; i < count; i++) {
        obol_session *got = NULL;
        assert_int_equal(obol_get(dst, made[i]->id, made[i]->user_id, made[i]->type,
                                  &got, NULL), OBOL_OK);
        assert_sessions_equal(made[i], got);
        obol_session_free(got);
        obol_session_free(made[i]);
    }
}

static void migrate_copies_every_live_session_and_is_idempotent(void **state)
{
    fixture *f = *state;
    fixture to = { 0 };
    obol_session *made[3];
    obol_session *dies = obol_session_new("carol", NULL, f->now, DAY, 60);
    obol_migrate_stats stats;

    made[0] = suite_stored_session(f, "alice", NULL);
    made[1] = suite_stored_session(f, "alice", "oauth2");
    made[2] = suite_stored_session(f, "bob", NULL);
    assert_int_equal(obol_session_set_payload(made[2], "\0bytes\0", 7), OBOL_OK);
    assert_int_equal(obol_upsert(f->st, made[2], NULL), OBOL_OK);
    assert_int_equal(obol_upsert(f->st, dies, NULL), OBOL_OK);
    f->now += 61;
    to.now = f->now;
    suite_make_url(&to, NULL);
    to.st = suite_open_store(&to, to.url, 0);
    assert_int_equal(obol_store_add_key(to.st, 9, suite_key_two, 1, NULL), OBOL_OK);
    for (int run = 0; run < 2; run++) {
        assert_int_equal(obol_migrate(f->st, to.st, NULL, NULL, &stats, NULL), OBOL_OK);
        assert_true(stats.total == 4 && stats.seen == 4 && stats.copied == 3 &&
                    stats.skipped == 1 && stats.rejected == 0);
    }
    assert_migrated_then_free(to.st, made, 3);
    obol_session_free(dies);
    obol_store_close(to.st);
}

/* More sessions than a migration writes at once, into a destination that
 * holds some of them already: one under a higher lock version, one sealed
 * with a key the destination cannot read. The copy replaces both. */
static void migrate_replaces_what_the_destination_holds(void **state)
{
    enum { COUNT = 300 };
    fixture *f = *state;
    fixture to = { 0 };
    obol_session *made[COUNT];
    obol_session *ahead;
    obol_store *stranger;
    obol_migrate_stats stats;

    for (int i = 0; i < COUNT; i++) {
        char uid[16];
        snprintf(uid, sizeof uid, "user%d", i % 7);
        made[i] = suite_stored_session(f, uid, i % 2 ? "oauth2" : NULL);
    }
    to.now = f->now;
    suite_make_url(&to, NULL);
    to.st = suite_open_store(&to, to.url, 1);
    ahead = obol_session_dup(made[0]);
    ahead->lock_version = 7;
    assert_int_equal(obol_restore(to.st, ahead, NULL), OBOL_OK);
    stranger = suite_open_store(&to, to.url, 0);
    assert_int_equal(obol_store_add_key(stranger, 2, suite_key_two, 1, NULL), OBOL_OK);
    assert_int_equal(obol_restore(stranger, made[1], NULL), OBOL_OK);
    for (int run = 0; run < 2; run++) {
        assert_int_equal(obol_migrate(f->st, to.st, NULL, NULL, &stats, NULL), OBOL_OK);
        assert_true(stats.total == COUNT && stats.copied == COUNT);
    }
    assert_migrated_then_free(to.st, made, COUNT);
    obol_session_free(ahead);
    obol_store_close(stranger);
    obol_store_close(to.st);
}

static void migrate_seals_unsigned_records(void **state)
{
    fixture *f = *state;
    obol_session *s = obol_session_new("alice", NULL, f->now, 7 * DAY, DAY);
    obol_session *got = NULL;
    char url[1100];
    obol_store *lenient;
    obol_migrate_stats stats;

    put_unsigned_record(f, s);
    snprintf(url, sizeof url, "%s&allow_unsigned=1", f->url);
    lenient = suite_open_store(f, url, 1);
    assert_int_equal(obol_migrate(lenient, f->st, NULL, NULL, &stats, NULL), OBOL_OK);
    assert_true(stats.copied == 1);
    /* The strict store reads it now: it was sealed in place. */
    assert_int_equal(obol_get(f->st, s->id, "alice", NULL, &got, NULL), OBOL_OK);
    assert_string_equal(got->refresh_token_id, s->refresh_token_id);
    obol_session_free(got);
    obol_store_close(lenient);
    obol_session_free(s);
}

typedef struct progress_log {
    int calls;
    obol_migrate_stats last;
} progress_log;

static void note_progress(void *arg, const obol_migrate_stats *so_far)
{
    progress_log *log = arg;

    log->calls++;
    log->last = *so_far;
}

static void migrate_reports_progress_to_the_end(void **state)
{
    fixture *f = *state;
    fixture to = { 0 };
    progress_log log = { 0 };
    obol_session *s = suite_stored_session(f, "alice", NULL);

    to.now = f->now;
    suite_make_url(&to, NULL);
    to.st = suite_open_store(&to, to.url, 1);
    assert_int_equal(obol_migrate(f->st, to.st, note_progress, &log, NULL, NULL), OBOL_OK);
    assert_true(log.calls >= 1);
    assert_true(log.last.total == 1 && log.last.seen == 1 && log.last.copied == 1);
    obol_store_close(to.st);
    obol_session_free(s);
}

/* ------------------------------------------------------------ concurrency */

enum { RACE_THREADS = 4, RACE_WINS_PER_THREAD = 25 };

typedef struct racer {
    fixture *f;
    obol_store *st;
    const char *sid;
    int wins;
    int failures;
} racer;

/* The payload holds a counter that every winning refresh increments: a lost
 * update would show as a counter below the number of wins. */
static uint64_t payload_counter(const obol_session *s)
{
    uint64_t n = 0;

    if (s->extra_payload_len == sizeof n)
        memcpy(&n, s->extra_payload, sizeof n);
    return n;
}

static void *race(void *arg)
{
    racer *r = arg;

    while (r->wins < RACE_WINS_PER_THREAD && r->failures == 0) {
        obol_session *s = NULL;
        uint64_t n;
        int status;

        if (obol_get(r->st, r->sid, "racer", NULL, &s, NULL) != OBOL_OK) {
            r->failures++;
            break;
        }
        n = payload_counter(s) + 1;
        obol_session_set_payload(s, &n, sizeof n);
        obol_session_refresh(s, r->f->now, DAY);
        status = obol_upsert(r->st, s, NULL);
        if (status == OBOL_OK)
            r->wins++;
        else if (status != OBOL_CONFLICT)
            r->failures++;
        obol_session_free(s);
    }
    return NULL;
}

/* Runs RACE_THREADS racers on st; returns the wins, or -1 on a failure. */
static int race_threads(fixture *f, obol_store *st, const char *sid)
{
    pthread_t threads[RACE_THREADS];
    racer racers[RACE_THREADS];
    int wins = 0;

    for (int i = 0; i < RACE_THREADS; i++) {
        racers[i] = (racer){ f, st, sid, 0, 0 };
        pthread_create(&threads[i], NULL, race, &racers[i]);
    }
    for (int i = 0; i < RACE_THREADS; i++) {
        pthread_join(threads[i], NULL);
        if (racers[i].failures > 0)
            return -1;
        wins += racers[i].wins;
    }
    return wins;
}

static void assert_no_update_lost(fixture *f, const char *sid, uint64_t wins)
{
    obol_session *s = NULL;

    assert_int_equal(obol_get(f->st, sid, "racer", NULL, &s, NULL), OBOL_OK);
    assert_int_equal(payload_counter(s), wins);
    assert_true(s->lock_version == wins + 1);
    obol_session_free(s);
}

static void racing_threads_lose_no_update(void **state)
{
    fixture *f = *state;
    obol_session *s = suite_stored_session(f, "racer", NULL);
    int wins = race_threads(f, f->st, s->id);

    assert_int_equal(wins, RACE_THREADS * RACE_WINS_PER_THREAD);
    assert_no_update_lost(f, s->id, (uint64_t)wins);
    obol_session_free(s);
}

enum { RACE_PROCESSES = 2 };

/* In the child: a store of its own (never one opened before fork). */
static void race_in_child(fixture *f, obol_session *raced)
{
    obol_store *st = NULL;
    int wins;

    if (obol_store_open(f->url, &st, NULL) != OBOL_OK ||
        obol_store_add_key(st, 1, suite_key_one, 1, NULL) != OBOL_OK)
        _exit(100);
    obol_store_set_clock(st, suite_clock, f);
    wins = race_threads(f, st, raced->id);
    obol_store_close(st);
    obol_session_free(raced);
    _exit(wins == RACE_THREADS * RACE_WINS_PER_THREAD ? 0 : 101);
}

static void racing_processes_lose_no_update(void **state)
{
    fixture *f = *state;
    obol_session *s = suite_stored_session(f, "racer", NULL);
    pid_t children[RACE_PROCESSES];

    if (!(f->st->driver->capabilities & OBOL_DRIVER_MULTI_PROCESS)) {
        print_message("# driver %s is single-process: nothing to race\n",
                      f->st->driver->name);
        obol_session_free(s);
        return;
    }
    for (int i = 0; i < RACE_PROCESSES; i++) {
        children[i] = fork();
        assert_true(children[i] >= 0);
        if (children[i] == 0)
            race_in_child(f, s);
    }
    for (int i = 0; i < RACE_PROCESSES; i++) {
        int wstatus;
        assert_int_equal(waitpid(children[i], &wstatus, 0), children[i]);
        assert_true(WIFEXITED(wstatus));
        assert_int_equal(WEXITSTATUS(wstatus), 0);
    }
    assert_no_update_lost(f, s->id,
                          (uint64_t)RACE_PROCESSES * RACE_THREADS * RACE_WINS_PER_THREAD);
    obol_session_free(s);
}

/* ---------------------------------------------------------------- suite */

#define STORE_TEST(name) cmocka_unit_test_setup_teardown(name, suite_setup, suite_teardown)

static const struct CMUnitTest store_tests[] = {
    STORE_TEST(get_of_missing_session_is_not_found),
    STORE_TEST(every_field_survives_a_round_trip),
    STORE_TEST(infinite_session_round_trips),
    STORE_TEST(null_type_means_full),
    STORE_TEST(expired_session_is_not_returned),
    STORE_TEST(types_are_isolated),
    STORE_TEST(users_are_isolated),
    STORE_TEST(odd_bytes_in_ids_never_collide),
    STORE_TEST(record_copied_to_another_user_is_refused),
    STORE_TEST(record_altered_in_the_backend_is_refused),
    STORE_TEST(new_session_gets_lock_version_one),
    STORE_TEST(insert_of_an_existing_id_conflicts),
    STORE_TEST(refresh_with_current_lock_succeeds),
    STORE_TEST(stale_refresh_conflicts_and_changes_nothing),
    STORE_TEST(refresh_after_delete_does_not_resurrect),
    STORE_TEST(refresh_of_an_expired_record_conflicts),
    STORE_TEST(upsert_of_an_expired_session_writes_nothing),
    cmocka_unit_test_setup_teardown(payload_over_the_limit_is_too_large,
                                    suite_setup_small_payload, suite_teardown),
    STORE_TEST(ids_over_the_limit_are_too_large),
    STORE_TEST(invalid_arguments_are_refused),
    STORE_TEST(delete_of_a_missing_session_is_ok),
    STORE_TEST(delete_removes_only_that_session),
    STORE_TEST(get_all_returns_only_live_sessions_of_that_user_and_type),
    STORE_TEST(get_all_of_an_unknown_user_is_empty),
    STORE_TEST(delete_all_touches_no_other_user_or_type),
    STORE_TEST(prune_removes_expired_records_only),
    STORE_TEST(delete_counted_says_whether_it_removed_one),
    STORE_TEST(delete_all_counted_counts_that_user_and_type_only),
    STORE_TEST(prune_counted_counts_the_expired_records),
    STORE_TEST(store_without_key_refuses_everything),
    STORE_TEST(record_signed_with_another_key_is_refused),
    STORE_TEST(old_key_keeps_verifying_after_rotation),
    STORE_TEST(unsigned_record_is_read_only_when_allowed),
    STORE_TEST(secret_from_environment_signs_and_verifies),
    cmocka_unit_test_setup_teardown(aead_sealed_session_round_trips,
                                    suite_setup_aead, suite_teardown),
    STORE_TEST(describe_names_the_driver_and_its_backend),
    STORE_TEST(scan_visits_every_live_session_and_counts_the_rest),
    STORE_TEST(scan_stops_when_the_callback_says_so),
    STORE_TEST(scan_sample_stops_after_that_many_records_verified_or_not),
    STORE_TEST(restore_writes_the_session_as_it_is),
    STORE_TEST(restore_refuses_a_new_session),
    cmocka_unit_test_setup_teardown(
        restore_check_judges_as_restore_does_and_writes_nothing,
        suite_setup_small_payload, suite_teardown),
    STORE_TEST(migrate_copies_every_live_session_and_is_idempotent),
    STORE_TEST(migrate_replaces_what_the_destination_holds),
    STORE_TEST(migrate_seals_unsigned_records),
    STORE_TEST(migrate_reports_progress_to_the_end),
    STORE_TEST(racing_threads_lose_no_update),
    STORE_TEST(racing_processes_lose_no_update),
};

static const size_t store_test_count = sizeof store_tests / sizeof store_tests[0];

/* The parts of the suite, each a table of cases in a file of its own, run
 * as one group. */
static const struct {
    const struct CMUnitTest *tests;
    const size_t *count;
} parts[] = {
    { store_tests, &store_test_count },
    { driver_suite_tests, &driver_suite_test_count },
    { logout_suite_tests, &logout_suite_test_count },
    { counts_suite_tests, &counts_suite_test_count },
    { keys_suite_tests, &keys_suite_test_count },
    { refresh_suite_tests, &refresh_suite_test_count },
    { security_suite_tests, &security_suite_test_count },
    { migrate_suite_tests, &migrate_suite_test_count },
    { stats_suite_tests, &stats_suite_test_count },
};

size_t store_suite_count(void)
{
    size_t count = 0;

    for (size_t p = 0; p < sizeof parts / sizeof parts[0]; p++)
        count += *parts[p].count;
    return count;
}

int store_suite_run(const char *group_name, const char *base_url)
{
    size_t count = store_suite_count(), at = 0;
    struct CMUnitTest *all = malloc(count * sizeof *all);
    int failures;

    if (all == NULL)
        return 1;
    /* One group, so that the TAP output has one plan. */
    for (size_t p = 0; p < sizeof parts / sizeof parts[0]; p++) {
        memcpy(all + at, parts[p].tests, *parts[p].count * sizeof *all);
        at += *parts[p].count;
    }
    suite_set_base_url(base_url);
    failures = suite_watchdog_run(group_name, all, count);
    suite_sweep();   /* what a case whose setup failed noted */
    free(all);
    return failures;
}

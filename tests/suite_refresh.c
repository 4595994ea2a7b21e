/*
 * The refresh-token protocol through the public API, on every driver:
 * client tokens, the four outcomes of obol_refresh(), the reason a read is
 * refused, and the event hook. See obol.h ("tokens, refresh").
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

#include <obol/obol.h>

#include "store_internal.h"
#include "suite_fixture.h"
#include "suite_refresh.h"

#define REFRESH_TTL DAY

/* ------------------------------------------------------------- helpers */

/* Events the hook saw. */
typedef struct events {
    int count[5];
    char last_user[64];
} events;

static void count_event(void *arg, const obol_event *event)
{
    events *seen = arg;

    if (event->kind > 0 && event->kind < 5)
        seen->count[event->kind]++;
    snprintf(seen->last_user, sizeof seen->last_user, "%.*s",
             (int)event->user_id_len, event->user_id);
}

static char *token_of(fixture *f, const obol_session *s)
{
    char *token = NULL;
    obol_error err;

    if (obol_token_make(f->st, s, &token, &err) != OBOL_OK)
        fail_msg("token: %s", err.message);
    return token;
}

/* obol_refresh() that must rotate; returns the new token. */
static char *refresh_ok(fixture *f, const char *token)
{
    obol_session *s = NULL;
    char *next = NULL;
    obol_error err;
    int status = obol_refresh(f->st, token, REFRESH_TTL, &s, &next, &err);

    if (status != OBOL_OK)
        fail_msg("refresh: %d %s", status, err.message);
    assert_non_null(s);
    assert_non_null(next);
    obol_session_free(s);
    return next;
}

static int refresh_status(fixture *f, const char *token, obol_error *err)
{
    obol_session *s = NULL;
    char *next = NULL;
    int status = obol_refresh(f->st, token, REFRESH_TTL, &s, &next, err);

    if (status != OBOL_OK) {
        assert_null(s);
        assert_null(next);
    }
    obol_session_free(s);
    free(next);
    return status;
}

static int live_sessions(fixture *f, const char *uid)
{
    obol_session **list = NULL;
    size_t count = 0;

    assert_int_equal(obol_get_all(f->st, uid, NULL, &list, &count, NULL),
                     OBOL_OK);
    obol_sessions_free(list, count);
    return (int)count;
}

static void assert_has(const char *text, const char *part)
{
    if (strstr(text, part) == NULL)
        fail_msg("\"%s\" lacks \"%s\"", text, part);
}

/* --------------------------------------------------------------- tokens */

static void token_names_the_session_and_its_refresh_token(void **state)
{
    fixture *f = *state;
    obol_session *s = suite_stored_session(f, "alice@example.com", "oauth2");
    char *token = token_of(f, s);
    obol_token *t = NULL;

    assert_true(strncmp(token, "o1.", 3) == 0);
    assert_true(strlen(token) < 300);
    assert_true(strspn(token + 3, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnop"
                                  "qrstuvwxyz0123456789-_") ==
                strlen(token) - 3);
    assert_int_equal(obol_token_parse(f->st, token, &t, NULL), OBOL_OK);
    assert_string_equal(t->user_id, "alice@example.com");
    assert_string_equal(t->type, "oauth2");
    assert_string_equal(t->id, s->id);
    assert_string_equal(t->refresh_token_id, s->refresh_token_id);
    assert_int_equal(t->key_id, 1);
    obol_token_free(t);
    free(token);
    obol_session_free(s);
}

/* The size docs/FORMAT.md gives: 22-character ids, type "full" and a
 * 17-byte user id. */
static void token_of_ordinary_ids_is_143_characters(void **state)
{
    fixture *f = *state;
    obol_session *s = suite_stored_session(f, "alice@example.com", NULL);
    char *token = token_of(f, s);

    assert_int_equal(strlen(s->id), 22);
    assert_int_equal(strlen(s->refresh_token_id), 22);
    assert_int_equal(strlen(token), 143);
    free(token);
    obol_session_free(s);
}

static void any_byte_but_nul_may_be_in_a_user_id(void **state)
{
    fixture *f = *state;
    const char odd[] = "we{ird}:*\x01\xff user";
    obol_session *s = suite_stored_session(f, odd, NULL);
    char *token = token_of(f, s), *next;

    next = refresh_ok(f, token);
    free(next);
    free(token);
    obol_session_free(s);
}

/* Every single-byte change, and every truncation, is refused before the
 * backend is asked anything. */
static void altered_token_is_refused_without_a_backend_call(void **state)
{
    fixture *f = *state;
    obol_session *s = suite_stored_session(f, "alice", NULL);
    char *token = token_of(f, s);
    size_t len = strlen(token);
    uint64_t calls = __atomic_load_n(&f->st->driver_calls, __ATOMIC_RELAXED);

    for (size_t i = 0; i < len; i++) {
        char saved = token[i];
        obol_error err;

        token[i] = saved == 'A' ? 'B' : 'A';
        assert_int_equal(refresh_status(f, token, &err), OBOL_NOT_FOUND);
        assert_has(err.message, "token refused");
        token[i] = saved;
    }
    for (size_t cut = 0; cut < len; cut++) {
        char saved = token[cut];

        token[cut] = '\0';
        assert_int_equal(refresh_status(f, token, NULL), OBOL_NOT_FOUND);
        token[cut] = saved;
    }
    assert_true(__atomic_load_n(&f->st->driver_calls, __ATOMIC_RELAXED) ==
                calls);
    free(token);
    obol_session_free(s);
}

static void token_for_another_prefix_or_key_is_refused(void **state)
{
    fixture *f = *state;
    fixture other = *f;
    obol_session *s = suite_stored_session(f, "alice", NULL);
    char *token = token_of(f, s);
    obol_token *t = NULL;
    obol_store *elsewhere, *rekeyed;
    obol_error err;

    suite_make_url(&other, NULL);
    elsewhere = suite_open_store(f, other.url, 1);
    assert_int_equal(obol_token_parse(elsewhere, token, &t, &err),
                     OBOL_NOT_FOUND);
    assert_has(err.message, "MAC mismatch");
    rekeyed = suite_open_store(f, f->url, 0);
    assert_int_equal(obol_store_add_key(rekeyed, 1, suite_key_two, 1, NULL),
                     OBOL_OK);
    assert_int_equal(obol_token_parse(rekeyed, token, &t, &err),
                     OBOL_NOT_FOUND);
    assert_has(err.message, "MAC mismatch");
    assert_null(t);
    obol_store_close(rekeyed);
    obol_store_close(elsewhere);
    free(token);
    obol_session_free(s);
}

/* -------------------------------------------------------------- refresh */

static void refresh_rotates_the_token(void **state)
{
    fixture *f = *state;
    obol_session *s = suite_stored_session(f, "alice", NULL), *got = NULL;
    char *token = token_of(f, s), *next;
    obol_token *t = NULL;

    f->now += 60;
    next = refresh_ok(f, token);
    assert_string_not_equal(next, token);
    assert_int_equal(obol_get(f->st, s->id, "alice", NULL, &got, NULL),
                     OBOL_OK);
    assert_int_equal(obol_token_parse(f->st, next, &t, NULL), OBOL_OK);
    assert_string_equal(got->refresh_token_id, t->refresh_token_id);
    assert_string_equal(got->prev_refresh_token_id, s->refresh_token_id);
    assert_true(got->tokens_fresh_from == f->now);
    assert_true(got->prev_tokens_fresh_from == s->tokens_fresh_from);
    assert_true(got->refresh_expires_at == f->now + REFRESH_TTL);
    assert_true(got->lock_version == 2);
    /* And the new token refreshes in turn. */
    free(refresh_ok(f, next));
    obol_token_free(t);
    obol_session_free(got);
    free(next);
    free(token);
    obol_session_free(s);
}

static void refresh_of_a_gone_session_is_not_found(void **state)
{
    fixture *f = *state;
    obol_session *s = suite_stored_session(f, "alice", NULL);
    char *token = token_of(f, s);
    obol_error err;

    assert_int_equal(obol_delete(f->st, s->id, "alice", NULL, NULL), OBOL_OK);
    assert_int_equal(refresh_status(f, token, &err), OBOL_NOT_FOUND);
    assert_has(err.message, "session not found");
    free(token);
    obol_session_free(s);
}

static void previous_token_within_the_grace_period_just_rotated(void **state)
{
    fixture *f = *state;
    obol_session *s = suite_stored_session(f, "alice", NULL);
    char *token = token_of(f, s), *next = refresh_ok(f, token);
    events seen = { { 0 }, "" };
    obol_error err;

    obol_store_set_event_hook(f->st, count_event, &seen);
    f->now += 3;
    assert_int_equal(refresh_status(f, token, &err), OBOL_JUST_ROTATED);
    assert_has(err.message, "use the current one");
    assert_int_equal(live_sessions(f, "alice"), 1);
    assert_int_equal(seen.count[OBOL_EVENT_REUSE_DETECTED], 0);
    free(refresh_ok(f, next));
    free(next);
    free(token);
    obol_session_free(s);
}

static void previous_token_after_the_grace_period_revokes(void **state)
{
    fixture *f = *state;
    obol_session *s = suite_stored_session(f, "alice", NULL);
    char *token = token_of(f, s), *next = refresh_ok(f, token);
    events seen = { { 0 }, "" };
    obol_error err;

    obol_store_set_event_hook(f->st, count_event, &seen);
    f->now += 60;
    f->warnings = 0;
    assert_int_equal(refresh_status(f, token, &err), OBOL_REUSE_DETECTED);
    assert_has(err.message, "revoked");
    assert_int_equal(live_sessions(f, "alice"), 0);
    assert_int_equal(seen.count[OBOL_EVENT_REUSE_DETECTED], 1);
    assert_string_equal(seen.last_user, "alice");
    assert_int_equal(f->warnings, 1);
    /* The current token died with the session. */
    assert_int_equal(refresh_status(f, next, NULL), OBOL_NOT_FOUND);
    free(next);
    free(token);
    obol_session_free(s);
}

static void older_token_revokes_at_once(void **state)
{
    fixture *f = *state;
    obol_session *s = suite_stored_session(f, "alice", NULL);
    char *first = token_of(f, s), *second = refresh_ok(f, first);
    char *third = refresh_ok(f, second);

    assert_int_equal(refresh_status(f, first, NULL), OBOL_REUSE_DETECTED);
    assert_int_equal(live_sessions(f, "alice"), 0);
    free(first);
    free(second);
    free(third);
    obol_session_free(s);
}

static void grace_period_is_an_option(void **state)
{
    fixture *f = *state;
    obol_store *strict;
    obol_session *s = suite_stored_session(f, "alice", NULL);
    char *token = token_of(f, s), *next = NULL;
    obol_error err;
    char url[1100];

    snprintf(url, sizeof url, "%s&refresh_grace_s=0", f->url);
    strict = suite_open_store(f, url, 1);
    assert_int_equal(obol_refresh(strict, token, REFRESH_TTL, NULL, &next,
                                  &err), OBOL_OK);
    f->now += 1;
    assert_int_equal(obol_refresh(strict, token, REFRESH_TTL, NULL, NULL,
                                  &err), OBOL_REUSE_DETECTED);
    obol_store_close(strict);
    free(next);
    free(token);
    obol_session_free(s);
}

/* Eight clients present one token at once: one rotation, and every other
 * one is told the token was just rotated, none a spurious failure. */
enum { RACERS = 8 };

typedef struct racer {
    fixture *f;
    const char *token;
    pthread_barrier_t *start;
    int status;
} racer;

static void *race_refresh(void *arg)
{
    racer *r = arg;
    char *next = NULL;

    pthread_barrier_wait(r->start);
    r->status = obol_refresh(r->f->st, r->token, REFRESH_TTL, NULL, &next,
                             NULL);
    free(next);
    return NULL;
}

static void racing_refreshes_rotate_once(void **state)
{
    fixture *f = *state;
    obol_session *s = suite_stored_session(f, "alice", NULL), *got = NULL;
    char *token = token_of(f, s);
    pthread_t threads[RACERS];
    racer racers[RACERS];
    pthread_barrier_t start;
    int rotated = 0, just_rotated = 0;

    pthread_barrier_init(&start, NULL, RACERS);
    for (int i = 0; i < RACERS; i++) {
        racers[i] = (racer){ f, token, &start, -100 };
        assert_int_equal(pthread_create(&threads[i], NULL, race_refresh,
                                        &racers[i]), 0);
    }
    for (int i = 0; i < RACERS; i++) {
        assert_int_equal(pthread_join(threads[i], NULL), 0);
        rotated += racers[i].status == OBOL_OK;
        just_rotated += racers[i].status == OBOL_JUST_ROTATED;
    }
    pthread_barrier_destroy(&start);
    assert_int_equal(rotated, 1);
    assert_int_equal(just_rotated, RACERS - 1);
    assert_int_equal(obol_get(f->st, s->id, "alice", NULL, &got, NULL),
                     OBOL_OK);
    assert_true(got->lock_version == 2);
    obol_session_free(got);
    free(token);
    obol_session_free(s);
}

/* ---------------------------------------------------- reasons and events */

static void a_refused_read_says_why(void **state)
{
    fixture *f = *state;
    obol_session *s = suite_stored_session(f, "alice", NULL), *got = NULL;
    obol_error err;

    assert_int_equal(obol_get(f->st, "nobody", "alice", NULL, &got, &err),
                     OBOL_NOT_FOUND);
    assert_has(err.message, "no such record");
    f->now += 2 * DAY;
    assert_int_equal(obol_get(f->st, s->id, "alice", NULL, &got, &err),
                     OBOL_NOT_FOUND);
    assert_has(err.message, "expired");
    obol_session_free(s);
}

static void a_record_under_an_unknown_key_says_so_once(void **state)
{
    fixture *f = *state;
    obol_session *s = suite_stored_session(f, "alice", NULL), *got = NULL;
    obol_store *other = suite_open_store(f, f->url, 0);
    events seen = { { 0 }, "" };
    obol_error err;

    assert_int_equal(obol_store_add_key(other, 2, suite_key_two, 1, NULL),
                     OBOL_OK);
    obol_store_set_event_hook(other, count_event, &seen);
    assert_int_equal(obol_get(other, s->id, "alice", NULL, &got, &err),
                     OBOL_NOT_FOUND);
    assert_has(err.message, "unknown key id 1");
    assert_int_equal(seen.count[OBOL_EVENT_UNKNOWN_KEY], 1);
    assert_int_equal(seen.count[OBOL_EVENT_BAD_SEAL], 0);
    obol_store_close(other);
    obol_session_free(s);
}

static void an_altered_record_says_so_once(void **state)
{
    fixture *f = *state;
    obol_store *st = f->st;
    obol_session *s = suite_stored_session(f, "alice", NULL), *got = NULL;
    obol_driver_record rec = { { { (const uint8_t *)"alice", 5 },
                                 { (const uint8_t *)"full", 4 },
                                 { (const uint8_t *)s->id, strlen(s->id) } },
                               { NULL, 0 }, s->refresh_expires_at, 2 };
    events seen = { { 0 }, "" };
    obol_error err;
    uint8_t *bytes;
    size_t len;

    assert_int_equal(st->driver->get(st->handle, &rec.key, &bytes, &len, &err),
                     OBOL_OK);
    bytes[len - 1] ^= 0x01;
    rec.sealed.data = bytes;
    rec.sealed.len = len;
    assert_int_equal(st->driver->put(st->handle, &rec, 1, f->now, &err),
                     OBOL_OK);
    free(bytes);
    obol_store_set_event_hook(st, count_event, &seen);
    assert_int_equal(obol_get(st, s->id, "alice", NULL, &got, &err),
                     OBOL_NOT_FOUND);
    assert_has(err.message, "MAC mismatch");
    assert_int_equal(seen.count[OBOL_EVENT_BAD_SEAL], 1);
    assert_string_equal(seen.last_user, "alice");
    obol_session_free(s);
}

static void an_upsert_that_writes_nothing_says_so(void **state)
{
    fixture *f = *state;
    obol_session *s = obol_session_new("alice", NULL, f->now - 10, 5, 5);
    obol_error err;

    assert_non_null(s);
    assert_int_equal(obol_upsert(f->st, s, &err), OBOL_OK);
    assert_int_equal(err.status, OBOL_OK);
    assert_has(err.message, "nothing written");
    assert_int_equal(live_sessions(f, "alice"), 0);
    assert_true(obol_store_now(f->st) == f->now);
    obol_session_free(s);
}

#define CASE(name) cmocka_unit_test_setup_teardown(name, suite_setup, suite_teardown)

const struct CMUnitTest refresh_suite_tests[] = {
    CASE(token_names_the_session_and_its_refresh_token),
    CASE(token_of_ordinary_ids_is_143_characters),
    CASE(any_byte_but_nul_may_be_in_a_user_id),
    CASE(altered_token_is_refused_without_a_backend_call),
    CASE(token_for_another_prefix_or_key_is_refused),
    CASE(refresh_rotates_the_token),
    CASE(refresh_of_a_gone_session_is_not_found),
    CASE(previous_token_within_the_grace_period_just_rotated),
    CASE(previous_token_after_the_grace_period_revokes),
    CASE(older_token_revokes_at_once),
    CASE(grace_period_is_an_option),
    CASE(racing_refreshes_rotate_once),
    CASE(a_refused_read_says_why),
    CASE(a_record_under_an_unknown_key_says_so_once),
    CASE(an_altered_record_says_so_once),
    CASE(an_upsert_that_writes_nothing_says_so),
};

const size_t refresh_suite_test_count =
    sizeof refresh_suite_tests / sizeof refresh_suite_tests[0];

/*
 * Making a session (lib/session.c): obol_session_create() says why it
 * makes none, and obol_session_new() makes none in exactly those cases.
 */
#include "config.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include <obol/obol.h>

enum { NOW = 1700000000, DAY = 86400 };

static void a_session_is_made_with_ok(void **state)
{
    obol_session *s = NULL;
    obol_error err = { -1, "stale" };

    (void)state;
    assert_int_equal(obol_session_create("alice", NULL, NOW, 7 * DAY, DAY, &s,
                                         &err), OBOL_OK);
    assert_non_null(s);
    assert_int_equal(err.status, OBOL_OK);
    assert_string_equal(s->user_id, "alice");
    assert_string_equal(s->type, "full");
    assert_true(s->expires_at == NOW + 7 * DAY);
    assert_true(s->refresh_expires_at == NOW + DAY);
    obol_session_free(s);
}

/* Calls both forms with the same arguments: obol_session_create() must
 * refuse with OBOL_ERR_INVALID naming want, and obol_session_new() must
 * return NULL. */
static void assert_refused(const char *uid, int64_t session_ttl,
                           int64_t refresh_ttl, const char *want)
{
    obol_session *s = (obol_session *)&s;   /* not NULL: must be cleared */
    obol_error err;

    assert_int_equal(obol_session_create(uid, NULL, NOW, session_ttl,
                                         refresh_ttl, &s, &err),
                     OBOL_ERR_INVALID);
    assert_null(s);
    assert_int_equal(err.status, OBOL_ERR_INVALID);
    if (strstr(err.message, want) == NULL)
        fail_msg("message '%s' does not say '%s'", err.message, want);
    assert_null(obol_session_new(uid, NULL, NOW, session_ttl, refresh_ttl));
}

static void a_missing_user_id_is_named(void **state)
{
    (void)state;
    assert_refused(NULL, DAY, DAY, "the user id is NULL");
    assert_refused("", DAY, DAY, "the user id is empty");
}

static void a_negative_ttl_is_named(void **state)
{
    (void)state;
    assert_refused("alice", -1, DAY, "session_ttl -1 is negative");
    assert_refused("alice", DAY, -5, "refresh_ttl -5 is negative");
}

static void no_out_pointer_is_refused(void **state)
{
    obol_error err;

    (void)state;
    assert_int_equal(obol_session_create("alice", NULL, NOW, DAY, DAY, NULL,
                                         &err), OBOL_ERR_INVALID);
    assert_non_null(strstr(err.message, "out is NULL"));
    /* err may be NULL, as everywhere in the API. */
    assert_int_equal(obol_session_create(NULL, NULL, NOW, DAY, DAY, NULL, NULL),
                     OBOL_ERR_INVALID);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(a_session_is_made_with_ok),
        cmocka_unit_test(a_missing_user_id_is_named),
        cmocka_unit_test(a_negative_ttl_is_named),
        cmocka_unit_test(no_out_pointer_is_refused),
    };
    return cmocka_run_group_tests_name("session", tests, NULL, NULL);
}

/*
 * Logout everywhere: obol_delete_everywhere() deletes a user's sessions of
 * every type the config string's types= lists (and "full"), and nothing
 * else, with one driver del_all per type. Run on every driver with the
 * store suite. A few cases wrap the loaded driver's del_all, to count the
 * calls or to make one type fail on a real backend.
 */
#include "config.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>

#include <obol/driver.h>
#include <obol/obol.h>

#include "loader_internal.h"
#include "store_internal.h"
#include "suite_fixture.h"
#include "suite_logout.h"

/* ------------------------------------------------------------ fixtures */

static int setup_with_types(void **state, const char *types_option)
{
    fixture *f = calloc(1, sizeof *f);

    assert_non_null(f);
    f->now = (int64_t)time(NULL);
    suite_make_url(f, types_option);
    f->st = suite_open_store(f, f->url, 1);
    *state = f;
    return 0;
}

static int setup_three_types(void **state)
{
    return setup_with_types(state, "types=full,oauth2,api");
}

static int setup_oauth2_only(void **state)
{
    return setup_with_types(state, "types=oauth2");
}

static size_t live_sessions(fixture *f, const char *uid, const char *type)
{
    obol_session **list = NULL;
    size_t count = 0;
    obol_error err;

    if (obol_get_all(f->st, uid, type, &list, &count, &err) != OBOL_OK)
        fail_msg("get_all(%s, %s): %s", uid, type, err.message);
    obol_sessions_free(list, count);
    return count;
}

/* Stores one session of uid for each type of a NULL-terminated list. */
static void store_sessions(fixture *f, const char *uid,
                           const char *const *types)
{
    for (const char *const *t = types; *t != NULL; t++)
        obol_session_free(suite_stored_session(f, uid, *t));
}

#define TYPES(...) ((const char *const[]){ __VA_ARGS__, NULL })

/* ----------------------------------------------- a wrapped del_all */

/* The store's driver table with del_all (and del_all_counted, which the
 * counted calls use when the driver has it) replaced: it records the types
 * it is asked for and fails those of the NULL-terminated list failing. */
static struct {
    obol_driver table;
    const obol_driver *original;
    const char *const *failing;
    size_t calls;
    char types[8][16];
} wrap;

static int is_failing(obol_bytes type)
{
    for (const char *const *t = wrap.failing; t != NULL && *t != NULL; t++)
        if (type.len == strlen(*t) && memcmp(type.data, *t, type.len) == 0)
            return 1;
    return 0;
}

/* Records the call; OBOL_OK to go on to the driver, else the failure. */
static int before_del_all(const obol_driver_key *key, obol_error *err)
{
    if (wrap.calls < 8)
        snprintf(wrap.types[wrap.calls], sizeof wrap.types[0], "%.*s",
                 (int)key->type.len, (const char *)key->type.data);
    wrap.calls++;
    if (is_failing(key->type)) {
        err->status = OBOL_ERR_BACKEND;
        snprintf(err->message, sizeof err->message, "test: injected failure");
        return OBOL_ERR_BACKEND;
    }
    return OBOL_OK;
}

static int wrapped_del_all(void *handle, const obol_driver_key *key,
                           obol_error *err)
{
    int status = before_del_all(key, err);

    return status != OBOL_OK ? status
                             : wrap.original->del_all(handle, key, err);
}

static int wrapped_del_all_counted(void *handle, const obol_driver_key *key,
                                   uint64_t *removed, obol_error *err)
{
    int status = before_del_all(key, err);

    return status != OBOL_OK
               ? status
               : wrap.original->del_all_counted(handle, key, removed, err);
}

static void wrap_del_all(fixture *f, const char *const *failing)
{
    memset(&wrap, 0, sizeof wrap);
    wrap.original = f->st->driver;
    wrap.table = *f->st->driver;
    wrap.table.del_all = wrapped_del_all;
    if (OBOL_DRIVER_HAS_SLOT(wrap.original, del_all_counted, 5))
        wrap.table.del_all_counted = wrapped_del_all_counted;
    wrap.failing = failing;
    f->st->driver = &wrap.table;
}

static void unwrap_del_all(fixture *f)
{
    f->st->driver = wrap.original;
}

/* ---------------------------------------------------------------- cases */

static void logout_everywhere_deletes_every_listed_type_of_the_user(void **state)
{
    fixture *f = *state;
    obol_error err;

    store_sessions(f, "alice", TYPES("full", "full", "oauth2", "api", "admin"));
    store_sessions(f, "bob", TYPES("full", "oauth2", "api"));
    if (obol_delete_everywhere(f->st, "alice", &err) != OBOL_OK)
        fail_msg("delete_everywhere: %s", err.message);
    assert_int_equal(err.status, OBOL_OK);
    assert_int_equal(live_sessions(f, "alice", "full"), 0);
    assert_int_equal(live_sessions(f, "alice", "oauth2"), 0);
    assert_int_equal(live_sessions(f, "alice", "api"), 0);
    /* A type the config does not list is not the store's to guess. */
    assert_int_equal(live_sessions(f, "alice", "admin"), 1);
    assert_int_equal(live_sessions(f, "bob", "full"), 1);
    assert_int_equal(live_sessions(f, "bob", "oauth2"), 1);
    assert_int_equal(live_sessions(f, "bob", "api"), 1);
}

static void logout_everywhere_deletes_the_default_type_even_unlisted(void **state)
{
    fixture *f = *state;

    store_sessions(f, "alice", TYPES("full", "oauth2", "api"));
    assert_int_equal(obol_delete_everywhere(f->st, "alice", NULL), OBOL_OK);
    assert_int_equal(live_sessions(f, "alice", NULL), 0);
    assert_int_equal(live_sessions(f, "alice", "oauth2"), 0);
    assert_int_equal(live_sessions(f, "alice", "api"), 1);
}

static void logout_everywhere_without_types_is_refused(void **state)
{
    fixture *f = *state;
    obol_error err;

    store_sessions(f, "alice", TYPES("full", "oauth2"));
    assert_int_equal(obol_delete_everywhere(f->st, "alice", &err),
                     OBOL_ERR_INVALID);
    assert_int_equal(err.status, OBOL_ERR_INVALID);
    assert_non_null(strstr(err.message, "delete_everywhere"));
    assert_non_null(strstr(err.message, "types="));
    assert_int_equal(live_sessions(f, "alice", "full"), 1);
    assert_int_equal(live_sessions(f, "alice", "oauth2"), 1);
}

static void logout_everywhere_refuses_bad_arguments(void **state)
{
    fixture *f = *state;
    obol_store *bare = suite_open_store(f, f->url, 0);
    obol_error err;

    assert_int_equal(obol_delete_everywhere(NULL, "alice", &err), OBOL_ERR_INVALID);
    assert_int_equal(obol_delete_everywhere(f->st, NULL, &err), OBOL_ERR_INVALID);
    assert_int_equal(obol_delete_everywhere(f->st, "", &err), OBOL_ERR_INVALID);
    assert_non_null(strstr(err.message, "user id"));
    assert_int_equal(obol_delete_everywhere(bare, "alice", &err), OBOL_ERR_KEY);
    obol_store_close(bare);
}

static void logout_everywhere_twice_is_safe(void **state)
{
    fixture *f = *state;

    store_sessions(f, "alice", TYPES("full", "api"));
    assert_int_equal(obol_delete_everywhere(f->st, "alice", NULL), OBOL_OK);
    assert_int_equal(obol_delete_everywhere(f->st, "alice", NULL), OBOL_OK);
    assert_int_equal(obol_delete_everywhere(f->st, "nobody", NULL), OBOL_OK);
    assert_int_equal(live_sessions(f, "alice", "api"), 0);
}

static void a_refresh_read_before_logout_everywhere_conflicts(void **state)
{
    fixture *f = *state;
    obol_session *s = suite_stored_session(f, "alice", "oauth2");
    obol_session *got = NULL;

    assert_int_equal(obol_delete_everywhere(f->st, "alice", NULL), OBOL_OK);
    assert_int_equal(obol_session_refresh(s, f->now, DAY), OBOL_OK);
    assert_int_equal(obol_upsert(f->st, s, NULL), OBOL_CONFLICT);
    assert_int_equal(obol_get(f->st, s->id, "alice", "oauth2", &got, NULL),
                     OBOL_NOT_FOUND);
    obol_session_free(s);
}

static void logout_everywhere_is_one_del_all_per_type(void **state)
{
    fixture *f = *state;

    wrap_del_all(f, NULL);
    assert_int_equal(obol_delete_everywhere(f->st, "alice", NULL), OBOL_OK);
    unwrap_del_all(f);
    /* "full" first when it is implied, then the list in its order. */
    assert_int_equal(wrap.calls, 2);
    assert_string_equal(wrap.types[0], "full");
    assert_string_equal(wrap.types[1], "oauth2");
}

static void logout_everywhere_goes_on_past_a_failing_type(void **state)
{
    fixture *f = *state;
    obol_error err;

    store_sessions(f, "alice", TYPES("full", "oauth2", "api"));
    wrap_del_all(f, TYPES("oauth2"));
    assert_int_equal(obol_delete_everywhere(f->st, "alice", &err),
                     OBOL_ERR_BACKEND);
    unwrap_del_all(f);
    assert_int_equal(err.status, OBOL_ERR_BACKEND);
    assert_int_equal(wrap.calls, 3);
    assert_non_null(strstr(err.message, "1 of 3 types failed"));
    assert_non_null(strstr(err.message, "'oauth2'"));
    assert_non_null(strstr(err.message, "injected failure"));
    /* What was deleted stays deleted, what failed is still there... */
    assert_int_equal(live_sessions(f, "alice", "full"), 0);
    assert_int_equal(live_sessions(f, "alice", "api"), 0);
    assert_int_equal(live_sessions(f, "alice", "oauth2"), 1);
    /* ... and a rerun finishes the job. */
    assert_int_equal(obol_delete_everywhere(f->st, "alice", NULL), OBOL_OK);
    assert_int_equal(live_sessions(f, "alice", "oauth2"), 0);
}

static void every_failing_type_is_reported(void **state)
{
    fixture *f = *state;
    obol_error err;

    wrap_del_all(f, TYPES("full", "api"));
    f->warnings = 0;
    assert_int_equal(obol_delete_everywhere(f->st, "alice", &err),
                     OBOL_ERR_BACKEND);
    unwrap_del_all(f);
    /* The first in the message, the others in the log. */
    assert_non_null(strstr(err.message, "2 of 3 types failed"));
    assert_non_null(strstr(err.message, "'full'"));
    assert_int_equal(f->warnings, 1);
    assert_non_null(strstr(f->last_warning, "'api'"));
    assert_non_null(strstr(f->last_warning, "injected failure"));
}

static void logout_everywhere_counts_what_it_removed(void **state)
{
    fixture *f = *state;
    uint64_t removed = 99;
    obol_error err;

    store_sessions(f, "alice", TYPES("full", "full", "oauth2", "api", "admin"));
    store_sessions(f, "bob", TYPES("full", "oauth2"));
    if (obol_delete_everywhere_counted(f->st, "alice", &removed, &err) != OBOL_OK)
        fail_msg("delete_everywhere_counted: %s", err.message);
    /* full twice, oauth2 and api; not admin, not bob's. */
    assert_int_equal(removed, 4);
    assert_int_equal(obol_delete_everywhere_counted(f->st, "alice", &removed,
                                                    NULL), OBOL_OK);
    assert_int_equal(removed, 0);
    assert_int_equal(live_sessions(f, "alice", "admin"), 1);
    assert_int_equal(live_sessions(f, "bob", "oauth2"), 1);
}

static void a_failing_type_is_not_counted(void **state)
{
    fixture *f = *state;
    uint64_t removed = 99;

    store_sessions(f, "alice", TYPES("full", "oauth2", "api"));
    wrap_del_all(f, TYPES("oauth2"));
    assert_int_equal(obol_delete_everywhere_counted(f->st, "alice", &removed,
                                                    NULL), OBOL_ERR_BACKEND);
    unwrap_del_all(f);
    assert_int_equal(removed, 2);
}

#define CASE(name, setup) cmocka_unit_test_setup_teardown(name, setup, suite_teardown)

const struct CMUnitTest logout_suite_tests[] = {
    CASE(logout_everywhere_deletes_every_listed_type_of_the_user, setup_three_types),
    CASE(logout_everywhere_deletes_the_default_type_even_unlisted, setup_oauth2_only),
    CASE(logout_everywhere_without_types_is_refused, suite_setup),
    CASE(logout_everywhere_refuses_bad_arguments, setup_three_types),
    CASE(logout_everywhere_twice_is_safe, setup_three_types),
    CASE(a_refresh_read_before_logout_everywhere_conflicts, setup_three_types),
    CASE(logout_everywhere_is_one_del_all_per_type, setup_oauth2_only),
    CASE(logout_everywhere_goes_on_past_a_failing_type, setup_three_types),
    CASE(every_failing_type_is_reported, setup_three_types),
    CASE(logout_everywhere_counts_what_it_removed, setup_three_types),
    CASE(a_failing_type_is_not_counted, setup_three_types),
};

const size_t logout_suite_test_count =
    sizeof logout_suite_tests / sizeof logout_suite_tests[0];

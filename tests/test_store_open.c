/*
 * Opening a store on what is there, through the public API: create=0
 * (no store is made where a typo points), require_key=1 and
 * obol_store_has_key() (no key is loud at open), and the calls that tell
 * a user who opened an empty prefix what is there instead
 * (obol_store_prefix(), obol_store_prefixes()). On LMDB, in a fresh
 * directory per test, and on the memory driver.
 */
#include "config.h"

#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <cmocka.h>

#include <obol/obol.h>

#include "tmpdir.h"

#define SECRET_VAR "OBOL_TEST_OPEN_SECRET"

typedef struct fixture {
    char *dir;
    char url[4200];
} fixture;

static int make_fixture(void **state)
{
    fixture *f = calloc(1, sizeof *f);

    if (f == NULL || (f->dir = tmpdir_make("store-open")) == NULL) {
        free(f);
        return -1;
    }
    *state = f;
    return 0;
}

static int remove_fixture(void **state)
{
    fixture *f = *state;

    tmpdir_remove(f->dir);
    free(f);
    return 0;
}

/* lmdb://DIR/SUB?OPTIONS&secret=env:... */
static const char *lmdb_url(fixture *f, const char *sub, const char *options)
{
    snprintf(f->url, sizeof f->url, "lmdb://%s/%s?secret=env:" SECRET_VAR
             "%s%s", f->dir, sub, options[0] ? "&" : "", options);
    return f->url;
}

static obol_store *open_ok(const char *url)
{
    obol_store *st = NULL;
    obol_error err = { 0, "" };

    if (obol_store_open(url, &st, &err) != OBOL_OK)
        fail_msg("%s: %s", url, err.message);
    return st;
}

static void put_one(obol_store *st, const char *uid)
{
    obol_session *s = obol_session_new(uid, NULL, obol_store_now(st), 3600,
                                       3600);

    assert_non_null(s);
    assert_int_equal(obol_upsert(st, s, NULL), OBOL_OK);
    obol_session_free(s);
}

static int exists(const char *path)
{
    struct stat st;

    return stat(path, &st) == 0;
}

/* ------------------------------------------------------------ create=0 */

static void create0_on_a_misspelt_lmdb_path_creates_nothing(void **state)
{
    fixture *f = *state;
    char path[4200];
    obol_store *st = NULL;
    obol_error err = { 0, "" };

    snprintf(path, sizeof path, "%s/tpyo", f->dir);
    assert_int_equal(obol_store_open(lmdb_url(f, "tpyo", "create=0"), &st,
                                     &err), OBOL_ERR_NO_STORE);
    assert_null(st);
    assert_int_equal(err.status, OBOL_ERR_NO_STORE);
    assert_non_null(strstr(err.message, path));
    assert_non_null(strstr(err.message, "nothing was created"));
    assert_false(exists(path));
    assert_string_equal(obol_strerror(OBOL_ERR_NO_STORE),
                        "no store there (nothing was created)");
}

static void create0_opens_an_lmdb_store_that_exists(void **state)
{
    fixture *f = *state;
    obol_store *st = open_ok(lmdb_url(f, "db", ""));
    obol_session **all = NULL;
    size_t count = 0;

    put_one(st, "alice");
    obol_store_close(st);
    st = open_ok(lmdb_url(f, "db", "create=0"));
    assert_int_equal(obol_get_all(st, "alice", NULL, &all, &count, NULL),
                     OBOL_OK);
    assert_int_equal(count, 1);
    obol_sessions_free(all, count);
    obol_store_close(st);
}

static void create0_on_memory_opens_only_a_named_space_in_use(void **state)
{
    obol_store *holder, *st = NULL;
    obol_error err = { 0, "" };

    (void)state;
    assert_int_equal(obol_store_open("memory:open-test?create=0", &st, &err),
                     OBOL_ERR_NO_STORE);
    assert_non_null(strstr(err.message, "open-test"));
    holder = open_ok("memory:open-test");
    st = open_ok("memory:open-test?create=0");
    obol_store_close(st);
    obol_store_close(holder);
    /* "memory:" is new at every open: there is never one to find. */
    assert_int_equal(obol_store_open("memory:?create=0", &st, &err),
                     OBOL_ERR_NO_STORE);
    assert_non_null(strstr(err.message, "memory:NAME"));
}

/* --------------------------------------------------------- require_key */

static void require_key_refuses_a_store_without_a_key(void **state)
{
    obol_store *st = NULL;
    obol_error err = { 0, "" };

    (void)state;
    assert_int_equal(obol_store_open("memory:?require_key=1", &st, &err),
                     OBOL_ERR_KEY);
    assert_null(st);
    assert_non_null(strstr(err.message, "require_key=1"));
    assert_non_null(strstr(err.message, "secret="));
    st = open_ok("memory:?require_key=1&secret=env:" SECRET_VAR);
    assert_int_equal(obol_store_has_key(st), 1);
    obol_store_close(st);
}

/* The key is checked before the driver opens: a job started without its
 * secret on a misspelt path learns about the secret, and nothing is
 * created. */
static void require_key_is_checked_before_the_backend(void **state)
{
    fixture *f = *state;
    char url[4300], path[4200];
    obol_store *st = NULL;

    snprintf(path, sizeof path, "%s/new", f->dir);
    snprintf(url, sizeof url, "lmdb://%s?require_key=1", path);
    assert_int_equal(obol_store_open(url, &st, NULL), OBOL_ERR_KEY);
    assert_false(exists(path));
}

static void has_key_says_whether_reads_and_writes_can_work(void **state)
{
    static const uint8_t key[32] = { 1, 2, 3 };
    obol_store *st = open_ok("memory:");
    obol_session **all = NULL;
    size_t count = 0;

    (void)state;
    assert_int_equal(obol_store_has_key(NULL), 0);
    assert_int_equal(obol_store_has_key(st), 0);
    assert_int_equal(obol_get_all(st, "alice", NULL, &all, &count, NULL),
                     OBOL_ERR_KEY);
    /* A key that only verifies (rotation) signs nothing. */
    assert_int_equal(obol_store_add_key(st, 7, key, 0, NULL), OBOL_OK);
    assert_int_equal(obol_store_has_key(st), 0);
    assert_int_equal(obol_store_add_key(st, 8, key, 1, NULL), OBOL_OK);
    assert_int_equal(obol_store_has_key(st), 1);
    assert_int_equal(obol_get_all(st, "alice", NULL, &all, &count, NULL),
                     OBOL_OK);
    obol_sessions_free(all, count);
    obol_store_close(st);
}

/* ------------------------------------------------------------ prefixes */

static void prefix_is_the_config_strings(void **state)
{
    obol_store *st = open_ok("memory:");

    (void)state;
    assert_string_equal(obol_store_prefix(st), "obol");
    obol_store_close(st);
    st = open_ok("memory:?prefix=app%2Fv2");
    assert_string_equal(obol_store_prefix(st), "app/v2");
    obol_store_close(st);
    assert_null(obol_store_prefix(NULL));
}

static void lmdb_prefixes_lists_every_prefix_with_records(void **state)
{
    fixture *f = *state;
    obol_store *a = open_ok(lmdb_url(f, "db", "prefix=zeta"));
    obol_store *b = open_ok(lmdb_url(f, "db", "prefix=alpha"));
    obol_store *empty = open_ok(lmdb_url(f, "db", "prefix=obol"));
    obol_prefix_list list;

    put_one(a, "alice");
    put_one(a, "bob");
    put_one(b, "carol");
    /* Asked of a store whose own prefix is empty: the reason to ask. */
    assert_int_equal(obol_store_prefixes(empty, &list, NULL), OBOL_OK);
    assert_int_equal(list.complete, 1);
    assert_int_equal(list.count, 2);
    assert_string_equal(list.prefixes[0], "alpha");
    assert_string_equal(list.prefixes[1], "zeta");
    obol_prefix_list_clear(&list);
    assert_null(list.prefixes);
    assert_int_equal(list.count, 0);
    obol_prefix_list_clear(NULL);
    obol_store_close(empty);
    obol_store_close(b);
    obol_store_close(a);
}

static void lmdb_prefixes_of_an_empty_store_is_a_complete_none(void **state)
{
    fixture *f = *state;
    obol_store *st = open_ok(lmdb_url(f, "db", ""));
    obol_prefix_list list;

    assert_int_equal(obol_store_prefixes(st, &list, NULL), OBOL_OK);
    assert_int_equal(list.complete, 1);
    assert_int_equal(list.count, 0);
    obol_prefix_list_clear(&list);
    obol_store_close(st);
}

/* The memory driver has no prefixes slot: the core cannot tell, and
 * says so with complete 0 rather than an error. */
static void prefixes_without_the_driver_slot_cannot_tell(void **state)
{
    obol_store *st = open_ok("memory:?secret=env:" SECRET_VAR);
    obol_prefix_list list;
    obol_error err = { 0, "" };

    (void)state;
    put_one(st, "alice");
    assert_int_equal(obol_store_prefixes(st, &list, &err), OBOL_OK);
    assert_int_equal(list.complete, 0);
    assert_int_equal(list.count, 0);
    obol_prefix_list_clear(&list);
    assert_int_equal(obol_store_prefixes(NULL, &list, &err), OBOL_ERR_INVALID);
    assert_int_equal(obol_store_prefixes(st, NULL, &err), OBOL_ERR_INVALID);
    obol_store_close(st);
}

#define WITH_DIR(test) \
    cmocka_unit_test_setup_teardown(test, make_fixture, remove_fixture)

int main(void)
{
    const struct CMUnitTest tests[] = {
        WITH_DIR(create0_on_a_misspelt_lmdb_path_creates_nothing),
        WITH_DIR(create0_opens_an_lmdb_store_that_exists),
        cmocka_unit_test(create0_on_memory_opens_only_a_named_space_in_use),
        cmocka_unit_test(require_key_refuses_a_store_without_a_key),
        WITH_DIR(require_key_is_checked_before_the_backend),
        cmocka_unit_test(has_key_says_whether_reads_and_writes_can_work),
        cmocka_unit_test(prefix_is_the_config_strings),
        WITH_DIR(lmdb_prefixes_lists_every_prefix_with_records),
        WITH_DIR(lmdb_prefixes_of_an_empty_store_is_a_complete_none),
        cmocka_unit_test(prefixes_without_the_driver_slot_cannot_tell),
    };

    setenv(SECRET_VAR, "a test secret of at least thirty-two bytes", 1);
    return cmocka_run_group_tests_name("store open", tests, NULL, NULL);
}

/* What the memory driver promises beyond the shared suite: private and
 * named spaces, its one option, and the parts of a config string it
 * refuses. */
#include "config.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>

#include <obol/obol.h>

static const uint8_t key[32] = "memory driver test key.........";

static obol_store *open_ok(const char *url)
{
    obol_store *st = NULL;
    obol_error err;

    if (obol_store_open(url, &st, &err) != OBOL_OK)
        fail_msg("%s: %s", url, err.message);
    assert_int_equal(obol_store_add_key(st, 1, key, 1, NULL), OBOL_OK);
    return st;
}

static obol_session *stored(obol_store *st)
{
    obol_session *s = obol_session_new("u", NULL, (int64_t)time(NULL), 3600, 600);

    assert_int_equal(obol_upsert(st, s, NULL), OBOL_OK);
    return s;
}

static int visible(obol_store *st, const obol_session *s)
{
    obol_session *got = NULL;
    int status = obol_get(st, s->id, "u", NULL, &got, NULL);

    obol_session_free(got);
    return status == OBOL_OK;
}

static void unnamed_stores_are_private(void **state)
{
    obol_store *a = open_ok("memory:"), *b = open_ok("memory:");
    obol_session *s = stored(a);

    (void)state;
    assert_true(visible(a, s));
    assert_false(visible(b, s));
    obol_session_free(s);
    obol_store_close(a);
    obol_store_close(b);
}

static void stores_on_one_name_share_it_until_the_last_closes(void **state)
{
    obol_store *a = open_ok("memory:shared"), *b = open_ok("memory:shared");
    obol_store *other = open_ok("memory:elsewhere");
    obol_session *s = stored(a);

    (void)state;
    assert_true(visible(b, s));
    assert_false(visible(other, s));
    obol_store_close(a);
    assert_true(visible(b, s));
    obol_store_close(b);
    b = open_ok("memory:shared");
    assert_false(visible(b, s));
    obol_session_free(s);
    obol_store_close(b);
    obol_store_close(other);
}

static void max_records_caps_the_store(void **state)
{
    obol_store *st = open_ok("memory:?max_records=1");
    obol_session *first = stored(st);
    obol_session *second = obol_session_new("u", NULL, (int64_t)time(NULL), 3600, 600);
    obol_error err;

    (void)state;
    assert_int_equal(obol_upsert(st, second, &err), OBOL_ERR_TOO_LARGE);
    assert_non_null(strstr(err.message, "max_records"));
    assert_int_equal(obol_upsert(st, first, NULL), OBOL_OK);   /* updates still fit */
    obol_session_free(first);
    obol_session_free(second);
    obol_store_close(st);
}

static void assert_refused(const char *url, const char *needle)
{
    obol_store *st = NULL;
    obol_error err;

    assert_int_equal(obol_store_open(url, &st, &err), OBOL_ERR_INVALID);
    assert_null(st);
    if (strstr(err.message, needle) == NULL)
        fail_msg("%s: message '%s' does not mention '%s'", url, err.message, needle);
}

static void places_and_unknown_options_are_refused(void **state)
{
    (void)state;
    assert_refused("memory://host", "host");
    assert_refused("memory://user:secret@host", "user");
    assert_refused("memory:?size=3", "size");
    assert_refused("memory:?max_records=0", "max_records");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(unnamed_stores_are_private),
        cmocka_unit_test(stores_on_one_name_share_it_until_the_last_closes),
        cmocka_unit_test(max_records_caps_the_store),
        cmocka_unit_test(places_and_unknown_options_are_refused),
    };

    return cmocka_run_group_tests_name("memory", tests, NULL, NULL);
}

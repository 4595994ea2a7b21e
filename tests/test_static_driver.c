/* A driver linked into the program (here: the memory driver's source),
 * registered with obol_driver_register() and found before any file. */
#include "config.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>

#include <obol/driver.h>

const obol_driver *obol_driver_memory_entry(const obol_driver_host *host);

static const obol_driver *newer_major_entry(const obol_driver_host *host)
{
    static obol_driver table;

    table = *obol_driver_memory_entry(host);
    table.name = "newer";
    table.abi_major = OBOL_DRIVER_ABI_MAJOR + 1;
    return &table;
}

static void a_registered_driver_serves_its_scheme_without_a_file(void **state)
{
    static const uint8_t key[32] = "static driver test key.........";
    obol_store *st = NULL;
    obol_session *s, *got = NULL;
    obol_error err;

    (void)state;
    unsetenv("OBOL_DRIVER_PATH");
    assert_int_equal(obol_driver_register(obol_driver_memory_entry, &err), OBOL_OK);
    /* The application's path names a directory without memory.so: the
     * linked-in driver is found first all the same. */
    assert_int_equal(obol_set_driver_path("/nonexistent", &err), OBOL_OK);
    if (obol_store_open("memory:", &st, &err) != OBOL_OK)
        fail_msg("open: %s", err.message);
    assert_int_equal(obol_store_add_key(st, 1, key, 1, NULL), OBOL_OK);
    s = obol_session_new("u", NULL, (int64_t)time(NULL), 3600, 600);
    assert_int_equal(obol_upsert(st, s, NULL), OBOL_OK);
    assert_int_equal(obol_get(st, s->id, "u", NULL, &got, NULL), OBOL_OK);
    obol_session_free(got);
    obol_session_free(s);
    obol_store_close(st);
}

static void a_table_of_another_major_is_refused_at_registration(void **state)
{
    obol_error err;

    (void)state;
    assert_int_equal(obol_driver_register(newer_major_entry, &err), OBOL_ERR_DRIVER);
    assert_non_null(strstr(err.message, "ABI major"));
    assert_int_equal(obol_driver_register(NULL, &err), OBOL_ERR_DRIVER);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(a_registered_driver_serves_its_scheme_without_a_file),
        cmocka_unit_test(a_table_of_another_major_is_refused_at_registration),
    };

    return cmocka_run_group_tests_name("static-driver", tests, NULL, NULL);
}

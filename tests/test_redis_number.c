/*
 * The numbers of a list script reply (drivers/redis/redis_number.h) on
 * their own: what is read digit by digit must come out as strtod() and
 * strtoull() read it, and every other text as it always did.
 */
#include "config.h"

#include <inttypes.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "redis_number.h"

#define EXPIRES(text) redis_number_expires_at(text, sizeof text - 1)
#define LOCK(text) redis_number_lock_version(text, sizeof text - 1)

/* The score as the driver read it before digits were read by hand. */
static int64_t by_strtod(const char *text)
{
    char *end;
    double value = strtod(text, &end);

    if (*end != '\0')
        return 0;
    if (value >= 9223372036854775807.0)
        return INT64_MAX;
    if (value <= -9223372036854775807.0)
        return INT64_MIN;
    return (int64_t)value;
}

static void whole_seconds_read_as_strtod_reads_them(void **state)
{
    /* Every length from 1 to 17 digits, both signs, across the 15-digit
     * edge where the reading by hand stops. */
    uint64_t n = 0;
    (void)state;

    for (int digits = 1; digits <= 17; digits++) {
        char text[32];

        n = n * 10 + (uint64_t)(digits % 10);
        for (int sign = 0; sign < 2; sign++) {
            snprintf(text, sizeof text, "%s%" PRIu64, sign ? "-" : "", n);
            assert_int_equal(redis_number_expires_at(text, strlen(text)),
                             by_strtod(text));
        }
    }
    assert_int_equal(EXPIRES("1700000000"), 1700000000);
    assert_int_equal(EXPIRES("999999999999999"), 999999999999999LL);
    assert_int_equal(EXPIRES("-5"), -5);
    assert_int_equal(EXPIRES("0007"), 7);
    assert_int_equal(EXPIRES("-0"), 0);
}

static void other_scores_read_as_before(void **state)
{
    (void)state;
    assert_int_equal(EXPIRES("inf"), INT64_MAX);
    assert_int_equal(EXPIRES("-inf"), INT64_MIN);
    assert_int_equal(EXPIRES("1.5"), 1);
    assert_int_equal(EXPIRES("1.7e+18"), 1700000000000000000LL);
    assert_int_equal(EXPIRES("1e30"), INT64_MAX);
    assert_int_equal(EXPIRES("+7"), 7);
    assert_int_equal(EXPIRES("12345678901234567"),
                     by_strtod("12345678901234567"));
    /* Damaged: no score, no number, trailing bytes, too long to be one. */
    assert_int_equal(EXPIRES(""), 0);
    assert_int_equal(EXPIRES("-"), 0);
    assert_int_equal(EXPIRES("12x"), 0);
    assert_int_equal(EXPIRES("5 "), 0);
    assert_int_equal(EXPIRES("1-2"), 0);
    assert_int_equal(EXPIRES("--5"), 0);
    /* strtod() reads these as NaN, which no integer holds (converting it
     * is undefined; x86 gives INT64_MIN): damaged, like the others. */
    assert_int_equal(EXPIRES("nan"), 0);
    assert_int_equal(EXPIRES("-nan"), 0);
    assert_int_equal(EXPIRES("NAN(1)"), 0);
    assert_int_equal(redis_number_expires_at(
                         "1000000000000000000000000000000000000000000000000000"
                         "000000000000000", 67), 0);
}

static void lock_versions_read_as_strtoull_reads_them(void **state)
{
    (void)state;
    assert_true(LOCK("1") == 1);
    assert_true(LOCK("42") == 42);
    assert_true(LOCK("9999999999999999999") == 9999999999999999999ULL);
    assert_true(LOCK("18446744073709551615") == UINT64_MAX);
    assert_true(LOCK("99999999999999999999") ==
                strtoull("99999999999999999999", NULL, 10));
    assert_true(LOCK("") == 0);
    assert_true(LOCK("7x") == 7);
    assert_true(LOCK("+3") == 3);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(whole_seconds_read_as_strtod_reads_them),
        cmocka_unit_test(other_scores_read_as_before),
        cmocka_unit_test(lock_versions_read_as_strtoull_reads_them),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}

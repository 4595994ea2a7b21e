/*
 * Number and size parsing (lib/parse.c): the strict parsers behind every
 * numeric option of the core and of the drivers (through the host table).
 * A value is either exactly right or refused; nothing is guessed.
 */
#include "config.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "parse_internal.h"

/* Sentinel left in the output by a refused parse. */
#define UNTOUCHED 0xdeadbeefull

static void assert_uint(const char *text, uint64_t max, uint64_t expected)
{
    uint64_t value = UNTOUCHED;

    assert_int_equal(obol_parse_uint(text, max, &value), 0);
    assert_true(value == expected);
}

static void assert_uint_refused(const char *text, uint64_t max)
{
    uint64_t value = UNTOUCHED;

    assert_int_equal(obol_parse_uint(text, max, &value), -1);
    assert_true(value == UNTOUCHED);
}

static void assert_size(const char *text, uint64_t expected)
{
    uint64_t value = UNTOUCHED;

    assert_int_equal(obol_parse_size(text, &value), 0);
    assert_true(value == expected);
}

static void assert_size_refused(const char *text)
{
    uint64_t value = UNTOUCHED;

    assert_int_equal(obol_parse_size(text, &value), -1);
    assert_true(value == UNTOUCHED);
}

/* ------------------------------------------------------------ uint */

static void uint_accepts_plain_decimals(void **state)
{
    (void)state;
    assert_uint("0", 10, 0);
    assert_uint("7", 10, 7);
    assert_uint("6379", 65535, 6379);
    assert_uint("0042", 100, 42);
}

static void uint_accepts_exactly_max(void **state)
{
    (void)state;
    assert_uint("65535", 65535, 65535);
    assert_uint("4294967295", UINT32_MAX, UINT32_MAX);
    assert_uint("18446744073709551615", UINT64_MAX, UINT64_MAX);
    assert_uint("0", 0, 0);
}

static void uint_refuses_one_over_max(void **state)
{
    (void)state;
    assert_uint_refused("65536", 65535);
    assert_uint_refused("4294967296", UINT32_MAX);
    assert_uint_refused("101", 100);
}

/* A single digit larger than a small max must not slip through. */
static void uint_refuses_single_digit_over_small_max(void **state)
{
    (void)state;
    assert_uint_refused("1", 0);
    assert_uint_refused("9", 0);
    assert_uint_refused("2", 1);
    assert_uint_refused("9", 5);
    assert_uint("5", 5, 5);
}

static void uint_refuses_uint64_overflow(void **state)
{
    (void)state;
    assert_uint_refused("18446744073709551616", UINT64_MAX);
    assert_uint_refused("18446744073709551620", UINT64_MAX);
    assert_uint_refused("99999999999999999999", UINT64_MAX);
    assert_uint_refused("184467440737095516150", UINT64_MAX);
}

static void uint_refuses_signs(void **state)
{
    (void)state;
    assert_uint_refused("-1", 100);
    assert_uint_refused("+1", 100);
    assert_uint_refused("-0", 100);
}

static void uint_refuses_spaces(void **state)
{
    (void)state;
    assert_uint_refused(" 1", 100);
    assert_uint_refused("1 ", 100);
    assert_uint_refused("1 2", 100);
    assert_uint_refused("\t1", 100);
    assert_uint_refused("1\n", 100);
}

static void uint_refuses_empty_and_null(void **state)
{
    uint64_t value = UNTOUCHED;

    (void)state;
    assert_uint_refused("", 100);
    assert_int_equal(obol_parse_uint(NULL, 100, &value), -1);
    assert_int_equal(obol_parse_uint("1", 100, NULL), -1);
}

static void uint_refuses_junk_suffix_and_other_bases(void **state)
{
    (void)state;
    assert_uint_refused("12abc", 1000);
    assert_uint_refused("1.5", 1000);
    assert_uint_refused("1e3", 10000);
    assert_uint_refused("0x10", 1000);
    assert_uint_refused("1k", 10000);
    assert_uint_refused("abc", 1000);
}

/* ------------------------------------------------------------ size */

static void size_without_unit_is_bytes(void **state)
{
    (void)state;
    assert_size("0", 0);
    assert_size("4096", 4096);
    assert_size("65536", 65536);
}

static void size_accepts_every_unit(void **state)
{
    (void)state;
    assert_size("3B", 3);
    assert_size("3KB", 3000ull);
    assert_size("3MB", 3000000ull);
    assert_size("3GB", 3000000000ull);
    assert_size("3TB", 3000000000000ull);
    assert_size("3K", 3ull << 10);
    assert_size("3M", 3ull << 20);
    assert_size("3G", 3ull << 30);
    assert_size("3KiB", 3ull << 10);
    assert_size("3MiB", 3ull << 20);
    assert_size("3GiB", 3ull << 30);
    assert_size("3TiB", 3ull << 40);
}

static void size_units_ignore_case(void **state)
{
    (void)state;
    assert_size("64kib", 64ull << 10);
    assert_size("64KIB", 64ull << 10);
    assert_size("1gib", 1ull << 30);
    assert_size("10mb", 10000000ull);
    assert_size("2k", 2048);
    assert_size("5b", 5);
}

static void size_accepts_max_and_refuses_overflow(void **state)
{
    (void)state;
    assert_size("18446744073709551615", UINT64_MAX);
    assert_size("18446744073709551615B", UINT64_MAX);
    assert_size("16777215TiB", 16777215ull << 40);
    assert_size_refused("18446744073709551616");
    assert_size_refused("16777216TiB");
    assert_size_refused("18446744073709552KB");
    assert_size_refused("17179869184GiB");
}

static void size_refuses_signs(void **state)
{
    (void)state;
    assert_size_refused("-1");
    assert_size_refused("+1");
    assert_size_refused("-1KiB");
}

static void size_refuses_spaces(void **state)
{
    (void)state;
    assert_size_refused(" 1");
    assert_size_refused("1 ");
    assert_size_refused("1 KiB");
    assert_size_refused("1KiB ");
}

static void size_refuses_empty_and_unit_alone(void **state)
{
    uint64_t value = UNTOUCHED;

    (void)state;
    assert_size_refused("");
    assert_size_refused("KiB");
    assert_size_refused("B");
    assert_int_equal(obol_parse_size(NULL, &value), -1);
    assert_int_equal(obol_parse_size("1", NULL), -1);
}

static void size_refuses_unknown_units_and_junk(void **state)
{
    (void)state;
    assert_size_refused("1X");
    assert_size_refused("1PiB");
    assert_size_refused("1PB");
    assert_size_refused("1Ki");
    assert_size_refused("1KiBs");
    assert_size_refused("1BB");
    assert_size_refused("1.5GiB");
    assert_size_refused("0x10");
    assert_size_refused("1GiB1");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(uint_accepts_plain_decimals),
        cmocka_unit_test(uint_accepts_exactly_max),
        cmocka_unit_test(uint_refuses_one_over_max),
        cmocka_unit_test(uint_refuses_single_digit_over_small_max),
        cmocka_unit_test(uint_refuses_uint64_overflow),
        cmocka_unit_test(uint_refuses_signs),
        cmocka_unit_test(uint_refuses_spaces),
        cmocka_unit_test(uint_refuses_empty_and_null),
        cmocka_unit_test(uint_refuses_junk_suffix_and_other_bases),
        cmocka_unit_test(size_without_unit_is_bytes),
        cmocka_unit_test(size_accepts_every_unit),
        cmocka_unit_test(size_units_ignore_case),
        cmocka_unit_test(size_accepts_max_and_refuses_overflow),
        cmocka_unit_test(size_refuses_signs),
        cmocka_unit_test(size_refuses_spaces),
        cmocka_unit_test(size_refuses_empty_and_unit_alone),
        cmocka_unit_test(size_refuses_unknown_units_and_junk),
    };

    return cmocka_run_group_tests_name("parse", tests, NULL, NULL);
}

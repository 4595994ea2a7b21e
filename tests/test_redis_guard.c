/*
 * The RESP guard of the Redis driver (drivers/redis/redis_guard.h) on its
 * own: streams in, what hiredis's reader would be fed out. Each stream is
 * fed whole and one byte at a time, since the guard must not care where
 * the socket cut it.
 */
#include "config.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "redis_guard.h"

typedef struct sink_buf {
    char bytes[4096];
    size_t len;
} sink_buf;

static int into_buf(void *arg, const char *bytes, size_t len)
{
    sink_buf *b = arg;

    if (b->len + len > sizeof b->bytes)
        return -1;
    memcpy(b->bytes + b->len, bytes, len);
    b->len += len;
    return 0;
}

/* Feeds in (len bytes) in chunks of chunk bytes (0: whole); returns the
 * guard's status, with what was passed on in out. */
static int run(redis_guard *g, const char *in, size_t len, size_t chunk,
               sink_buf *out, char *why)
{
    size_t at = 0;

    memset(out, 0, sizeof *out);
    if (chunk == 0)
        chunk = len;
    while (at < len) {
        size_t n = len - at < chunk ? len - at : chunk;
        int status = redis_guard_feed(g, in + at, n, into_buf, out, why, 128);

        if (status != 0)
            return status;
        at += n;
    }
    return 0;
}

/* in through a fresh guard with a 10-byte bulk limit, whole and byte by
 * byte, must come out as want. */
static void assert_passes_as(const char *in, size_t in_len, const char *want,
                             int cut)
{
    for (size_t chunk = 0; chunk < 2; chunk++) {
        redis_guard g;
        sink_buf out;
        char why[128] = "";

        redis_guard_init(&g, 10, 100, 64);
        assert_int_equal(run(&g, in, in_len, chunk, &out, why), 0);
        assert_int_equal(out.len, strlen(want));
        assert_memory_equal(out.bytes, want, out.len);
        assert_int_equal(redis_guard_is_cut(&g), cut);
    }
}

#define PASSES_AS(in, want, cut) assert_passes_as(in, sizeof in - 1, want, cut)

static void replies_within_the_limits_pass_unchanged(void **state)
{
    static const char in[] = "+OK\r\n-ERR no\r\n:42\r\n$-1\r\n$0\r\n\r\n"
                             "$10\r\n0123456789\r\n*-1\r\n*0\r\n"
                             "*2\r\n$2\r\nab\r\n*1\r\n:7\r\n";
    redis_guard g;
    (void)state;

    PASSES_AS(in, in, 0);
    redis_guard_init(&g, 10, 100, 64);
    assert_false(redis_guard_replaced(&g));
}

/* Alone, an oversized bulk string is its length, and the reply (and
 * everything after it) ends at its header. */
static void an_oversized_reply_ends_at_its_header(void **state)
{
    (void)state;
    PASSES_AS("$11\r\n01234567890\r\n+OK\r\n", ":11\r\n", 1);
}

/* In an array it is its length, its bytes are dropped, and the array and
 * the replies after it go on. */
static void an_oversized_element_is_dropped_as_it_arrives(void **state)
{
    (void)state;
    PASSES_AS("*3\r\n$1\r\na\r\n$12\r\n0123456789ab\r\n*1\r\n$1\r\nb\r\n"
              "+OK\r\n",
              "*3\r\n$1\r\na\r\n:12\r\n*1\r\n$1\r\nb\r\n+OK\r\n", 0);
}

/* Cut anywhere (every chunk size, so that each header is split at each
 * of its bytes somewhere), a stream passes as it does whole: a header
 * that lies whole in one input goes on with the bytes around it, one
 * split across inputs from the guard's own copy. */
static void every_cut_of_a_stream_passes_the_same(void **state)
{
    static const char in[] = "*4\r\n$2\r\nid\r\n$12\r\n0123456789ab\r\n"
                             "$10\r\n1700000000\r\n$1\r\n3\r\n+OK\r\n"
                             "*2\r\n$0\r\n\r\n:5\r\n";
    static const char want[] = "*4\r\n$2\r\nid\r\n:12\r\n"
                               "$10\r\n1700000000\r\n$1\r\n3\r\n+OK\r\n"
                               "*2\r\n$0\r\n\r\n:5\r\n";
    (void)state;

    for (size_t chunk = 1; chunk < sizeof in; chunk++) {
        redis_guard g;
        sink_buf out;
        char why[128] = "";

        redis_guard_init(&g, 10, 100, 64);
        assert_int_equal(run(&g, in, sizeof in - 1, chunk, &out, why), 0);
        assert_int_equal(out.len, sizeof want - 1);
        assert_memory_equal(out.bytes, want, out.len);
    }
}

static int count_calls(void *arg, const char *bytes, size_t len)
{
    (void)bytes;
    (void)len;
    ++*(int *)arg;
    return 0;
}

/* A reply of many short elements that came in one read reaches the
 * reader in one piece, not two per element (each piece costs hiredis
 * an append to its buffer). */
static void a_reply_in_one_input_is_passed_in_one_piece(void **state)
{
    static const char in[] = "*8\r\n$2\r\ns1\r\n$3\r\nabc\r\n"
                             "$10\r\n1700000000\r\n$1\r\n1\r\n"
                             "$2\r\ns2\r\n$3\r\ndef\r\n$3\r\ninf\r\n"
                             "$1\r\n2\r\n";
    redis_guard g;
    int calls = 0;
    char why[128] = "";
    (void)state;

    redis_guard_init(&g, 10, 100, 64);
    assert_int_equal(redis_guard_feed(&g, in, sizeof in - 1, count_calls,
                                      &calls, why, sizeof why), 0);
    assert_int_equal(calls, 1);
}

static void expect_refused(const char *in, const char *says)
{
    for (size_t chunk = 0; chunk < 2; chunk++) {
        redis_guard g;
        sink_buf out;
        char why[128] = "";

        redis_guard_init(&g, 10, 100, 64);
        assert_int_equal(run(&g, in, strlen(in), chunk, &out, why), -1);
        if (strstr(why, says) == NULL)
            fail_msg("'%s' refused with '%s', not '%s'", in, why, says);
    }
}

static void streams_over_the_other_limits_are_refused(void **state)
{
    char long_line[80];
    (void)state;

    expect_refused("*101\r\n", "101 elements");
    expect_refused("*1\r\n*1\r\n*1\r\n*1\r\n*1\r\n*1\r\n*1\r\n*1\r\n*1\r\n",
                   "deeper");
    expect_refused("$1x\r\n", "malformed");
    expect_refused("$-2\r\n", "malformed");
    expect_refused("$99999999999999999999999\r\n", "malformed");
    expect_refused("$1234567890123456789012345678901234567890\r\n",
                   "header is longer than");
    expect_refused("%1\r\n", "0x25");
    memset(long_line, 'x', sizeof long_line);
    long_line[0] = '-';
    long_line[sizeof long_line - 1] = '\0';
    expect_refused(long_line, "line is longer than 64");
    {
        /* Arrays nested within the limit each, over it together. */
        char nested[400] = "*2\r\n*60\r\n";

        for (int i = 0; i < 60; i++)
            strcat(nested, ":1\r\n");
        strcat(nested, "*60\r\n");
        expect_refused(nested, "more than 100 elements in all");
    }
}

/* hiredis ends a line at CRLF only: a bare LF that the guard took for a
 * line end would let it skip a header hiredis then reads ("+A\n$5\r\n"
 * is one status line to hiredis, so the 5 bytes after it are the next
 * reply's header, unchecked). Refused, whole and byte by byte. */
static void a_line_ending_in_lf_alone_is_refused(void **state)
{
    (void)state;
    expect_refused("+A\n$5\r\n$999999999\r\n", "LF without CR");
    expect_refused("-ERR x\n\r\n", "LF without CR");
    expect_refused(":1\n", "LF without CR");
    PASSES_AS("+A\rB\r\n", "+A\rB\r\n", 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(replies_within_the_limits_pass_unchanged),
        cmocka_unit_test(an_oversized_reply_ends_at_its_header),
        cmocka_unit_test(an_oversized_element_is_dropped_as_it_arrives),
        cmocka_unit_test(every_cut_of_a_stream_passes_the_same),
        cmocka_unit_test(a_reply_in_one_input_is_passed_in_one_piece),
        cmocka_unit_test(streams_over_the_other_limits_are_refused),
        cmocka_unit_test(a_line_ending_in_lf_alone_is_refused),
    };
    return cmocka_run_group_tests_name("redis guard", tests, NULL, NULL);
}

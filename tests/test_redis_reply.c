/*
 * The replies of the Redis driver's reader (drivers/redis/redis_reply.h)
 * on their own: each stream is read by hiredis's own reader and by the
 * arena reader, whole and a byte at a time, and the two replies must be
 * the same, down to each string's terminating NUL. Under valgrind
 * (make check-valgrind) this also shows that a reply, or one left
 * unfinished, is freed whole.
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

#include "redis_reply.h"

static void assert_same(const redisReply *want, const redisReply *got)
{
    assert_non_null(got);
    assert_int_equal(got->type, want->type);
    switch (want->type) {
    case REDIS_REPLY_INTEGER:
        assert_true(got->integer == want->integer);
        break;
    case REDIS_REPLY_STRING:
    case REDIS_REPLY_STATUS:
    case REDIS_REPLY_ERROR:
        assert_int_equal(got->len, want->len);
        assert_memory_equal(got->str, want->str, want->len + 1);
        break;
    case REDIS_REPLY_ARRAY:
        assert_int_equal(got->elements, want->elements);
        for (size_t i = 0; i < want->elements; i++)
            assert_same(want->element[i], got->element[i]);
        break;
    default:
        break;
    }
}

/* The next reply of reader after feeding in chunks of chunk bytes from
 * *at (0: all that is left), or NULL when it needs more than len. */
static void *next_reply(redisReader *reader, const char *in, size_t len,
                        size_t *at, size_t chunk)
{
    void *reply = NULL;

    assert_int_equal(redisReaderGetReply(reader, &reply), REDIS_OK);
    while (reply == NULL && *at < len) {
        size_t n = chunk == 0 || len - *at < chunk ? len - *at : chunk;

        assert_int_equal(redisReaderFeed(reader, in + *at, n), REDIS_OK);
        *at += n;
        assert_int_equal(redisReaderGetReply(reader, &reply), REDIS_OK);
    }
    return reply;
}

/* Every reply of in, read both ways, whole and byte by byte. */
static void assert_read_alike(const char *in, size_t len, size_t replies)
{
    for (size_t chunk = 0; chunk < 2; chunk++) {
        redis_reply_arena arena;
        redisReader *plain = redisReaderCreate();
        redisReader *ours = redis_reply_reader_new(&arena);
        size_t plain_at = 0, ours_at = 0;

        assert_non_null(plain);
        assert_non_null(ours);
        for (size_t i = 0; i < replies; i++) {
            redisReply *want = next_reply(plain, in, len, &plain_at, chunk);
            redisReply *got = next_reply(ours, in, len, &ours_at, chunk);

            assert_non_null(want);
            assert_same(want, got);
            freeReplyObject(want);
            redis_reply_free(got);
        }
        redisReaderFree(plain);
        redisReaderFree(ours);
    }
}

#define READ_ALIKE(in, replies) assert_read_alike(in, sizeof in - 1, replies)

static void every_kind_of_reply_reads_as_hiredis_reads_it(void **state)
{
    (void)state;
    READ_ALIKE("+OK\r\n-ERR no\r\n:42\r\n:-7\r\n$-1\r\n$0\r\n\r\n"
               "$5\r\nhe\0lo\r\n*-1\r\n*0\r\n", 9);
}

static void nested_arrays_read_as_hiredis_reads_them(void **state)
{
    (void)state;
    READ_ALIKE("*4\r\n$2\r\nid\r\n*2\r\n:1\r\n*1\r\n$-1\r\n+OK\r\n*0\r\n"
               "*2\r\n*0\r\n*1\r\n*1\r\n*1\r\n-E\r\n", 2);
}

/* A list of many records with long strings among short ones: the arena
 * grows by blocks, and gives a long string one of its own. */
static void a_long_list_reads_as_hiredis_reads_it(void **state)
{
    enum { RECORDS = 600, SEALED = 400, LONG = 70000 };
    size_t cap = RECORDS * (SEALED + 80) + LONG + 64, len;
    char *in = malloc(cap);
    char *sealed = malloc(LONG);
    (void)state;

    assert_non_null(in);
    assert_non_null(sealed);
    memset(sealed, 's', LONG);
    len = (size_t)snprintf(in, cap, "*%d\r\n", RECORDS * 4);
    for (int i = 0; i < RECORDS; i++) {
        int n = i == RECORDS / 2 ? LONG : SEALED;

        len += (size_t)snprintf(in + len, cap - len,
                                "$4\r\ns%03d\r\n$%d\r\n", i % 1000, n);
        memcpy(in + len, sealed, (size_t)n);
        len += (size_t)n;
        len += (size_t)snprintf(in + len, cap - len,
                                "\r\n$10\r\n1700000000\r\n$1\r\n%d\r\n", i % 10);
    }
    assert_read_alike(in, len, 1);
    free(sealed);
    free(in);
}

/* A reply cut short by a protocol error, or left unfinished when the
 * reader goes, is freed by the reader: valgrind finds nothing left. */
static void an_unfinished_reply_is_freed_with_the_reader(void **state)
{
    static const char broken[] = "*3\r\n$1\r\na\r\n:1\r\n%oops\r\n";
    static const char unfinished[] = "*3\r\n$1\r\na\r\n*2\r\n:1\r\n";
    redis_reply_arena arena;
    redisReader *reader = redis_reply_reader_new(&arena);
    void *reply = NULL;
    (void)state;

    assert_non_null(reader);
    assert_int_equal(redisReaderFeed(reader, broken, sizeof broken - 1),
                     REDIS_OK);
    assert_int_equal(redisReaderGetReply(reader, &reply), REDIS_ERR);
    assert_null(reply);
    redisReaderFree(reader);

    reader = redis_reply_reader_new(&arena);
    assert_non_null(reader);
    assert_int_equal(redisReaderFeed(reader, unfinished,
                                     sizeof unfinished - 1), REDIS_OK);
    assert_int_equal(redisReaderGetReply(reader, &reply), REDIS_OK);
    assert_null(reply);
    redisReaderFree(reader);
}

static void freeing_null_does_nothing(void **state)
{
    (void)state;
    redis_reply_free(NULL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(every_kind_of_reply_reads_as_hiredis_reads_it),
        cmocka_unit_test(nested_arrays_read_as_hiredis_reads_them),
        cmocka_unit_test(a_long_list_reads_as_hiredis_reads_it),
        cmocka_unit_test(an_unfinished_reply_is_freed_with_the_reader),
        cmocka_unit_test(freeing_null_does_nothing),
    };
    return cmocka_run_group_tests_name("redis reply", tests, NULL, NULL);
}

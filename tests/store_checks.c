/* Checks on a store for the Redis fault tests; see store_checks.h. */
#include "config.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>

#include "store_checks.h"

obol_store *open_store_with_key(const char *base_url, const char *prefix,
                              const char *options, const uint8_t key[32])
{
    char config[2048];
    obol_store *st = NULL;
    obol_error err = { 0 };
    int status;

    snprintf(config, sizeof config, "%s&prefix=%s%s", base_url, prefix,
             options);
    status = obol_store_open(config, &st, &err);
    if (status != OBOL_OK)
        fprintf(stderr, "open %s: %s\n", config, err.message);
    assert_int_equal(status, OBOL_OK);
    assert_int_equal(obol_store_add_key(st, 1, key, 1, &err), OBOL_OK);
    return st;
}

obol_session *insert(obol_store *st, const char *user)
{
    obol_session *s = obol_session_new(user, NULL, (int64_t)time(NULL), 3600,
                                       3600);
    obol_error err = { 0 };
    int status;

    assert_non_null(s);
    status = obol_upsert(st, s, &err);
    if (status != OBOL_OK)
        fprintf(stderr, "upsert: %s\n", err.message);
    assert_int_equal(status, OBOL_OK);
    return s;
}

uint64_t stored_lock(obol_store *st, const obol_session *s)
{
    obol_session *got = NULL;
    obol_error err = { 0 };
    uint64_t lock;
    int status = obol_get(st, s->id, s->user_id, NULL, &got, &err);

    if (status != OBOL_OK)
        fprintf(stderr, "get: %d %s\n", status, err.message);
    assert_int_equal(status, OBOL_OK);
    lock = got->lock_version;
    obol_session_free(got);
    return lock;
}

void assert_message_has(const char *message, const char *part)
{
    if (strstr(message, part) == NULL) {
        fprintf(stderr, "message \"%s\" lacks \"%s\"\n", message, part);
        fail();
    }
}

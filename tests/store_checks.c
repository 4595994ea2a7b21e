/* Checks on a store for the Redis fault tests; see store_checks.h. */
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

#include "redis_harness.h"
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

static void *write_loop(void *arg)
{
    session_writer *w = arg;

    while (!w->stop && w->acknowledged < SESSION_WRITER_MAX) {
        obol_session *s = obol_session_new(w->user, NULL, (int64_t)time(NULL),
                                           3600, 3600);
        obol_error err = { 0 };
        double started = redis_harness_monotonic_ms();
        int status = obol_upsert(w->st, s, &err);
        double took = redis_harness_monotonic_ms() - started;

        if (took > w->slowest_ms)
            w->slowest_ms = took;
        if (status == OBOL_OK)
            snprintf(w->ids[w->acknowledged++], sizeof w->ids[0], "%s", s->id);
        else
            w->failed++;
        obol_session_free(s);
        /* A steady trickle, as logins come, rather than a flood. */
        redis_harness_sleep_ms(status == OBOL_OK ? 2 : 20);
    }
    return NULL;
}

session_writer *session_writer_start(obol_store *st, const char *user)
{
    session_writer *w = calloc(1, sizeof *w);

    assert_non_null(w);
    w->st = st;
    w->user = user;
    assert_int_equal(pthread_create(&w->thread, NULL, write_loop, w), 0);
    return w;
}

void session_writer_wait_for(session_writer *w, int count, int timeout_ms)
{
    int before = w->acknowledged;

    for (int waited = 0; waited < timeout_ms && w->acknowledged < before + count;
         waited += 50)
        redis_harness_sleep_ms(50);
}

void session_writer_finish(session_writer *w, const char *label)
{
    w->stop = 1;
    assert_int_equal(pthread_join(w->thread, NULL), 0);
    for (int i = 0; i < w->acknowledged; i++) {
        obol_session *got = NULL;
        obol_error err = { 0 };
        int status = obol_get(w->st, w->ids[i], w->user, NULL, &got, &err);

        if (status != OBOL_OK)
            fprintf(stderr, "acknowledged session %d of %d lost: %d %s\n", i,
                    w->acknowledged, status, err.message);
        assert_int_equal(status, OBOL_OK);
        obol_session_free(got);
    }
    fprintf(stderr, "# %s: %d acknowledged, %d failed, slowest call "
                    "%.0f ms\n", label, w->acknowledged, w->failed,
            w->slowest_ms);
}

void session_writer_free(session_writer *w)
{
    free(w);
}

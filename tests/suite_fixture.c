/* The fixture shared by the conformance cases; see suite_fixture.h. */
#include "config.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "suite_fixture.h"
#include "suite_sweep.h"

static const char *suite_base_url;
static unsigned suite_counter;

const uint8_t suite_key_one[32] = "obol test key number one.......";
const uint8_t suite_key_two[32] = "obol test key number two.......";

void suite_set_base_url(const char *base_url)
{
    suite_base_url = base_url;
}

int64_t suite_clock(void *arg)
{
    return ((fixture *)arg)->now;
}

static void fixture_log(void *arg, int level, const char *msg)
{
    fixture *f = arg;

    if (level <= OBOL_LOG_WARNING) {
        f->warnings++;
        snprintf(f->last_warning, sizeof f->last_warning, "%s", msg);
    }
}

void suite_make_url(fixture *f, const char *extra)
{
    char sep = strchr(suite_base_url, '?') ? '&' : '?';

    snprintf(f->url, sizeof f->url, "%s%cprefix=t%ld-%u%s%s", suite_base_url,
             sep, (long)getpid(), ++suite_counter, extra ? "&" : "",
             extra ? extra : "");
    suite_sweep_note_url(f->url);
}

obol_store *suite_open_store(fixture *f, const char *url, int with_key)
{
    obol_store *st = NULL;
    obol_error err;
    int status = obol_store_open(url, &st, &err);

    if (status != OBOL_OK)
        fail_msg("obol_store_open(%s): %s", url, err.message);
    if (with_key)
        assert_int_equal(obol_store_add_key(st, 1, suite_key_one, 1, NULL), OBOL_OK);
    obol_store_set_clock(st, suite_clock, f);
    obol_store_set_logger(st, fixture_log, f);
    return st;
}

static int setup_with(void **state, const char *extra)
{
    fixture *f = calloc(1, sizeof *f);

    assert_non_null(f);
    f->now = (int64_t)time(NULL);
    suite_make_url(f, extra);
    f->st = suite_open_store(f, f->url, 1);
    *state = f;
    return 0;
}

int suite_setup(void **state)
{
    return setup_with(state, NULL);
}

int suite_setup_aead(void **state)
{
    return setup_with(state, "seal=aead");
}

int suite_setup_small_payload(void **state)
{
    return setup_with(state, "max_payload=1KiB");
}

int suite_teardown(void **state)
{
    fixture *f = *state;

    obol_store_close(f->st);
    free(f);
    suite_sweep();
    return 0;
}

obol_session *suite_stored_session(fixture *f, const char *uid,
                                   const char *type)
{
    obol_session *s = obol_session_new(uid, type, f->now, 7 * DAY, DAY);
    obol_error err;

    assert_non_null(s);
    if (obol_upsert(f->st, s, &err) != OBOL_OK)
        fail_msg("upsert: %s", err.message);
    return s;
}

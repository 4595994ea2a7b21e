/*
 * What every conformance case starts from: a store of its own, under a
 * prefix no other case uses, on the backend under test, with a test key, a
 * clock the case controls and a logger that counts warnings.
 */
#ifndef OBOL_TEST_SUITE_FIXTURE_H
#define OBOL_TEST_SUITE_FIXTURE_H

#include <stdint.h>

#include <obol/obol.h>

#define DAY (24 * 3600)

extern const uint8_t suite_key_one[32];
extern const uint8_t suite_key_two[32];

typedef struct fixture {
    obol_store *st;
    char url[1024];           /* this case's config string */
    int64_t now;              /* the store's clock */
    int warnings;             /* warnings logged so far */
    char last_warning[512];
} fixture;

/* The clock hook reading fixture f->now (arg is f). */
int64_t suite_clock(void *arg);

/* The config string every case builds on ("lmdb:///tmp/x"). */
void suite_set_base_url(const char *base_url);

/* Opens url with the fixture's clock and logger, and key one unless
 * with_key is 0; fails the case if it does not open. */
obol_store *suite_open_store(fixture *f, const char *url, int with_key);

/* cmocka setups: a fixture with a fresh prefix, plus extra options. */
int suite_setup(void **state);
int suite_setup_aead(void **state);
int suite_setup_small_payload(void **state);
int suite_teardown(void **state);

/* A fresh config string for f with a new prefix and extra options. */
void suite_make_url(fixture *f, const char *extra);

/* A new session of uid/type stored in f's store, valid for a day. */
obol_session *suite_stored_session(fixture *f, const char *uid,
                                   const char *type);

#endif

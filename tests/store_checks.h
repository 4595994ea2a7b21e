/*
 * Checks on a store through the public API, for the Redis fault tests
 * (cluster, Sentinel): open one with a key, write a session, read back its
 * lock version, and look into a message. Each fails the cmocka test, with
 * the store's message on stderr, when the call does not succeed.
 */
#ifndef OBOL_TESTS_STORE_CHECKS_H
#define OBOL_TESTS_STORE_CHECKS_H

#include <pthread.h>
#include <stdint.h>

#include <obol/obol.h>

/* base_url (already with a '?') plus "&prefix=PREFIX" and options (which
 * start with '&', or are ""), signing with key as key id 1. */
obol_store *open_store_with_key(const char *base_url, const char *prefix,
                              const char *options, const uint8_t key[32]);

/* A new session of user (type "full"), live for an hour, stored. */
obol_session *insert(obol_store *st, const char *user);

/* The lock version the store holds for s. */
uint64_t stored_lock(obol_store *st, const obol_session *s);

void assert_message_has(const char *message, const char *part);

/*
 * A thread writing new sessions of one user, a trickle as logins come,
 * through whatever the backend goes through (a failover), recording which
 * ones were acknowledged and how long the slowest call took.
 */
enum { SESSION_WRITER_MAX = 20000 };

typedef struct session_writer {
    obol_store *st;
    const char *user;
    volatile int stop;
    char ids[SESSION_WRITER_MAX][32];
    int acknowledged, failed;
    double slowest_ms;
    pthread_t thread;
} session_writer;

/* A new writer on st (free it with session_writer_finish()). */
session_writer *session_writer_start(obol_store *st, const char *user);

/* Waits until count more sessions are acknowledged, at most timeout_ms. */
void session_writer_wait_for(session_writer *w, int count, int timeout_ms);

/* Stops the thread and checks that every acknowledged session is stored,
 * printing the counts under label as a TAP comment. w stays readable
 * until session_writer_free(). */
void session_writer_finish(session_writer *w, const char *label);

void session_writer_free(session_writer *w);

#endif

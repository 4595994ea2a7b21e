/*
 * Checks on a store through the public API, for the Redis fault tests
 * (cluster, Sentinel): open one with a key, write a session, read back its
 * lock version, and look into a message. Each fails the cmocka test, with
 * the store's message on stderr, when the call does not succeed.
 */
#ifndef OBOL_TESTS_STORE_CHECKS_H
#define OBOL_TESTS_STORE_CHECKS_H

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

#endif

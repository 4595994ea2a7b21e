/*
 * The decimal numbers of a list script reply (redis_ops.c), read back
 * from the text Redis sends: a session's score, its expires_at, and its
 * lock version. A list reads four per session, so the usual forms (a
 * whole number of seconds, a small counter) are read digit by digit;
 * any other text goes through strtod() or strtoull() as it always did,
 * with the same result either way.
 */
#ifndef OBOL_REDIS_NUMBER_H
#define OBOL_REDIS_NUMBER_H

#include <stddef.h>
#include <stdint.h>

/* A score as Redis prints it ("1700000000", "1.7e+18", "inf") back to
 * expires_at, clamped to int64_t; "" (no score: a damaged entry), or
 * text that is no number (NaN included), reads as long dead (0). */
int64_t redis_number_expires_at(const char *text, size_t len);

/* A lock version as the scripts store it (decimal); "" reads as 0. */
uint64_t redis_number_lock_version(const char *text, size_t len);

#endif

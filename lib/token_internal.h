/*
 * Client tokens: one url-safe string that names a session and carries its
 * refresh token id, bound by a MAC to the store's prefix and a key of its
 * keyring. docs/FORMAT.md ("Client token") has the bytes.
 */
#ifndef OBOL_TOKEN_INTERNAL_H
#define OBOL_TOKEN_INTERNAL_H

#include <obol/obol.h>

/* "o1." */
#define OBOL_TOKEN_TAG "o1."
#define OBOL_TOKEN_TAG_LEN 3

/* The longest token obol_token_parse() reads; longer ones are refused
 * before any decoding. */
#define OBOL_TOKEN_MAX_LEN 4096

#endif

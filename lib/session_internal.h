/* Session helpers shared inside the library. */
#ifndef OBOL_SESSION_INTERNAL_H
#define OBOL_SESSION_INTERNAL_H

#include <stddef.h>
#include <stdint.h>

#include <obol/obol.h>

/* A new random 128-bit id as 22 url-safe base64 characters (malloc()ed),
 * or NULL when out of memory or libsodium cannot start. */
char *obol_random_id(void);

/* Wipes len bytes at p (sodium_memzero), then free()s it; NULL is
 * allowed. For what must not linger in freed memory: refresh token ids,
 * client tokens, payloads, decrypted plaintext. */
void obol_wipe_free(void *p, size_t len);

/* obol_wipe_free() of a NUL-terminated string. */
void obol_wipe_free_string(char *text);

/* now + ttl, saturating at OBOL_INFINITE (as is an infinite ttl). */
int64_t obol_time_after(int64_t now, int64_t ttl);

#endif

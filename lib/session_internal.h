/* Session helpers shared inside the library. */
#ifndef OBOL_SESSION_INTERNAL_H
#define OBOL_SESSION_INTERNAL_H

#include <stdint.h>

#include <obol/obol.h>

/* A new random 128-bit id as 22 url-safe base64 characters (malloc()ed),
 * or NULL when out of memory or libsodium cannot start. */
char *obol_random_id(void);

/* now + ttl, saturating at OBOL_INFINITE (as is an infinite ttl). */
int64_t obol_time_after(int64_t now, int64_t ttl);

#endif

/* Number parsing for config options, shared with drivers via the host table. */
#ifndef OBOL_PARSE_INTERNAL_H
#define OBOL_PARSE_INTERNAL_H

#include <stdint.h>

/* A whole decimal number in [0, max], no sign, no spaces: 0 or -1. */
int obol_parse_uint(const char *text, uint64_t max, uint64_t *out);

/* A size: decimal digits and an optional unit B, KB, MB, GB (powers of
 * 1000) or K, M, G, KiB, MiB, GiB, TiB (powers of 1024),
 * case-insensitive: 0 or -1. */
int obol_parse_size(const char *text, uint64_t *out);

#endif

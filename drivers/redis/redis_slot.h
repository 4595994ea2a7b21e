/* The Redis Cluster slot of a key: CRC16 (XMODEM) of its hash tag, the
 * part between the first '{' and the next '}' when that is not empty, else
 * of the whole key, modulo 16384. */
#ifndef OBOL_REDIS_SLOT_H
#define OBOL_REDIS_SLOT_H

#include <stddef.h>

#define REDIS_SLOT_COUNT 16384

unsigned redis_slot_of(const char *key, size_t len);

#endif

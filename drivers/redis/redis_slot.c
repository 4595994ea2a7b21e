/* The cluster slot of a key; see redis_slot.h. */
#include "config.h"

#include <stdint.h>
#include <string.h>

#include "redis_slot.h"

/* Bit by bit, MSB first, polynomial 0x1021, initial value 0: a key's tag
 * is a few dozen bytes, so a table would buy nothing measurable next to
 * the round trip. */
static uint16_t crc16_xmodem(const uint8_t *data, size_t len)
{
    uint16_t crc = 0;

    for (size_t i = 0; i < len; i++) {
        crc ^= (uint16_t)(data[i] << 8);
        for (int bit = 0; bit < 8; bit++)
            crc = (crc & 0x8000) ? (uint16_t)((crc << 1) ^ 0x1021)
                                 : (uint16_t)(crc << 1);
    }
    return crc;
}

unsigned redis_slot_of(const char *key, size_t len)
{
    const char *open = memchr(key, '{', len);

    if (open != NULL) {
        size_t rest = len - (size_t)(open - key) - 1;
        const char *close = memchr(open + 1, '}', rest);

        if (close != NULL && close > open + 1) {
            key = open + 1;
            len = (size_t)(close - key);
        }
    }
    return crc16_xmodem((const uint8_t *)key, len) % REDIS_SLOT_COUNT;
}

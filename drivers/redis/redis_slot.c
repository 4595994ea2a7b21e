/* The cluster slot of a key; see redis_slot.h. */
#include "config.h"

#include <stdint.h>
#include <string.h>

#include "redis_slot.h"

/* Four bits at a time, MSB first, polynomial 0x1021, initial value 0:
 * the table holds the CRC of each nibble at the top, so each byte is two
 * lookups. Pipelined, a key's slot is computed for every operation, and
 * bit by bit it showed in a profile. */
static const uint16_t crc16_nibble[16] = {
    0x0000, 0x1021, 0x2042, 0x3063, 0x4084, 0x50a5, 0x60c6, 0x70e7,
    0x8108, 0x9129, 0xa14a, 0xb16b, 0xc18c, 0xd1ad, 0xe1ce, 0xf1ef,
};

static uint16_t crc16_xmodem(const uint8_t *data, size_t len)
{
    uint16_t crc = 0;

    for (size_t i = 0; i < len; i++) {
        crc = (uint16_t)((crc << 4) ^
                         crc16_nibble[((crc >> 12) ^ (data[i] >> 4)) & 0xf]);
        crc = (uint16_t)((crc << 4) ^
                         crc16_nibble[((crc >> 12) ^ (data[i] & 0xf)) & 0xf]);
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

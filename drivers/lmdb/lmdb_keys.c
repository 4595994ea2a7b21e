/* Key and value encoding of the LMDB driver; the format is described in
 * lmdb_keys.h and docs/LMDB.md. */
#include <string.h>

#include "lmdb_keys.h"

#define PART_LENGTH_SIZE 2
#define PART_MAX_LENGTH 0xffffu

static void put_be64(uint8_t *out, uint64_t value)
{
    for (int i = 7; i >= 0; i--) {
        out[i] = (uint8_t)(value & 0xffu);
        value >>= 8;
    }
}

static uint64_t get_be64(const uint8_t *in)
{
    uint64_t value = 0;
    for (int i = 0; i < 8; i++)
        value = (value << 8) | in[i];
    return value;
}

/* Appends len16(part) part. A part longer than 65535 bytes cannot be
 * encoded, but it could never fit under LMDB's key limit either. */
static int append_part(lmdb_key *key, size_t limit, obol_bytes part)
{
    if (part.len > PART_MAX_LENGTH)
        return -1;
    if (key->len + PART_LENGTH_SIZE + part.len > limit)
        return -1;
    key->bytes[key->len] = (uint8_t)(part.len >> 8);
    key->bytes[key->len + 1] = (uint8_t)(part.len & 0xffu);
    key->len += PART_LENGTH_SIZE;
    if (part.len > 0)
        memcpy(key->bytes + key->len, part.data, part.len);
    key->len += part.len;
    return 0;
}

/* Reads one len16-prefixed part at *pos; -1 when it runs past the end. */
static int read_part(const uint8_t *data, size_t len, size_t *pos,
                     obol_bytes *part)
{
    if (len - *pos < PART_LENGTH_SIZE)
        return -1;
    size_t part_len = ((size_t)data[*pos] << 8) | data[*pos + 1];
    *pos += PART_LENGTH_SIZE;
    if (len - *pos < part_len)
        return -1;
    part->data = data + *pos;
    part->len = part_len;
    *pos += part_len;
    return 0;
}

static size_t capped(size_t limit)
{
    return limit < LMDB_KEY_CAPACITY ? limit : LMDB_KEY_CAPACITY;
}

int lmdb_key_prefix(lmdb_key *key, size_t limit, obol_bytes prefix)
{
    key->len = 0;
    return append_part(key, capped(limit), prefix);
}

int lmdb_key_user(lmdb_key *key, size_t limit, obol_bytes prefix,
                  const obol_driver_key *where)
{
    if (lmdb_key_prefix(key, limit, prefix) != 0)
        return -1;
    if (append_part(key, capped(limit), where->user_id) != 0)
        return -1;
    return append_part(key, capped(limit), where->type);
}

int lmdb_key_session(lmdb_key *key, size_t limit, obol_bytes prefix,
                     const obol_driver_key *where)
{
    if (lmdb_key_user(key, limit, prefix, where) != 0)
        return -1;
    return append_part(key, capped(limit), where->id);
}

/* Flipping the sign bit maps INT64_MIN..INT64_MAX onto 0..UINT64_MAX in
 * order, so big-endian bytes of the result sort like the signed times. */
int lmdb_key_expiry(lmdb_key *key, size_t limit, int64_t expires_at,
                    const uint8_t *session_key, size_t session_key_len)
{
    if (LMDB_EXPIRY_STAMP_SIZE + session_key_len > capped(limit))
        return -1;
    put_be64(key->bytes, (uint64_t)expires_at ^ (UINT64_C(1) << 63));
    memcpy(key->bytes + LMDB_EXPIRY_STAMP_SIZE, session_key,
           session_key_len);
    key->len = LMDB_EXPIRY_STAMP_SIZE + session_key_len;
    return 0;
}

int64_t lmdb_expiry_stamp_decode(const uint8_t *stamp)
{
    uint64_t biased = get_be64(stamp) ^ (UINT64_C(1) << 63);
    int64_t value;
    /* memcpy rather than a cast: converting an out-of-range unsigned value
     * to a signed type is implementation-defined. */
    memcpy(&value, &biased, sizeof value);
    return value;
}

int lmdb_key_decode(const uint8_t *data, size_t len, obol_driver_key *out)
{
    size_t pos = 0;
    obol_bytes prefix;
    if (read_part(data, len, &pos, &prefix) != 0
        || read_part(data, len, &pos, &out->user_id) != 0
        || read_part(data, len, &pos, &out->type) != 0
        || read_part(data, len, &pos, &out->id) != 0)
        return -1;
    return pos == len ? 0 : -1;
}

void lmdb_value_header_encode(uint8_t *out, int64_t expires_at,
                              uint64_t lock_version)
{
    uint64_t raw;
    memcpy(&raw, &expires_at, sizeof raw);
    put_be64(out, raw);
    put_be64(out + 8, lock_version);
}

int lmdb_value_header_decode(const uint8_t *data, size_t len,
                             int64_t *expires_at, uint64_t *lock_version)
{
    if (len < LMDB_VALUE_HEADER_SIZE)
        return -1;
    uint64_t raw = get_be64(data);
    memcpy(expires_at, &raw, sizeof *expires_at);
    *lock_version = get_be64(data + 8);
    return 0;
}

int lmdb_key_in_range(const uint8_t *key, size_t key_len,
                      const uint8_t *range, size_t range_len)
{
    return key_len >= range_len && memcmp(key, range, range_len) == 0;
}

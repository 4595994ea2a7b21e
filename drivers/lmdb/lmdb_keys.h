/*
 * Key and value encoding of the LMDB driver (see docs/LMDB.md).
 *
 * A session key is four length-prefixed parts,
 *
 *     len16(prefix) prefix len16(user) user len16(type) type len16(id) id
 *
 * with len16 a 2-byte big-endian length. Each part says where it ends, so
 * no two distinct tuples share an encoding and the keys of one
 * (prefix, user, type) are exactly those that begin with the encoding of
 * those three parts: one contiguous cursor range.
 *
 * An expiry index key is the record's expires_at in 8 order-preserving
 * bytes followed by its session key, so a cursor walk from the start meets
 * the oldest records first.
 *
 * A value is expires_at (8 bytes, big-endian two's complement), then
 * lock_version (8 bytes, big-endian), then the sealed bytes verbatim.
 */
#ifndef OBOL_LMDB_KEYS_H
#define OBOL_LMDB_KEYS_H

#include <stddef.h>
#include <stdint.h>

#include <obol/driver.h>

/* Bytes an expiry key adds in front of a session key. */
#define LMDB_EXPIRY_STAMP_SIZE 8
/* Bytes in front of the sealed bytes in a value. */
#define LMDB_VALUE_HEADER_SIZE 16
/* Room for the longest key we ever build; the real bound is the smaller
 * mdb_env_get_maxkeysize() (511 in a stock build). */
#define LMDB_KEY_CAPACITY 2048

typedef struct lmdb_key {
    uint8_t bytes[LMDB_KEY_CAPACITY];
    size_t len;
} lmdb_key;

/* Each builder starts the key afresh and returns 0, or -1 when the result
 * would be longer than limit bytes (limit <= LMDB_KEY_CAPACITY). */

/* The range of every record of one store prefix (scan). */
int lmdb_key_prefix(lmdb_key *key, size_t limit, obol_bytes prefix);
/* The range of one (prefix, user, type) (list, del_all). */
int lmdb_key_user(lmdb_key *key, size_t limit, obol_bytes prefix,
                  const obol_driver_key *where);
/* The key of one session. */
int lmdb_key_session(lmdb_key *key, size_t limit, obol_bytes prefix,
                     const obol_driver_key *where);
/* The expiry index key of a session key. */
int lmdb_key_expiry(lmdb_key *key, size_t limit, int64_t expires_at,
                    const uint8_t *session_key, size_t session_key_len);

/* Splits a session key back into its parts (pointing into data) and skips
 * the prefix; 0, or -1 if the bytes are not a session key. */
int lmdb_key_decode(const uint8_t *data, size_t len, obol_driver_key *out);

/* The expires_at stored at the front of an expiry key (8 bytes). */
int64_t lmdb_expiry_stamp_decode(const uint8_t *stamp);

/* Writes the 16-byte value header. */
void lmdb_value_header_encode(uint8_t *out, int64_t expires_at,
                              uint64_t lock_version);
/* Reads the header; 0, or -1 when the value is too short to hold one. */
int lmdb_value_header_decode(const uint8_t *data, size_t len,
                             int64_t *expires_at, uint64_t *lock_version);

/* Whether key begins with the len bytes at range. */
int lmdb_key_in_range(const uint8_t *key, size_t key_len,
                      const uint8_t *range, size_t range_len);

#endif

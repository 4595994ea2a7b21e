/*
 * Key names. All keys of one (prefix, user, type) are
 *
 *     P:{U:T}:rec    hash    session id -> sealed record
 *     P:{U:T}:exp    zset    session id -> expires_at (+inf: never)
 *     P:{U:T}:lock   hash    session id -> lock_version
 *
 * where P, U and T are the prefix, user id and type with every byte outside
 * [A-Za-z0-9-._~@+=,/] written as %XX. The escaped parts never hold ':',
 * '{', '}', '%' or a glob character, so the encoding is injective, the
 * Cluster hash tag is exactly "U:T" (never empty), and "P:{*}:rec" matches
 * the record hashes of one prefix and no other (docs/REDIS.md).
 */
#ifndef OBOL_REDIS_KEYS_H
#define OBOL_REDIS_KEYS_H

#include <stddef.h>
#include <stdint.h>

#include <obol/driver.h>

/* The three key names of one (prefix, user, type). */
typedef struct redis_keys {
    const char *name[3];     /* REDIS_KEY_REC, REDIS_KEY_EXP, REDIS_KEY_LOCK */
    size_t len[3];
    char *heap;              /* used when the names do not fit in small */
    char small[384];
} redis_keys;

enum { REDIS_KEY_REC = 0, REDIS_KEY_EXP = 1, REDIS_KEY_LOCK = 2 };

/* Suffix of each key, in the order above: ":rec", ":exp", ":lock". */
extern const char *const redis_key_suffix[3];

/* Writes the escaped form of data into out (when not NULL) and returns its
 * length; out needs room for 3 * len bytes. */
size_t redis_escape(char *out, const uint8_t *data, size_t len);

/* Builds the names for (user, type) under the already escaped prefix.
 * 0 on success, -1 when out of memory. Free with redis_keys_clear(). */
int redis_keys_build(redis_keys *keys, const char *escaped_prefix,
                     obol_bytes user, obol_bytes type);

void redis_keys_clear(redis_keys *keys);

/*
 * Reads user and type back from a key name "P:{U:T}<suffix>" of the given
 * escaped prefix. On success (0) *user and *type are malloc()ed (free
 * them); -1 when the name is not one this encoding produces (foreign key,
 * non-canonical escape) or when out of memory.
 */
int redis_keys_parse(const char *name, size_t name_len,
                     const char *escaped_prefix, const char *suffix,
                     uint8_t **user, size_t *user_len,
                     uint8_t **type, size_t *type_len);

/*
 * The prefix of a key name "P:{U:T}<suffix>" of any prefix, unescaped:
 * 0 with *prefix malloc()ed (free it), or -1 when the name is not one
 * this encoding produces, or when out of memory (*out_of_memory set).
 */
int redis_keys_prefix_of(const char *name, size_t name_len,
                         const char *suffix, uint8_t **prefix,
                         size_t *prefix_len, int *out_of_memory);

/* The SCAN MATCH pattern of every key with the suffix under the prefix:
 * "P:{*}<suffix>"; malloc()ed, NULL when out of memory. */
char *redis_keys_pattern(const char *escaped_prefix, const char *suffix);

#endif

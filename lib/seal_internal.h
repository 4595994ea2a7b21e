/*
 * The seal: what makes a stored record trustworthy. A sealed record is
 *
 *   format (1) | key id (4, big-endian) | MAC (32) | payload
 *
 * where the MAC (keyed BLAKE2b-256) covers the format, the key id, a digest
 * of the record's context (prefix, user, type, session id) and the payload,
 * so a record copied under another key, or signed by an unknown key, never
 * verifies. With OBOL_SEAL_AEAD the payload is also encrypted with
 * XChaCha20-Poly1305. docs/FORMAT.md has the byte-level description.
 */
#ifndef OBOL_SEAL_INTERNAL_H
#define OBOL_SEAL_INTERNAL_H

#include <stddef.h>
#include <stdint.h>

#include <obol/driver.h>
#include <obol/obol.h>

#include "keys_internal.h"

#define OBOL_SEAL_MAC  0x01  /* signed */
#define OBOL_SEAL_AEAD 0x02  /* signed and encrypted */

#define OBOL_SEAL_HEADER_BYTES 37  /* format + key id + MAC */
#define OBOL_SEAL_NONCE_BYTES 24
#define OBOL_SEAL_TAG_BYTES 16

/* Where a record belongs; part of what its MAC covers. */
typedef struct obol_seal_context {
    obol_bytes prefix;
    obol_bytes user_id;
    obol_bytes type;
    obol_bytes id;
} obol_seal_context;

/* Bytes a sealed record of a payload_len-byte encoding takes. */
size_t obol_sealed_size(int mode, size_t payload_len);

/* Offset at which obol_seal() expects the payload to have been written
 * into out already (the MAC mode seals in place, without a copy). */
size_t obol_seal_payload_offset(int mode);

/*
 * Seals the payload in out: in OBOL_SEAL_MAC mode the payload must already
 * sit at out + obol_seal_payload_offset(); in OBOL_SEAL_AEAD mode it is read
 * from plain and encrypted into out. out has obol_sealed_size() bytes.
 */
void obol_seal(int mode, const obol_key *key, const obol_seal_context *ctx,
               const uint8_t *plain, size_t payload_len, uint8_t *out);

/* The payload of a record that verified. owned is non-NULL when the payload
 * had to be decrypted into a new buffer (free it with free()). */
typedef struct obol_unsealed {
    const uint8_t *payload;
    size_t len;
    uint8_t *owned;
    int was_unsigned;   /* a legacy record accepted by allow_unsigned */
    int unknown_key;    /* refused: the ring has no key for key_id */
    int refused_unsigned; /* refused: unsigned, and not allowed */
    uint32_t key_id;
    int format;         /* OBOL_SEAL_MAC or OBOL_SEAL_AEAD; 0 unsigned */
} obol_unsealed;

/*
 * Verifies a record in constant time and hands back its payload. Returns
 * OBOL_OK, OBOL_ERR_NOMEM, or OBOL_ERR_CORRUPT with the reason in err (bad
 * MAC, unknown key id, truncated, unknown format, unsigned and not allowed).
 */
int obol_unseal(obol_keyring *ring, int allow_unsigned,
                const obol_seal_context *ctx, const uint8_t *record,
                size_t len, obol_unsealed *out, obol_error *err);

/*
 * Checks a record's seal as obol_unseal() does, without decrypting or
 * handing back a payload: for counting records by key. An unsigned record
 * is OBOL_OK with was_unsigned set. Fills key_id, format and unknown_key.
 */
int obol_seal_verify(obol_keyring *ring, const obol_seal_context *ctx,
                     const uint8_t *record, size_t len, obol_unsealed *out,
                     obol_error *err);

#endif

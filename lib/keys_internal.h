/*
 * The keyring: the keys a store signs and verifies with. Keys are given raw
 * (obol_store_add_key) or derived from a base secret with libsodium's KDF,
 * so that any key id can be derived again from the same secret: rotating to
 * a new key id keeps records signed under the old ids verifying.
 */
#ifndef OBOL_KEYS_INTERNAL_H
#define OBOL_KEYS_INTERNAL_H

#include <stdint.h>

#include <obol/obol.h>

#define OBOL_KEY_BYTES 32

/* The two keys used for one key id: one authenticates, one encrypts, so
 * that no key ever serves two algorithms. */
typedef struct obol_key {
    uint32_t id;
    uint8_t mac[OBOL_KEY_BYTES];
    uint8_t aead[OBOL_KEY_BYTES];
} obol_key;

typedef struct obol_keyring obol_keyring;

obol_keyring *obol_keyring_new(void);
/* Wipes every key before freeing; NULL is allowed. */
void obol_keyring_free(obol_keyring *ring);

/* Adds or replaces the raw key key_id. */
int obol_keyring_add(obol_keyring *ring, uint32_t key_id,
                     const uint8_t raw[OBOL_KEY_BYTES], int sign_with_it,
                     obol_error *err);

/* Sets the base secret (any length >= 16 bytes) and signs with the key
 * derived for sign_key_id. */
int obol_keyring_set_secret(obol_keyring *ring, const uint8_t *secret,
                            size_t len, uint32_t sign_key_id, obol_error *err);

/* Copies the signing key into *out: OBOL_OK or OBOL_ERR_KEY. The caller
 * wipes *out with sodium_memzero() when done. */
int obol_keyring_signing_key(obol_keyring *ring, obol_key *out);

/* Copies the key that verifies records naming key_id: OBOL_OK, or
 * OBOL_ERR_KEY when the ring has no such key and no secret to derive it. */
int obol_keyring_verify_key(obol_keyring *ring, uint32_t key_id, obol_key *out);

/* Whether the ring can sign at all. */
int obol_keyring_can_sign(obol_keyring *ring);

/* Reads a secret from "env:NAME" or "file:PATH" into a sodium_malloc()ed
 * buffer (free with sodium_free()). Messages name the source, never the
 * secret. */
int obol_secret_load(const char *source, uint8_t **secret, size_t *len,
                     obol_error *err);

#endif

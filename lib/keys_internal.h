/*
 * The keyring: the keys a store signs and verifies with. Keys are given raw
 * (obol_store_add_key) or derived from a base secret with libsodium's KDF,
 * one key per key id the config string lists (key_id=, old_key_ids=,
 * old_secrets=). A ring verifies only the key ids it holds: an id that is
 * no longer listed is retired, and records naming it are refused.
 */
#ifndef OBOL_KEYS_INTERNAL_H
#define OBOL_KEYS_INTERNAL_H

#include <stdint.h>

#include <sodium.h>

#include <obol/obol.h>

#define OBOL_KEY_BYTES 32
#define OBOL_MAC_BYTES 32   /* keyed BLAKE2b-256 */

/* A base secret that signs is at least this long: 256 bits, the size of
 * the keys derived from it, so that the secret is never the weaker part. */
#define OBOL_MIN_SECRET_BYTES 32
/* An old secret that only verifies may be as short as the minimum of
 * earlier versions, so that a deployment can still retire it. */
#define OBOL_MIN_OLD_SECRET_BYTES 16

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

/* Derives the key sign_key_id from a base secret (at least
 * OBOL_MIN_SECRET_BYTES: OBOL_ERR_KEY otherwise) and signs with it. The
 * secret itself is not kept. */
int obol_keyring_set_secret(obol_keyring *ring, const uint8_t *secret,
                            size_t len, uint32_t sign_key_id, obol_error *err);

/* Derives the key key_id from a secret (at least OBOL_MIN_OLD_SECRET_BYTES)
 * and adds it to verify with only: an old key kept during rotation. */
int obol_keyring_add_derived(obol_keyring *ring, const uint8_t *secret,
                             size_t len, uint32_t key_id, obol_error *err);

struct obol_config;

/* Loads every key the config names: the secret (signing with key_id, and
 * verifying old_key_ids) and each of old_secrets. Messages name the option
 * and key id, never a secret. */
int obol_keyring_load(obol_keyring *ring, const struct obol_config *config,
                      obol_error *err);

/* Copies the signing key into *out: OBOL_OK or OBOL_ERR_KEY. The caller
 * wipes *out with sodium_memzero() when done. */
int obol_keyring_signing_key(obol_keyring *ring, obol_key *out);

/* Copies the key that verifies records naming key_id: OBOL_OK, or
 * OBOL_ERR_KEY when the ring does not hold that key id. */
int obol_keyring_verify_key(obol_keyring *ring, uint32_t key_id, obol_key *out);

/* Copies into *state the keyed BLAKE2b-256 state every MAC of key_id's
 * MAC key starts from, and into *key (unless NULL) the key itself:
 * OBOL_OK, or OBOL_ERR_KEY when the ring does not hold key_id. It is
 * key material: the caller
 * wipes it (and *key) with sodium_memzero() when done. */
int obol_keyring_mac_state(obol_keyring *ring, uint32_t key_id,
                           crypto_generichash_state *state, obol_key *key);

/* Whether the ring can sign at all. */
int obol_keyring_can_sign(obol_keyring *ring);

/* What the ring does with key_id: OBOL_KEY_ROLE_SIGNING, _OLD (verifies
 * only) or _UNKNOWN (not held: records naming it are refused). */
int obol_keyring_role(obol_keyring *ring, uint32_t key_id);

/* Copies up to capacity of the key ids the ring holds into ids; returns how
 * many it holds. */
size_t obol_keyring_ids(obol_keyring *ring, uint32_t *ids, size_t capacity);

/* Reads a secret from "env:NAME" or "file:PATH" into a sodium_malloc()ed
 * buffer (free with sodium_free()). Messages name the source, never the
 * secret. */
int obol_secret_load(const char *source, uint8_t **secret, size_t *len,
                     obol_error *err);

#endif

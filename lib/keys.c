/* Key storage, derivation and secret loading. */
#include "config.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "errors_internal.h"
#include "keys_internal.h"

/* KDF contexts are exactly crypto_kdf_CONTEXTBYTES (8) characters. */
#define KDF_CONTEXT_KEY  "obol_key"
#define KDF_CONTEXT_MAC  "obol_mac"
#define KDF_CONTEXT_AEAD "obolaead"

#define MIN_SECRET_BYTES 16
#define MAX_SECRET_BYTES 4096

struct obol_keyring {
    pthread_rwlock_t lock;
    obol_key *keys;          /* raw keys, in sodium_malloc()ed memory */
    size_t count;
    size_t capacity;
    uint8_t *master;         /* derived from the base secret, or NULL */
    int signing_is_raw;      /* sign with keys[signing_index] ... */
    size_t signing_index;
    int signing_is_derived;  /* ... or with the key derived for signing_id */
    uint32_t signing_id;
};

/* Splits one 32-byte key into its MAC and AEAD halves. */
static void expand_key(uint32_t key_id, const uint8_t raw[OBOL_KEY_BYTES],
                       obol_key *out)
{
    out->id = key_id;
    crypto_kdf_derive_from_key(out->mac, sizeof out->mac, 1, KDF_CONTEXT_MAC, raw);
    crypto_kdf_derive_from_key(out->aead, sizeof out->aead, 2, KDF_CONTEXT_AEAD, raw);
}

static void derive_key(const uint8_t *master, uint32_t key_id, obol_key *out)
{
    uint8_t raw[OBOL_KEY_BYTES];

    crypto_kdf_derive_from_key(raw, sizeof raw, key_id, KDF_CONTEXT_KEY, master);
    expand_key(key_id, raw, out);
    sodium_memzero(raw, sizeof raw);
}

obol_keyring *obol_keyring_new(void)
{
    obol_keyring *ring;

    if (sodium_init() < 0)
        return NULL;
    ring = calloc(1, sizeof *ring);
    if (ring == NULL)
        return NULL;
    if (pthread_rwlock_init(&ring->lock, NULL) != 0) {
        free(ring);
        return NULL;
    }
    return ring;
}

void obol_keyring_free(obol_keyring *ring)
{
    if (ring == NULL)
        return;
    if (ring->keys != NULL)
        sodium_free(ring->keys);   /* sodium_free wipes before releasing */
    if (ring->master != NULL)
        sodium_free(ring->master);
    pthread_rwlock_destroy(&ring->lock);
    free(ring);
}

static ssize_t find_key(const obol_keyring *ring, uint32_t key_id)
{
    for (size_t i = 0; i < ring->count; i++)
        if (ring->keys[i].id == key_id)
            return (ssize_t)i;
    return -1;
}

/* Grows the guarded key array; keys never sit in ordinary heap memory. */
static int reserve_key(obol_keyring *ring)
{
    obol_key *bigger;
    size_t capacity;

    if (ring->count < ring->capacity)
        return 0;
    capacity = ring->capacity ? ring->capacity * 2 : 4;
    bigger = sodium_malloc(capacity * sizeof *bigger);
    if (bigger == NULL)
        return -1;
    if (ring->count > 0)
        memcpy(bigger, ring->keys, ring->count * sizeof *bigger);
    if (ring->keys != NULL)
        sodium_free(ring->keys);
    ring->keys = bigger;
    ring->capacity = capacity;
    return 0;
}

int obol_keyring_add(obol_keyring *ring, uint32_t key_id,
                     const uint8_t raw[OBOL_KEY_BYTES], int sign_with_it,
                     obol_error *err)
{
    ssize_t slot;
    int status = OBOL_OK;

    pthread_rwlock_wrlock(&ring->lock);
    slot = find_key(ring, key_id);
    if (slot < 0) {
        if (reserve_key(ring) != 0) {
            status = obol_set_error(err, OBOL_ERR_NOMEM,
                                    "add_key: out of memory for key %u", key_id);
            goto out;
        }
        slot = (ssize_t)ring->count++;
    }
    expand_key(key_id, raw, &ring->keys[slot]);
    if (sign_with_it) {
        ring->signing_is_raw = 1;
        ring->signing_is_derived = 0;
        ring->signing_index = (size_t)slot;
    }
out:
    pthread_rwlock_unlock(&ring->lock);
    return status;
}

int obol_keyring_set_secret(obol_keyring *ring, const uint8_t *secret,
                            size_t len, uint32_t sign_key_id, obol_error *err)
{
    uint8_t *master;

    if (len < MIN_SECRET_BYTES)
        return obol_set_error(err, OBOL_ERR_KEY,
                              "secret: %zu bytes is too short (at least %d)",
                              len, MIN_SECRET_BYTES);
    master = sodium_malloc(crypto_kdf_KEYBYTES);
    if (master == NULL)
        return obol_set_error(err, OBOL_ERR_NOMEM, "secret: out of memory");
    /* Any length of secret becomes a uniform KDF master key. */
    crypto_generichash(master, crypto_kdf_KEYBYTES, secret, len, NULL, 0);
    pthread_rwlock_wrlock(&ring->lock);
    if (ring->master != NULL)
        sodium_free(ring->master);
    ring->master = master;
    ring->signing_is_derived = 1;
    ring->signing_is_raw = 0;
    ring->signing_id = sign_key_id;
    pthread_rwlock_unlock(&ring->lock);
    return OBOL_OK;
}

int obol_keyring_signing_key(obol_keyring *ring, obol_key *out)
{
    int status = OBOL_OK;

    pthread_rwlock_rdlock(&ring->lock);
    if (ring->signing_is_raw)
        *out = ring->keys[ring->signing_index];
    else if (ring->signing_is_derived)
        derive_key(ring->master, ring->signing_id, out);
    else
        status = OBOL_ERR_KEY;
    pthread_rwlock_unlock(&ring->lock);
    return status;
}

int obol_keyring_verify_key(obol_keyring *ring, uint32_t key_id, obol_key *out)
{
    ssize_t slot;
    int status = OBOL_OK;

    pthread_rwlock_rdlock(&ring->lock);
    slot = find_key(ring, key_id);
    if (slot >= 0)
        *out = ring->keys[slot];
    else if (ring->master != NULL)
        derive_key(ring->master, key_id, out);
    else
        status = OBOL_ERR_KEY;
    pthread_rwlock_unlock(&ring->lock);
    return status;
}

int obol_keyring_can_sign(obol_keyring *ring)
{
    int can;

    pthread_rwlock_rdlock(&ring->lock);
    can = ring->signing_is_raw || ring->signing_is_derived;
    pthread_rwlock_unlock(&ring->lock);
    return can;
}

static int secret_from_env(const char *name, uint8_t **secret, size_t *len,
                           obol_error *err)
{
    const char *value = getenv(name);
    size_t n;

    if (value == NULL || *value == '\0')
        return obol_set_error(err, OBOL_ERR_KEY,
                              "secret: environment variable %s is not set", name);
    n = strlen(value);
    *secret = sodium_malloc(n);
    if (*secret == NULL)
        return obol_set_error(err, OBOL_ERR_NOMEM, "secret: out of memory");
    memcpy(*secret, value, n);
    *len = n;
    return OBOL_OK;
}

/* Reads the whole file; a trailing newline is not part of the secret, so
 * that `echo ... > file` does what people expect. */
static int secret_from_file(const char *path, uint8_t **secret, size_t *len,
                            obol_error *err)
{
    FILE *f = fopen(path, "rb");
    uint8_t *buf;
    size_t n;
    int status = OBOL_OK;

    if (f == NULL)
        return obol_set_error(err, OBOL_ERR_KEY, "secret: cannot open %s: %s",
                              path, strerror(errno));
    buf = sodium_malloc(MAX_SECRET_BYTES + 1);
    if (buf == NULL) {
        fclose(f);
        return obol_set_error(err, OBOL_ERR_NOMEM, "secret: out of memory");
    }
    n = fread(buf, 1, MAX_SECRET_BYTES + 1, f);
    if (ferror(f))
        status = obol_set_error(err, OBOL_ERR_KEY, "secret: cannot read %s", path);
    else if (n > MAX_SECRET_BYTES)
        status = obol_set_error(err, OBOL_ERR_KEY,
                                "secret: %s is larger than %d bytes", path,
                                MAX_SECRET_BYTES);
    fclose(f);
    if (status != OBOL_OK) {
        sodium_free(buf);
        return status;
    }
    while (n > 0 && (buf[n - 1] == '\n' || buf[n - 1] == '\r'))
        n--;
    if (n == 0) {
        sodium_free(buf);
        return obol_set_error(err, OBOL_ERR_KEY, "secret: %s is empty", path);
    }
    *secret = buf;
    *len = n;
    return OBOL_OK;
}

int obol_secret_load(const char *source, uint8_t **secret, size_t *len,
                     obol_error *err)
{
    if (strncmp(source, "env:", 4) == 0 && source[4] != '\0')
        return secret_from_env(source + 4, secret, len, err);
    if (strncmp(source, "file:", 5) == 0 && source[5] != '\0')
        return secret_from_file(source + 5, secret, len, err);
    return obol_set_error(err, OBOL_ERR_INVALID,
                          "config: option 'secret' must be env:NAME or "
                          "file:PATH (secrets never sit in the config string)");
}

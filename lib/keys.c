/* Key storage, derivation and secret loading. */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <sodium.h>

#include "config_internal.h"
#include "errors_internal.h"
#include "keys_internal.h"

/* KDF contexts are exactly crypto_kdf_CONTEXTBYTES (8) characters. */
#define KDF_CONTEXT_KEY  "obol_key"
#define KDF_CONTEXT_MAC  "obol_mac"
#define KDF_CONTEXT_AEAD "obolaead"

#define MAX_SECRET_BYTES 4096

/*
 * Every key a ring holds sits in one guarded array, whether it was given raw
 * or derived from a secret: a ring verifies exactly the key ids it holds,
 * never one it could merely derive (so that dropping an id from the config
 * string retires it). The base secret itself is not kept.
 */
typedef struct key_slot {
    obol_key key;
    /* The keyed BLAKE2b-256 state of key.mac, prepared once (see
     * prepare_mac_state()) and copied for every MAC; it is key material
     * as much as key.mac is. Bytes, not the aligned type: sodium_malloc()
     * does not promise its alignment, and the state is copied to an
     * aligned one on the stack anyway. */
    unsigned char mac_state[sizeof(crypto_generichash_state)];
} key_slot;

struct obol_keyring {
    pthread_rwlock_t lock;
    key_slot *keys;          /* in sodium_malloc()ed memory */
    size_t count;
    size_t capacity;
    int can_sign;            /* keys[signing_index] signs; set once, read
                                without the lock (atomic) */
    size_t signing_index;
};

/*
 * Every MAC of a key starts from the same keyed BLAKE2b state, so it is
 * made once per key and copied, which saves initialising the key each
 * time. libsodium keeps the key block buffered until more input follows,
 * so the copy still compresses it on each MAC; skipping that too would
 * mean writing into libsodium's opaque state, which obol does not do.
 */
/* The state every MAC of mac_key starts from, in slot. */
static void prepare_mac_state(key_slot *slot)
{
    crypto_generichash_state state;

    crypto_generichash_init(&state, slot->key.mac, OBOL_KEY_BYTES,
                            OBOL_MAC_BYTES);
    memcpy(slot->mac_state, &state, sizeof state);
    sodium_memzero(&state, sizeof state);
}

/* Splits one 32-byte key into its MAC and AEAD halves. */
static void expand_key(uint32_t key_id, const uint8_t raw[OBOL_KEY_BYTES],
                       obol_key *out)
{
    out->id = key_id;
    crypto_kdf_derive_from_key(out->mac, sizeof out->mac, 1, KDF_CONTEXT_MAC, raw);
    crypto_kdf_derive_from_key(out->aead, sizeof out->aead, 2, KDF_CONTEXT_AEAD, raw);
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
    pthread_rwlock_destroy(&ring->lock);
    free(ring);
}

static ssize_t find_key(const obol_keyring *ring, uint32_t key_id)
{
    for (size_t i = 0; i < ring->count; i++)
        if (ring->keys[i].key.id == key_id)
            return (ssize_t)i;
    return -1;
}

/* Grows the guarded key array; keys never sit in ordinary heap memory. */
static int reserve_key(obol_keyring *ring)
{
    key_slot *bigger;
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
    expand_key(key_id, raw, &ring->keys[slot].key);
    prepare_mac_state(&ring->keys[slot]);
    if (sign_with_it) {
        ring->signing_index = (size_t)slot;
        __atomic_store_n(&ring->can_sign, 1, __ATOMIC_RELEASE);
    }
out:
    pthread_rwlock_unlock(&ring->lock);
    return status;
}

/* The key of key_id under secret: master = BLAKE2b-256(secret), so that a
 * secret of any length is a uniform KDF key, then libsodium's KDF with the
 * key id as subkey id (docs/FORMAT.md, "Keys"). */
static int add_derived(obol_keyring *ring, const uint8_t *secret, size_t len,
                       uint32_t key_id, int sign_with_it, obol_error *err)
{
    uint8_t *master = sodium_malloc(crypto_kdf_KEYBYTES + OBOL_KEY_BYTES);
    uint8_t *raw;
    int status;

    if (master == NULL)
        return obol_set_error(err, OBOL_ERR_NOMEM, "secret: out of memory");
    raw = master + crypto_kdf_KEYBYTES;
    crypto_generichash(master, crypto_kdf_KEYBYTES, secret, len, NULL, 0);
    crypto_kdf_derive_from_key(raw, OBOL_KEY_BYTES, key_id, KDF_CONTEXT_KEY,
                               master);
    status = obol_keyring_add(ring, key_id, raw, sign_with_it, err);
    sodium_free(master);   /* wiped first */
    return status;
}

int obol_keyring_set_secret(obol_keyring *ring, const uint8_t *secret,
                            size_t len, uint32_t sign_key_id, obol_error *err)
{
    if (len < OBOL_MIN_SECRET_BYTES)
        return obol_set_error(err, OBOL_ERR_KEY,
                              "secret: %zu bytes is too short (at least %d; "
                              "to retire a shorter one, list it in "
                              "old_secrets= and set a new secret)",
                              len, OBOL_MIN_SECRET_BYTES);
    return add_derived(ring, secret, len, sign_key_id, 1, err);
}

int obol_keyring_add_derived(obol_keyring *ring, const uint8_t *secret,
                             size_t len, uint32_t key_id, obol_error *err)
{
    if (len < OBOL_MIN_OLD_SECRET_BYTES)
        return obol_set_error(err, OBOL_ERR_KEY,
                              "secret: %zu bytes is too short (at least %d)",
                              len, OBOL_MIN_OLD_SECRET_BYTES);
    return add_derived(ring, secret, len, key_id, 0, err);
}

int obol_keyring_signing_key(obol_keyring *ring, obol_key *out)
{
    int status = OBOL_OK;

    pthread_rwlock_rdlock(&ring->lock);
    if (ring->can_sign)
        *out = ring->keys[ring->signing_index].key;
    else
        status = OBOL_ERR_KEY;
    pthread_rwlock_unlock(&ring->lock);
    return status;
}

int obol_keyring_verify_key(obol_keyring *ring, uint32_t key_id, obol_key *out)
{
    ssize_t slot;

    pthread_rwlock_rdlock(&ring->lock);
    slot = find_key(ring, key_id);
    if (slot >= 0)
        *out = ring->keys[slot].key;
    pthread_rwlock_unlock(&ring->lock);
    return slot >= 0 ? OBOL_OK : OBOL_ERR_KEY;
}

int obol_keyring_mac_state(obol_keyring *ring, uint32_t key_id,
                           crypto_generichash_state *state, obol_key *key)
{
    ssize_t slot;

    pthread_rwlock_rdlock(&ring->lock);
    slot = find_key(ring, key_id);
    if (slot >= 0) {
        /* memmove(): GCC inlines a memcpy() of this size as "rep movsq",
         * which was the most of this call; the library copy is not. */
        memmove(state, ring->keys[slot].mac_state, sizeof *state);
        if (key != NULL)
            *key = ring->keys[slot].key;
    }
    pthread_rwlock_unlock(&ring->lock);
    return slot >= 0 ? OBOL_OK : OBOL_ERR_KEY;
}

/* Every operation asks, so no lock: a ring that can sign never stops. */
int obol_keyring_can_sign(obol_keyring *ring)
{
    return __atomic_load_n(&ring->can_sign, __ATOMIC_ACQUIRE);
}

int obol_keyring_role(obol_keyring *ring, uint32_t key_id)
{
    ssize_t slot;
    int role = OBOL_KEY_ROLE_UNKNOWN;

    pthread_rwlock_rdlock(&ring->lock);
    slot = find_key(ring, key_id);
    if (slot >= 0)
        role = ring->can_sign && (size_t)slot == ring->signing_index
                   ? OBOL_KEY_ROLE_SIGNING : OBOL_KEY_ROLE_OLD;
    pthread_rwlock_unlock(&ring->lock);
    return role;
}

size_t obol_keyring_ids(obol_keyring *ring, uint32_t *ids, size_t capacity)
{
    size_t count;

    pthread_rwlock_rdlock(&ring->lock);
    count = ring->count;
    for (size_t i = 0; i < count && i < capacity; i++)
        ids[i] = ring->keys[i].key.id;
    pthread_rwlock_unlock(&ring->lock);
    return count;
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

/* Reads up to cap bytes of fd into buf with read(2): no stdio buffer, so
 * no copy of the secret is left in memory that is freed unwiped. Returns
 * the count, or -1 with errno set. */
static ssize_t read_all(int fd, uint8_t *buf, size_t cap)
{
    size_t n = 0;

    while (n < cap) {
        ssize_t got = read(fd, buf + n, cap - n);

        if (got < 0 && errno == EINTR)
            continue;
        if (got < 0)
            return -1;
        if (got == 0)
            break;
        n += (size_t)got;
    }
    return (ssize_t)n;
}

/* Reads the whole file; a trailing newline is not part of the secret, so
 * that `echo ... > file` does what people expect. */
static int secret_from_file(const char *path, uint8_t **secret, size_t *len,
                            obol_error *err)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    uint8_t *buf;
    ssize_t got;
    size_t n;
    int status = OBOL_OK;

    if (fd < 0)
        return obol_set_error(err, OBOL_ERR_KEY, "secret: cannot open %s: %s",
                              path, strerror(errno));
    buf = sodium_malloc(MAX_SECRET_BYTES + 1);
    if (buf == NULL) {
        close(fd);
        return obol_set_error(err, OBOL_ERR_NOMEM, "secret: out of memory");
    }
    got = read_all(fd, buf, MAX_SECRET_BYTES + 1);
    if (got < 0)
        status = obol_set_error(err, OBOL_ERR_KEY, "secret: cannot read %s: %s",
                                path, strerror(errno));
    else if ((size_t)got > MAX_SECRET_BYTES)
        status = obol_set_error(err, OBOL_ERR_KEY,
                                "secret: %s is larger than %d bytes", path,
                                MAX_SECRET_BYTES);
    close(fd);
    if (status != OBOL_OK) {
        sodium_free(buf);
        return status;
    }
    n = (size_t)got;
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

/* "old_secrets: key id 3: <reason>": which entry failed, from a copy of
 * the reason, which is err's own message. */
static int name_old_secret(obol_error *err, int status, uint32_t key_id)
{
    char why[sizeof err->message];

    if (err == NULL)
        return status;
    memcpy(why, err->message, sizeof why);
    return obol_set_error(err, status, "old_secrets: key id %u: %s", key_id,
                          why);
}

/* The current secret signs with key_id and verifies old_key_ids. */
static int load_current_secret(obol_keyring *ring, const obol_config *config,
                               obol_error *err)
{
    uint8_t *secret;
    size_t len;
    int status;

    status = obol_secret_load(config->secret_source, &secret, &len, err);
    if (status != OBOL_OK)
        return status;
    status = obol_keyring_set_secret(ring, secret, len, config->key_id, err);
    for (size_t i = 0; i < config->old_key_id_count && status == OBOL_OK; i++)
        status = obol_keyring_add_derived(ring, secret, len,
                                          config->old_key_ids[i], err);
    sodium_free(secret);   /* wiped first */
    return status;
}

static int load_old_secret(obol_keyring *ring, const obol_old_secret *old,
                           obol_error *err)
{
    uint8_t *secret;
    size_t len;
    int status;

    status = obol_secret_load(old->source, &secret, &len, err);
    if (status == OBOL_OK) {
        status = obol_keyring_add_derived(ring, secret, len, old->key_id, err);
        sodium_free(secret);
    }
    return status == OBOL_OK ? OBOL_OK : name_old_secret(err, status,
                                                         old->key_id);
}

int obol_keyring_load(obol_keyring *ring, const obol_config *config,
                      obol_error *err)
{
    int status = OBOL_OK;

    if (config->secret_source != NULL)
        status = load_current_secret(ring, config, err);
    for (size_t i = 0; i < config->old_secret_count && status == OBOL_OK; i++)
        status = load_old_secret(ring, &config->old_secrets[i], err);
    return status;
}

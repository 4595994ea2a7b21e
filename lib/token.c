/* Client tokens; see token_internal.h and docs/FORMAT.md. */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "errors_internal.h"
#include "keys_internal.h"
#include "session_internal.h"
#include "store_internal.h"
#include "token_internal.h"

/* Four counted strings: user, type, session id, refresh token id. */
#define TOKEN_PARTS 4
#define TOKEN_MAC_BYTES 32
#define TOKEN_KEY_ID_BYTES 4
/* Each part is at most this long: a length is one or two varint bytes. */
#define TOKEN_PART_MAX 16383

/* What the MAC covers besides the body, so that a token cannot pass for
 * anything else keyed with the same key. */
static const char mac_domain[] = "obol client token v1";

/* The token key is a subkey of the MAC key of its key id, under its own
 * context: no key serves two purposes. */
static void token_key(const obol_key *key, uint8_t out[32])
{
    crypto_kdf_derive_from_key(out, 32, 1, "obol_tok", key->mac);
}

static size_t length_size(size_t len)
{
    return len < 128 ? 1 : 2;
}

static uint8_t *put_length(uint8_t *p, size_t len)
{
    if (len < 128) {
        *p++ = (uint8_t)len;
    } else {
        *p++ = (uint8_t)(0x80 | (len & 0x7f));
        *p++ = (uint8_t)(len >> 7);
    }
    return p;
}

/* MAC over domain | prefix length | prefix | body. */
static void token_mac(const obol_key *key, obol_bytes prefix,
                      const uint8_t *body, size_t body_len,
                      uint8_t out[TOKEN_MAC_BYTES])
{
    crypto_generichash_state state;
    uint8_t k[32];
    uint8_t prefix_len[8];
    uint64_t n = prefix.len;

    for (int i = 7; i >= 0; i--, n >>= 8)
        prefix_len[i] = (uint8_t)n;
    token_key(key, k);
    crypto_generichash_init(&state, k, sizeof k, TOKEN_MAC_BYTES);
    crypto_generichash_update(&state, (const uint8_t *)mac_domain,
                              sizeof mac_domain - 1);
    crypto_generichash_update(&state, prefix_len, sizeof prefix_len);
    crypto_generichash_update(&state, prefix.data, prefix.len);
    crypto_generichash_update(&state, body, body_len);
    crypto_generichash_final(&state, out, TOKEN_MAC_BYTES);
    sodium_memzero(k, sizeof k);
    sodium_memzero(&state, sizeof state);
}

/* ------------------------------------------------------------------ make */

static int make_bytes(obol_store *st, const char *const parts[TOKEN_PARTS],
                      char **token, obol_error *err)
{
    size_t lens[TOKEN_PARTS], body_len = TOKEN_KEY_ID_BYTES, raw_len, text_len;
    uint8_t *raw, *p;
    obol_key key;

    for (int i = 0; i < TOKEN_PARTS; i++) {
        lens[i] = strlen(parts[i]);
        if (lens[i] > TOKEN_PART_MAX)
            return obol_set_error(err, OBOL_ERR_INVALID,
                                  "token: an id longer than %d bytes",
                                  TOKEN_PART_MAX);
        body_len += length_size(lens[i]) + lens[i];
    }
    if (obol_keyring_signing_key(st->keys, &key) != OBOL_OK)
        return obol_set_error(err, OBOL_ERR_KEY, "token: the store has no "
                              "signing key");
    raw_len = body_len + TOKEN_MAC_BYTES;
    text_len = OBOL_TOKEN_TAG_LEN +
               sodium_base64_ENCODED_LEN(raw_len,
                                         sodium_base64_VARIANT_URLSAFE_NO_PADDING);
    raw = malloc(raw_len);
    *token = malloc(text_len);
    if (raw == NULL || *token == NULL) {
        free(raw);
        free(*token);   /* nothing written into either yet */
        *token = NULL;
        sodium_memzero(&key, sizeof key);
        return obol_set_error(err, OBOL_ERR_NOMEM, "token: out of memory");
    }
    p = raw;
    for (int shift = 24; shift >= 0; shift -= 8)
        *p++ = (uint8_t)(key.id >> shift);
    for (int i = 0; i < TOKEN_PARTS; i++) {
        p = put_length(p, lens[i]);
        memcpy(p, parts[i], lens[i]);
        p += lens[i];
    }
    token_mac(&key, st->prefix, raw, body_len, raw + body_len);
    sodium_memzero(&key, sizeof key);
    memcpy(*token, OBOL_TOKEN_TAG, OBOL_TOKEN_TAG_LEN);
    sodium_bin2base64(*token + OBOL_TOKEN_TAG_LEN, text_len - OBOL_TOKEN_TAG_LEN,
                      raw, raw_len, sodium_base64_VARIANT_URLSAFE_NO_PADDING);
    obol_wipe_free(raw, raw_len);   /* holds the refresh token id */
    return OBOL_OK;
}

int obol_token_make(obol_store *st, const obol_session *s, char **token,
                    obol_error *err)
{
    obol_error local;

    if (err == NULL)
        err = &local;
    if (token == NULL)
        return obol_set_error(err, OBOL_ERR_INVALID, "token: token is NULL");
    *token = NULL;
    if (st == NULL || s == NULL || s->id == NULL || s->user_id == NULL ||
        s->type == NULL || s->refresh_token_id == NULL || s->id[0] == '\0' ||
        s->user_id[0] == '\0')
        return obol_set_error(err, OBOL_ERR_INVALID,
                              "token: store, session, id, user_id, type and "
                              "refresh_token_id must be set");
    {
        const char *parts[TOKEN_PARTS] = { s->user_id, s->type, s->id,
                                           s->refresh_token_id };
        return make_bytes(st, parts, token, err);
    }
}

/* ----------------------------------------------------------------- parse */

void obol_token_free(obol_token *t)
{
    if (t == NULL)
        return;
    free(t->user_id);
    free(t->type);
    free(t->id);
    obol_wipe_free_string(t->refresh_token_id);
    free(t);
}

static int refused(obol_error *err, const char *why)
{
    return obol_set_error(err, OBOL_NOT_FOUND, "token refused: %s", why);
}

/* Reads one counted part at *p (before end) into a new C string. */
static int read_part(const uint8_t **p, const uint8_t *end, char **out)
{
    size_t len;

    if (*p >= end)
        return -1;
    len = **p & 0x7f;
    if (*(*p)++ & 0x80) {
        if (*p >= end || **p == 0)   /* one canonical form per length */
            return -1;
        len |= (size_t)*(*p)++ << 7;
    }
    if ((size_t)(end - *p) < len || memchr(*p, '\0', len) != NULL)
        return -1;
    *out = malloc(len + 1);
    if (*out == NULL)
        return -2;
    memcpy(*out, *p, len);
    (*out)[len] = '\0';
    *p += len;
    return 0;
}

static int read_body(const uint8_t *body, size_t body_len, obol_token *t,
                     obol_error *err)
{
    const uint8_t *p = body + TOKEN_KEY_ID_BYTES, *end = body + body_len;
    char **parts[TOKEN_PARTS] = { &t->user_id, &t->type, &t->id,
                                  &t->refresh_token_id };

    for (int i = 0; i < TOKEN_PARTS; i++) {
        int status = read_part(&p, end, parts[i]);
        if (status == -2)
            return obol_set_error(err, OBOL_ERR_NOMEM, "token: out of memory");
        if (status != 0)
            return refused(err, "malformed body");
    }
    if (p != end || t->user_id[0] == '\0' || t->id[0] == '\0')
        return refused(err, "malformed body");
    return OBOL_OK;
}

/* Base64url without padding, behind the tag, into raw (malloc()ed). */
static int decode_text(const char *token, uint8_t **raw, size_t *raw_len,
                       obol_error *err)
{
    size_t len = strnlen(token, OBOL_TOKEN_MAX_LEN + 1);
    const char *end = NULL;

    if (len > OBOL_TOKEN_MAX_LEN)
        return refused(err, "too long");
    if (len < OBOL_TOKEN_TAG_LEN ||
        memcmp(token, OBOL_TOKEN_TAG, OBOL_TOKEN_TAG_LEN) != 0)
        return refused(err, "not an obol token of version 1");
    *raw = malloc(len);
    if (*raw == NULL)
        return obol_set_error(err, OBOL_ERR_NOMEM, "token: out of memory");
    if (sodium_base642bin(*raw, len, token + OBOL_TOKEN_TAG_LEN,
                          len - OBOL_TOKEN_TAG_LEN, NULL, raw_len, &end,
                          sodium_base64_VARIANT_URLSAFE_NO_PADDING) != 0 ||
        end != token + len) {
        obol_wipe_free(*raw, len);
        *raw = NULL;
        return refused(err, "not base64url");
    }
    return OBOL_OK;
}

/* The MAC first, in constant time: nothing else of a token is read before
 * it is known to be ours. */
static int verify(obol_store *st, const uint8_t *raw, size_t raw_len,
                  uint32_t *key_id, obol_error *err)
{
    uint8_t mac[TOKEN_MAC_BYTES];
    size_t body_len;
    obol_key key;
    int ok;

    if (raw_len < TOKEN_KEY_ID_BYTES + TOKEN_MAC_BYTES)
        return refused(err, "truncated");
    body_len = raw_len - TOKEN_MAC_BYTES;
    *key_id = (uint32_t)raw[0] << 24 | (uint32_t)raw[1] << 16 |
              (uint32_t)raw[2] << 8 | raw[3];
    if (obol_keyring_verify_key(st->keys, *key_id, &key) != OBOL_OK)
        return obol_set_error(err, OBOL_NOT_FOUND, "token refused: signed "
                              "with unknown key id %u", *key_id);
    token_mac(&key, st->prefix, raw, body_len, mac);
    sodium_memzero(&key, sizeof key);
    ok = crypto_verify_32(mac, raw + body_len) == 0;
    if (!ok)
        return refused(err, "MAC mismatch: altered, forged, or made for "
                            "another store");
    return OBOL_OK;
}

int obol_token_parse(obol_store *st, const char *token, obol_token **out,
                     obol_error *err)
{
    obol_error local;
    uint8_t *raw = NULL;
    size_t raw_len = 0;
    obol_token *t;
    int status;

    if (err == NULL)
        err = &local;
    if (out == NULL || st == NULL || token == NULL)
        return obol_set_error(err, OBOL_ERR_INVALID,
                              "token: store, token and out must not be NULL");
    *out = NULL;
    status = decode_text(token, &raw, &raw_len, err);
    if (status != OBOL_OK)
        return status;
    t = calloc(1, sizeof *t);
    if (t == NULL) {
        obol_wipe_free(raw, raw_len);
        return obol_set_error(err, OBOL_ERR_NOMEM, "token: out of memory");
    }
    status = verify(st, raw, raw_len, &t->key_id, err);
    if (status == OBOL_OK)
        status = read_body(raw, raw_len - TOKEN_MAC_BYTES, t, err);
    obol_wipe_free(raw, raw_len);   /* holds the refresh token id */
    if (status != OBOL_OK) {
        obol_token_free(t);
        return status;
    }
    *out = t;
    return OBOL_OK;
}

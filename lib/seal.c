/* Signing and verifying records; see seal_internal.h for the layout. */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "codec_internal.h"
#include "errors_internal.h"
#include "seal_internal.h"

#define MAC_BYTES OBOL_MAC_BYTES
#define CONTEXT_DIGEST_BYTES 32
#define AD_BYTES (5 + CONTEXT_DIGEST_BYTES)

static void put_u32_be(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)(v >> 24);
    p[1] = (uint8_t)(v >> 16);
    p[2] = (uint8_t)(v >> 8);
    p[3] = (uint8_t)v;
}

static uint32_t get_u32_be(const uint8_t *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 |
           (uint32_t)p[3];
}

/* Each part is length-prefixed, so ("ab", "c") and ("a", "bc") differ:
 * eight bytes, least significant first. Every MAC writes four, so where
 * memory is in that order already they are one store. */
static void put_len(uint8_t len[8], size_t n)
{
    uint64_t v = (uint64_t)n;

#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
    memcpy(len, &v, sizeof v);
#else
    for (int i = 0; i < 8; i++)
        len[i] = (uint8_t)(v >> (8 * i));
#endif
}

static void absorb_part(crypto_generichash_state *state, obol_bytes part)
{
    uint8_t len[8];

    put_len(len, part.len);
    crypto_generichash_update(state, len, sizeof len);
    crypto_generichash_update(state, part.data, part.len);
}

/* Up to this many bytes of header are gathered on the stack and absorbed
 * in one call: each update costs more than copying a short part. */
#define GATHERED_HEADER_BYTES 384

static uint8_t *put_part(uint8_t *p, obol_bytes part)
{
    put_len(p, part.len);
    if (part.len > 0)
        memcpy(p + 8, part.data, part.len);
    return p + 8 + part.len;
}

/* format || key id || (prefix, user, type, id): what every seal is bound
 * to. The MAC absorbs it in the same pass as the payload, so a seal costs
 * one keyed hash. The bytes absorbed are the same whether they are
 * gathered first or not. */
static void absorb_header(crypto_generichash_state *state, uint8_t format,
                          uint32_t key_id, const obol_seal_context *ctx)
{
    uint8_t head[GATHERED_HEADER_BYTES];
    size_t size = 5 + 4 * 8 + ctx->prefix.len + ctx->user_id.len +
                  ctx->type.len + ctx->id.len;
    uint8_t *p = head + 5;

    head[0] = format;
    put_u32_be(head + 1, key_id);
    if (size > sizeof head) {   /* long ids: part by part */
        crypto_generichash_update(state, head, 5);
        absorb_part(state, ctx->prefix);
        absorb_part(state, ctx->user_id);
        absorb_part(state, ctx->type);
        absorb_part(state, ctx->id);
        return;
    }
    p = put_part(p, ctx->prefix);
    p = put_part(p, ctx->user_id);
    p = put_part(p, ctx->type);
    p = put_part(p, ctx->id);
    crypto_generichash_update(state, head, (size_t)(p - head));
}

static void compute_mac(const uint8_t mac_key[OBOL_KEY_BYTES], uint8_t format,
                        uint32_t key_id, const obol_seal_context *ctx,
                        const uint8_t *body, size_t len, uint8_t mac[MAC_BYTES])
{
    crypto_generichash_state state;

    crypto_generichash_init(&state, mac_key, OBOL_KEY_BYTES, MAC_BYTES);
    absorb_header(&state, format, key_id, ctx);
    crypto_generichash_update(&state, body, len);
    crypto_generichash_final(&state, mac, MAC_BYTES);
}

/* The AEAD's associated data: format || key id || digest of the context. */
static void aead_context(uint32_t key_id, const obol_seal_context *ctx,
                         uint8_t ad[AD_BYTES])
{
    crypto_generichash_state state;

    ad[0] = OBOL_SEAL_AEAD;
    put_u32_be(ad + 1, key_id);
    crypto_generichash_init(&state, NULL, 0, CONTEXT_DIGEST_BYTES);
    absorb_header(&state, OBOL_SEAL_AEAD, key_id, ctx);
    crypto_generichash_final(&state, ad + 5, CONTEXT_DIGEST_BYTES);
}

size_t obol_sealed_size(int mode, size_t payload_len)
{
    size_t extra = mode == OBOL_SEAL_AEAD
                       ? OBOL_SEAL_NONCE_BYTES + OBOL_SEAL_TAG_BYTES : 0;
    return OBOL_SEAL_HEADER_BYTES + extra + payload_len;
}

size_t obol_seal_payload_offset(int mode)
{
    (void)mode;
    return OBOL_SEAL_HEADER_BYTES;
}

void obol_seal(int mode, const obol_key *key, const obol_seal_context *ctx,
               const uint8_t *plain, size_t payload_len, uint8_t *out)
{
    uint8_t *body = out + OBOL_SEAL_HEADER_BYTES;
    size_t body_len = payload_len;

    out[0] = (uint8_t)mode;
    put_u32_be(out + 1, key->id);
    if (mode == OBOL_SEAL_AEAD) {
        uint8_t ad[AD_BYTES];
        unsigned long long cipher_len;
        uint8_t *nonce = body;

        aead_context(key->id, ctx, ad);
        randombytes_buf(nonce, OBOL_SEAL_NONCE_BYTES);
        crypto_aead_xchacha20poly1305_ietf_encrypt(
            body + OBOL_SEAL_NONCE_BYTES, &cipher_len, plain, payload_len,
            ad, sizeof ad, NULL, nonce, key->aead);
        body_len = OBOL_SEAL_NONCE_BYTES + (size_t)cipher_len;
    }
    compute_mac(key->mac, (uint8_t)mode, key->id, ctx, body, body_len, out + 5);
}

static int decrypt_body(const obol_key *key, const obol_seal_context *ctx,
                        const uint8_t *body, size_t body_len,
                        obol_unsealed *out, obol_error *err)
{
    uint8_t ad[AD_BYTES];
    unsigned long long plain_len;
    size_t cipher_len;

    if (body_len < OBOL_SEAL_NONCE_BYTES + OBOL_SEAL_TAG_BYTES)
        return obol_set_error(err, OBOL_ERR_CORRUPT,
                              "encrypted record is truncated");
    cipher_len = body_len - OBOL_SEAL_NONCE_BYTES;
    aead_context(key->id, ctx, ad);
    out->owned = malloc(cipher_len - OBOL_SEAL_TAG_BYTES + 1);
    if (out->owned == NULL)
        return obol_set_error(err, OBOL_ERR_NOMEM, "out of memory decrypting");
    if (crypto_aead_xchacha20poly1305_ietf_decrypt(
            out->owned, &plain_len, NULL, body + OBOL_SEAL_NONCE_BYTES,
            cipher_len, ad, sizeof ad, body, key->aead) != 0) {
        free(out->owned);
        out->owned = NULL;
        return obol_set_error(err, OBOL_ERR_CORRUPT, "record does not decrypt");
    }
    out->payload = out->owned;
    out->len = (size_t)plain_len;
    return OBOL_OK;
}

static int accept_unsigned(int allow_unsigned, const uint8_t *record,
                           size_t len, obol_unsealed *out, obol_error *err)
{
    if (!allow_unsigned) {
        out->refused_unsigned = 1;
        return obol_set_error(err, OBOL_ERR_CORRUPT,
                              "unsigned record refused (allow_unsigned=0)");
    }
    out->payload = record;
    out->len = len;
    out->was_unsigned = 1;
    return OBOL_OK;
}

/* The MAC of a record read under ctx, from the prepared state of the key
 * it names (the caller wipes key, which is filled only for AEAD). */
static int verify_mac(obol_keyring *ring, const obol_seal_context *ctx,
                      const uint8_t *record, size_t len, obol_unsealed *out,
                      obol_key *key, obol_error *err)
{
    crypto_generichash_state state;
    uint8_t mac[MAC_BYTES];
    int mismatch;

    if (obol_keyring_mac_state(ring, out->key_id, &state,
                               out->format == OBOL_SEAL_AEAD ? key : NULL) !=
        OBOL_OK) {
        out->unknown_key = 1;
        return obol_set_error(err, OBOL_ERR_CORRUPT,
                              "record is signed with unknown key id %u (not "
                              "one this store verifies: retired, or never "
                              "given)", out->key_id);
    }
    absorb_header(&state, (uint8_t)out->format, out->key_id, ctx);
    crypto_generichash_update(&state, record + OBOL_SEAL_HEADER_BYTES,
                              len - OBOL_SEAL_HEADER_BYTES);
    crypto_generichash_final(&state, mac, MAC_BYTES);
    sodium_memzero(&state, sizeof state);
    mismatch = crypto_verify_32(mac, record + 5) != 0;
    if (mismatch) {
        sodium_memzero(key, sizeof *key);
        return obol_set_error(err, OBOL_ERR_CORRUPT,
                              "MAC mismatch (key id %u): record was altered "
                              "or belongs elsewhere", out->key_id);
    }
    return OBOL_OK;
}

/* Reads a record's header and checks its MAC. OBOL_OK leaves, for an
 * encrypted record, the key that verified it in *key (the caller wipes
 * it), or marks out->was_unsigned for a legacy record accepted as such;
 * anything else is refused. */
static int check_seal(obol_keyring *ring, int allow_unsigned,
                      const obol_seal_context *ctx, const uint8_t *record,
                      size_t len, obol_unsealed *out, obol_key *key,
                      obol_error *err)
{
    uint8_t format;

    memset(out, 0, sizeof *out);
    if (len == 0)
        return obol_set_error(err, OBOL_ERR_CORRUPT, "record is empty");
    format = record[0];
    if (format == OBOL_CODEC_MAGIC)
        return accept_unsigned(allow_unsigned, record, len, out, err);
    if (format != OBOL_SEAL_MAC && format != OBOL_SEAL_AEAD)
        return obol_set_error(err, OBOL_ERR_CORRUPT,
                              "unknown record format 0x%02x", format);
    if (len < OBOL_SEAL_HEADER_BYTES)
        return obol_set_error(err, OBOL_ERR_CORRUPT,
                              "record of %zu bytes is shorter than a seal", len);
    out->format = format;
    out->key_id = get_u32_be(record + 1);
    return verify_mac(ring, ctx, record, len, out, key, err);
}

int obol_unseal(obol_keyring *ring, int allow_unsigned,
                const obol_seal_context *ctx, const uint8_t *record,
                size_t len, obol_unsealed *out, obol_error *err)
{
    obol_key key;
    int status;

    status = check_seal(ring, allow_unsigned, ctx, record, len, out, &key, err);
    if (status != OBOL_OK || out->was_unsigned)
        return status;
    if (out->format == OBOL_SEAL_MAC) {
        out->payload = record + OBOL_SEAL_HEADER_BYTES;
        out->len = len - OBOL_SEAL_HEADER_BYTES;
        return OBOL_OK;
    }
    status = decrypt_body(&key, ctx, record + OBOL_SEAL_HEADER_BYTES,
                          len - OBOL_SEAL_HEADER_BYTES, out, err);
    sodium_memzero(&key, sizeof key);
    return status;
}

int obol_seal_verify(obol_keyring *ring, const obol_seal_context *ctx,
                     const uint8_t *record, size_t len, obol_unsealed *out,
                     obol_error *err)
{
    obol_key key;
    int status = check_seal(ring, 1, ctx, record, len, out, &key, err);

    sodium_memzero(&key, sizeof key);
    out->payload = NULL;   /* not decrypted: nothing to read */
    out->len = 0;
    return status;
}

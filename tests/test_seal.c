/*
 * The keyring and the seal (lib/keys.c, lib/seal.c): a record verifies only
 * unaltered, whole, under the key that signed it and in the place it was
 * written for; keys rotate without logging anyone out; secrets are loaded
 * from the environment or a file and never appear in a message.
 */
#include "config.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <sodium.h>

#include "codec_internal.h"
#include "config_internal.h"
#include "keys_internal.h"
#include "seal_internal.h"
#include "tmpdir.h"

/* ------------------------------------------------------------ helpers */

static const uint8_t key_a[OBOL_KEY_BYTES] = {
    0x6b, 0x65, 0x79, 0x20, 0x61, 0x01, 0x02, 0x03, 0x04, 0x05, 0x06,
    0x07, 0x08, 0x09, 0x0a, 0x0b, 0x0c, 0x0d, 0x0e, 0x0f, 0x10, 0x11,
    0x12, 0x13, 0x14, 0x15, 0x16, 0x17, 0x18, 0x19, 0x1a, 0x1b,
};
static const uint8_t key_b[OBOL_KEY_BYTES] = {
    0x6b, 0x65, 0x79, 0x20, 0x62, 0x01, 0x02, 0x03, 0x04, 0x05, 0x06,
    0x07, 0x08, 0x09, 0x0a, 0x0b, 0x0c, 0x0d, 0x0e, 0x0f, 0x10, 0x11,
    0x12, 0x13, 0x14, 0x15, 0x16, 0x17, 0x18, 0x19, 0x1a, 0x1b,
};

/* A payload that is easy to recognise inside a record. */
static const char payload_text[] =
    "PLAINTEXT-SESSION-PAYLOAD: user=alice refresh=r-0123456789";
#define PAYLOAD ((const uint8_t *)payload_text)
#define PAYLOAD_LEN (sizeof payload_text - 1)

static const int seal_modes[] = { OBOL_SEAL_MAC, OBOL_SEAL_AEAD };

static obol_bytes text_bytes(const char *text)
{
    obol_bytes b = { (const uint8_t *)text, strlen(text) };
    return b;
}

static obol_seal_context context_of(const char *prefix, const char *user,
                                    const char *type, const char *id)
{
    obol_seal_context ctx = { text_bytes(prefix), text_bytes(user),
                              text_bytes(type), text_bytes(id) };
    return ctx;
}

static obol_seal_context default_context(void)
{
    return context_of("obol", "alice", "full", "sid-1");
}

static obol_keyring *ring_with_raw_key(uint32_t key_id,
                                       const uint8_t raw[OBOL_KEY_BYTES])
{
    obol_keyring *ring = obol_keyring_new();
    obol_error err;

    assert_non_null(ring);
    assert_int_equal(obol_keyring_add(ring, key_id, raw, 1, &err), OBOL_OK);
    return ring;
}

static obol_keyring *ring_with_secret(const char *secret, uint32_t sign_id)
{
    obol_keyring *ring = obol_keyring_new();
    obol_error err;

    assert_non_null(ring);
    assert_int_equal(obol_keyring_set_secret(ring, (const uint8_t *)secret,
                                             strlen(secret), sign_id, &err),
                     OBOL_OK);
    return ring;
}

/* Seals payload with the ring's signing key; returns a malloc()ed record. */
static uint8_t *seal_with(obol_keyring *ring, int mode,
                          const obol_seal_context *ctx, const uint8_t *payload,
                          size_t payload_len, size_t *record_len)
{
    size_t len = obol_sealed_size(mode, payload_len);
    uint8_t *record = malloc(len);
    obol_key key;

    assert_non_null(record);
    assert_int_equal(obol_keyring_signing_key(ring, &key), OBOL_OK);
    if (mode == OBOL_SEAL_MAC && payload_len > 0)
        memcpy(record + obol_seal_payload_offset(mode), payload, payload_len);
    obol_seal(mode, &key, ctx, payload, payload_len, record);
    sodium_memzero(&key, sizeof key);
    *record_len = len;
    return record;
}

static int unseal_status(obol_keyring *ring, int allow_unsigned,
                         const obol_seal_context *ctx, const uint8_t *record,
                         size_t len, obol_error *err)
{
    obol_unsealed out;
    int status = obol_unseal(ring, allow_unsigned, ctx, record, len, &out, err);

    if (status == OBOL_OK)
        free(out.owned);
    else
        assert_null(out.owned);
    return status;
}

static void assert_unseals_to_payload(obol_keyring *ring,
                                      const obol_seal_context *ctx,
                                      const uint8_t *record, size_t len,
                                      const uint8_t *payload,
                                      size_t payload_len)
{
    obol_unsealed out;
    obol_error err = { 0, "" };
    int status = obol_unseal(ring, 0, ctx, record, len, &out, &err);

    if (status != OBOL_OK)
        fail_msg("record does not unseal: %s", err.message);
    assert_int_equal(out.len, payload_len);
    if (payload_len > 0)
        assert_memory_equal(out.payload, payload, payload_len);
    assert_int_equal(out.was_unsigned, 0);
    free(out.owned);
}

static void assert_refused_as_corrupt(obol_keyring *ring,
                                      const obol_seal_context *ctx,
                                      const uint8_t *record, size_t len)
{
    obol_error err = { 0, "" };

    assert_int_equal(unseal_status(ring, 0, ctx, record, len, &err),
                     OBOL_ERR_CORRUPT);
    assert_int_equal(err.status, OBOL_ERR_CORRUPT);
    assert_true(err.message[0] != '\0');
}

static const char *mode_name(int mode)
{
    return mode == OBOL_SEAL_AEAD ? "aead" : "mac";
}

/* ------------------------------------------------------------ round trip */

static void mac_record_round_trips(void **state)
{
    obol_keyring *ring = ring_with_raw_key(1, key_a);
    obol_seal_context ctx = default_context();
    obol_unsealed out;
    obol_error err;
    size_t len;
    uint8_t *record = seal_with(ring, OBOL_SEAL_MAC, &ctx, PAYLOAD,
                                PAYLOAD_LEN, &len);

    (void)state;
    assert_int_equal(len, OBOL_SEAL_HEADER_BYTES + PAYLOAD_LEN);
    assert_int_equal(record[0], OBOL_SEAL_MAC);
    assert_int_equal(obol_unseal(ring, 0, &ctx, record, len, &out, &err),
                     OBOL_OK);
    assert_int_equal(out.len, PAYLOAD_LEN);
    assert_memory_equal(out.payload, PAYLOAD, PAYLOAD_LEN);
    assert_null(out.owned);
    assert_int_equal(out.key_id, 1);
    assert_int_equal(out.was_unsigned, 0);
    free(record);
    obol_keyring_free(ring);
}

static void aead_record_round_trips(void **state)
{
    obol_keyring *ring = ring_with_raw_key(42, key_a);
    obol_seal_context ctx = default_context();
    obol_unsealed out;
    obol_error err;
    size_t len;
    uint8_t *record = seal_with(ring, OBOL_SEAL_AEAD, &ctx, PAYLOAD,
                                PAYLOAD_LEN, &len);

    (void)state;
    assert_int_equal(len, OBOL_SEAL_HEADER_BYTES + OBOL_SEAL_NONCE_BYTES +
                              OBOL_SEAL_TAG_BYTES + PAYLOAD_LEN);
    assert_int_equal(record[0], OBOL_SEAL_AEAD);
    assert_int_equal(obol_unseal(ring, 0, &ctx, record, len, &out, &err),
                     OBOL_OK);
    assert_non_null(out.owned);
    assert_int_equal(out.len, PAYLOAD_LEN);
    assert_memory_equal(out.payload, PAYLOAD, PAYLOAD_LEN);
    assert_int_equal(out.key_id, 42);
    free(out.owned);
    free(record);
    obol_keyring_free(ring);
}

static void empty_payload_round_trips_in_both_modes(void **state)
{
    obol_keyring *ring = ring_with_raw_key(1, key_a);
    obol_seal_context ctx = default_context();

    (void)state;
    for (size_t m = 0; m < 2; m++) {
        size_t len;
        uint8_t *record = seal_with(ring, seal_modes[m], &ctx, NULL, 0, &len);

        assert_unseals_to_payload(ring, &ctx, record, len, NULL, 0);
        free(record);
    }
    obol_keyring_free(ring);
}

static void aead_record_does_not_contain_the_plaintext(void **state)
{
    obol_keyring *ring = ring_with_raw_key(1, key_a);
    obol_seal_context ctx = default_context();
    size_t len;
    uint8_t *record = seal_with(ring, OBOL_SEAL_AEAD, &ctx, PAYLOAD,
                                PAYLOAD_LEN, &len);

    (void)state;
    /* No 8-byte window of the payload survives anywhere in the record. */
    for (size_t i = 0; i + 8 <= PAYLOAD_LEN; i++)
        assert_null(memmem(record, len, PAYLOAD + i, 8));
    free(record);
    obol_keyring_free(ring);
}

static void aead_records_of_one_payload_differ(void **state)
{
    obol_keyring *ring = ring_with_raw_key(1, key_a);
    obol_seal_context ctx = default_context();
    size_t len1, len2;
    uint8_t *r1 = seal_with(ring, OBOL_SEAL_AEAD, &ctx, PAYLOAD, PAYLOAD_LEN, &len1);
    uint8_t *r2 = seal_with(ring, OBOL_SEAL_AEAD, &ctx, PAYLOAD, PAYLOAD_LEN, &len2);

    (void)state;
    /* A fresh random nonce per record. */
    assert_int_equal(len1, len2);
    assert_memory_not_equal(r1 + OBOL_SEAL_HEADER_BYTES,
                            r2 + OBOL_SEAL_HEADER_BYTES, OBOL_SEAL_NONCE_BYTES);
    free(r1);
    free(r2);
    obol_keyring_free(ring);
}

/* ------------------------------------------------------------ tampering */

static void every_single_byte_change_is_refused(void **state)
{
    static const uint8_t masks[] = { 0x01, 0x02, 0x10, 0x80, 0x6e, 0xff };
    obol_keyring *ring = ring_with_raw_key(1, key_a);
    obol_seal_context ctx = default_context();

    (void)state;
    for (size_t m = 0; m < 2; m++) {
        size_t len;
        uint8_t *record = seal_with(ring, seal_modes[m], &ctx, PAYLOAD,
                                    PAYLOAD_LEN, &len);

        for (size_t pos = 0; pos < len; pos++) {
            for (size_t k = 0; k < sizeof masks; k++) {
                obol_error err = { 0, "" };
                int status;

                record[pos] ^= masks[k];
                status = unseal_status(ring, 0, &ctx, record, len, &err);
                record[pos] ^= masks[k];
                if (status != OBOL_ERR_CORRUPT)
                    fail_msg("%s record with byte %zu ^ 0x%02x: status %d",
                             mode_name(seal_modes[m]), pos, masks[k], status);
            }
        }
        assert_unseals_to_payload(ring, &ctx, record, len, PAYLOAD, PAYLOAD_LEN);
        free(record);
    }
    obol_keyring_free(ring);
}

static void every_truncation_is_refused(void **state)
{
    obol_keyring *ring = ring_with_raw_key(1, key_a);
    obol_seal_context ctx = default_context();

    (void)state;
    for (size_t m = 0; m < 2; m++) {
        size_t len;
        uint8_t *record = seal_with(ring, seal_modes[m], &ctx, PAYLOAD,
                                    PAYLOAD_LEN, &len);

        for (size_t cut = 0; cut < len; cut++) {
            obol_error err = { 0, "" };
            int status = unseal_status(ring, 0, &ctx, record, cut, &err);

            if (status != OBOL_ERR_CORRUPT)
                fail_msg("%s record cut to %zu of %zu bytes: status %d",
                         mode_name(seal_modes[m]), cut, len, status);
        }
        /* Cut from the front as well: the header moves under the MAC. */
        for (size_t skip = 1; skip < len; skip++)
            assert_refused_as_corrupt(ring, &ctx, record + skip, len - skip);
        free(record);
    }
    obol_keyring_free(ring);
}

static void appended_bytes_are_refused(void **state)
{
    obol_keyring *ring = ring_with_raw_key(1, key_a);
    obol_seal_context ctx = default_context();

    (void)state;
    for (size_t m = 0; m < 2; m++) {
        size_t len;
        uint8_t *record = seal_with(ring, seal_modes[m], &ctx, PAYLOAD,
                                    PAYLOAD_LEN, &len);
        uint8_t *longer = malloc(len + 1);

        assert_non_null(longer);
        memcpy(longer, record, len);
        longer[len] = 0;
        assert_refused_as_corrupt(ring, &ctx, longer, len + 1);
        free(longer);
        free(record);
    }
    obol_keyring_free(ring);
}

static void empty_record_is_refused(void **state)
{
    obol_keyring *ring = ring_with_raw_key(1, key_a);
    obol_seal_context ctx = default_context();
    obol_error err;
    uint8_t byte = 0;

    (void)state;
    assert_int_equal(unseal_status(ring, 1, &ctx, &byte, 0, &err),
                     OBOL_ERR_CORRUPT);
    obol_keyring_free(ring);
}

/* ------------------------------------------------------------ context */

static void assert_context_change_refused(const obol_seal_context *sealed_for,
                                          const obol_seal_context *read_as)
{
    obol_keyring *ring = ring_with_raw_key(1, key_a);

    for (size_t m = 0; m < 2; m++) {
        size_t len;
        uint8_t *record = seal_with(ring, seal_modes[m], sealed_for, PAYLOAD,
                                    PAYLOAD_LEN, &len);

        assert_unseals_to_payload(ring, sealed_for, record, len, PAYLOAD,
                                  PAYLOAD_LEN);
        assert_refused_as_corrupt(ring, read_as, record, len);
        free(record);
    }
    obol_keyring_free(ring);
}

static void record_is_bound_to_its_prefix(void **state)
{
    obol_seal_context a = context_of("obol", "alice", "full", "sid-1");
    obol_seal_context b = context_of("obol2", "alice", "full", "sid-1");

    (void)state;
    assert_context_change_refused(&a, &b);
}

static void record_is_bound_to_its_user(void **state)
{
    obol_seal_context a = context_of("obol", "alice", "full", "sid-1");
    obol_seal_context b = context_of("obol", "mallory", "full", "sid-1");

    (void)state;
    assert_context_change_refused(&a, &b);
}

static void record_is_bound_to_its_type(void **state)
{
    obol_seal_context a = context_of("obol", "alice", "full", "sid-1");
    obol_seal_context b = context_of("obol", "alice", "oauth2", "sid-1");

    (void)state;
    assert_context_change_refused(&a, &b);
}

static void record_is_bound_to_its_session_id(void **state)
{
    obol_seal_context a = context_of("obol", "alice", "full", "sid-1");
    obol_seal_context b = context_of("obol", "alice", "full", "sid-2");

    (void)state;
    assert_context_change_refused(&a, &b);
}

/* Moving the boundary between two parts must not keep the MAC valid. */
static void part_boundaries_are_bound(void **state)
{
    obol_seal_context user_type_a = context_of("obol", "ab", "c", "sid");
    obol_seal_context user_type_b = context_of("obol", "a", "bc", "sid");
    obol_seal_context prefix_user_a = context_of("ob", "olalice", "full", "s");
    obol_seal_context prefix_user_b = context_of("obol", "alice", "full", "s");
    obol_seal_context type_id_a = context_of("p", "u", "full", "x");
    obol_seal_context type_id_b = context_of("p", "u", "ful", "lx");
    obol_seal_context empty_a = context_of("p", "", "u", "x");
    obol_seal_context empty_b = context_of("p", "u", "", "x");

    (void)state;
    assert_context_change_refused(&user_type_a, &user_type_b);
    assert_context_change_refused(&user_type_b, &user_type_a);
    assert_context_change_refused(&prefix_user_a, &prefix_user_b);
    assert_context_change_refused(&type_id_a, &type_id_b);
    assert_context_change_refused(&empty_a, &empty_b);
}

static void binary_parts_are_bound_in_full(void **state)
{
    static const uint8_t user_a[] = { 'u', 0x00, 'a' };
    static const uint8_t user_b[] = { 'u', 0x00, 'b' };
    obol_seal_context a = default_context();
    obol_seal_context b = default_context();

    (void)state;
    a.user_id.data = user_a;
    a.user_id.len = sizeof user_a;
    b.user_id.data = user_b;
    b.user_id.len = sizeof user_b;
    assert_context_change_refused(&a, &b);
}

/* ------------------------------------------------------------ keys */

static void record_under_another_key_is_refused(void **state)
{
    obol_keyring *signer = ring_with_raw_key(1, key_a);
    obol_keyring *other = ring_with_raw_key(1, key_b);
    obol_seal_context ctx = default_context();

    (void)state;
    for (size_t m = 0; m < 2; m++) {
        size_t len;
        uint8_t *record = seal_with(signer, seal_modes[m], &ctx, PAYLOAD,
                                    PAYLOAD_LEN, &len);

        assert_refused_as_corrupt(other, &ctx, record, len);
        free(record);
    }
    obol_keyring_free(signer);
    obol_keyring_free(other);
}

static void record_of_unknown_key_id_is_refused(void **state)
{
    obol_keyring *signer = ring_with_raw_key(7, key_a);
    obol_keyring *other = ring_with_raw_key(8, key_a);
    obol_seal_context ctx = default_context();
    obol_error err = { 0, "" };
    size_t len;
    uint8_t *record = seal_with(signer, OBOL_SEAL_MAC, &ctx, PAYLOAD,
                                PAYLOAD_LEN, &len);

    (void)state;
    assert_int_equal(unseal_status(other, 0, &ctx, record, len, &err),
                     OBOL_ERR_CORRUPT);
    assert_non_null(strstr(err.message, "unknown key id 7"));
    free(record);
    obol_keyring_free(signer);
    obol_keyring_free(other);
}

static void empty_keyring_cannot_sign_or_verify(void **state)
{
    obol_keyring *ring = obol_keyring_new();
    obol_keyring *signer = ring_with_raw_key(1, key_a);
    obol_seal_context ctx = default_context();
    obol_key key;
    size_t len;
    uint8_t *record = seal_with(signer, OBOL_SEAL_MAC, &ctx, PAYLOAD,
                                PAYLOAD_LEN, &len);

    (void)state;
    assert_non_null(ring);
    assert_int_equal(obol_keyring_can_sign(ring), 0);
    assert_int_equal(obol_keyring_signing_key(ring, &key), OBOL_ERR_KEY);
    assert_int_equal(obol_keyring_verify_key(ring, 1, &key), OBOL_ERR_KEY);
    assert_refused_as_corrupt(ring, &ctx, record, len);
    free(record);
    obol_keyring_free(ring);
    obol_keyring_free(signer);
    obol_keyring_free(NULL);
}

static void verify_only_key_does_not_sign(void **state)
{
    obol_keyring *ring = obol_keyring_new();
    obol_keyring *signer = ring_with_raw_key(3, key_a);
    obol_seal_context ctx = default_context();
    obol_error err;
    obol_key key;
    size_t len;
    uint8_t *record = seal_with(signer, OBOL_SEAL_MAC, &ctx, PAYLOAD,
                                PAYLOAD_LEN, &len);

    (void)state;
    assert_int_equal(obol_keyring_add(ring, 3, key_a, 0, &err), OBOL_OK);
    assert_int_equal(obol_keyring_can_sign(ring), 0);
    assert_int_equal(obol_keyring_signing_key(ring, &key), OBOL_ERR_KEY);
    assert_unseals_to_payload(ring, &ctx, record, len, PAYLOAD, PAYLOAD_LEN);
    free(record);
    obol_keyring_free(ring);
    obol_keyring_free(signer);
}

static void old_key_verifies_after_rotation(void **state)
{
    obol_keyring *ring = ring_with_raw_key(1, key_a);
    obol_seal_context ctx = default_context();
    obol_error err;
    obol_key key;

    (void)state;
    for (size_t m = 0; m < 2; m++) {
        size_t len1, len2;
        uint8_t *by_key1, *by_key2;
        obol_unsealed out;

        assert_int_equal(obol_keyring_add(ring, 1, key_a, 1, &err), OBOL_OK);
        by_key1 = seal_with(ring, seal_modes[m], &ctx, PAYLOAD, PAYLOAD_LEN,
                            &len1);
        assert_int_equal(obol_keyring_add(ring, 2, key_b, 1, &err), OBOL_OK);
        assert_int_equal(obol_keyring_signing_key(ring, &key), OBOL_OK);
        assert_int_equal(key.id, 2);
        by_key2 = seal_with(ring, seal_modes[m], &ctx, PAYLOAD, PAYLOAD_LEN,
                            &len2);
        assert_int_equal(obol_unseal(ring, 0, &ctx, by_key1, len1, &out, &err),
                         OBOL_OK);
        assert_int_equal(out.key_id, 1);
        free(out.owned);
        assert_int_equal(obol_unseal(ring, 0, &ctx, by_key2, len2, &out, &err),
                         OBOL_OK);
        assert_int_equal(out.key_id, 2);
        free(out.owned);
        free(by_key1);
        free(by_key2);
    }
    sodium_memzero(&key, sizeof key);
    obol_keyring_free(ring);
}

static void replaced_key_no_longer_verifies_old_records(void **state)
{
    obol_keyring *ring = ring_with_raw_key(1, key_a);
    obol_seal_context ctx = default_context();
    obol_error err;
    size_t len;
    uint8_t *record = seal_with(ring, OBOL_SEAL_MAC, &ctx, PAYLOAD,
                                PAYLOAD_LEN, &len);

    (void)state;
    assert_int_equal(obol_keyring_add(ring, 1, key_b, 1, &err), OBOL_OK);
    assert_refused_as_corrupt(ring, &ctx, record, len);
    free(record);
    obol_keyring_free(ring);
}

static void many_keys_all_keep_verifying(void **state)
{
    obol_keyring *ring = obol_keyring_new();
    obol_seal_context ctx = default_context();
    uint8_t *records[20];
    size_t lens[20];
    obol_error err;

    (void)state;
    /* Enough keys to make the guarded key array grow several times. */
    for (uint32_t i = 0; i < 20; i++) {
        uint8_t raw[OBOL_KEY_BYTES];

        memcpy(raw, key_a, sizeof raw);
        raw[0] = (uint8_t)i;
        assert_int_equal(obol_keyring_add(ring, 100 + i, raw, 1, &err), OBOL_OK);
        records[i] = seal_with(ring, OBOL_SEAL_MAC, &ctx, PAYLOAD, PAYLOAD_LEN,
                               &lens[i]);
    }
    for (size_t i = 0; i < 20; i++) {
        assert_unseals_to_payload(ring, &ctx, records[i], lens[i], PAYLOAD,
                                  PAYLOAD_LEN);
        free(records[i]);
    }
    obol_keyring_free(ring);
}

static const char secret_one[] = "correct horse battery staple, #1";
static const char secret_two[] = "correct horse battery staple, #2";

/* A secret derives the keys of the ids it is given, and only those: an id
 * no longer given is retired, however derivable it is. */
static void secret_verifies_only_the_key_ids_given(void **state)
{
    obol_keyring *signer5 = ring_with_secret(secret_one, 5);
    obol_keyring *signer9 = ring_with_secret(secret_one, 9);
    obol_keyring *reader = ring_with_secret(secret_one, 1);
    obol_seal_context ctx = default_context();
    obol_error err;

    (void)state;
    assert_int_equal(obol_keyring_add_derived(reader, (const uint8_t *)secret_one,
                                              strlen(secret_one), 5, &err),
                     OBOL_OK);
    for (size_t m = 0; m < 2; m++) {
        size_t len5, len9;
        uint8_t *r5 = seal_with(signer5, seal_modes[m], &ctx, PAYLOAD,
                                PAYLOAD_LEN, &len5);
        uint8_t *r9 = seal_with(signer9, seal_modes[m], &ctx, PAYLOAD,
                                PAYLOAD_LEN, &len9);
        obol_unsealed out;

        assert_unseals_to_payload(reader, &ctx, r5, len5, PAYLOAD, PAYLOAD_LEN);
        assert_int_equal(obol_unseal(reader, 0, &ctx, r9, len9, &out, &err),
                         OBOL_ERR_CORRUPT);
        assert_true(out.unknown_key);
        assert_non_null(strstr(err.message, "unknown key id 9"));
        assert_refused_as_corrupt(signer9, &ctx, r5, len5);
        free(r5);
        free(r9);
    }
    obol_keyring_free(signer5);
    obol_keyring_free(signer9);
    obol_keyring_free(reader);
}

/* An old key derived from the secret verifies but never signs. */
static void derived_old_key_does_not_sign(void **state)
{
    obol_keyring *ring = ring_with_secret(secret_one, 5);
    obol_error err;
    obol_key key;

    (void)state;
    assert_int_equal(obol_keyring_add_derived(ring, (const uint8_t *)secret_two,
                                              strlen(secret_two), 4, &err),
                     OBOL_OK);
    assert_int_equal(obol_keyring_signing_key(ring, &key), OBOL_OK);
    assert_int_equal(key.id, 5);
    assert_int_equal(obol_keyring_role(ring, 5), OBOL_KEY_ROLE_SIGNING);
    assert_int_equal(obol_keyring_role(ring, 4), OBOL_KEY_ROLE_OLD);
    assert_int_equal(obol_keyring_role(ring, 6), OBOL_KEY_ROLE_UNKNOWN);
    sodium_memzero(&key, sizeof key);
    obol_keyring_free(ring);
}

static void keys_of_another_secret_do_not_verify(void **state)
{
    obol_keyring *signer = ring_with_secret(secret_one, 5);
    obol_keyring *reader = ring_with_secret(secret_two, 5);
    obol_seal_context ctx = default_context();

    (void)state;
    for (size_t m = 0; m < 2; m++) {
        size_t len;
        uint8_t *record = seal_with(signer, seal_modes[m], &ctx, PAYLOAD,
                                    PAYLOAD_LEN, &len);

        assert_refused_as_corrupt(reader, &ctx, record, len);
        free(record);
    }
    obol_keyring_free(signer);
    obol_keyring_free(reader);
}

static void derived_keys_differ_per_key_id(void **state)
{
    obol_keyring *ring = ring_with_secret(secret_one, 5);
    obol_error err;
    obol_key k5, k6;

    (void)state;
    assert_int_equal(obol_keyring_add_derived(ring, (const uint8_t *)secret_one,
                                              strlen(secret_one), 6, &err),
                     OBOL_OK);
    assert_int_equal(obol_keyring_verify_key(ring, 5, &k5), OBOL_OK);
    assert_int_equal(obol_keyring_verify_key(ring, 6, &k6), OBOL_OK);
    assert_memory_not_equal(k5.mac, k6.mac, OBOL_KEY_BYTES);
    assert_memory_not_equal(k5.aead, k6.aead, OBOL_KEY_BYTES);
    /* One key never serves two algorithms. */
    assert_memory_not_equal(k5.mac, k5.aead, OBOL_KEY_BYTES);
    sodium_memzero(&k5, sizeof k5);
    sodium_memzero(&k6, sizeof k6);
    obol_keyring_free(ring);
}

/* A record carrying another key id in its header is refused even when the
 * ring can derive that id: the id is covered by the MAC. */
static void rewritten_key_id_is_refused_with_derived_keys(void **state)
{
    obol_keyring *ring = ring_with_secret(secret_one, 5);
    obol_seal_context ctx = default_context();
    size_t len;
    uint8_t *record = seal_with(ring, OBOL_SEAL_MAC, &ctx, PAYLOAD,
                                PAYLOAD_LEN, &len);

    (void)state;
    record[4] = 6;
    assert_refused_as_corrupt(ring, &ctx, record, len);
    free(record);
    obol_keyring_free(ring);
}

static void short_secret_is_refused_as_key_error(void **state)
{
    obol_keyring *ring = obol_keyring_new();
    obol_error err = { 0, "" };
    static const char short_secret[] = "thirty-one bytes, one too few!!";

    (void)state;
    assert_int_equal(strlen(short_secret), 31);
    assert_int_equal(obol_keyring_set_secret(ring, (const uint8_t *)short_secret,
                                             strlen(short_secret), 1, &err),
                     OBOL_ERR_KEY);
    assert_null(strstr(err.message, short_secret));
    assert_non_null(strstr(err.message, "31 bytes is too short (at least 32"));
    assert_int_equal(obol_keyring_can_sign(ring), 0);
    assert_int_equal(obol_keyring_set_secret(ring, (const uint8_t *)secret_one,
                                             32, 1, &err), OBOL_OK);
    assert_int_equal(obol_keyring_can_sign(ring), 1);
    obol_keyring_free(ring);
}

/* An old secret only has to meet the minimum of earlier versions (16
 * bytes), so that a deployment with a shorter secret can still retire it. */
static void old_secret_may_be_as_short_as_sixteen_bytes(void **state)
{
    obol_keyring *ring = obol_keyring_new();
    obol_error err = { 0, "" };
    static const char sixteen[] = "sixteen bytes!!!";

    (void)state;
    assert_int_equal(obol_keyring_add_derived(ring, (const uint8_t *)sixteen,
                                              16, 3, &err), OBOL_OK);
    assert_int_equal(obol_keyring_role(ring, 3), OBOL_KEY_ROLE_OLD);
    assert_int_equal(obol_keyring_add_derived(ring, (const uint8_t *)sixteen,
                                              15, 4, &err), OBOL_ERR_KEY);
    assert_non_null(strstr(err.message, "15 bytes is too short (at least 16"));
    assert_int_equal(obol_keyring_role(ring, 4), OBOL_KEY_ROLE_UNKNOWN);
    assert_int_equal(obol_keyring_can_sign(ring), 0);
    obol_keyring_free(ring);
}

/* ------------------------------------------------------------ unsigned */

static void unsigned_record_needs_allow_unsigned(void **state)
{
    obol_keyring *ring = ring_with_raw_key(1, key_a);
    obol_seal_context ctx = default_context();
    const uint8_t legacy[] = { OBOL_CODEC_MAGIC, 0x02, 0x0a, 0x01, 'x' };
    obol_unsealed out;
    obol_error err = { 0, "" };

    (void)state;
    assert_int_equal(OBOL_CODEC_MAGIC, 0x6f);
    assert_int_equal(obol_unseal(ring, 0, &ctx, legacy, sizeof legacy, &out,
                                 &err), OBOL_ERR_CORRUPT);
    assert_non_null(strstr(err.message, "allow_unsigned"));
    assert_int_equal(obol_unseal(ring, 1, &ctx, legacy, sizeof legacy, &out,
                                 &err), OBOL_OK);
    assert_int_equal(out.was_unsigned, 1);
    assert_int_equal(out.len, sizeof legacy);
    assert_memory_equal(out.payload, legacy, sizeof legacy);
    assert_null(out.owned);
    obol_keyring_free(ring);
}

static void unsigned_record_is_read_even_without_keys(void **state)
{
    obol_keyring *ring = obol_keyring_new();
    obol_seal_context ctx = default_context();
    const uint8_t legacy[] = { OBOL_CODEC_MAGIC, 0x02 };
    obol_error err;

    (void)state;
    assert_int_equal(unseal_status(ring, 1, &ctx, legacy, sizeof legacy, &err),
                     OBOL_OK);
    obol_keyring_free(ring);
}

static void unknown_format_byte_is_refused(void **state)
{
    static const uint8_t formats[] = { 0x00, 0x03, 0x04, 0x6e, 0x70, 0x80, 0xff };
    obol_keyring *ring = ring_with_raw_key(1, key_a);
    obol_seal_context ctx = default_context();
    size_t len;
    uint8_t *record = seal_with(ring, OBOL_SEAL_MAC, &ctx, PAYLOAD,
                                PAYLOAD_LEN, &len);

    (void)state;
    for (size_t i = 0; i < sizeof formats; i++) {
        obol_error err = { 0, "" };

        record[0] = formats[i];
        assert_int_equal(unseal_status(ring, 1, &ctx, record, len, &err),
                         OBOL_ERR_CORRUPT);
        assert_non_null(strstr(err.message, "format"));
    }
    free(record);
    obol_keyring_free(ring);
}

/* ------------------------------------------------------------ secrets */

/* A secret with a distinctive middle, to look for in messages. */
#define SECRET_VALUE "s3cr3t-MARKER-0123456789abcdef"
#define SECRET_MARKER "MARKER"

static char *write_file(const char *dir, const char *name, const void *data,
                        size_t len)
{
    char *path;
    FILE *f;

    assert_true(asprintf(&path, "%s/%s", dir, name) > 0);
    f = fopen(path, "wb");
    assert_non_null(f);
    assert_int_equal(fwrite(data, 1, len, f), len);
    assert_int_equal(fclose(f), 0);
    return path;
}

static void assert_secret_loads_as(const char *source, const char *expected)
{
    uint8_t *secret = NULL;
    size_t len = 0;
    obol_error err = { 0, "" };

    if (obol_secret_load(source, &secret, &len, &err) != OBOL_OK)
        fail_msg("%s: %s", source, err.message);
    assert_int_equal(len, strlen(expected));
    assert_memory_equal(secret, expected, len);
    sodium_free(secret);
}

static void assert_secret_refused(const char *source, int status,
                                  const char *named)
{
    uint8_t *secret = NULL;
    size_t len = 0;
    obol_error err = { 0, "" };

    assert_int_equal(obol_secret_load(source, &secret, &len, &err), status);
    assert_int_equal(err.status, status);
    assert_null(secret);
    assert_null(strstr(err.message, SECRET_MARKER));
    if (named != NULL && strstr(err.message, named) == NULL)
        fail_msg("%s: message '%s' does not name '%s'", source, err.message,
                 named);
}

static void secret_is_read_from_the_environment(void **state)
{
    (void)state;
    assert_int_equal(setenv("OBOL_TEST_SECRET", SECRET_VALUE, 1), 0);
    assert_secret_loads_as("env:OBOL_TEST_SECRET", SECRET_VALUE);
    unsetenv("OBOL_TEST_SECRET");
}

static void missing_or_empty_variable_is_a_key_error(void **state)
{
    (void)state;
    unsetenv("OBOL_TEST_NO_SUCH_SECRET");
    assert_secret_refused("env:OBOL_TEST_NO_SUCH_SECRET", OBOL_ERR_KEY,
                          "OBOL_TEST_NO_SUCH_SECRET");
    assert_int_equal(setenv("OBOL_TEST_EMPTY_SECRET", "", 1), 0);
    assert_secret_refused("env:OBOL_TEST_EMPTY_SECRET", OBOL_ERR_KEY,
                          "OBOL_TEST_EMPTY_SECRET");
    unsetenv("OBOL_TEST_EMPTY_SECRET");
}

static void secret_file_loses_its_trailing_newline(void **state)
{
    char *dir = tmpdir_make("seal");
    char *lf, *crlf, *source;

    (void)state;
    assert_non_null(dir);
    lf = write_file(dir, "lf", SECRET_VALUE "\n", sizeof SECRET_VALUE);
    crlf = write_file(dir, "crlf", SECRET_VALUE "\r\n", sizeof SECRET_VALUE + 1);
    assert_true(asprintf(&source, "file:%s", lf) > 0);
    assert_secret_loads_as(source, SECRET_VALUE);
    free(source);
    assert_true(asprintf(&source, "file:%s", crlf) > 0);
    assert_secret_loads_as(source, SECRET_VALUE);
    free(source);
    free(lf);
    free(crlf);
    tmpdir_remove(dir);
}

static void secret_file_keeps_inner_newlines_and_binary_bytes(void **state)
{
    static const char value[] = "line one\nline\0two\x01\xff end";
    char *dir = tmpdir_make("seal");
    char *path, *source;
    uint8_t *secret;
    size_t len;
    obol_error err;

    (void)state;
    assert_non_null(dir);
    path = write_file(dir, "bin", value, sizeof value - 1);
    assert_true(asprintf(&source, "file:%s", path) > 0);
    assert_int_equal(obol_secret_load(source, &secret, &len, &err), OBOL_OK);
    assert_int_equal(len, sizeof value - 1);
    assert_memory_equal(secret, value, len);
    sodium_free(secret);
    free(source);
    free(path);
    tmpdir_remove(dir);
}

static void missing_secret_file_is_a_key_error_naming_it(void **state)
{
    char *dir = tmpdir_make("seal");
    char *source;

    (void)state;
    assert_non_null(dir);
    assert_true(asprintf(&source, "file:%s/absent", dir) > 0);
    assert_secret_refused(source, OBOL_ERR_KEY, source + 5);
    free(source);
    tmpdir_remove(dir);
}

static void empty_secret_file_is_a_key_error(void **state)
{
    char *dir = tmpdir_make("seal");
    char *empty, *newline, *source;

    (void)state;
    assert_non_null(dir);
    empty = write_file(dir, "empty", "", 0);
    newline = write_file(dir, "newline", "\n", 1);
    assert_true(asprintf(&source, "file:%s", empty) > 0);
    assert_secret_refused(source, OBOL_ERR_KEY, empty);
    free(source);
    assert_true(asprintf(&source, "file:%s", newline) > 0);
    assert_secret_refused(source, OBOL_ERR_KEY, newline);
    free(source);
    free(empty);
    free(newline);
    tmpdir_remove(dir);
}

static void oversized_secret_file_is_refused_without_echoing_it(void **state)
{
    char *dir = tmpdir_make("seal");
    char big[5000];
    char *path, *source;

    (void)state;
    assert_non_null(dir);
    for (size_t i = 0; i + sizeof SECRET_VALUE <= sizeof big;
         i += sizeof SECRET_VALUE - 1)
        memcpy(big + i, SECRET_VALUE, sizeof SECRET_VALUE - 1);
    memset(big + sizeof big - 40, 'x', 40);
    path = write_file(dir, "big", big, sizeof big);
    assert_true(asprintf(&source, "file:%s", path) > 0);
    assert_secret_refused(source, OBOL_ERR_KEY, path);
    free(source);
    free(path);
    tmpdir_remove(dir);
}

static void secret_directory_is_a_key_error(void **state)
{
    char *dir = tmpdir_make("seal");
    char *source;

    (void)state;
    assert_non_null(dir);
    assert_true(asprintf(&source, "file:%s", dir) > 0);
    assert_secret_refused(source, OBOL_ERR_KEY, dir);
    free(source);
    tmpdir_remove(dir);
}

/* The short secret is loaded, then refused when it becomes the keyring's
 * base: either way with OBOL_ERR_KEY and never with its bytes in a message. */
static void too_short_secret_from_a_source_is_refused(void **state)
{
#define SHORT_VALUE "MARKER-short"
    static const char short_value[] = SHORT_VALUE;
    char *dir = tmpdir_make("seal");
    char *path, *sources[2];

    (void)state;
    assert_non_null(dir);
    path = write_file(dir, "short", SHORT_VALUE "\n", sizeof SHORT_VALUE);
    assert_true(asprintf(&sources[0], "file:%s", path) > 0);
    assert_int_equal(setenv("OBOL_TEST_SHORT_SECRET", short_value, 1), 0);
    sources[1] = strdup("env:OBOL_TEST_SHORT_SECRET");
    assert_non_null(sources[1]);
    for (size_t i = 0; i < 2; i++) {
        obol_keyring *ring = obol_keyring_new();
        obol_error err = { 0, "" };
        uint8_t *secret;
        size_t len;

        assert_int_equal(obol_secret_load(sources[i], &secret, &len, &err),
                         OBOL_OK);
        assert_int_equal(len, strlen(short_value));
        assert_int_equal(obol_keyring_set_secret(ring, secret, len, 1, &err),
                         OBOL_ERR_KEY);
        assert_null(strstr(err.message, SECRET_MARKER));
        assert_null(strstr(err.message, short_value));
        sodium_free(secret);
        obol_keyring_free(ring);
        free(sources[i]);
    }
    unsetenv("OBOL_TEST_SHORT_SECRET");
    free(path);
    tmpdir_remove(dir);
}

/* The keys a config string names, as a store loads them (lib/keys.c,
 * obol_keyring_load). */
static obol_keyring *ring_from_config(const char *text, int expected,
                                      obol_error *err)
{
    obol_keyring *ring = obol_keyring_new();
    obol_config config;
    obol_error parse_err;

    assert_non_null(ring);
    if (obol_config_parse(text, &config, &parse_err) != OBOL_OK)
        fail_msg("'%s' refused: %s", text, parse_err.message);
    assert_int_equal(obol_keyring_load(ring, &config, err), expected);
    obol_config_clear(&config);
    return ring;
}

static void config_keys_load_with_their_roles(void **state)
{
    obol_error err;
    obol_keyring *ring;

    (void)state;
    assert_int_equal(setenv("OBOL_TEST_NEW_SECRET", secret_one, 1), 0);
    assert_int_equal(setenv("OBOL_TEST_OLD_SECRET", "an old secret, 16+", 1), 0);
    ring = ring_from_config("memory:?secret=env:OBOL_TEST_NEW_SECRET&key_id=4"
                            "&old_key_ids=2,3&old_secrets=1:env:OBOL_TEST_OLD_SECRET",
                            OBOL_OK, &err);
    assert_int_equal(obol_keyring_role(ring, 4), OBOL_KEY_ROLE_SIGNING);
    assert_int_equal(obol_keyring_role(ring, 3), OBOL_KEY_ROLE_OLD);
    assert_int_equal(obol_keyring_role(ring, 2), OBOL_KEY_ROLE_OLD);
    assert_int_equal(obol_keyring_role(ring, 1), OBOL_KEY_ROLE_OLD);
    assert_int_equal(obol_keyring_role(ring, 0), OBOL_KEY_ROLE_UNKNOWN);
    assert_int_equal(obol_keyring_role(ring, 5), OBOL_KEY_ROLE_UNKNOWN);
    assert_int_equal(obol_keyring_ids(ring, NULL, 0), 4);
    obol_keyring_free(ring);
    unsetenv("OBOL_TEST_NEW_SECRET");
    unsetenv("OBOL_TEST_OLD_SECRET");
}

/* An old secret that cannot be loaded fails the store's opening, and the
 * message says which entry: a rotation half set up is not silently a
 * store that refuses its old records. */
static void unloadable_old_secret_is_a_key_error_naming_its_key_id(void **state)
{
    obol_error err = { 0, "" };
    obol_keyring *ring;

    (void)state;
    assert_int_equal(setenv("OBOL_TEST_NEW_SECRET", secret_one, 1), 0);
    assert_int_equal(setenv("OBOL_TEST_SHORT_OLD", "MARKER-15-bytes", 1), 0);
    unsetenv("OBOL_TEST_NO_SUCH_OLD");
    ring = ring_from_config("memory:?secret=env:OBOL_TEST_NEW_SECRET&key_id=4"
                            "&old_secrets=3:env:OBOL_TEST_NO_SUCH_OLD",
                            OBOL_ERR_KEY, &err);
    assert_non_null(strstr(err.message, "old_secrets: key id 3"));
    assert_non_null(strstr(err.message, "OBOL_TEST_NO_SUCH_OLD"));
    obol_keyring_free(ring);
    ring = ring_from_config("memory:?old_secrets=9:file:/nonexistent/obol-old",
                            OBOL_ERR_KEY, &err);
    assert_non_null(strstr(err.message, "old_secrets: key id 9"));
    assert_non_null(strstr(err.message, "/nonexistent/obol-old"));
    obol_keyring_free(ring);
    ring = ring_from_config("memory:?old_secrets=2:env:OBOL_TEST_SHORT_OLD",
                            OBOL_ERR_KEY, &err);
    assert_non_null(strstr(err.message, "old_secrets: key id 2"));
    assert_non_null(strstr(err.message, "15 bytes is too short"));
    assert_null(strstr(err.message, SECRET_MARKER));
    obol_keyring_free(ring);
    unsetenv("OBOL_TEST_NEW_SECRET");
    unsetenv("OBOL_TEST_SHORT_OLD");
}

static void secret_source_must_be_env_or_file(void **state)
{
    (void)state;
    assert_secret_refused(SECRET_VALUE, OBOL_ERR_INVALID, "env:NAME");
    assert_secret_refused("env:", OBOL_ERR_INVALID, NULL);
    assert_secret_refused("file:", OBOL_ERR_INVALID, NULL);
    assert_secret_refused("literal:" SECRET_VALUE, OBOL_ERR_INVALID, NULL);
}

/* Every message a failed unseal can give, under a secret-derived ring,
 * is free of the secret. */
static void unseal_messages_never_contain_the_secret(void **state)
{
    static const char secret[] = "MARKER-secret-for-unseal-messages";
    obol_keyring *ring = ring_with_secret(secret, 3);
    obol_seal_context ctx = default_context();
    obol_seal_context other = context_of("obol", "bob", "full", "sid-1");
    size_t len;
    uint8_t *record = seal_with(ring, OBOL_SEAL_AEAD, &ctx, PAYLOAD,
                                PAYLOAD_LEN, &len);
    obol_error err = { 0, "" };

    (void)state;
    assert_int_equal(unseal_status(ring, 0, &other, record, len, &err),
                     OBOL_ERR_CORRUPT);
    assert_null(strstr(err.message, SECRET_MARKER));
    assert_int_equal(unseal_status(ring, 0, &ctx, record, 10, &err),
                     OBOL_ERR_CORRUPT);
    assert_null(strstr(err.message, SECRET_MARKER));
    record[len - 1] ^= 1;
    assert_int_equal(unseal_status(ring, 0, &ctx, record, len, &err),
                     OBOL_ERR_CORRUPT);
    assert_null(strstr(err.message, SECRET_MARKER));
    free(record);
    obol_keyring_free(ring);
}

/* The MAC as docs/FORMAT.md defines it, computed here from its parts:
 * keyed BLAKE2b-256 of format || key id || each context part with its
 * 64-bit little-endian length || the body. */
static void documented_mac(const uint8_t mac_key[OBOL_KEY_BYTES],
                           const obol_seal_context *ctx,
                           const uint8_t *record, size_t len,
                           uint8_t mac[OBOL_MAC_BYTES])
{
    const obol_bytes parts[4] = { ctx->prefix, ctx->user_id, ctx->type,
                                  ctx->id };
    crypto_generichash_state h;

    crypto_generichash_init(&h, mac_key, OBOL_KEY_BYTES, OBOL_MAC_BYTES);
    crypto_generichash_update(&h, record, 5);
    for (int k = 0; k < 4; k++) {
        uint8_t n[8];

        for (int i = 0; i < 8; i++)
            n[i] = (uint8_t)((uint64_t)parts[k].len >> (8 * i));
        crypto_generichash_update(&h, n, sizeof n);
        crypto_generichash_update(&h, parts[k].data, parts[k].len);
    }
    crypto_generichash_update(&h, record + OBOL_SEAL_HEADER_BYTES,
                              len - OBOL_SEAL_HEADER_BYTES);
    crypto_generichash_final(&h, mac, OBOL_MAC_BYTES);
}

/* Seals of short contexts and of long ones (the seal gathers a short
 * header before absorbing it, and absorbs a long one part by part) carry
 * the documented MAC, and verify. */
static void seal_mac_is_the_documented_one_for_any_context(void **state)
{
    /* 5 + 4 * 8 + 13 bytes of prefix, user and type: ids up to 334 bytes
     * are gathered (GATHERED_HEADER_BYTES in seal.c is 384). */
    static const size_t id_lens[] = { 1, 22, 300, 333, 334, 335, 336, 1024 };
    obol_keyring *ring = ring_with_raw_key(3, key_a);
    obol_key key;
    char *id = malloc(1025);
    (void)state;

    assert_non_null(id);
    assert_int_equal(obol_keyring_verify_key(ring, 3, &key), OBOL_OK);
    for (size_t k = 0; k < sizeof id_lens / sizeof id_lens[0]; k++) {
        obol_seal_context ctx;
        uint8_t mac[OBOL_MAC_BYTES];
        uint8_t *record;
        size_t len;

        memset(id, 'i', id_lens[k]);
        id[id_lens[k]] = '\0';
        ctx = context_of("obol", "alice", "full", id);
        record = seal_with(ring, OBOL_SEAL_MAC, &ctx, PAYLOAD, PAYLOAD_LEN,
                           &len);
        documented_mac(key.mac, &ctx, record, len, mac);
        assert_memory_equal(record + 5, mac, sizeof mac);
        assert_unseals_to_payload(ring, &ctx, record, len, PAYLOAD,
                                  PAYLOAD_LEN);
        free(record);
    }
    sodium_memzero(&key, sizeof key);
    free(id);
    obol_keyring_free(ring);
}

/* The state the keyring prepares for a key (keys.c) gives the MAC a
 * keyed BLAKE2b-256 of the key's MAC
 * half gives, at every length around the block boundaries, and after the
 * key is replaced and the ring grows. */
static void prepared_mac_state_is_keyed_blake2b(void **state)
{
    obol_keyring *ring = ring_with_raw_key(7, key_a);
    uint8_t msg[700];
    obol_error err;
    (void)state;

    for (size_t i = 0; i < sizeof msg; i++)
        msg[i] = (uint8_t)(i * 29 + 3);
    for (int round = 0; round < 2; round++) {
        obol_key key;

        assert_int_equal(obol_keyring_verify_key(ring, 7, &key), OBOL_OK);
        for (size_t len = 1; len <= sizeof msg; len++) {
            crypto_generichash_state prepared;
            uint8_t got[OBOL_MAC_BYTES], want[OBOL_MAC_BYTES];

            assert_int_equal(obol_keyring_mac_state(ring, 7, &prepared, NULL),
                             OBOL_OK);
            crypto_generichash_update(&prepared, msg, len);
            crypto_generichash_final(&prepared, got, sizeof got);
            crypto_generichash(want, sizeof want, msg, len, key.mac,
                               OBOL_KEY_BYTES);
            assert_memory_equal(got, want, sizeof got);
        }
        /* Replaced under its id, with four more keys after it. */
        assert_int_equal(obol_keyring_add(ring, 7, key_b, 1, &err), OBOL_OK);
        for (uint32_t id = 20; id < 24; id++)
            assert_int_equal(obol_keyring_add(ring, id, key_a, 0, &err),
                             OBOL_OK);
    }
    obol_keyring_free(ring);
}

static void mac_state_of_an_unknown_key_id_is_a_key_error(void **state)
{
    obol_keyring *ring = ring_with_raw_key(1, key_a);
    crypto_generichash_state prepared;
    (void)state;

    assert_int_equal(obol_keyring_mac_state(ring, 2, &prepared, NULL),
                     OBOL_ERR_KEY);
    obol_keyring_free(ring);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(mac_record_round_trips),
        cmocka_unit_test(aead_record_round_trips),
        cmocka_unit_test(empty_payload_round_trips_in_both_modes),
        cmocka_unit_test(aead_record_does_not_contain_the_plaintext),
        cmocka_unit_test(aead_records_of_one_payload_differ),
        cmocka_unit_test(every_single_byte_change_is_refused),
        cmocka_unit_test(every_truncation_is_refused),
        cmocka_unit_test(appended_bytes_are_refused),
        cmocka_unit_test(empty_record_is_refused),
        cmocka_unit_test(record_is_bound_to_its_prefix),
        cmocka_unit_test(record_is_bound_to_its_user),
        cmocka_unit_test(record_is_bound_to_its_type),
        cmocka_unit_test(record_is_bound_to_its_session_id),
        cmocka_unit_test(part_boundaries_are_bound),
        cmocka_unit_test(binary_parts_are_bound_in_full),
        cmocka_unit_test(record_under_another_key_is_refused),
        cmocka_unit_test(record_of_unknown_key_id_is_refused),
        cmocka_unit_test(empty_keyring_cannot_sign_or_verify),
        cmocka_unit_test(verify_only_key_does_not_sign),
        cmocka_unit_test(old_key_verifies_after_rotation),
        cmocka_unit_test(replaced_key_no_longer_verifies_old_records),
        cmocka_unit_test(many_keys_all_keep_verifying),
        cmocka_unit_test(secret_verifies_only_the_key_ids_given),
        cmocka_unit_test(derived_old_key_does_not_sign),
        cmocka_unit_test(keys_of_another_secret_do_not_verify),
        cmocka_unit_test(derived_keys_differ_per_key_id),
        cmocka_unit_test(rewritten_key_id_is_refused_with_derived_keys),
        cmocka_unit_test(short_secret_is_refused_as_key_error),
        cmocka_unit_test(old_secret_may_be_as_short_as_sixteen_bytes),
        cmocka_unit_test(unsigned_record_needs_allow_unsigned),
        cmocka_unit_test(unsigned_record_is_read_even_without_keys),
        cmocka_unit_test(unknown_format_byte_is_refused),
        cmocka_unit_test(secret_is_read_from_the_environment),
        cmocka_unit_test(missing_or_empty_variable_is_a_key_error),
        cmocka_unit_test(secret_file_loses_its_trailing_newline),
        cmocka_unit_test(secret_file_keeps_inner_newlines_and_binary_bytes),
        cmocka_unit_test(missing_secret_file_is_a_key_error_naming_it),
        cmocka_unit_test(empty_secret_file_is_a_key_error),
        cmocka_unit_test(oversized_secret_file_is_refused_without_echoing_it),
        cmocka_unit_test(secret_directory_is_a_key_error),
        cmocka_unit_test(too_short_secret_from_a_source_is_refused),
        cmocka_unit_test(config_keys_load_with_their_roles),
        cmocka_unit_test(unloadable_old_secret_is_a_key_error_naming_its_key_id),
        cmocka_unit_test(secret_source_must_be_env_or_file),
        cmocka_unit_test(unseal_messages_never_contain_the_secret),
        cmocka_unit_test(seal_mac_is_the_documented_one_for_any_context),
        cmocka_unit_test(prepared_mac_state_is_keyed_blake2b),
        cmocka_unit_test(mac_state_of_an_unknown_key_id_is_a_key_error),
    };

    return cmocka_run_group_tests_name("seal", tests, NULL, NULL);
}

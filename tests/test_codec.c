/*
 * The session codec against its specification (docs/FORMAT.md, "Session
 * encoding"). Inputs the codec must refuse are built by hand with the small
 * writer below, independent of the codec's own encoder, so that a bug in the
 * encoder cannot hide the same bug in the decoder.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "codec_internal.h"
#include "session_assert.h"

/* ----------------------------------------------------------- test writer */

typedef struct record {
    uint8_t bytes[1024];
    size_t len;
} record;

static void put_byte(record *r, uint8_t b)
{
    assert_true(r->len < sizeof r->bytes);
    r->bytes[r->len++] = b;
}

static void put_varint(record *r, uint64_t v)
{
    do {
        uint8_t b = v & 0x7f;
        v >>= 7;
        put_byte(r, (uint8_t)(b | (v ? 0x80 : 0)));
    } while (v);
}

static void put_raw(record *r, const void *data, size_t len)
{
    assert_true(r->len + len <= sizeof r->bytes);
    memcpy(r->bytes + r->len, data, len);
    r->len += len;
}

static void put_header(record *r, uint64_t version)
{
    r->len = 0;
    put_byte(r, 0x6f);
    put_varint(r, version);
}

static void put_bytes(record *r, uint64_t field, const void *data, size_t len)
{
    put_varint(r, field << 3 | 2);
    put_varint(r, len);
    put_raw(r, data, len);
}

static void put_str(record *r, uint64_t field, const char *s)
{
    put_bytes(r, field, s, strlen(s));
}

static void put_uint(record *r, uint64_t field, uint64_t v)
{
    put_varint(r, field << 3 | 0);
    put_varint(r, v);
}

static void put_int(record *r, uint64_t field, int64_t v)
{
    put_uint(r, field, v < 0 ? 2 * (uint64_t)(-(v + 1)) + 1 : 2 * (uint64_t)v);
}

/* A valid v2 record, built field by field so that a test can leave fields
 * out (a mask of BIT(field)) or add its own. */
#define BIT(field) (1u << (field))
enum { ALL = 0 };

static void put_v2_field(record *r, unsigned field)
{
    static const int64_t times[] = {1000, 5000, 4000, 2000, 2000, 1000};

    switch (field) {
    case 1: put_str(r, 1, "sid-1"); break;
    case 2: put_str(r, 2, "user-7"); break;
    case 3: put_str(r, 3, "oauth2"); break;
    case 4: put_str(r, 4, "rt-1"); break;
    case 11: put_uint(r, 11, 3); break;
    default: put_int(r, field, times[field - 5]); break;
    }
}

static void put_v2_fields(record *r, unsigned omit_mask)
{
    unsigned field;
    for (field = 1; field <= 11; field++)
        if (!(omit_mask & BIT(field)))
            put_v2_field(r, field);
}

static void build_v2(record *r, unsigned omit_mask)
{
    put_header(r, 2);
    put_v2_fields(r, omit_mask);
}

/* ---------------------------------------------------------------- helpers */

static char *dup_str(const char *s)
{
    char *copy = malloc(strlen(s) + 1);
    assert_non_null(copy);
    strcpy(copy, s);
    return copy;
}

static obol_session *make_session(void)
{
    obol_session *s = calloc(1, sizeof *s);
    assert_non_null(s);
    s->id = dup_str("Zm9vYmFyYmF6cXV4cXV1eA");
    s->user_id = dup_str("user@example.org");
    s->type = dup_str("full");
    s->refresh_token_id = dup_str("cmVmcmVzaC10b2tlbi0x");
    s->created_at = 1700000000;
    s->expires_at = 1700000000 + 30 * 86400;
    s->refresh_expires_at = 1700000000 + 86400;
    s->refreshed_at = 1700000000;
    s->tokens_fresh_from = 1700000000;
    s->prev_tokens_fresh_from = 1699990000;
    s->lock_version = 4;
    s->version = OBOL_SESSION_VERSION;
    return s;
}

static void set_payload(obol_session *s, const void *data, size_t len)
{
    free(s->extra_payload);
    s->extra_payload = malloc(len);
    assert_non_null(s->extra_payload);
    memcpy(s->extra_payload, data, len);
    s->extra_payload_len = len;
}

static size_t encode(const obol_session *s, record *r)
{
    size_t len = 0;
    assert_int_equal(obol_codec_encode(s, r->bytes, sizeof r->bytes, &len),
                     OBOL_OK);
    assert_int_equal(len, obol_codec_encoded_size(s));
    r->len = len;
    return len;
}

static obol_session *decode_ok(const record *r)
{
    obol_session *s = NULL;
    char why[128];
    int rc = obol_codec_decode(r->bytes, r->len, &s, why, sizeof why);
    if (rc != OBOL_OK)
        fail_msg("decode failed (%d): %s", rc, why);
    assert_non_null(s);
    return s;
}

/* Decodes r expecting refusal; why must mention `reason`. */
static void assert_corrupt(const uint8_t *bytes, size_t len,
                           const char *reason)
{
    obol_session *s = (obol_session *)&s; /* must be reset to NULL */
    char why[128];
    int rc = obol_codec_decode(bytes, len, &s, why, sizeof why);
    if (rc != OBOL_ERR_CORRUPT)
        fail_msg("expected OBOL_ERR_CORRUPT, got %d", rc);
    assert_null(s);
    assert_true(why[0] != '\0');
    if (reason && !strstr(why, reason))
        fail_msg("why \"%s\" does not mention \"%s\"", why, reason);
}

static void assert_record_corrupt(const record *r, const char *reason)
{
    assert_corrupt(r->bytes, r->len, reason);
}

static obol_session *round_trip(const obol_session *s)
{
    record r;
    obol_session *back;

    encode(s, &r);
    back = decode_ok(&r);
    assert_sessions_equal(s, back);
    assert_int_equal(back->version, OBOL_SESSION_VERSION);
    return back;
}

/* ------------------------------------------------------------ round trips */

static void round_trip_preserves_every_field(void **state)
{
    obol_session *s = make_session();
    (void)state;
    set_payload(s, "{\"role\":\"admin\"}", 16);
    obol_session_free(round_trip(s));
    obol_session_free(s);
}

/* Field 13: the refresh token id a refresh rotated away, optional. */
static void round_trip_keeps_the_previous_refresh_token_id(void **state)
{
    obol_session *s = make_session(), *back;
    (void)state;
    assert_null(s->prev_refresh_token_id);
    obol_session_free(round_trip(s));
    s->prev_refresh_token_id = malloc(sizeof "rotated-away");
    memcpy(s->prev_refresh_token_id, "rotated-away", sizeof "rotated-away");
    back = round_trip(s);
    assert_string_equal(back->prev_refresh_token_id, "rotated-away");
    obol_session_free(back);
    obol_session_free(s);
}

static void previous_refresh_token_id_is_absent_from_older_records(void **state)
{
    record r;
    obol_session *s;
    (void)state;
    put_header(&r, 2);
    put_v2_fields(&r, ALL);
    s = decode_ok(&r);
    assert_null(s->prev_refresh_token_id);
    obol_session_free(s);
}

static void previous_refresh_token_id_must_be_bytes_once(void **state)
{
    record r;
    (void)state;
    put_header(&r, 2);
    put_v2_fields(&r, ALL);
    put_uint(&r, 13, 1);
    assert_record_corrupt(&r, "field 13: wire type 0, expected 2");
    put_header(&r, 2);
    put_v2_fields(&r, ALL);
    put_bytes(&r, 13, "a", 1);
    put_bytes(&r, 13, "b", 1);
    assert_record_corrupt(&r, "field 13: duplicated");
}

static void round_trip_keeps_binary_payload_with_nul_bytes(void **state)
{
    obol_session *s = make_session();
    uint8_t payload[256];
    size_t i;
    (void)state;
    for (i = 0; i < sizeof payload; i++)
        payload[i] = (uint8_t)(255 - i); /* every byte value, 0 included */
    set_payload(s, payload, sizeof payload);
    obol_session_free(round_trip(s));
    obol_session_free(s);
}

static void round_trip_keeps_infinite_expiry(void **state)
{
    obol_session *s = make_session();
    (void)state;
    s->expires_at = OBOL_INFINITE;
    s->refresh_expires_at = OBOL_INFINITE;
    obol_session_free(round_trip(s));
    obol_session_free(s);
}

static void round_trip_keeps_negative_times(void **state)
{
    obol_session *s = make_session();
    (void)state;
    s->created_at = INT64_MIN;
    s->refreshed_at = -1;
    s->tokens_fresh_from = -64;
    s->prev_tokens_fresh_from = -65;
    s->refresh_expires_at = -3;
    s->expires_at = -2;
    obol_session_free(round_trip(s));
    obol_session_free(s);
}

static void round_trip_keeps_max_lock_version(void **state)
{
    obol_session *s = make_session();
    (void)state;
    s->lock_version = UINT64_MAX;
    obol_session_free(round_trip(s));
    obol_session_free(s);
}

static void round_trip_keeps_non_ascii_strings(void **state)
{
    obol_session *s = make_session();
    (void)state;
    free(s->user_id);
    s->user_id = dup_str("\xff\x01 j\xc3\xbcrgen \x7f");
    free(s->type);
    s->type = dup_str("");
    obol_session_free(round_trip(s));
    obol_session_free(s);
}

static void round_trip_without_payload_gives_null_payload(void **state)
{
    obol_session *s = make_session();
    obol_session *back;
    (void)state;
    back = round_trip(s);
    assert_null(back->extra_payload);
    assert_int_equal(back->extra_payload_len, 0);
    obol_session_free(back);
    obol_session_free(s);
}

/* ------------------------------------------------------------------ encode */

/* The example in docs/FORMAT.md, byte for byte. */
static void encode_matches_the_documented_example(void **state)
{
    static const uint8_t expected[] = {
        0x6f, 0x02,
        0x0a, 0x02, 's', '1',
        0x12, 0x02, 'u', '1',
        0x1a, 0x04, 'f', 'u', 'l', 'l',
        0x22, 0x02, 'r', '1',
        0x28, 0xd0, 0x0f,
        0x30, 0xfe, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01,
        0x38, 0xa0, 0x1f,
        0x40, 0xd0, 0x0f,
        0x48, 0xd0, 0x0f,
        0x50, 0x01,
        0x58, 0x07,
        0x62, 0x03, 0x00, 0x01, 0x02,
    };
    obol_session s = {0};
    record r;
    (void)state;
    s.id = "s1";
    s.user_id = "u1";
    s.type = "full";
    s.refresh_token_id = "r1";
    s.created_at = 1000;
    s.expires_at = OBOL_INFINITE;
    s.refresh_expires_at = 2000;
    s.refreshed_at = 1000;
    s.tokens_fresh_from = 1000;
    s.prev_tokens_fresh_from = -1;
    s.lock_version = 7;
    s.extra_payload = (uint8_t *)"\x00\x01\x02";
    s.extra_payload_len = 3;
    encode(&s, &r);
    assert_int_equal(r.len, sizeof expected);
    assert_memory_equal(r.bytes, expected, sizeof expected);
}

static void encode_is_deterministic(void **state)
{
    obol_session *a = make_session(), *b = make_session();
    record ra, rb, again;
    (void)state;
    set_payload(a, "payload", 7);
    set_payload(b, "payload", 7);
    b->version = 1; /* the in-memory version never changes the output */
    encode(a, &ra);
    encode(a, &again);
    encode(b, &rb);
    assert_int_equal(ra.len, again.len);
    assert_memory_equal(ra.bytes, again.bytes, ra.len);
    assert_int_equal(ra.len, rb.len);
    assert_memory_equal(ra.bytes, rb.bytes, ra.len);
    obol_session_free(a);
    obol_session_free(b);
}

static void encode_omits_empty_payload(void **state)
{
    obol_session *s = make_session();
    record with, without;
    (void)state;
    encode(s, &without);
    set_payload(s, "x", 1);
    encode(s, &with);
    assert_int_equal(with.len, without.len + 3); /* tag, length, byte */
    obol_session_free(s);
}

static void encode_refuses_missing_strings(void **state)
{
    obol_session *s = make_session();
    char **slots[] = {&s->id, &s->user_id, &s->type, &s->refresh_token_id};
    uint8_t buf[512];
    size_t i, len = 0;
    (void)state;
    for (i = 0; i < sizeof slots / sizeof slots[0]; i++) {
        char *saved = *slots[i];
        *slots[i] = NULL;
        assert_int_equal(obol_codec_encode(s, buf, sizeof buf, &len),
                         OBOL_ERR_INVALID);
        *slots[i] = saved;
    }
    assert_int_equal(obol_codec_encode(NULL, buf, sizeof buf, &len),
                     OBOL_ERR_INVALID);
    obol_session_free(s);
}

static void encode_refuses_what_decode_would_refuse(void **state)
{
    obol_session *s = make_session();
    uint8_t buf[512];
    size_t len = 0;
    char *saved = s->id;
    (void)state;
    s->id = "";
    assert_int_equal(obol_codec_encode(s, buf, sizeof buf, &len),
                     OBOL_ERR_INVALID);
    s->id = saved;
    s->refresh_expires_at = s->expires_at + 1;
    assert_int_equal(obol_codec_encode(s, buf, sizeof buf, &len),
                     OBOL_ERR_INVALID);
    obol_session_free(s);
}

static void encode_refuses_too_small_buffer(void **state)
{
    obol_session *s = make_session();
    uint8_t buf[512];
    size_t need, cap, len = 12345;
    (void)state;
    set_payload(s, "abc", 3);
    need = obol_codec_encoded_size(s);
    assert_true(need <= sizeof buf);
    for (cap = 0; cap < need; cap++) {
        memset(buf, 0xaa, sizeof buf);
        assert_int_equal(obol_codec_encode(s, buf, cap, &len),
                         OBOL_ERR_INVALID);
        assert_int_equal(buf[0], 0xaa); /* nothing written */
    }
    assert_int_equal(obol_codec_encode(s, buf, need, &len), OBOL_OK);
    assert_int_equal(len, need);
    obol_session_free(s);
}

/* ---------------------------------------------------------------- versions */

static void decode_upgrades_v1_record(void **state)
{
    record r;
    obol_session *s;
    (void)state;
    put_header(&r, 1);
    put_str(&r, 1, "old-sid");
    put_str(&r, 2, "old-user");
    put_str(&r, 4, "old-rt");
    put_int(&r, 5, 100);
    put_int(&r, 6, 900);
    put_int(&r, 7, 800);
    put_int(&r, 8, 300);
    put_uint(&r, 11, 2);
    put_bytes(&r, 12, "p\0q", 3);
    s = decode_ok(&r);
    assert_string_equal(s->id, "old-sid");
    assert_string_equal(s->user_id, "old-user");
    assert_string_equal(s->type, "full");
    assert_string_equal(s->refresh_token_id, "old-rt");
    assert_true(s->created_at == 100);
    assert_true(s->expires_at == 900);
    assert_true(s->refresh_expires_at == 800);
    assert_true(s->refreshed_at == 300);
    assert_true(s->tokens_fresh_from == 300);
    assert_true(s->prev_tokens_fresh_from == 100);
    assert_true(s->lock_version == 2);
    assert_int_equal(s->extra_payload_len, 3);
    assert_memory_equal(s->extra_payload, "p\0q", 3);
    assert_int_equal(s->version, OBOL_SESSION_VERSION);
    obol_session_free(s);
}

static void decode_v1_ignores_fields_v1_did_not_define(void **state)
{
    record r;
    obol_session *s;
    (void)state;
    put_header(&r, 1);
    put_str(&r, 1, "old-sid");
    put_str(&r, 2, "old-user");
    put_str(&r, 3, "oauth2");
    put_str(&r, 4, "old-rt");
    put_int(&r, 5, 100);
    put_int(&r, 6, 900);
    put_int(&r, 7, 800);
    put_int(&r, 8, 300);
    put_int(&r, 9, 55);
    put_int(&r, 10, 66);
    put_uint(&r, 11, 0);
    s = decode_ok(&r);
    assert_string_equal(s->type, "full");
    assert_true(s->tokens_fresh_from == 300);
    assert_true(s->prev_tokens_fresh_from == 100);
    obol_session_free(s);
}

static void decode_rejects_version_3(void **state)
{
    record r;
    (void)state;
    build_v2(&r, ALL);
    r.bytes[1] = 3;
    assert_record_corrupt(&r, "unsupported version 3");
}

static void decode_rejects_version_0(void **state)
{
    record r;
    (void)state;
    build_v2(&r, ALL);
    r.bytes[1] = 0;
    assert_record_corrupt(&r, "unsupported version 0");
}

static void decode_rejects_wrong_magic(void **state)
{
    record r;
    (void)state;
    build_v2(&r, ALL);
    r.bytes[0] = 0x01; /* what a sealed record might start with */
    assert_record_corrupt(&r, "magic");
}

static void decode_rejects_empty_input(void **state)
{
    (void)state;
    assert_corrupt((const uint8_t *)"", 0, "empty");
    assert_corrupt(NULL, 0, "empty");
}

/* ------------------------------------------------------ forward compatible */

static void decode_skips_unknown_varint_field(void **state)
{
    record r;
    obol_session *s;
    (void)state;
    put_header(&r, 2);
    put_uint(&r, 14, UINT64_MAX);
    put_v2_fields(&r, ALL);
    put_uint(&r, 99, 5);
    put_uint(&r, 99, 6); /* unknown fields may repeat */
    put_uint(&r, (UINT64_C(1) << 61) - 1, 1);
    s = decode_ok(&r);
    assert_string_equal(s->id, "sid-1");
    assert_true(s->lock_version == 3);
    obol_session_free(s);
}

static void decode_skips_unknown_length_delimited_field(void **state)
{
    record r;
    obol_session *s;
    uint8_t blob[300];
    (void)state;
    memset(blob, 0, sizeof blob);
    put_header(&r, 2);
    put_bytes(&r, 40, blob, sizeof blob);
    put_v2_fields(&r, ALL);
    put_bytes(&r, 15, "", 0);
    put_bytes(&r, 14, "\x01\x02\x03", 3);
    s = decode_ok(&r);
    assert_string_equal(s->type, "oauth2");
    assert_true(s->refresh_expires_at == 4000);
    obol_session_free(s);
}

static void decode_accepts_fields_in_any_order(void **state)
{
    record r;
    obol_session *s;
    unsigned field;
    (void)state;
    put_header(&r, 2);
    for (field = 11; field >= 1; field--)
        put_v2_field(&r, field);
    s = decode_ok(&r);
    assert_string_equal(s->id, "sid-1");
    assert_string_equal(s->type, "oauth2");
    assert_true(s->expires_at == 5000);
    assert_true(s->lock_version == 3);
    obol_session_free(s);
}

static void decode_accepts_non_minimal_varint(void **state)
{
    static const uint8_t lock_version_5[] = {0xd8, 0x00, 0x85, 0x80, 0x00};
    record r;
    obol_session *s;
    (void)state;
    build_v2(&r, BIT(11));
    put_raw(&r, lock_version_5, sizeof lock_version_5); /* tag and value
                                                           padded */
    s = decode_ok(&r);
    assert_true(s->lock_version == 5);
    obol_session_free(s);
}

/* Every varint length, 1 to 10 bytes, at the end of the input and with
 * more bytes after it: the reader takes up to eight bytes at a time where
 * that many are there, and byte by byte where they are not. */
static void decode_reads_every_varint_length_wherever_it_ends(void **state)
{
    (void)state;
    for (unsigned bits = 0; bits <= 64; bits++) {
        uint64_t value = bits == 64 ? UINT64_MAX
                                    : (bits == 0 ? 0 : (1ULL << bits) - 1);
        for (int trailing = 0; trailing < 2; trailing++) {
            record r;
            obol_session *s;

            build_v2(&r, BIT(11));
            put_uint(&r, 11, value);
            if (trailing)   /* an unknown field of ten bytes after it */
                put_bytes(&r, 50, "0123456789", 10);
            s = decode_ok(&r);
            assert_true(s->lock_version == value);
            obol_session_free(s);
        }
    }
}

/* ------------------------------------------------------------- corruption */

static void decode_rejects_unknown_wire_type(void **state)
{
    unsigned wire;
    (void)state;
    for (wire = 0; wire < 8; wire++) {
        record r;
        if (wire == 0 || wire == 2)
            continue;
        build_v2(&r, ALL);
        put_varint(&r, 50 << 3 | wire);
        put_byte(&r, 0);
        assert_record_corrupt(&r, "unknown wire type");
    }
}

static void decode_rejects_every_truncation(void **state)
{
    obol_session *s = make_session();
    record r;
    size_t cut, without_payload;
    (void)state;
    without_payload = encode(s, &r);
    for (cut = 0; cut < r.len; cut++)
        assert_corrupt(r.bytes, cut, NULL);

    /* With a payload, the one undetectable cut is the one that drops the
     * whole trailing payload field: it leaves a valid record (the seal's
     * MAC is what catches that). Every other prefix is refused. */
    set_payload(s, "\x00payload\x00", 9);
    encode(s, &r);
    for (cut = 0; cut < r.len; cut++) {
        record prefix = r;
        obol_session *out;
        prefix.len = cut;
        if (cut != without_payload) {
            assert_record_corrupt(&prefix, NULL);
            continue;
        }
        out = decode_ok(&prefix);
        assert_null(out->extra_payload);
        obol_session_free(out);
    }
    obol_session_free(s);
}

static void decode_rejects_length_beyond_input(void **state)
{
    record r;
    (void)state;
    build_v2(&r, BIT(2));
    put_varint(&r, 2 << 3 | 2);
    put_varint(&r, 900);
    put_raw(&r, "only-twelve!", 12);
    assert_record_corrupt(&r, "field 2: length 900 exceeds the 12 bytes left");
}

static void decode_rejects_huge_length_claims(void **state)
{
    static const uint64_t claims[] = {
        UINT64_C(1) << 31, UINT64_C(1) << 32, UINT64_C(1) << 62,
        UINT64_MAX / 2, UINT64_MAX - 1, UINT64_MAX,
    };
    unsigned fields[] = {1, 3, 12, 77};
    size_t i, f;
    (void)state;
    /* The length is checked against the input before any malloc, so these
     * are CORRUPT at once, never NOMEM (valgrind would also flag the
     * allocation). */
    for (f = 0; f < sizeof fields / sizeof fields[0]; f++) {
        for (i = 0; i < sizeof claims / sizeof claims[0]; i++) {
            record r;
            put_header(&r, 2);
            put_varint(&r, (uint64_t)fields[f] << 3 | 2);
            put_varint(&r, claims[i]);
            put_raw(&r, "abc", 3);
            assert_record_corrupt(&r, "exceeds the 3 bytes left");
        }
    }
}

static void decode_rejects_overlong_varint(void **state)
{
    record r;
    int i;
    (void)state;
    build_v2(&r, BIT(11));
    put_byte(&r, 0x58); /* lock_version in 11 bytes */
    for (i = 0; i < 10; i++)
        put_byte(&r, 0x80);
    put_byte(&r, 0x00);
    assert_record_corrupt(&r, "longer than 10 bytes");
}

static void decode_rejects_varint_overflowing_64_bits(void **state)
{
    record r;
    int i;
    (void)state;
    build_v2(&r, BIT(11));
    put_byte(&r, 0x58);
    for (i = 0; i < 9; i++)
        put_byte(&r, 0xff);
    put_byte(&r, 0x02); /* bit 64 */
    assert_record_corrupt(&r, "overflows 64 bits");
}

static void decode_rejects_overlong_tag_and_version(void **state)
{
    static const uint8_t long_version[] = {
        0x6f, 0x82, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x00};
    record r;
    int i;
    (void)state;
    assert_corrupt(long_version, sizeof long_version, "version");
    build_v2(&r, ALL);
    for (i = 0; i < 11; i++)
        put_byte(&r, 0xff);
    assert_record_corrupt(&r, "tag");
}

static void decode_rejects_duplicate_field(void **state)
{
    unsigned field;
    (void)state;
    for (field = 1; field <= 12; field++) {
        record r;
        char reason[32];
        build_v2(&r, ALL);
        if (field == 12)
            put_str(&r, 12, "first");
        if (field <= 4 || field == 12)
            put_str(&r, field, "again");
        else
            put_uint(&r, field, 1);
        snprintf(reason, sizeof reason, "field %u: duplicated", field);
        assert_record_corrupt(&r, reason);
    }
}

static void decode_rejects_missing_required_field(void **state)
{
    unsigned field;
    (void)state;
    for (field = 1; field <= 11; field++) {
        record r;
        char reason[32];
        build_v2(&r, BIT(field));
        snprintf(reason, sizeof reason, "field %u: missing", field);
        assert_record_corrupt(&r, reason);
    }
}

static void decode_rejects_v1_record_without_user_id(void **state)
{
    record r;
    (void)state;
    put_header(&r, 1);
    put_str(&r, 1, "sid");
    put_str(&r, 3, "full"); /* not a v1 field: does not count */
    put_str(&r, 4, "rt");
    assert_record_corrupt(&r, "field 2: missing");
}

static void decode_rejects_empty_id_and_user_id(void **state)
{
    record r;
    (void)state;
    put_header(&r, 2);
    put_str(&r, 1, "");
    put_v2_fields(&r, BIT(1));
    assert_record_corrupt(&r, "empty id");
    put_header(&r, 2);
    put_str(&r, 2, "");
    put_v2_fields(&r, BIT(2));
    assert_record_corrupt(&r, "empty user_id");
}

static void decode_rejects_nul_in_strings(void **state)
{
    unsigned field;
    (void)state;
    for (field = 1; field <= 4; field++) {
        record r;
        put_header(&r, 2);
        put_bytes(&r, field, "ab\0cd", 5);
        put_v2_fields(&r, BIT(field));
        assert_record_corrupt(&r, "NUL");
        put_header(&r, 2);
        put_bytes(&r, field, "\0", 1);
        put_v2_fields(&r, BIT(field));
        assert_record_corrupt(&r, "NUL");
    }
}

static void decode_rejects_refresh_after_expiry(void **state)
{
    record r;
    (void)state;
    build_v2(&r, BIT(6) | BIT(7));
    put_int(&r, 6, 100);
    put_int(&r, 7, 101);
    assert_record_corrupt(&r, "refresh_expires_at 101 is after expires_at 100");
}

static void decode_rejects_wrong_wire_type_for_known_field(void **state)
{
    unsigned field;
    (void)state;
    for (field = 1; field <= 12; field++) {
        record r;
        char reason[48];
        put_header(&r, 2);
        if (field <= 4 || field == 12)
            put_uint(&r, field, 1);
        else
            put_bytes(&r, field, "\x01", 1);
        put_v2_fields(&r, BIT(field));
        snprintf(reason, sizeof reason, "field %u: wire type", field);
        assert_record_corrupt(&r, reason);
    }
}

static void decode_rejects_field_number_zero(void **state)
{
    record r;
    (void)state;
    build_v2(&r, ALL);
    put_uint(&r, 0, 0);
    assert_record_corrupt(&r, "field number 0");
}

static void decode_accepts_null_why(void **state)
{
    obol_session *s = NULL;
    (void)state;
    assert_int_equal(obol_codec_decode((const uint8_t *)"x", 1, &s, NULL, 0),
                     OBOL_ERR_CORRUPT);
    assert_null(s);
}

static void decode_truncates_long_reason_to_why_size(void **state)
{
    obol_session *s = NULL;
    char why[8];
    (void)state;
    memset(why, 'z', sizeof why);
    assert_int_equal(obol_codec_decode((const uint8_t *)"x", 1, &s, why,
                                       sizeof why),
                     OBOL_ERR_CORRUPT);
    assert_int_equal(why[sizeof why - 1], '\0');
}

/* ---------------------------------------------------------------- mutation */

static uint64_t next_random(uint64_t *seed)
{
    /* xorshift64: deterministic, so a failure reproduces. */
    *seed ^= *seed << 13;
    *seed ^= *seed >> 7;
    *seed ^= *seed << 17;
    return *seed;
}

static void mutate(record *r, uint64_t *seed)
{
    int edits = 1 + (int)(next_random(seed) % 4), i;
    for (i = 0; i < edits && r->len > 0; i++) {
        size_t at = (size_t)(next_random(seed) % r->len);
        switch (next_random(seed) % 4) {
        case 0: r->bytes[at] = (uint8_t)next_random(seed); break;
        case 1: r->bytes[at] ^= (uint8_t)(1u << (next_random(seed) % 8)); break;
        case 2: r->len = at; break; /* truncate */
        default: /* a byte in the length/varint danger zone */
            r->bytes[at] = (uint8_t[]){0x00, 0x7f, 0x80, 0xff}[next_random(seed) % 4];
            break;
        }
    }
}

static void decode_survives_random_mutations(void **state)
{
    obol_session *s = make_session();
    record original;
    uint64_t seed = 0x0b0170b0170b01ULL;
    int round, accepted = 0;
    (void)state;
    set_payload(s, "\x00\x01\x02payload", 10);
    encode(s, &original);
    for (round = 0; round < 5000; round++) {
        record r = original;
        obol_session *out = NULL;
        int rc;
        mutate(&r, &seed);
        rc = obol_codec_decode(r.bytes, r.len, &out, NULL, 0);
        if (rc == OBOL_OK) {
            /* Whatever decodes must encode again and decode the same. */
            obol_session_free(round_trip(out));
            obol_session_free(out);
            accepted++;
        } else {
            assert_int_equal(rc, OBOL_ERR_CORRUPT);
            assert_null(out);
        }
    }
    assert_true(accepted > 0);  /* the loop exercised both outcomes */
    assert_true(accepted < 5000);
    obol_session_free(s);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(round_trip_preserves_every_field),
        cmocka_unit_test(round_trip_keeps_binary_payload_with_nul_bytes),
        cmocka_unit_test(round_trip_keeps_infinite_expiry),
        cmocka_unit_test(round_trip_keeps_negative_times),
        cmocka_unit_test(round_trip_keeps_max_lock_version),
        cmocka_unit_test(round_trip_keeps_non_ascii_strings),
        cmocka_unit_test(round_trip_without_payload_gives_null_payload),
        cmocka_unit_test(encode_matches_the_documented_example),
        cmocka_unit_test(encode_is_deterministic),
        cmocka_unit_test(encode_omits_empty_payload),
        cmocka_unit_test(encode_refuses_missing_strings),
        cmocka_unit_test(encode_refuses_what_decode_would_refuse),
        cmocka_unit_test(encode_refuses_too_small_buffer),
        cmocka_unit_test(decode_upgrades_v1_record),
        cmocka_unit_test(decode_v1_ignores_fields_v1_did_not_define),
        cmocka_unit_test(decode_rejects_version_3),
        cmocka_unit_test(decode_rejects_version_0),
        cmocka_unit_test(decode_rejects_wrong_magic),
        cmocka_unit_test(decode_rejects_empty_input),
        cmocka_unit_test(round_trip_keeps_the_previous_refresh_token_id),
        cmocka_unit_test(previous_refresh_token_id_is_absent_from_older_records),
        cmocka_unit_test(previous_refresh_token_id_must_be_bytes_once),
        cmocka_unit_test(decode_skips_unknown_varint_field),
        cmocka_unit_test(decode_skips_unknown_length_delimited_field),
        cmocka_unit_test(decode_accepts_fields_in_any_order),
        cmocka_unit_test(decode_accepts_non_minimal_varint),
        cmocka_unit_test(decode_reads_every_varint_length_wherever_it_ends),
        cmocka_unit_test(decode_rejects_unknown_wire_type),
        cmocka_unit_test(decode_rejects_every_truncation),
        cmocka_unit_test(decode_rejects_length_beyond_input),
        cmocka_unit_test(decode_rejects_huge_length_claims),
        cmocka_unit_test(decode_rejects_overlong_varint),
        cmocka_unit_test(decode_rejects_varint_overflowing_64_bits),
        cmocka_unit_test(decode_rejects_overlong_tag_and_version),
        cmocka_unit_test(decode_rejects_duplicate_field),
        cmocka_unit_test(decode_rejects_missing_required_field),
        cmocka_unit_test(decode_rejects_v1_record_without_user_id),
        cmocka_unit_test(decode_rejects_empty_id_and_user_id),
        cmocka_unit_test(decode_rejects_nul_in_strings),
        cmocka_unit_test(decode_rejects_refresh_after_expiry),
        cmocka_unit_test(decode_rejects_wrong_wire_type_for_known_field),
        cmocka_unit_test(decode_rejects_field_number_zero),
        cmocka_unit_test(decode_accepts_null_why),
        cmocka_unit_test(decode_truncates_long_reason_to_why_size),
        cmocka_unit_test(decode_survives_random_mutations),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

/*
 * The session codec. The layout is specified in docs/FORMAT.md ("Session
 * encoding"); this file is one implementation of it, and the document wins
 * where they disagree.
 *
 * Shape: a magic byte, a varint version, then tagged fields in the style of
 * protocol buffers (tag = field_number << 3 | wire_type). Tags let a reader
 * skip fields it does not know, which is what lets a newer writer add fields
 * without breaking older readers.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "codec_internal.h"

enum { WIRE_VARINT = 0, WIRE_BYTES = 2 };

enum {
    FIELD_ID = 1,
    FIELD_USER_ID = 2,
    FIELD_TYPE = 3,
    FIELD_REFRESH_TOKEN_ID = 4,
    FIELD_CREATED_AT = 5,
    FIELD_EXPIRES_AT = 6,
    FIELD_REFRESH_EXPIRES_AT = 7,
    FIELD_REFRESHED_AT = 8,
    FIELD_TOKENS_FRESH_FROM = 9,
    FIELD_PREV_TOKENS_FRESH_FROM = 10,
    FIELD_LOCK_VERSION = 11,
    FIELD_EXTRA_PAYLOAD = 12,
    /* Optional, added to version 2 after its first release: readers that
     * predate it skip it as unknown, as the format intends. */
    FIELD_PREV_REFRESH_TOKEN_ID = 13,
    FIELD_LAST = FIELD_PREV_REFRESH_TOKEN_ID
};

/* A 64-bit value needs at most ceil(64 / 7) = 10 varint bytes. */
#define VARINT_MAX_BYTES 10

#define FIELD_BIT(f) (1u << (f))

/* ------------------------------------------------------------ primitives */

static size_t varint_size(uint64_t v)
{
    size_t n = 1;
    while (v >= 0x80) {
        v >>= 7;
        n++;
    }
    return n;
}

static uint8_t *put_varint(uint8_t *p, uint64_t v)
{
    while (v >= 0x80) {
        *p++ = (uint8_t)(v | 0x80);
        v >>= 7;
    }
    *p++ = (uint8_t)v;
    return p;
}

/* Zigzag maps small negative times (before 1970, or test clocks) to small
 * varints instead of ten bytes each. Written without shifting a negative
 * value, which C leaves implementation-defined. */
static uint64_t zigzag_encode(int64_t v)
{
    uint64_t doubled = (uint64_t)v << 1;
    return v < 0 ? ~doubled : doubled;
}

static int64_t zigzag_decode(uint64_t v)
{
    int64_t half = (int64_t)(v >> 1);
    return (v & 1) ? -half - 1 : half;
}

static uint64_t tag_of(unsigned field, unsigned wire)
{
    return (uint64_t)field << 3 | wire;
}

/* ---------------------------------------------------------------- encode */

static size_t string_field_size(unsigned field, const char *str)
{
    size_t len = str ? strlen(str) : 0;
    return varint_size(tag_of(field, WIRE_BYTES)) + varint_size(len) + len;
}

static size_t time_field_size(unsigned field, int64_t v)
{
    return varint_size(tag_of(field, WIRE_VARINT)) +
           varint_size(zigzag_encode(v));
}

size_t obol_codec_encoded_size(const obol_session *s)
{
    size_t n;

    if (!s)
        return 0;
    n = 1 + varint_size(OBOL_SESSION_VERSION);
    n += string_field_size(FIELD_ID, s->id);
    n += string_field_size(FIELD_USER_ID, s->user_id);
    n += string_field_size(FIELD_TYPE, s->type);
    n += string_field_size(FIELD_REFRESH_TOKEN_ID, s->refresh_token_id);
    n += time_field_size(FIELD_CREATED_AT, s->created_at);
    n += time_field_size(FIELD_EXPIRES_AT, s->expires_at);
    n += time_field_size(FIELD_REFRESH_EXPIRES_AT, s->refresh_expires_at);
    n += time_field_size(FIELD_REFRESHED_AT, s->refreshed_at);
    n += time_field_size(FIELD_TOKENS_FRESH_FROM, s->tokens_fresh_from);
    n += time_field_size(FIELD_PREV_TOKENS_FRESH_FROM,
                         s->prev_tokens_fresh_from);
    n += varint_size(tag_of(FIELD_LOCK_VERSION, WIRE_VARINT)) +
         varint_size(s->lock_version);
    if (s->extra_payload_len > 0)
        n += varint_size(tag_of(FIELD_EXTRA_PAYLOAD, WIRE_BYTES)) +
             varint_size(s->extra_payload_len) + s->extra_payload_len;
    if (s->prev_refresh_token_id != NULL)
        n += string_field_size(FIELD_PREV_REFRESH_TOKEN_ID,
                               s->prev_refresh_token_id);
    return n;
}

static size_t bytes_field_max(unsigned field, uint64_t len)
{
    return varint_size(tag_of(field, WIRE_BYTES)) + varint_size(len) +
           (size_t)len;
}

static size_t varint_field_max(unsigned field)
{
    return varint_size(tag_of(field, WIRE_VARINT)) + VARINT_MAX_BYTES;
}

size_t obol_codec_max_encoded_size(uint64_t max_payload)
{
    static const unsigned strings[] = { FIELD_ID, FIELD_USER_ID, FIELD_TYPE,
                                        FIELD_REFRESH_TOKEN_ID,
                                        FIELD_PREV_REFRESH_TOKEN_ID };
    static const unsigned numbers[] = { FIELD_CREATED_AT, FIELD_EXPIRES_AT,
                                        FIELD_REFRESH_EXPIRES_AT,
                                        FIELD_REFRESHED_AT,
                                        FIELD_TOKENS_FRESH_FROM,
                                        FIELD_PREV_TOKENS_FRESH_FROM,
                                        FIELD_LOCK_VERSION };
    size_t n = 1 + varint_size(OBOL_SESSION_VERSION);

    for (size_t i = 0; i < sizeof strings / sizeof strings[0]; i++)
        n += bytes_field_max(strings[i], OBOL_MAX_ID_LEN);
    for (size_t i = 0; i < sizeof numbers / sizeof numbers[0]; i++)
        n += varint_field_max(numbers[i]);
    return n + bytes_field_max(FIELD_EXTRA_PAYLOAD, max_payload);
}

static uint8_t *put_bytes_field(uint8_t *p, unsigned field, const void *data,
                                size_t len)
{
    p = put_varint(p, tag_of(field, WIRE_BYTES));
    p = put_varint(p, len);
    memcpy(p, data, len);
    return p + len;
}

static uint8_t *put_time_field(uint8_t *p, unsigned field, int64_t v)
{
    p = put_varint(p, tag_of(field, WIRE_VARINT));
    return put_varint(p, zigzag_encode(v));
}

/* Encode refuses what decode would refuse, so that anything the store
 * writes can be read back: a record that encodes but never decodes would
 * be a session silently lost. */
static int encodable(const obol_session *s)
{
    return s && s->id && s->user_id && s->type && s->refresh_token_id &&
           s->id[0] != '\0' && s->user_id[0] != '\0' &&
           s->refresh_expires_at <= s->expires_at &&
           (s->extra_payload || s->extra_payload_len == 0);
}

int obol_codec_encode(const obol_session *s, uint8_t *buf, size_t cap,
                      size_t *len)
{
    uint8_t *p = buf;
    size_t need;

    if (!encodable(s) || !buf || !len)
        return OBOL_ERR_INVALID;
    /* Sizing first means the writers below need no bounds checks. */
    need = obol_codec_encoded_size(s);
    if (need > cap)
        return OBOL_ERR_INVALID;

    *p++ = OBOL_CODEC_MAGIC;
    p = put_varint(p, OBOL_SESSION_VERSION);
    p = put_bytes_field(p, FIELD_ID, s->id, strlen(s->id));
    p = put_bytes_field(p, FIELD_USER_ID, s->user_id, strlen(s->user_id));
    p = put_bytes_field(p, FIELD_TYPE, s->type, strlen(s->type));
    p = put_bytes_field(p, FIELD_REFRESH_TOKEN_ID, s->refresh_token_id,
                        strlen(s->refresh_token_id));
    p = put_time_field(p, FIELD_CREATED_AT, s->created_at);
    p = put_time_field(p, FIELD_EXPIRES_AT, s->expires_at);
    p = put_time_field(p, FIELD_REFRESH_EXPIRES_AT, s->refresh_expires_at);
    p = put_time_field(p, FIELD_REFRESHED_AT, s->refreshed_at);
    p = put_time_field(p, FIELD_TOKENS_FRESH_FROM, s->tokens_fresh_from);
    p = put_time_field(p, FIELD_PREV_TOKENS_FRESH_FROM,
                       s->prev_tokens_fresh_from);
    p = put_varint(p, tag_of(FIELD_LOCK_VERSION, WIRE_VARINT));
    p = put_varint(p, s->lock_version);
    if (s->extra_payload_len > 0)
        p = put_bytes_field(p, FIELD_EXTRA_PAYLOAD, s->extra_payload,
                            s->extra_payload_len);
    if (s->prev_refresh_token_id != NULL)
        p = put_bytes_field(p, FIELD_PREV_REFRESH_TOKEN_ID,
                            s->prev_refresh_token_id,
                            strlen(s->prev_refresh_token_id));
    *len = (size_t)(p - buf);
    return OBOL_OK;
}

/* ---------------------------------------------------------------- decode */

typedef struct reader {
    const uint8_t *buf;
    size_t len;
    size_t pos;
    char *why;
    size_t why_size;
} reader;

static void explain(reader *r, const char *fmt, va_list ap)
{
    if (r->why && r->why_size > 0)
        vsnprintf(r->why, r->why_size, fmt, ap);
}

#if defined(__GNUC__)
__attribute__((format(printf, 2, 3)))
#endif
static int corrupt(reader *r, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    explain(r, fmt, ap);
    va_end(ap);
    return OBOL_ERR_CORRUPT;
}

static size_t bytes_left(const reader *r)
{
    return r->len - r->pos;
}

#if defined(__GNUC__)
/* The varint at p when it ends within p's eight bytes, all of them
 * readable: its length (1 to 8) and its value in *out; 0 when it goes on.
 * Times take five bytes, so this is most multi-byte varints: the seven
 * bits of each byte are gathered in three steps instead of a loop. */
static unsigned short_varint(const uint8_t *p, uint64_t *out)
{
    uint64_t w, ends, x;

    memcpy(&w, p, sizeof w);   /* one load; the bytes in order below */
#if __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
    w = __builtin_bswap64(w);
#endif
    ends = ~w & 0x8080808080808080ULL;
    if (ends == 0)
        return 0;
    /* Every byte up to the first without its high bit, 7 bits each. */
    x = w & (ends ^ (ends - 1)) & 0x7f7f7f7f7f7f7f7fULL;
    x = (x & 0x007f007f007f007fULL) | ((x & 0x7f007f007f007f00ULL) >> 1);
    x = (x & 0x00003fff00003fffULL) | ((x & 0x3fff00003fff0000ULL) >> 2);
    x = (x & 0x000000000fffffffULL) | ((x & 0x0fffffff00000000ULL) >> 4);
    *out = x;
    return (unsigned)__builtin_ctzll(ends) / 8 + 1;
}
#endif

/* The varint at r->pos when it takes more than one byte; see
 * read_varint(). */
static const char *read_long_varint(reader *r, uint64_t *out)
{
    uint64_t v = 0;
    unsigned i;

#if defined(__GNUC__)
    if (r->len - r->pos >= 8) {
        unsigned n = short_varint(r->buf + r->pos, out);

        if (n > 0) {
            r->pos += n;
            return NULL;
        }
    }
#endif
    /* With ten bytes left the varint ends in bounds whatever it holds:
     * no check of the length per byte. */
    if (r->len - r->pos >= VARINT_MAX_BYTES) {
        const uint8_t *p = r->buf + r->pos;

        for (i = 0; i < VARINT_MAX_BYTES - 1; i++) {
            v |= (uint64_t)(p[i] & 0x7f) << (7 * i);
            if (!(p[i] & 0x80)) {
                r->pos += i + 1;
                *out = v;
                return NULL;
            }
        }
    }
    v = 0;
    for (i = 0; i < VARINT_MAX_BYTES; i++) {
        uint8_t byte;

        if (r->pos >= r->len)
            return "truncated varint";
        byte = r->buf[r->pos++];
        /* The tenth byte holds only bit 63; anything more overflows. */
        if (i == VARINT_MAX_BYTES - 1 && byte > 1)
            return byte & 0x80 ? "varint longer than 10 bytes"
                               : "varint overflows 64 bits";
        v |= (uint64_t)(byte & 0x7f) << (7 * i);
        if (!(byte & 0x80)) {
            *out = v;
            return NULL;
        }
    }
    return "varint longer than 10 bytes"; /* not reached */
}

/* Returns NULL and advances past the varint, or a reason for the caller to
 * put in context. Non-minimal encodings (0x80 0x00) are accepted, as other
 * varint formats do; only the value matters. Tags and most lengths take
 * one byte, read here without a call. */
static inline const char *read_varint(reader *r, uint64_t *out)
{
    if (r->pos < r->len && r->buf[r->pos] < 0x80) {
        *out = r->buf[r->pos++];
        return NULL;
    }
    return read_long_varint(r, out);
}

/* Which fields each version defines; fields a version does not define are
 * skipped like any unknown field, so a v1 record cannot smuggle in a type
 * that its upgrade would then overwrite. */
#define FIELDS_V2 (FIELD_BIT(FIELD_LAST + 1) - FIELD_BIT(FIELD_ID))
#define FIELDS_V1                                                            \
    (FIELDS_V2 & ~(FIELD_BIT(FIELD_TYPE) | FIELD_BIT(FIELD_TOKENS_FRESH_FROM) | \
                   FIELD_BIT(FIELD_PREV_TOKENS_FRESH_FROM) |                   \
                   FIELD_BIT(FIELD_PREV_REFRESH_TOKEN_ID)))

static uint32_t fields_of(uint32_t version)
{
    return version == 1 ? FIELDS_V1 : FIELDS_V2;
}

static int field_known(uint64_t field, uint32_t version)
{
    return field <= FIELD_LAST && (fields_of(version) & FIELD_BIT(field));
}

static unsigned field_wire_type(unsigned field)
{
    return field <= FIELD_REFRESH_TOKEN_ID || field == FIELD_EXTRA_PAYLOAD ||
                   field == FIELD_PREV_REFRESH_TOKEN_ID
               ? WIRE_BYTES
               : WIRE_VARINT;
}

static char **string_slot(obol_session *s, unsigned field)
{
    switch (field) {
    case FIELD_ID: return &s->id;
    case FIELD_USER_ID: return &s->user_id;
    case FIELD_TYPE: return &s->type;
    case FIELD_REFRESH_TOKEN_ID: return &s->refresh_token_id;
    case FIELD_PREV_REFRESH_TOKEN_ID: return &s->prev_refresh_token_id;
    default: return NULL;
    }
}

static int64_t *time_slot(obol_session *s, unsigned field)
{
    switch (field) {
    case FIELD_CREATED_AT: return &s->created_at;
    case FIELD_EXPIRES_AT: return &s->expires_at;
    case FIELD_REFRESH_EXPIRES_AT: return &s->refresh_expires_at;
    case FIELD_REFRESHED_AT: return &s->refreshed_at;
    case FIELD_TOKENS_FRESH_FROM: return &s->tokens_fresh_from;
    case FIELD_PREV_TOKENS_FRESH_FROM: return &s->prev_tokens_fresh_from;
    default: return NULL;
    }
}

/* The struct holds C strings, so an embedded NUL would silently cut the
 * value short (and two different ids would compare equal). */
static int store_string(reader *r, obol_session *s, unsigned field,
                        const uint8_t *data, size_t len)
{
    char *copy;

    if (len == 0 && (field == FIELD_ID || field == FIELD_USER_ID))
        return corrupt(r, "field %u: empty %s", field,
                       field == FIELD_ID ? "id" : "user_id");
    if (memchr(data, '\0', len))
        return corrupt(r, "field %u: NUL byte in string", field);
    copy = malloc(len + 1);
    if (!copy)
        return OBOL_ERR_NOMEM;
    memcpy(copy, data, len);
    copy[len] = '\0';
    *string_slot(s, field) = copy;
    return OBOL_OK;
}

static int store_payload(obol_session *s, const uint8_t *data, size_t len)
{
    if (len == 0)
        return OBOL_OK; /* stays NULL, 0: the same as an absent field */
    s->extra_payload = malloc(len);
    if (!s->extra_payload)
        return OBOL_ERR_NOMEM;
    memcpy(s->extra_payload, data, len);
    s->extra_payload_len = len;
    return OBOL_OK;
}

static int store_bytes(reader *r, obol_session *s, unsigned field,
                       const uint8_t *data, size_t len)
{
    if (field == FIELD_EXTRA_PAYLOAD)
        return store_payload(s, data, len);
    return store_string(r, s, field, data, len);
}

static void store_varint(obol_session *s, unsigned field, uint64_t v)
{
    if (field == FIELD_LOCK_VERSION)
        s->lock_version = v;
    else
        *time_slot(s, field) = zigzag_decode(v);
}

/* Reads the value of a length-delimited field and checks its length against
 * the input before anything is allocated for it. */
static int read_bytes(reader *r, uint64_t field, const uint8_t **data,
                      size_t *len)
{
    uint64_t claimed;
    const char *bad = read_varint(r, &claimed);

    if (bad)
        return corrupt(r, "field %llu: length: %s", (unsigned long long)field,
                       bad);
    if (claimed > bytes_left(r))
        return corrupt(r, "field %llu: length %llu exceeds the %zu bytes left",
                       (unsigned long long)field, (unsigned long long)claimed,
                       bytes_left(r));
    *data = r->buf + r->pos;
    *len = (size_t)claimed;
    r->pos += *len;
    return OBOL_OK;
}

/* One field as it appears on the wire, before its number is interpreted. */
typedef struct field_value {
    uint64_t number;
    unsigned wire;
    uint64_t varint;     /* wire type 0 */
    const uint8_t *data; /* wire type 2: points into the input */
    size_t len;
} field_value;

/* Reads a tag and the value it frames. Wire types other than 0 and 2 are
 * refused even on unknown fields: without one, nobody knows where the field
 * ends. */
static int read_field_value(reader *r, field_value *fv)
{
    uint64_t tag;
    size_t start = r->pos;
    const char *bad = read_varint(r, &tag);

    if (bad)
        return corrupt(r, "tag at byte %zu: %s", start, bad);
    fv->number = tag >> 3;
    fv->wire = (unsigned)(tag & 7);
    if (fv->number == 0)
        return corrupt(r, "field number 0 is reserved");
    if (fv->wire == WIRE_BYTES)
        return read_bytes(r, fv->number, &fv->data, &fv->len);
    if (fv->wire != WIRE_VARINT)
        return corrupt(r, "field %llu: unknown wire type %u",
                       (unsigned long long)fv->number, fv->wire);
    bad = read_varint(r, &fv->varint);
    if (bad)
        return corrupt(r, "field %llu: %s", (unsigned long long)fv->number,
                       bad);
    return OBOL_OK;
}

/* Stores a known field into s. seen collects the known fields met so far,
 * to refuse duplicates (a second id could otherwise override a checked
 * one). */
static int store_field(reader *r, obol_session *s, const field_value *fv,
                       uint32_t *seen)
{
    unsigned field = (unsigned)fv->number;
    unsigned expected = field_wire_type(field);

    if (fv->wire != expected)
        return corrupt(r, "field %u: wire type %u, expected %u", field,
                       fv->wire, expected);
    if (*seen & FIELD_BIT(field))
        return corrupt(r, "field %u: duplicated", field);
    *seen |= FIELD_BIT(field);
    if (fv->wire == WIRE_BYTES)
        return store_bytes(r, s, field, fv->data, fv->len);
    store_varint(s, field, fv->varint);
    return OBOL_OK;
}

static int read_field(reader *r, obol_session *s, uint32_t version,
                      uint32_t *seen)
{
    field_value fv = {0, 0, 0, NULL, 0};
    int rc = read_field_value(r, &fv);

    if (rc != OBOL_OK)
        return rc;
    if (!field_known(fv.number, version))
        return OBOL_OK; /* skipped: defined by a newer revision */
    return store_field(r, s, &fv, seen);
}

static int read_header(reader *r, uint32_t *version)
{
    uint64_t v;
    const char *bad;

    if (r->len == 0)
        return corrupt(r, "empty input");
    if (r->buf[0] != OBOL_CODEC_MAGIC)
        return corrupt(r, "bad magic byte 0x%02x", r->buf[0]);
    r->pos = 1;
    bad = read_varint(r, &v);
    if (bad)
        return corrupt(r, "version: %s", bad);
    if (v == 0 || v > OBOL_SESSION_VERSION)
        return corrupt(r, "unsupported version %llu", (unsigned long long)v);
    *version = (uint32_t)v;
    return OBOL_OK;
}

/* Every field a version defines is required except extra_payload, which
 * encode omits when empty. Requiring them costs nothing (every encoder of
 * that version writes them all) and turns a record cut at a field boundary
 * into an error instead of a session whose times silently became 0. */
static uint32_t required_fields(uint32_t version)
{
    return fields_of(version) & (FIELD_BIT(FIELD_EXTRA_PAYLOAD) - 1);
}

static int check_required(reader *r, uint32_t version, uint32_t seen)
{
    uint32_t missing = required_fields(version) & ~seen;
    unsigned f;

    if (missing == 0)
        return OBOL_OK;
    for (f = FIELD_ID; f < FIELD_EXTRA_PAYLOAD; f++)
        if (missing & FIELD_BIT(f))
            return corrupt(r, "field %u: missing", f);
    return OBOL_OK;
}

/* v1 predates session types and token generations. Every v1 session was a
 * "full" one, and its tokens were all issued at its last refresh, the
 * previous generation at creation. */
static int upgrade_from_v1(obol_session *s)
{
    static const char default_type[] = OBOL_DEFAULT_TYPE;

    s->type = malloc(sizeof default_type);
    if (!s->type)
        return OBOL_ERR_NOMEM;
    memcpy(s->type, default_type, sizeof default_type);
    s->tokens_fresh_from = s->refreshed_at;
    s->prev_tokens_fresh_from = s->created_at;
    return OBOL_OK;
}

static int decode_into(reader *r, obol_session *s)
{
    uint32_t version = 0, seen = 0;
    int rc = read_header(r, &version);

    while (rc == OBOL_OK && r->pos < r->len)
        rc = read_field(r, s, version, &seen);
    if (rc == OBOL_OK)
        rc = check_required(r, version, seen);
    if (rc == OBOL_OK && version == 1)
        rc = upgrade_from_v1(s);
    if (rc == OBOL_OK && s->refresh_expires_at > s->expires_at)
        rc = corrupt(r, "refresh_expires_at %lld is after expires_at %lld",
                     (long long)s->refresh_expires_at,
                     (long long)s->expires_at);
    s->version = OBOL_SESSION_VERSION;
    return rc;
}

int obol_codec_decode(const uint8_t *buf, size_t len, obol_session **out,
                      char *why, size_t why_size)
{
    reader r = {buf, len, 0, why, why_size};
    obol_session *s;
    int rc;

    if (why && why_size > 0)
        why[0] = '\0';
    if (!out || (!buf && len > 0))
        return OBOL_ERR_INVALID;
    *out = NULL;
    /* malloc() and a zeroed struct rather than calloc(), which glibc
     * serves without its per-thread cache: on a read that was about 30 ns
     * of the decode. */
    s = malloc(sizeof *s);
    if (!s)
        return OBOL_ERR_NOMEM;
    *s = (obol_session){ 0 };
    rc = decode_into(&r, s);
    if (rc == OBOL_ERR_NOMEM && why && why_size > 0)
        snprintf(why, why_size, "out of memory");
    if (rc != OBOL_OK) {
        obol_session_free(s);
        return rc;
    }
    *out = s;
    return OBOL_OK;
}

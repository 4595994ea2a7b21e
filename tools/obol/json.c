/*
 * Sessions <-> JSON objects with jansson. Field by field, table-driven, so
 * that the reader and the writer cannot disagree on a name.
 */
#include "config.h"

#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "cli.h"
#include "json.h"

typedef enum field_kind {
    KIND_STRING,   /* char *, UTF-8 or "<name>_b64" */
    KIND_TIME,     /* int64_t */
    KIND_LOCK,     /* uint64_t */
    KIND_PAYLOAD,  /* uint8_t * + length, base64 */
    KIND_VERSION   /* uint32_t */
} field_kind;

typedef struct field {
    const char *name;
    unsigned bit;
    field_kind kind;
    size_t offset;
} field;

#define FIELD(name, bit, kind) { #name, bit, kind, offsetof(obol_session, name) }

/* In the order they are written. */
static const field fields[] = {
    FIELD(id, FIELD_ID, KIND_STRING),
    FIELD(user_id, FIELD_USER_ID, KIND_STRING),
    FIELD(type, FIELD_TYPE, KIND_STRING),
    FIELD(refresh_token_id, FIELD_REFRESH_TOKEN_ID, KIND_STRING),
    FIELD(prev_refresh_token_id, FIELD_PREV_REFRESH_TOKEN_ID, KIND_STRING),
    FIELD(created_at, FIELD_CREATED_AT, KIND_TIME),
    FIELD(refreshed_at, FIELD_REFRESHED_AT, KIND_TIME),
    FIELD(expires_at, FIELD_EXPIRES_AT, KIND_TIME),
    FIELD(refresh_expires_at, FIELD_REFRESH_EXPIRES_AT, KIND_TIME),
    FIELD(tokens_fresh_from, FIELD_TOKENS_FRESH_FROM, KIND_TIME),
    FIELD(prev_tokens_fresh_from, FIELD_PREV_TOKENS_FRESH_FROM, KIND_TIME),
    FIELD(lock_version, FIELD_LOCK_VERSION, KIND_LOCK),
    FIELD(extra_payload, FIELD_EXTRA_PAYLOAD, KIND_PAYLOAD),
    FIELD(version, FIELD_VERSION, KIND_VERSION),
};

#define FIELD_COUNT (sizeof fields / sizeof fields[0])

#define MEMBER(s, f, type) ((type *)((char *)(s) + (f)->offset))
#define CONST_MEMBER(s, f, type) ((const type *)((const char *)(s) + (f)->offset))

/* ---------------------------------------------------------------- writing */

static json_t *base64_of(const uint8_t *bytes, size_t len)
{
    size_t size = sodium_base64_ENCODED_LEN(len, sodium_base64_VARIANT_ORIGINAL);
    char *text = malloc(size);
    json_t *value;

    if (text == NULL)
        return NULL;
    sodium_bin2base64(text, size, bytes, len, sodium_base64_VARIANT_ORIGINAL);
    value = json_string(text);
    free(text);
    return value;
}

/* A string member, or its base64 twin when it is not UTF-8 (jansson
 * refuses those). */
static int write_string(json_t *obj, const char *name, const char *value)
{
    char twin[64];
    json_t *member;

    if (value == NULL)
        return 0;
    member = json_string(value);
    if (member != NULL)
        return json_object_set_new(obj, name, member);
    snprintf(twin, sizeof twin, "%s_b64", name);
    member = base64_of((const uint8_t *)value, strlen(value));
    return member != NULL ? json_object_set_new(obj, twin, member) : -1;
}

static json_t *time_value(int64_t t)
{
    char buf[CLI_TIME_MAX];

    if (t == OBOL_INFINITE || cli_time_is_iso(t))
        return json_string(cli_format_time(t, buf));
    return json_integer(t);
}

/* json_int_t is signed: the upper half of uint64_t goes as a string. */
static json_t *lock_value(uint64_t lock)
{
    char buf[24];

    if (lock <= INT64_MAX)
        return json_integer((json_int_t)lock);
    snprintf(buf, sizeof buf, "%" PRIu64, lock);
    return json_string(buf);
}

static int write_field(json_t *obj, const obol_session *s, const field *f)
{
    json_t *value = NULL;

    switch (f->kind) {
    case KIND_STRING:
        return write_string(obj, f->name, *CONST_MEMBER(s, f, char *));
    case KIND_TIME:
        value = time_value(*CONST_MEMBER(s, f, int64_t));
        break;
    case KIND_LOCK:
        value = lock_value(s->lock_version);
        break;
    case KIND_PAYLOAD:
        value = base64_of(s->extra_payload, s->extra_payload_len);
        break;
    case KIND_VERSION:
        value = json_integer(s->version);
        break;
    }
    return value != NULL ? json_object_set_new(obj, f->name, value) : -1;
}

json_t *session_to_json(const obol_session *s)
{
    json_t *obj = json_object();

    if (obj == NULL)
        return NULL;
    for (size_t i = 0; i < FIELD_COUNT; i++) {
        if (write_field(obj, s, &fields[i]) != 0) {
            json_decref(obj);
            return NULL;
        }
    }
    return obj;
}

/* ---------------------------------------------------------------- reading */

typedef struct reader {
    char *why;
    size_t why_size;
    int status;   /* what session_from_json() returns on failure */
} reader;

static int refuse(reader *r, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static int refuse(reader *r, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(r->why, r->why_size, fmt, ap);
    va_end(ap);
    return -1;
}

/* A failed allocation is not bad input: the caller exits with 3, not 2. */
static int out_of_memory(reader *r)
{
    refuse(r, "out of memory");
    r->status = SESSION_JSON_NOMEM;
    return r->status;
}

/* Strict base64 (padded, no whitespace) into malloc()ed bytes, with a NUL
 * after them so that ids can be used as strings. */
static int decode_base64(reader *r, const char *name, const json_t *value,
                         uint8_t **out, size_t *len)
{
    const char *text;
    size_t text_len;
    uint8_t *bytes;

    if (!json_is_string(value))
        return refuse(r, "member '%s' must be a base64 string", name);
    text = json_string_value(value);
    text_len = json_string_length(value);
    bytes = malloc(text_len / 4 * 3 + 1);
    if (bytes == NULL)
        return out_of_memory(r);
    if (sodium_base642bin(bytes, text_len / 4 * 3 + 1, text, text_len, NULL, len,
                          NULL, sodium_base64_VARIANT_ORIGINAL) != 0) {
        free(bytes);
        return refuse(r, "member '%s' is not valid base64 (standard alphabet, "
                      "with padding)", name);
    }
    bytes[*len] = '\0';
    *out = bytes;
    return 0;
}

static int read_string(reader *r, const char *member, const json_t *value,
                       int is_base64, char **out)
{
    uint8_t *bytes;
    size_t len;

    if (is_base64) {
        if (decode_base64(r, member, value, &bytes, &len) != 0)
            return -1;
    } else {
        if (!json_is_string(value))
            return refuse(r, "member '%s' must be a string", member);
        len = json_string_length(value);
        bytes = (uint8_t *)strdup(json_string_value(value));
        if (bytes == NULL)
            return out_of_memory(r);
    }
    if (memchr(bytes, '\0', len) != NULL) {
        free(bytes);
        return refuse(r, "member '%s' holds a NUL byte, which no id may", member);
    }
    *out = (char *)bytes;
    return 0;
}

static int read_time(reader *r, const char *member, const json_t *value,
                     int64_t *out)
{
    if (json_is_integer(value)) {
        *out = json_integer_value(value);
        return 0;
    }
    if (json_is_string(value) && cli_parse_time(json_string_value(value), out) == 0)
        return 0;
    return refuse(r, "member '%s' must be a UTC time like 2026-11-28T06:57:06Z, "
                  "\"infinity\" or an integer of Unix seconds", member);
}

static int read_lock(reader *r, const json_t *value, uint64_t *out)
{
    const char *text;
    char *end;

    if (json_is_integer(value) && json_integer_value(value) >= 0) {
        *out = (uint64_t)json_integer_value(value);
        return 0;
    }
    if (json_is_string(value)) {
        text = json_string_value(value);
        errno = 0;
        if (text[0] >= '0' && text[0] <= '9') {
            *out = strtoull(text, &end, 10);
            if (errno == 0 && *end == '\0')
                return 0;
        }
    }
    return refuse(r, "member 'lock_version' must be an integer from 0 to %" PRIu64,
                  UINT64_MAX);
}

static int read_version(reader *r, const json_t *value, uint32_t *out)
{
    if (!json_is_integer(value) || json_integer_value(value) < 0 ||
        json_integer_value(value) > UINT32_MAX)
        return refuse(r, "member 'version' must be an integer from 0 to %" PRIu32,
                      UINT32_MAX);
    *out = (uint32_t)json_integer_value(value);
    return 0;
}

static int read_field(reader *r, obol_session *s, const field *f,
                      const char *member, const json_t *value, int is_base64)
{
    size_t len;

    switch (f->kind) {
    case KIND_STRING:
        return read_string(r, member, value, is_base64, MEMBER(s, f, char *));
    case KIND_TIME:
        return read_time(r, member, value, MEMBER(s, f, int64_t));
    case KIND_LOCK:
        return read_lock(r, value, &s->lock_version);
    case KIND_PAYLOAD:
        if (decode_base64(r, member, value, &s->extra_payload, &len) != 0)
            return -1;
        s->extra_payload_len = len;
        if (len == 0) {
            free(s->extra_payload);
            s->extra_payload = NULL;
        }
        return 0;
    case KIND_VERSION:
        return read_version(r, value, &s->version);
    }
    return -1;
}

/* The field a member names: "id", or "id_b64" for strings. */
static const field *field_of(const char *member, int *is_base64)
{
    size_t len = strlen(member);

    for (size_t i = 0; i < FIELD_COUNT; i++) {
        const field *f = &fields[i];
        size_t name_len = strlen(f->name);

        if (strcmp(member, f->name) == 0) {
            *is_base64 = 0;
            return f;
        }
        if (f->kind == KIND_STRING && len == name_len + 4 &&
            strncmp(member, f->name, name_len) == 0 &&
            strcmp(member + name_len, "_b64") == 0) {
            *is_base64 = 1;
            return f;
        }
    }
    return NULL;
}

int session_from_json(const json_t *obj, obol_session **out, unsigned *present,
                      char *why, size_t why_size)
{
    reader r = { why, why_size, -1 };
    obol_session *s;
    const char *member;
    json_t *value;

    *present = 0;
    if (!json_is_object(obj))
        return refuse(&r, "a session must be a JSON object");
    s = calloc(1, sizeof *s);
    if (s == NULL)
        return out_of_memory(&r);
    /* jansson's iteration wants a non-const object; it does not change it. */
    json_object_foreach((json_t *)obj, member, value) {
        int is_base64;
        const field *f = field_of(member, &is_base64);

        if (f == NULL) {
            refuse(&r, "unknown member '%s'", member);
            goto fail;
        }
        if (*present & f->bit) {
            refuse(&r, "'%s' is given twice (as %s and %s_b64)", f->name,
                   f->name, f->name);
            goto fail;
        }
        if (read_field(&r, s, f, member, value, is_base64) != 0)
            goto fail;
        *present |= f->bit;
    }
    *out = s;
    return 0;
fail:
    obol_session_free(s);
    return r.status;
}

const char *session_field_name(unsigned missing)
{
    for (size_t i = 0; i < FIELD_COUNT; i++)
        if (missing & fields[i].bit)
            return fields[i].name;
    return "?";
}

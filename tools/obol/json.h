/*
 * Sessions as JSON objects, the form of `--json`, `export`, `import` and
 * `put` (the field list is in docs/CLI.md). Every field survives a round
 * trip byte for byte: ids that are not UTF-8 travel as base64 in an
 * "<field>_b64" member, extra_payload is always base64, and times or
 * lock versions that ISO-8601 or a JSON integer cannot hold fall back to a
 * number or a decimal string.
 */
#ifndef OBOL_CLI_JSON_H
#define OBOL_CLI_JSON_H

#include <stddef.h>

#include <jansson.h>

#include <obol/obol.h>

/* Which members a parsed object had. */
enum {
    FIELD_ID = 1u << 0,
    FIELD_USER_ID = 1u << 1,
    FIELD_TYPE = 1u << 2,
    FIELD_REFRESH_TOKEN_ID = 1u << 3,
    FIELD_CREATED_AT = 1u << 4,
    FIELD_REFRESHED_AT = 1u << 5,
    FIELD_EXPIRES_AT = 1u << 6,
    FIELD_REFRESH_EXPIRES_AT = 1u << 7,
    FIELD_TOKENS_FRESH_FROM = 1u << 8,
    FIELD_PREV_TOKENS_FRESH_FROM = 1u << 9,
    FIELD_LOCK_VERSION = 1u << 10,
    FIELD_EXTRA_PAYLOAD = 1u << 11,
    FIELD_VERSION = 1u << 12,
    FIELD_PREV_REFRESH_TOKEN_ID = 1u << 13,   /* optional */
    /* What `import` needs: all but extra_payload (empty when absent) and
     * version (the store always writes the current one). */
    FIELDS_ALL = (1u << 11) - 1
};

/* The session as a new JSON object, or NULL when out of memory. */
json_t *session_to_json(const obol_session *s);

/*
 * Reads a session from a JSON object. Members that are absent stay zero
 * (NULL strings); *present says which were there. Unknown members, wrong
 * types, bad base64, bad times and ids holding a NUL byte are refused
 * with a reason in why. Returns 0 with *out (free it with
 * obol_session_free()), -1 for bad input, or SESSION_JSON_NOMEM when an
 * allocation failed.
 */
#define SESSION_JSON_NOMEM (-2)

int session_from_json(const json_t *obj, obol_session **out,
                      unsigned *present, char *why, size_t why_size);

/* Names the first field of missing (a FIELD_* mask) for messages. */
const char *session_field_name(unsigned missing);

#endif

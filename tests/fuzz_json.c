/*
 * libFuzzer target: the CLI's JSON reader, session_from_json() of
 * tools/obol/json.c, which turns one JSON document into a session for
 * `obol import` (one per line) and `obol put`. The input is one JSON
 * document, parsed with its length as `obol put` parses its input
 * (jansson, duplicate members refused), so a NUL byte is the parser's to
 * refuse. Linked with tools/obol/json.c and tools/obol/times.c.
 *
 * Checks beyond "no crash, no leak": a refused document says why; an
 * accepted one is a session that session_to_json() writes and
 * session_from_json() reads back field for field (json.h promises every
 * field survives a round trip byte for byte), with every field written
 * present, and writing it again gives the same JSON text.
 */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "fuzz.h"
#include "json.h"

/* What session_to_json() writes: every field, but strings only when set. */
static unsigned written_fields(const obol_session *s)
{
    unsigned fields = FIELDS_ALL | FIELD_EXTRA_PAYLOAD | FIELD_VERSION |
                      FIELD_PREV_REFRESH_TOKEN_ID;

    if (s->id == NULL)
        fields &= ~(unsigned)FIELD_ID;
    if (s->user_id == NULL)
        fields &= ~(unsigned)FIELD_USER_ID;
    if (s->type == NULL)
        fields &= ~(unsigned)FIELD_TYPE;
    if (s->refresh_token_id == NULL)
        fields &= ~(unsigned)FIELD_REFRESH_TOKEN_ID;
    if (s->prev_refresh_token_id == NULL)
        fields &= ~(unsigned)FIELD_PREV_REFRESH_TOKEN_ID;
    return fields;
}

/* s written as JSON, read back: the same session, as text. */
static char *round_trip(const obol_session *s)
{
    json_t *written = session_to_json(s);
    obol_session *again = NULL;
    unsigned present;
    char why[256] = "";
    char *text;

    FUZZ_CHECK(written != NULL);
    if (session_from_json(written, &again, &present, why, sizeof why) != 0)
        fuzz_failed(__FILE__, __LINE__, why);
    FUZZ_CHECK(fuzz_same_session(s, again));
    FUZZ_CHECK(present == written_fields(s));
    text = json_dumps(written, JSON_COMPACT | JSON_SORT_KEYS);
    FUZZ_CHECK(text != NULL);
    obol_session_free(again);
    json_decref(written);
    return text;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    json_error_t error;
    json_t *doc = json_loadb((const char *)data, size, JSON_REJECT_DUPLICATES,
                             &error);
    obol_session *s = NULL, *again = NULL;
    unsigned present;
    char why[256] = "";
    char *first, *second;
    json_t *reread;

    if (doc == NULL)
        return 0;
    if (session_from_json(doc, &s, &present, why, sizeof why) != 0) {
        FUZZ_CHECK(why[0] != '\0');
        json_decref(doc);
        return 0;
    }
    json_decref(doc);
    first = round_trip(s);
    /* The text written is itself a document the reader takes, unchanged. */
    reread = json_loads(first, JSON_REJECT_DUPLICATES, &error);
    FUZZ_CHECK(reread != NULL);
    FUZZ_CHECK(session_from_json(reread, &again, &present, why, sizeof why) == 0);
    second = round_trip(again);
    FUZZ_CHECK(strcmp(first, second) == 0);
    free(second);
    free(first);
    json_decref(reread);
    obol_session_free(again);
    obol_session_free(s);
    return 0;
}

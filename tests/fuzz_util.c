/* Helpers of the fuzz targets; see fuzz.h. */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz.h"

void fuzz_failed(const char *file, int line, const char *check)
{
    fprintf(stderr, "%s:%d: fuzz check failed: %s\n", file, line, check);
    abort();
}

static int same_string(const char *a, const char *b)
{
    if (a == NULL || b == NULL)
        return a == b;
    return strcmp(a, b) == 0;
}

int fuzz_same_session(const obol_session *a, const obol_session *b)
{
    return same_string(a->id, b->id) && same_string(a->user_id, b->user_id) &&
           same_string(a->type, b->type) &&
           same_string(a->refresh_token_id, b->refresh_token_id) &&
           same_string(a->prev_refresh_token_id, b->prev_refresh_token_id) &&
           a->created_at == b->created_at && a->expires_at == b->expires_at &&
           a->refresh_expires_at == b->refresh_expires_at &&
           a->refreshed_at == b->refreshed_at &&
           a->tokens_fresh_from == b->tokens_fresh_from &&
           a->prev_tokens_fresh_from == b->prev_tokens_fresh_from &&
           a->lock_version == b->lock_version && a->version == b->version &&
           a->extra_payload_len == b->extra_payload_len &&
           (a->extra_payload_len == 0 ||
            memcmp(a->extra_payload, b->extra_payload,
                   a->extra_payload_len) == 0);
}

char *fuzz_string_of(const uint8_t *data, size_t size)
{
    char *text;

    if (size > 0 && memchr(data, '\0', size) != NULL)
        return NULL;
    text = malloc(size + 1);
    if (text == NULL)
        return NULL;
    memcpy(text, data, size);
    text[size] = '\0';
    return text;
}

/* The session struct: creation, refresh, copies. No I/O, no keys. What
 * a stolen heap page could replay (refresh token ids) or read (the
 * payload) is wiped before it is freed. */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "errors_internal.h"
#include "session_internal.h"

/* 128 random bits as unpadded url-safe base64: 22 characters. */
#define RANDOM_ID_BYTES 16

char *obol_random_id(void)
{
    uint8_t raw[RANDOM_ID_BYTES];
    size_t size = sodium_base64_ENCODED_LEN(RANDOM_ID_BYTES,
                                            sodium_base64_VARIANT_URLSAFE_NO_PADDING);
    char *id;

    if (sodium_init() < 0)
        return NULL;
    id = malloc(size);
    if (id == NULL)
        return NULL;
    randombytes_buf(raw, sizeof raw);
    sodium_bin2base64(id, size, raw, sizeof raw,
                      sodium_base64_VARIANT_URLSAFE_NO_PADDING);
    sodium_memzero(raw, sizeof raw);
    return id;
}

void obol_wipe_free(void *p, size_t len)
{
    if (p == NULL)
        return;
    sodium_memzero(p, len);
    free(p);
}

void obol_wipe_free_string(char *text)
{
    if (text != NULL)
        obol_wipe_free(text, strlen(text));
}

int64_t obol_time_after(int64_t now, int64_t ttl)
{
    if (ttl == OBOL_INFINITE || now > OBOL_INFINITE - ttl)
        return OBOL_INFINITE;
    return now + ttl;
}

/* The refresh token never outlives the session. */
static int64_t refresh_end(int64_t now, int64_t refresh_ttl, int64_t expires_at)
{
    int64_t end = obol_time_after(now, refresh_ttl);
    return end < expires_at ? end : expires_at;
}

int obol_session_create(const char *uid, const char *type, int64_t now,
                        int64_t session_ttl, int64_t refresh_ttl,
                        obol_session **out, obol_error *err)
{
    obol_session *s;

    if (out == NULL)
        return obol_set_error(err, OBOL_ERR_INVALID,
                              "session_create: out is NULL");
    *out = NULL;
    if (uid == NULL || *uid == '\0')
        return obol_set_error(err, OBOL_ERR_INVALID,
                              "session_create: the user id is %s",
                              uid == NULL ? "NULL" : "empty");
    if (session_ttl < 0 || refresh_ttl < 0)
        return obol_set_error(err, OBOL_ERR_INVALID,
                              "session_create: %s %lld is negative",
                              session_ttl < 0 ? "session_ttl" : "refresh_ttl",
                              (long long)(session_ttl < 0 ? session_ttl
                                                          : refresh_ttl));
    s = calloc(1, sizeof *s);
    if (s == NULL)
        return obol_set_error(err, OBOL_ERR_NOMEM,
                              "session_create: out of memory");
    s->id = obol_random_id();
    s->refresh_token_id = obol_random_id();
    s->user_id = strdup(uid);
    s->type = strdup(type != NULL ? type : OBOL_DEFAULT_TYPE);
    if (s->id == NULL || s->refresh_token_id == NULL || s->user_id == NULL ||
        s->type == NULL) {
        obol_session_free(s);
        return obol_set_error(err, OBOL_ERR_NOMEM,
                              "session_create: out of memory");
    }
    s->created_at = now;
    s->refreshed_at = now;
    s->tokens_fresh_from = now;
    s->prev_tokens_fresh_from = now;
    s->expires_at = obol_time_after(now, session_ttl);
    s->refresh_expires_at = refresh_end(now, refresh_ttl, s->expires_at);
    s->version = OBOL_SESSION_VERSION;
    *out = s;
    obol_clear_error(err);
    return OBOL_OK;
}

obol_session *obol_session_new(const char *uid, const char *type, int64_t now,
                               int64_t session_ttl, int64_t refresh_ttl)
{
    obol_session *s = NULL;

    obol_session_create(uid, type, now, session_ttl, refresh_ttl, &s, NULL);
    return s;
}

int obol_session_refresh(obol_session *s, int64_t now, int64_t refresh_ttl)
{
    char *token;

    if (s == NULL || refresh_ttl < 0)
        return OBOL_ERR_INVALID;
    token = obol_random_id();
    if (token == NULL)
        return OBOL_ERR_NOMEM;
    /* The token rotated away is kept, so that obol_refresh() can tell a
     * client that raced another refresh from a token that was stolen. */
    obol_wipe_free_string(s->prev_refresh_token_id);
    s->prev_refresh_token_id = s->refresh_token_id;
    s->refresh_token_id = token;
    s->refreshed_at = now;
    s->prev_tokens_fresh_from = s->tokens_fresh_from;
    s->tokens_fresh_from = now;
    s->refresh_expires_at = refresh_end(now, refresh_ttl, s->expires_at);
    return OBOL_OK;
}

int obol_session_set_payload(obol_session *s, const void *data, size_t len)
{
    uint8_t *copy = NULL;

    if (s == NULL || (data == NULL && len > 0))
        return OBOL_ERR_INVALID;
    if (len > 0) {
        copy = malloc(len);
        if (copy == NULL)
            return OBOL_ERR_NOMEM;
        memcpy(copy, data, len);
    }
    obol_wipe_free(s->extra_payload, s->extra_payload_len);
    s->extra_payload = copy;
    s->extra_payload_len = len;
    return OBOL_OK;
}

static char *dup_string(const char *text)
{
    return text != NULL ? strdup(text) : NULL;
}

obol_session *obol_session_dup(const obol_session *s)
{
    obol_session *copy;

    if (s == NULL)
        return NULL;
    copy = malloc(sizeof *copy);
    if (copy == NULL)
        return NULL;
    *copy = *s;
    copy->id = dup_string(s->id);
    copy->user_id = dup_string(s->user_id);
    copy->type = dup_string(s->type);
    copy->refresh_token_id = dup_string(s->refresh_token_id);
    copy->prev_refresh_token_id = dup_string(s->prev_refresh_token_id);
    copy->extra_payload = NULL;
    copy->extra_payload_len = 0;
    if ((s->id != NULL && copy->id == NULL) ||
        (s->user_id != NULL && copy->user_id == NULL) ||
        (s->type != NULL && copy->type == NULL) ||
        (s->refresh_token_id != NULL && copy->refresh_token_id == NULL) ||
        (s->prev_refresh_token_id != NULL &&
         copy->prev_refresh_token_id == NULL) ||
        obol_session_set_payload(copy, s->extra_payload,
                                 s->extra_payload_len) != OBOL_OK) {
        obol_session_free(copy);
        return NULL;
    }
    return copy;
}

void obol_session_free(obol_session *s)
{
    if (s == NULL)
        return;
    free(s->id);
    free(s->user_id);
    free(s->type);
    obol_wipe_free_string(s->refresh_token_id);
    obol_wipe_free_string(s->prev_refresh_token_id);
    obol_wipe_free(s->extra_payload, s->extra_payload_len);
    free(s);
}

void obol_sessions_free(obol_session **list, size_t count)
{
    if (list == NULL)
        return;
    for (size_t i = 0; i < count; i++)
        obol_session_free(list[i]);
    free(list);
}

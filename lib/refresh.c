/*
 * obol_refresh(): the refresh-token protocol, rotation with reuse
 * detection, over the store's own get, upsert and delete.
 */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "errors_internal.h"
#include "session_internal.h"
#include "store_internal.h"

/* Rounds of read, decide, write before giving up. A round is lost only to
 * a write that changed the session without rotating its token (a rotation
 * makes the next round answer OBOL_JUST_ROTATED), so this is never reached
 * but by a writer that never stops. */
#define MAX_ROUNDS 64

/* Whether the presented refresh token id is the stored one, in constant
 * time whatever the lengths: both are hashed first, so that the time taken
 * says nothing about how much of a guess was right. */
static int same_token_id(const char *presented, const char *stored)
{
    uint8_t a[crypto_generichash_BYTES], b[crypto_generichash_BYTES];

    if (stored == NULL)
        return 0;
    crypto_generichash(a, sizeof a, (const uint8_t *)presented,
                       strlen(presented), NULL, 0);
    crypto_generichash(b, sizeof b, (const uint8_t *)stored, strlen(stored),
                       NULL, 0);
    return crypto_verify_32(a, b) == 0;
}

static obol_driver_key key_of(const obol_session *s)
{
    obol_driver_key key = {
        { (const uint8_t *)s->user_id, strlen(s->user_id) },
        { (const uint8_t *)s->type, strlen(s->type) },
        { (const uint8_t *)s->id, strlen(s->id) },
    };
    return key;
}

/* The current token: a new refresh token id, written under the lock. The
 * new client token is made before the write, so that a rotation that is
 * stored always has a token to hand out. */
static int rotate(obol_store *st, obol_session *s, int64_t now,
                  int64_t refresh_ttl, obol_session **session,
                  char **new_token, obol_error *err)
{
    char *token = NULL;
    int status = obol_session_refresh(s, now, refresh_ttl);

    if (status != OBOL_OK)
        return obol_set_error(err, status, "refresh: cannot rotate the "
                              "token: %s", obol_strerror(status));
    if (new_token != NULL) {
        status = obol_token_make(st, s, &token, err);
        if (status != OBOL_OK)
            return status;
    }
    status = obol_store_upsert(st, s, err);
    if (status != OBOL_OK) {
        obol_wipe_free_string(token);   /* the client would have held it */
        return status;
    }
    if (new_token != NULL)
        *new_token = token;
    if (session != NULL)
        *session = s;
    else
        obol_session_free(s);
    obol_clear_error(err);
    return OBOL_OK;
}

/* An old token came back: whoever holds the session's tokens, the session
 * is no longer safe, so it is revoked. */
static int revoke(obol_store *st, const obol_session *s, obol_error *err)
{
    obol_driver_key key = key_of(s);
    int status = obol_store_delete(st, s->id, s->user_id, s->type, err);

    if (status != OBOL_OK)
        return status;
    obol_store_log(st, OBOL_LOG_WARNING, "obol: refresh token reuse on a "
                   "session of user '%s' (type '%s'): session revoked",
                   s->user_id, s->type);
    obol_store_event(st, OBOL_EVENT_REUSE_DETECTED, &key, 0,
                     "an old refresh token was presented");
    return obol_set_error(err, OBOL_REUSE_DETECTED, "refresh: reuse of an "
                          "old refresh token: the session was revoked");
}

/* One round: what the presented refresh token id means for the session
 * as read. Takes s; returns OBOL_CONFLICT when the round must be run
 * again. */
static int decide(obol_store *st, const obol_token *t, obol_session *s,
                  int64_t refresh_ttl, obol_session **session,
                  char **new_token, obol_error *err)
{
    int64_t now = obol_store_now(st);
    int status;

    if (same_token_id(t->refresh_token_id, s->refresh_token_id)) {
        status = rotate(st, s, now, refresh_ttl, session, new_token, err);
        if (status != OBOL_OK)
            obol_session_free(s);
        return status;
    }
    if (same_token_id(t->refresh_token_id, s->prev_refresh_token_id) &&
        now - s->tokens_fresh_from <= st->config.refresh_grace_s) {
        status = obol_set_error(err, OBOL_JUST_ROTATED,
                                "refresh: the token was rotated %lld s ago "
                                "by another refresh; use the current one",
                                (long long)(now - s->tokens_fresh_from));
    } else {
        status = revoke(st, s, err);
    }
    obol_session_free(s);
    return status;
}

int obol_store_refresh(obol_store *st, const char *token, int64_t refresh_ttl,
                       obol_session **session, char **new_token,
                       obol_error *err)
{
    obol_error local;
    obol_token *t = NULL;
    int status;

    if (err == NULL)
        err = &local;
    if (session != NULL)
        *session = NULL;
    if (new_token != NULL)
        *new_token = NULL;
    if (st == NULL || token == NULL || refresh_ttl < 0)
        return obol_set_error(err, OBOL_ERR_INVALID, "refresh: store and "
                              "token must be set and refresh_ttl >= 0");
    status = obol_token_parse(st, token, &t, err);
    for (int round = 0; status == OBOL_OK && round < MAX_ROUNDS; round++) {
        obol_session *s = NULL;

        status = obol_store_get(st, t->id, t->user_id, t->type, &s, err);
        if (status == OBOL_OK)
            status = decide(st, t, s, refresh_ttl, session, new_token, err);
        if (status != OBOL_CONFLICT)
            break;
        status = OBOL_OK;
        if (round + 1 == MAX_ROUNDS)
            status = obol_set_error(err, OBOL_ERR_BACKEND, "refresh: the "
                                    "session kept changing under %d rounds",
                                    MAX_ROUNDS);
    }
    obol_token_free(t);
    return status;
}

int obol_refresh(obol_store *st, const char *token, int64_t refresh_ttl,
                 obol_session **session, char **new_token, obol_error *err)
{
    uint64_t started = obol_stats_start(st);

    return obol_stats_finish(st, OBOL_OP_REFRESH, started,
                             obol_store_refresh(st, token, refresh_ttl,
                                                session, new_token, err));
}

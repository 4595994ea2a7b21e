/* Sessions to sealed records and back; see record_internal.h. */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "codec_internal.h"
#include "errors_internal.h"
#include "record_internal.h"
#include "seal_internal.h"
#include "session_internal.h"

static obol_seal_context context_of(const obol_store *st,
                                    const obol_driver_key *key)
{
    obol_seal_context ctx = { st->prefix, key->user_id, key->type, key->id };
    return ctx;
}

static obol_bytes bytes_of(const char *text)
{
    obol_bytes b = { (const uint8_t *)text, strlen(text) };
    return b;
}

static int reserve(obol_record_buf *buf, size_t size)
{
    buf->data = buf->inline_bytes;
    if (size <= sizeof buf->inline_bytes)
        return OBOL_OK;
    buf->data = malloc(size);
    return buf->data != NULL ? OBOL_OK : OBOL_ERR_NOMEM;
}

void obol_record_buf_release(obol_record_buf *buf)
{
    if (buf->data != NULL && buf->data != buf->inline_bytes)
        free(buf->data);
    buf->data = NULL;
}

/* In MAC mode the session is encoded straight into its place in the
 * record; in AEAD mode into a scratch buffer that is then encrypted. */
static int encode_and_seal(obol_store *st, const obol_session *stored,
                           const obol_key *key, obol_record_buf *out,
                           obol_error *err)
{
    int mode = st->config.seal_mode;
    size_t plain_len = obol_codec_encoded_size(stored);
    obol_driver_key where = { bytes_of(stored->user_id), bytes_of(stored->type),
                              bytes_of(stored->id) };
    obol_seal_context ctx = context_of(st, &where);
    obol_record_buf scratch = { 0 };
    uint8_t *plain;
    int status;

    out->len = obol_sealed_size(mode, plain_len);
    if (reserve(out, out->len) != OBOL_OK)
        return obol_set_error(err, OBOL_ERR_NOMEM, "seal: out of memory");
    if (mode == OBOL_SEAL_MAC) {
        plain = out->data + obol_seal_payload_offset(mode);
    } else if (reserve(&scratch, plain_len) == OBOL_OK) {
        plain = scratch.data;
    } else {
        obol_record_buf_release(out);
        return obol_set_error(err, OBOL_ERR_NOMEM, "seal: out of memory");
    }
    status = obol_codec_encode(stored, plain, plain_len, &plain_len);
    if (status == OBOL_OK)
        obol_seal(mode, key, &ctx, plain, plain_len, out->data);
    else
        obol_set_error(err, status, "seal: the session does not encode");
    if (mode == OBOL_SEAL_AEAD)
        sodium_memzero(scratch.data, plain_len);
    obol_record_buf_release(&scratch);
    if (status != OBOL_OK)
        obol_record_buf_release(out);
    return status;
}

int obol_record_seal(obol_store *st, const obol_session *s, uint64_t new_lock,
                     obol_record_buf *out, obol_error *err)
{
    obol_session stored = *s;
    obol_key key;
    int status;

    if (obol_keyring_signing_key(st->keys, &key) != OBOL_OK)
        return obol_set_error(err, OBOL_ERR_KEY,
                              "seal: the store has no signing key (set "
                              "secret= or call obol_store_add_key)");
    stored.lock_version = new_lock;
    stored.version = OBOL_SESSION_VERSION;
    status = encode_and_seal(st, &stored, &key, out, err);
    sodium_memzero(&key, sizeof key);
    return status;
}

int obol_record_build(obol_store *st, const obol_driver_key *key,
                      const obol_session *s, uint64_t new_lock,
                      obol_record_buf *sealed, obol_driver_record *record,
                      obol_error *err)
{
    obol_driver_key where = *key;   /* key may point into record */
    int status = obol_record_seal(st, s, new_lock, sealed, err);

    if (status != OBOL_OK)
        return status;
    record->key = where;
    record->sealed.data = sealed->data;
    record->sealed.len = sealed->len;
    record->expires_at = s->refresh_expires_at;
    record->lock_version = new_lock;
    return OBOL_OK;
}

/* ------------------------------------------------------------- reading */

static int same_bytes(const char *text, obol_bytes b)
{
    return strlen(text) == b.len && memcmp(text, b.data, b.len) == 0;
}

/* Why a decoded session may not be returned for key, or NULL. */
static const char *mismatch(const obol_session *s, const obol_driver_key *key)
{
    if (!same_bytes(s->id, key->id))
        return "it holds another session id";
    if (!same_bytes(s->user_id, key->user_id))
        return "it belongs to another user";
    if (!same_bytes(s->type, key->type))
        return "it is of another type";
    return NULL;
}

static void log_record(obol_store *st, int level, const obol_driver_key *key,
                       const char *verdict, const char *why)
{
    char id[96];
    char user[96];

    obol_store_log(st, level, "obol: record of session '%s' (user '%s') %s: %s",
                   obol_printable(key->id, id, sizeof id),
                   obol_printable(key->user_id, user, sizeof user), verdict,
                   why);
}

/* Bytes a driver kept back are a record too long for it to copy. */
static void judge_unfit(const obol_store *st, const uint8_t *bytes,
                        size_t len, obol_record_verdict *v)
{
    v->status = OBOL_ERR_CORRUPT;
    v->refusal = OBOL_REFUSED_OVERSIZED;
    if (len > st->config.max_record)
        snprintf(v->why, sizeof v->why, "record of %zu bytes is over "
                 "max_record (%llu)", len,
                 (unsigned long long)st->config.max_record);
    else
        snprintf(v->why, sizeof v->why, "the driver returned %s bytes for "
                 "a record of %zu", bytes == NULL ? "no" : "its", len);
}

/* Why a seal that did not verify was refused. */
static int refusal_of(const obol_unsealed *payload)
{
    if (payload->unknown_key)
        return OBOL_REFUSED_UNKNOWN_KEY;
    return payload->refused_unsigned ? OBOL_REFUSED_UNSIGNED
                                     : OBOL_REFUSED_BAD_SEAL;
}

static int refused(obol_record_verdict *v, int refusal, const char *why)
{
    v->refusal = refusal;
    if (why != v->why)
        snprintf(v->why, sizeof v->why, "%s", why);
    return v->status = OBOL_ERR_CORRUPT;
}

static int out_of_memory(obol_record_verdict *v, const char *what)
{
    snprintf(v->why, sizeof v->why, "out of memory %s", what);
    return v->status = OBOL_ERR_NOMEM;
}

/* Decodes a verified payload and checks it is the live session asked for. */
static int decode_checked(const obol_driver_key *key, int64_t now,
                          const obol_unsealed *payload, obol_session **out,
                          obol_record_verdict *v)
{
    const char *wrong;
    obol_session *s;
    int status;

    status = obol_codec_decode(payload->payload, payload->len, &s, v->why,
                               sizeof v->why);
    if (status == OBOL_ERR_NOMEM)
        return out_of_memory(v, "decoding a session");
    if (status != OBOL_OK)
        return refused(v, OBOL_REFUSED_UNDECODABLE, v->why);
    wrong = mismatch(s, key);
    if (wrong != NULL) {
        obol_session_free(s);
        return refused(v, OBOL_REFUSED_MISFILED, wrong);
    }
    if (now > s->refresh_expires_at) {
        obol_session_free(s);
        return v->status = OBOL_NOT_FOUND;
    }
    *out = s;
    return v->status = OBOL_OK;
}

int obol_record_fits(const obol_store *st, const uint8_t *bytes, size_t len)
{
    return len <= st->config.max_record && (bytes != NULL || len == 0);
}

/* A record longer than max_record is refused before its seal is even
 * looked at, as one whose seal fails is: otherwise whoever can write to
 * the backend could make every read take in (and verify, and decrypt)
 * gigabytes. A driver that kept such bytes back shows them as NULL. */
int obol_record_judge(obol_store *st, const obol_driver_key *key,
                      const uint8_t *bytes, size_t len, int64_t now,
                      obol_session **out, obol_record_verdict *v)
{
    obol_seal_context ctx = context_of(st, key);
    obol_unsealed payload;
    obol_error why;
    int status;

    v->unsigned_read = 0;
    v->sealed = 0;
    v->unknown_key = 0;
    v->key_id = 0;
    if (!obol_record_fits(st, bytes, len)) {
        judge_unfit(st, bytes, len, v);
        return v->status;
    }
    status = obol_unseal(st->keys, st->config.allow_unsigned, &ctx, bytes, len,
                         &payload, &why);
    v->unknown_key = payload.unknown_key;
    v->key_id = payload.key_id;
    if (status == OBOL_ERR_NOMEM)
        return out_of_memory(v, "decrypting");
    if (status != OBOL_OK)
        return refused(v, refusal_of(&payload), why.message);
    v->sealed = 1;
    v->format = payload.format;
    v->unsigned_read = payload.was_unsigned;
    status = decode_checked(key, now, &payload, out, v);
    /* The decrypted session, refresh token id and payload included. */
    obol_wipe_free(payload.owned, payload.len);
    return status;
}

/* A record that is not to be trusted: the logger is told why, the
 * store's stats count it (by v->refusal, OBOL_REFUSED_*), and the event
 * hook is told what: a key it does not know (OBOL_EVENT_UNKNOWN_KEY), or
 * anything else (OBOL_EVENT_BAD_SEAL). */
static int report_refusal(obol_store *st, const obol_driver_key *key,
                          const obol_record_verdict *v, obol_error *err)
{
    log_record(st, OBOL_LOG_WARNING, key, "refused", v->why);
    obol_stats_refused(st, v->refusal);
    obol_store_event(st, v->unknown_key ? OBOL_EVENT_UNKNOWN_KEY
                                        : OBOL_EVENT_BAD_SEAL,
                     key, v->key_id, v->why);
    return obol_set_error(err, OBOL_ERR_CORRUPT, "record refused: %s",
                          v->why);
}

static void report_unsigned(obol_store *st, const obol_driver_key *key)
{
    obol_stats_unsigned_accepted(st);
    log_record(st, OBOL_LOG_WARNING, key, "accepted",
               "it is unsigned and allow_unsigned=1 (run `obol rekey` to "
               "seal it)");
    obol_store_event(st, OBOL_EVENT_UNSIGNED_READ, key, 0,
                     "unsigned record read with allow_unsigned=1");
}

int obol_record_report(obol_store *st, const obol_driver_key *key,
                       const obol_record_verdict *v, obol_error *err)
{
    if (v->unsigned_read)
        report_unsigned(st, key);
    switch (v->status) {
    case OBOL_OK:
        return OBOL_OK;
    case OBOL_NOT_FOUND:
        log_record(st, OBOL_LOG_DEBUG, key, "skipped", "it has expired");
        return obol_set_error(err, OBOL_NOT_FOUND, "session has expired");
    case OBOL_ERR_CORRUPT:
        return report_refusal(st, key, v, err);
    default:
        return obol_set_error(err, v->status, "%s", v->why);
    }
}

/* Judged at now and reported, telling *seal (NULL: nobody asks). */
static int open_at(obol_store *st, const obol_driver_key *key,
                   const uint8_t *bytes, size_t len, int64_t now,
                   obol_session **out, obol_seal_info *seal, obol_error *err)
{
    obol_record_verdict v;

    obol_record_judge(st, key, bytes, len, now, out, &v);
    if (seal != NULL && v.sealed) {
        seal->key_id = v.key_id;
        seal->format = v.format;
    }
    return obol_record_report(st, key, &v, err);
}

int obol_record_open_sealed(obol_store *st, const obol_driver_key *key,
                            const uint8_t *bytes, size_t len,
                            obol_session **out, obol_seal_info *seal,
                            obol_error *err)
{
    return open_at(st, key, bytes, len, obol_store_now(st), out, seal, err);
}

int obol_record_open(obol_store *st, const obol_driver_key *key,
                     const uint8_t *bytes, size_t len, obol_session **out,
                     obol_error *err)
{
    return open_at(st, key, bytes, len, obol_store_now(st), out, NULL, err);
}

int obol_record_open_at(obol_store *st, const obol_driver_key *key,
                        const uint8_t *bytes, size_t len, int64_t now,
                        obol_session **out, obol_error *err)
{
    return open_at(st, key, bytes, len, now, out, NULL, err);
}

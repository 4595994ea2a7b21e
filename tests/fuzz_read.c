/*
 * libFuzzer target: the read path of a planted record, through obol_get(),
 * obol_get_all() and obol_scan() on the memory driver (linked in and
 * registered here, so it is instrumented too).
 *
 * The first input byte picks the mode (its two low bits), the rest is the
 * body:
 *   0  the body is an encoded session, sealed with the store's key by the
 *      core's own obol_seal() in a seal=mac store, so that the reads get
 *      past the MAC to the decoder and the checks after it;
 *   1  the same in a seal=aead store (encrypted, then decrypted);
 *   2  the body is planted as the sealed record itself: the seal parser;
 *   3  the same in a store with allow_unsigned=1, where a body that starts
 *      as an encoded session ('o') is read as a legacy unsigned record.
 * The record is planted with the driver's own put(), through the store's
 * internal handle, under the user, type and id the reads ask for.
 *
 * Checks beyond "no crash, no leak": the three reads agree (get finds the
 * session exactly when get_all lists it and scan hands it on, and they
 * return the same session); each refusal is told to the event hook, once
 * per read; and where the verdict can be known in advance (modes 0 and 1,
 * and an unsigned record in mode 3) it is the decoder's: the session is
 * read when it decodes, is filed under the ids asked for and is live,
 * skipped as expired when only the last fails, and refused otherwise.
 */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include <obol/driver.h>

#include "codec_internal.h"
#include "fuzz.h"
#include "keys_internal.h"
#include "seal_internal.h"
#include "store_internal.h"

const obol_driver *obol_driver_memory_entry(const obol_driver_host *host);

#define FUZZ_NOW 1767225600   /* 2026-01-01: the stores' clock, fixed */
#define FUZZ_USER "alice"
#define FUZZ_TYPE "full"
#define FUZZ_SID "fuzz-session"
#define FUZZ_KEY_ID 7

enum { MODE_MAC, MODE_AEAD, MODE_RAW, MODE_RAW_UNSIGNED };

static const uint8_t raw_key[32] = "obol read-path fuzz target key.";

/* What the reads told the event hook. */
typedef struct events {
    unsigned refused;    /* OBOL_EVENT_BAD_SEAL, OBOL_EVENT_UNKNOWN_KEY */
    unsigned unsigned_reads;
} events;

/* The verdict of every read on the record. */
enum verdict { LIVE, EXPIRED, REFUSED, UNKNOWN };

static int64_t fixed_clock(void *arg)
{
    (void)arg;
    return FUZZ_NOW;
}

static void count_event(void *arg, const obol_event *event)
{
    events *seen = arg;

    if (event->kind == OBOL_EVENT_BAD_SEAL ||
        event->kind == OBOL_EVENT_UNKNOWN_KEY)
        seen->refused++;
    else if (event->kind == OBOL_EVENT_UNSIGNED_READ)
        seen->unsigned_reads++;
}

/* Messages are built for every refusal: make sure they are well formed. */
static void check_log(void *arg, int level, const char *msg)
{
    (void)arg;
    (void)level;
    FUZZ_CHECK(msg != NULL && strlen(msg) < 4096);
}

static obol_bytes bytes_of(const char *text)
{
    obol_bytes b = { (const uint8_t *)text, strlen(text) };
    return b;
}

static obol_driver_key planted_key(void)
{
    obol_driver_key key = { bytes_of(FUZZ_USER), bytes_of(FUZZ_TYPE),
                            bytes_of(FUZZ_SID) };
    return key;
}

static obol_store *open_store(int mode, events *seen)
{
    static int registered;
    obol_store *st = NULL;
    obol_error err;
    const char *url = mode == MODE_AEAD           ? "memory:?seal=aead"
                      : mode == MODE_RAW_UNSIGNED ? "memory:?allow_unsigned=1"
                                                  : "memory:?seal=mac";

    if (!registered) {
        FUZZ_CHECK(obol_driver_register(obol_driver_memory_entry, &err) ==
                   OBOL_OK);
        registered = 1;
    }
    FUZZ_CHECK(obol_store_open(url, &st, &err) == OBOL_OK);
    FUZZ_CHECK(obol_store_add_key(st, FUZZ_KEY_ID, raw_key, 1, &err) == OBOL_OK);
    obol_store_set_clock(st, fixed_clock, NULL);
    obol_store_set_event_hook(st, count_event, seen);
    obol_store_set_logger(st, check_log, NULL);
    return st;
}

/* The body sealed for key in the store's mode, as obol_upsert() would. */
static uint8_t *seal_body(obol_store *st, const obol_driver_key *where,
                          const uint8_t *body, size_t len, size_t *sealed_len)
{
    int mode = st->config.seal_mode;
    obol_seal_context ctx = { st->prefix, where->user_id, where->type,
                              where->id };
    size_t offset = obol_seal_payload_offset(mode);
    uint8_t *sealed;
    obol_key key;

    *sealed_len = obol_sealed_size(mode, len);
    sealed = malloc(*sealed_len);
    FUZZ_CHECK(sealed != NULL);
    FUZZ_CHECK(obol_keyring_signing_key(st->keys, &key) == OBOL_OK);
    if (mode == OBOL_SEAL_MAC) {
        if (len > 0)
            memcpy(sealed + offset, body, len);
        obol_seal(mode, &key, &ctx, sealed + offset, len, sealed);
    } else {
        obol_seal(mode, &key, &ctx, body, len, sealed);
    }
    return sealed;
}

static void plant(obol_store *st, const obol_driver_key *where,
                  const uint8_t *record, size_t len)
{
    obol_driver_record r = { *where, { record, len }, OBOL_INFINITE, 1 };
    obol_error err;
    int status;

    obol_store_driver_enter(st);
    status = st->driver->put(st->handle, &r, 0, FUZZ_NOW, &err);
    obol_store_driver_leave(st);
    FUZZ_CHECK(status == OBOL_OK);
}

static int same_text(const char *text, obol_bytes b)
{
    return strlen(text) == b.len && memcmp(text, b.data, b.len) == 0;
}

/* What the core must make of a verified payload: the decoder's verdict,
 * then the ids it is filed under, then its expiry. */
static enum verdict verdict_of_payload(const uint8_t *payload, size_t len)
{
    obol_driver_key key = planted_key();
    obol_session *s = NULL;
    enum verdict v;

    if (obol_codec_decode(payload, len, &s, NULL, 0) != OBOL_OK)
        return REFUSED;
    if (!same_text(s->id, key.id) || !same_text(s->user_id, key.user_id) ||
        !same_text(s->type, key.type))
        v = REFUSED;
    else
        v = FUZZ_NOW > s->refresh_expires_at ? EXPIRED : LIVE;
    obol_session_free(s);
    return v;
}

/* A planted record is judged by its first byte: a seal (whose MAC only
 * the seal's own check can judge), an unsigned session, or garbage. */
static enum verdict expected_verdict(int mode, const uint8_t *body, size_t len)
{
    if (mode == MODE_MAC || mode == MODE_AEAD)
        return verdict_of_payload(body, len);
    if (len == 0)
        return REFUSED;
    if (body[0] == OBOL_SEAL_MAC || body[0] == OBOL_SEAL_AEAD)
        return UNKNOWN;
    if (body[0] == OBOL_CODEC_MAGIC && mode == MODE_RAW_UNSIGNED)
        return verdict_of_payload(body, len);
    return REFUSED;
}

/* The walk's visitor: keeps a copy of every session it is handed. */
typedef struct seen_sessions {
    obol_session *last;
    unsigned count;
} seen_sessions;

static int keep_session(void *arg, const obol_session *s)
{
    seen_sessions *seen = arg;

    obol_session_free(seen->last);
    seen->last = obol_session_dup(s);
    FUZZ_CHECK(seen->last != NULL);
    seen->count++;
    return OBOL_OK;
}

/* Reads the planted record three ways and checks that they agree with
 * each other and with expected. */
static void read_back(obol_store *st, enum verdict expected, const events *ev)
{
    obol_session *got = NULL, **all = NULL;
    seen_sessions walked = { NULL, 0 };
    obol_scan_stats stats;
    size_t count = 0;
    obol_error err;
    int status;

    status = obol_get(st, FUZZ_SID, FUZZ_USER, FUZZ_TYPE, &got, &err);
    FUZZ_CHECK(status == OBOL_OK || status == OBOL_NOT_FOUND);
    FUZZ_CHECK((status == OBOL_OK) == (got != NULL));
    FUZZ_CHECK(obol_get_all(st, FUZZ_USER, FUZZ_TYPE, &all, &count, &err) ==
               OBOL_OK);
    FUZZ_CHECK(obol_scan(st, keep_session, &walked, &stats, &err) == OBOL_OK);

    FUZZ_CHECK(stats.records == 1);
    FUZZ_CHECK(stats.live + stats.expired + stats.rejected == 1);
    FUZZ_CHECK(stats.live == walked.count && walked.count == count);
    FUZZ_CHECK((got != NULL) == (count == 1));
    FUZZ_CHECK(ev->refused == (stats.rejected ? 3u : 0u));
    if (got != NULL) {
        FUZZ_CHECK(fuzz_same_session(got, all[0]));
        FUZZ_CHECK(fuzz_same_session(got, walked.last));
        FUZZ_CHECK(got->refresh_expires_at >= FUZZ_NOW);
    }
    if (expected != UNKNOWN)
        FUZZ_CHECK((expected == LIVE && stats.live == 1) ||
                   (expected == EXPIRED && stats.expired == 1) ||
                   (expected == REFUSED && stats.rejected == 1));
    obol_session_free(walked.last);
    obol_sessions_free(all, count);
    obol_session_free(got);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    obol_driver_key where = planted_key();
    events seen = { 0, 0 };
    const uint8_t *body;
    uint8_t *sealed = NULL;
    size_t body_len, sealed_len;
    obol_store *st;
    int mode;

    if (size == 0)
        return 0;
    mode = data[0] & 3;
    body = data + 1;
    body_len = size - 1;
    st = open_store(mode, &seen);
    if (mode == MODE_MAC || mode == MODE_AEAD) {
        sealed = seal_body(st, &where, body, body_len, &sealed_len);
        plant(st, &where, sealed, sealed_len);
    } else {
        plant(st, &where, body, body_len);
    }
    read_back(st, expected_verdict(mode, body, body_len), &seen);
    if (mode == MODE_RAW_UNSIGNED && body_len > 0 &&
        body[0] == OBOL_CODEC_MAGIC)
        FUZZ_CHECK(seen.unsigned_reads == 3);
    else
        FUZZ_CHECK(seen.unsigned_reads == 0);
    free(sealed);
    obol_store_close(st);
    return 0;
}

/*
 * Sessions to records and back: encode + seal on the way in; unseal,
 * decode and check on the way out. Every rule about which stored bytes may
 * become a session lives here.
 */
#ifndef OBOL_RECORD_INTERNAL_H
#define OBOL_RECORD_INTERNAL_H

#include <stddef.h>
#include <stdint.h>

#include <obol/driver.h>
#include <obol/obol.h>

#include "store_internal.h"

/* A sealed record being built; small ones live in inline storage. */
typedef struct obol_record_buf {
    uint8_t *data;
    size_t len;
    uint8_t inline_bytes[2048];
} obol_record_buf;

/*
 * Encodes s as it will be stored with lock_version new_lock and seals it
 * for the store's prefix. OBOL_OK, OBOL_ERR_KEY, OBOL_ERR_NOMEM or
 * OBOL_ERR_INVALID. Release with obol_record_buf_release().
 */
int obol_record_seal(obol_store *st, const obol_session *s, uint64_t new_lock,
                     obol_record_buf *out, obol_error *err);

void obol_record_buf_release(obol_record_buf *buf);

/*
 * obol_record_seal() into sealed, then the driver's record of it: filed
 * under key, with s's expiry and lock version new_lock; record points into
 * sealed. Same statuses as obol_record_seal().
 */
int obol_record_build(obol_store *st, const obol_driver_key *key,
                      const obol_session *s, uint64_t new_lock,
                      obol_record_buf *sealed, obol_driver_record *record,
                      obol_error *err);

/*
 * Turns stored bytes found under key into a session: OBOL_OK with *out,
 * OBOL_NOT_FOUND when the session is no longer live, OBOL_ERR_CORRUPT when
 * the record is not to be trusted (longer than max_record, bad seal, bad
 * encoding, filed under another id, user or type; the logger is told why
 * at warning level, the event hook gets OBOL_EVENT_BAD_SEAL), or
 * OBOL_ERR_NOMEM.
 */
int obol_record_open(obol_store *st, const obol_driver_key *key,
                     const uint8_t *bytes, size_t len, obol_session **out,
                     obol_error *err);

/* obol_record_open() judging liveness at now (obol_store_now()), for a
 * caller that opens many records at one time. */
int obol_record_open_at(obol_store *st, const obol_driver_key *key,
                        const uint8_t *bytes, size_t len, int64_t now,
                        obol_session **out, obol_error *err);

/* Whether len stored bytes at bytes may be read at all: no longer than
 * max_record, and there (a driver shows a longer record as NULL bytes,
 * driver.h "Bounded reads"). obol_record_open() refuses any other. */
int obol_record_fits(const obol_store *st, const uint8_t *bytes, size_t len);

/* How a record that opened was sealed. */
typedef struct obol_seal_info {
    uint32_t key_id;    /* 0 for an unsigned record */
    int format;         /* OBOL_SEAL_MAC or OBOL_SEAL_AEAD; 0 unsigned */
} obol_seal_info;

/* What opening a record found, before anybody is told. */
typedef struct obol_record_verdict {
    int status;        /* OBOL_OK; OBOL_NOT_FOUND (not live);
                          OBOL_ERR_CORRUPT (refused); OBOL_ERR_NOMEM */
    int refusal;       /* OBOL_REFUSED_* when refused */
    int sealed;        /* the seal verified (format, key_id are set) */
    int format;        /* OBOL_SEAL_MAC or OBOL_SEAL_AEAD; 0 unsigned */
    uint32_t key_id;   /* the key the record names, 0 unsigned */
    int unknown_key;   /* refused because no key of the store has key_id */
    int unsigned_read; /* an unsigned record accepted (allow_unsigned=1) */
    char why[256];     /* what was wrong, when status is not OBOL_OK */
} obol_record_verdict;

/*
 * obol_record_open() in two halves, for a caller that must open the
 * record where nothing else may run (a driver's view(), driver.h "Reads
 * in place"). obol_record_judge() verifies, decodes and checks (the
 * session is live at now, from obol_store_now()), fills *v and, on
 * OBOL_OK, *out, and has no other effect: no logger, stats, event hook
 * or clock of the application's is called. obol_record_report() then does what opening
 * tells (the warnings, the counts, the events), fills err and returns
 * v->status.
 */
int obol_record_judge(obol_store *st, const obol_driver_key *key,
                      const uint8_t *bytes, size_t len, int64_t now,
                      obol_session **out, obol_record_verdict *v);
int obol_record_report(obol_store *st, const obol_driver_key *key,
                       const obol_record_verdict *v, obol_error *err);

/* obol_record_open(), telling *seal (which may be NULL) how the record was
 * sealed whenever it verified, even when it then turns out not to be live. */
int obol_record_open_sealed(obol_store *st, const obol_driver_key *key,
                            const uint8_t *bytes, size_t len,
                            obol_session **out, obol_seal_info *seal,
                            obol_error *err);

#endif

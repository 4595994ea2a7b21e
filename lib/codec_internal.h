/*
 * The session codec: obol_session <-> versioned binary encoding, laid out in
 * docs/FORMAT.md. Pure functions, no keys, no I/O.
 */
#ifndef OBOL_CODEC_INTERNAL_H
#define OBOL_CODEC_INTERNAL_H

#include <stddef.h>
#include <stdint.h>

#include <obol/obol.h>

/* First byte of every encoded session ('o'); a sealed record starts with a
 * different byte, which is how unsigned legacy records are told apart. */
#define OBOL_CODEC_MAGIC 0x6f

/* Exact number of bytes obol_codec_encode() writes for s. */
size_t obol_codec_encoded_size(const obol_session *s);

/* The most obol_codec_encode() writes for any session a store accepts:
 * every string field OBOL_MAX_ID_LEN bytes, every number at its longest,
 * and extra_payload max_payload bytes. */
size_t obol_codec_max_encoded_size(uint64_t max_payload);

/*
 * Encodes s at the current version (OBOL_SESSION_VERSION) into buf, which
 * has room for cap bytes; sets *len. Returns OBOL_OK, or OBOL_ERR_INVALID
 * when cap is too small or s could not be decoded again: a required string
 * is NULL, id or user_id is empty, refresh_expires_at is after expires_at,
 * or extra_payload is NULL with a length.
 */
int obol_codec_encode(const obol_session *s, uint8_t *buf, size_t cap,
                      size_t *len);

/*
 * Decodes len bytes at buf into a new session (*out, free with
 * obol_session_free()), upgrading older versions to the current one.
 * Never reads outside [buf, buf + len) and never allocates more than the
 * input could describe. Returns OBOL_OK, OBOL_ERR_NOMEM, or
 * OBOL_ERR_CORRUPT with a short reason in why (why may be NULL).
 */
int obol_codec_decode(const uint8_t *buf, size_t len, obol_session **out,
                      char *why, size_t why_size);

#endif

/*
 * libFuzzer target for the session decoder. Not built by make: it needs
 * clang's libFuzzer runtime (Debian: apt-get install clang libclang-rt-14-dev).
 * obol_session_free() comes from lib/session.c, which needs the config.h of
 * a configured build tree (BUILD below) and libsodium. From the top of the
 * source tree:
 *
 *   clang -std=c11 -g -O1 -fsanitize=fuzzer,address,undefined \
 *       -Iinclude -Ilib -I$BUILD lib/codec.c lib/session.c \
 *       tests/fuzz_codec.c -lsodium -o fuzz_codec
 *   mkdir -p corpus && ./fuzz_codec -max_total_time=60 corpus
 *
 * Compile codec.c with clang as above rather than linking a gcc-built
 * libobolcore.a: libFuzzer only sees the coverage of code it instrumented.
 * A seed corpus helps: the example record of docs/FORMAT.md as a file.
 *
 * What it checks, beyond "no crash, no leak, no out-of-bounds read": any
 * input that decodes is a session that encodes again, and whose encoding
 * decodes to the same session and re-encodes to the same bytes (so decode
 * and encode agree on every field, and encode is deterministic).
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "codec_internal.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int same_session(const obol_session *a, const obol_session *b)
{
    return strcmp(a->id, b->id) == 0 && strcmp(a->user_id, b->user_id) == 0 &&
           strcmp(a->type, b->type) == 0 &&
           strcmp(a->refresh_token_id, b->refresh_token_id) == 0 &&
           a->created_at == b->created_at && a->expires_at == b->expires_at &&
           a->refresh_expires_at == b->refresh_expires_at &&
           a->refreshed_at == b->refreshed_at &&
           a->tokens_fresh_from == b->tokens_fresh_from &&
           a->prev_tokens_fresh_from == b->prev_tokens_fresh_from &&
           a->lock_version == b->lock_version &&
           a->extra_payload_len == b->extra_payload_len &&
           (a->extra_payload_len == 0 ||
            memcmp(a->extra_payload, b->extra_payload,
                   a->extra_payload_len) == 0) &&
           a->version == OBOL_SESSION_VERSION &&
           b->version == OBOL_SESSION_VERSION;
}

/* Encodes s into a fresh buffer; aborts if encode refuses a session that
 * decode accepted, since the store could then never rewrite it. */
static uint8_t *encode_or_die(const obol_session *s, size_t *len)
{
    size_t cap = obol_codec_encoded_size(s);
    uint8_t *buf = malloc(cap);

    if (!buf || obol_codec_encode(s, buf, cap, len) != OBOL_OK || *len != cap)
        abort();
    return buf;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    obol_session *first = NULL, *second = NULL;
    uint8_t *encoded, *again;
    size_t encoded_len, again_len;
    char why[128];

    if (obol_codec_decode(data, size, &first, why, sizeof why) != OBOL_OK) {
        if (first)
            abort(); /* a failed decode must leave nothing behind */
        return 0;
    }
    encoded = encode_or_die(first, &encoded_len);
    if (obol_codec_decode(encoded, encoded_len, &second, why, sizeof why) !=
            OBOL_OK ||
        !same_session(first, second))
        abort();
    again = encode_or_die(second, &again_len);
    if (again_len != encoded_len || memcmp(again, encoded, again_len) != 0)
        abort();
    free(again);
    free(encoded);
    obol_session_free(second);
    obol_session_free(first);
    return 0;
}

/*
 * libFuzzer target: the session decoder (lib/codec.c). The input is an
 * encoded session, as the payload of a record after its seal (see
 * docs/FORMAT.md). `make fuzz` builds it with the other targets, and
 * `make check` replays tests/corpus/codec/ through it (docs/FUZZING.md).
 *
 * What it checks, beyond "no crash, no leak, no out-of-bounds read": any
 * input that decodes is a session that encodes again, and whose encoding
 * decodes to the same session and re-encodes to the same bytes (so decode
 * and encode agree on every field, and encode is deterministic).
 */
#include "config.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "codec_internal.h"
#include "fuzz.h"

/* Encodes s into a fresh buffer; fails the check if encode refuses a
 * session that decode accepted, since the store could then never rewrite
 * it. */
static uint8_t *encode_or_fail(const obol_session *s, size_t *len)
{
    size_t cap = obol_codec_encoded_size(s);
    uint8_t *buf = malloc(cap);

    FUZZ_CHECK(buf != NULL);
    FUZZ_CHECK(obol_codec_encode(s, buf, cap, len) == OBOL_OK);
    FUZZ_CHECK(*len == cap);
    return buf;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    obol_session *first = NULL, *second = NULL;
    uint8_t *encoded, *again;
    size_t encoded_len, again_len;
    char why[128] = "";

    if (obol_codec_decode(data, size, &first, why, sizeof why) != OBOL_OK) {
        FUZZ_CHECK(first == NULL); /* a failed decode leaves nothing behind */
        FUZZ_CHECK(why[0] != '\0');
        return 0;
    }
    FUZZ_CHECK(first->version == OBOL_SESSION_VERSION);
    encoded = encode_or_fail(first, &encoded_len);
    FUZZ_CHECK(obol_codec_decode(encoded, encoded_len, &second, why,
                                 sizeof why) == OBOL_OK);
    FUZZ_CHECK(fuzz_same_session(first, second));
    again = encode_or_fail(second, &again_len);
    FUZZ_CHECK(again_len == encoded_len);
    FUZZ_CHECK(memcmp(again, encoded, again_len) == 0);
    free(again);
    free(encoded);
    obol_session_free(second);
    obol_session_free(first);
    return 0;
}

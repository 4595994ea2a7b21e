/*
 * What the fuzz targets (tests/fuzz_*.c) share: libFuzzer's entry point,
 * which tests/test_fuzz_replay.c also calls to replay a committed corpus,
 * and the checks a target makes beyond "no crash". A failed check aborts,
 * which libFuzzer reports as a crash with the input that caused it, and
 * which ends the replay program. docs/FUZZING.md says how to run them.
 */
#ifndef OBOL_TEST_FUZZ_H
#define OBOL_TEST_FUZZ_H

#include <stddef.h>
#include <stdint.h>

#include <obol/obol.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Prints which check failed, and where, then aborts. */
__attribute__((noreturn)) void fuzz_failed(const char *file, int line,
                                           const char *check);

#define FUZZ_CHECK(cond)                                      \
    do {                                                      \
        if (!(cond))                                          \
            fuzz_failed(__FILE__, __LINE__, #cond);           \
    } while (0)

/* Whether two sessions hold the same fields, byte for byte; strings may be
 * NULL (a JSON object may leave them out), and only equal NULL. */
int fuzz_same_session(const obol_session *a, const obol_session *b);

/* The input as a NUL-terminated string (free it), or NULL when it holds a
 * NUL byte (no C string API can be handed it) or memory ran out. */
char *fuzz_string_of(const uint8_t *data, size_t size);

#endif

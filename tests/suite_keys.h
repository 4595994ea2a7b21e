/* Key rotation (old_key_ids=, old_secrets=, obol_rekey(), obol_count_keys()),
 * run with the store suite (see store_suite.h) on every driver. */
#ifndef OBOL_TEST_SUITE_KEYS_H
#define OBOL_TEST_SUITE_KEYS_H

#include <stddef.h>

struct CMUnitTest;

extern const struct CMUnitTest keys_suite_tests[];
extern const size_t keys_suite_test_count;

#endif

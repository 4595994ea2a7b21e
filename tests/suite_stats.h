/* obol_store_stats() (include/obol/obol.h, "stats"), run with the store
 * suite (see store_suite.h) on every driver. */
#ifndef OBOL_TEST_SUITE_STATS_H
#define OBOL_TEST_SUITE_STATS_H

#include <stddef.h>

struct CMUnitTest;

extern const struct CMUnitTest stats_suite_tests[];
extern const size_t stats_suite_test_count;

#endif

/* Counts of removals (obol_delete_counted() and the others, and the
 * driver's counted slots), run with the store suite (see store_suite.h)
 * on every driver. */
#ifndef OBOL_TEST_SUITE_COUNTS_H
#define OBOL_TEST_SUITE_COUNTS_H

#include <stddef.h>

struct CMUnitTest;

extern const struct CMUnitTest counts_suite_tests[];
extern const size_t counts_suite_test_count;

#endif

/* Driver-level conformance cases, run with the store suite (see
 * store_suite.h) on every driver. */
#ifndef OBOL_TEST_DRIVER_SUITE_H
#define OBOL_TEST_DRIVER_SUITE_H

#include <stddef.h>

struct CMUnitTest;

extern const struct CMUnitTest driver_suite_tests[];
extern const size_t driver_suite_test_count;

#endif

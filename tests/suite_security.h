/* What the seal stops and what it does not (docs/SECURITY.md), run with
 * the store suite (see store_suite.h) on every driver. */
#ifndef OBOL_TEST_SUITE_SECURITY_H
#define OBOL_TEST_SUITE_SECURITY_H

#include <stddef.h>

struct CMUnitTest;

extern const struct CMUnitTest security_suite_tests[];
extern const size_t security_suite_test_count;

#endif

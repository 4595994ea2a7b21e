/* Logout everywhere (obol_delete_everywhere() and the types= option),
 * run with the store suite (see store_suite.h) on every driver. */
#ifndef OBOL_TEST_SUITE_LOGOUT_H
#define OBOL_TEST_SUITE_LOGOUT_H

#include <stddef.h>

struct CMUnitTest;

extern const struct CMUnitTest logout_suite_tests[];
extern const size_t logout_suite_test_count;

#endif

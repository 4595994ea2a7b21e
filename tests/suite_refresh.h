/* Store-suite cases of the refresh-token protocol: client tokens,
 * obol_refresh's outcomes, reasons on refusals, and the event hook. */
#ifndef OBOL_TEST_SUITE_REFRESH_H
#define OBOL_TEST_SUITE_REFRESH_H

#include <stddef.h>

struct CMUnitTest;

extern const struct CMUnitTest refresh_suite_tests[];
extern const size_t refresh_suite_test_count;

#endif

/* Restores and migrations in a mode (only missing, only newer by lock
 * version), run with the store suite (see store_suite.h) on every driver. */
#ifndef OBOL_TEST_SUITE_MIGRATE_H
#define OBOL_TEST_SUITE_MIGRATE_H

#include <stddef.h>

struct CMUnitTest;

extern const struct CMUnitTest migrate_suite_tests[];
extern const size_t migrate_suite_test_count;

#endif

/*
 * A time limit on each case of a cmocka group. cmocka has none, so a case
 * that deadlocks (a driver that holds its lock across a visitor that calls
 * back in) would hang the run forever, naming nothing. Under the watchdog
 * it ends the run instead, saying which case did not finish.
 */
#ifndef OBOL_TEST_SUITE_WATCHDOG_H
#define OBOL_TEST_SUITE_WATCHDOG_H

#include <stddef.h>

struct CMUnitTest;

/* The default time limit of one case, setup and teardown included. */
#define SUITE_DEFAULT_TIMEOUT_S 60

/* Sets the limit of each case for the runs that follow; 0 restores the
 * default, which the environment variable OBOL_SUITE_TIMEOUT_S (seconds)
 * replaces. */
void suite_watchdog_set_timeout(unsigned seconds);

/*
 * Runs tests as _cmocka_run_group_tests() does, each case under the time
 * limit. A case that does not finish in time ends the process with exit
 * status SUITE_TIMEOUT_EXIT after printing one line, "GROUP: case NAME did
 * not finish within N s", as a TAP "Bail out!" when CMOCKA_MESSAGE_OUTPUT
 * is TAP. Returns cmocka's count of failed cases, or -1 when out of
 * memory.
 */
int suite_watchdog_run(const char *group_name, const struct CMUnitTest *tests,
                       size_t count);

#define SUITE_TIMEOUT_EXIT 3

#endif

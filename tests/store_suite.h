/*
 * The store-semantics suite: every behaviour of the public store API,
 * written once and run against each driver. A runner supplies a base config
 * string (for example "lmdb:///tmp/obol-test.XXXX") and the suite gives
 * every test a store of its own under a unique prefix.
 */
#ifndef OBOL_TEST_STORE_SUITE_H
#define OBOL_TEST_STORE_SUITE_H

#include <stddef.h>

/* Runs every store test against base_url; returns cmocka's failure count.
 * group_name names the group in the output ("store/lmdb"). */
int store_suite_run(const char *group_name, const char *base_url);

/* How many cases store_suite_run() runs. */
size_t store_suite_count(void);

#endif

/*
 * Whole-store walks (scan, prune): every (user, type) of a prefix, found
 * with SCAN MATCH on every master (never KEYS, which blocks a server).
 *
 * On a cluster the walk must not skip a record that was there all along
 * while slots move. So it reads each master's own view of its slots
 * (CLUSTER NODES, whose "myself" line also shows a slot being migrated)
 * before and after a pass over the masters, and passes again until the
 * two agree and no slot was in migration. A (user, type) may therefore be
 * visited more than once; callers are idempotent.
 */
#ifndef OBOL_REDIS_WALK_H
#define OBOL_REDIS_WALK_H

#include <obol/driver.h>

#include "redis_router.h"

/* Passes tried before a walk gives up on a cluster that keeps moving. */
#define REDIS_WALK_MAX_PASSES 20

typedef int (*redis_walk_fn)(void *arg, obol_bytes user, obol_bytes type,
                             obol_error *err);

/* Calls fn for each (user, type) that has a key "P:{U:T}<suffix>" under
 * the escaped prefix. A status other than OBOL_OK from fn ends the walk
 * and is returned. */
int redis_walk(redis_router *r, const char *escaped_prefix,
               const char *suffix, redis_walk_fn fn, void *arg,
               obol_error *err);

/* SCAN calls a prefixes() walk makes on each master, COUNT 1000 each:
 * it looks at some 16,000 keys per master at most, and says so when
 * there were more (*complete 0). */
#define REDIS_PREFIXES_SCAN_CALLS 16

/* Calls visit for the prefix of each record hash ("P:{*}:rec" of any P)
 * that SCAN meets on every master, within REDIS_PREFIXES_SCAN_CALLS per
 * master; *complete is 1 when every master's SCAN reached its end. A
 * prefix is visited once per hash. */
int redis_walk_prefixes(redis_router *r, obol_driver_prefix_visit visit,
                        void *arg, int *complete, obol_error *err);

#endif

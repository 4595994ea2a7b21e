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

#endif

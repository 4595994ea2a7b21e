/*
 * Walking a key range in batches. list() and scan() copy up to a batch of
 * records out of a read transaction, end it, and only then call the
 * visitor: so a visitor may call back into the driver (even write to the
 * same store, as a migration does) without holding a transaction or the
 * resize lock, and a long walk never pins old pages for long.
 */
#ifndef OBOL_LMDB_WALK_H
#define OBOL_LMDB_WALK_H

#include <stddef.h>
#include <stdint.h>

#include <obol/driver.h>

#include "lmdb_env.h"

/* Visits every record whose session key begins with range. Records
 * written or removed during the walk may or may not be seen; none is seen
 * twice. A record whose sealed bytes are longer than max_record (0: no
 * limit) is visited with sealed.data NULL and its stored length, and its
 * bytes are never copied. */
int lmdb_walk_range(lmdb_env *env, const uint8_t *range, size_t range_len,
                    size_t max_record, obol_driver_visit visit, void *arg,
                    obol_error *err);

/* Visits each distinct store prefix of the session keys: one cursor seek
 * per prefix (each seek jumps past every key of the prefix before), a
 * batch of them per read transaction, the visitor called outside it. */
int lmdb_walk_prefixes(lmdb_env *env, obol_driver_prefix_visit visit,
                       void *arg, obol_error *err);

#endif

/*
 * Shared by the files of the LMDB driver: the host table the core gave us
 * and the one way every error message is written.
 */
#ifndef OBOL_LMDB_INTERNAL_H
#define OBOL_LMDB_INTERNAL_H

#include <stddef.h>
#include <stdint.h>

#include <obol/driver.h>

/* Set once by obol_driver_lmdb_entry(), before any other call. */
extern const obol_driver_host *lmdb_host;

/* Formats a message and hands it to host->set_error; returns status.
 * Every message starts with "lmdb: " so that the user sees which driver
 * spoke. */
int lmdb_fail(obol_error *err, int status, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Turns an LMDB (or errno) return code into a status and a message such as
 * "lmdb: mdb_put on /var/lib/app: MDB_MAP_FULL: Environment mapsize limit
 * reached". */
int lmdb_fail_mdb(obol_error *err, int rc, const char *what,
                  const char *path);

/* config->max_record (ABI 1.2), or 0 (no limit) from a core whose config
 * ends before it. */
size_t lmdb_max_record_of(const obol_driver_config *config);

/* config->open_flags (ABI 1.3), or 0 from a core whose config ends
 * before it. */
uint32_t lmdb_open_flags_of(const obol_driver_config *config);

/* Whether sealed bytes of len are longer than the core reads: such a
 * record is shown without them (driver.h, "Bounded reads"). */
int lmdb_too_long(size_t max_record, size_t len);

#endif

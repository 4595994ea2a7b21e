/* The host table and the driver's error messages. */
#include <errno.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>

#include <lmdb.h>

#include "lmdb_internal.h"

const obol_driver_host *lmdb_host;

int lmdb_fail(obol_error *err, int status, const char *fmt, ...)
{
    char message[sizeof err->message];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(message, sizeof message, fmt, ap);
    va_end(ap);
    return lmdb_host->set_error(err, status, "%s", message);
}

/* Out-of-memory and oversized values have statuses of their own; every
 * other LMDB failure is the backend's. */
static int status_of(int rc)
{
    switch (rc) {
    case ENOMEM:
        return OBOL_ERR_NOMEM;
    case MDB_BAD_VALSIZE:
        return OBOL_ERR_TOO_LARGE;
    default:
        return OBOL_ERR_BACKEND;
    }
}

int lmdb_fail_mdb(obol_error *err, int rc, const char *what,
                  const char *path)
{
    return lmdb_fail(err, status_of(rc), "lmdb: %s on %s: %s", what, path,
                     mdb_strerror(rc));
}

size_t lmdb_max_record_of(const obol_driver_config *config)
{
    size_t needed = offsetof(obol_driver_config, max_record)
                    + sizeof config->max_record;
    if (config->struct_size < needed || config->max_record > SIZE_MAX)
        return 0;
    return (size_t)config->max_record;
}

int lmdb_too_long(size_t max_record, size_t len)
{
    return max_record != 0 && len > max_record;
}

uint32_t lmdb_open_flags_of(const obol_driver_config *config)
{
    size_t needed = offsetof(obol_driver_config, open_flags)
                    + sizeof config->open_flags;
    return config->struct_size >= needed ? config->open_flags : 0;
}

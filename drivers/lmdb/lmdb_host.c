/* The host table and the driver's error messages. */
#include <errno.h>
#include <stdarg.h>
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

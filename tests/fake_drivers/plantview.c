/*
 * A planted bug for obol-driver-check to catch: the LMDB driver, whole,
 * except that view() shows the record it was asked for with its last
 * byte flipped, as a driver that showed a buffer it had reused for
 * something else would. get() is the real one, so only a check that
 * compares what view() shows with what get() returns can tell.
 */
#include <stdlib.h>
#include <string.h>

#include <obol/driver.h>

OBOL_DRIVER_EXPORT(lmdb);
OBOL_DRIVER_EXPORT(plantview);

static const obol_driver *inner;
static obol_driver table;
static const char *const schemes[] = { "plantview", NULL };

static int show_a_changed_copy(void *handle, const obol_driver_key *key,
                               obol_driver_show show, void *arg,
                               obol_error *err)
{
    uint8_t *sealed = NULL;
    size_t len = 0;
    int status = inner->get(handle, key, &sealed, &len, err);

    if (status != OBOL_OK)
        return status;
    if (sealed != NULL && len > 0)
        sealed[len - 1] ^= 1;
    show(arg, sealed, len);
    free(sealed);
    return OBOL_OK;
}

const obol_driver *obol_driver_plantview_entry(const obol_driver_host *host)
{
    inner = obol_driver_lmdb_entry(host);
    table = *inner;
    table.name = "plantview";
    table.schemes = schemes;
    table.view = show_a_changed_copy;
    return &table;
}

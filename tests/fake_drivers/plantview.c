/*
 * A planted bug for obol-driver-check to catch: the LMDB driver, whole,
 * except that view() of a missing record shows an empty one and returns
 * OBOL_OK, where get() says OBOL_NOT_FOUND. The core refuses an empty
 * record, so a get still finds nothing; only a check that compares
 * view() with get() can tell.
 */
#include <obol/driver.h>

OBOL_DRIVER_EXPORT(lmdb);
OBOL_DRIVER_EXPORT(plantview);

static const obol_driver *inner;
static obol_driver table;
static const char *const schemes[] = { "plantview", NULL };

static int show_nothing_as_a_record(void *handle, const obol_driver_key *key,
                                    obol_driver_show show, void *arg,
                                    obol_error *err)
{
    int status = inner->view(handle, key, show, arg, err);

    if (status != OBOL_NOT_FOUND)
        return status;
    show(arg, (const uint8_t *)"", 0);
    return OBOL_OK;
}

const obol_driver *obol_driver_plantview_entry(const obol_driver_host *host)
{
    inner = obol_driver_lmdb_entry(host);
    table = *inner;
    table.name = "plantview";
    table.schemes = schemes;
    table.view = show_nothing_as_a_record;
    return &table;
}

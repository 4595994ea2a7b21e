/*
 * A planted bug for obol-driver-check to catch: the LMDB driver, whole,
 * except that prune() also removes records whose expires_at is now itself
 * (the boundary is "before now"). Copy-free: it takes the real driver's
 * table and replaces one slot, the handle being the real driver's own.
 */
#include <obol/driver.h>

OBOL_DRIVER_EXPORT(lmdb);
OBOL_DRIVER_EXPORT(plantprune);

static const obol_driver *inner;
static obol_driver table;
static const char *const schemes[] = { "plantprune", NULL };

static int prune_at_now_too(void *handle, int64_t now, obol_error *err)
{
    return inner->prune(handle, now < INT64_MAX ? now + 1 : now, err);
}

const obol_driver *obol_driver_plantprune_entry(const obol_driver_host *host)
{
    inner = obol_driver_lmdb_entry(host);
    table = *inner;
    table.name = "plantprune";
    table.schemes = schemes;
    table.prune = prune_at_now_too;
    return &table;
}

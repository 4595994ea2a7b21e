/* A driver built for ABI 1.0: its table ends after health and says minor
 * 0. Whatever lies beyond its struct_size is not part of it, so the core
 * must never read put_batch there; this table keeps a function in that
 * place that fails loudly if it is ever called. */
#include "fake_common.h"

FAKE_EXPORT const obol_driver *obol_driver_fakeold_entry(
    const obol_driver_host *host);

static const char *const fakeold_schemes[] = { "fakeold", NULL };

static int fakeold_put_batch(void *handle, const obol_driver_record *records,
                             const uint64_t *expected_locks, size_t count,
                             int64_t now, int *statuses, obol_error *err)
{
    (void)handle, (void)records, (void)expected_locks, (void)count;
    (void)now, (void)statuses;
    return fake_host->set_error(err, OBOL_ERR_DRIVER, "fakeold: put_batch "
                                "was read from beyond a 1.0 table");
}

const obol_driver *obol_driver_fakeold_entry(const obol_driver_host *host)
{
    static obol_driver table = FAKE_DRIVER_TABLE("fakeold", fakeold_schemes);

    fake_host = host;
    table.abi_minor = 0;
    table.struct_size = offsetof(obol_driver, health) + sizeof table.health;
    table.put_batch = fakeold_put_batch;
    return &table;
}

/* A driver built for a future ABI major version: must be refused before
 * anything else in its table is trusted. */
#include "fake_common.h"

FAKE_EXPORT const obol_driver *obol_driver_fakeabi_entry(
    const obol_driver_host *host);

static const char *const fakeabi_schemes[] = { "fakeabi", NULL };

const obol_driver *obol_driver_fakeabi_entry(const obol_driver_host *host)
{
    static obol_driver table = FAKE_DRIVER_TABLE("fakeabi", fakeabi_schemes);

    fake_host = host;
    table.abi_major = OBOL_DRIVER_ABI_MAJOR + 1;
    return &table;
}

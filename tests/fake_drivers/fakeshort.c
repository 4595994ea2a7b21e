/* A driver whose table claims to end before the last required slot, as one
 * built against a truncated header would. */
#include "fake_common.h"

FAKE_EXPORT const obol_driver *obol_driver_fakeshort_entry(
    const obol_driver_host *host);

static const char *const fakeshort_schemes[] = { "fakeshort", NULL };

const obol_driver *obol_driver_fakeshort_entry(const obol_driver_host *host)
{
    static obol_driver table =
        FAKE_DRIVER_TABLE("fakeshort", fakeshort_schemes);

    fake_host = host;
    table.struct_size = offsetof(obol_driver, prune);
    return &table;
}

/* A driver whose file and entry say "fakename" but whose table calls itself
 * something else (a file renamed by hand, or a table copied from another
 * driver). */
#include "fake_common.h"

FAKE_EXPORT const obol_driver *obol_driver_fakename_entry(
    const obol_driver_host *host);

static const char *const fakename_schemes[] = { "fakename", NULL };
static const obol_driver fakename_driver =
    FAKE_DRIVER_TABLE("impostor", fakename_schemes);

const obol_driver *obol_driver_fakename_entry(const obol_driver_host *host)
{
    fake_host = host;
    return &fakename_driver;
}

/* A shared object that looks like a driver but exports its entry under the
 * wrong name (a copy-paste slip from another driver): the loader must say
 * which symbol it looked for. */
#include "fake_common.h"

FAKE_EXPORT const obol_driver *obol_driver_fakeok_entry_typo(
    const obol_driver_host *host);

static const char *const fakenosym_schemes[] = { "fakenosym", NULL };
static const obol_driver fakenosym_driver =
    FAKE_DRIVER_TABLE("fakenosym", fakenosym_schemes);

const obol_driver *obol_driver_fakeok_entry_typo(const obol_driver_host *host)
{
    fake_host = host;
    return &fakenosym_driver;
}

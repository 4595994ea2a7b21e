/* A well-formed driver that stores nothing: what the loader must accept. */
#include "fake_common.h"

FAKE_EXPORT const obol_driver *obol_driver_fakeok_entry(
    const obol_driver_host *host);

static const char *const fakeok_schemes[] = { "fakeok", "fakeok+alt", NULL };
static const obol_driver fakeok_driver =
    FAKE_DRIVER_TABLE("fakeok", fakeok_schemes);

const obol_driver *obol_driver_fakeok_entry(const obol_driver_host *host)
{
    fake_host = host;
    return &fakeok_driver;
}

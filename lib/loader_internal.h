/*
 * The driver loader: finds "<name>.so" for a scheme, dlopen()s it, calls
 * obol_driver_<name>_entry and checks the table before any other call.
 * Loaded drivers stay loaded until the process ends: another thread may
 * still be inside one, so nothing is ever dlclose()d.
 */
#ifndef OBOL_LOADER_INTERNAL_H
#define OBOL_LOADER_INTERNAL_H

#include <obol/driver.h>
#include <obol/obol.h>

/* Where `make install` puts drivers; set by the build. */
#ifndef OBOL_DRIVER_DIR
#define OBOL_DRIVER_DIR "/usr/local/lib/obol/drivers"
#endif

/* The host table handed to every driver. */
const obol_driver_host *obol_loader_host(void);

/*
 * Loads the driver serving scheme (driver name: the scheme up to '+'): a
 * registered one, else the first "<name>.so" found in each directory of
 * obol_set_driver_path(), then of $OBOL_DRIVER_PATH (colon-separated; not
 * in secure-execution mode), then OBOL_DRIVER_DIR. Only absolute
 * directories are searched, and only a trusted file is loaded
 * (obol_loader_trust()). OBOL_OK, OBOL_ERR_INVALID (driver name),
 * OBOL_ERR_NOMEM, or OBOL_ERR_DRIVER with the file tried and why.
 */
int obol_loader_load(const char *scheme, const char *driver_name,
                     const obol_driver **out, obol_error *err);

/*
 * Whether the driver file (as found, "DIR/NAME.so") may be loaded: it
 * resolves to a regular file, and neither it, the directory holding it nor
 * the directory DIR is writable by group or others or owned by anyone but
 * root and the effective user. OBOL_OK with the resolved path in *resolved
 * (malloc()ed: the file to dlopen), OBOL_ERR_DRIVER naming the file or
 * directory and why, or OBOL_ERR_NOMEM.
 */
int obol_loader_trust(const char *file, char **resolved, obol_error *err);

/* Checks a driver table the way the loader does (also for tests). */
int obol_loader_check(const obol_driver *driver, const char *scheme,
                      const char *driver_name, const char *file,
                      obol_error *err);

/* Whether a table carries a slot added in ABI minor version `minor`. */
#define OBOL_DRIVER_HAS_SLOT(driver, slot, minor)                            \
    ((long long)(driver)->abi_minor >= (long long)(minor) &&              \
     (driver)->struct_size >= offsetof(obol_driver, slot) +                 \
                                  sizeof((driver)->slot) &&                 \
     (driver)->slot != NULL)

#endif

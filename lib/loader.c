/* Finding, loading and checking driver plugins. */
#include "config.h"

#include <dlfcn.h>
#include <pthread.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "errors_internal.h"
#include "loader_internal.h"
#include "parse_internal.h"

static const obol_driver_host host = {
    .abi_major = OBOL_DRIVER_ABI_MAJOR,
    .abi_minor = OBOL_DRIVER_ABI_MINOR,
    .struct_size = sizeof(obol_driver_host),
    .alloc = malloc,
    .free = free,
    .set_error = obol_set_error,
    .parse_uint = obol_parse_uint,
    .parse_size = obol_parse_size,
};

const obol_driver_host *obol_loader_host(void)
{
    return &host;
}

static int serves_scheme(const obol_driver *driver, const char *scheme)
{
    if (driver->schemes == NULL)
        return 0;
    for (const char *const *s = driver->schemes; *s != NULL; s++)
        if (strcmp(*s, scheme) == 0)
            return 1;
    return 0;
}

static int has_required_slots(const obol_driver *d)
{
    return d->open && d->close && d->get && d->put && d->del && d->list &&
           d->del_all && d->scan && d->prune;
}

int obol_loader_check(const obol_driver *d, const char *scheme,
                      const char *driver_name, const char *file,
                      obol_error *err)
{
    if (d == NULL)
        return obol_set_error(err, OBOL_ERR_DRIVER,
                              "driver %s: entry function returned no table", file);
    if (d->abi_major != OBOL_DRIVER_ABI_MAJOR)
        return obol_set_error(err, OBOL_ERR_DRIVER,
                              "driver %s: ABI major version %u, this library "
                              "speaks %u", file, d->abi_major,
                              OBOL_DRIVER_ABI_MAJOR);
    if (d->struct_size < OBOL_DRIVER_MIN_SIZE)
        return obol_set_error(err, OBOL_ERR_DRIVER,
                              "driver %s: table of %zu bytes is smaller than "
                              "the %zu of ABI %u.0", file, d->struct_size,
                              (size_t)OBOL_DRIVER_MIN_SIZE,
                              OBOL_DRIVER_ABI_MAJOR);
    if (d->name == NULL || strcmp(d->name, driver_name) != 0)
        return obol_set_error(err, OBOL_ERR_DRIVER,
                              "driver %s: calls itself '%s', expected '%s'",
                              file, d->name ? d->name : "(null)", driver_name);
    if (!serves_scheme(d, scheme))
        return obol_set_error(err, OBOL_ERR_DRIVER,
                              "driver %s: does not serve scheme '%s'", file,
                              scheme);
    if (!has_required_slots(d))
        return obol_set_error(err, OBOL_ERR_DRIVER,
                              "driver %s: a required function is missing", file);
    return OBOL_OK;
}

/* Loads one file that exists, once it is trusted; what is loaded is the
 * file the checks saw, all symbolic links resolved. */
static int load_file(const char *file, const char *scheme,
                     const char *driver_name, const obol_driver **out,
                     obol_error *err)
{
    char symbol[128];
    obol_driver_entry_fn entry;
    char *resolved = NULL;
    void *lib;
    int status = obol_loader_trust(file, &resolved, err);

    if (status != OBOL_OK)
        return status;
    lib = dlopen(resolved, RTLD_NOW | RTLD_LOCAL);
    free(resolved);
    if (lib == NULL)
        return obol_set_error(err, OBOL_ERR_DRIVER, "driver %s: cannot load: %s",
                              file, dlerror());
    snprintf(symbol, sizeof symbol, "obol_driver_%s_entry", driver_name);
    /* POSIX sanctions converting dlsym's result to a function pointer. */
    *(void **)&entry = dlsym(lib, symbol);
    if (entry == NULL)
        return obol_set_error(err, OBOL_ERR_DRIVER,
                              "driver %s: has no function %s", file, symbol);
    *out = entry(&host);
    return obol_loader_check(*out, scheme, driver_name, file, err);
}

/* Tries dir/<name>.so: OBOL_NOT_FOUND when there is no such file. */
static int try_dir(const char *dir, size_t dir_len, const char *scheme,
                   const char *driver_name, const obol_driver **out,
                   obol_error *err)
{
    char file[4096];
    int n;

    if (dir_len == 0 || dir[0] != '/')
        return OBOL_NOT_FOUND;   /* relative entries are never searched */
    n = snprintf(file, sizeof file, "%.*s/%s.so", (int)dir_len, dir,
                 driver_name);
    if (n < 0 || (size_t)n >= sizeof file)
        return OBOL_NOT_FOUND;
    if (access(file, F_OK) != 0)
        return OBOL_NOT_FOUND;
    return load_file(file, scheme, driver_name, out, err);
}

/* ------------------------------------------------ drivers linked in */

#define MAX_REGISTERED 32

static pthread_mutex_t registered_lock = PTHREAD_MUTEX_INITIALIZER;
static const obol_driver *registered[MAX_REGISTERED];
static size_t registered_count;

static int valid_driver_name(const char *name);

int obol_driver_register(obol_driver_entry_fn entry, obol_error *err)
{
    const obol_driver *d = entry != NULL ? entry(&host) : NULL;
    const char *name = d != NULL && d->name != NULL ? d->name : "";
    int status = OBOL_OK;
    size_t i;

    if (d == NULL || !valid_driver_name(name))
        return obol_set_error(err, OBOL_ERR_DRIVER,
                              "register: the entry function gave no table or "
                              "a name that is not 1 to 32 of [a-z0-9]");
    status = obol_loader_check(d, d->schemes ? d->schemes[0] : "", name,
                               "(linked in)", err);
    if (status != OBOL_OK)
        return status;
    pthread_mutex_lock(&registered_lock);
    for (i = 0; i < registered_count; i++)
        if (strcmp(registered[i]->name, name) == 0)
            break;
    if (i < MAX_REGISTERED)
        registered[i] = d;
    else
        status = obol_set_error(err, OBOL_ERR_NOMEM,
                                "register: more than %d drivers", MAX_REGISTERED);
    if (i == registered_count && status == OBOL_OK)
        registered_count++;
    pthread_mutex_unlock(&registered_lock);
    return status;
}

/* The linked-in driver of that name: OBOL_NOT_FOUND when there is none. */
static int find_registered(const char *scheme, const char *driver_name,
                           const obol_driver **out, obol_error *err)
{
    const obol_driver *d = NULL;

    pthread_mutex_lock(&registered_lock);
    for (size_t i = 0; i < registered_count && d == NULL; i++)
        if (strcmp(registered[i]->name, driver_name) == 0)
            d = registered[i];
    pthread_mutex_unlock(&registered_lock);
    if (d == NULL)
        return OBOL_NOT_FOUND;
    *out = d;
    return obol_loader_check(d, scheme, driver_name, "(linked in)", err);
}

static int valid_driver_name(const char *name)
{
    return name[0] != '\0' && strlen(name) <= 32 &&
           strspn(name, "abcdefghijklmnopqrstuvwxyz0123456789") == strlen(name);
}

/* ------------------------------------------- the application's path */

static pthread_mutex_t app_path_lock = PTHREAD_MUTEX_INITIALIZER;
static char *app_path;   /* obol_set_driver_path(); NULL: none */

/* Every entry of dirs must be an absolute directory: a relative one would
 * depend on the current directory, and an empty one means "." to a shell. */
static int check_app_path(const char *dirs, obol_error *err)
{
    size_t number = 1;

    for (const char *p = dirs;; p++, number++) {
        size_t len = strcspn(p, ":");

        if (len == 0)
            return obol_set_error(err, OBOL_ERR_INVALID,
                                  "driver path: entry %zu is empty (write "
                                  "/dir1:/dir2)", number);
        if (p[0] != '/')
            return obol_set_error(err, OBOL_ERR_INVALID,
                                  "driver path: entry %zu, '%.*s', is not an "
                                  "absolute directory", number, (int)len, p);
        p += len;
        if (*p == '\0')
            return OBOL_OK;
    }
}

int obol_set_driver_path(const char *dirs, obol_error *err)
{
    char *copy = NULL, *old;

    if (dirs != NULL && dirs[0] != '\0') {
        int status = check_app_path(dirs, err);

        if (status != OBOL_OK)
            return status;
        copy = strdup(dirs);
        if (copy == NULL)
            return obol_set_error(err, OBOL_ERR_NOMEM,
                                  "driver path: out of memory");
    }
    pthread_mutex_lock(&app_path_lock);
    old = app_path;
    app_path = copy;
    pthread_mutex_unlock(&app_path_lock);
    free(old);
    obol_clear_error(err);
    return OBOL_OK;
}

/* A copy of the application's path, so that a concurrent
 * obol_set_driver_path() neither tears nor frees it under the search. */
static int copy_app_path(char **out, obol_error *err)
{
    int status = OBOL_OK;

    *out = NULL;
    pthread_mutex_lock(&app_path_lock);
    if (app_path != NULL && (*out = strdup(app_path)) == NULL)
        status = obol_set_error(err, OBOL_ERR_NOMEM,
                                "loader: out of memory copying the driver path");
    pthread_mutex_unlock(&app_path_lock);
    return status;
}

/* $OBOL_DRIVER_PATH, unless the process runs setuid, setgid or with file
 * capabilities: its caller's environment must not choose its code. */
static const char *env_driver_path(void)
{
#if defined(HAVE_SECURE_GETENV)
    return secure_getenv("OBOL_DRIVER_PATH");
#else
    if (getuid() != geteuid() || getgid() != getegid())
        return NULL;
    return getenv("OBOL_DRIVER_PATH");
#endif
}

/* Tries each directory of the colon-separated dirs (may be NULL). */
static int try_dirs(const char *dirs, const char *scheme,
                    const char *driver_name, const obol_driver **out,
                    obol_error *err)
{
    for (const char *p = dirs; p != NULL && *p != '\0';) {
        size_t len = strcspn(p, ":");
        int status = try_dir(p, len, scheme, driver_name, out, err);

        if (status != OBOL_NOT_FOUND)
            return status;
        p += len + (p[len] == ':');
    }
    return OBOL_NOT_FOUND;
}

/* Appends to out the entries of the colon-separated env that try_dir()
 * searches (absolute ones, each followed by ", ") when absolute is 1, or
 * the ones it skips (quoted, comma-separated) when it is 0; returns how
 * many. The "not found" message must not list a skipped entry as
 * searched. */
static size_t describe_env_entries(const char *env, int absolute, char *out,
                                   size_t out_size)
{
    size_t count = 0, used = strlen(out);

    for (const char *p = env; p != NULL && *p != '\0';) {
        size_t len = strcspn(p, ":");
        int n = 0;

        if ((len > 0 && p[0] == '/') == absolute && used < out_size) {
            n = absolute
                ? snprintf(out + used, out_size - used, "%.*s, ", (int)len, p)
                : snprintf(out + used, out_size - used, "%s'%.*s'",
                           count > 0 ? ", " : "", (int)len, p);
            count++;
        }
        used += n > 0 ? (size_t)n : 0;
        p += len + (p[len] == ':');
    }
    return count;
}

static int not_found(const char *app, const char *env, const char *scheme,
                     const char *driver_name, obol_error *err)
{
    char searched[1024] = "", skipped[512] = "";

    describe_env_entries(env, 1, searched, sizeof searched);
    if (describe_env_entries(env, 0, skipped, sizeof skipped) > 0)
        return obol_set_error(err, OBOL_ERR_DRIVER,
                              "no driver for scheme '%s': %s.so is in none of "
                              "%s%s%s%s (OBOL_DRIVER_PATH entries skipped, "
                              "not absolute: %s)", scheme, driver_name,
                              app ? app : "", app ? ", " : "", searched,
                              OBOL_DRIVER_DIR, skipped);
    return obol_set_error(err, OBOL_ERR_DRIVER,
                          "no driver for scheme '%s': %s.so is in none of "
                          "%s%s%s%s", scheme, driver_name,
                          app ? app : "", app ? ", " : "", searched,
                          OBOL_DRIVER_DIR);
}

static int search(const char *app, const char *env, const char *scheme,
                  const char *driver_name, const obol_driver **out,
                  obol_error *err)
{
    int status = try_dirs(app, scheme, driver_name, out, err);

    if (status == OBOL_NOT_FOUND)
        status = try_dirs(env, scheme, driver_name, out, err);
    if (status == OBOL_NOT_FOUND)
        status = try_dir(OBOL_DRIVER_DIR, strlen(OBOL_DRIVER_DIR), scheme,
                         driver_name, out, err);
    if (status != OBOL_NOT_FOUND)
        return status;
    return not_found(app, env, scheme, driver_name, err);
}

int obol_loader_load(const char *scheme, const char *driver_name,
                     const obol_driver **out, obol_error *err)
{
    char *app = NULL;
    int status;

    if (!valid_driver_name(driver_name))
        return obol_set_error(err, OBOL_ERR_INVALID,
                              "config: driver name '%s' must be 1 to 32 of "
                              "[a-z0-9]", driver_name);
    status = find_registered(scheme, driver_name, out, err);
    if (status != OBOL_NOT_FOUND)
        return status;
    status = copy_app_path(&app, err);
    if (status == OBOL_OK)
        status = search(app, env_driver_path(), scheme, driver_name, out, err);
    free(app);
    return status;
}

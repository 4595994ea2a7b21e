/*
 * The driver loader (lib/loader.c, lib/loader_trust.c, DESIGN.md "The
 * driver ABI"): which files it loads, in which order it looks for them,
 * which files and directories it does not trust, and that every broken
 * driver is refused with OBOL_ERR_DRIVER and a message naming the file and
 * the check that failed. The broken drivers are built from
 * tests/fake_drivers/ into $OBOL_TEST_BUILDDIR/tests/fake_drivers/.libs.
 */
#include "config.h"

#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "loader_internal.h"
#include "tmpdir.h"

/* Paths shared by every test, made once by the group setup. */
static char *fake_dir;        /* the built fake drivers (absolute) */
static char *fake_parent;     /* fake_dir without its last component */
static char *junk_dir;        /* fakejunk.so and a junk fakeok.so */
static char *empty_dir;       /* no drivers at all */
static char *saved_driver_path;

/* ------------------------------------------------------------ setup */

static void write_junk(const char *dir, const char *name)
{
    char *path;
    FILE *f;

    assert_true(asprintf(&path, "%s/%s", dir, name) > 0);
    f = fopen(path, "w");
    assert_non_null(f);
    fputs("this is not a shared object\n", f);
    assert_int_equal(fclose(f), 0);
    free(path);
}

static int group_setup(void **state)
{
    const char *build = getenv("OBOL_TEST_BUILDDIR");
    const char *env = getenv("OBOL_DRIVER_PATH");
    char cwd[4096];

    (void)state;
    /* make check exports OBOL_TEST_BUILDDIR; run by hand from the build
     * directory, the current directory serves. */
    if (build == NULL || build[0] == '\0')
        build = getcwd(cwd, sizeof cwd);
    if (build == NULL ||
        asprintf(&fake_parent, "%s/tests/fake_drivers", build) < 0 ||
        asprintf(&fake_dir, "%s/.libs", fake_parent) < 0)
        return -1;
    junk_dir = tmpdir_make("loader-junk");
    empty_dir = tmpdir_make("loader-empty");
    if (junk_dir == NULL || empty_dir == NULL)
        return -1;
    write_junk(junk_dir, "fakejunk.so");
    write_junk(junk_dir, "fakeok.so");
    saved_driver_path = env ? strdup(env) : NULL;
    return 0;
}

static int group_teardown(void **state)
{
    (void)state;
    tmpdir_remove(junk_dir);
    tmpdir_remove(empty_dir);
    free(fake_dir);
    free(fake_parent);
    free(saved_driver_path);
    return 0;
}

/* Each test starts with OBOL_DRIVER_PATH unset and no driver path set by
 * the application, and the environment of the run is put back afterwards. */
static int clear_env(void **state)
{
    (void)state;
    unsetenv("OBOL_DRIVER_PATH");
    return obol_set_driver_path(NULL, NULL) == OBOL_OK ? 0 : -1;
}

static int restore_env(void **state)
{
    (void)state;
    obol_set_driver_path(NULL, NULL);
    if (saved_driver_path != NULL)
        setenv("OBOL_DRIVER_PATH", saved_driver_path, 1);
    else
        unsetenv("OBOL_DRIVER_PATH");
    return 0;
}

/* ------------------------------------------------------------ helpers */

static void assert_mentions(const char *message, const char *word)
{
    if (strstr(message, word) == NULL)
        fail_msg("message '%s' does not mention '%s'", message, word);
}

static char *file_in(const char *dir, const char *name)
{
    char *path;

    assert_true(asprintf(&path, "%s/%s.so", dir, name) > 0);
    return path;
}

/* The application's driver path: dirs, or none when NULL. */
static void use_path(const char *dirs)
{
    obol_error err = { 0, "" };

    if (obol_set_driver_path(dirs, &err) != OBOL_OK)
        fail_msg("driver path '%s' refused: %s", dirs, err.message);
}

/* Loads name from the directory dir expecting OBOL_ERR_DRIVER with a
 * message naming the file that was tried and containing reason. */
static void assert_driver_refused(const char *name, const char *dir,
                                  const char *reason)
{
    const obol_driver *driver = NULL;
    obol_error err = { 0, "" };
    char *file = file_in(dir, name);

    use_path(dir);
    assert_int_equal(obol_loader_load(name, name, &driver, &err),
                     OBOL_ERR_DRIVER);
    assert_int_equal(err.status, OBOL_ERR_DRIVER);
    assert_mentions(err.message, file);
    assert_mentions(err.message, reason);
    free(file);
}

/* Loads fakeok with the application's path set to dirs (NULL: none). */
static void assert_loads_fakeok(const char *dirs)
{
    const obol_driver *driver = NULL;
    obol_error err = { 0, "" };

    use_path(dirs);
    if (obol_loader_load("fakeok", "fakeok", &driver, &err) != OBOL_OK)
        fail_msg("fakeok does not load: %s", err.message);
    assert_non_null(driver);
    assert_string_equal(driver->name, "fakeok");
}

static void assert_invalid_name(const char *name)
{
    const obol_driver *driver = NULL;
    obol_error err = { 0, "" };

    use_path(fake_dir);
    if (obol_loader_load(name, name, &driver, &err) != OBOL_ERR_INVALID)
        fail_msg("driver name '%s' is not refused as invalid", name);
    assert_mentions(err.message, "driver name");
}

/* ------------------------------------------------------------ good driver */

static void good_driver_loads_from_the_applications_path(void **state)
{
    const obol_driver *driver = NULL;
    obol_error err = { 0, "" };

    (void)state;
    use_path(fake_dir);
    assert_int_equal(obol_loader_load("fakeok", "fakeok", &driver, &err),
                     OBOL_OK);
    assert_non_null(driver);
    assert_int_equal(driver->abi_major, OBOL_DRIVER_ABI_MAJOR);
    assert_string_equal(driver->name, "fakeok");
    assert_string_equal(driver->schemes[0], "fakeok");
}

static void loading_twice_gives_the_same_table(void **state)
{
    const obol_driver *first = NULL, *second = NULL;
    obol_error err;

    (void)state;
    use_path(fake_dir);
    assert_int_equal(obol_loader_load("fakeok", "fakeok", &first, &err),
                     OBOL_OK);
    assert_int_equal(obol_loader_load("fakeok", "fakeok", &second, &err),
                     OBOL_OK);
    assert_ptr_equal(first, second);
}

static void scheme_variant_loads_the_base_driver(void **state)
{
    const obol_driver *driver = NULL;
    obol_error err = { 0, "" };

    (void)state;
    use_path(fake_dir);
    assert_int_equal(obol_loader_load("fakeok+alt", "fakeok", &driver, &err),
                     OBOL_OK);
    assert_string_equal(driver->name, "fakeok");
}

static void scheme_the_driver_does_not_serve_is_refused(void **state)
{
    const obol_driver *driver = NULL;
    obol_error err = { 0, "" };

    (void)state;
    use_path(fake_dir);
    assert_int_equal(obol_loader_load("fakeok+tls", "fakeok", &driver, &err),
                     OBOL_ERR_DRIVER);
    assert_mentions(err.message, "fakeok+tls");
    assert_mentions(err.message, "does not serve");
}

static void trailing_slash_in_the_path_is_fine(void **state)
{
    char *dir;

    (void)state;
    assert_true(asprintf(&dir, "%s/", fake_dir) > 0);
    assert_loads_fakeok(dir);
    free(dir);
}

/* ------------------------------------------------------------ bad drivers */

static void wrong_abi_major_is_refused(void **state)
{
    (void)state;
    assert_driver_refused("fakeabi", fake_dir, "ABI major");
}

static void table_smaller_than_abi_1_0_is_refused(void **state)
{
    (void)state;
    assert_driver_refused("fakeshort", fake_dir, "smaller");
}

static void missing_entry_symbol_is_refused_naming_it(void **state)
{
    (void)state;
    assert_driver_refused("fakenosym", fake_dir, "has no function");
    assert_driver_refused("fakenosym", fake_dir, "obol_driver_fakenosym_entry");
}

static void driver_calling_itself_otherwise_is_refused(void **state)
{
    (void)state;
    assert_driver_refused("fakename", fake_dir, "calls itself 'impostor'");
    assert_driver_refused("fakename", fake_dir, "expected 'fakename'");
}

static void file_that_is_not_a_shared_object_is_refused(void **state)
{
    (void)state;
    assert_driver_refused("fakejunk", junk_dir, "cannot load");
}

/* ------------------------------------------------------------ table checks */

static const char *const check_schemes[] = { "chk", NULL };

static int noop_open(const obol_driver_config *c, void **h, obol_error *e)
{
    (void)c, (void)h, (void)e;
    return OBOL_OK;
}

static void noop_close(void *h)
{
    (void)h;
}

static int noop_get(void *h, const obol_driver_key *k, uint8_t **s,
                    size_t *l, obol_error *e)
{
    (void)h, (void)k, (void)s, (void)l, (void)e;
    return OBOL_NOT_FOUND;
}

static int noop_put(void *h, const obol_driver_record *r, uint64_t x,
                    int64_t n, obol_error *e)
{
    (void)h, (void)r, (void)x, (void)n, (void)e;
    return OBOL_OK;
}

static int noop_key(void *h, const obol_driver_key *k, obol_error *e)
{
    (void)h, (void)k, (void)e;
    return OBOL_OK;
}

static int noop_list(void *h, const obol_driver_key *k, obol_driver_visit v,
                     void *a, obol_error *e)
{
    (void)h, (void)k, (void)v, (void)a, (void)e;
    return OBOL_OK;
}

static int noop_scan(void *h, obol_driver_visit v, void *a, obol_error *e)
{
    (void)h, (void)v, (void)a, (void)e;
    return OBOL_OK;
}

static int noop_prune(void *h, int64_t n, obol_error *e)
{
    (void)h, (void)n, (void)e;
    return OBOL_OK;
}

static int noop_health(void *h, char *i, size_t s, obol_error *e)
{
    (void)h, (void)i, (void)s, (void)e;
    return OBOL_OK;
}

static obol_driver valid_table(void)
{
    obol_driver d = {
        .abi_major = OBOL_DRIVER_ABI_MAJOR, .abi_minor = OBOL_DRIVER_ABI_MINOR,
        .struct_size = sizeof(obol_driver), .name = "chk",
        .schemes = check_schemes, .open = noop_open, .close = noop_close,
        .get = noop_get, .put = noop_put, .del = noop_key, .list = noop_list,
        .del_all = noop_key, .scan = noop_scan, .prune = noop_prune,
        .health = noop_health,
    };
    return d;
}

static void assert_check_refuses(const obol_driver *d, const char *reason)
{
    obol_error err = { 0, "" };

    assert_int_equal(obol_loader_check(d, "chk", "chk", "/x/chk.so", &err),
                     OBOL_ERR_DRIVER);
    assert_mentions(err.message, "/x/chk.so");
    assert_mentions(err.message, reason);
}

static void check_accepts_a_complete_table(void **state)
{
    obol_driver d = valid_table();
    obol_error err;

    (void)state;
    assert_int_equal(obol_loader_check(&d, "chk", "chk", "/x/chk.so", &err),
                     OBOL_OK);
    d.struct_size = OBOL_DRIVER_MIN_SIZE;
    assert_int_equal(obol_loader_check(&d, "chk", "chk", "/x/chk.so", &err),
                     OBOL_OK);
}

static void check_refuses_a_missing_table(void **state)
{
    (void)state;
    assert_check_refuses(NULL, "no table");
}

static void check_refuses_each_missing_required_function(void **state)
{
    (void)state;
    for (int slot = 0; slot < 9; slot++) {
        obol_driver d = valid_table();

        switch (slot) {
        case 0: d.open = NULL; break;
        case 1: d.close = NULL; break;
        case 2: d.get = NULL; break;
        case 3: d.put = NULL; break;
        case 4: d.del = NULL; break;
        case 5: d.list = NULL; break;
        case 6: d.del_all = NULL; break;
        case 7: d.scan = NULL; break;
        default: d.prune = NULL; break;
        }
        assert_check_refuses(&d, "missing");
    }
}

static void check_accepts_a_missing_optional_function(void **state)
{
    obol_driver d = valid_table();
    obol_error err;

    (void)state;
    d.health = NULL;
    assert_int_equal(obol_loader_check(&d, "chk", "chk", "/x/chk.so", &err),
                     OBOL_OK);
}

static void check_refuses_missing_name_or_schemes(void **state)
{
    obol_driver no_name = valid_table();
    obol_driver no_schemes = valid_table();

    (void)state;
    no_name.name = NULL;
    assert_check_refuses(&no_name, "(null)");
    no_schemes.schemes = NULL;
    assert_check_refuses(&no_schemes, "does not serve");
}

static void check_refuses_older_and_newer_abi_major(void **state)
{
    obol_driver d = valid_table();

    (void)state;
    d.abi_major = OBOL_DRIVER_ABI_MAJOR - 1;
    assert_check_refuses(&d, "ABI major");
    d.abi_major = OBOL_DRIVER_ABI_MAJOR + 1;
    assert_check_refuses(&d, "ABI major");
}

/* The macro with the minor version as a variable, as the core uses it. */
static int has_health(const obol_driver *d, uint32_t minor)
{
    return OBOL_DRIVER_HAS_SLOT(d, health, minor);
}

/* A driver of the same major but another minor is fine; an optional slot is
 * used only when struct_size covers it. */
static void optional_slot_needs_size_and_minor(void **state)
{
    obol_driver d = valid_table();
    obol_error err;

    (void)state;
    d.abi_minor = OBOL_DRIVER_ABI_MINOR + 3;
    assert_int_equal(obol_loader_check(&d, "chk", "chk", "/x/chk.so", &err),
                     OBOL_OK);
    assert_true(has_health(&d, 0));
    d.struct_size = OBOL_DRIVER_MIN_SIZE;
    assert_false(has_health(&d, 0));
    d.struct_size = sizeof d;
    d.abi_minor = 0;
    assert_false(has_health(&d, 1));
    d.health = NULL;
    assert_false(has_health(&d, 0));
}

static int noop_put_batch(void *h, const obol_driver_record *r,
                          const uint64_t *x, size_t c, int64_t n, int *s,
                          obol_error *e)
{
    (void)h, (void)r, (void)x, (void)c, (void)n, (void)s, (void)e;
    return OBOL_OK;
}

/* put_batch came with ABI 1.1: a table of minor 0, or one that ends where
 * 1.0 ended (after health), has none, whatever lies in its place. */
static void put_batch_needs_a_1_1_table(void **state)
{
    obol_driver d = valid_table();

    (void)state;
    d.put_batch = noop_put_batch;
    assert_true(OBOL_DRIVER_HAS_SLOT(&d, put_batch, 1));
    d.abi_minor = 0;
    assert_false(OBOL_DRIVER_HAS_SLOT(&d, put_batch, 1));
    d.abi_minor = 1;
    d.struct_size = offsetof(obol_driver, health) + sizeof d.health;
    assert_false(OBOL_DRIVER_HAS_SLOT(&d, put_batch, 1));
    d.struct_size = sizeof d;
    d.put_batch = NULL;
    assert_false(OBOL_DRIVER_HAS_SLOT(&d, put_batch, 1));
}

static void host_table_offers_the_core_helpers(void **state)
{
    const obol_driver_host *host = obol_loader_host();
    obol_error err = { 0, "" };
    uint64_t value = 0;

    (void)state;
    assert_int_equal(host->abi_major, OBOL_DRIVER_ABI_MAJOR);
    assert_int_equal(host->abi_minor, OBOL_DRIVER_ABI_MINOR);
    assert_int_equal(host->struct_size, sizeof *host);
    assert_int_equal(host->set_error(&err, OBOL_ERR_BACKEND, "x=%d", 5),
                     OBOL_ERR_BACKEND);
    assert_string_equal(err.message, "x=5");
    assert_int_equal(host->parse_uint("12", 100, &value), 0);
    assert_int_equal(value, 12);
    assert_int_equal(host->parse_size("2KiB", &value), 0);
    assert_int_equal(value, 2048);
    host->free(host->alloc(16));
}

/* ------------------------------------------------------------ names */

static void invalid_driver_names_are_refused(void **state)
{
    (void)state;
    assert_invalid_name("");
    assert_invalid_name("Fakeok");
    assert_invalid_name("FAKEOK");
    assert_invalid_name("fake/ok");
    assert_invalid_name("..");
    assert_invalid_name("../fakeok");
    assert_invalid_name("fake.ok");
    assert_invalid_name("fake-ok");
    assert_invalid_name("fake_ok");
    assert_invalid_name("fake ok");
    assert_invalid_name("abcdefghijklmnopqrstuvwxyz0123456");   /* 33 */
}

static void name_of_32_characters_is_looked_for(void **state)
{
    const obol_driver *driver = NULL;
    obol_error err = { 0, "" };
    static const char name[] = "abcdefghijklmnopqrstuvwxyz012345";

    (void)state;
    assert_int_equal(strlen(name), 32);
    use_path(empty_dir);
    assert_int_equal(obol_loader_load(name, name, &driver, &err),
                     OBOL_ERR_DRIVER);
    assert_mentions(err.message, name);
}

/* ------------------------------------------------------------ search */

static void missing_driver_lists_every_directory_searched(void **state)
{
    const obol_driver *driver = NULL;
    obol_error err = { 0, "" };
    const char *at_path, *at_env1, *at_env2, *at_builtin;

    (void)state;
    setenv("OBOL_DRIVER_PATH", "/nonexistent/one:/nonexistent/two", 1);
    use_path(empty_dir);
    assert_int_equal(obol_loader_load("fakemissing", "fakemissing", &driver,
                                      &err), OBOL_ERR_DRIVER);
    assert_mentions(err.message, "fakemissing.so");
    at_path = strstr(err.message, empty_dir);
    at_env1 = strstr(err.message, "/nonexistent/one");
    at_env2 = strstr(err.message, "/nonexistent/two");
    at_builtin = strstr(err.message, OBOL_DRIVER_DIR);
    if (!at_path || !at_env1 || !at_env2 || !at_builtin)
        fail_msg("message '%s' does not list every directory", err.message);
    /* Listed in the order they are searched. */
    assert_true(at_path < at_env1);
    assert_true(at_env1 < at_env2);
    assert_true(at_env2 < at_builtin);
}

static void missing_driver_without_path_or_env_names_builtin_dir(void **state)
{
    const obol_driver *driver = NULL;
    obol_error err = { 0, "" };

    (void)state;
    assert_int_equal(obol_loader_load("fakemissing", "fakemissing", &driver,
                                      &err), OBOL_ERR_DRIVER);
    assert_mentions(err.message, "fakemissing");
    assert_mentions(err.message, OBOL_DRIVER_DIR);
}

/* Read with secure_getenv(): in an ordinary process (not setuid, setgid
 * or with capabilities) it is honoured as before. */
static void driver_is_found_through_obol_driver_path(void **state)
{
    char *env;

    (void)state;
    assert_true(asprintf(&env, "/nonexistent:%s:%s", empty_dir, fake_dir) > 0);
    setenv("OBOL_DRIVER_PATH", env, 1);
    assert_loads_fakeok(NULL);
    free(env);
}

static void empty_entries_in_obol_driver_path_are_skipped(void **state)
{
    char *env;

    (void)state;
    assert_true(asprintf(&env, "::%s:", fake_dir) > 0);
    setenv("OBOL_DRIVER_PATH", env, 1);
    assert_loads_fakeok(NULL);
    free(env);
}

/* Run from the directory above .libs, ".libs" would find the real
 * fakeok.so; a relative entry must never be searched. */
static void relative_entries_in_obol_driver_path_are_ignored(void **state)
{
    const obol_driver *driver = NULL;
    obol_error err = { 0, "" };
    char cwd[4096];
    char *env;
    int status;

    (void)state;
    assert_non_null(getcwd(cwd, sizeof cwd));
    assert_int_equal(chdir(fake_parent), 0);
    setenv("OBOL_DRIVER_PATH", ".libs:tests/fake_drivers/.libs", 1);
    status = obol_loader_load("fakeok", "fakeok", &driver, &err);
    /* A relative entry that would hold junk is skipped, the absolute
     * one after it is used. */
    assert_int_equal(chdir(junk_dir), 0);
    assert_true(asprintf(&env, ".:%s", fake_dir) > 0);
    setenv("OBOL_DRIVER_PATH", env, 1);
    assert_loads_fakeok(NULL);
    free(env);
    assert_int_equal(chdir(cwd), 0);
    assert_int_equal(status, OBOL_ERR_DRIVER);
    assert_mentions(err.message, "no driver");
}

static void applications_path_comes_before_obol_driver_path(void **state)
{
    char *junk_file = file_in(junk_dir, "fakeok");
    const obol_driver *driver = NULL;
    obol_error err = { 0, "" };
    char *dirs;

    (void)state;
    /* The first file found is the one used, even when it is broken. */
    setenv("OBOL_DRIVER_PATH", fake_dir, 1);
    use_path(junk_dir);
    assert_int_equal(obol_loader_load("fakeok", "fakeok", &driver, &err),
                     OBOL_ERR_DRIVER);
    assert_mentions(err.message, junk_file);
    setenv("OBOL_DRIVER_PATH", junk_dir, 1);
    assert_loads_fakeok(fake_dir);
    /* A path without the file falls through to OBOL_DRIVER_PATH. */
    setenv("OBOL_DRIVER_PATH", fake_dir, 1);
    assert_loads_fakeok(empty_dir);
    /* Its own entries are searched in order. */
    unsetenv("OBOL_DRIVER_PATH");
    assert_true(asprintf(&dirs, "%s:%s", empty_dir, fake_dir) > 0);
    assert_loads_fakeok(dirs);
    free(dirs);
    free(junk_file);
}

static void obol_driver_path_is_searched_in_order(void **state)
{
    char *junk_file = file_in(junk_dir, "fakeok");
    const obol_driver *driver = NULL;
    obol_error err = { 0, "" };
    char *env;

    (void)state;
    assert_true(asprintf(&env, "%s:%s", junk_dir, fake_dir) > 0);
    setenv("OBOL_DRIVER_PATH", env, 1);
    assert_int_equal(obol_loader_load("fakeok", "fakeok", &driver, &err),
                     OBOL_ERR_DRIVER);
    assert_mentions(err.message, junk_file);
    free(env);
    assert_true(asprintf(&env, "%s:%s", fake_dir, junk_dir) > 0);
    setenv("OBOL_DRIVER_PATH", env, 1);
    assert_loads_fakeok(NULL);
    free(env);
    free(junk_file);
}

/* ------------------------------------------------------------ public API */

static void assert_store_open_refused(const char *name, int status,
                                      const char *reason)
{
    obol_store *st = (obol_store *)&st;
    obol_error err = { 0, "" };
    char *config;

    use_path(fake_dir);
    assert_true(asprintf(&config, "%s:", name) > 0);
    assert_int_equal(obol_store_open(config, &st, &err), status);
    assert_null(st);
    assert_int_equal(err.status, status);
    assert_mentions(err.message, reason);
    free(config);
}

static void store_open_reports_which_driver_check_failed(void **state)
{
    (void)state;
    assert_store_open_refused("fakeabi", OBOL_ERR_DRIVER, "ABI major");
    assert_store_open_refused("fakeabi", OBOL_ERR_DRIVER, "fakeabi.so");
    assert_store_open_refused("fakeshort", OBOL_ERR_DRIVER, "smaller");
    assert_store_open_refused("fakenosym", OBOL_ERR_DRIVER, "has no function");
    assert_store_open_refused("fakename", OBOL_ERR_DRIVER, "calls itself");
    assert_store_open_refused("fakemissing", OBOL_ERR_DRIVER, "no driver");
}

static void store_open_uses_a_good_driver(void **state)
{
    obol_store *st = NULL;
    obol_error err = { 0, "" };

    (void)state;
    use_path(fake_dir);
    if (obol_store_open("fakeok+alt:?prefix=t", &st, &err) != OBOL_OK)
        fail_msg("fakeok+alt: %s", err.message);
    assert_string_equal(obol_store_driver_name(st), "fakeok");
    obol_store_close(st);
}

static void a_1_0_driver_loads_without_put_batch(void **state)
{
    const obol_driver *driver = NULL;
    obol_error err = { 0, "" };

    (void)state;
    use_path(fake_dir);
    if (obol_loader_load("fakeold", "fakeold", &driver, &err) != OBOL_OK)
        fail_msg("a 1.0 driver does not load: %s", err.message);
    assert_int_equal(driver->abi_minor, 0);
    assert_int_equal(driver->struct_size,
                     offsetof(obol_driver, health) + sizeof driver->health);
    assert_false(OBOL_DRIVER_HAS_SLOT(driver, put_batch, 1));
}

static obol_store *open_with_key(const char *config)
{
    static const uint8_t key[32] = { 0x6f, 0x62, 0x6f, 0x6c };
    obol_store *st = NULL;
    obol_error err = { 0, "" };

    if (obol_store_open(config, &st, &err) != OBOL_OK)
        fail_msg("%s: %s", config, err.message);
    assert_int_equal(obol_store_add_key(st, 1, key, 1, NULL), OBOL_OK);
    return st;
}

/* fakeold keeps a failing put_batch just past its 1.0 table: restores and
 * migrations into it must go through put() alone. */
static void writes_to_a_1_0_driver_never_use_put_batch(void **state)
{
    obol_store *src, *dst;
    obol_session *s = obol_session_new("alice", NULL, time(NULL), 3600, 600);
    obol_session *t = obol_session_new("bob", NULL, time(NULL), 3600, 600);
    obol_error err = { 0, "" };
    obol_migrate_stats stats;

    (void)state;
    use_path(fake_dir);
    dst = open_with_key("fakeold:");
    s->lock_version = 3;
    if (obol_restore(dst, s, &err) != OBOL_OK)
        fail_msg("restore: %s", err.message);
    if (saved_driver_path == NULL) {
        print_message("# no OBOL_DRIVER_PATH for the memory driver\n");
    } else {
        setenv("OBOL_DRIVER_PATH", saved_driver_path, 1);
        src = open_with_key("memory:");
        assert_int_equal(obol_upsert(src, t, NULL), OBOL_OK);
        if (obol_migrate(src, dst, NULL, NULL, &stats, &err) != OBOL_OK)
            fail_msg("migrate: %s", err.message);
        assert_true(stats.copied == 1);
        obol_store_close(src);
    }
    obol_session_free(s);
    obol_session_free(t);
    obol_store_close(dst);
}

static void store_open_passes_unknown_options_to_the_driver(void **state)
{
    obol_store *st = NULL;
    obol_error err = { 0, "" };

    (void)state;
    use_path(fake_dir);
    assert_int_equal(obol_store_open("fakeok:?colour=blue", &st, &err),
                     OBOL_ERR_INVALID);
    assert_null(st);
    assert_mentions(err.message, "colour");
}

/* A config string may come from anyone who can set an environment
 * variable or edit a config file: it cannot name where code comes from,
 * even a directory that holds a good driver. */
static void config_string_with_driver_path_is_refused(void **state)
{
    obol_store *st = (obol_store *)&st;
    obol_error err = { 0, "" };
    char *config;

    (void)state;
    assert_true(asprintf(&config, "fakeok:?driver_path=%s", fake_dir) > 0);
    assert_int_equal(obol_store_open(config, &st, &err), OBOL_ERR_INVALID);
    assert_null(st);
    assert_mentions(err.message, "driver_path");
    assert_mentions(err.message, "may not choose where code is loaded from");
    assert_mentions(err.message, "obol_set_driver_path()");
    free(config);
}

/* ------------------------------------------------ obol_set_driver_path */

static void assert_path_refused(const char *dirs, const char *reason)
{
    obol_error err = { 0, "" };

    assert_int_equal(obol_set_driver_path(dirs, &err), OBOL_ERR_INVALID);
    assert_int_equal(err.status, OBOL_ERR_INVALID);
    assert_mentions(err.message, "driver path");
    assert_mentions(err.message, reason);
}

/* A refused path leaves the one set before in place. */
static void relative_entries_of_the_path_are_refused(void **state)
{
    char *dirs;

    (void)state;
    use_path(fake_dir);
    assert_path_refused("drivers", "entry 1, 'drivers', is not an absolute");
    assert_path_refused("./drivers", "'./drivers'");
    assert_true(asprintf(&dirs, "%s:.libs", fake_dir) > 0);
    assert_path_refused(dirs, "entry 2, '.libs', is not an absolute");
    free(dirs);
    assert_loads_fakeok(fake_dir);
}

static void empty_entries_of_the_path_are_refused(void **state)
{
    (void)state;
    assert_path_refused(":/usr/lib", "entry 1 is empty");
    assert_path_refused("/usr/lib::/opt", "entry 2 is empty");
    assert_path_refused("/usr/lib:", "entry 2 is empty");
    assert_path_refused(":", "entry 1 is empty");
}

static void assert_fakeok_is_not_found(void)
{
    const obol_driver *driver = NULL;
    obol_error err = { 0, "" };

    assert_int_equal(obol_loader_load("fakeok", "fakeok", &driver, &err),
                     OBOL_ERR_DRIVER);
    assert_mentions(err.message, "no driver");
    if (strstr(err.message, fake_dir) != NULL)
        fail_msg("a cleared path is still searched: %s", err.message);
}

static void clearing_the_path_stops_searching_it(void **state)
{
    (void)state;
    assert_loads_fakeok(fake_dir);
    use_path(NULL);
    assert_fakeok_is_not_found();
    assert_loads_fakeok(fake_dir);
    use_path("");
    assert_fakeok_is_not_found();
}

/* The string is copied: changing or freeing the caller's afterwards
 * changes nothing. */
static void the_path_is_copied(void **state)
{
    char *dirs = strdup(fake_dir);

    (void)state;
    assert_non_null(dirs);
    use_path(dirs);
    memset(dirs, 'x', strlen(dirs));
    free(dirs);
    assert_loads_fakeok(fake_dir);
}

/* Stores opened while another thread changes the path find the driver
 * through the old path or the new one: never a torn or freed string. */
static void *flip_path(void *arg)
{
    const char *dirs[] = { fake_dir, empty_dir };

    for (int i = 0; i < 400; i++)
        obol_set_driver_path(dirs[i % 2], NULL);
    return arg;
}

static void changing_the_path_while_loading_is_safe(void **state)
{
    pthread_t flipper;

    (void)state;
    use_path(empty_dir);
    assert_int_equal(pthread_create(&flipper, NULL, flip_path, NULL), 0);
    for (int i = 0; i < 400; i++) {
        const obol_driver *driver = NULL;
        obol_error err = { 0, "" };
        int status = obol_loader_load("fakeok", "fakeok", &driver, &err);

        if (status != OBOL_OK && strstr(err.message, empty_dir) == NULL)
            fail_msg("load %d: %d %s", i, status, err.message);
    }
    assert_int_equal(pthread_join(flipper, NULL), 0);
}

/* ------------------------------------------------------------ trust */

/* A new directory of mode dir_mode holding a file fakeok.so of mode
 * file_mode; junk, so that only the trust check can refuse it before
 * dlopen() would ("cannot load"). */
static char *untrusted_dir(mode_t dir_mode, mode_t file_mode)
{
    char *dir = tmpdir_make("loader-trust");
    char *file;

    assert_non_null(dir);
    write_junk(dir, "fakeok.so");
    file = file_in(dir, "fakeok");
    assert_int_equal(chmod(file, file_mode), 0);
    assert_int_equal(chmod(dir, dir_mode), 0);
    free(file);
    return dir;
}

/* Loading fakeok from dir is refused because path (as resolved) has
 * reason. */
static void assert_untrusted(const char *dir, const char *path,
                             const char *reason)
{
    char *real = realpath(path, NULL);
    char *message;

    assert_non_null(real);
    assert_true(asprintf(&message, "%s %s", real, reason) > 0);
    assert_driver_refused("fakeok", dir, message);
    assert_driver_refused("fakeok", dir, "not loaded");
    free(message);
    free(real);
}

static void group_writable_driver_file_is_refused(void **state)
{
    char *dir = untrusted_dir(0700, 0664);
    char *file = file_in(dir, "fakeok");

    (void)state;
    assert_untrusted(dir, file, "is writable by its group");
    free(file);
    tmpdir_remove(dir);
}

static void world_writable_driver_file_is_refused(void **state)
{
    char *dir = untrusted_dir(0755, 0646);
    char *file = file_in(dir, "fakeok");

    (void)state;
    assert_untrusted(dir, file, "is writable by everyone");
    free(file);
    tmpdir_remove(dir);
}

static void world_writable_directory_is_refused(void **state)
{
    char *dir = untrusted_dir(0777, 0644);
    char *sticky = untrusted_dir(01777, 0644);   /* as /tmp is */
    char *group = untrusted_dir(0775, 0644);

    (void)state;
    assert_untrusted(dir, dir, "is writable by everyone");
    assert_untrusted(sticky, sticky, "is writable by everyone");
    assert_untrusted(group, group, "is writable by its group");
    tmpdir_remove(dir);
    tmpdir_remove(sticky);
    tmpdir_remove(group);
}

/* Only root can give a file away; other runs say so and pass, as
 * test_redis_tls does where 'localhost' does not resolve. */
static void driver_owned_by_another_user_is_refused(void **state)
{
    char *dir, *file, *reason;

    (void)state;
    if (geteuid() != 0) {
        print_message("# not root: cannot chown a driver to another user; "
                      "the case is not run\n");
        return;
    }
    dir = untrusted_dir(0755, 0644);
    file = file_in(dir, "fakeok");
    assert_true(asprintf(&reason, "is owned by uid 1, neither root nor the "
                         "effective user %ju", (uintmax_t)geteuid()) > 0);
    assert_int_equal(chown(file, 1, (gid_t)-1), 0);
    assert_untrusted(dir, file, reason);
    assert_int_equal(chown(file, 0, (gid_t)-1), 0);
    assert_int_equal(chown(dir, 1, (gid_t)-1), 0);
    assert_untrusted(dir, dir, reason);
    free(reason);
    free(file);
    tmpdir_remove(dir);
}

static void driver_that_is_not_a_regular_file_is_refused(void **state)
{
    char *dir = tmpdir_make("loader-trust");
    char *file = file_in(dir, "fakeok");

    (void)state;
    assert_int_equal(mkdir(file, 0755), 0);
    assert_untrusted(dir, file, "is not a regular file");
    free(file);
    tmpdir_remove(dir);
}

/* A symbolic link in a trusted directory is followed, and what it points
 * to is checked: the file, and the directory that holds it. */
static void symbolic_link_into_an_untrusted_directory_is_refused(void **state)
{
    char *trusted = tmpdir_make("loader-trust");
    char *open_dir = untrusted_dir(0777, 0644);
    char *link = file_in(trusted, "fakeok");
    char *target = file_in(open_dir, "fakeok");

    (void)state;
    assert_int_equal(symlink(target, link), 0);
    assert_untrusted(trusted, open_dir, "is writable by everyone");
    free(target);
    free(link);
    tmpdir_remove(open_dir);
    tmpdir_remove(trusted);
}

/* The directory searched holds the link, so it is checked too: whoever
 * can write it could point the link elsewhere. */
static void symbolic_link_in_an_untrusted_directory_is_refused(void **state)
{
    char *open_dir = tmpdir_make("loader-trust");
    char *link = file_in(open_dir, "fakeok");
    char *target = file_in(fake_dir, "fakeok");

    (void)state;
    assert_int_equal(symlink(target, link), 0);
    assert_int_equal(chmod(open_dir, 0777), 0);
    assert_untrusted(open_dir, open_dir, "is writable by everyone");
    assert_int_equal(chmod(open_dir, 0755), 0);
    assert_loads_fakeok(open_dir);
    free(target);
    free(link);
    tmpdir_remove(open_dir);
}

/* OBOL_DRIVER_PATH and the installed directory are held to the same
 * rules as the application's path. */
static void untrusted_driver_in_obol_driver_path_is_refused(void **state)
{
    char *dir = untrusted_dir(0700, 0666);
    char *file = file_in(dir, "fakeok");
    const obol_driver *driver = NULL;
    obol_error err = { 0, "" };

    (void)state;
    setenv("OBOL_DRIVER_PATH", dir, 1);
    assert_int_equal(obol_loader_load("fakeok", "fakeok", &driver, &err),
                     OBOL_ERR_DRIVER);
    assert_mentions(err.message, file);
    assert_mentions(err.message, "is writable by everyone");
    free(file);
    tmpdir_remove(dir);
}

#define LOADER_TEST(f) cmocka_unit_test_setup_teardown(f, clear_env, restore_env)

int main(void)
{
    const struct CMUnitTest tests[] = {
        LOADER_TEST(good_driver_loads_from_the_applications_path),
        LOADER_TEST(loading_twice_gives_the_same_table),
        LOADER_TEST(scheme_variant_loads_the_base_driver),
        LOADER_TEST(scheme_the_driver_does_not_serve_is_refused),
        LOADER_TEST(trailing_slash_in_the_path_is_fine),
        LOADER_TEST(wrong_abi_major_is_refused),
        LOADER_TEST(table_smaller_than_abi_1_0_is_refused),
        LOADER_TEST(a_1_0_driver_loads_without_put_batch),
        LOADER_TEST(writes_to_a_1_0_driver_never_use_put_batch),
        LOADER_TEST(missing_entry_symbol_is_refused_naming_it),
        LOADER_TEST(driver_calling_itself_otherwise_is_refused),
        LOADER_TEST(file_that_is_not_a_shared_object_is_refused),
        LOADER_TEST(check_accepts_a_complete_table),
        LOADER_TEST(check_refuses_a_missing_table),
        LOADER_TEST(check_refuses_each_missing_required_function),
        LOADER_TEST(check_accepts_a_missing_optional_function),
        LOADER_TEST(check_refuses_missing_name_or_schemes),
        LOADER_TEST(check_refuses_older_and_newer_abi_major),
        LOADER_TEST(optional_slot_needs_size_and_minor),
        LOADER_TEST(put_batch_needs_a_1_1_table),
        LOADER_TEST(host_table_offers_the_core_helpers),
        LOADER_TEST(invalid_driver_names_are_refused),
        LOADER_TEST(name_of_32_characters_is_looked_for),
        LOADER_TEST(missing_driver_lists_every_directory_searched),
        LOADER_TEST(missing_driver_without_path_or_env_names_builtin_dir),
        LOADER_TEST(driver_is_found_through_obol_driver_path),
        LOADER_TEST(empty_entries_in_obol_driver_path_are_skipped),
        LOADER_TEST(relative_entries_in_obol_driver_path_are_ignored),
        LOADER_TEST(applications_path_comes_before_obol_driver_path),
        LOADER_TEST(obol_driver_path_is_searched_in_order),
        LOADER_TEST(store_open_reports_which_driver_check_failed),
        LOADER_TEST(store_open_uses_a_good_driver),
        LOADER_TEST(store_open_passes_unknown_options_to_the_driver),
        LOADER_TEST(config_string_with_driver_path_is_refused),
        LOADER_TEST(relative_entries_of_the_path_are_refused),
        LOADER_TEST(empty_entries_of_the_path_are_refused),
        LOADER_TEST(clearing_the_path_stops_searching_it),
        LOADER_TEST(the_path_is_copied),
        LOADER_TEST(changing_the_path_while_loading_is_safe),
        LOADER_TEST(group_writable_driver_file_is_refused),
        LOADER_TEST(world_writable_driver_file_is_refused),
        LOADER_TEST(world_writable_directory_is_refused),
        LOADER_TEST(driver_owned_by_another_user_is_refused),
        LOADER_TEST(driver_that_is_not_a_regular_file_is_refused),
        LOADER_TEST(symbolic_link_into_an_untrusted_directory_is_refused),
        LOADER_TEST(symbolic_link_in_an_untrusted_directory_is_refused),
        LOADER_TEST(untrusted_driver_in_obol_driver_path_is_refused),
    };

    return cmocka_run_group_tests_name("loader", tests, group_setup,
                                       group_teardown);
}

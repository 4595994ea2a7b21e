/*
 * The LMDB driver on its own, loaded with dlopen() from $OBOL_DRIVER_PATH
 * exactly as the core loads it, and driven through its table. Each test
 * gets a fresh directory and removes it afterwards.
 */
#define _XOPEN_SOURCE 700

#include <dlfcn.h>
#include <errno.h>
#include <ftw.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <lmdb.h>
#include <obol/driver.h>
#include <obol/obol.h>

#include "loader_internal.h"

/* ------------------------------------------------------------ fixtures */

static void *driver_library;
static obol_driver_entry_fn driver_entry;
static const obol_driver *driver;

/* The entry function itself is under test here, so the library is opened
 * by hand; the host table is the core's own. */
static obol_driver_entry_fn load_entry(void)
{
    const char *dir = getenv("OBOL_DRIVER_PATH");
    char path[PATH_MAX];
    if (dir == NULL) {
        fprintf(stderr, "OBOL_DRIVER_PATH is not set\n");
        return NULL;
    }
    snprintf(path, sizeof path, "%s/lmdb.so", dir);
    driver_library = dlopen(path, RTLD_NOW | RTLD_LOCAL);
    if (driver_library == NULL) {
        fprintf(stderr, "%s\n", dlerror());
        return NULL;
    }
    obol_driver_entry_fn entry;
    void *symbol = dlsym(driver_library, "obol_driver_lmdb_entry");
    memcpy(&entry, &symbol, sizeof entry);
    return entry;
}

static int load_driver(void **state)
{
    (void)state;
    driver_entry = load_entry();
    if (driver_entry == NULL)
        return -1;
    driver = driver_entry(obol_loader_host());
    return driver == NULL ? -1 : 0;
}

static int unload_driver(void **state)
{
    (void)state;
    if (driver_library != NULL)
        dlclose(driver_library);
    return 0;
}

typedef struct fixture {
    char dir[1024]; /* short enough to append to */
} fixture;

static int make_directory(void **state)
{
    fixture *f = calloc(1, sizeof *f);
    const char *tmp = getenv("TMPDIR");
    snprintf(f->dir, sizeof f->dir, "%s/obol-lmdb-XXXXXX",
             tmp != NULL && tmp[0] != '\0' ? tmp : "/tmp");
    if (mkdtemp(f->dir) == NULL) {
        free(f);
        return -1;
    }
    *state = f;
    return 0;
}

static int remove_one(const char *path, const struct stat *st, int type,
                      struct FTW *ftw)
{
    (void)st;
    (void)ftw;
    return type == FTW_DP ? rmdir(path) : unlink(path);
}

static int remove_directory(void **state)
{
    fixture *f = *state;
    int rc = nftw(f->dir, remove_one, 16, FTW_DEPTH | FTW_PHYS);
    free(f);
    return rc;
}

/* A config as the core would pass it, for path (may be NULL). */
typedef struct test_config {
    obol_driver_config config;
    obol_driver_option options[4];
} test_config;

static void config_init(test_config *tc, const char *path, const char *prefix)
{
    memset(tc, 0, sizeof *tc);
    tc->config.struct_size = sizeof tc->config;
    tc->config.url = "lmdb://test";
    tc->config.scheme = "lmdb";
    tc->config.host = "";
    tc->config.path = path;
    tc->config.options = tc->options;
    tc->config.prefix.data = (const uint8_t *)prefix;
    tc->config.prefix.len = strlen(prefix);
}

static void config_option(test_config *tc, const char *key, const char *value)
{
    tc->options[tc->config.option_count].key = key;
    tc->options[tc->config.option_count].value = value;
    tc->config.option_count++;
}

static void *open_store_bytes(const char *path, obol_bytes prefix,
                              const char *option, const char *value)
{
    test_config tc;
    config_init(&tc, path, "");
    tc.config.prefix = prefix;
    if (option != NULL)
        config_option(&tc, option, value);
    void *handle = NULL;
    obol_error err = { 0 };
    int status = driver->open(&tc.config, &handle, &err);
    if (status != OBOL_OK)
        fprintf(stderr, "open %s: %s\n", path, err.message);
    assert_int_equal(status, OBOL_OK);
    return handle;
}

static void *open_store(const char *path, const char *prefix,
                        const char *option, const char *value)
{
    obol_bytes bytes = { (const uint8_t *)prefix, strlen(prefix) };
    return open_store_bytes(path, bytes, option, value);
}

static int open_status(const test_config *tc, obol_error *err)
{
    void *handle = NULL;
    int status = driver->open(&tc->config, &handle, err);
    if (status == OBOL_OK)
        driver->close(handle);
    return status;
}

/* In a child process: a handle of its own on path with one option; a
 * child that cannot open one exits with 2. */
static void *child_open(const char *path, const char *option,
                        const char *value)
{
    test_config tc;
    config_init(&tc, path, "obol");
    config_option(&tc, option, value);
    void *handle = NULL;
    obol_error err = { 0 };
    if (driver->open(&tc.config, &handle, &err) != OBOL_OK)
        _exit(2);
    return handle;
}

/* Waits for a child and fails unless it exited with status 0. */
static void assert_child_succeeded(pid_t pid)
{
    int wstatus;
    assert_int_equal(waitpid(pid, &wstatus, 0), pid);
    assert_true(WIFEXITED(wstatus));
    assert_int_equal(WEXITSTATUS(wstatus), 0);
}

static obol_bytes bytes_of(const void *data, size_t len)
{
    obol_bytes b = { data, len };
    return b;
}

static obol_bytes text(const char *s)
{
    return bytes_of(s, strlen(s));
}

static obol_driver_key key_of(obol_bytes user, obol_bytes type, obol_bytes id)
{
    obol_driver_key key = { user, type, id };
    return key;
}

static int put_record(void *handle, obol_driver_key key, obol_bytes sealed,
                      int64_t expires_at, uint64_t expected, int64_t now)
{
    obol_driver_record record = { key, sealed, expires_at, expected + 1 };
    obol_error err = { 0 };
    int status = driver->put(handle, &record, expected, now, &err);
    if (status < 0)
        fprintf(stderr, "put: %s\n", err.message);
    return status;
}

/* Inserts a new record that never expires with sealed = id. */
static void insert(void *handle, obol_driver_key key)
{
    assert_int_equal(put_record(handle, key, key.id, INT64_MAX, 0, 0),
                     OBOL_OK);
}

/* What view() showed: a copy of the bytes and how often it was called. */
typedef struct shown {
    int calls;
    size_t len;
    uint8_t bytes[65536];
} shown;

static void keep_shown(void *arg, const uint8_t *sealed, size_t sealed_len)
{
    shown *s = arg;
    s->calls++;
    s->len = sealed_len;
    if (sealed_len <= sizeof s->bytes)
        memcpy(s->bytes, sealed, sealed_len);
}

/* get() and view() compared with the expected bytes; NULL expects
 * OBOL_NOT_FOUND of both. */
static void assert_stored(void *handle, obol_driver_key key,
                          const void *expected, size_t expected_len)
{
    uint8_t *sealed = NULL;
    size_t sealed_len = 0;
    obol_error err = { 0 };
    static shown seen_by_view;
    int status = driver->get(handle, &key, &sealed, &sealed_len, &err);
    int viewed;

    seen_by_view.calls = 0;
    viewed = driver->view(handle, &key, keep_shown, &seen_by_view, &err);
    if (expected == NULL) {
        assert_int_equal(status, OBOL_NOT_FOUND);
        assert_int_equal(viewed, OBOL_NOT_FOUND);
        assert_int_equal(seen_by_view.calls, 0);
        return;
    }
    assert_int_equal(status, OBOL_OK);
    assert_int_equal(sealed_len, expected_len);
    assert_memory_equal(sealed, expected, expected_len);
    free(sealed);
    assert_int_equal(viewed, OBOL_OK);
    assert_int_equal(seen_by_view.calls, 1);
    assert_int_equal(seen_by_view.len, expected_len);
    if (expected_len <= sizeof seen_by_view.bytes)
        assert_memory_equal(seen_by_view.bytes, expected, expected_len);
}

/* Collects what list() or scan() visit. */
typedef struct seen {
    size_t count;
    obol_driver_record records[256];
    uint8_t copies[256][64];
} seen;

static int collect(void *arg, const obol_driver_record *record)
{
    seen *s = arg;
    if (s->count == 256 || record->key.id.len > 64)
        return OBOL_ERR_INVALID;
    obol_driver_record *copy = &s->records[s->count];
    *copy = *record;
    memcpy(s->copies[s->count], record->key.id.data, record->key.id.len);
    copy->key.id.data = s->copies[s->count];
    copy->key.user_id.data = NULL;
    copy->key.type.data = NULL;
    copy->sealed.data = NULL;
    s->count++;
    return OBOL_OK;
}

static int seen_has_id(const seen *s, obol_bytes id)
{
    for (size_t i = 0; i < s->count; i++) {
        const obol_bytes *got = &s->records[i].key.id;
        if (got->len == id.len && memcmp(got->data, id.data, id.len) == 0)
            return 1;
    }
    return 0;
}

static void list_into(void *handle, obol_driver_key where, seen *s)
{
    memset(s, 0, sizeof *s);
    obol_error err = { 0 };
    assert_int_equal(driver->list(handle, &where, collect, s, &err), OBOL_OK);
}

/*
 * Counts the entries of both databases from a forked child that opens the
 * environment by itself (a second MDB_env in this process is forbidden),
 * so that tests can see the expiry index the driver does not expose.
 */
static void count_entries(const char *dir, size_t *sessions, size_t *expiry)
{
    int fds[2];
    assert_int_equal(pipe(fds), 0);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        size_t counts[2] = { SIZE_MAX, SIZE_MAX };
        MDB_env *env;
        MDB_txn *txn;
        MDB_dbi dbi;
        MDB_stat st;
        if (mdb_env_create(&env) == 0 && mdb_env_set_maxdbs(env, 2) == 0
            && mdb_env_open(env, dir, MDB_RDONLY | MDB_NOTLS, 0600) == 0
            && mdb_txn_begin(env, NULL, MDB_RDONLY, &txn) == 0) {
            if (mdb_dbi_open(txn, "sessions", 0, &dbi) == 0
                && mdb_stat(txn, dbi, &st) == 0)
                counts[0] = st.ms_entries;
            if (mdb_dbi_open(txn, "expiry", 0, &dbi) == 0
                && mdb_stat(txn, dbi, &st) == 0)
                counts[1] = st.ms_entries;
            mdb_txn_abort(txn);
            mdb_env_close(env);
        }
        ssize_t written = write(fds[1], counts, sizeof counts);
        _exit(written == sizeof counts ? 0 : 1);
    }
    close(fds[1]);
    size_t counts[2];
    assert_int_equal(read(fds[0], counts, sizeof counts), sizeof counts);
    close(fds[0]);
    int wstatus;
    assert_int_equal(waitpid(pid, &wstatus, 0), pid);
    *sessions = counts[0];
    *expiry = counts[1];
}

static void assert_entries(const char *dir, size_t sessions)
{
    size_t stored, indexed;
    count_entries(dir, &stored, &indexed);
    assert_int_equal(stored, sessions);
    assert_int_equal(indexed, sessions);
}

/* -------------------------------------------------------------- config */

static void entry_refuses_host_of_another_abi(void **state)
{
    (void)state;
    obol_driver_host other = *obol_loader_host();
    other.abi_major = OBOL_DRIVER_ABI_MAJOR + 1;
    assert_null(driver_entry(&other));
    assert_non_null(driver_entry(obol_loader_host()));
}

static void table_declares_itself(void **state)
{
    (void)state;
    assert_int_equal(driver->abi_major, OBOL_DRIVER_ABI_MAJOR);
    assert_true(driver->struct_size >= OBOL_DRIVER_MIN_SIZE);
    assert_string_equal(driver->name, "lmdb");
    assert_string_equal(driver->schemes[0], "lmdb");
    assert_null(driver->schemes[1]);
    assert_int_equal(driver->capabilities,
                     OBOL_DRIVER_THREAD_SAFE | OBOL_DRIVER_MULTI_PROCESS
                         | OBOL_DRIVER_PERSISTENT | OBOL_DRIVER_LOCAL);
    /* ABI 1.1: put_batch; 1.2: check; 1.3: prefixes; 1.5: the counted
     * removals (not 1.4's stats); 1.6: OBOL_DRIVER_LOCAL, no native
     * non-blocking slots; 1.7: view. */
    assert_int_equal(driver->abi_minor, 7);
    assert_int_equal(driver->struct_size, sizeof(obol_driver));
    assert_true(OBOL_DRIVER_HAS_SLOT(driver, put_batch, 1));
    assert_true(OBOL_DRIVER_HAS_SLOT(driver, check, 2));
    assert_false(OBOL_DRIVER_HAS_SLOT(driver, submit, 6));
    assert_true(OBOL_DRIVER_HAS_SLOT(driver, prefixes, 3));
    assert_true(OBOL_DRIVER_HAS_SLOT(driver, del_counted, 5));
    assert_true(OBOL_DRIVER_HAS_SLOT(driver, del_all_counted, 5));
    assert_true(OBOL_DRIVER_HAS_SLOT(driver, prune_counted, 5));
    assert_true(OBOL_DRIVER_HAS_SLOT(driver, view, 7));
}

static void config_refuses_host(void **state)
{
    fixture *f = *state;
    test_config tc;
    config_init(&tc, f->dir, "obol");
    tc.config.host = "example.org";
    obol_error err = { 0 };
    assert_int_equal(open_status(&tc, &err), OBOL_ERR_INVALID);
    assert_non_null(strstr(err.message, "host"));
}

static void config_refuses_credentials_and_port(void **state)
{
    fixture *f = *state;
    test_config tc;
    obol_error err = { 0 };
    config_init(&tc, f->dir, "obol");
    tc.config.user = "alice";
    assert_int_equal(open_status(&tc, &err), OBOL_ERR_INVALID);
    assert_non_null(strstr(err.message, "user"));
    config_init(&tc, f->dir, "obol");
    tc.config.password = "secret";
    assert_int_equal(open_status(&tc, &err), OBOL_ERR_INVALID);
    assert_non_null(strstr(err.message, "password"));
    config_init(&tc, f->dir, "obol");
    tc.config.port = 1234;
    assert_int_equal(open_status(&tc, &err), OBOL_ERR_INVALID);
    assert_non_null(strstr(err.message, "port"));
}

static void config_refuses_missing_or_relative_path(void **state)
{
    (void)state;
    test_config tc;
    obol_error err = { 0 };
    config_init(&tc, NULL, "obol");
    assert_int_equal(open_status(&tc, &err), OBOL_ERR_INVALID);
    assert_non_null(strstr(err.message, "directory"));
    config_init(&tc, "", "obol");
    assert_int_equal(open_status(&tc, &err), OBOL_ERR_INVALID);
    config_init(&tc, "relative/dir", "obol");
    assert_int_equal(open_status(&tc, &err), OBOL_ERR_INVALID);
    assert_non_null(strstr(err.message, "absolute"));
}

static void config_refuses_unknown_option(void **state)
{
    fixture *f = *state;
    test_config tc;
    config_init(&tc, f->dir, "obol");
    config_option(&tc, "colour", "blue");
    obol_error err = { 0 };
    assert_int_equal(open_status(&tc, &err), OBOL_ERR_INVALID);
    assert_non_null(strstr(err.message, "colour"));
}

static void config_refuses_bad_numbers(void **state)
{
    fixture *f = *state;
    static const char *const bad[][2] = {
        { "map_size", "lots" }, { "map_size", "1" }, { "map_size", "-1GiB" },
        { "map_size", "" }, { "max_readers", "0" }, { "max_readers", "x" },
        { "max_readers", "99999999999999999999" }, { "sync", "sometimes" },
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        test_config tc;
        config_init(&tc, f->dir, "obol");
        config_option(&tc, bad[i][0], bad[i][1]);
        obol_error err = { 0 };
        assert_int_equal(open_status(&tc, &err), OBOL_ERR_INVALID);
        assert_non_null(strstr(err.message, bad[i][0]));
    }
}

static void config_refuses_option_given_twice(void **state)
{
    fixture *f = *state;
    test_config tc;
    config_init(&tc, f->dir, "obol");
    config_option(&tc, "sync", "full");
    config_option(&tc, "sync", "off");
    obol_error err = { 0 };
    assert_int_equal(open_status(&tc, &err), OBOL_ERR_INVALID);
    assert_non_null(strstr(err.message, "twice"));
}

static void config_accepts_every_option(void **state)
{
    fixture *f = *state;
    test_config tc;
    config_init(&tc, f->dir, "obol");
    config_option(&tc, "map_size", "1MiB");
    config_option(&tc, "max_readers", "50");
    config_option(&tc, "sync", "nometasync");
    obol_error err = { 0 };
    assert_int_equal(open_status(&tc, &err), OBOL_OK);
}

static void open_creates_the_directory_but_not_its_parents(void **state)
{
    fixture *f = *state;
    char path[PATH_MAX];
    snprintf(path, sizeof path, "%s/env", f->dir);
    void *handle = open_store(path, "obol", NULL, NULL);
    driver->close(handle);
    struct stat st;
    assert_int_equal(stat(path, &st), 0);
    assert_true(S_ISDIR(st.st_mode));
    assert_int_equal(st.st_mode & 0777, 0700);

    snprintf(path, sizeof path, "%s/missing/env", f->dir);
    test_config tc;
    config_init(&tc, path, "obol");
    obol_error err = { 0 };
    assert_int_equal(open_status(&tc, &err), OBOL_ERR_BACKEND);
    assert_non_null(strstr(err.message, path));
}

/* --------------------------------------------------- create=0 (1.3) */

/* How many entries dir holds (0 for an empty directory). */
static size_t entries_in(const char *dir)
{
    char command[PATH_MAX + 32];
    snprintf(command, sizeof command, "ls -A '%s' | wc -l", dir);
    FILE *p = popen(command, "r");
    unsigned long count = 999;
    assert_non_null(p);
    assert_int_equal(fscanf(p, "%lu", &count), 1);
    pclose(p);
    return count;
}

static int open_existing_status(const char *path, obol_error *err)
{
    test_config tc;
    config_init(&tc, path, "obol");
    tc.config.open_flags = OBOL_DRIVER_OPEN_EXISTING;
    return open_status(&tc, err);
}

static void open_existing_refuses_a_missing_directory(void **state)
{
    fixture *f = *state;
    char path[PATH_MAX];
    obol_error err = { 0 };
    struct stat st;
    snprintf(path, sizeof path, "%s/tpyo", f->dir);
    assert_int_equal(open_existing_status(path, &err), OBOL_ERR_NO_STORE);
    assert_non_null(strstr(err.message, "no LMDB environment at"));
    assert_non_null(strstr(err.message, path));
    assert_non_null(strstr(err.message, "nothing was created"));
    assert_int_equal(stat(path, &st), -1);
    snprintf(path, sizeof path, "%s/missing/env", f->dir);
    assert_int_equal(open_existing_status(path, &err), OBOL_ERR_NO_STORE);
    assert_int_equal(entries_in(f->dir), 0);
}

static void open_existing_refuses_a_directory_without_an_environment(
    void **state)
{
    fixture *f = *state;
    obol_error err = { 0 };
    assert_int_equal(open_existing_status(f->dir, &err), OBOL_ERR_NO_STORE);
    assert_non_null(strstr(err.message, f->dir));
    assert_int_equal(entries_in(f->dir), 0);
}

/* An LMDB environment of another program has no "sessions" database:
 * create=0 does not add one. */
static void open_existing_refuses_an_environment_without_obol_databases(
    void **state)
{
    fixture *f = *state;
    MDB_env *env;
    MDB_txn *txn;
    MDB_dbi dbi;
    MDB_val key = { 1, "k" }, value = { 1, "v" };
    assert_int_equal(mdb_env_create(&env), 0);
    assert_int_equal(mdb_env_open(env, f->dir, 0, 0600), 0);
    assert_int_equal(mdb_txn_begin(env, NULL, 0, &txn), 0);
    assert_int_equal(mdb_dbi_open(txn, NULL, 0, &dbi), 0);
    assert_int_equal(mdb_put(txn, dbi, &key, &value, 0), 0);
    assert_int_equal(mdb_txn_commit(txn), 0);
    mdb_env_close(env);
    obol_error err = { 0 };
    assert_int_equal(open_existing_status(f->dir, &err), OBOL_ERR_NO_STORE);
    assert_non_null(strstr(err.message, "holds no obol store"));
    assert_non_null(strstr(err.message, "nothing was created"));
}

static void open_existing_opens_a_store_that_exists(void **state)
{
    fixture *f = *state;
    obol_driver_key key = key_of(text("alice"), text("full"), text("s1"));
    void *handle = open_store(f->dir, "obol", NULL, NULL);
    insert(handle, key);
    driver->close(handle);
    test_config tc;
    config_init(&tc, f->dir, "other-prefix");
    tc.config.open_flags = OBOL_DRIVER_OPEN_EXISTING;
    obol_error err = { 0 };
    assert_int_equal(driver->open(&tc.config, &handle, &err), OBOL_OK);
    driver->close(handle);
    handle = open_store(f->dir, "obol", NULL, NULL);
    assert_stored(handle, key, "s1", 2);
    driver->close(handle);
}

/* A core before ABI 1.3 passes a config that ends before open_flags: the
 * driver creates as it always did. */
static void config_of_an_older_core_still_creates(void **state)
{
    fixture *f = *state;
    char path[PATH_MAX];
    snprintf(path, sizeof path, "%s/env", f->dir);
    test_config tc;
    config_init(&tc, path, "obol");
    tc.config.open_flags = OBOL_DRIVER_OPEN_EXISTING; /* beyond its size */
    tc.config.struct_size = offsetof(obol_driver_config, open_flags);
    obol_error err = { 0 };
    assert_int_equal(open_status(&tc, &err), OBOL_OK);
    struct stat st;
    assert_int_equal(stat(path, &st), 0);
}

/* ---------------------------------------------------- prefixes (1.3) */

typedef struct prefix_seen {
    obol_bytes items[16];
    uint8_t copies[16][8];
    size_t count;
} prefix_seen;

static int collect_prefix(void *arg, obol_bytes prefix)
{
    prefix_seen *s = arg;
    assert_true(s->count < 16);
    assert_true(prefix.len <= 8);
    memcpy(s->copies[s->count], prefix.data, prefix.len);
    s->items[s->count] = bytes_of(s->copies[s->count], prefix.len);
    s->count++;
    return OBOL_OK;
}

static int prefix_was_seen(const prefix_seen *s, obol_bytes prefix)
{
    int times = 0;
    for (size_t i = 0; i < s->count; i++)
        times += s->items[i].len == prefix.len
                 && memcmp(s->items[i].data, prefix.data, prefix.len) == 0;
    return times;
}

static void prefixes_names_each_prefix_once(void **state)
{
    fixture *f = *state;
    /* Byte prefixes of each other, a NUL and 0xff bytes: the seek past
     * each one must land on the next, never inside or beyond it. */
    static const obol_bytes names[] = {
        { (const uint8_t *)"p", 1 }, { (const uint8_t *)"pq", 2 },
        { (const uint8_t *)"p\0", 2 }, { (const uint8_t *)"\xff\xff", 2 },
        { (const uint8_t *)"obol", 4 },
    };
    const size_t count = sizeof names / sizeof names[0];
    void *handles[sizeof names / sizeof names[0]];
    for (size_t i = 0; i < count; i++) {
        handles[i] = open_store_bytes(f->dir, names[i], NULL, NULL);
        for (int n = 0; n < 40; n++) {
            char user[16];
            snprintf(user, sizeof user, "user-%d", n);
            insert(handles[i], key_of(text(user), text("full"), text("s")));
        }
    }
    prefix_seen s = { .count = 0 };
    int complete = 0;
    obol_error err = { 0 };
    assert_int_equal(driver->prefixes(handles[0], collect_prefix, &s,
                                      &complete, &err), OBOL_OK);
    assert_int_equal(complete, 1);
    assert_int_equal(s.count, count);
    for (size_t i = 0; i < count; i++)
        assert_int_equal(prefix_was_seen(&s, names[i]), 1);
    for (size_t i = 0; i < count; i++)
        driver->close(handles[i]);
}

static void prefixes_of_an_empty_environment_is_none(void **state)
{
    fixture *f = *state;
    void *handle = open_store(f->dir, "obol", NULL, NULL);
    prefix_seen s = { .count = 0 };
    int complete = 0;
    obol_error err = { 0 };
    assert_int_equal(driver->prefixes(handle, collect_prefix, &s, &complete,
                                      &err), OBOL_OK);
    assert_int_equal(complete, 1);
    assert_int_equal(s.count, 0);
    driver->close(handle);
}

/* ------------------------------------------------------ get, put, del */

static void put_then_get_returns_the_bytes(void **state)
{
    fixture *f = *state;
    void *handle = open_store(f->dir, "obol", NULL, NULL);
    uint8_t sealed[300];
    for (size_t i = 0; i < sizeof sealed; i++)
        sealed[i] = (uint8_t)(255 - i % 256);
    obol_driver_key key = key_of(text("alice"), text("full"), text("s1"));
    assert_int_equal(put_record(handle, key, bytes_of(sealed, sizeof sealed),
                                INT64_MAX, 0, 100), OBOL_OK);
    assert_stored(handle, key, sealed, sizeof sealed);
    driver->close(handle);
}

static void empty_sealed_bytes_round_trip(void **state)
{
    fixture *f = *state;
    void *handle = open_store(f->dir, "obol", NULL, NULL);
    obol_driver_key key = key_of(text("u"), text("t"), text("id"));
    assert_int_equal(put_record(handle, key, bytes_of("", 0), INT64_MAX, 0, 0),
                     OBOL_OK);
    uint8_t *sealed = NULL;
    size_t sealed_len = 99;
    obol_error err = { 0 };
    assert_int_equal(driver->get(handle, &key, &sealed, &sealed_len, &err),
                     OBOL_OK);
    assert_int_equal(sealed_len, 0);
    free(sealed);
    driver->close(handle);
}

static void get_of_missing_record_is_not_found(void **state)
{
    fixture *f = *state;
    void *handle = open_store(f->dir, "obol", NULL, NULL);
    assert_stored(handle, key_of(text("nobody"), text("full"), text("x")),
                  NULL, 0);
    driver->close(handle);
}

static void get_returns_expired_records_too(void **state)
{
    fixture *f = *state;
    void *handle = open_store(f->dir, "obol", NULL, NULL);
    obol_driver_key key = key_of(text("u"), text("full"), text("old"));
    assert_int_equal(put_record(handle, key, text("bytes"), 10, 0, 5), OBOL_OK);
    assert_stored(handle, key, "bytes", 5);
    driver->close(handle);
}

static void insert_only_if_absent(void **state)
{
    fixture *f = *state;
    void *handle = open_store(f->dir, "obol", NULL, NULL);
    obol_driver_key key = key_of(text("u"), text("full"), text("s"));
    assert_int_equal(put_record(handle, key, text("one"), INT64_MAX, 0, 0),
                     OBOL_OK);
    assert_int_equal(put_record(handle, key, text("two"), INT64_MAX, 0, 0),
                     OBOL_CONFLICT);
    assert_stored(handle, key, "one", 3);
    driver->close(handle);
}

static void update_only_with_the_stored_lock(void **state)
{
    fixture *f = *state;
    void *handle = open_store(f->dir, "obol", NULL, NULL);
    obol_driver_key key = key_of(text("u"), text("full"), text("s"));
    assert_int_equal(put_record(handle, key, text("v1"), 1000, 0, 0), OBOL_OK);
    assert_int_equal(put_record(handle, key, text("v2"), 2000, 2, 0),
                     OBOL_CONFLICT);
    assert_int_equal(put_record(handle, key, text("v2"), 2000, 1, 0), OBOL_OK);
    assert_int_equal(put_record(handle, key, text("v3"), 3000, 1, 0),
                     OBOL_CONFLICT);
    assert_int_equal(put_record(handle, key, text("v3"), 3000, 2, 0), OBOL_OK);
    assert_stored(handle, key, "v3", 2);
    seen s;
    list_into(handle, key, &s);
    assert_int_equal(s.count, 1);
    assert_int_equal(s.records[0].lock_version, 3);
    assert_int_equal(s.records[0].expires_at, 3000);
    assert_entries(f->dir, 1);
    driver->close(handle);
}

static void update_of_missing_record_conflicts(void **state)
{
    fixture *f = *state;
    void *handle = open_store(f->dir, "obol", NULL, NULL);
    obol_driver_key key = key_of(text("u"), text("full"), text("gone"));
    assert_int_equal(put_record(handle, key, text("v"), INT64_MAX, 4, 0),
                     OBOL_CONFLICT);
    assert_stored(handle, key, NULL, 0);
    assert_entries(f->dir, 0);
    driver->close(handle);
}

static void conflict_writes_nothing(void **state)
{
    fixture *f = *state;
    void *handle = open_store(f->dir, "obol", NULL, NULL);
    obol_driver_key key = key_of(text("u"), text("full"), text("s"));
    assert_int_equal(put_record(handle, key, text("kept"), 500, 0, 0), OBOL_OK);
    assert_int_equal(put_record(handle, key, text("lost"), 900, 7, 0),
                     OBOL_CONFLICT);
    seen s;
    list_into(handle, key, &s);
    assert_int_equal(s.count, 1);
    assert_int_equal(s.records[0].lock_version, 1);
    assert_int_equal(s.records[0].expires_at, 500);
    assert_stored(handle, key, "kept", 4);
    assert_entries(f->dir, 1);
    driver->close(handle);
}

static void expired_record_counts_as_absent(void **state)
{
    fixture *f = *state;
    void *handle = open_store(f->dir, "obol", NULL, NULL);
    obol_driver_key key = key_of(text("u"), text("full"), text("s"));
    assert_int_equal(put_record(handle, key, text("old"), 100, 0, 50), OBOL_OK);
    /* Still alive at its expiry second: the lock holds. */
    assert_int_equal(put_record(handle, key, text("new"), 300, 0, 100),
                     OBOL_CONFLICT);
    /* Dead afterwards: its lock version 1 no longer counts... */
    assert_int_equal(put_record(handle, key, text("new"), 300, 1, 101),
                     OBOL_CONFLICT);
    /* ...and an insert takes its place. */
    assert_int_equal(put_record(handle, key, text("new"), 300, 0, 101),
                     OBOL_OK);
    assert_stored(handle, key, "new", 3);
    assert_entries(f->dir, 1);
    driver->close(handle);
}

static void delete_removes_the_record_and_its_index_entry(void **state)
{
    fixture *f = *state;
    void *handle = open_store(f->dir, "obol", NULL, NULL);
    obol_driver_key key = key_of(text("u"), text("full"), text("s"));
    insert(handle, key);
    obol_error err = { 0 };
    assert_int_equal(driver->del(handle, &key, &err), OBOL_OK);
    assert_stored(handle, key, NULL, 0);
    assert_entries(f->dir, 0);
    driver->close(handle);
}

static void delete_of_missing_record_is_ok(void **state)
{
    fixture *f = *state;
    void *handle = open_store(f->dir, "obol", NULL, NULL);
    obol_driver_key key = key_of(text("u"), text("full"), text("none"));
    obol_error err = { 0 };
    assert_int_equal(driver->del(handle, &key, &err), OBOL_OK);
    driver->close(handle);
}

/* --------------------------------------------------- ranges and scans */

/* User ids and types chosen to collide under a naive encoding: NUL, 0xff,
 * separators, empty strings and prefixes of each other. */
static const obol_bytes tricky[] = {
    { (const uint8_t *)"", 0 },        { (const uint8_t *)"a", 1 },
    { (const uint8_t *)"ab", 2 },      { (const uint8_t *)"a\0", 2 },
    { (const uint8_t *)"a\0b", 3 },    { (const uint8_t *)"\xff", 1 },
    { (const uint8_t *)"a\xff", 2 },   { (const uint8_t *)"a:b", 3 },
    { (const uint8_t *)"\0\x01", 2 },  { (const uint8_t *)"\x01", 1 },
};
#define TRICKY_COUNT (sizeof tricky / sizeof tricky[0])

/* The session ids stored for (user i, type j): one or two of them, some
 * also tricky, so that ranges differ in size. */
static size_t ids_for(size_t i, size_t j, obol_bytes ids[2], uint8_t buf[2][4])
{
    buf[0][0] = (uint8_t)i;
    buf[0][1] = (uint8_t)j;
    buf[0][2] = 0;
    ids[0] = bytes_of(buf[0], 3);
    if ((i + j) % 2 == 0)
        return 1;
    buf[1][0] = 0xff;
    buf[1][1] = (uint8_t)i;
    buf[1][2] = (uint8_t)j;
    ids[1] = bytes_of(buf[1], 3);
    return 2;
}

static void store_tricky_grid(void *handle)
{
    for (size_t i = 0; i < TRICKY_COUNT; i++) {
        for (size_t j = 0; j < TRICKY_COUNT; j++) {
            obol_bytes ids[2];
            uint8_t buf[2][4];
            size_t n = ids_for(i, j, ids, buf);
            for (size_t k = 0; k < n; k++)
                insert(handle, key_of(tricky[i], tricky[j], ids[k]));
        }
    }
}

static void list_returns_exactly_one_user_and_type(void **state)
{
    fixture *f = *state;
    void *handle = open_store(f->dir, "obol", NULL, NULL);
    store_tricky_grid(handle);
    for (size_t i = 0; i < TRICKY_COUNT; i++) {
        for (size_t j = 0; j < TRICKY_COUNT; j++) {
            obol_bytes ids[2];
            uint8_t buf[2][4];
            size_t n = ids_for(i, j, ids, buf);
            seen s;
            list_into(handle, key_of(tricky[i], tricky[j], text("")), &s);
            assert_int_equal(s.count, n);
            for (size_t k = 0; k < n; k++)
                assert_true(seen_has_id(&s, ids[k]));
        }
    }
    driver->close(handle);
}

static void list_reports_lock_expiry_and_bytes(void **state)
{
    fixture *f = *state;
    void *handle = open_store(f->dir, "obol", NULL, NULL);
    obol_driver_key key = key_of(text("u\0"), text("t"), bytes_of("i\0d", 3));
    assert_int_equal(put_record(handle, key, bytes_of("x\0y", 3), -5, 0, -10),
                     OBOL_OK);
    seen s;
    list_into(handle, key, &s);
    assert_int_equal(s.count, 1);
    assert_int_equal(s.records[0].expires_at, -5);
    assert_int_equal(s.records[0].lock_version, 1);
    assert_int_equal(s.records[0].sealed.len, 3);
    assert_int_equal(s.records[0].key.id.len, 3);
    assert_memory_equal(s.records[0].key.id.data, "i\0d", 3);
    driver->close(handle);
}

static int stop_after_two(void *arg, const obol_driver_record *record)
{
    (void)record;
    int *count = arg;
    return ++*count == 2 ? OBOL_CONFLICT : OBOL_OK;
}

static void visitor_status_stops_the_walk(void **state)
{
    fixture *f = *state;
    void *handle = open_store(f->dir, "obol", NULL, NULL);
    for (int i = 0; i < 5; i++) {
        char id[32];
        snprintf(id, sizeof id, "s%d", i);
        insert(handle, key_of(text("u"), text("full"), text(id)));
    }
    int count = 0;
    obol_error err = { 0 };
    obol_driver_key where = key_of(text("u"), text("full"), text(""));
    assert_int_equal(driver->list(handle, &where, stop_after_two, &count,
                                  &err), OBOL_CONFLICT);
    assert_int_equal(count, 2);
    driver->close(handle);
}

/* A visitor that writes to the store it walks, as a migration does. */
typedef struct rewriter {
    void *handle;
    size_t visited;
    int failures;
} rewriter;

static int rewrite_record(void *arg, const obol_driver_record *record)
{
    rewriter *r = arg;
    r->visited++;
    obol_driver_record copy = *record;
    copy.sealed = text("rewritten");
    copy.lock_version = record->lock_version + 1;
    obol_error err = { 0 };
    if (driver->put(r->handle, &copy, record->lock_version, 0, &err)
        != OBOL_OK)
        r->failures++;
    return OBOL_OK;
}

static void scan_visitor_may_write_to_the_store(void **state)
{
    fixture *f = *state;
    void *handle = open_store(f->dir, "obol", NULL, NULL);
    for (int i = 0; i < 200; i++) {
        char id[32];
        snprintf(id, sizeof id, "session-%03d", i);
        insert(handle, key_of(text("u"), text("full"), text(id)));
    }
    rewriter r = { handle, 0, 0 };
    obol_error err = { 0 };
    assert_int_equal(driver->scan(handle, rewrite_record, &r, &err), OBOL_OK);
    assert_int_equal(r.visited, 200);
    assert_int_equal(r.failures, 0);
    assert_stored(handle, key_of(text("u"), text("full"), text("session-123")),
                  "rewritten", 9);
    driver->close(handle);
}

static void delete_all_touches_only_its_range(void **state)
{
    fixture *f = *state;
    void *handle = open_store(f->dir, "obol", NULL, NULL);
    store_tricky_grid(handle);
    size_t before, indexed;
    count_entries(f->dir, &before, &indexed);
    /* "a" with type "a": neighbours "a\0", "ab", "a\xff" must survive. */
    obol_driver_key where = key_of(tricky[1], tricky[1], text(""));
    obol_error err = { 0 };
    assert_int_equal(driver->del_all(handle, &where, &err), OBOL_OK);
    seen s;
    list_into(handle, where, &s);
    assert_int_equal(s.count, 0);
    for (size_t i = 0; i < TRICKY_COUNT; i++) {
        for (size_t j = 0; j < TRICKY_COUNT; j++) {
            if (i == 1 && j == 1)
                continue;
            obol_bytes ids[2];
            uint8_t buf[2][4];
            size_t n = ids_for(i, j, ids, buf);
            list_into(handle, key_of(tricky[i], tricky[j], text("")), &s);
            assert_int_equal(s.count, n);
        }
    }
    obol_bytes ids[2];
    uint8_t buf[2][4];
    assert_entries(f->dir, before - ids_for(1, 1, ids, buf));
    driver->close(handle);
}

static void scan_sees_only_its_prefix(void **state)
{
    fixture *f = *state;
    /* "p" is a byte prefix of "pq" and "p\0"; only the encoding keeps
     * them apart. */
    void *plain = open_store(f->dir, "p", NULL, NULL);
    void *longer = open_store(f->dir, "pq", NULL, NULL);
    obol_bytes p_nul = { (const uint8_t *)"p\0", 2 };
    void *nul = open_store_bytes(f->dir, p_nul, NULL, NULL);
    void *again = open_store(f->dir, "p", NULL, NULL);
    insert(plain, key_of(text("u"), text("full"), text("from-p")));
    insert(longer, key_of(text("u"), text("full"), text("from-pq")));
    insert(longer, key_of(text("v"), text("full"), text("from-pq-2")));
    seen s = { 0 };
    obol_error err = { 0 };
    assert_int_equal(driver->scan(plain, collect, &s, &err), OBOL_OK);
    assert_int_equal(s.count, 1);
    assert_true(seen_has_id(&s, text("from-p")));
    memset(&s, 0, sizeof s);
    assert_int_equal(driver->scan(longer, collect, &s, &err), OBOL_OK);
    assert_int_equal(s.count, 2);
    assert_stored(longer, key_of(text("u"), text("full"), text("from-p")),
                  NULL, 0);
    assert_stored(nul, key_of(text("u"), text("full"), text("from-p")),
                  NULL, 0);
    memset(&s, 0, sizeof s);
    assert_int_equal(driver->scan(nul, collect, &s, &err), OBOL_OK);
    assert_int_equal(s.count, 0);
    assert_stored(again, key_of(text("u"), text("full"), text("from-p")),
                  "from-p", 6);
    driver->close(again);
    driver->close(nul);
    driver->close(longer);
    driver->close(plain);
}

/* --------------------------------------------------------------- prune */

static void prune_removes_exactly_the_expired(void **state)
{
    fixture *f = *state;
    void *handle = open_store(f->dir, "obol", NULL, NULL);
    static const int64_t expiries[] = { INT64_MIN, -5, 10, 19, 20, 30,
                                        INT64_MAX };
    const size_t count = sizeof expiries / sizeof expiries[0];
    for (size_t i = 0; i < count; i++) {
        char id[32];
        snprintf(id, sizeof id, "e%zu", i);
        assert_int_equal(put_record(handle, key_of(text("u"), text("full"),
                                                   text(id)),
                                    text(id), expiries[i], 0, INT64_MIN),
                         OBOL_OK);
    }
    obol_error err = { 0 };
    assert_int_equal(driver->prune(handle, 20, &err), OBOL_OK);
    for (size_t i = 0; i < count; i++) {
        char id[32];
        snprintf(id, sizeof id, "e%zu", i);
        obol_driver_key key = key_of(text("u"), text("full"), text(id));
        if (expiries[i] < 20)
            assert_stored(handle, key, NULL, 0);
        else
            assert_stored(handle, key, id, strlen(id));
    }
    assert_entries(f->dir, 3);
    driver->close(handle);
}

static void prune_follows_updated_expiry(void **state)
{
    fixture *f = *state;
    void *handle = open_store(f->dir, "obol", NULL, NULL);
    obol_driver_key key = key_of(text("u"), text("full"), text("s"));
    assert_int_equal(put_record(handle, key, text("v1"), 10, 0, 0), OBOL_OK);
    assert_int_equal(put_record(handle, key, text("v2"), 100, 1, 0), OBOL_OK);
    obol_error err = { 0 };
    assert_int_equal(driver->prune(handle, 50, &err), OBOL_OK);
    assert_stored(handle, key, "v2", 2);
    assert_entries(f->dir, 1);
    assert_int_equal(driver->prune(handle, 101, &err), OBOL_OK);
    assert_stored(handle, key, NULL, 0);
    assert_entries(f->dir, 0);
    driver->close(handle);
}

static void prune_handles_more_than_one_batch(void **state)
{
    fixture *f = *state;
    void *handle = open_store(f->dir, "obol", "sync", "off");
    for (int i = 0; i < 2500; i++) {
        char id[32];
        snprintf(id, sizeof id, "s%d", i);
        assert_int_equal(put_record(handle, key_of(text("u"), text("t"),
                                                   text(id)),
                                    text(id), i % 2 ? 5 : 500, 0, 0),
                         OBOL_OK);
    }
    obol_error err = { 0 };
    assert_int_equal(driver->prune(handle, 6, &err), OBOL_OK);
    assert_entries(f->dir, 1250);
    driver->close(handle);
}

/* prune_counted (ABI 1.5) sums the batches it committed, and counts this
 * store's prefix only, though it prunes the other prefixes too. */
static void prune_counts_every_batch_and_its_own_prefix_only(void **state)
{
    fixture *f = *state;
    void *mine = open_store(f->dir, "obol", "sync", "off");
    void *theirs = open_store(f->dir, "other", "sync", "off");
    for (int i = 0; i < 2100; i++) {
        char id[32];
        snprintf(id, sizeof id, "s%d", i);
        assert_int_equal(put_record(mine, key_of(text("u"), text("t"),
                                                 text(id)),
                                    text(id), 5, 0, 0), OBOL_OK);
    }
    for (int i = 0; i < 3; i++) {
        char id[32];
        snprintf(id, sizeof id, "o%d", i);
        assert_int_equal(put_record(theirs, key_of(text("u"), text("t"),
                                                   text(id)),
                                    text(id), 5, 0, 0), OBOL_OK);
    }
    uint64_t removed = 0;
    obol_error err = { 0 };
    assert_int_equal(driver->prune_counted(mine, 6, &removed, &err), OBOL_OK);
    assert_int_equal(removed, 2100);
    assert_entries(f->dir, 0);
    assert_int_equal(driver->prune_counted(theirs, 6, &removed, &err),
                     OBOL_OK);
    assert_int_equal(removed, 0);
    driver->close(theirs);
    driver->close(mine);
}

/* -------------------------------------------------------------- limits */

static void overlong_key_is_too_large(void **state)
{
    fixture *f = *state;
    void *handle = open_store(f->dir, "obol", NULL, NULL);
    /* 511-byte LMDB keys leave 495 bytes for prefix + user + type + id. */
    static uint8_t user[600];
    memset(user, 'u', sizeof user);
    size_t fits = 495 - strlen("obol") - strlen("full") - strlen("id");
    obol_driver_key key = key_of(bytes_of(user, fits), text("full"),
                                 text("id"));
    assert_int_equal(put_record(handle, key, text("x"), INT64_MAX, 0, 0),
                     OBOL_OK);
    assert_stored(handle, key, "x", 1);
    key.user_id.len = fits + 1;
    obol_error err = { 0 };
    obol_driver_record record = { key, text("x"), INT64_MAX, 1 };
    assert_int_equal(driver->put(handle, &record, 0, 0, &err),
                     OBOL_ERR_TOO_LARGE);
    assert_non_null(strstr(err.message, "495"));
    key.user_id.len = sizeof user;
    assert_int_equal(driver->put(handle, &record, 0, 0, &err),
                     OBOL_ERR_TOO_LARGE);
    /* Nothing that long can exist, so reads and deletes simply miss. */
    assert_stored(handle, key, NULL, 0);
    assert_int_equal(driver->del(handle, &key, &err), OBOL_OK);
    driver->close(handle);
}

/* check() (ABI 1.2) refuses exactly what put() refuses for its keys,
 * with put()'s status and message, and writes nothing. */
static void check_refuses_what_put_refuses(void **state)
{
    fixture *f = *state;
    void *handle = open_store(f->dir, "obol", NULL, NULL);
    static uint8_t user[600];
    memset(user, 'u', sizeof user);
    size_t fits = 495 - strlen("obol") - strlen("full") - strlen("id");
    obol_driver_key key = key_of(bytes_of(user, fits), text("full"),
                                 text("id"));
    obol_driver_record record = { key, text("x"), INT64_MAX, 1 };
    obol_error checked = { 0 }, put = { 0 };
    assert_int_equal(driver->check(handle, &record, &checked), OBOL_OK);
    assert_stored(handle, key, NULL, 0);
    record.key.user_id.len = fits + 1;
    assert_int_equal(driver->check(handle, &record, &checked),
                     OBOL_ERR_TOO_LARGE);
    assert_int_equal(driver->put(handle, &record, 0, 0, &put),
                     OBOL_ERR_TOO_LARGE);
    assert_string_equal(checked.message, put.message);
    driver->close(handle);
}

/* Through the public API: obol_restore_check() gives, for a session whose
 * key LMDB cannot hold, what obol_restore() gives, before any write. */
static void restore_check_refuses_a_key_too_long_for_lmdb(void **state)
{
    fixture *f = *state;
    static const uint8_t key[32] = "lmdb driver test key...........";
    char url[1200], user[600];
    obol_store *st = NULL;
    obol_error checked = { 0 }, restored = { 0 };
    snprintf(url, sizeof url, "lmdb://%s", f->dir);
    assert_int_equal(obol_store_open(url, &st, &checked), OBOL_OK);
    assert_int_equal(obol_store_add_key(st, 1, key, 1, NULL), OBOL_OK);
    memset(user, 'u', sizeof user - 1);
    user[sizeof user - 1] = '\0';
    obol_session *s = obol_session_new(user, NULL, obol_store_now(st), 3600,
                                       3600);
    assert_non_null(s);
    s->lock_version = 1;
    assert_int_equal(obol_restore_check(st, s, &checked), OBOL_ERR_TOO_LARGE);
    assert_int_equal(obol_restore(st, s, &restored), OBOL_ERR_TOO_LARGE);
    assert_string_equal(checked.message, restored.message);
    assert_non_null(strstr(checked.message, "LMDB key"));
    s->user_id[100] = '\0';   /* a user id that fits */
    assert_int_equal(obol_restore_check(st, s, &checked), OBOL_OK);
    obol_session_free(s);
    obol_store_close(st);
}

/* A batch is one transaction: a record that cannot be stored fails the
 * batch, and the records before it are not written either. */
static void put_batch_fails_whole(void **state)
{
    fixture *f = *state;
    void *handle = open_store(f->dir, "obol", NULL, NULL);
    static uint8_t user[600];
    memset(user, 'u', sizeof user);
    obol_driver_record batch[2] = {
        { key_of(text("u"), text("full"), text("first")), text("1"),
          INT64_MAX, 1 },
        { key_of(bytes_of(user, sizeof user), text("full"), text("id")),
          text("2"), INT64_MAX, 1 },
    };
    const uint64_t expected[2] = { 0, 0 };
    int statuses[2];
    obol_error err = { 0 };
    assert_int_equal(driver->put_batch(handle, batch, expected, 2, 0, statuses,
                                       &err),
                     OBOL_ERR_TOO_LARGE);
    assert_stored(handle, batch[0].key, NULL, 0);
    assert_entries(f->dir, 0);
    driver->close(handle);
}

/* The map size health() reports. */
static unsigned long long map_size_of(void *handle)
{
    char info[512];
    obol_error err = { 0 };
    assert_int_equal(driver->health(handle, info, sizeof info, &err), OBOL_OK);
    const char *map = strstr(info, "map ");
    assert_non_null(map);
    return strtoull(map + 4, NULL, 10);
}

/* Writes count records of 16 KiB under user "big"; 0 or the failing
 * status. */
static int write_big_records(void *handle, int count)
{
    static uint8_t sealed[16384];
    for (int i = 0; i < count; i++) {
        char id[32];
        snprintf(id, sizeof id, "b%d", i);
        memset(sealed, i, sizeof sealed);
        int status = put_record(handle, key_of(text("big"), text("t"),
                                               text(id)),
                                bytes_of(sealed, sizeof sealed), INT64_MAX,
                                0, 0);
        if (status != OBOL_OK)
            return status;
    }
    return OBOL_OK;
}

static void map_grows_when_full(void **state)
{
    fixture *f = *state;
    void *handle = open_store(f->dir, "obol", "map_size", "32KiB");
    assert_int_equal(write_big_records(handle, 256), OBOL_OK);
    static uint8_t expected[16384];
    memset(expected, 77, sizeof expected);
    assert_stored(handle, key_of(text("big"), text("t"), text("b77")),
                  expected, sizeof expected);
    assert_true(map_size_of(handle) > 256 * 16384);
    char info[512];
    obol_error err = { 0 };
    assert_int_equal(driver->health(handle, info, sizeof info, &err), OBOL_OK);
    assert_non_null(strstr(info, "256 records"));
    driver->close(handle);
}

/* One batch far larger than the map: the transaction is run again on a
 * grown map until it fits, and every record lands exactly once. */
static void put_batch_grows_the_map(void **state)
{
    enum { COUNT = 64 };
    fixture *f = *state;
    void *handle = open_store(f->dir, "obol", "map_size", "32KiB");
    static uint8_t sealed[COUNT][16384];
    static char ids[COUNT][16];
    obol_driver_record batch[COUNT];
    uint64_t expected[COUNT] = { 0 };
    int statuses[COUNT];
    for (int i = 0; i < COUNT; i++) {
        snprintf(ids[i], sizeof ids[i], "b%d", i);
        memset(sealed[i], i, sizeof sealed[i]);
        batch[i] = (obol_driver_record){
            key_of(text("big"), text("t"), text(ids[i])),
            bytes_of(sealed[i], sizeof sealed[i]), INT64_MAX, 1 };
    }
    obol_error err = { 0 };
    assert_int_equal(driver->put_batch(handle, batch, expected, COUNT, 0,
                                       statuses, &err),
                     OBOL_OK);
    for (int i = 0; i < COUNT; i++) {
        assert_int_equal(statuses[i], OBOL_OK);
        assert_stored(handle, batch[i].key, sealed[i], sizeof sealed[i]);
    }
    assert_true(map_size_of(handle) > COUNT * 16384);
    assert_entries(f->dir, COUNT);
    driver->close(handle);
}

static void reopening_keeps_the_grown_map(void **state)
{
    fixture *f = *state;
    void *handle = open_store(f->dir, "obol", "map_size", "32KiB");
    assert_int_equal(write_big_records(handle, 256), OBOL_OK);
    unsigned long long grown = map_size_of(handle);
    driver->close(handle);
    handle = open_store(f->dir, "obol", "map_size", "32KiB");
    assert_true(map_size_of(handle) >= grown);
    driver->close(handle);
    /* A configured size larger than the recorded one wins. */
    handle = open_store(f->dir, "obol", "map_size", "1GiB");
    assert_int_equal(map_size_of(handle), 1ull << 30);
    driver->close(handle);
}

static void map_grown_by_another_process_is_adopted(void **state)
{
    fixture *f = *state;
    void *handle = open_store(f->dir, "obol", "map_size", "32KiB");
    assert_true(map_size_of(handle) < 65536);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        /* Frees our copy of the parent's handle, not its environment. */
        driver->close(handle);
        void *own = child_open(f->dir, "map_size", "32KiB");
        int status = write_big_records(own, 200);
        driver->close(own);
        _exit(status == OBOL_OK ? 0 : 1);
    }
    assert_child_succeeded(pid);
    /* Our map is far smaller than the data now: the next transaction
     * finds out and takes the larger size. */
    static uint8_t expected[16384];
    memset(expected, 150, sizeof expected);
    assert_stored(handle, key_of(text("big"), text("t"), text("b150")),
                  expected, sizeof expected);
    assert_true(map_size_of(handle) > 200 * 16384);
    insert(handle, key_of(text("u"), text("full"), text("after")));
    driver->close(handle);
}

static void health_names_version_and_path(void **state)
{
    fixture *f = *state;
    void *handle = open_store(f->dir, "obol", NULL, NULL);
    char info[512];
    obol_error err = { 0 };
    assert_int_equal(driver->health(handle, info, sizeof info, &err), OBOL_OK);
    assert_non_null(strstr(info, "LMDB"));
    assert_non_null(strstr(info, "obol-lmdb-"));
    assert_non_null(strstr(info, "0 records"));
    driver->close(handle);
}

/* ------------------------------------------------ sharing and processes */

static void two_handles_share_one_environment(void **state)
{
    fixture *f = *state;
    char other_spelling[PATH_MAX];
    snprintf(other_spelling, sizeof other_spelling, "%s/./", f->dir);
    void *first = open_store(f->dir, "obol", NULL, NULL);
    void *second = open_store(other_spelling, "obol", NULL, NULL);
    obol_driver_key key = key_of(text("u"), text("full"), text("s"));
    insert(first, key);
    assert_stored(second, key, "s", 1);
    driver->close(first);
    obol_driver_key later = key_of(text("u"), text("full"), text("later"));
    insert(second, later);
    assert_stored(second, later, "later", 5);
    void *third = open_store(f->dir, "obol", NULL, NULL);
    assert_stored(third, later, "later", 5);
    driver->close(second);
    driver->close(third);
}

/* Runs in a forked child: non-zero exit codes say which step failed. */
static int child_uses_directory(const char *dir, void *inherited)
{
    test_config tc;
    config_init(&tc, dir, "obol");
    void *own = NULL;
    obol_error err = { 0 };
    if (driver->open(&tc.config, &own, &err) != OBOL_OK)
        return 10;
    obol_driver_key parent_key = key_of(text("u"), text("full"), text("parent"));
    uint8_t *sealed = NULL;
    size_t sealed_len;
    if (driver->get(own, &parent_key, &sealed, &sealed_len, &err) != OBOL_OK)
        return 11;
    free(sealed);
    obol_driver_record record = {
        key_of(text("u"), text("full"), text("child")), text("c"), INT64_MAX, 1
    };
    if (driver->put(own, &record, 0, 0, &err) != OBOL_OK)
        return 12;
    /* The parent's handle moves to the child's own environment. */
    record.key.id = text("inherited");
    if (driver->put(inherited, &record, 0, 0, &err) != OBOL_OK)
        return 13;
    driver->close(inherited);
    driver->close(own);
    return 0;
}

static void forked_child_opens_its_own_environment(void **state)
{
    fixture *f = *state;
    void *handle = open_store(f->dir, "obol", NULL, NULL);
    insert(handle, key_of(text("u"), text("full"), text("parent")));
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0)
        _exit(child_uses_directory(f->dir, handle));
    assert_child_succeeded(pid);
    assert_stored(handle, key_of(text("u"), text("full"), text("child")),
                  "c", 1);
    assert_stored(handle, key_of(text("u"), text("full"), text("inherited")),
                  "c", 1);
    /* The child closed its copy of our handle; ours still works. */
    insert(handle, key_of(text("u"), text("full"), text("after")));
    driver->close(handle);
}

/* Reads in another process after ours: with max_readers=1 a read that
 * has ended keeps no reader slot (the shelf of reset transactions holds
 * one per 16 slots), so the child's reads find the only one free. */
static int child_reads(const char *dir, const char *max_readers,
                       int readers)
{
    void *own = child_open(dir, "max_readers", max_readers);
    if (own == NULL)
        return 1;
    obol_driver_key key = key_of(text("u"), text("full"), text("parent"));
    int failed = 0;
    for (int i = 0; i < readers; i++) {
        uint8_t *sealed = NULL;
        size_t len = 0;
        obol_error err = { 0 };
        if (driver->get(own, &key, &sealed, &len, &err) != OBOL_OK) {
            fprintf(stderr, "child read %d: %s\n", i, err.message);
            failed = 1;
        }
        free(sealed);
    }
    driver->close(own);
    return failed;
}

static void idle_reads_leave_slots_to_other_processes(void **state)
{
    fixture *f = *state;
    void *handle = open_store(f->dir, "obol", "max_readers", "1");
    insert(handle, key_of(text("u"), text("full"), text("parent")));
    assert_stored(handle, key_of(text("u"), text("full"), text("parent")),
                  "parent", 6);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        driver->close(handle);
        _exit(child_reads(f->dir, "1", 3));
    }
    assert_child_succeeded(pid);
    /* And ours goes on after the child's. */
    assert_stored(handle, key_of(text("u"), text("full"), text("parent")),
                  "parent", 6);
    driver->close(handle);
}

static void committed_data_survives_sigkill(void **state)
{
    fixture *f = *state;
    int fds[2];
    assert_int_equal(pipe(fds), 0);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        close(fds[0]);
        test_config tc;
        config_init(&tc, f->dir, "obol");
        void *handle = NULL;
        obol_error err = { 0 };
        char done = 'x';
        obol_driver_record record = {
            key_of(text("u"), text("full"), text("durable")), text("kept"),
            INT64_MAX, 1
        };
        if (driver->open(&tc.config, &handle, &err) == OBOL_OK
            && driver->put(handle, &record, 0, 0, &err) == OBOL_OK)
            done = 'y';
        if (write(fds[1], &done, 1) != 1)
            _exit(1);
        for (;;)
            pause();
    }
    close(fds[1]);
    char done = 0;
    assert_int_equal(read(fds[0], &done, 1), 1);
    close(fds[0]);
    assert_int_equal(done, 'y');
    assert_int_equal(kill(pid, SIGKILL), 0);
    int wstatus;
    assert_int_equal(waitpid(pid, &wstatus, 0), pid);
    assert_true(WIFSIGNALED(wstatus));
    void *handle = open_store(f->dir, "obol", NULL, NULL);
    assert_stored(handle, key_of(text("u"), text("full"), text("durable")),
                  "kept", 4);
    insert(handle, key_of(text("u"), text("full"), text("after")));
    driver->close(handle);
}

/* ------------------------------------------------------- lost updates */

/* The counter lives in the sealed bytes and always equals the lock
 * version, so every successful CAS adds exactly one. */
#define INCREMENTS_PER_THREAD 150
#define THREADS 4

static const obol_driver_key counter_key = {
    { (const uint8_t *)"counter", 7 }, { (const uint8_t *)"full", 4 },
    { (const uint8_t *)"c", 1 }
};

static int read_counter(void *handle, uint64_t *value)
{
    uint8_t *sealed = NULL;
    size_t sealed_len = 0;
    obol_error err = { 0 };
    int status = driver->get(handle, &counter_key, &sealed, &sealed_len, &err);
    *value = 0;
    if (status == OBOL_OK && sealed_len == sizeof *value)
        memcpy(value, sealed, sizeof *value);
    free(sealed);
    return status == OBOL_NOT_FOUND ? OBOL_OK : status;
}

/* One increment, retried until it wins; 0, or -1 on an error. */
static int increment(void *handle)
{
    for (;;) {
        uint64_t current;
        if (read_counter(handle, &current) != OBOL_OK)
            return -1;
        uint64_t next = current + 1;
        obol_driver_record record = { counter_key,
                                      bytes_of(&next, sizeof next),
                                      INT64_MAX, next };
        obol_error err = { 0 };
        int status = driver->put(handle, &record, current, 0, &err);
        if (status == OBOL_OK)
            return 0;
        if (status != OBOL_CONFLICT)
            return -1;
    }
}

static void *increment_thread(void *handle)
{
    intptr_t failures = 0;
    for (int i = 0; i < INCREMENTS_PER_THREAD; i++)
        failures += increment(handle) != 0;
    return (void *)failures;
}

/* Runs THREADS threads of increments on handle; returns the failures. */
static intptr_t hammer(void *handle)
{
    pthread_t threads[THREADS];
    intptr_t failures = 0;
    for (int i = 0; i < THREADS; i++)
        if (pthread_create(&threads[i], NULL, increment_thread, handle) != 0)
            return -1;
    for (int i = 0; i < THREADS; i++) {
        void *result;
        pthread_join(threads[i], &result);
        failures += (intptr_t)result;
    }
    return failures;
}

static void threads_lose_no_update(void **state)
{
    fixture *f = *state;
    void *handle = open_store(f->dir, "obol", "sync", "off");
    assert_int_equal(hammer(handle), 0);
    uint64_t value;
    assert_int_equal(read_counter(handle, &value), OBOL_OK);
    assert_int_equal(value, THREADS * INCREMENTS_PER_THREAD);
    driver->close(handle);
}

/* What each of run_in_two_processes()' children does with its handle;
 * returns how many of its steps failed. */
typedef int (*child_work)(void *handle, int child);

/* Runs work in two child processes at once, each on a handle of its own
 * opened on path with one option, and fails unless both succeeded. */
static void run_in_two_processes(const char *path, const char *option,
                                 const char *value, child_work work)
{
    pid_t children[2];
    for (int i = 0; i < 2; i++) {
        children[i] = fork();
        assert_true(children[i] >= 0);
        if (children[i] == 0) {
            void *handle = child_open(path, option, value);
            int failures = work(handle, i);
            driver->close(handle);
            _exit(failures == 0 ? 0 : 1);
        }
    }
    for (int i = 0; i < 2; i++)
        assert_child_succeeded(children[i]);
}

static int hammer_child(void *handle, int child)
{
    (void)child;
    return hammer(handle) != 0;
}

static void processes_and_threads_lose_no_update(void **state)
{
    fixture *f = *state;
    run_in_two_processes(f->dir, "sync", "off", hammer_child);
    void *handle = open_store(f->dir, "obol", NULL, NULL);
    uint64_t value;
    assert_int_equal(read_counter(handle, &value), OBOL_OK);
    assert_int_equal(value, 2 * THREADS * INCREMENTS_PER_THREAD);
    driver->close(handle);
}

/* Writers that each fill their own user's range with 8 KiB records while
 * the map, opened tiny, keeps growing under them. */
typedef struct grower {
    void *handle;
    char user[16];
    int failures;
} grower;

#define GROWER_RECORDS 48

static void *grow_thread(void *arg)
{
    grower *g = arg;
    static const uint8_t zeros[8192];
    for (int i = 0; i < GROWER_RECORDS; i++) {
        char id[32];
        snprintf(id, sizeof id, "r%d", i);
        obol_driver_key key = key_of(text(g->user), text("t"), text(id));
        if (put_record(g->handle, key, bytes_of(zeros, sizeof zeros),
                       INT64_MAX, 0, 0) != OBOL_OK)
            g->failures++;
        uint8_t *sealed = NULL;
        size_t sealed_len = 0;
        obol_error err = { 0 };
        if (driver->get(g->handle, &key, &sealed, &sealed_len, &err)
                != OBOL_OK
            || sealed_len != sizeof zeros)
            g->failures++;
        free(sealed);
    }
    return NULL;
}

/* Runs THREADS growers named after tag; returns the failures. */
static int grow_together(void *handle, char tag)
{
    pthread_t threads[THREADS];
    grower growers[THREADS];
    int failures = 0;
    for (int i = 0; i < THREADS; i++) {
        growers[i].handle = handle;
        growers[i].failures = 0;
        snprintf(growers[i].user, sizeof growers[i].user, "%c%d", tag, i);
        if (pthread_create(&threads[i], NULL, grow_thread, &growers[i]) != 0)
            return -1;
    }
    for (int i = 0; i < THREADS; i++) {
        pthread_join(threads[i], NULL);
        failures += growers[i].failures;
    }
    return failures;
}

/* Each child grows under users of its own: "a0".., "b0".. */
static int grow_child(void *handle, int child)
{
    return grow_together(handle, (char)('a' + child));
}

static void processes_and_threads_grow_the_map_together(void **state)
{
    fixture *f = *state;
    run_in_two_processes(f->dir, "map_size", "32KiB", grow_child);
    void *handle = open_store(f->dir, "obol", "map_size", "32KiB");
    seen s;
    list_into(handle, key_of(text("b3"), text("t"), text("")), &s);
    assert_int_equal(s.count, GROWER_RECORDS);
    assert_entries(f->dir, 2 * THREADS * GROWER_RECORDS);
    driver->close(handle);
}

static void threads_grow_the_map_together(void **state)
{
    fixture *f = *state;
    void *handle = open_store(f->dir, "obol", "map_size", "32KiB");
    assert_int_equal(grow_together(handle, 'x'), 0);
    assert_entries(f->dir, THREADS * GROWER_RECORDS);
    driver->close(handle);
}

/* ---------------------------------------------------------------- main */

#define WITH_DIR(test) \
    cmocka_unit_test_setup_teardown(test, make_directory, remove_directory)

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(entry_refuses_host_of_another_abi),
        cmocka_unit_test(table_declares_itself),
        WITH_DIR(config_refuses_host),
        WITH_DIR(config_refuses_credentials_and_port),
        cmocka_unit_test(config_refuses_missing_or_relative_path),
        WITH_DIR(config_refuses_unknown_option),
        WITH_DIR(config_refuses_bad_numbers),
        WITH_DIR(config_refuses_option_given_twice),
        WITH_DIR(config_accepts_every_option),
        WITH_DIR(open_creates_the_directory_but_not_its_parents),
        WITH_DIR(open_existing_refuses_a_missing_directory),
        WITH_DIR(open_existing_refuses_a_directory_without_an_environment),
        WITH_DIR(open_existing_refuses_an_environment_without_obol_databases),
        WITH_DIR(open_existing_opens_a_store_that_exists),
        WITH_DIR(config_of_an_older_core_still_creates),
        WITH_DIR(prefixes_names_each_prefix_once),
        WITH_DIR(prefixes_of_an_empty_environment_is_none),
        WITH_DIR(put_then_get_returns_the_bytes),
        WITH_DIR(empty_sealed_bytes_round_trip),
        WITH_DIR(get_of_missing_record_is_not_found),
        WITH_DIR(get_returns_expired_records_too),
        WITH_DIR(insert_only_if_absent),
        WITH_DIR(update_only_with_the_stored_lock),
        WITH_DIR(update_of_missing_record_conflicts),
        WITH_DIR(conflict_writes_nothing),
        WITH_DIR(expired_record_counts_as_absent),
        WITH_DIR(delete_removes_the_record_and_its_index_entry),
        WITH_DIR(delete_of_missing_record_is_ok),
        WITH_DIR(list_returns_exactly_one_user_and_type),
        WITH_DIR(list_reports_lock_expiry_and_bytes),
        WITH_DIR(visitor_status_stops_the_walk),
        WITH_DIR(scan_visitor_may_write_to_the_store),
        WITH_DIR(delete_all_touches_only_its_range),
        WITH_DIR(scan_sees_only_its_prefix),
        WITH_DIR(prune_removes_exactly_the_expired),
        WITH_DIR(prune_follows_updated_expiry),
        WITH_DIR(prune_handles_more_than_one_batch),
        WITH_DIR(prune_counts_every_batch_and_its_own_prefix_only),
        WITH_DIR(overlong_key_is_too_large),
        WITH_DIR(check_refuses_what_put_refuses),
        WITH_DIR(restore_check_refuses_a_key_too_long_for_lmdb),
        WITH_DIR(put_batch_fails_whole),
        WITH_DIR(map_grows_when_full),
        WITH_DIR(put_batch_grows_the_map),
        WITH_DIR(reopening_keeps_the_grown_map),
        WITH_DIR(map_grown_by_another_process_is_adopted),
        WITH_DIR(health_names_version_and_path),
        WITH_DIR(two_handles_share_one_environment),
        WITH_DIR(forked_child_opens_its_own_environment),
        WITH_DIR(idle_reads_leave_slots_to_other_processes),
        WITH_DIR(committed_data_survives_sigkill),
        WITH_DIR(threads_lose_no_update),
        WITH_DIR(processes_and_threads_lose_no_update),
        WITH_DIR(threads_grow_the_map_together),
        WITH_DIR(processes_and_threads_grow_the_map_together),
    };
    return cmocka_run_group_tests_name("lmdb driver", tests, load_driver,
                                       unload_driver);
}

/*
 * Shared by the fake drivers of the loader test: a driver that stores
 * nothing. Each fake includes this, then builds its table from
 * FAKE_DRIVER_TABLE and breaks exactly one thing about it, so that a test
 * failing on one fake points at exactly one check of the loader.
 */
#ifndef OBOL_TEST_FAKE_COMMON_H
#define OBOL_TEST_FAKE_COMMON_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <obol/driver.h>

#define FAKE_EXPORT __attribute__((visibility("default")))

/* The one handle every open() hands out; nothing is allocated, so a test
 * that opens a fake store has nothing to leak. */
static int fake_handle;

static const obol_driver_host *fake_host;

/* Like a real driver, refuses every option it does not know (all of them). */
static int fake_open(const obol_driver_config *config, void **handle,
                     obol_error *err)
{
    if (config->option_count > 0)
        return fake_host->set_error(err, OBOL_ERR_INVALID,
                                    "fake driver: unknown option '%s'",
                                    config->options[0].key);
    *handle = &fake_handle;
    return OBOL_OK;
}

static void fake_close(void *handle)
{
    (void)handle;
}

static int fake_get(void *handle, const obol_driver_key *key,
                    uint8_t **sealed, size_t *sealed_len, obol_error *err)
{
    (void)handle, (void)key, (void)sealed, (void)sealed_len, (void)err;
    return OBOL_NOT_FOUND;
}

static int fake_put(void *handle, const obol_driver_record *record,
                    uint64_t expected_lock, int64_t now, obol_error *err)
{
    (void)handle, (void)record, (void)expected_lock, (void)now, (void)err;
    return OBOL_OK;
}

static int fake_del(void *handle, const obol_driver_key *key, obol_error *err)
{
    (void)handle, (void)key, (void)err;
    return OBOL_OK;
}

static int fake_list(void *handle, const obol_driver_key *key,
                     obol_driver_visit visit, void *arg, obol_error *err)
{
    (void)handle, (void)key, (void)visit, (void)arg, (void)err;
    return OBOL_OK;
}

static int fake_del_all(void *handle, const obol_driver_key *key,
                        obol_error *err)
{
    (void)handle, (void)key, (void)err;
    return OBOL_OK;
}

static int fake_scan(void *handle, obol_driver_visit visit, void *arg,
                     obol_error *err)
{
    (void)handle, (void)visit, (void)arg, (void)err;
    return OBOL_OK;
}

static int fake_prune(void *handle, int64_t now, obol_error *err)
{
    (void)handle, (void)now, (void)err;
    return OBOL_OK;
}

/* A complete, valid table of this header's ABI version for a driver called
 * name, its optional slots left NULL. */
#define FAKE_DRIVER_TABLE(name_, schemes_)                                   \
    {                                                                        \
        .abi_major = OBOL_DRIVER_ABI_MAJOR,                                  \
        .abi_minor = OBOL_DRIVER_ABI_MINOR,                                  \
        .struct_size = sizeof(obol_driver),                                  \
        .name = (name_),                                                     \
        .schemes = (schemes_),                                               \
        .capabilities = OBOL_DRIVER_THREAD_SAFE,                             \
        .open = fake_open,                                                   \
        .close = fake_close,                                                 \
        .get = fake_get,                                                     \
        .put = fake_put,                                                     \
        .del = fake_del,                                                     \
        .list = fake_list,                                                   \
        .del_all = fake_del_all,                                             \
        .scan = fake_scan,                                                   \
        .prune = fake_prune,                                                 \
        .health = NULL,                                                      \
    }

#endif

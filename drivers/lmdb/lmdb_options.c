/* Parsing and checking the LMDB driver's part of the config string. */
#include <stdint.h>
#include <string.h>

#include <lmdb.h>

#include "lmdb_internal.h"
#include "lmdb_options.h"

/* The directory is all an lmdb config string locates: an authority or
 * credentials mean the user expected a server, so they are refused rather
 * than ignored. */
static int check_location(const obol_driver_config *config,
                          obol_error *err)
{
    if (config->host != NULL && config->host[0] != '\0')
        return lmdb_fail(err, OBOL_ERR_INVALID,
                         "lmdb: a host (\"%s\") is not allowed; write "
                         "lmdb:///absolute/dir", config->host);
    if (config->user != NULL || config->password != NULL)
        return lmdb_fail(err, OBOL_ERR_INVALID,
                         "lmdb: a user or password is not allowed");
    if (config->port != 0)
        return lmdb_fail(err, OBOL_ERR_INVALID,
                         "lmdb: a port is not allowed");
    if (config->path == NULL || config->path[0] == '\0')
        return lmdb_fail(err, OBOL_ERR_INVALID,
                         "lmdb: no directory given; write "
                         "lmdb:///absolute/dir");
    if (config->path[0] != '/')
        return lmdb_fail(err, OBOL_ERR_INVALID,
                         "lmdb: the directory \"%s\" is not an absolute path",
                         config->path);
    return OBOL_OK;
}

static int parse_map_size(const char *value, lmdb_env_settings *settings,
                          obol_error *err)
{
    uint64_t size;
    if (lmdb_host->parse_size(value, &size) != 0)
        return lmdb_fail(err, OBOL_ERR_INVALID,
                         "lmdb: map_size \"%s\" is not a size (e.g. 1GiB)",
                         value);
    if (size < LMDB_MIN_MAP_SIZE || size > SIZE_MAX)
        return lmdb_fail(err, OBOL_ERR_INVALID,
                         "lmdb: map_size \"%s\" is out of range (at least "
                         "16KiB)", value);
    settings->map_size = (size_t)size;
    return OBOL_OK;
}

static int parse_max_readers(const char *value, lmdb_env_settings *settings,
                             obol_error *err)
{
    uint64_t readers;
    if (lmdb_host->parse_uint(value, LMDB_MAX_READERS_LIMIT, &readers) != 0
        || readers == 0)
        return lmdb_fail(err, OBOL_ERR_INVALID,
                         "lmdb: max_readers \"%s\" is not a number from 1 "
                         "to %d", value, LMDB_MAX_READERS_LIMIT);
    settings->max_readers = (unsigned int)readers;
    return OBOL_OK;
}

static int parse_sync(const char *value, lmdb_env_settings *settings,
                      obol_error *err)
{
    if (strcmp(value, "full") == 0)
        settings->sync_flags = 0;
    else if (strcmp(value, "nometasync") == 0)
        settings->sync_flags = MDB_NOMETASYNC;
    else if (strcmp(value, "off") == 0)
        settings->sync_flags = MDB_NOSYNC;
    else
        return lmdb_fail(err, OBOL_ERR_INVALID,
                         "lmdb: sync \"%s\" is not one of full, nometasync, "
                         "off", value);
    return OBOL_OK;
}

typedef int (*option_parser)(const char *value, lmdb_env_settings *settings,
                             obol_error *err);

static const struct {
    const char *name;
    option_parser parse;
} known_options[] = {
    { "map_size", parse_map_size },
    { "max_readers", parse_max_readers },
    { "sync", parse_sync },
};

#define KNOWN_OPTION_COUNT (sizeof known_options / sizeof known_options[0])

static int parse_option(const obol_driver_option *option,
                        unsigned int *seen, lmdb_env_settings *settings,
                        obol_error *err)
{
    const char *value = option->value != NULL ? option->value : "";
    for (size_t i = 0; i < KNOWN_OPTION_COUNT; i++) {
        if (strcmp(option->key, known_options[i].name) != 0)
            continue;
        if (*seen & (1u << i))
            return lmdb_fail(err, OBOL_ERR_INVALID,
                             "lmdb: option %s is given twice", option->key);
        *seen |= 1u << i;
        return known_options[i].parse(value, settings, err);
    }
    return lmdb_fail(err, OBOL_ERR_INVALID,
                     "lmdb: unknown option \"%s\" (known: map_size, "
                     "max_readers, sync)", option->key);
}

int lmdb_options_parse(const obol_driver_config *config, const char **dir,
                       lmdb_env_settings *settings, obol_error *err)
{
    int status = check_location(config, err);
    if (status != OBOL_OK)
        return status;
    settings->map_size = LMDB_DEFAULT_MAP_SIZE;
    settings->max_readers = 0;
    settings->sync_flags = 0;
    settings->must_exist =
        (lmdb_open_flags_of(config) & OBOL_DRIVER_OPEN_EXISTING) != 0;
    unsigned int seen = 0;
    for (size_t i = 0; i < config->option_count; i++) {
        status = parse_option(&config->options[i], &seen, settings, err);
        if (status != OBOL_OK)
            return status;
    }
    *dir = config->path;
    return OBOL_OK;
}

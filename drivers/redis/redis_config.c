/* Reading the driver's part of the config string; defaults and limits are
 * documented in docs/REDIS.md. */
#define _POSIX_C_SOURCE 200809L
#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "redis_config.h"
#include "redis_driver.h"

/* Options seen so far, so that one given twice is refused rather than the
 * last one silently winning. */
enum {
    SEEN_TIMEOUT = 1 << 0,
    SEEN_CONNECT_TIMEOUT = 1 << 1,
    SEEN_POOL = 1 << 2,
    SEEN_DB = 1 << 3,
    SEEN_USER = 1 << 4,
    SEEN_PASSWORD = 1 << 5
};

static int nomem(obol_error *err)
{
    return redis_host->set_error(err, OBOL_ERR_NOMEM,
                                 "redis config: out of memory");
}

static int copy_string(const char *text, char **out, obol_error *err)
{
    free(*out);
    *out = strdup(text);
    return *out != NULL ? OBOL_OK : nomem(err);
}

static int parse_number(const char *name, const char *text, uint64_t min,
                        uint64_t max, uint64_t *out, obol_error *err)
{
    uint64_t value;

    if (redis_host->parse_uint(text, max, &value) != 0 || value < min)
        return redis_host->set_error(err, OBOL_ERR_INVALID,
                                     "redis config: %s '%s' is not a whole "
                                     "number from %llu to %llu",
                                     name, text, (unsigned long long)min,
                                     (unsigned long long)max);
    *out = value;
    return OBOL_OK;
}

/* Reads a secret from "env:NAME" or "file:PATH" (one line; a trailing
 * newline is dropped), so that a password never has to sit in the config
 * string itself. */
static int read_password_source(const char *source, char **out,
                                obol_error *err)
{
    if (strncmp(source, "env:", 4) == 0) {
        const char *value = getenv(source + 4);
        if (value == NULL || value[0] == '\0')
            return redis_host->set_error(err, OBOL_ERR_INVALID,
                                         "redis config: password: environment "
                                         "variable '%s' is not set",
                                         source + 4);
        return copy_string(value, out, err);
    }
    if (strncmp(source, "file:", 5) == 0) {
        char line[1024];
        FILE *file = fopen(source + 5, "r");
        size_t len;

        if (file == NULL)
            return redis_host->set_error(err, OBOL_ERR_INVALID,
                                         "redis config: password: cannot open "
                                         "'%s': %s", source + 5,
                                         strerror(errno));
        if (fgets(line, sizeof line, file) == NULL)
            line[0] = '\0';
        fclose(file);
        len = strcspn(line, "\r\n");
        line[len] = '\0';
        if (len == 0)
            return redis_host->set_error(err, OBOL_ERR_INVALID,
                                         "redis config: password: file '%s' "
                                         "is empty", source + 5);
        return copy_string(line, out, err);
    }
    return redis_host->set_error(err, OBOL_ERR_INVALID,
                                 "redis config: option 'password' must be "
                                 "env:NAME or file:PATH (a password is never "
                                 "written in the config string itself)");
}

static int apply_option(const obol_driver_option *option, unsigned *seen,
                        redis_settings *out, obol_error *err)
{
    static const struct {
        const char *name;
        unsigned flag;
    } known[] = {
        { "timeout_ms", SEEN_TIMEOUT },
        { "connect_timeout_ms", SEEN_CONNECT_TIMEOUT },
        { "pool", SEEN_POOL },
        { "db", SEEN_DB },
        { "user", SEEN_USER },
        { "password", SEEN_PASSWORD },
    };
    unsigned flag = 0;

    for (size_t i = 0; i < sizeof known / sizeof known[0]; i++)
        if (strcmp(option->key, known[i].name) == 0)
            flag = known[i].flag;
    if (flag == 0)
        return redis_host->set_error(err, OBOL_ERR_INVALID,
                                     "redis config: unknown option '%s' "
                                     "(known: timeout_ms, connect_timeout_ms, "
                                     "pool, db, user, password)", option->key);
    if (*seen & flag)
        return redis_host->set_error(err, OBOL_ERR_INVALID,
                                     "redis config: option '%s' is given "
                                     "twice", option->key);
    *seen |= flag;

    switch (flag) {
    case SEEN_TIMEOUT:
        return parse_number("timeout_ms", option->value, 1,
                            REDIS_MAX_TIMEOUT_MS, &out->timeout_ms, err);
    case SEEN_CONNECT_TIMEOUT:
        return parse_number("connect_timeout_ms", option->value, 1,
                            REDIS_MAX_TIMEOUT_MS, &out->connect_timeout_ms,
                            err);
    case SEEN_POOL:
        return parse_number("pool", option->value, 1, REDIS_MAX_POOL,
                            &out->pool_size, err);
    case SEEN_DB:
        return parse_number("db", option->value, 0, REDIS_MAX_DB, &out->db,
                            err);
    case SEEN_USER:
        if (out->user != NULL)
            return redis_host->set_error(err, OBOL_ERR_INVALID,
                                         "redis config: the user is given "
                                         "both before '@' and as option "
                                         "'user'");
        if (option->value[0] == '\0')
            return redis_host->set_error(err, OBOL_ERR_INVALID,
                                         "redis config: option 'user' is "
                                         "empty");
        return copy_string(option->value, &out->user, err);
    default:
        if (out->password != NULL)
            return redis_host->set_error(err, OBOL_ERR_INVALID,
                                         "redis config: the password is "
                                         "given both before '@' and as "
                                         "option 'password'");
        return read_password_source(option->value, &out->password, err);
    }
}

/* redis://host[:port][/db] */
static int parse_tcp(const obol_driver_config *config, redis_settings *out,
                     obol_error *err)
{
    const char *path = config->path;

    if (config->host == NULL || config->host[0] == '\0')
        return redis_host->set_error(err, OBOL_ERR_INVALID,
                                     "redis config: the host is empty; write "
                                     "redis://HOST[:PORT][/DB] (or "
                                     "redis+unix:///PATH for a unix socket)");
    out->port = config->port != 0 ? config->port : REDIS_DEFAULT_PORT;
    if (copy_string(config->host, &out->host, err) != OBOL_OK)
        return err->status;
    if (path == NULL || strcmp(path, "/") == 0)
        return OBOL_OK;
    if (redis_host->parse_uint(path + 1, REDIS_MAX_DB, &out->db) != 0 ||
        path[0] != '/')
        return redis_host->set_error(err, OBOL_ERR_INVALID,
                                     "redis config: the path '%s' is not a "
                                     "database number (write /0 ... /%d)",
                                     path, REDIS_MAX_DB);
    return OBOL_OK;
}

/* redis+unix:///path/to.sock */
static int parse_unix(const obol_driver_config *config, redis_settings *out,
                      obol_error *err)
{
    if (config->host != NULL && config->host[0] != '\0')
        return redis_host->set_error(err, OBOL_ERR_INVALID,
                                     "redis config: redis+unix takes no host "
                                     "('%s'); write redis+unix:///PATH",
                                     config->host);
    if (config->port != 0)
        return redis_host->set_error(err, OBOL_ERR_INVALID,
                                     "redis config: redis+unix takes no port");
    if (config->path == NULL || config->path[0] != '/' ||
        config->path[1] == '\0')
        return redis_host->set_error(err, OBOL_ERR_INVALID,
                                     "redis config: redis+unix needs the "
                                     "absolute path of the socket; write "
                                     "redis+unix:///PATH");
    return copy_string(config->path, &out->socket_path, err);
}

static int describe_endpoint(redis_settings *out, obol_error *err)
{
    const char *name = out->socket_path != NULL ? out->socket_path : out->host;
    size_t size = strlen(name) + sizeof "unix:" + sizeof "[]:65535";

    out->where = malloc(size);
    if (out->where == NULL)
        return nomem(err);
    if (out->socket_path != NULL)
        snprintf(out->where, size, "unix:%s", name);
    else if (strchr(name, ':') != NULL) /* IPv6 */
        snprintf(out->where, size, "[%s]:%u", name, out->port);
    else
        snprintf(out->where, size, "%s:%u", name, out->port);
    return OBOL_OK;
}

static int parse_all(const obol_driver_config *config, redis_settings *out,
                     obol_error *err)
{
    unsigned seen = 0;
    int path_db;
    int status;

    if (config->scheme != NULL && strcmp(config->scheme, "redis+unix") == 0)
        status = parse_unix(config, out, err);
    else if (config->scheme != NULL && strcmp(config->scheme, "redis") == 0)
        status = parse_tcp(config, out, err);
    else
        status = redis_host->set_error(err, OBOL_ERR_INVALID,
                                       "redis config: unknown scheme '%s'",
                                       config->scheme ? config->scheme : "");
    if (status != OBOL_OK)
        return status;
    path_db = out->host != NULL && config->path != NULL &&
              strcmp(config->path, "/") != 0;

    if (config->user != NULL && config->user[0] != '\0' &&
        copy_string(config->user, &out->user, err) != OBOL_OK)
        return err->status;
    if (config->password != NULL &&
        copy_string(config->password, &out->password, err) != OBOL_OK)
        return err->status;

    for (size_t i = 0; i < config->option_count; i++) {
        status = apply_option(&config->options[i], &seen, out, err);
        if (status != OBOL_OK)
            return status;
    }
    if ((seen & SEEN_DB) && path_db)
        return redis_host->set_error(err, OBOL_ERR_INVALID,
                                     "redis config: the database is given "
                                     "both as the path and as option 'db'");
    if (out->user != NULL && out->password == NULL)
        return redis_host->set_error(err, OBOL_ERR_INVALID,
                                     "redis config: user '%s' has no "
                                     "password", out->user);
    return describe_endpoint(out, err);
}

int redis_settings_parse(const obol_driver_config *config, redis_settings *out,
                         obol_error *err)
{
    int status;

    memset(out, 0, sizeof *out);
    out->timeout_ms = REDIS_DEFAULT_TIMEOUT_MS;
    out->connect_timeout_ms = REDIS_DEFAULT_CONNECT_TIMEOUT_MS;
    out->pool_size = REDIS_DEFAULT_POOL;

    status = parse_all(config, out, err);
    if (status != OBOL_OK)
        redis_settings_clear(out);
    return status;
}

void redis_settings_clear(redis_settings *settings)
{
    free(settings->host);
    free(settings->socket_path);
    free(settings->user);
    if (settings->password != NULL) {
        /* volatile so the wipe is not optimised away before free() */
        volatile char *p = settings->password;
        while (*p != '\0')
            *p++ = '\0';
        free(settings->password);
    }
    free(settings->where);
    memset(settings, 0, sizeof *settings);
}

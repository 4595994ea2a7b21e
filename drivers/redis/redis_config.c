/* Reading the driver's part of the config string; defaults and limits are
 * documented in docs/REDIS.md. */
#define _POSIX_C_SOURCE 200809L
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/crypto.h>

#include "redis_config.h"
#include "redis_driver.h"
#include "redis_tls.h"

/* Options seen so far, so that one given twice is refused rather than the
 * last one silently winning. */
enum {
    SEEN_TIMEOUT = 1 << 0,
    SEEN_CONNECT_TIMEOUT = 1 << 1,
    SEEN_POOL = 1 << 2,
    SEEN_DB = 1 << 3,
    SEEN_USER = 1 << 4,
    SEEN_PASSWORD = 1 << 5,
    SEEN_NODES = 1 << 6,
    SEEN_WAIT_REPLICAS = 1 << 7,
    SEEN_WAIT_TIMEOUT = 1 << 8,
    SEEN_TOPOLOGY_REFRESH = 1 << 9,
    SEEN_SENTINELS = 1 << 10,
    SEEN_SENTINEL_TIMEOUT = 1 << 11,
    SEEN_SENTINEL_USER = 1 << 12,
    SEEN_SENTINEL_PASSWORD = 1 << 13,
    SEEN_CONNECT = 1 << 14
};

/* Options that only a cluster takes, and those only Sentinel mode takes. */
#define CLUSTER_ONLY (SEEN_NODES | SEEN_TOPOLOGY_REFRESH)
#define SENTINEL_ONLY (SEEN_SENTINELS | SEEN_SENTINEL_TIMEOUT | \
                       SEEN_SENTINEL_USER | SEEN_SENTINEL_PASSWORD)

/* The TLS options, for the rediss schemes only. */
enum {
    SEEN_TLS_CA = 1 << 20,
    SEEN_TLS_CERT = 1 << 21,
    SEEN_TLS_KEY = 1 << 22,
    SEEN_TLS_SERVER_NAME = 1 << 23
};
#define TLS_ONLY (SEEN_TLS_CA | SEEN_TLS_CERT | SEEN_TLS_KEY | \
                  SEEN_TLS_SERVER_NAME)

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

/* A file option; the file itself is read once every option is known
 * (redis_tls_new()). */
static int copy_path(const char *name, const char *path, char **out,
                     obol_error *err)
{
    if (path[0] == '\0')
        return redis_host->set_error(err, OBOL_ERR_INVALID,
                                     "redis config: option '%s' is empty",
                                     name);
    return copy_string(path, out, err);
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

/* The first line of a password file, read with read(2) into a buffer
 * that is wiped afterwards: stdio would keep a copy in a buffer of its
 * own, which fclose() frees as it is. */
static int read_password_file(const char *name, const char *path, char **out,
                              obol_error *err)
{
    char line[1024];
    size_t len = 0;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    int status = OBOL_OK;

    if (fd < 0)
        return redis_host->set_error(err, OBOL_ERR_INVALID,
                                     "redis config: %s: cannot open "
                                     "'%s': %s", name, path, strerror(errno));
    while (len < sizeof line - 1 && memchr(line, '\n', len) == NULL) {
        ssize_t n = read(fd, line + len, sizeof line - 1 - len);

        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            status = redis_host->set_error(err, OBOL_ERR_INVALID,
                                           "redis config: %s: cannot read "
                                           "'%s': %s", name, path,
                                           strerror(errno));
        if (n <= 0)
            break;
        len += (size_t)n;
    }
    close(fd);
    line[len] = '\0';
    len = strcspn(line, "\r\n");
    if (status == OBOL_OK && line[len] == '\0' && len == sizeof line - 1)
        status = redis_host->set_error(err, OBOL_ERR_INVALID,
                                       "redis config: %s: the first line of "
                                       "'%s' is longer than %zu bytes", name,
                                       path, sizeof line - 2);
    else if (status == OBOL_OK && len == 0)
        status = redis_host->set_error(err, OBOL_ERR_INVALID,
                                       "redis config: %s: file '%s' is "
                                       "empty", name, path);
    line[len] = '\0';
    if (status == OBOL_OK)
        status = copy_string(line, out, err);
    OPENSSL_cleanse(line, sizeof line);
    return status;
}

/* Reads a secret from "env:NAME" or "file:PATH" (one line; a trailing
 * newline is dropped), so that a password never has to sit in the config
 * string itself. */
static int read_password_source(const char *name, const char *source,
                                char **out, obol_error *err)
{
    if (strncmp(source, "env:", 4) == 0) {
        const char *value = getenv(source + 4);
        if (value == NULL || value[0] == '\0')
            return redis_host->set_error(err, OBOL_ERR_INVALID,
                                         "redis config: %s: environment "
                                         "variable '%s' is not set", name,
                                         source + 4);
        return copy_string(value, out, err);
    }
    if (strncmp(source, "file:", 5) == 0)
        return read_password_file(name, source + 5, out, err);
    return redis_host->set_error(err, OBOL_ERR_INVALID,
                                 "redis config: option '%s' must be "
                                 "env:NAME or file:PATH (a password is never "
                                 "written in the config string itself)",
                                 name);
}

int redis_endpoint_set_tcp(redis_endpoint *ep, const char *host,
                           uint16_t port)
{
    size_t size = strlen(host) + sizeof "[]:65535";

    memset(ep, 0, sizeof *ep);
    ep->host = strdup(host);
    ep->where = malloc(size);
    if (ep->host == NULL || ep->where == NULL) {
        redis_endpoint_clear(ep);
        return -1;
    }
    ep->port = port;
    if (strchr(host, ':') != NULL) /* IPv6 */
        snprintf(ep->where, size, "[%s]:%u", host, port);
    else
        snprintf(ep->where, size, "%s:%u", host, port);
    return 0;
}

static int set_unix(redis_endpoint *ep, const char *path)
{
    size_t size = strlen(path) + sizeof "unix:";

    memset(ep, 0, sizeof *ep);
    ep->socket_path = strdup(path);
    ep->where = malloc(size);
    if (ep->socket_path == NULL || ep->where == NULL) {
        redis_endpoint_clear(ep);
        return -1;
    }
    snprintf(ep->where, size, "unix:%s", path);
    return 0;
}

void redis_endpoint_clear(redis_endpoint *ep)
{
    free(ep->host);
    free(ep->socket_path);
    free(ep->where);
    memset(ep, 0, sizeof *ep);
}

static int add_seed(redis_settings *out, const char *host, uint16_t port,
                    obol_error *err)
{
    if (out->seed_count == REDIS_MAX_SEEDS)
        return redis_host->set_error(err, OBOL_ERR_INVALID,
                                     "redis config: more than %d seed nodes",
                                     REDIS_MAX_SEEDS);
    if (redis_endpoint_set_tcp(&out->seeds[out->seed_count], host, port) != 0)
        return nomem(err);
    out->seed_count++;
    return OBOL_OK;
}

/* One "HOST:PORT" or "[V6]:PORT" of option nodes (or sentinels), len
 * bytes of text. */
static int parse_seed(const char *option, const char *text, size_t len,
                      redis_settings *out, obol_error *err)
{
    char item[300], *host = item, *colon;
    uint64_t port;

    if (len == 0 || len >= sizeof item)
        return redis_host->set_error(err, OBOL_ERR_INVALID,
                                     "redis config: option '%s': '%.*s' "
                                     "is not HOST:PORT", option, (int)len,
                                     text);
    /* USER:PASSWORD@HOST would put a password where every message and
     * `ps` show it: refused, and not echoed. */
    if (memchr(text, '@', len) != NULL)
        return redis_host->set_error(err, OBOL_ERR_INVALID,
                                     "redis config: option '%s': an entry "
                                     "holds '@' (not shown): credentials do "
                                     "not belong in it; use the options user "
                                     "and password=env:NAME or file:PATH",
                                     option);
    memcpy(item, text, len);
    item[len] = '\0';
    colon = strrchr(item, ':');
    if (item[0] == '[') {
        char *close = strchr(item, ']');
        if (close == NULL || close + 1 != colon)
            colon = NULL;
        else {
            host = item + 1;
            *close = '\0';
        }
    }
    if (colon == NULL || colon == host ||
        redis_host->parse_uint(colon + 1, 65535, &port) != 0 || port == 0)
        return redis_host->set_error(err, OBOL_ERR_INVALID,
                                     "redis config: option '%s': '%s' is "
                                     "not HOST:PORT", option, item);
    *colon = '\0';
    return add_seed(out, host, (uint16_t)port, err);
}

/* nodes=HOST:PORT,HOST:PORT,... (or sentinels=) */
static int parse_nodes(const char *option, const char *list,
                       redis_settings *out, obol_error *err)
{
    const char *p = list;

    for (;;) {
        size_t len = strcspn(p, ",");
        int status = parse_seed(option, p, len, out, err);

        if (status != OBOL_OK)
            return status;
        if (p[len] == '\0')
            return OBOL_OK;
        p += len + 1;
    }
}

/* connect=eager (the default: open() fails when no server answers) or
 * connect=lazy (open() reaches no server; see docs/REDIS.md). */
static int parse_connect(const char *value, redis_settings *out,
                         obol_error *err)
{
    if (strcmp(value, "eager") == 0)
        out->lazy_connect = 0;
    else if (strcmp(value, "lazy") == 0)
        out->lazy_connect = 1;
    else
        return redis_host->set_error(err, OBOL_ERR_INVALID,
                                     "redis config: connect '%s' is not "
                                     "eager or lazy", value);
    return OBOL_OK;
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
        { "tls_ca", SEEN_TLS_CA },
        { "tls_cert", SEEN_TLS_CERT },
        { "tls_key", SEEN_TLS_KEY },
        { "tls_server_name", SEEN_TLS_SERVER_NAME },
        { "nodes", SEEN_NODES },
        { "wait_replicas", SEEN_WAIT_REPLICAS },
        { "wait_timeout_ms", SEEN_WAIT_TIMEOUT },
        { "topology_refresh_ms", SEEN_TOPOLOGY_REFRESH },
        { "sentinels", SEEN_SENTINELS },
        { "sentinel_timeout_ms", SEEN_SENTINEL_TIMEOUT },
        { "sentinel_user", SEEN_SENTINEL_USER },
        { "sentinel_password", SEEN_SENTINEL_PASSWORD },
        { "connect", SEEN_CONNECT },
    };
    unsigned flag = 0;

    for (size_t i = 0; i < sizeof known / sizeof known[0]; i++)
        if (strcmp(option->key, known[i].name) == 0)
            flag = known[i].flag;
    if (flag == 0)
        return redis_host->set_error(err, OBOL_ERR_INVALID,
                                     "redis config: unknown option '%s' "
                                     "(known: timeout_ms, connect_timeout_ms, "
                                     "connect, pool, db, user, password, "
                                     "wait_replicas, wait_timeout_ms; for "
                                     "redis+cluster also nodes, "
                                     "topology_refresh_ms; for "
                                     "redis+sentinel also sentinels, "
                                     "sentinel_timeout_ms, sentinel_user, "
                                     "sentinel_password)", option->key);
    if (*seen & flag)
        return redis_host->set_error(err, OBOL_ERR_INVALID,
                                     "redis config: option '%s' is given "
                                     "twice", option->key);
    if ((flag & TLS_ONLY) && !out->use_tls)
        return redis_host->set_error(err, OBOL_ERR_INVALID,
                                     "redis config: option '%s' is for TLS "
                                     "only (rediss://, rediss+cluster://, "
                                     "rediss+sentinel://)",
                                     option->key);
    if ((flag & CLUSTER_ONLY) && out->mode != REDIS_MODE_CLUSTER &&
        !(flag == SEEN_TOPOLOGY_REFRESH && out->mode == REDIS_MODE_SENTINEL))
        return redis_host->set_error(err, OBOL_ERR_INVALID,
                                     "redis config: option '%s' is for "
                                     "redis+cluster:// only%s", option->key,
                                     flag == SEEN_TOPOLOGY_REFRESH
                                         ? " (and redis+sentinel://)"
                                         : "");
    if ((flag & SENTINEL_ONLY) && out->mode != REDIS_MODE_SENTINEL)
        return redis_host->set_error(err, OBOL_ERR_INVALID,
                                     "redis config: option '%s' is for "
                                     "redis+sentinel:// only", option->key);
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
    case SEEN_CONNECT:
        return parse_connect(option->value, out, err);
    case SEEN_TLS_CA:
        return copy_path("tls_ca", option->value, &out->tls_ca, err);
    case SEEN_TLS_CERT:
        return copy_path("tls_cert", option->value, &out->tls_cert, err);
    case SEEN_TLS_KEY:
        return copy_path("tls_key", option->value, &out->tls_key, err);
    case SEEN_TLS_SERVER_NAME:
        if (option->value[0] == '\0')
            return redis_host->set_error(err, OBOL_ERR_INVALID,
                                         "redis config: option "
                                         "'tls_server_name' is empty");
        return copy_string(option->value, &out->tls_server_name, err);
    case SEEN_DB:
        return parse_number("db", option->value, 0, REDIS_MAX_DB, &out->db,
                            err);
    case SEEN_NODES:
        return parse_nodes("nodes", option->value, out, err);
    case SEEN_SENTINELS:
        return parse_nodes("sentinels", option->value, out, err);
    case SEEN_SENTINEL_TIMEOUT:
        return parse_number("sentinel_timeout_ms", option->value, 1,
                            REDIS_MAX_TIMEOUT_MS, &out->sentinel_timeout_ms,
                            err);
    case SEEN_SENTINEL_USER:
        if (option->value[0] == '\0')
            return redis_host->set_error(err, OBOL_ERR_INVALID,
                                         "redis config: option "
                                         "'sentinel_user' is empty");
        return copy_string(option->value, &out->sentinel_user, err);
    case SEEN_SENTINEL_PASSWORD:
        return read_password_source("sentinel_password", option->value,
                                    &out->sentinel_password, err);
    case SEEN_WAIT_REPLICAS:
        return parse_number("wait_replicas", option->value, 0,
                            REDIS_MAX_WAIT_REPLICAS, &out->wait_replicas, err);
    case SEEN_WAIT_TIMEOUT:
        return parse_number("wait_timeout_ms", option->value, 1,
                            REDIS_MAX_TIMEOUT_MS, &out->wait_timeout_ms, err);
    case SEEN_TOPOLOGY_REFRESH:
        return parse_number("topology_refresh_ms", option->value, 0,
                            REDIS_MAX_TIMEOUT_MS, &out->topology_refresh_ms,
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
        return read_password_source("password", option->value,
                                    &out->password, err);
    }
}

/* redis://host[:port][/db] and redis+cluster://host[:port][/0] */
static int parse_tcp(const obol_driver_config *config, redis_settings *out,
                     obol_error *err)
{
    const char *path = config->path;

    if (config->host == NULL || config->host[0] == '\0')
        return redis_host->set_error(err, OBOL_ERR_INVALID,
                                     "redis config: the host is empty; write "
                                     "%s://HOST[:PORT]%s", config->scheme,
                                     out->mode == REDIS_MODE_CLUSTER
                                         ? "?nodes=HOST:PORT,..."
                                         : "[/DB] (or redis+unix:///PATH "
                                           "for a unix socket)");
    if (add_seed(out, config->host,
                 config->port != 0 ? config->port : REDIS_DEFAULT_PORT,
                 err) != OBOL_OK)
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
    if (set_unix(&out->seeds[0], config->path) != 0)
        return nomem(err);
    out->seed_count = 1;
    return OBOL_OK;
}

/* redis+sentinel://host[:port]/MASTER: the first Sentinel and the name
 * of the master they watch. */
static int parse_sentinel(const obol_driver_config *config,
                          redis_settings *out, obol_error *err)
{
    const char *name = config->path != NULL ? config->path + 1 : "";

    if (config->host == NULL || config->host[0] == '\0')
        return redis_host->set_error(err, OBOL_ERR_INVALID,
                                     "redis config: the host is empty; write "
                                     "redis+sentinel://HOST[:PORT]/MASTER"
                                     "?sentinels=HOST:PORT,...");
    if (config->path == NULL || name[0] == '\0' ||
        strchr(name, '/') != NULL)
        return redis_host->set_error(err, OBOL_ERR_INVALID,
                                     "redis config: redis+sentinel needs the "
                                     "master's name as the path (write "
                                     "redis+sentinel://HOST[:PORT]/MASTER; "
                                     "the database is option db=)%s%s%s",
                                     config->path != NULL ? ", not '" : "",
                                     config->path != NULL ? config->path : "",
                                     config->path != NULL ? "'" : "");
    if (copy_string(name, &out->master_name, err) != OBOL_OK)
        return err->status;
    return add_seed(out, config->host,
                    config->port != 0 ? config->port
                                      : REDIS_DEFAULT_SENTINEL_PORT,
                    err);
}

static int parse_address(const obol_driver_config *config, redis_settings *out,
                         obol_error *err)
{
    const char *scheme = config->scheme != NULL ? config->scheme : "";
    char plain[64];

    /* rediss and rediss+MODE are redis and redis+MODE over TLS. */
    if (strncmp(scheme, "rediss", 6) == 0 &&
        (scheme[6] == '\0' || scheme[6] == '+') &&
        strlen(scheme) < sizeof plain) {
        if (strcmp(scheme, "rediss+unix") == 0)
            return redis_host->set_error(err, OBOL_ERR_INVALID,
                                         "redis config: TLS over a unix "
                                         "socket is not supported; write "
                                         "redis+unix:///PATH");
        out->use_tls = 1;
        snprintf(plain, sizeof plain, "redis%s", scheme + 6);
        scheme = plain;
    }
    if (strcmp(scheme, "redis+unix") == 0)
        return parse_unix(config, out, err);
    if (strcmp(scheme, "redis") == 0)
        return parse_tcp(config, out, err);
    if (strcmp(scheme, "redis+cluster") == 0) {
        out->mode = REDIS_MODE_CLUSTER;
        return parse_tcp(config, out, err);
    }
    if (strcmp(scheme, "redis+sentinel") == 0) {
        out->mode = REDIS_MODE_SENTINEL;
        return parse_sentinel(config, out, err);
    }
    return redis_host->set_error(err, OBOL_ERR_INVALID,
                                 "redis config: unknown scheme '%s'", scheme);
}

/* What is only known once every option is read. */
static int check_combination(const redis_settings *out, unsigned seen,
                             int path_db, obol_error *err)
{
    if ((seen & SEEN_DB) && path_db)
        return redis_host->set_error(err, OBOL_ERR_INVALID,
                                     "redis config: the database is given "
                                     "both as the path and as option 'db'");
    if (out->mode == REDIS_MODE_CLUSTER && out->db != 0)
        return redis_host->set_error(err, OBOL_ERR_INVALID,
                                     "redis config: database %llu: Redis "
                                     "Cluster has only database 0",
                                     (unsigned long long)out->db);
    if (out->user != NULL && out->password == NULL)
        return redis_host->set_error(err, OBOL_ERR_INVALID,
                                     "redis config: user '%s' has no "
                                     "password", out->user);
    if (out->sentinel_user != NULL && out->sentinel_password == NULL)
        return redis_host->set_error(err, OBOL_ERR_INVALID,
                                     "redis config: sentinel_user '%s' has "
                                     "no sentinel_password",
                                     out->sentinel_user);
    if ((seen & SEEN_WAIT_TIMEOUT) && !(seen & SEEN_WAIT_REPLICAS))
        return redis_host->set_error(err, OBOL_ERR_INVALID,
                                     "redis config: option 'wait_timeout_ms' "
                                     "needs wait_replicas");
    if (out->wait_replicas > 0 && out->wait_timeout_ms >= out->timeout_ms)
        return redis_host->set_error(err, OBOL_ERR_INVALID,
                                     "redis config: wait_timeout_ms %llu "
                                     "must be shorter than timeout_ms %llu, "
                                     "which covers the whole call",
                                     (unsigned long long)out->wait_timeout_ms,
                                     (unsigned long long)out->timeout_ms);
    if ((out->tls_cert == NULL) != (out->tls_key == NULL))
        return redis_host->set_error(err, OBOL_ERR_INVALID,
                                     "redis config: option '%s' needs %s "
                                     "(a client certificate and its key go "
                                     "together)",
                                     out->tls_cert != NULL ? "tls_cert"
                                                           : "tls_key",
                                     out->tls_cert != NULL ? "tls_key"
                                                           : "tls_cert");
    return OBOL_OK;
}

/* The TLS context, made once here: a CA or key file that cannot be read
 * is a config error reported by open(), not by the first connection. */
static int make_tls(redis_settings *out, obol_error *err)
{
    char why[300];
    int out_of_memory;

    if (redis_tls_new(out->tls_ca, out->tls_cert, out->tls_key, &out->tls,
                      &out_of_memory, why, sizeof why) == 0)
        return OBOL_OK;
    if (out_of_memory)
        return nomem(err);
    return redis_host->set_error(err, OBOL_ERR_INVALID, "redis config: %s",
                                 why);
}

static int describe_store(redis_settings *out, obol_error *err)
{
    const char *first = out->seeds[0].where;
    size_t size = strlen(first) + sizeof "cluster ";

    if (out->mode == REDIS_MODE_SENTINEL) {
        /* "master 'NAME' of sentinel HOST:PORT" */
        size += strlen(out->master_name) + sizeof "master '' of sentinel ";
        out->where = malloc(size);
        if (out->where == NULL)
            return nomem(err);
        snprintf(out->where, size, "master '%s' of sentinel %s",
                 out->master_name, first);
        return OBOL_OK;
    }
    out->where = malloc(size);
    if (out->where == NULL)
        return nomem(err);
    snprintf(out->where, size, "%s%s",
             out->mode == REDIS_MODE_CLUSTER ? "cluster " : "", first);
    return OBOL_OK;
}

static int parse_all(const obol_driver_config *config, redis_settings *out,
                     obol_error *err)
{
    unsigned seen = 0;
    int path_db;
    int status = parse_address(config, out, err);

    if (status != OBOL_OK)
        return status;
    path_db = out->seeds[0].host != NULL && config->path != NULL &&
              strcmp(config->path, "/") != 0 &&
              out->mode != REDIS_MODE_SENTINEL;

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
    if (out->mode == REDIS_MODE_SENTINEL && !(seen & SEEN_TOPOLOGY_REFRESH))
        out->topology_refresh_ms = REDIS_DEFAULT_SENTINEL_REFRESH_MS;
    if (!(seen & SEEN_WAIT_TIMEOUT))
        out->wait_timeout_ms = out->timeout_ms / 2;
    status = check_combination(out, seen, path_db, err);
    if (status != OBOL_OK)
        return status;
    if (out->use_tls && (status = make_tls(out, err)) != OBOL_OK)
        return status;
    return describe_store(out, err);
}

int redis_settings_parse(const obol_driver_config *config, redis_settings *out,
                         obol_error *err)
{
    int status;

    memset(out, 0, sizeof *out);
    out->timeout_ms = REDIS_DEFAULT_TIMEOUT_MS;
    out->connect_timeout_ms = REDIS_DEFAULT_CONNECT_TIMEOUT_MS;
    out->pool_size = REDIS_DEFAULT_POOL;
    out->topology_refresh_ms = REDIS_DEFAULT_TOPOLOGY_REFRESH_MS;
    out->sentinel_timeout_ms = REDIS_DEFAULT_SENTINEL_TIMEOUT_MS;
    out->seeds = calloc(REDIS_MAX_SEEDS, sizeof *out->seeds);
    if (out->seeds == NULL)
        return nomem(err);

    status = parse_all(config, out, err);
    if (status != OBOL_OK)
        redis_settings_clear(out);
    else if (config->struct_size >= offsetof(obol_driver_config, max_record) +
                                        sizeof config->max_record)
        out->max_record = config->max_record;
    return status;
}

static void wipe_and_free(char *secret)
{
    if (secret != NULL) {
        OPENSSL_cleanse(secret, strlen(secret));
        free(secret);
    }
}

void redis_settings_clear(redis_settings *settings)
{
    redis_tls_free(settings->tls);
    free(settings->tls_ca);
    free(settings->tls_cert);
    free(settings->tls_key);
    free(settings->tls_server_name);
    for (size_t i = 0; settings->seeds != NULL && i < settings->seed_count;
         i++)
        redis_endpoint_clear(&settings->seeds[i]);
    free(settings->seeds);
    free(settings->user);
    wipe_and_free(settings->password);
    free(settings->master_name);
    free(settings->sentinel_user);
    wipe_and_free(settings->sentinel_password);
    free(settings->where);
    memset(settings, 0, sizeof *settings);
}

/* The driver's part of the config string: where the server is, how to log
 * in, and the connection limits. */
#ifndef OBOL_REDIS_CONFIG_H
#define OBOL_REDIS_CONFIG_H

#include <stdint.h>

#include <obol/driver.h>

#define REDIS_DEFAULT_PORT 6379
#define REDIS_DEFAULT_TIMEOUT_MS 1000
#define REDIS_DEFAULT_CONNECT_TIMEOUT_MS 1000
#define REDIS_DEFAULT_POOL 8
#define REDIS_MAX_TIMEOUT_MS 3600000
#define REDIS_MAX_POOL 1024
#define REDIS_MAX_DB 2147483647

typedef struct redis_settings {
    char *host;              /* TCP host; NULL for a unix socket */
    uint16_t port;
    char *socket_path;       /* unix socket; NULL for TCP */
    char *user;              /* ACL user, or NULL for AUTH <password> */
    char *password;          /* NULL: no AUTH */
    uint64_t db;
    uint64_t timeout_ms;         /* per reply, and per wait for a connection */
    uint64_t connect_timeout_ms; /* per connection attempt */
    uint64_t pool_size;
    char *where;             /* "127.0.0.1:6379" or "unix:/run/redis.sock" */
} redis_settings;

/* Fills *out from config; on failure err names the offending part and *out
 * holds nothing. Free with redis_settings_clear(). */
int redis_settings_parse(const obol_driver_config *config, redis_settings *out,
                         obol_error *err);

void redis_settings_clear(redis_settings *settings);

#endif

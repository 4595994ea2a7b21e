/* The driver's part of the config string: where the servers are, how to
 * log in, the connection limits and the durability option. */
#ifndef OBOL_REDIS_CONFIG_H
#define OBOL_REDIS_CONFIG_H

#include <stddef.h>
#include <stdint.h>

#include <obol/driver.h>

#define REDIS_DEFAULT_PORT 6379
#define REDIS_DEFAULT_TIMEOUT_MS 1000
#define REDIS_DEFAULT_CONNECT_TIMEOUT_MS 1000
#define REDIS_DEFAULT_POOL 8
#define REDIS_DEFAULT_TOPOLOGY_REFRESH_MS 60000
#define REDIS_MAX_TIMEOUT_MS 3600000
#define REDIS_MAX_POOL 1024
#define REDIS_MAX_DB 2147483647
#define REDIS_MAX_SEEDS 64
#define REDIS_MAX_WAIT_REPLICAS 64
#define REDIS_DEFAULT_SENTINEL_PORT 26379
#define REDIS_DEFAULT_SENTINEL_TIMEOUT_MS 300
#define REDIS_DEFAULT_SENTINEL_REFRESH_MS 1000

/* One server address. */
typedef struct redis_endpoint {
    char *host;              /* TCP host; NULL for a unix socket */
    uint16_t port;
    char *socket_path;       /* unix socket; NULL for TCP */
    char *where;             /* "127.0.0.1:6379" or "unix:/run/redis.sock" */
} redis_endpoint;

typedef enum redis_mode {
    REDIS_MODE_SINGLE,       /* redis://, redis+unix:// */
    REDIS_MODE_CLUSTER,      /* redis+cluster:// */
    REDIS_MODE_SENTINEL      /* redis+sentinel:// */
} redis_mode;

typedef struct redis_settings {
    redis_mode mode;
    /* The server (single), the seeds of the cluster, or the Sentinels:
     * the authority first, then those of option nodes (or sentinels). */
    redis_endpoint *seeds;
    size_t seed_count;
    char *user;              /* ACL user, or NULL for AUTH <password> */
    char *password;          /* NULL: no AUTH */
    uint64_t db;
    uint64_t timeout_ms;         /* one call, retries and waits included */
    uint64_t connect_timeout_ms; /* per connection attempt */
    uint64_t pool_size;          /* connections per server */
    uint64_t wait_replicas;      /* WAIT this many replicas after a write */
    uint64_t wait_timeout_ms;    /* ... for at most this long */
    /* rediss schemes: every TCP connection over TLS. The options as given
     * (NULL: not given; tls_server_name: the name the certificates must
     * be for, else each server's host) and the context made from them,
     * which every pool of these settings shares (redis_tls.h). */
    int use_tls;
    char *tls_ca, *tls_cert, *tls_key, *tls_server_name;
    struct redis_tls *tls;
    uint64_t topology_refresh_ms;/* cluster: reread the slot map this often;
                                    Sentinel: ask the Sentinels again
                                    (0: only when the cluster, or a call
                                    that failed, says so) */
    char *where;             /* the first seed, or "cluster 127.0.0.1:7000" */
    /* redis+sentinel: the master's name (the path), how long one Sentinel
     * may take to answer, and the Sentinels' own login (NULL: no AUTH),
     * which need not be the data nodes'. */
    char *master_name;
    uint64_t sentinel_timeout_ms;
    char *sentinel_user;
    char *sentinel_password;
    /* The longest sealed record the core reads (driver.h, "Bounded
     * reads"); 0: no limit. Replies are bounded by it (redis_guard.h). */
    uint64_t max_record;
    /* connect=lazy: open() reaches no server; the first call that needs
     * one connects (and reads the slot map, or asks the Sentinels). */
    int lazy_connect;
} redis_settings;

/* Fills *out from config; on failure err names the offending part and *out
 * holds nothing. Free with redis_settings_clear(). */
int redis_settings_parse(const obol_driver_config *config, redis_settings *out,
                         obol_error *err);

void redis_settings_clear(redis_settings *settings);

/* Makes ep a TCP endpoint for host and port (copied); 0, or -1 when out of
 * memory. Free with redis_endpoint_clear(). */
int redis_endpoint_set_tcp(redis_endpoint *ep, const char *host,
                           uint16_t port);

void redis_endpoint_clear(redis_endpoint *ep);

#endif

/*
 * A private redis-server for a test or a benchmark.
 *
 *     redis_harness_require();               // no server: skip, or fail in CI
 *     redis_harness *redis = redis_harness_start(NULL);
 *     ... redis_harness_url(redis) ...       // "redis://127.0.0.1:PORT"
 *     redis_harness_stop(redis);
 *
 * The server runs on a free loopback port and on a unix socket inside a
 * fresh temporary directory, with persistence off (extra_args may turn it
 * on: "--appendonly", "yes"); stopping it removes the directory. It can be
 * killed, paused and restarted (on the same port, socket and settings) to
 * test outages. The server binary is $REDIS_SERVER,
 * else the first redis-server in PATH. Failures are reported on stderr with
 * the end of the server's log; these helpers are for test programs only.
 *
 * With TLS (redis_harness_options.tls), certificates are made for the run
 * with the openssl command ($OPENSSL, else the first in PATH), in the
 * server's directory or one given; see redis_harness_make_certs().
 */
#ifndef OBOL_TESTS_REDIS_HARNESS_H
#define OBOL_TESTS_REDIS_HARNESS_H

#include <limits.h>
#include <stdint.h>

#include <hiredis.h>

typedef struct redis_harness redis_harness;

/* At most this many extra_args. */
#define REDIS_HARNESS_EXTRA_ARGS_MAX 32

typedef struct redis_harness_options {
    /* Password of the default user (--requirepass); NULL for none. The raw
     * clients of redis_harness_client() log in with it. */
    const char *requirepass;
    /* TLS: REDIS_HARNESS_TLS_ONLY, the server's TCP port speaks only TLS
     * (--port 0 --tls-port P), and redis_harness_url() is
     * "rediss://127.0.0.1:P?tls_ca=DIR/ca.crt"; the harness's own clients
     * (hiredis 0.14 has no TLS) use the unix socket. Or
     * REDIS_HARNESS_TLS_BESIDE: a TLS port beside the plain one
     * (redis_harness_tls_url()). 0: no TLS. */
    int tls;
    /* With TLS: nonzero for --tls-auth-clients yes (a client needs a
     * certificate: client.crt of the certificates), else no. */
    int tls_auth_clients;
    /* With TLS: the directory of certificates made by
     * redis_harness_make_certs(), shared by several servers; NULL: made
     * in the server's own directory. */
    const char *tls_dir;
    /* With TLS: the server also trusts the servers' CA, so that servers
     * can connect to each other with server.crt (cluster bus,
     * replication); without it, the server trusts only client-ca.crt and
     * sends no CA with its certificate. */
    int tls_peers;
    /* More redis-server arguments, one word each and NULL-terminated
     * ({ "--cluster-enabled", "yes", NULL }), passed after the harness's
     * own so that they win; NULL for none. Copied, and passed again on
     * restart. A relative path in them is relative to the server's
     * directory (redis_harness_dir()). */
    const char *const *extra_args;
    /* Nonzero: choose a port P such that P + 10000 is free too, the port
     * of a cluster node's bus. */
    int bus_port_free;
    /* The text of a config file, written as redis.conf in the server's
     * directory and passed before every other argument; NULL for none.
     * A Sentinel needs one (it rewrites it with what it learns, and a
     * restart reads it again); extra_args then holds "--sentinel". */
    const char *config_text;
    /* Where the server's temporary directory is made; NULL: $TMPDIR,
     * else /tmp. A test whose server persists on every write and that
     * times its calls puts it on a memory filesystem (/dev/shm), where
     * fsync() does not wait for a disk that others share. */
    const char *dir_parent;
} redis_harness_options;

enum {
    REDIS_HARNESS_TLS_ONLY = 1,
    REDIS_HARNESS_TLS_BESIDE = 2
};

/*
 * Returns the path of redis-server. When there is none: under CI=true
 * prints "Bail out!" and exits 1, so that a CI run without Redis fails
 * loudly; elsewhere prints the TAP plan "1..0 # SKIP redis-server not
 * found" and exits 0. Call it before printing anything else.
 */
const char *redis_harness_require(void);

/* As redis_harness_require(), for the openssl command that the TLS tests
 * make their certificates with: skip without it, fail under CI=true. */
void redis_harness_require_openssl(void);

/*
 * Makes in dir, with the openssl command, the certificates of a TLS test
 * (EC P-256 keys, valid for two days):
 *   ca.crt            the servers' CA: what a client trusts (tls_ca=)
 *   server.crt/.key   signed by it, for IP 127.0.0.1 and DNS localhost,
 *                     usable as a client certificate too (between servers)
 *   client-ca.crt     the clients' CA: what a server trusts
 *   client.crt/.key   signed by it: a client's certificate
 *   client-locked.key client.key under the passphrase "obol"
 *   other-ca.crt      a CA that signed neither: a wrong tls_ca
 *   trusted.crt       ca.crt and client-ca.crt together
 * 0, or -1 with the reason on stderr.
 */
int redis_harness_make_certs(const char *dir);

/* Sleeps ms milliseconds; the monotonic clock in milliseconds. */
void redis_harness_sleep_ms(long ms);
double redis_harness_monotonic_ms(void);

/* Prints a file on stderr, indented, under its name; nothing when it
 * cannot be read. For what a failing start leaves behind. */
void redis_harness_print_file(const char *path);

/* Whether path is an executable regular file. */
int redis_harness_is_executable(const char *path);

/* A program: the path in environment variable env_name when that is set
 * (it must be executable), else the first name in PATH; 0 with the path in
 * out, or -1. */
int redis_harness_find_program(const char *env_name, const char *name,
                               char *out, size_t size);

/* Starts a server and waits until it answers PING; NULL on failure.
 * options may be NULL. */
redis_harness *redis_harness_start(const redis_harness_options *options);

/* Stops the server (if running), removes its directory and frees h. */
void redis_harness_stop(redis_harness *h);

/* Kills the server with SIGKILL and reaps it: an abrupt outage. */
int redis_harness_kill(redis_harness *h);

/* Starts the server again on the same port and socket, empty; 0 or -1.
 * Its directory survives, with whatever the server keeps there besides
 * data (a cluster node's nodes.conf, so the node rejoins as itself), and
 * with its data when extra_args turned persistence on ("--appendonly",
 * "yes"): the server then starts with what it had persisted. */
int redis_harness_restart(redis_harness *h);

/* SIGSTOP / SIGCONT: the server keeps its connections but stops
 * answering, as a stalled server does. */
int redis_harness_pause(redis_harness *h);
int redis_harness_resume(redis_harness *h);

/* What the server is doing, as far as the harness made it. */
enum {
    REDIS_HARNESS_DOWN,   /* killed, or its restart failed */
    REDIS_HARNESS_UP,     /* running and not paused */
    REDIS_HARNESS_PAUSED  /* stopped by redis_harness_pause() */
};
int redis_harness_state(const redis_harness *h);

uint16_t redis_harness_port(const redis_harness *h);

/* With TLS, the TLS port (the only TCP port of REDIS_HARNESS_TLS_ONLY,
 * which redis_harness_port() returns too); 0 without TLS. */
uint16_t redis_harness_tls_port(const redis_harness *h);

/* With TLS, "rediss://127.0.0.1:TLS_PORT?tls_ca=DIR/ca.crt"; NULL
 * without. */
const char *redis_harness_tls_url(const redis_harness *h);

/* With TLS, the directory of the certificates (see
 * redis_harness_make_certs()); NULL without. */
const char *redis_harness_tls_dir(const redis_harness *h);

/* The server's temporary directory (its --dir): its log is redis.log
 * there. Removed by redis_harness_stop(). */
const char *redis_harness_dir(const redis_harness *h);

/* Prints the last lines of the server's log on stderr, to explain a
 * failure. */
void redis_harness_print_log_tail(const redis_harness *h, int lines);

/* "redis://127.0.0.1:PORT" (no trailing slash, no options); with
 * REDIS_HARNESS_TLS_ONLY redis_harness_tls_url(), which has options. */
const char *redis_harness_url(const redis_harness *h);

/* Path of the server's unix socket. */
const char *redis_harness_socket(const redis_harness *h);

/* A new raw hiredis connection to the server, logged in with requirepass
 * when set, over the unix socket when the server has no plain TCP port;
 * NULL on failure. Free it with redisFree(). */
redisContext *redis_harness_client(const redis_harness *h);

/* The same with timeout_ms for connecting and for every reply (instead
 * of 2 s and 5 s). */
redisContext *redis_harness_client_timeout(const redis_harness *h,
                                           int timeout_ms);

/*
 * Looking behind a driver from a raw client c (redis_harness_client()).
 * These never assert: they return NULL, -1 or REDIS_HARNESS_NO_INTEGER on
 * failure and the test asserts on the result.
 */

/* One command (redisCommand() formats); the reply, NULL when none came.
 * Free it with freeReplyObject(). */
redisReply *redis_harness_command(redisContext *c, const char *format, ...);

/* One command whose reply is not needed: 0, or -1 when no reply came or
 * the reply is an error. */
int redis_harness_run(redisContext *c, const char *format, ...);

/* Not a value any Redis integer reply takes here (PTTL answers -1 and -2,
 * so -1 cannot mean failure). */
#define REDIS_HARNESS_NO_INTEGER LLONG_MIN

/* One command with an integer reply (EXISTS, PTTL): its value, or
 * REDIS_HARNESS_NO_INTEGER when none came or it is not an integer. */
long long redis_harness_integer(redisContext *c, const char *format, ...);

/* The keys of one (user, type), in the order of docs/REDIS.md. */
enum { REDIS_HARNESS_REC, REDIS_HARNESS_EXP, REDIS_HARNESS_LOCK };
#define REDIS_HARNESS_KEY_MAX 256

/*
 * Writes the three key names of (user, type) under prefix as docs/REDIS.md
 * lays them out, "PREFIX:{USER:TYPE}:rec" and so on. user and type are
 * taken as they are: a test whose ids need escaping escapes them itself.
 */
void redis_harness_key_names(const char *prefix, const char *user,
                             const char *type,
                             char names[3][REDIS_HARNESS_KEY_MAX]);

/* How many of the three keys of (user, type) exist, each one that does
 * named on stderr (for tests that expect them gone); -1 on failure. */
int redis_harness_keys_left(redisContext *c, const char *prefix,
                            const char *user, const char *type);

/*
 * Counting round trips. MONITOR, on a connection of its own, sees every
 * command any client sends. redis_harness_monitor_begin() starts watching
 * (NULL on failure); redis_harness_monitor_end() marks the end with an ECHO
 * from a client of the monitor's own, frees the monitor and returns how
 * many commands clients sent in between, or -1 on failure. The commands a
 * script runs inside the server show up with the source "lua" and are no
 * round trips, so they are not counted (which is also why INFO's
 * total_commands_processed will not do).
 */
typedef struct redis_harness_monitor redis_harness_monitor;

redis_harness_monitor *redis_harness_monitor_begin(const redis_harness *h);
int redis_harness_monitor_end(redis_harness_monitor *m);

#endif

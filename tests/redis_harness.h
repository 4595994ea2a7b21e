/*
 * A private redis-server for a test or a benchmark.
 *
 *     redis_harness_require();               // no server: skip, or fail in CI
 *     redis_harness *redis = redis_harness_start(NULL);
 *     ... redis_harness_url(redis) ...       // "redis://127.0.0.1:PORT"
 *     redis_harness_stop(redis);
 *
 * The server runs on a free loopback port and on a unix socket inside a
 * fresh temporary directory, with persistence off; stopping it removes the
 * directory. It can be killed, paused and restarted (on the same port,
 * socket and settings) to test outages. The server binary is $REDIS_SERVER,
 * else the first redis-server in PATH. Failures are reported on stderr with
 * the end of the server's log; these helpers are for test programs only.
 */
#ifndef OBOL_TESTS_REDIS_HARNESS_H
#define OBOL_TESTS_REDIS_HARNESS_H

#include <stdint.h>

#include <hiredis.h>

typedef struct redis_harness redis_harness;

typedef struct redis_harness_options {
    /* Password of the default user (--requirepass); NULL for none. The raw
     * clients of redis_harness_client() log in with it. */
    const char *requirepass;
} redis_harness_options;

/*
 * Returns the path of redis-server. When there is none: under CI=true
 * prints "Bail out!" and exits 1, so that a CI run without Redis fails
 * loudly; elsewhere prints the TAP plan "1..0 # SKIP redis-server not
 * found" and exits 0. Call it before printing anything else.
 */
const char *redis_harness_require(void);

/* Starts a server and waits until it answers PING; NULL on failure.
 * options may be NULL. */
redis_harness *redis_harness_start(const redis_harness_options *options);

/* Stops the server (if running), removes its directory and frees h. */
void redis_harness_stop(redis_harness *h);

/* Kills the server with SIGKILL and reaps it: an abrupt outage. */
int redis_harness_kill(redis_harness *h);

/* Starts the server again on the same port and socket, empty; 0 or -1. */
int redis_harness_restart(redis_harness *h);

/* SIGSTOP / SIGCONT: the server keeps its connections but stops
 * answering, as a stalled server does. */
int redis_harness_pause(redis_harness *h);
int redis_harness_resume(redis_harness *h);

uint16_t redis_harness_port(const redis_harness *h);

/* "redis://127.0.0.1:PORT" (no trailing slash, no options). */
const char *redis_harness_url(const redis_harness *h);

/* Path of the server's unix socket. */
const char *redis_harness_socket(const redis_harness *h);

/* A new raw hiredis connection to the server, logged in with requirepass
 * when set; NULL on failure. Free it with redisFree(). */
redisContext *redis_harness_client(const redis_harness *h);

#endif

/* The connection pool: waiting for a connection, connecting, logging in,
 * one command at a time, and dropping what broke. */
#define _POSIX_C_SOURCE 200809L
#include "config.h"

#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>

#include "redis_conn.h"
#include "redis_driver.h"

typedef struct redis_conn {
    redisContext *ctx;  /* NULL until connected, and after it broke */
} redis_conn;

struct redis_pool {
    const redis_settings *settings;
    pthread_mutex_t mutex;
    pthread_cond_t returned;  /* signalled when a connection is given back */
    size_t idle_count;
    redis_conn **idle;        /* stack of connections no thread holds */
    redis_conn *conns;
    int guard_sigpipe;        /* see pipe_guard */
};

const char *redis_pool_where(const redis_pool *pool)
{
    return pool->settings->where;
}

static struct timeval timeval_of_ms(uint64_t ms)
{
    struct timeval tv;

    tv.tv_sec = (time_t)(ms / 1000);
    tv.tv_usec = (suseconds_t)(ms % 1000 * 1000);
    return tv;
}

/*
 * hiredis writes with write(), so a server that went away raises SIGPIPE,
 * whose default action kills the process. A library must not change the
 * process's signal dispositions, so SIGPIPE is blocked in this thread for
 * the duration of one exchange, and one raised meanwhile is consumed before
 * it is unblocked again. That costs two system calls per command, which a
 * process that already ignores SIGPIPE when it opens the store (as most
 * servers do) is spared.
 */
typedef struct pipe_guard {
    sigset_t old_mask;
    int was_blocked;
} pipe_guard;

static void pipe_guard_begin(pipe_guard *guard)
{
    sigset_t pipe_set;

    sigemptyset(&pipe_set);
    sigaddset(&pipe_set, SIGPIPE);
    pthread_sigmask(SIG_BLOCK, &pipe_set, &guard->old_mask);
    guard->was_blocked = sigismember(&guard->old_mask, SIGPIPE);
}

static void pipe_guard_end(pipe_guard *guard, int failed)
{
    if (guard->was_blocked)
        return;
    if (failed) {
        sigset_t pending, pipe_set;
        struct timespec no_wait = { 0, 0 };

        sigemptyset(&pipe_set);
        sigaddset(&pipe_set, SIGPIPE);
        if (sigpending(&pending) == 0 && sigismember(&pending, SIGPIPE))
            while (sigtimedwait(&pipe_set, NULL, &no_wait) < 0 &&
                   errno == EINTR)
                ;
    }
    pthread_sigmask(SIG_SETMASK, &guard->old_mask, NULL);
}

/* Turns a failed exchange (no reply at all) into a status and a message
 * naming the server, the command and the cause. */
static int exchange_error(const redis_pool *pool, const redisContext *ctx,
                          int saved_errno, const char *what, obol_error *err)
{
    const char *where = pool->settings->where;

#ifdef REDIS_ERR_TIMEOUT
    if (ctx->err == REDIS_ERR_TIMEOUT)
        saved_errno = EAGAIN;
#endif
    if (ctx->err == REDIS_ERR_EOF)
        return redis_host->set_error(err, OBOL_ERR_BACKEND,
                                     "redis %s: %s: connection closed by the "
                                     "server", where, what);
    if (ctx->err == REDIS_ERR_IO &&
        (saved_errno == EAGAIN || saved_errno == EWOULDBLOCK))
        return redis_host->set_error(err, OBOL_ERR_TIMEOUT,
                                     "redis %s: %s: no reply within %llu ms",
                                     where, what,
                                     (unsigned long long)
                                         pool->settings->timeout_ms);
    if (ctx->err == REDIS_ERR_OOM)
        return redis_host->set_error(err, OBOL_ERR_NOMEM,
                                     "redis %s: %s: out of memory", where,
                                     what);
    return redis_host->set_error(err, OBOL_ERR_BACKEND, "redis %s: %s: %s",
                                 where, what, ctx->errstr);
}

/* One request and its reply on a connected context; see
 * redis_pool_command() for accept_error. */
static int exchange(const redis_pool *pool, redisContext *ctx, int argc,
                    const char **argv, const size_t *argv_len,
                    const char *accept_error, redisReply **reply,
                    obol_error *err)
{
    char what[24];
    size_t what_len = argv_len[0] < sizeof what - 1 ? argv_len[0]
                                                    : sizeof what - 1;
    pipe_guard guard;
    redisReply *r;
    int saved_errno;

    memcpy(what, argv[0], what_len);
    what[what_len] = '\0';

    if (pool->guard_sigpipe)
        pipe_guard_begin(&guard);
    errno = 0;
    r = redisCommandArgv(ctx, argc, argv, argv_len);
    saved_errno = errno;
    if (pool->guard_sigpipe)
        pipe_guard_end(&guard, r == NULL);

    if (r == NULL)
        return exchange_error(pool, ctx, saved_errno, what, err);
    if (r->type == REDIS_REPLY_ERROR &&
        (accept_error == NULL ||
         strncmp(r->str, accept_error, strlen(accept_error)) != 0)) {
        int status = redis_host->set_error(err, OBOL_ERR_BACKEND,
                                           "redis %s: %s: %s",
                                           pool->settings->where, what,
                                           r->str);
        freeReplyObject(r);
        return status;
    }
    *reply = r;
    return OBOL_OK;
}

/* Sends a command whose only acceptable answer is +OK. */
static int expect_ok(const redis_pool *pool, redisContext *ctx, int argc,
                     const char **argv, const size_t *argv_len,
                     obol_error *err)
{
    redisReply *reply = NULL;
    int status = exchange(pool, ctx, argc, argv, argv_len, NULL, &reply, err);

    if (status != OBOL_OK)
        return status;
    if (reply->type != REDIS_REPLY_STATUS)
        status = redis_host->set_error(err, OBOL_ERR_BACKEND,
                                       "redis %s: %s: unexpected reply type "
                                       "%d", pool->settings->where, argv[0],
                                       reply->type);
    freeReplyObject(reply);
    return status;
}

/* AUTH [user] password, then SELECT db. */
static int log_in(const redis_pool *pool, redisContext *ctx, obol_error *err)
{
    const redis_settings *s = pool->settings;
    const char *argv[3];
    size_t argv_len[3];
    int argc = 0;
    int status = OBOL_OK;

    if (s->password != NULL) {
        argv[argc] = "AUTH";
        argv_len[argc++] = 4;
        if (s->user != NULL) {
            argv[argc] = s->user;
            argv_len[argc] = strlen(s->user);
            argc++;
        }
        argv[argc] = s->password;
        argv_len[argc] = strlen(s->password);
        argc++;
        status = expect_ok(pool, ctx, argc, argv, argv_len, err);
    }
    if (status == OBOL_OK && s->db != 0) {
        char db[24];
        int len = snprintf(db, sizeof db, "%llu", (unsigned long long)s->db);
        const char *select_argv[2] = { "SELECT", db };
        size_t select_len[2] = { 6, (size_t)len };

        status = expect_ok(pool, ctx, 2, select_argv, select_len, err);
    }
    return status;
}

static int connect_conn(const redis_pool *pool, redis_conn *conn,
                        obol_error *err)
{
    const redis_settings *s = pool->settings;
    struct timeval connect_tv = timeval_of_ms(s->connect_timeout_ms);
    redisContext *ctx;
    int saved_errno;
    int status;

    errno = 0;
    if (s->socket_path != NULL)
        ctx = redisConnectUnixWithTimeout(s->socket_path, connect_tv);
    else
        ctx = redisConnectWithTimeout(s->host, s->port, connect_tv);
    saved_errno = errno;
    if (ctx == NULL)
        return redis_host->set_error(err, OBOL_ERR_NOMEM,
                                     "redis %s: connect: out of memory",
                                     s->where);
    if (ctx->err != 0) {
        int timed_out = saved_errno == ETIMEDOUT ||
                        strstr(ctx->errstr, "timed out") != NULL;
        status = redis_host->set_error(err, timed_out ? OBOL_ERR_TIMEOUT
                                                      : OBOL_ERR_BACKEND,
                                       "redis %s: connect: %s", s->where,
                                       ctx->errstr);
        redisFree(ctx);
        return status;
    }
    if (redisSetTimeout(ctx, timeval_of_ms(s->timeout_ms)) != REDIS_OK) {
        status = redis_host->set_error(err, OBOL_ERR_BACKEND,
                                       "redis %s: connect: cannot set the "
                                       "timeout: %s", s->where, ctx->errstr);
        redisFree(ctx);
        return status;
    }
    status = log_in(pool, ctx, err);
    if (status != OBOL_OK) {
        redisFree(ctx);
        return status;
    }
    conn->ctx = ctx;
    return OBOL_OK;
}

/* An idle connection has nothing to read; if it has (the server closed it,
 * or sent bytes nobody asked for) it cannot be trusted with a command. */
static int is_stale(const redisContext *ctx)
{
    struct pollfd pfd = { .fd = ctx->fd, .events = POLLIN, .revents = 0 };

    return poll(&pfd, 1, 0) != 0;
}

static int acquire(redis_pool *pool, redis_conn **out, obol_error *err)
{
    struct timespec deadline;
    int wait_status = 0;

    pthread_mutex_lock(&pool->mutex);
    if (pool->idle_count == 0) {
        clock_gettime(CLOCK_MONOTONIC, &deadline);
        deadline.tv_sec += (time_t)(pool->settings->timeout_ms / 1000);
        deadline.tv_nsec += (long)(pool->settings->timeout_ms % 1000) *
                            1000000L;
        if (deadline.tv_nsec >= 1000000000L) {
            deadline.tv_sec += 1;
            deadline.tv_nsec -= 1000000000L;
        }
        while (pool->idle_count == 0 && wait_status != ETIMEDOUT)
            wait_status = pthread_cond_timedwait(&pool->returned,
                                                 &pool->mutex, &deadline);
    }
    if (pool->idle_count == 0) {
        pthread_mutex_unlock(&pool->mutex);
        return redis_host->set_error(err, OBOL_ERR_TIMEOUT,
                                     "redis %s: all %llu connections stayed "
                                     "busy for %llu ms (option pool)",
                                     pool->settings->where,
                                     (unsigned long long)
                                         pool->settings->pool_size,
                                     (unsigned long long)
                                         pool->settings->timeout_ms);
    }
    *out = pool->idle[--pool->idle_count];
    pthread_mutex_unlock(&pool->mutex);
    return OBOL_OK;
}

static void release(redis_pool *pool, redis_conn *conn)
{
    if (conn->ctx != NULL && conn->ctx->err != 0) {
        redisFree(conn->ctx);
        conn->ctx = NULL;
    }
    pthread_mutex_lock(&pool->mutex);
    pool->idle[pool->idle_count++] = conn;
    pthread_cond_signal(&pool->returned);
    pthread_mutex_unlock(&pool->mutex);
}

static int make_ready(redis_pool *pool, redis_conn *conn, obol_error *err)
{
    if (conn->ctx != NULL && is_stale(conn->ctx)) {
        redisFree(conn->ctx);
        conn->ctx = NULL;
    }
    if (conn->ctx == NULL)
        return connect_conn(pool, conn, err);
    return OBOL_OK;
}

int redis_pool_command(redis_pool *pool, int argc, const char **argv,
                       const size_t *argv_len, const char *accept_error,
                       redisReply **reply, obol_error *err)
{
    redis_conn *conn;
    int status = acquire(pool, &conn, err);

    if (status != OBOL_OK)
        return status;
    status = make_ready(pool, conn, err);
    if (status == OBOL_OK)
        status = exchange(pool, conn->ctx, argc, argv, argv_len,
                          accept_error, reply, err);
    release(pool, conn);
    return status;
}

int redis_pool_create(const redis_settings *settings, redis_pool **out,
                      obol_error *err)
{
    redis_pool *pool = calloc(1, sizeof *pool);
    pthread_condattr_t attr;
    redis_conn *first;
    int status;

    if (pool == NULL)
        return redis_host->set_error(err, OBOL_ERR_NOMEM,
                                     "redis: out of memory");
    pool->settings = settings;
    {
        struct sigaction current;
        pool->guard_sigpipe = sigaction(SIGPIPE, NULL, &current) != 0 ||
                              current.sa_handler != SIG_IGN;
    }
    pool->conns = calloc(settings->pool_size, sizeof *pool->conns);
    pool->idle = calloc(settings->pool_size, sizeof *pool->idle);
    if (pool->conns == NULL || pool->idle == NULL) {
        free(pool->conns);
        free(pool->idle);
        free(pool);
        return redis_host->set_error(err, OBOL_ERR_NOMEM,
                                     "redis: out of memory");
    }
    for (size_t i = 0; i < settings->pool_size; i++)
        pool->idle[pool->idle_count++] = &pool->conns[i];

    /* The wait for a connection is measured on the monotonic clock, so a
     * wall-clock step does not stretch or cut it. */
    pthread_condattr_init(&attr);
    pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
    pthread_cond_init(&pool->returned, &attr);
    pthread_condattr_destroy(&attr);
    pthread_mutex_init(&pool->mutex, NULL);

    status = acquire(pool, &first, err);
    if (status == OBOL_OK) {
        status = make_ready(pool, first, err);
        release(pool, first);
    }
    if (status != OBOL_OK) {
        redis_pool_destroy(pool);
        return status;
    }
    *out = pool;
    return OBOL_OK;
}

void redis_pool_destroy(redis_pool *pool)
{
    if (pool == NULL)
        return;
    for (size_t i = 0; i < pool->settings->pool_size; i++)
        if (pool->conns[i].ctx != NULL)
            redisFree(pool->conns[i].ctx);
    pthread_mutex_destroy(&pool->mutex);
    pthread_cond_destroy(&pool->returned);
    free(pool->conns);
    free(pool->idle);
    free(pool);
}

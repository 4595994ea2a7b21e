/* The connections to one server; see redis_pool.h. */
#define _POSIX_C_SOURCE 200809L
#include "config.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <time.h>

#include "redis_driver.h"
#include "redis_pool.h"

struct redis_pool {
    const redis_endpoint *ep;
    const redis_settings *settings;
    pthread_mutex_t mutex;
    pthread_cond_t returned;  /* signalled when a slot is given back */
    size_t idle_count;
    redis_conn **idle;        /* free slots: a connection, or NULL for one
                                 not connected yet */
    redis_pool_opener open;   /* NULL: redis_conn_open() */
    void *open_arg;
    int retired;              /* close connections given back */
    size_t lost;              /* connections closed for good and not
                                 replaced yet: the next connects are
                                 reconnects */
    redis_pool_counters counters;  /* updated atomically */
};

static void count(uint64_t *counter)
{
    __atomic_add_fetch(counter, 1, __ATOMIC_RELAXED);
}

redis_pool *redis_pool_new(const redis_endpoint *ep,
                           const redis_settings *settings)
{
    redis_pool *pool = calloc(1, sizeof *pool);
    pthread_condattr_t attr;

    if (pool == NULL)
        return NULL;
    pool->idle = calloc(settings->pool_size, sizeof *pool->idle);
    if (pool->idle == NULL) {
        free(pool);
        return NULL;
    }
    pool->ep = ep;
    pool->settings = settings;
    pool->idle_count = settings->pool_size;
    /* The wait for a slot is measured on the monotonic clock, as every
     * deadline is, so a wall-clock step does not stretch or cut it. */
    pthread_condattr_init(&attr);
    pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
    pthread_cond_init(&pool->returned, &attr);
    pthread_condattr_destroy(&attr);
    pthread_mutex_init(&pool->mutex, NULL);
    return pool;
}

void redis_pool_free(redis_pool *pool)
{
    if (pool == NULL)
        return;
    for (size_t i = 0; i < pool->idle_count; i++)
        redis_conn_close(pool->idle[i]);
    pthread_mutex_destroy(&pool->mutex);
    pthread_cond_destroy(&pool->returned);
    free(pool->idle);
    free(pool);
}

static struct timespec timespec_of_ms(int64_t ms)
{
    struct timespec ts = { (time_t)(ms / 1000), (long)(ms % 1000) * 1000000L };
    return ts;
}

/* Pops a free slot, waiting until the deadline for one. */
static int take_slot(redis_pool *pool, int64_t deadline, redis_conn **slot,
                     obol_error *err)
{
    struct timespec until = timespec_of_ms(deadline);
    int wait_status = 0;

    pthread_mutex_lock(&pool->mutex);
    if (pool->idle_count == 0)
        count(&pool->counters.waits);
    while (pool->idle_count == 0 && wait_status != ETIMEDOUT)
        wait_status = pthread_cond_timedwait(&pool->returned, &pool->mutex,
                                             &until);
    if (pool->idle_count == 0) {
        count(&pool->counters.wait_timeouts);
        pthread_mutex_unlock(&pool->mutex);
        return redis_host->set_error(err, OBOL_ERR_TIMEOUT,
                                     "redis %s: all %llu connections stayed "
                                     "busy for %llu ms (option pool)",
                                     pool->ep->where,
                                     (unsigned long long)
                                         pool->settings->pool_size,
                                     (unsigned long long)
                                         pool->settings->timeout_ms);
    }
    *slot = pool->idle[--pool->idle_count];
    pthread_mutex_unlock(&pool->mutex);
    return OBOL_OK;
}

/* Gives a slot back; lost: its connection was closed for good. */
static void put_slot(redis_pool *pool, redis_conn *conn, int lost)
{
    redis_conn *closing = NULL;

    pthread_mutex_lock(&pool->mutex);
    if (pool->retired && conn != NULL) {
        closing = conn;
        conn = NULL;
        lost = 1;
    }
    pool->lost += lost ? 1 : 0;
    pool->idle[pool->idle_count++] = conn;
    pthread_cond_signal(&pool->returned);
    pthread_mutex_unlock(&pool->mutex);
    redis_conn_close(closing);
}

static void mark_lost(redis_pool *pool)
{
    pthread_mutex_lock(&pool->mutex);
    pool->lost++;
    pthread_mutex_unlock(&pool->mutex);
}

/* A connection made: a reconnect when it replaces one lost. */
static void count_connect(redis_pool *pool)
{
    int replaces;

    pthread_mutex_lock(&pool->mutex);
    replaces = pool->lost > 0;
    if (replaces)
        pool->lost--;
    pthread_mutex_unlock(&pool->mutex);
    count(&pool->counters.connects);
    if (replaces)
        count(&pool->counters.reconnects);
}

int redis_pool_take(redis_pool *pool, int64_t *deadline, redis_conn **conn,
                    obol_error *err)
{
    redis_conn *slot = NULL;
    int64_t started;
    int status = take_slot(pool, *deadline, &slot, err);

    if (status != OBOL_OK)
        return status;
    if (slot != NULL && redis_conn_is_stale(slot)) {
        redis_conn_close(slot);
        slot = NULL;
        mark_lost(pool);
    }
    if (slot != NULL) {
        *conn = slot;
        return OBOL_OK;
    }
    started = redis_now_ms();
    *deadline += (int64_t)pool->settings->connect_timeout_ms;
    if (pool->open != NULL)
        status = pool->open(pool->open_arg, pool->ep, pool->settings,
                            *deadline, &slot, err);
    else
        status = redis_conn_open(pool->ep, pool->settings, *deadline, &slot,
                                 err);
    *deadline -= (int64_t)pool->settings->connect_timeout_ms -
                 (redis_now_ms() - started);
    if (status != OBOL_OK) {
        count(&pool->counters.connect_failures);
        put_slot(pool, NULL, 0);
        return status;
    }
    count_connect(pool);
    *conn = slot;
    return OBOL_OK;
}

void redis_pool_give(redis_pool *pool, redis_conn *conn)
{
    int lost = 0;

    if (conn != NULL && !redis_conn_is_reusable(conn)) {
        redis_conn_close(conn);
        conn = NULL;
        lost = 1;
    }
    put_slot(pool, conn, lost);
}

void redis_pool_set_opener(redis_pool *pool, redis_pool_opener open,
                           void *arg)
{
    pool->open = open;
    pool->open_arg = arg;
}

void redis_pool_retire(redis_pool *pool, int retired)
{
    pthread_mutex_lock(&pool->mutex);
    pool->retired = retired;
    for (size_t i = 0; retired && i < pool->idle_count; i++) {
        pool->lost += pool->idle[i] != NULL ? 1 : 0;
        redis_conn_close(pool->idle[i]);
        pool->idle[i] = NULL;
    }
    pthread_mutex_unlock(&pool->mutex);
}

static uint64_t read_counter(const uint64_t *counter)
{
    return __atomic_load_n(counter, __ATOMIC_RELAXED);
}

void redis_pool_add_counters(redis_pool *pool, redis_pool_counters *sum)
{
    const redis_pool_counters *c = &pool->counters;

    sum->connects += read_counter(&c->connects);
    sum->reconnects += read_counter(&c->reconnects);
    sum->connect_failures += read_counter(&c->connect_failures);
    sum->waits += read_counter(&c->waits);
    sum->wait_timeouts += read_counter(&c->wait_timeouts);
}

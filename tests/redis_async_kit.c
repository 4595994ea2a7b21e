/* Submitting operations to the Redis driver as the core does; see
 * redis_async_kit.h. */
#define _POSIX_C_SOURCE 200809L
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "config_internal.h"
#include "loader_internal.h"
#include "redis_async_kit.h"
#include "redis_harness.h"

const obol_driver *async_kit_driver;
uint64_t async_kit_max_record;
int64_t async_kit_timeout_ms;

int async_kit_load(void)
{
    obol_error err = { 0 };

    if (obol_loader_load("redis", "redis", &async_kit_driver, &err) !=
        OBOL_OK) {
        fprintf(stderr, "%s\n", err.message);
        return -1;
    }
    return 0;
}

void *async_kit_open(const char *url)
{
    obol_config config;
    obol_driver_config driver_config;
    obol_error err = { 0 };
    void *handle = NULL;
    int status = obol_config_parse(url, &config, &err);

    if (status == OBOL_OK) {
        obol_config_for_driver(&config, &driver_config);
        driver_config.max_record = async_kit_max_record;
        status = async_kit_driver->open(&driver_config, &handle, &err);
        obol_config_clear(&config);
    }
    if (status != OBOL_OK)
        fprintf(stderr, "open %s: %s\n", url, err.message);
    assert_int_equal(status, OBOL_OK);
    return handle;
}

static int64_t now_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int visit(void *arg, const obol_driver_record *record)
{
    async_kit_op *op = arg;

    (void)record;
    op->visited++;
    return OBOL_OK;
}

static void submit_or_fail(async_kit_op *op);

static void on_complete(obol_driver_op *d, int status, const obol_error *err)
{
    async_kit_op *op = (async_kit_op *)d;

    if (op->chain_left > 0 && status == OBOL_OK) {
        free(d->sealed);
        d->sealed = NULL;
        op->chain_done++;
        if (--op->chain_left > 0) {
            submit_or_fail(op);
            return;
        }
    }
    pthread_mutex_lock(&op->mutex);
    op->completions++;
    op->status = status;
    snprintf(op->message, sizeof op->message, "%s",
             err != NULL ? err->message : "");
    op->completed_ms = redis_harness_monotonic_ms();
    pthread_cond_broadcast(&op->cond);
    pthread_mutex_unlock(&op->mutex);
}

static obol_bytes text(const char *s)
{
    obol_bytes b = { (const uint8_t *)s, strlen(s) };
    return b;
}

static async_kit_op *new_op(void *h, int kind, const char *user,
                            const char *type, const char *id)
{
    async_kit_op *op = calloc(1, sizeof *op);

    assert_non_null(op);
    op->handle = h;
    pthread_mutex_init(&op->mutex, NULL);
    pthread_cond_init(&op->cond, NULL);
    snprintf(op->user, sizeof op->user, "%s", user);
    snprintf(op->type, sizeof op->type, "%s", type);
    snprintf(op->id, sizeof op->id, "%s", id != NULL ? id : "");
    op->d.struct_size = sizeof op->d;
    op->d.kind = kind;
    op->d.key.user_id = text(op->user);
    op->d.key.type = text(op->type);
    op->d.key.id = text(op->id);
    op->d.complete = on_complete;
    op->d.visit = visit;
    op->d.visit_arg = op;
    return op;
}

static void submit_or_fail(async_kit_op *op)
{
    obol_error err = { 0 };
    int status;

    op->d.deadline_ms = async_kit_timeout_ms == INT64_MAX
                            ? INT64_MAX
                            : now_ms() + (async_kit_timeout_ms != 0
                                              ? async_kit_timeout_ms
                                              : 5000);
    op->d.driver_data = NULL;
    status = async_kit_driver->submit(op->handle, &op->d, &err);
    if (status != OBOL_OK)
        fprintf(stderr, "submit: %d %s\n", status, err.message);
    assert_int_equal(status, OBOL_OK);
}

async_kit_op *async_kit_get(void *h, const char *user, const char *type,
                            const char *id)
{
    async_kit_op *op = new_op(h, OBOL_DRIVER_OP_GET, user, type, id);

    submit_or_fail(op);
    return op;
}

async_kit_op *async_kit_put(void *h, const char *user, const char *type,
                            const char *id, const char *sealed,
                            uint64_t expected_lock, uint64_t new_lock)
{
    async_kit_op *op = new_op(h, OBOL_DRIVER_OP_PUT, user, type, id);

    op->sealed = strdup(sealed);
    assert_non_null(op->sealed);
    op->d.record.key = op->d.key;
    op->d.record.sealed = text(op->sealed);
    op->d.record.expires_at = (int64_t)time(NULL) + 3600;
    op->d.record.lock_version = new_lock;
    op->d.expected_lock = expected_lock;
    op->d.now = (int64_t)time(NULL);
    submit_or_fail(op);
    return op;
}

async_kit_op *async_kit_del(void *h, int kind, const char *user,
                            const char *type, const char *id)
{
    async_kit_op *op = new_op(h, kind, user, type, id);

    submit_or_fail(op);
    return op;
}

async_kit_op *async_kit_list(void *h, const char *user, const char *type)
{
    async_kit_op *op = new_op(h, OBOL_DRIVER_OP_LIST, user, type, NULL);

    submit_or_fail(op);
    return op;
}

async_kit_op *async_kit_chain(void *h, const char *user, const char *type,
                              const char *id, int count)
{
    async_kit_op *op = new_op(h, OBOL_DRIVER_OP_GET, user, type, id);

    op->chain_left = count;
    submit_or_fail(op);
    return op;
}

int async_kit_chain_done(const async_kit_op *op)
{
    return op->chain_done;
}

int async_kit_wait(async_kit_op *op)
{
    struct timespec until;
    int status;

    clock_gettime(CLOCK_REALTIME, &until);
    until.tv_sec += 30;
    pthread_mutex_lock(&op->mutex);
    while (op->completions == 0 &&
           pthread_cond_timedwait(&op->cond, &op->mutex, &until) == 0)
        ;
    status = op->completions > 0 ? op->status : -1000;
    pthread_mutex_unlock(&op->mutex);
    if (status == -1000)
        fail_msg("no completion within 30 s");
    return status;
}

void async_kit_free(async_kit_op *op)
{
    pthread_mutex_lock(&op->mutex);
    assert_int_equal(op->completions, 1);
    pthread_mutex_unlock(&op->mutex);
    pthread_mutex_destroy(&op->mutex);
    pthread_cond_destroy(&op->cond);
    free(op->d.sealed);
    free(op->sealed);
    free(op);
}

int async_kit_run_put(void *h, const char *user, const char *type,
                      const char *id, const char *sealed,
                      uint64_t expected_lock, uint64_t new_lock)
{
    async_kit_op *op = async_kit_put(h, user, type, id, sealed, expected_lock,
                                     new_lock);
    int status = async_kit_wait(op);

    if (status != OBOL_OK && status != OBOL_CONFLICT)
        fprintf(stderr, "put: %d %s\n", status, op->message);
    async_kit_free(op);
    return status;
}

int async_kit_blocking_put(void *h, const char *user, const char *type,
                           const char *id)
{
    obol_driver_record record = { { text(user), text(type), text(id) },
                                  text("sync"), (int64_t)time(NULL) + 3600,
                                  1 };
    obol_error err = { 0 };

    return async_kit_driver->put(h, &record, 0, (int64_t)time(NULL), &err);
}

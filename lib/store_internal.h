/* The store handle, shared by the store's modules. */
#ifndef OBOL_STORE_INTERNAL_H
#define OBOL_STORE_INTERNAL_H

#include <pthread.h>
#include <stdint.h>

#include <obol/driver.h>
#include <obol/obol.h>

#include "config_internal.h"
#include "keys_internal.h"

struct obol_store {
    const obol_driver *driver;
    void *handle;
    /* Held around every driver call unless the driver is thread-safe. */
    int serialize_calls;
    pthread_mutex_t call_lock;

    obol_keyring *keys;
    obol_config config;
    obol_bytes prefix;

    void (*log)(void *arg, int level, const char *msg);
    void *log_arg;
    int64_t (*now)(void *arg);
    void *now_arg;
};

/* Sends a printf-style message to the store's logger, if any. */
void obol_store_log(obol_store *st, int level, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* The store's clock. */
int64_t obol_store_now(obol_store *st);

#endif

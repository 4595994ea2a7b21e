/* What one open store of the driver holds, shared by the blocking
 * operations (redis_driver.c), their commands and replies (redis_ops.h)
 * and the non-blocking path (redis_async.h). */
#ifndef OBOL_REDIS_HANDLE_H
#define OBOL_REDIS_HANDLE_H

#include <obol/driver.h>

#include "redis_config.h"
#include "redis_router.h"
#include "redis_scripts.h"
#include "redis_topology.h"

struct redis_async;

typedef struct redis_handle {
    redis_settings settings;
    redis_topology *topology;
    redis_router router;
    redis_scripts scripts;
    char *prefix;             /* escaped, see redis_keys.h */
    void (*log)(void *log_arg, int level, const char *msg);
    void *log_arg;            /* the store's logger (config->log) */
    struct redis_async *async;/* the I/O thread, made on first use */
} redis_handle;

#endif

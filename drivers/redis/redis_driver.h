/* State shared by the files of the Redis driver. */
#ifndef OBOL_REDIS_DRIVER_H
#define OBOL_REDIS_DRIVER_H

#include <obol/driver.h>

/* The core's host table, set once by the entry function before any other
 * call; every message and every buffer handed to the core goes through it. */
extern const obol_driver_host *redis_host;

/* The plug-in's only exported symbol (driver.h). */
OBOL_DRIVER_EXPORT(redis);

#endif

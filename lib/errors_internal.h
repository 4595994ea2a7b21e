/* Filling obol_error: one place formats every message of the library. */
#ifndef OBOL_ERRORS_INTERNAL_H
#define OBOL_ERRORS_INTERNAL_H

#include <stdarg.h>

#include <obol/driver.h>
#include <obol/obol.h>

/* Sets err->status and a printf-style message (err may be NULL); returns
 * status so that callers can write `return obol_set_error(err, ...)`. */
int obol_set_error(obol_error *err, int status, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

int obol_set_error_v(obol_error *err, int status, const char *fmt,
                     va_list ap);

/* Clears err to OBOL_OK and an empty message (err may be NULL). */
void obol_clear_error(obol_error *err);

/* Copies bytes for a log line or message: printable ASCII as is, anything
 * else as \xNN, cut to fit size, so that a hostile id cannot forge lines. */
const char *obol_printable(obol_bytes bytes, char *buf, size_t size);

#endif

/* Status names and the one place that fills obol_error. */
#include "config.h"

#include <stdio.h>
#include <string.h>

#include "errors_internal.h"

const char *obol_strerror(int status)
{
    switch (status) {
    case OBOL_OK:            return "ok";
    case OBOL_NOT_FOUND:     return "not found";
    case OBOL_CONFLICT:      return "conflict: the session was changed or deleted";
    case OBOL_JUST_ROTATED:  return "just rotated: use the current token";
    case OBOL_REUSE_DETECTED: return "reuse detected: the session was revoked";
    case OBOL_ERR_INVALID:   return "invalid argument";
    case OBOL_ERR_DRIVER:    return "driver error";
    case OBOL_ERR_BACKEND:   return "backend error";
    case OBOL_ERR_TIMEOUT:   return "timed out";
    case OBOL_ERR_NOMEM:     return "out of memory";
    case OBOL_ERR_KEY:       return "no usable key";
    case OBOL_ERR_TOO_LARGE: return "too large";
    case OBOL_ERR_CORRUPT:   return "corrupt record";
    case OBOL_ERR_NO_STORE:  return "no store there (nothing was created)";
    case OBOL_ERR_CANCELLED: return "cancelled (the queue was closed)";
    default:                 return "unknown status";
    }
}

int obol_set_error_v(obol_error *err, int status, const char *fmt, va_list ap)
{
    if (err != NULL) {
        err->status = status;
        if (vsnprintf(err->message, sizeof err->message, fmt, ap) < 0)
            snprintf(err->message, sizeof err->message, "%s",
                     obol_strerror(status));
    }
    return status;
}

int obol_set_error(obol_error *err, int status, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    obol_set_error_v(err, status, fmt, ap);
    va_end(ap);
    return status;
}

void obol_clear_error(obol_error *err)
{
    if (err != NULL) {
        err->status = OBOL_OK;
        err->message[0] = '\0';
    }
}

const char *obol_printable(obol_bytes bytes, char *buf, size_t size)
{
    size_t used = 0;

    for (size_t i = 0; i < bytes.len && used + 5 < size; i++) {
        uint8_t c = bytes.data[i];
        if (c >= 0x20 && c < 0x7f && c != '\\')
            buf[used++] = (char)c;
        else
            used += (size_t)snprintf(buf + used, size - used, "\\x%02x", c);
    }
    if (size > 0)
        buf[used < size ? used : size - 1] = '\0';
    return buf;
}

/*
 * The guard between a connection's socket and hiredis's reader. hiredis
 * 0.14 buffers a bulk string whole before it hands it over ("$N" makes it
 * wait for, and keep, N bytes) and allocates an array's N pointers when it
 * reads "*N", with no limit on either. The guard reads the RESP headers of
 * the bytes as they arrive, before the reader sees them, so that no reply
 * can make the driver keep more than its limits allow:
 *
 *  - a bulk string longer than bulk_limit never reaches the reader: it is
 *    handed the integer ":N" in its place. A reply that is that bulk
 *    string alone ends there (what follows is never read: the connection
 *    is given up); inside an array its N bytes are read and dropped as
 *    they arrive, and the rest of the array goes on;
 *  - an array, or a reply's nested arrays together, of more than
 *    element_limit elements, a line (status,
 *    error, integer) longer than line_limit, a header that is not a
 *    number, a nesting deeper than hiredis takes, or a byte that starts no
 *    RESP2 reply, is a protocol error.
 *
 * The driver turns such an integer, where a record was expected, into a
 * record "too long to read" (driver.h, "Bounded reads").
 */
#ifndef OBOL_REDIS_GUARD_H
#define OBOL_REDIS_GUARD_H

#include <stddef.h>
#include <stdint.h>

/* hiredis 0.14 takes arrays nested 7 deep. */
#define REDIS_GUARD_MAX_DEPTH 8

typedef struct redis_guard {
    uint64_t bulk_limit;     /* 0: bulk strings of any length */
    uint64_t element_limit;
    size_t line_limit;
    /* Where in the stream it is; see redis_guard.c. */
    int state;
    char header[32];         /* a header begun in an earlier input */
    size_t header_len;       /* its bytes so far (or a whole one's) */
    size_t line_len;         /* of a '+', '-' or ':' line so far */
    int line_cr;             /* its last byte so far was CR */
    uint64_t bulk_left;      /* bytes of a bulk (CRLF included) to go */
    int depth;               /* arrays open */
    int64_t elements_left[REDIS_GUARD_MAX_DEPTH];
    uint64_t reply_elements; /* announced by the reply's arrays so far */
    int replaced;            /* an oversized bulk string was replaced */
    int drop_alone;          /* drop one that is a reply alone, too */
} redis_guard;

/* Hands the reader the bytes it may see; 0, or -1 (out of memory). */
typedef int (*redis_guard_sink)(void *arg, const char *bytes, size_t len);

void redis_guard_init(redis_guard *g, uint64_t bulk_limit,
                      uint64_t element_limit, size_t line_limit);

/*
 * Passes len received bytes through the guard to sink. 0; -1 when the
 * stream breaks a limit (why says how); -2 when the sink failed.
 */
int redis_guard_feed(redis_guard *g, const char *data, size_t len,
                     redis_guard_sink sink, void *arg, char *why,
                     size_t why_size);

/* An oversized bulk string that is a reply alone is read to its end and
 * dropped, as inside an array, rather than ending the stream there: for
 * a connection that pipelines (redis_async.c), where the replies behind
 * it are other operations' (a write's among them, which would otherwise
 * fail as of unknown outcome). */
void redis_guard_drop_alone(redis_guard *g);

/* Whether a reply was cut short at an oversized bulk string: nothing
 * after it can be read from this connection. */
int redis_guard_is_cut(const redis_guard *g);

/* Whether an oversized bulk string was replaced: the connection must not
 * be used again, even if it could be. */
int redis_guard_replaced(const redis_guard *g);

#endif

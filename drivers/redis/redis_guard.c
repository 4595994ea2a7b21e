/* The RESP guard in front of hiredis's reader; see redis_guard.h. */
#include "config.h"

#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "redis_guard.h"

enum {
    AT_TYPE,     /* the next byte starts an element */
    IN_HEADER,   /* reading a '$' or '*' header */
    IN_LINE,     /* passing a '+', '-' or ':' line on */
    IN_BULK,     /* passing a bulk string's bytes on */
    DROPPING,    /* dropping an oversized bulk string's bytes */
    CUT          /* a reply ended early: nothing more is passed on */
};

/* What one call of redis_guard_feed() is doing: the run of input bytes
 * passed on as they are, not yet handed to the sink. */
typedef struct pass {
    redis_guard_sink sink;
    void *arg;
    const char *run;     /* NULL: no run open */
    size_t run_len;
    char *why;
    size_t why_size;
} pass;

void redis_guard_init(redis_guard *g, uint64_t bulk_limit,
                      uint64_t element_limit, size_t line_limit)
{
    memset(g, 0, sizeof *g);
    g->bulk_limit = bulk_limit;
    g->element_limit = element_limit;
    g->line_limit = line_limit;
    g->state = AT_TYPE;
}

void redis_guard_drop_alone(redis_guard *g)
{
    g->drop_alone = 1;
}

int redis_guard_is_cut(const redis_guard *g)
{
    return g->state == CUT;
}

int redis_guard_replaced(const redis_guard *g)
{
    return g->replaced;
}

static int flush(pass *p)
{
    int failed = p->run != NULL && p->run_len > 0 &&
                 p->sink(p->arg, p->run, p->run_len) != 0;

    p->run = NULL;
    p->run_len = 0;
    return failed ? -2 : 0;
}

/* Passes bytes that lie in the input on, as part of the open run. */
static void keep(pass *p, const char *bytes, size_t len)
{
    if (p->run == NULL)
        p->run = bytes;
    p->run_len += len;
}

/* Hands the sink bytes of the guard's own (a header, a replacement). */
static int emit(pass *p, const char *bytes, size_t len)
{
    if (flush(p) != 0)
        return -2;
    return p->sink(p->arg, bytes, len) != 0 ? -2 : 0;
}

static int refuse(pass *p, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static int refuse(pass *p, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(p->why, p->why_size, fmt, ap);
    va_end(ap);
    return -1;
}

/* One element is complete: so is every array it completes. */
static void element_done(redis_guard *g)
{
    while (g->depth > 0 && --g->elements_left[g->depth - 1] == 0)
        g->depth--;
    g->state = AT_TYPE;
}

/* The number of a complete header "<type><digits>\r\n" of len bytes:
 * 0, or -1. */
static int header_number(const char *header, size_t len, int64_t *out)
{
    const char *p = header + 1;
    const char *end = header + len - 2;   /* at "\r\n" */
    int negative = *p == '-';
    int64_t n = 0;

    if (len < 4 || end[0] != '\r')
        return -1;
    p += negative;
    if (p == end)
        return -1;
    for (; p < end; p++) {
        if (*p < '0' || *p > '9' || n > (INT64_MAX - 9) / 10)
            return -1;
        n = n * 10 + (*p - '0');
    }
    *out = negative ? -n : n;
    return negative && n != 1 ? -1 : 0;
}

/* A bulk string too long to keep: the reader gets its length as an
 * integer instead. Alone it is the whole reply, which ends here (unless
 * drop_alone); in an array its bytes are dropped and the array goes on. */
static int replace_bulk(redis_guard *g, pass *p, int64_t n)
{
    char integer[32];
    int len = snprintf(integer, sizeof integer, ":%" PRId64 "\r\n", n);

    g->replaced = 1;
    if (emit(p, integer, (size_t)len) != 0)
        return -2;
    if (g->depth == 0 && !g->drop_alone) {
        g->state = CUT;
        return 0;
    }
    g->bulk_left = (uint64_t)n + 2;
    g->state = DROPPING;
    return 0;
}

/* Passes a header (g->header_len bytes at header) on that is within the
 * limits: as part of the run when it lies whole in this input
 * (in_input), so that a reply of many short elements reaches the reader
 * in one piece rather than two per element; else from g->header, where
 * the bytes of earlier inputs were kept. */
static int pass_header(redis_guard *g, pass *p, const char *header,
                       int in_input)
{
    if (!in_input)
        return emit(p, header, g->header_len);
    keep(p, header, g->header_len);
    return 0;
}

static int bulk_header(redis_guard *g, pass *p, int64_t n,
                       const char *header, int in_input)
{
    if (g->bulk_limit != 0 && n > 0 && (uint64_t)n > g->bulk_limit)
        return replace_bulk(g, p, n);
    if (pass_header(g, p, header, in_input) != 0)
        return -2;
    if (n < 0) {
        element_done(g);    /* nil */
        return 0;
    }
    g->bulk_left = (uint64_t)n + 2;
    g->state = IN_BULK;
    return 0;
}

static int array_header(redis_guard *g, pass *p, int64_t n,
                        const char *header, int in_input)
{
    if (n > 0 && (uint64_t)n > g->element_limit)
        return refuse(p, "an array of %" PRId64 " elements is over the "
                      "limit of %" PRIu64, n, g->element_limit);
    if (n > 0 && g->depth == REDIS_GUARD_MAX_DEPTH)
        return refuse(p, "a reply nests arrays deeper than %d",
                      REDIS_GUARD_MAX_DEPTH);
    /* Nested arrays share one budget: each element costs hiredis an
     * object, so a reply may not hold more than the limit in all. */
    if (g->depth == 0)
        g->reply_elements = 0;
    if (n > 0 && (g->reply_elements += (uint64_t)n) > g->element_limit)
        return refuse(p, "a reply of more than %" PRIu64 " elements in all",
                      g->element_limit);
    if (pass_header(g, p, header, in_input) != 0)
        return -2;
    if (n <= 0) {
        element_done(g);    /* empty or nil */
        return 0;
    }
    g->elements_left[g->depth++] = n;
    g->state = AT_TYPE;
    return 0;
}

/* A header of g->header_len bytes at header is complete. */
static int header_done(redis_guard *g, pass *p, const char *header,
                       int in_input)
{
    int64_t n;

    if (header_number(header, g->header_len, &n) != 0)
        return refuse(p, "the header '%.*s' is malformed",
                      (int)(g->header_len - 2), header);
    return header[0] == '$' ? bulk_header(g, p, n, header, in_input)
                            : array_header(g, p, n, header, in_input);
}

/* Reads a header up to its LF, or as much of it as this input holds.
 * One that lies whole in this input is read where it is; the part of
 * one that does not is kept in g->header for the next input. Past
 * sizeof g->header bytes without an LF it is refused (at the first byte
 * over). Headers are a few bytes: a loop finds the LF sooner than a
 * call of memchr(). */
static int read_header(redis_guard *g, pass *p, const char *here,
                       size_t left, size_t *at)
{
    size_t room = sizeof g->header - g->header_len;
    size_t n = left < room ? left : room;
    size_t end = 0;

    if (room == 0)
        return refuse(p, "a header is longer than %zu bytes",
                      sizeof g->header);
    while (end < n && here[end] != '\n')
        end++;
    if (end == n) {
        memcpy(g->header + g->header_len, here, n);
        g->header_len += n;
        *at += n;
        return 0;
    }
    end++;              /* through the LF */
    *at += end;
    if (g->header_len == 0) {
        g->header_len = end;
        return header_done(g, p, here, 1);
    }
    memcpy(g->header + g->header_len, here, end);
    g->header_len += end;
    return header_done(g, p, g->header, 0);
}

/* The usual element of a list, a bulk string within the limit that lies
 * whole in this input, checked and passed on in one go: 1 when here is
 * one, else 0 (nothing consumed) for read_header() and the states after
 * it to take. Only a header of 1 to 18 plain digits is taken here, which
 * reads as header_number() reads it, with no room for an overflow. */
static int whole_bulk(redis_guard *g, pass *p, const char *here, size_t left,
                      size_t *at)
{
    size_t end = 1;
    uint64_t n = 0;
    uint64_t total;

    while (end < left && end <= 18 && here[end] >= '0' && here[end] <= '9')
        n = n * 10 + (uint64_t)(here[end++] - '0');
    if (end == 1 || end + 1 >= left || here[end] != '\r' ||
        here[end + 1] != '\n')
        return 0;
    if (g->bulk_limit != 0 && n > g->bulk_limit)
        return 0;
    total = (uint64_t)end + 2 + n + 2;
    if (total > left)
        return 0;
    keep(p, here, (size_t)total);
    *at += (size_t)total;
    element_done(g);
    return 1;
}

/* Consumes bytes from data[*at] in the current state. */
static int step(redis_guard *g, pass *p, const char *data, size_t len,
                size_t *at)
{
    const char *here = data + *at;
    size_t left = len - *at;
    size_t n;

    switch (g->state) {
    case AT_TYPE:
        if (*here == '$' && whole_bulk(g, p, here, left, at))
            return 0;
        if (*here == '$' || *here == '*') {
            g->header_len = 0;
            g->state = IN_HEADER;
            return read_header(g, p, here, left, at);
        }
        if (*here != '+' && *here != '-' && *here != ':')
            return refuse(p, "the byte 0x%02x starts no reply",
                          (unsigned)(unsigned char)*here);
        g->line_len = 0;
        g->line_cr = 0;
        g->state = IN_LINE;
        return 0;
    case IN_HEADER:
        return read_header(g, p, here, left, at);
    case IN_LINE: {
        const char *newline = memchr(here, '\n', left);

        n = newline != NULL ? (size_t)(newline - here) + 1 : left;
        /* hiredis ends a line at the first CRLF only: a bare LF is text
         * to it, so it must not end an element here either. */
        if (newline != NULL &&
            (newline > here ? newline[-1] != '\r' : !g->line_cr))
            return refuse(p, "a line ends in LF without CR");
        g->line_cr = here[n - 1] == '\r';
        g->line_len += n;
        if (g->line_len > g->line_limit)
            return refuse(p, "a line is longer than %zu bytes",
                          g->line_limit);
        keep(p, here, n);
        *at += n;
        if (newline != NULL)
            element_done(g);
        return 0;
    }
    case IN_BULK:
    case DROPPING:
        n = g->bulk_left < left ? (size_t)g->bulk_left : left;
        if (g->state == IN_BULK)
            keep(p, here, n);
        g->bulk_left -= n;
        *at += n;
        if (g->bulk_left == 0)
            element_done(g);
        return 0;
    default:            /* CUT */
        *at = len;
        return 0;
    }
}

int redis_guard_feed(redis_guard *g, const char *data, size_t len,
                     redis_guard_sink sink, void *arg, char *why,
                     size_t why_size)
{
    pass p = { sink, arg, NULL, 0, why, why_size };
    size_t at = 0;

    while (at < len) {
        int status = step(g, &p, data, len, &at);

        if (status != 0)
            return status;
    }
    return flush(&p);
}

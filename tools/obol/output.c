/*
 * What the tool prints: sessions for people or as JSON, errors as
 * "obol: what: message", and the library's log lines. Text meant for a
 * terminal never carries raw control bytes from stored ids or payloads.
 */
#include "config.h"

#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include <jansson.h>

#include "cli.h"
#include "json.h"

/* ----------------------------------------------------------------- errors */

void cli_error(const char *what, const char *fmt, ...)
{
    va_list ap;

    fprintf(stderr, "obol: %s: ", what);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
}

int cli_exit_status(int status)
{
    switch (status) {
    case OBOL_OK:
        return EXIT_OK;
    case OBOL_NOT_FOUND:
        return EXIT_NOT_FOUND;
    case OBOL_CONFLICT:
        return EXIT_CONFLICT;
    case OBOL_ERR_INVALID:
    case OBOL_ERR_TOO_LARGE:
        return EXIT_USAGE;
    case OBOL_ERR_KEY:
        return EXIT_KEY;
    default:
        return EXIT_BACKEND;
    }
}

int cli_fail(const char *what, int status, const obol_error *err)
{
    const char *message = err != NULL && err->message[0] != '\0'
                              ? err->message : obol_strerror(status);

    cli_error(what, "%s", message);
    return cli_exit_status(status);
}

/* ------------------------------------------------------------------ logger */

/* After this many lines the rest are only counted: a migration of
 * unsigned records warns once per record. */
#define LOG_LINES_SHOWN 10

static struct {
    int threshold;      /* highest level shown; -1 shows nothing */
    int unlimited;
    unsigned long shown;
    unsigned long dropped;
} logger = { OBOL_LOG_WARNING, 0, 0, 0 };

void cli_log_setup(int quiet, int verbose)
{
    logger.threshold = quiet ? -1 : verbose ? OBOL_LOG_DEBUG : OBOL_LOG_WARNING;
    logger.unlimited = verbose;
}

void cli_log(void *arg, int level, const char *msg)
{
    static const char *const names[] = { "error", "warning", "info", "debug" };

    (void)arg;
    if (level > logger.threshold)
        return;
    if (!logger.unlimited && logger.shown >= LOG_LINES_SHOWN) {
        logger.dropped++;
        return;
    }
    logger.shown++;
    fprintf(stderr, "obol: %s: %s\n",
            level >= 0 && level <= OBOL_LOG_DEBUG ? names[level] : "log", msg);
}

void cli_log_finish(void)
{
    if (logger.dropped > 0)
        fprintf(stderr, "obol: %lu more warnings not shown (-v shows all)\n",
                logger.dropped);
    logger.dropped = 0;
}

/* ---------------------------------------------------------- text for people */

/* Length of the UTF-8 sequence at p, or 0 when it is not valid UTF-8
 * (overlong forms, surrogates and values past U+10FFFF are not). */
static size_t utf8_sequence(const unsigned char *p, size_t left)
{
    uint32_t code;
    size_t len;

    if (p[0] < 0x80)
        return 1;
    if (p[0] >= 0xc2 && p[0] <= 0xdf)
        len = 2;
    else if (p[0] >= 0xe0 && p[0] <= 0xef)
        len = 3;
    else if (p[0] >= 0xf0 && p[0] <= 0xf4)
        len = 4;
    else
        return 0;
    if (len > left)
        return 0;
    code = p[0] & (0x7f >> len);
    for (size_t i = 1; i < len; i++) {
        if ((p[i] & 0xc0) != 0x80)
            return 0;
        code = code << 6 | (p[i] & 0x3f);
    }
    if ((len == 3 && code < 0x800) || (len == 4 && code < 0x10000) ||
        (code >= 0xd800 && code <= 0xdfff) || code > 0x10ffff)
        return 0;
    return len;
}

/* Bytes as text a terminal shows safely: printable ASCII and valid UTF-8
 * as they are, backslash and everything else escaped. */
static void print_escaped(const void *data, size_t len)
{
    const unsigned char *p = data;

    for (size_t i = 0; i < len;) {
        size_t seq = utf8_sequence(p + i, len - i);

        if (p[i] == '\\') {
            fputs("\\\\", stdout);
            i++;
        } else if (seq > 1) {
            fwrite(p + i, 1, seq, stdout);
            i += seq;
        } else if (p[i] >= 0x20 && p[i] < 0x7f) {
            putchar(p[i]);
            i++;
        } else {
            printf("\\x%02x", p[i]);
            i++;
        }
    }
}

static void print_string_line(const char *name, const char *value)
{
    printf("%-24s", name);
    print_escaped(value, strlen(value));
    putchar('\n');
}

static void print_time_line(const char *name, int64_t t)
{
    char buf[CLI_TIME_MAX];

    printf("%-24s%s\n", name, cli_format_time(t, buf));
}

/* How much of a payload the text view shows. */
#define PAYLOAD_PREVIEW 64

static void print_payload_line(const obol_session *s)
{
    size_t shown = s->extra_payload_len < PAYLOAD_PREVIEW ? s->extra_payload_len
                                                          : PAYLOAD_PREVIEW;

    printf("%-24s%zu bytes", "extra_payload", s->extra_payload_len);
    if (shown > 0) {
        fputs(": \"", stdout);
        print_escaped(s->extra_payload, shown);
        fputs(shown < s->extra_payload_len ? "\"..." : "\"", stdout);
    }
    putchar('\n');
}

int cli_print_session(const obol_session *s, int json)
{
    if (json)
        return cli_print_json(session_to_json(s));
    print_string_line("id", s->id);
    print_string_line("user_id", s->user_id);
    print_string_line("type", s->type);
    print_string_line("refresh_token_id", s->refresh_token_id);
    print_time_line("created_at", s->created_at);
    print_time_line("refreshed_at", s->refreshed_at);
    print_time_line("expires_at", s->expires_at);
    print_time_line("refresh_expires_at", s->refresh_expires_at);
    print_time_line("tokens_fresh_from", s->tokens_fresh_from);
    print_time_line("prev_tokens_fresh_from", s->prev_tokens_fresh_from);
    printf("%-24s%" PRIu64 "\n", "lock_version", s->lock_version);
    print_payload_line(s);
    printf("%-24s%" PRIu32 "\n", "version", s->version);
    return 0;
}

void cli_print_row_header(void)
{
    printf("%-24s %-8s %-20s %-20s %-20s %-20s %s\n", "ID", "TYPE", "CREATED",
           "REFRESHED", "REFRESH UNTIL", "EXPIRES", "LOCK");
}

static void print_cell(const char *value, int width)
{
    size_t len = strlen(value);

    print_escaped(value, len);
    for (int pad = width - (int)len; pad > 0; pad--)
        putchar(' ');
    putchar(' ');
}

void cli_print_row(const obol_session *s)
{
    char created[CLI_TIME_MAX], refreshed[CLI_TIME_MAX];
    char refresh_until[CLI_TIME_MAX], expires[CLI_TIME_MAX];

    print_cell(s->id, 24);
    print_cell(s->type, 8);
    printf("%-20s %-20s %-20s %-20s %" PRIu64 "\n",
           cli_format_time(s->created_at, created),
           cli_format_time(s->refreshed_at, refreshed),
           cli_format_time(s->refresh_expires_at, refresh_until),
           cli_format_time(s->expires_at, expires), s->lock_version);
}

/* ------------------------------------------------------------------- JSON */

int cli_print_json(json_t *doc)
{
    int status = -1;

    if (doc != NULL && json_dumpf(doc, stdout, JSON_COMPACT) == 0) {
        putchar('\n');
        status = 0;
    }
    json_decref(doc);
    return status;
}

int cli_finish_output(const char *command, int status)
{
    if (fflush(stdout) != 0 || ferror(stdout)) {
        cli_error(command, "writing to standard output: %s", strerror(errno));
        return status == EXIT_OK ? EXIT_BACKEND : status;
    }
    return status;
}

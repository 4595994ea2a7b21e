/*
 * What the tool prints: sessions for people or as JSON, errors as
 * "obol: what: message", and the library's log lines. Whatever comes from
 * a record or a backend (ids, payloads, error replies, the driver's
 * description, library messages that quote them) goes through one
 * escaper, so that a stored id cannot move the cursor, recolour the
 * terminal or turn the rest of a line around.
 */
#include "config.h"

#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "cli.h"
#include "json.h"
#include "progress.h"

/* --------------------------------------------------------------- escaping */

/* Length of the UTF-8 sequence at p, with its code point in *code, or 0
 * when it is not valid UTF-8 (overlong forms, surrogates and values past
 * U+10FFFF are not). */
static size_t utf8_decode(const unsigned char *p, size_t left, uint32_t *code)
{
    size_t len;

    if (p[0] < 0x80) {
        *code = p[0];
        return 1;
    }
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
    *code = p[0] & (0x7f >> len);
    for (size_t i = 1; i < len; i++) {
        if ((p[i] & 0xc0) != 0x80)
            return 0;
        *code = *code << 6 | (p[i] & 0x3f);
    }
    if ((len == 3 && *code < 0x800) || (len == 4 && *code < 0x10000) ||
        (*code >= 0xd800 && *code <= 0xdfff) || *code > 0x10ffff)
        return 0;
    return len;
}

/* What a terminal acts on instead of showing: C0 controls, DEL and C1
 * controls (ESC [ and its 8-bit twin CSI start escape sequences), and
 * the bidi marks, embeddings, overrides and isolates, which reorder the
 * text after them (an id could make a line read as something else). */
static int is_control(uint32_t code)
{
    return code < 0x20 || (code >= 0x7f && code <= 0x9f) || code == 0x061c ||
           code == 0x200e || code == 0x200f ||
           (code >= 0x202a && code <= 0x202e) ||
           (code >= 0x2066 && code <= 0x2069);
}

/* The longest form of one character: "\u202e" and a NUL. */
#define SHOWN_MAX 8

/* Where shown text goes: data for people (ids, payloads), a message for
 * people (the library's, a backend's, the tool's), or JSON. */
typedef enum show_mode { SHOW_DATA, SHOW_MESSAGE, SHOW_JSON } show_mode;

/*
 * How the character at p is shown, in shown (*shown_len bytes); returns
 * how many bytes of p it stands for. For people, a byte that is not UTF-8
 * or an ASCII control is \xNN, another control \uNNNN. In data a
 * backslash is doubled too, so that every escape reads one way back; in
 * a message it stays, since the library's messages escape ids that way
 * already. In JSON the input is jansson's output, valid UTF-8 whose
 * backslashes are JSON's own and whose C0 controls are escaped already;
 * a control left there (DEL, C1, bidi) can only be inside a string,
 * where \uNNNN means the same.
 */
static size_t show_one(const unsigned char *p, size_t left, show_mode mode,
                       char shown[SHOWN_MAX], size_t *shown_len)
{
    uint32_t code;
    size_t len = utf8_decode(p, left, &code);

    if (len == 0 && mode == SHOW_JSON) {
        /* Not from jansson, which refuses such strings: U+FFFD keeps
         * the document valid should it ever happen. */
        *shown_len = (size_t)snprintf(shown, SHOWN_MAX, "\\ufffd");
        return 1;
    }
    if (len == 0) {
        *shown_len = (size_t)snprintf(shown, SHOWN_MAX, "\\x%02x", p[0]);
        return 1;
    }
    if (mode == SHOW_DATA && code == '\\') {
        *shown_len = (size_t)snprintf(shown, SHOWN_MAX, "\\\\");
    } else if (is_control(code)) {
        *shown_len = (size_t)snprintf(shown, SHOWN_MAX,
                                      mode != SHOW_JSON && code < 0x80
                                          ? "\\x%02" PRIx32 : "\\u%04" PRIx32,
                                      code);
    } else {
        memcpy(shown, p, len);
        *shown_len = len;
    }
    return len;
}

static void write_shown(FILE *out, const void *data, size_t len, show_mode mode)
{
    const unsigned char *p = data;
    char shown[SHOWN_MAX];
    size_t shown_len;

    for (size_t i = 0; i < len;) {
        i += show_one(p + i, len - i, mode, shown, &shown_len);
        fwrite(shown, 1, shown_len, out);
    }
}

void cli_write_text(FILE *out, const void *data, size_t len)
{
    write_shown(out, data, len, SHOW_DATA);
}

char *cli_escaped(const char *text)
{
    const unsigned char *p = (const unsigned char *)text;
    size_t len = strlen(text);
    /* At most 4 bytes shown per byte given: "\xff" for one byte. */
    char *copy = len < SIZE_MAX / 4 ? malloc(4 * len + 1) : NULL;
    char shown[SHOWN_MAX];
    size_t used = 0, shown_len;

    if (copy == NULL)
        return NULL;
    for (size_t i = 0; i < len;) {
        i += show_one(p + i, len - i, SHOW_MESSAGE, shown, &shown_len);
        memcpy(copy + used, shown, shown_len);
        used += shown_len;
    }
    copy[used] = '\0';
    return copy;
}

/* ----------------------------------------------------------------- errors */

void cli_error(const char *what, const char *fmt, ...)
{
    char buf[512], *message = buf;
    va_list ap, again;
    int len;

    /* Formatted first and escaped whole: the arguments may be a library
     * message quoting a backend's reply or an id from the input. */
    va_start(ap, fmt);
    va_copy(again, ap);
    len = vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    if (len < 0) {
        buf[0] = '\0';
    } else if ((size_t)len >= sizeof buf) {
        message = malloc((size_t)len + 1);
        if (message != NULL)
            vsnprintf(message, (size_t)len + 1, fmt, again);
        else
            message = buf;   /* out of memory: the message cut short */
    }
    va_end(again);
    if (what != NULL)
        fprintf(stderr, "obol: %s: ", what);
    else
        fputs("obol: ", stderr);
    write_shown(stderr, message, strlen(message), SHOW_MESSAGE);
    fputc('\n', stderr);
    if (message != buf)
        free(message);
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
    case OBOL_ERR_NO_STORE:
        return EXIT_NO_STORE;
    default:
        return EXIT_BACKEND;
    }
}

int cli_fail(const char *what, int status, const obol_error *err)
{
    const char *message = err != NULL && err->message[0] != '\0'
                              ? err->message : obol_strerror(status);
    char words[sizeof err->message];

    cli_operator_words(message, words, sizeof words);
    cli_error(what, "%s", words);
    return cli_exit_status(status);
}

/* ------------------------------------------------------------- refusals */

static cli_refusals refusals;
static const char *refusals_user;   /* count only this user's, or NULL */

void cli_count_refusals_of(const char *user_id)
{
    refusals_user = user_id;
}

void cli_note_refusal(void *arg, const obol_event *event)
{
    (void)arg;
    if (event->kind != OBOL_EVENT_BAD_SEAL && event->kind != OBOL_EVENT_UNKNOWN_KEY)
        return;
    if (refusals_user != NULL &&
        (event->user_id_len != strlen(refusals_user) ||
         memcmp(event->user_id, refusals_user, event->user_id_len) != 0))
        return;
    if (refusals.count++ == 0)
        snprintf(refusals.first_reason, sizeof refusals.first_reason, "%s",
                 event->reason != NULL ? event->reason : "no reason given");
    if (event->kind == OBOL_EVENT_UNKNOWN_KEY)
        refusals.unknown_key++;
}

const cli_refusals *cli_refused(void)
{
    return &refusals;
}

int cli_report_refusals(const char *what, const char *not_done, int code)
{
    const cli_refusals *r = &refusals;
    /* The causes, as `obol check` names them. */
    const char *causes = r->unknown_key == r->count
        ? "a key id the store does not hold: list it in old_key_ids or "
          "old_secrets until `obol rekey` has rewritten them"
        : "wrong secret or key_id, unsigned records (allow_unsigned=1), or "
          "tampering";

    if (r->count == 0)
        return code;
    cli_error(what, "%lu record%s refused, not %s%s %s (%s)", r->count,
              r->count == 1 ? "" : "s", not_done,
              r->count == 1 ? ":" : "; the first:", r->first_reason, causes);
    return code == EXIT_OK || code == EXIT_NOT_FOUND ? EXIT_REJECTED : code;
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
    char words[1024];

    (void)arg;
    if (level > logger.threshold)
        return;
    if (!logger.unlimited && logger.shown >= LOG_LINES_SHOWN) {
        logger.dropped++;
        return;
    }
    logger.shown++;
    cli_progress_clear();   /* a warning during a migration: not after the bar */
    cli_operator_words(msg, words, sizeof words);
    fprintf(stderr, "obol: %s: ",
            level >= 0 && level <= OBOL_LOG_DEBUG ? names[level] : "log");
    write_shown(stderr, words, strlen(words), SHOW_MESSAGE);
    fputc('\n', stderr);
}

void cli_log_finish(void)
{
    if (logger.dropped > 0)
        fprintf(stderr, "obol: warning: %lu more warnings not shown "
                "(-v shows all)\n", logger.dropped);
    logger.dropped = 0;
}

/* ---------------------------------------------------------- text for people */

static void print_string_line(const char *name, const char *value)
{
    printf("%-24s", name);
    cli_write_text(stdout, value, strlen(value));
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
        cli_write_text(stdout, s->extra_payload, shown);
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

    cli_write_text(stdout, value, len);
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

/* Dumped to memory first: then -1 only ever means memory (a write error
 * is cli_finish_output()'s to report), and the controls that JSON lets
 * stand raw in a string (DEL, C1, bidi) can be escaped on the way out. */
int cli_write_json(FILE *out, json_t *doc)
{
    /* 15 digits show every double cli_rounded() makes as it is written
     * (0.3, not 0.29999999999999999). */
    char *text = doc != NULL ? json_dumps(doc, JSON_COMPACT | JSON_REAL_PRECISION(15))
                             : NULL;

    json_decref(doc);
    if (text == NULL)
        return -1;
    write_shown(out, text, strlen(text), SHOW_JSON);
    fputc('\n', out);
    free(text);
    return 0;
}

double cli_rounded(double value, int decimals)
{
    double scale = 1;

    for (int i = 0; i < decimals; i++)
        scale *= 10;
    /* The values are times and rates, far inside long long's range. */
    return (double)(long long)(value * scale + (value < 0 ? -0.5 : 0.5)) / scale;
}

int cli_print_json(json_t *doc)
{
    return cli_write_json(stdout, doc);
}

int cli_finish_output(const char *command, int status)
{
    if (fflush(stdout) != 0 || ferror(stdout)) {
        cli_error(command, "writing to standard output: %s", strerror(errno));
        return status == EXIT_OK ? EXIT_BACKEND : status;
    }
    return status;
}

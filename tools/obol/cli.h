/*
 * The obol command-line tool: what its modules share. The tool uses
 * nothing of libobol but the public header.
 */
#ifndef OBOL_CLI_H
#define OBOL_CLI_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include <obol/obol.h>

/* Exit statuses, documented in obol(1) and `obol --help`. */
enum {
    EXIT_OK = 0,
    EXIT_NOT_FOUND = 1,  /* no live session matches */
    EXIT_USAGE = 2,      /* bad arguments, config string or input data; a
                            misspelt command, option or scheme */
    EXIT_BACKEND = 3,    /* driver, backend, timeout, memory or output error */
    EXIT_CONFLICT = 4,   /* optimistic lock lost */
    EXIT_KEY = 5,        /* no usable key: no secret given, or unreadable */
    EXIT_REJECTED = 6,   /* records refused for their seal: skipped (ls,
                            check, export, migrate, rekey) or, for get and
                            put, the session's own */
    EXIT_NO_STORE = 7    /* no store at the URL, and none was created */
};

/* Everything the command line says, once parsed. */
typedef struct cli_options {
    int json;                    /* --json */
    int all_types;               /* ls and rm-all --all-types */
    int quiet;                   /* -q: no library warnings */
    int verbose;                 /* -v: every library message */
    int progress;                /* -1 auto (a terminal), 0 never, 1 always */
    const char *secret_file;     /* --secret-file */
    const char *src_secret_file; /* --src-secret-file */
    const char *dst_secret_file; /* --dst-secret-file */
    int64_t ttl;                 /* put: default session lifetime */
    int64_t refresh_ttl;         /* put: default refresh token lifetime */
    unsigned long sample;        /* check: records to verify */
    const char *output;          /* export --output: the file to write */
    int restore_mode;            /* import, migrate: OBOL_RESTORE_*, from
                                    --only-missing / --only-newer */
    char **args;                 /* operands after the command name */
    int nargs;
} cli_options;

/* ---------------------------------------------------------------- output.c */

/* Prints "obol: what: message" on stderr ("obol: message" when what is
 * NULL), the message escaped as cli_escaped() does. */
void cli_error(const char *what, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/*
 * Writes len bytes of data from a record (an id, a payload) as text a
 * terminal shows as it is: valid UTF-8 stays, a backslash is doubled, a
 * byte that is not UTF-8 and the ASCII controls (C0, DEL) become \xNN,
 * the C1 controls (U+0080-U+009F) and the bidi controls (U+061C, U+200E,
 * U+200F, U+202A-U+202E, U+2066-U+2069) \uNNNN. It is the one escaper:
 * messages (cli_error(), the logger, cli_escaped()) get the same, but
 * keep their backslashes, and --json output the same controls as
 * \uNNNN (cli_print_json()).
 */
void cli_write_text(FILE *out, const void *data, size_t len);

/* text, a message or a backend's description, escaped for people, as a
 * malloc()ed string (NULL when out of memory); valid UTF-8, so that it
 * may go into JSON. */
char *cli_escaped(const char *text);

/* Reports a failed library call ("obol: what: <err message>") and returns
 * the exit status for it. */
int cli_fail(const char *what, int status, const obol_error *err);

/* The exit status for a library status. */
int cli_exit_status(int status);

/* Logger for stores: warnings (or everything with -v) to stderr, the first
 * few only; cli_log_finish() says how many more were dropped. */
void cli_log_setup(int quiet, int verbose);
void cli_log(void *arg, int level, const char *msg);
void cli_log_finish(void);

/* Writes s to stdout for people (a block of "field  value" lines) or as
 * one line of JSON. Returns 0, or -1 when out of memory. */
int cli_print_session(const obol_session *s, int json);

/* Writes a table row of s for `ls`, with the header first when asked. */
void cli_print_row_header(void);
void cli_print_row(const obol_session *s);

/* Prints a JSON object (stolen) as one line on stdout, or on out. -1
 * when out of memory (a write error shows in ferror()). The type is
 * jansson's json_t, kept opaque here. */
struct json_t;
int cli_print_json(struct json_t *doc);
int cli_write_json(FILE *out, struct json_t *doc);

/* Flushes stdout; on a write error reports it for command and returns
 * EXIT_BACKEND, else status unchanged. */
int cli_finish_output(const char *command, int status);

/* value rounded to decimals places, for JSON: jansson writes a double
 * with up to 17 significant digits (0.32444299799999499), so every double
 * the tool prints is rounded first, and written with 15 (cli_write_json()). */
double cli_rounded(double value, int decimals);

/* Records a store refused for their seal (wrong secret or key id,
 * tampering, unsigned), as the event hook of every store the tool opens
 * (cli_note_refusal) tells them: how many, and why the first was. */
typedef struct cli_refusals {
    unsigned long count;
    unsigned long unknown_key;   /* of them, under a key id not held */
    char first_reason[160];
} cli_refusals;

void cli_note_refusal(void *arg, const obol_event *event);
const cli_refusals *cli_refused(void);

/* From now on, only refusals of records of user_id count (a walk of the
 * whole store meets every user's). */
void cli_count_refusals_of(const char *user_id);

/* When records were refused: says how many, why the first was and what
 * causes that ("obol: what: 2 records refused, not listed: ..."), and
 * returns EXIT_REJECTED; else returns code. not_done is "shown" or
 * "listed". */
int cli_report_refusals(const char *what, const char *not_done, int code);

/* ------------------------------------------------------------------ words.c */

/* The entry of known[] (count names) that word is a typo of: at most two
 * edits away (one in a name of up to three letters), the nearest first.
 * NULL when there is none, or when word is one of them. */
const char *cli_closest(const char *word, const char *const *known,
                        size_t count);

/* A library message in out as the tool shows it: without a leading
 * "obol: " (log lines) or name of a library call ("get_all: "), which the
 * tool's own prefix stands for, and without hints for programmers (a
 * parenthesis or "; " clause naming an obol_* function); the tool gives
 * its own hint where it has one. */
void cli_operator_words(const char *message, char *out, size_t size);


/* ---------------------------------------------------------------- connect.c */

/* Where a store's secret comes from, as decided from options and the
 * environment; see obol(1), SECRETS. */
typedef struct cli_secret {
    const char *file;     /* a --*-secret-file, or NULL */
    const char *env_name; /* an environment variable holding it, or NULL */
} cli_secret;

cli_secret cli_secret_for(const cli_options *o, const char *role);

/* Opens the store at url with the secret added to the config string
 * (unless url has its own secret= option) and the CLI logger; a url
 * holding a password is refused (exit 2). A store without a key is
 * refused at once (require_key=1), and so is one that does not exist
 * (create=0, exit 7): only the commands that fill a store make one, with
 * cli_open_store_to_fill(). Reports failures itself; returns an exit
 * status. */
int cli_open_store(const char *url, cli_secret secret, const char *what,
                   obol_store **out);
int cli_open_store_to_fill(const char *url, cli_secret secret,
                           const char *what, obol_store **out);

/* Adds the hint "set OBOL_SECRET or use --secret-file" to key errors. */
int cli_fail_store(const char *what, int status, const obol_error *err);

/* --------------------------------------------------------------- prefixes.c */

/* After a command found nothing for st: when the store's prefix holds no
 * record at all, says so on stderr, with the prefixes that do hold
 * records where the backend can tell. walked: the command walked the
 * whole prefix and met no record; otherwise (one user had none) it says
 * something only when the backend is sure the prefix is empty. */
void cli_note_empty_prefix(obol_store *st, const char *what, int walked);

/* ---------------------------------------------------------- command files */

int cmd_get(const cli_options *o);
int cmd_ls(const cli_options *o);
int cmd_rm(const cli_options *o);
int cmd_rm_all(const cli_options *o);
int cmd_prune(const cli_options *o);
int cmd_put(const cli_options *o);
int cmd_check(const cli_options *o);
int cmd_export(const cli_options *o);
int cmd_import(const cli_options *o);
int cmd_migrate(const cli_options *o);
int cmd_rekey(const cli_options *o);

/* ----------------------------------------------------------------- times.c */

/* "2026-11-28T06:57:06Z", "infinity", or the number when no four-digit
 * year can show it. buf has room for CLI_TIME_MAX bytes. */
#define CLI_TIME_MAX 48
const char *cli_format_time(int64_t t, char buf[CLI_TIME_MAX]);

/* Whether cli_format_time() shows t as an ISO-8601 date. */
int cli_time_is_iso(int64_t t);

/* Reads "YYYY-MM-DDTHH:MM:SSZ" or "infinity"; 0, or -1 when text is
 * anything else (or no such date). */
int cli_parse_time(const char *text, int64_t *out);

/* Seconds on a monotonic clock, for rates and latencies. */
double cli_monotonic_seconds(void);

#endif

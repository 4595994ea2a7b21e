/*
 * Commands on whole stores: export, import, migrate, rekey.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>

#include "cli.h"
#include "json.h"
#include "progress.h"

/* -------------------------------------------------------------- export */

typedef struct export_target {
    FILE *out;             /* stdout, or the --output file */
    const char *name;      /* for messages */
    unsigned long written;
    int write_errno;       /* errno of the first failed write, or 0 */
} export_target;

/* Any positive status that the library does not use stops a walk. */
#define EXPORT_WRITE_FAILED 1000

static int export_session(void *arg, const obol_session *s)
{
    export_target *t = arg;

    errno = 0;
    if (cli_write_json(t->out, session_to_json(s)) != 0)
        return OBOL_ERR_NOMEM;
    if (ferror(t->out)) {
        t->write_errno = errno != 0 ? errno : EIO;
        return EXPORT_WRITE_FAILED;
    }
    ++t->written;
    return OBOL_OK;
}

/*
 * The --output file, for writing from its start, mode 0600 whatever the
 * umask: an export holds refresh token ids and decrypted payloads. An
 * existing regular file must be the user's own; it is narrowed to 0600
 * and only then emptied, so that a refusal leaves it as it was and no one
 * who could read it before reads what is written. What is not a regular
 * file (/dev/null, a pipe) is left as it is.
 */
static int open_output(const char *path, FILE **out)
{
    struct stat st;
    int fd = open(path, O_WRONLY | O_CREAT | O_CLOEXEC, 0600);
    const char *why = NULL;

    if (fd < 0) {
        cli_error("export", "cannot open '%s' for writing: %s", path,
                  strerror(errno));
        return EXIT_BACKEND;
    }
    if (fstat(fd, &st) != 0)
        why = strerror(errno);
    else if (S_ISREG(st.st_mode) && st.st_uid != geteuid())
        why = "it belongs to another user";
    else if (S_ISREG(st.st_mode) &&
             (((st.st_mode & 07777) != 0600 && fchmod(fd, 0600) != 0) ||
              ftruncate(fd, 0) != 0))
        why = strerror(errno);
    if (why != NULL) {
        cli_error("export", "cannot write '%s' as a private file: %s", path,
                  why);
        close(fd);
        return EXIT_BACKEND;
    }
    *out = fdopen(fd, "w");
    if (*out == NULL) {
        close(fd);
        return cli_fail("export", OBOL_ERR_NOMEM, NULL);
    }
    return EXIT_OK;
}

/* Flushes the output (and closes an --output file); a write error is
 * exit status 3, with a message naming where. */
static int finish_output(export_target *t, int code)
{
    int failed = t->write_errno != 0 || ferror(t->out) != 0;

    errno = 0;
    if ((t->out == stdout ? fflush(t->out) : fclose(t->out)) != 0)
        failed = 1;
    if (!failed)
        return code;
    if (t->write_errno == 0)
        t->write_errno = errno != 0 ? errno : EIO;
    cli_error("export", t->out == stdout ? "writing to %s: %s" : "writing to '%s': %s",
              t->name, strerror(t->write_errno));
    return code == EXIT_OK ? EXIT_BACKEND : code;
}

/* What was exported, as a result: on standard output when the sessions
 * went into --output (as JSON with --json), else on standard error after
 * them, without the "obol: export:" of an error. 0, or -1 when out of
 * memory. */
static int print_export_summary(const cli_options *o, const export_target *t,
                                const obol_scan_stats *stats)
{
    FILE *out = o->output != NULL ? stdout : stderr;

    if (o->quiet)
        return 0;
    if (o->json && o->output != NULL)
        return cli_print_json(json_pack("{s:s, s:I, s:I, s:I}", "command", "export",
                                        "exported", (json_int_t)t->written,
                                        "expired", (json_int_t)stats->expired,
                                        "rejected", (json_int_t)stats->rejected));
    fprintf(out, "exported %lu session%s; skipped %" PRIu64 " expired and %" PRIu64
            " rejected records\n", t->written, t->written == 1 ? "" : "s",
            stats->expired, stats->rejected);
    return 0;
}

int cmd_export(const cli_options *o)
{
    export_target t = { stdout, "standard output", 0, 0 };
    obol_scan_stats stats = { 0 };
    obol_store *st;
    obol_error err = { 0 };   /* untouched when export_session() stops the walk */
    int status, code;

    code = cli_open_store(o->args[0], cli_secret_for(o, ""), "export", &st);
    if (code == EXIT_OK && o->output != NULL) {
        t.name = o->output;
        code = open_output(o->output, &t.out);
        if (code != EXIT_OK)
            obol_store_close(st);
    }
    if (code != EXIT_OK)
        return code;
    status = obol_scan(st, export_session, &t, &stats, &err);
    if (status == EXPORT_WRITE_FAILED)
        code = EXIT_BACKEND;
    else if (status != OBOL_OK)
        code = cli_fail_store("export", status, &err);
    else if (stats.rejected > 0)
        code = EXIT_REJECTED;
    if (status == OBOL_OK && stats.records == 0)
        cli_note_empty_prefix(st, "export", 1);
    obol_store_close(st);
    code = finish_output(&t, code);
    if (print_export_summary(o, &t, &stats) != 0)
        code = cli_fail("export", OBOL_ERR_NOMEM, NULL);
    return o->output != NULL ? cli_finish_output("export", code) : code;
}

/* -------------------------------------------------------------- import */

typedef struct import_batch {
    obol_session **sessions;
    unsigned long *lines;   /* the input line of each session */
    size_t count, capacity;
} import_batch;

static void batch_free(import_batch *b)
{
    obol_sessions_free(b->sessions, b->count);
    free(b->lines);
}

static int batch_add(import_batch *b, obol_session *s, unsigned long line)
{
    if (b->count == b->capacity) {
        size_t capacity = b->capacity ? b->capacity * 2 : 256;
        obol_session **sessions = realloc(b->sessions, capacity * sizeof *sessions);
        unsigned long *lines;

        if (sessions == NULL)
            return -1;
        b->sessions = sessions;
        lines = realloc(b->lines, capacity * sizeof *lines);
        if (lines == NULL)
            return -1;
        b->lines = lines;
        b->capacity = capacity;
    }
    b->sessions[b->count] = s;
    b->lines[b->count] = line;
    b->count++;
    return 0;
}

/* Only spaces, tabs and line ends; a NUL byte is not blank. */
static int is_blank(const char *line, size_t len)
{
    for (size_t i = 0; i < len; i++)
        if (strchr(" \t\r\n", line[i]) == NULL || line[i] == '\0')
            return 0;
    return 1;
}

/*
 * One input line to a session, checked as far as the tool can (JSON,
 * members) and then by the library itself against the destination:
 * obol_restore_check() applies every rule of obol_restore() (ids, times,
 * max_payload) and the destination driver's own limits (an id too long
 * for an LMDB key), with the library's own code, writing nothing.
 */
static int check_line(obol_store *st, const char *line, size_t len,
                      unsigned long number, obol_session **out)
{
    json_error_t error;
    json_t *doc;
    obol_session *s;
    obol_error err;
    unsigned present;
    char why[256];
    int status;

    /* Read as a C string, the bytes after a NUL would never be looked at. */
    if (memchr(line, '\0', len) != NULL) {
        cli_error("import", "line %lu: contains a NUL byte", number);
        return EXIT_USAGE;
    }
    doc = json_loadb(line, len, JSON_REJECT_DUPLICATES, &error);
    if (doc == NULL && json_error_code(&error) == json_error_out_of_memory)
        return cli_fail("import", OBOL_ERR_NOMEM, NULL);
    if (doc == NULL) {
        cli_error("import", "line %lu: malformed JSON: %s (column %d)", number,
                  error.text, error.column);
        return EXIT_USAGE;
    }
    status = session_from_json(doc, &s, &present, why, sizeof why);
    json_decref(doc);
    if (status == SESSION_JSON_NOMEM)
        return cli_fail("import", OBOL_ERR_NOMEM, NULL);
    if (status != 0) {
        cli_error("import", "line %lu: %s", number, why);
        return EXIT_USAGE;
    }
    if ((present & FIELDS_ALL) != FIELDS_ALL) {
        cli_error("import", "line %lu: member '%s' is missing", number,
                  session_field_name(FIELDS_ALL & ~present));
        obol_session_free(s);
        return EXIT_USAGE;
    }
    if (s->lock_version == 0) {
        cli_error("import", "line %lu: lock_version must be at least 1 (import "
                  "restores stored sessions; `obol put` creates new ones)", number);
        obol_session_free(s);
        return EXIT_USAGE;
    }
    s->version = OBOL_SESSION_VERSION;
    status = obol_restore_check(st, s, &err);
    if (status != OBOL_OK) {
        cli_operator_words(err.message, why, sizeof why);
        cli_error("import", "line %lu: %s", number, why);
        obol_session_free(s);
        return cli_exit_status(status);
    }
    *out = s;
    return EXIT_OK;
}

/* Reads and checks all of standard input before anything is written. */
static int read_batch(obol_store *st, import_batch *batch)
{
    unsigned long number = 0;
    char *line = NULL;
    size_t size = 0;
    ssize_t len;
    int code = EXIT_OK;

    while (code == EXIT_OK && (len = getline(&line, &size, stdin)) >= 0) {
        obol_session *s;

        number++;
        if (is_blank(line, (size_t)len))
            continue;
        code = check_line(st, line, (size_t)len, number, &s);
        if (code == EXIT_OK && batch_add(batch, s, number) != 0) {
            obol_session_free(s);
            code = cli_fail("import", OBOL_ERR_NOMEM, NULL);
        }
    }
    if (code == EXIT_OK && ferror(stdin)) {
        cli_error("import", "cannot read standard input");
        code = EXIT_USAGE;
    }
    free(line);
    return code;
}

/* Fails early, before any input is read, when the destination has no key
 * or cannot be reached. */
static int probe_store(obol_store *st, const char *what)
{
    obol_session *probe = obol_session_new("obol-probe", NULL, 0, 0, 0);
    obol_session *found = NULL;
    obol_error err;
    int status;

    if (probe == NULL)
        return cli_fail(what, OBOL_ERR_NOMEM, NULL);
    status = obol_get(st, probe->id, probe->user_id, NULL, &found, &err);
    obol_session_free(found);
    obol_session_free(probe);
    if (status == OBOL_OK || status == OBOL_NOT_FOUND)
        return EXIT_OK;
    return cli_fail_store(what, status, &err);
}

/* Why a restore in mode left a session alone, for the summary. */
static const char *left_alone_because(int mode)
{
    return mode == OBOL_RESTORE_ONLY_MISSING
        ? "already in the store"
        : "the store's is as new or newer";
}

static int print_import(size_t imported, unsigned long expired,
                        unsigned long left_alone, int mode, int json)
{
    if (json)
        return cli_print_json(json_pack("{s:s, s:I, s:I, s:I}", "command", "import",
                                        "imported", (json_int_t)imported,
                                        "expired", (json_int_t)expired,
                                        "left_alone", (json_int_t)left_alone))
                   ? cli_fail("import", OBOL_ERR_NOMEM, NULL) : EXIT_OK;
    printf("imported %zu sessions (%lu already expired: not written", imported,
           expired);
    if (mode != OBOL_RESTORE_REPLACE)
        printf("; %lu left alone: %s", left_alone, left_alone_because(mode));
    printf(")\n");
    return EXIT_OK;
}

/* In a mode, a session the store's own copy keeps out (OBOL_CONFLICT) is
 * an outcome, not a failure. */
static int write_batch(obol_store *st, const import_batch *batch, int mode,
                       int json)
{
    int64_t now = (int64_t)time(NULL);
    unsigned long expired = 0, left_alone = 0;
    obol_error err;
    size_t i;

    for (i = 0; i < batch->count; i++) {
        int status = obol_restore_mode(st, batch->sessions[i], mode, &err);

        if (status == OBOL_CONFLICT && mode != OBOL_RESTORE_REPLACE) {
            left_alone++;
            continue;
        }
        if (status != OBOL_OK) {
            char words[sizeof err.message];

            cli_operator_words(err.message, words, sizeof words);
            cli_error("import", "line %lu: %s", batch->lines[i], words);
            cli_error("import", "stopped after writing %zu of %zu sessions",
                      i - left_alone - expired, batch->count);
            return cli_exit_status(status);
        }
        if (batch->sessions[i]->refresh_expires_at < now)
            expired++;
    }
    return print_import(i - expired - left_alone, expired, left_alone, mode,
                        json);
}

int cmd_import(const cli_options *o)
{
    import_batch batch = { 0 };
    obol_store *st;
    int code;

    code = cli_open_store_to_fill(o->args[0], cli_secret_for(o, ""), "import", &st);
    if (code != EXIT_OK)
        return code;
    code = probe_store(st, "import");
    if (code == EXIT_OK)
        code = read_batch(st, &batch);
    if (code == EXIT_OK)
        code = write_batch(st, &batch, o->restore_mode, o->json);
    batch_free(&batch);
    obol_store_close(st);
    return cli_finish_output("import", code);
}

/* ------------------------------------------------------------- migrate */

static int print_migration(const obol_migrate_report *report, int mode,
                           double seconds, int json)
{
    const obol_migrate_stats *stats = &report->stats;
    double rate = seconds > 0 ? (double)stats->seen / seconds : 0;

    if (json)
        return cli_print_json(json_pack(
            "{s:s, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:f, s:I}",
            "command", "migrate",
            "total", (json_int_t)stats->total, "seen", (json_int_t)stats->seen,
            "copied", (json_int_t)stats->copied, "skipped", (json_int_t)stats->skipped,
            "expired", (json_int_t)report->expired,
            "present", (json_int_t)report->present,
            "not_newer", (json_int_t)report->not_newer,
            "conflicts", (json_int_t)report->conflicts,
            "rejected", (json_int_t)stats->rejected,
            "seconds", cli_rounded(seconds, 3),
            "sessions_per_second", (json_int_t)cli_rounded(rate, 0)));
    printf("copied %" PRIu64 ", skipped %" PRIu64 " (expired), ", stats->copied,
           report->expired);
    if (mode != OBOL_RESTORE_REPLACE)
        printf("left %" PRIu64 " alone (%s), ", report->present + report->not_newer,
               mode == OBOL_RESTORE_ONLY_MISSING ? "already in the destination"
                                                 : "as new or newer in the destination");
    if (report->conflicts > 0)
        printf("left %" PRIu64 " to a writer on the destination, ", report->conflicts);
    printf("rejected %" PRIu64 " (did not verify) of %" PRIu64
           " records in %.2f s (%.0f records/s)\n", stats->rejected, stats->seen,
           seconds, rate);
    return 0;
}

int cmd_migrate(const cli_options *o)
{
    obol_store *src = NULL, *dst = NULL;
    obol_migrate_report report = { .struct_size = sizeof report };
    cli_progress progress;
    obol_error err;
    double started;
    int status, code;

    code = cli_open_store(o->args[0], cli_secret_for(o, "src"), "migrate: source", &src);
    if (code == EXIT_OK)
        code = cli_open_store_to_fill(o->args[1], cli_secret_for(o, "dst"),
                                      "migrate: destination", &dst);
    if (code != EXIT_OK)
        goto done;
    cli_progress_start(&progress, o->progress);
    started = cli_monotonic_seconds();
    status = obol_migrate_mode(src, dst, o->restore_mode, cli_progress_update,
                               &progress, &report, &err);
    cli_progress_end(&progress);
    if (status != OBOL_OK) {
        code = cli_fail_store("migrate", status, &err);
        cli_error("migrate", "stopped after copying %" PRIu64 " sessions",
                  report.stats.copied);
        goto done;
    }
    if (print_migration(&report, o->restore_mode, cli_monotonic_seconds() - started,
                        o->json) != 0)
        code = cli_fail("migrate", OBOL_ERR_NOMEM, NULL);
    else if (report.stats.rejected > 0)
        code = EXIT_REJECTED;
    else if (report.conflicts > 0)   /* run it again: it copies only those */
        code = EXIT_CONFLICT;
    if (report.stats.seen == 0)
        cli_note_empty_prefix(src, "migrate: source", 1);
done:
    obol_store_close(src);
    obol_store_close(dst);
    return cli_finish_output("migrate", code);
}

/* --------------------------------------------------------------- rekey */

static int print_rekey(const obol_rekey_stats *stats, double seconds, int json)
{
    double rate = seconds > 0 ? (double)stats->seen / seconds : 0;

    if (json)
        return cli_print_json(json_pack(
            "{s:s, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:f, s:I}", "command",
            "rekey", "total", (json_int_t)stats->total,
            "seen", (json_int_t)stats->seen,
            "rewritten", (json_int_t)stats->rewritten,
            "current", (json_int_t)stats->current,
            "conflicts", (json_int_t)stats->conflicts,
            "expired", (json_int_t)stats->expired,
            "rejected", (json_int_t)stats->rejected,
            "seconds", cli_rounded(seconds, 3),
            "records_per_second", (json_int_t)cli_rounded(rate, 0)));
    printf("rewrote %" PRIu64 ", already current %" PRIu64 ", skipped %" PRIu64
           " (a concurrent write won), expired %" PRIu64 ", rejected %" PRIu64
           " (did not verify) of %" PRIu64 " records in %.2f s (%.0f records/s)\n",
           stats->rewritten, stats->current, stats->conflicts, stats->expired,
           stats->rejected, stats->seen, seconds, rate);
    return 0;
}

/* Done means every record that verified is on the signing key now: a
 * record left to a concurrent writer (4) or one that did not verify (6)
 * says otherwise. */
static int rekey_exit_status(const obol_rekey_stats *stats)
{
    if (stats->rejected > 0)
        return EXIT_REJECTED;
    return stats->conflicts > 0 ? EXIT_CONFLICT : EXIT_OK;
}

int cmd_rekey(const cli_options *o)
{
    obol_rekey_stats stats = { 0 };
    cli_progress progress;
    obol_store *st;
    obol_error err;
    double started;
    int status, code;

    code = cli_open_store(o->args[0], cli_secret_for(o, ""), "rekey", &st);
    if (code != EXIT_OK)
        return code;
    cli_progress_start(&progress, o->progress);
    started = cli_monotonic_seconds();
    status = obol_rekey(st, cli_progress_update, &progress, &stats, &err);
    cli_progress_end(&progress);
    if (status != OBOL_OK) {
        code = cli_fail_store("rekey", status, &err);
        cli_error("rekey", "stopped after rewriting %" PRIu64 " sessions "
                  "(run it again to go on)", stats.rewritten);
    } else if (print_rekey(&stats, cli_monotonic_seconds() - started, o->json) != 0) {
        code = cli_fail("rekey", OBOL_ERR_NOMEM, NULL);
    } else {
        code = rekey_exit_status(&stats);
        if (stats.seen == 0)
            cli_note_empty_prefix(st, "rekey", 1);
    }
    obol_store_close(st);
    return cli_finish_output("rekey", code);
}

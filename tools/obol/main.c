/*
 * obol: inspect, manage and migrate the sessions of an obol store from the
 * command line. This file reads the command line and dispatches; each
 * command lives in a commands_*.c file.
 */
#include "config.h"

#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"

typedef struct command {
    const char *name;
    int (*run)(const cli_options *o);
    int min_args, max_args;
    const char *operands;
} command;

static const command commands[] = {
    { "get", cmd_get, 3, 4, "URL SID UID [TYPE]" },
    { "ls", cmd_ls, 2, 3, "URL UID [TYPE | --all-types]" },
    { "rm", cmd_rm, 3, 4, "URL SID UID [TYPE]" },
    { "rm-all", cmd_rm_all, 2, 3, "URL UID [TYPE | --all-types]" },
    { "prune", cmd_prune, 1, 1, "URL" },
    { "put", cmd_put, 1, 1, "URL < session.json" },
    { "check", cmd_check, 1, 1, "URL" },
    { "export", cmd_export, 1, 1, "URL > sessions.jsonl" },
    { "import", cmd_import, 1, 1, "URL < sessions.jsonl" },
    { "migrate", cmd_migrate, 2, 2, "SRC-URL DST-URL" },
    { "rekey", cmd_rekey, 1, 1, "URL" },
};

#define COMMAND_COUNT (sizeof commands / sizeof commands[0])

static void usage(FILE *out)
{
    fputs("usage: obol [OPTIONS] COMMAND ARGS...\n\ncommands:\n", out);
    for (size_t i = 0; i < COMMAND_COUNT; i++)
        fprintf(out, "  obol %-8s %s\n", commands[i].name, commands[i].operands);
    fputs("\n"
"options:\n"
"  --json                 one JSON document per line instead of text\n"
"  --secret-file PATH     read the store's secret from PATH\n"
"  --src-secret-file PATH, --dst-secret-file PATH\n"
"                         migrate: secrets of the source and the destination\n"
"  --all-types            ls: every type of the user (walks the store);\n"
"                         rm-all: every type the URL's types= lists, and full\n"
"  --ttl DURATION         put: lifetime of a new session (default 30d)\n"
"  --refresh-ttl DURATION put: refresh window of a new session (default 7d)\n"
"  --sample N             check: records to verify (default 100)\n"
"  --output FILE          export: write to FILE, made mode 0600 (it holds\n"
"                         refresh token ids and payloads), not stdout\n"
"  --only-missing         import, migrate: write only sessions the\n"
"                         destination does not hold\n"
"  --only-newer           import, migrate: write only sessions the\n"
"                         destination does not hold or holds under a lower\n"
"                         lock_version (a cutover catch-up)\n"
"  --progress, --no-progress\n"
"                         migrate, rekey: progress bar always / never\n"
"                         (default: when stderr is a terminal)\n"
"  -q, --quiet            no warnings from the library\n"
"  -v, --verbose          every message from the library\n"
"  -h, --help             this text\n"
"  -V, --version          versions of the tool and the library\n"
"\n"
"Secrets come from the environment or a file, never from the command line:\n"
"OBOL_SECRET or --secret-file (migrate: OBOL_SRC_SECRET / OBOL_DST_SECRET or\n"
"--src-secret-file / --dst-secret-file, falling back to the former).\n"
"So do backend passwords: a URL with one in it (redis://:PASSWORD@host) is\n"
"refused; write password=env:NAME or password=file:PATH instead.\n"
"Durations are seconds or a number with s, m, h or d; or \"infinity\".\n"
"\n"
"exit status:\n"
"  0  ok\n"
"  1  not found\n"
"  2  usage error or bad input (arguments, config string, JSON, a misspelt\n"
"     command, option or scheme)\n"
"  3  backend or driver error (unreachable, timeout, no driver for the scheme)\n"
"  4  conflict (stale lock_version, or the session already exists; rekey,\n"
"     migrate --only-newer: sessions a concurrent write changed were left\n"
"     to it, run it again)\n"
"  5  no usable key (no secret given, or it cannot be read)\n"
"  6  records were refused for their seal (wrong secret or key_id, tampering):\n"
"     skipped, or (get) not shown\n"
"  7  no store at the URL (only put, import and migrate's destination make one)\n"
"\nSee obol(1).\n", out);
}

/* One line per usage error. arg comes from argv: escaped with the rest
 * of the message. */
static int usage_error(const char *fmt, const char *arg)
{
    cli_error(NULL, fmt, arg);
    return EXIT_USAGE;
}

/* Seconds, or a number with s/m/h/d, or "infinity". */
static int parse_duration(const char *text, int64_t *out)
{
    static const struct { char unit; int64_t seconds; } units[] = {
        { 's', 1 }, { 'm', 60 }, { 'h', 3600 }, { 'd', 86400 }
    };
    int64_t scale = 1;
    long long value;
    char *end;

    if (strcmp(text, "infinity") == 0) {
        *out = OBOL_INFINITE;
        return 0;
    }
    if (text[0] < '0' || text[0] > '9')
        return -1;
    errno = 0;
    value = strtoll(text, &end, 10);
    if (errno != 0)
        return -1;
    if (*end != '\0') {
        size_t i;

        for (i = 0; i < 4 && units[i].unit != *end; i++)
            ;
        if (i == 4 || end[1] != '\0')
            return -1;
        scale = units[i].seconds;
    }
    if (value > INT64_MAX / scale)
        return -1;
    *out = value * scale;
    return 0;
}

static int parse_count(const char *text, unsigned long *out)
{
    char *end;

    if (text[0] < '0' || text[0] > '9')
        return -1;
    errno = 0;
    *out = strtoul(text, &end, 10);
    return errno != 0 || *end != '\0' ? -1 : 0;
}

enum {
    OPT_JSON = 256, OPT_SECRET_FILE, OPT_SRC_SECRET_FILE, OPT_DST_SECRET_FILE,
    OPT_ALL_TYPES, OPT_TTL, OPT_REFRESH_TTL, OPT_SAMPLE, OPT_PROGRESS,
    OPT_NO_PROGRESS, OPT_OUTPUT, OPT_ONLY_MISSING, OPT_ONLY_NEWER
};

static const struct option long_options[] = {
    { "json", no_argument, NULL, OPT_JSON },
    { "secret-file", required_argument, NULL, OPT_SECRET_FILE },
    { "src-secret-file", required_argument, NULL, OPT_SRC_SECRET_FILE },
    { "dst-secret-file", required_argument, NULL, OPT_DST_SECRET_FILE },
    { "all-types", no_argument, NULL, OPT_ALL_TYPES },
    { "ttl", required_argument, NULL, OPT_TTL },
    { "refresh-ttl", required_argument, NULL, OPT_REFRESH_TTL },
    { "sample", required_argument, NULL, OPT_SAMPLE },
    { "progress", no_argument, NULL, OPT_PROGRESS },
    { "no-progress", no_argument, NULL, OPT_NO_PROGRESS },
    { "output", required_argument, NULL, OPT_OUTPUT },
    { "only-missing", no_argument, NULL, OPT_ONLY_MISSING },
    { "only-newer", no_argument, NULL, OPT_ONLY_NEWER },
    { "quiet", no_argument, NULL, 'q' },
    { "verbose", no_argument, NULL, 'v' },
    { "help", no_argument, NULL, 'h' },
    { "version", no_argument, NULL, 'V' },
    { NULL, 0, NULL, 0 }
};

/* --only-missing and --only-newer: one mode, given once. Returns -1 to go
 * on, or an exit status. */
static int set_restore_mode(int mode, cli_options *o)
{
    if (o->restore_mode != OBOL_RESTORE_REPLACE && o->restore_mode != mode)
        return usage_error("%s", "--only-missing and --only-newer exclude each other");
    o->restore_mode = mode;
    return -1;
}

/* Returns -1 to go on, or an exit status. */
static int parse_option(int c, cli_options *o)
{
    switch (c) {
    case OPT_JSON: o->json = 1; break;
    case OPT_SECRET_FILE: o->secret_file = optarg; break;
    case OPT_SRC_SECRET_FILE: o->src_secret_file = optarg; break;
    case OPT_DST_SECRET_FILE: o->dst_secret_file = optarg; break;
    case OPT_ALL_TYPES: o->all_types = 1; break;
    case OPT_PROGRESS: o->progress = 1; break;
    case OPT_NO_PROGRESS: o->progress = 0; break;
    case OPT_OUTPUT: o->output = optarg; break;
    case OPT_ONLY_MISSING:
    case OPT_ONLY_NEWER:
        return set_restore_mode(c == OPT_ONLY_MISSING ? OBOL_RESTORE_ONLY_MISSING
                                                      : OBOL_RESTORE_ONLY_NEWER, o);
    case 'q': o->quiet = 1; break;
    case 'v': o->verbose = 1; break;
    case OPT_TTL:
        if (parse_duration(optarg, &o->ttl) != 0)
            return usage_error("--ttl '%s' is not a duration", optarg);
        break;
    case OPT_REFRESH_TTL:
        if (parse_duration(optarg, &o->refresh_ttl) != 0)
            return usage_error("--refresh-ttl '%s' is not a duration", optarg);
        break;
    case OPT_SAMPLE:
        if (parse_count(optarg, &o->sample) != 0)
            return usage_error("--sample '%s' is not a count", optarg);
        break;
    case 'h':
        usage(stdout);
        return cli_finish_output("help", EXIT_OK);
    case 'V':
        printf("obol %s (libobol %s)\n", OBOL_VERSION_STRING,
               obol_version(NULL, NULL, NULL));
        return cli_finish_output("version", EXIT_OK);
    default:   /* getopt_long() returns no other value: bad_option() */
        return usage_error("%s", "unknown option (obol --help lists them)");
    }
    return -1;
}

/* How many long options start with the name text gives. */
static int long_options_starting(const char *text)
{
    size_t len = strcspn(text + 2, "=");
    int count = 0;

    for (const struct option *o = long_options; o->name != NULL; o++)
        count += strncmp(text + 2, o->name, len) == 0;
    return count;
}

/* The long option a misspelt one means, as "--name", or NULL. */
static const char *meant_option(const char *text, char *buf, size_t size)
{
    const char *names[sizeof long_options / sizeof long_options[0]];
    size_t count = 0, len = strcspn(text + 2, "=");
    const char *meant;
    char given[65];

    if (len >= sizeof given)
        return NULL;
    memcpy(given, text + 2, len);
    given[len] = '\0';
    for (const struct option *o = long_options; o->name != NULL; o++)
        names[count++] = o->name;
    meant = cli_closest(given, names, count);
    if (meant == NULL)
        return NULL;
    snprintf(buf, size, "--%s", meant);
    return buf;
}

/* Whether getopt_long()'s optopt after an error is a short option's
 * letter, not the value of a long option (or 0: a name it does not know).
 * The letters of the short options have no value to miss or refuse. */
static int short_option_refused(void)
{
    return optopt != 0 && optopt < 256 && strchr("qvhV", optopt) == NULL;
}

/*
 * One message for an option getopt_long() refused (it prints none: opterr
 * is 0). c is ':' for a missing value, '?' for the rest. A long option
 * refused is argv[optind - 1], shown up to its '='.
 */
static int bad_option(int c, char **argv)
{
    const char *word = optind > 0 ? argv[optind - 1] : "--";
    char shown[72], meant[72];

    if (short_option_refused()) {
        snprintf(shown, sizeof shown, "-%c", optopt);
        if (c == ':')
            return usage_error("option '%s' needs a value", shown);
        return usage_error("unknown option '%s' (obol --help lists them)", shown);
    }
    snprintf(shown, sizeof shown, "%.*s", (int)strcspn(word, "="), word);
    if (c == ':')
        return usage_error("option '%s' needs a value", shown);
    if (optopt != 0)
        return usage_error("option '%s' takes no value", shown);
    if (long_options_starting(word) > 1)
        return usage_error("option '%s' is ambiguous (obol --help lists them)",
                           shown);
    if (meant_option(word, meant, sizeof meant) != NULL) {
        cli_error(NULL, "unknown option '%s'; did you mean '%s'?", shown, meant);
        return EXIT_USAGE;
    }
    return usage_error("unknown option '%s' (obol --help lists them)", shown);
}

/* The command named name, or NULL after saying so (with the one meant,
 * when name is a typo of one). */
static const command *find_command(const char *name)
{
    const char *names[COMMAND_COUNT];
    const char *meant;

    for (size_t i = 0; i < COMMAND_COUNT; i++) {
        if (strcmp(name, commands[i].name) == 0)
            return &commands[i];
        names[i] = commands[i].name;
    }
    meant = cli_closest(name, names, COMMAND_COUNT);
    if (meant != NULL)
        cli_error(NULL, "unknown command '%s'; did you mean '%s'?", name, meant);
    else
        cli_error(NULL, "unknown command '%s' (commands: get, ls, rm, rm-all, "
                  "prune, put, check, export, import, migrate, rekey)", name);
    return NULL;
}

/* Options that only one command reads are refused elsewhere: a typo in a
 * script should not pass silently. */
static int check_options_fit(const command *cmd, const cli_options *o,
                             const cli_options *defaults)
{
    const char *name = cmd->name;

    if (o->all_types && strcmp(name, "ls") != 0 && strcmp(name, "rm-all") != 0)
        return usage_error("--all-types is an option of ls and rm-all, not %s", name);
    if ((o->ttl != defaults->ttl || o->refresh_ttl != defaults->refresh_ttl) &&
        strcmp(name, "put") != 0)
        return usage_error("--ttl and --refresh-ttl are options of put, not %s", name);
    if (o->sample != defaults->sample && strcmp(name, "check") != 0)
        return usage_error("--sample is an option of check, not %s", name);
    if ((o->src_secret_file || o->dst_secret_file) && strcmp(name, "migrate") != 0)
        return usage_error("--src-secret-file and --dst-secret-file are options "
                           "of migrate, not %s", name);
    if (o->output != NULL && strcmp(name, "export") != 0)
        return usage_error("--output is an option of export, not %s", name);
    if (o->restore_mode != OBOL_RESTORE_REPLACE && strcmp(name, "migrate") != 0 &&
        strcmp(name, "import") != 0)
        return usage_error("--only-missing and --only-newer are options of import "
                           "and migrate, not %s", name);
    if (o->progress != -1 && strcmp(name, "migrate") != 0 &&
        strcmp(name, "rekey") != 0)
        return usage_error("--progress and --no-progress are options of migrate "
                           "and rekey, not %s", name);
    return -1;
}

/* An empty operand is refused here, by its name in the usage line ("UID
 * is empty"), rather than by the library in its own terms. */
static int check_operands_given(const command *cmd, const cli_options *o)
{
    for (int i = 0; i < o->nargs; i++) {
        const char *name = cmd->operands;
        size_t len;

        if (o->args[i][0] != '\0')
            continue;
        for (int skip = i; skip > 0 && *name != '\0'; skip--)
            name += strcspn(name, " ") + (name[strcspn(name, " ")] == ' ');
        name += *name == '[';
        len = strcspn(name, " ]");
        fprintf(stderr, "obol: %s: %.*s is empty\n", cmd->name, (int)len, name);
        return EXIT_USAGE;
    }
    return -1;
}

int main(int argc, char **argv)
{
    const cli_options defaults = { .progress = -1, .ttl = 30 * 86400,
                                   .refresh_ttl = 7 * 86400, .sample = 100 };
    cli_options o = defaults;
    const command *cmd = NULL;
    int c, code;

    opterr = 0;   /* bad_option() says it once, in the tool's words */
    while ((c = getopt_long(argc, argv, ":qvhV", long_options, NULL)) != -1) {
        code = c == '?' || c == ':' ? bad_option(c, argv) : parse_option(c, &o);
        if (code >= 0)
            return code;
    }
    if (optind >= argc)
        return usage_error("%s", "no command given (obol --help lists them)");
    cmd = find_command(argv[optind]);
    if (cmd == NULL)
        return EXIT_USAGE;
    o.args = argv + optind + 1;
    o.nargs = argc - optind - 1;
    if (o.nargs < cmd->min_args || o.nargs > cmd->max_args) {
        fprintf(stderr, "obol: usage: obol %s %s\n", cmd->name, cmd->operands);
        return EXIT_USAGE;
    }
    code = check_operands_given(cmd, &o);
    if (code < 0)
        code = check_options_fit(cmd, &o, &defaults);
    if (code >= 0)
        return code;
    cli_log_setup(o.quiet, o.verbose);
    code = cmd->run(&o);
    cli_log_finish();
    return code;
}

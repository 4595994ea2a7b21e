/*
 * Opening stores from the command line. Secrets reach the library only
 * through the config string's secret=env:NAME or secret=file:PATH, so
 * that no secret ever appears in argv (where `ps` shows it) or in the
 * tool's memory longer than the library keeps it; a backend password in
 * a URL is refused for the same reason.
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"

cli_secret cli_secret_for(const cli_options *o, const char *role)
{
    cli_secret secret = { NULL, NULL };

    if (strcmp(role, "src") == 0) {
        if (o->src_secret_file != NULL)
            secret.file = o->src_secret_file;
        else if (getenv("OBOL_SRC_SECRET") != NULL)
            secret.env_name = "OBOL_SRC_SECRET";
    } else if (strcmp(role, "dst") == 0) {
        if (o->dst_secret_file != NULL)
            secret.file = o->dst_secret_file;
        else if (getenv("OBOL_DST_SECRET") != NULL)
            secret.env_name = "OBOL_DST_SECRET";
    }
    if (secret.file != NULL || secret.env_name != NULL)
        return secret;
    if (o->secret_file != NULL)
        secret.file = o->secret_file;
    else if (getenv("OBOL_SECRET") != NULL)
        secret.env_name = "OBOL_SECRET";
    return secret;
}

/* The value of option name in url's query ("" for a bare name), or NULL.
 * Option names are compared as written: the library refuses a second
 * secret= spelt differently, so a miss here cannot go unnoticed. */
static const char *option_in(const char *url, const char *name, size_t *value_len)
{
    const char *p = strchr(url, '?');
    size_t name_len = strlen(name);

    if (p == NULL)
        return NULL;
    for (p++; *p != '\0';) {
        size_t len = strcspn(p, "&#");

        if (len >= name_len && strncmp(p, name, name_len) == 0 &&
            (len == name_len || p[name_len] == '=')) {
            const char *value = p + name_len + (len > name_len);

            *value_len = (size_t)(p + len - value);
            return value;
        }
        if (p[len] != '&')
            break;
        p += len + 1;
    }
    return NULL;
}

/* Appends key=value to a config string under construction; value is
 * percent-encoded unless it is already in config syntax. */
static int append_option(char **config, const char *key, const char *value,
                         size_t value_len, int encode)
{
    size_t old_len = strlen(*config);
    size_t room = old_len + strlen(key) + 3 * value_len + 3;
    char *grown = realloc(*config, room);
    char *p, last;

    if (grown == NULL)
        return -1;
    p = grown + old_len;
    last = old_len > 0 ? grown[old_len - 1] : '\0';
    if (last != '?' && last != '&')
        *p++ = strchr(grown, '?') != NULL ? '&' : '?';
    p += sprintf(p, "%s=", key);
    for (size_t i = 0; i < value_len; i++) {
        unsigned char c = (unsigned char)value[i];

        if (!encode || strchr("-._~/:", c) != NULL ||
            (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') ||
            (c >= 'A' && c <= 'Z'))
            *p++ = (char)c;
        else
            p += sprintf(p, "%%%02X", c);
    }
    *p = '\0';
    *config = grown;
    return 0;
}

/* url with the secret option added; NULL when out of memory. */
static char *config_with_secret(const char *url, cli_secret secret)
{
    char *config = strdup(url);
    size_t unused;
    int status = 0;

    if (config == NULL || option_in(url, "secret", &unused) != NULL)
        return config;
    if (secret.file != NULL) {
        char *value = malloc(strlen(secret.file) + 6);

        if (value == NULL) {
            free(config);
            return NULL;
        }
        sprintf(value, "file:%s", secret.file);
        status = append_option(&config, "secret", value, strlen(value), 1);
        free(value);
    } else if (secret.env_name != NULL) {
        char value[64];

        snprintf(value, sizeof value, "env:%s", secret.env_name);
        status = append_option(&config, "secret", value, strlen(value), 0);
    }
    if (status != 0) {
        free(config);
        return NULL;
    }
    return config;
}

/*
 * Whether url's authority has a password: "scheme://user:password@host"
 * or "scheme://:password@host". The authority ends at the first '/', '?'
 * or '#', and its user information at its last '@', as uriparser reads
 * it; a ':' before that '@' starts a password.
 */
static int has_password(const char *url)
{
    const char *authority = strstr(url, "://");
    const char *at = NULL;
    size_t len;

    if (authority == NULL)
        return 0;
    authority += 3;
    len = strcspn(authority, "/?#");
    for (size_t i = 0; i < len; i++)
        if (authority[i] == '@')
            at = authority + i;
    return at != NULL && memchr(authority, ':', (size_t)(at - authority)) != NULL;
}

/*
 * URLs reach the tool only as arguments (it reads no URL from the
 * environment or a file), and every user of the machine can read those
 * in ps: a password there is refused, before it is used, with the
 * options that keep it out of argv. The URL itself is not echoed.
 */
static int refuse_password(const char *url, const char *what)
{
    if (!has_password(url))
        return EXIT_OK;
    cli_error(what, "the URL holds a password, which other users of this "
              "machine can read in ps: remove it and give it with the option "
              "password=env:NAME or password=file:PATH (for the Sentinels "
              "sentinel_password=env:NAME or =file:PATH)");
    return EXIT_USAGE;
}

/*
 * Every command needs a key (require_key=1: no secret is an error at
 * open, before the backend is touched), and only the commands that write
 * new sessions may create a store (create=0 for the others: a misspelt
 * path must not become an empty store that reads as "0 sessions"). An
 * option the URL gives itself is left as it is.
 */
static int add_open_options(char **config, int create)
{
    size_t unused;

    if (option_in(*config, "require_key", &unused) == NULL &&
        append_option(config, "require_key", "1", 1, 0) != 0)
        return -1;
    if (!create && option_in(*config, "create", &unused) == NULL &&
        append_option(config, "create", "0", 1, 0) != 0)
        return -1;
    return 0;
}

/* Where the secret of what comes from, as obol(1) says. */
static const char *secret_hint(const char *what)
{
    if (strcmp(what, "migrate: source") == 0)
        return "set OBOL_SRC_SECRET or OBOL_SECRET, or use --src-secret-file";
    if (strcmp(what, "migrate: destination") == 0)
        return "set OBOL_DST_SECRET or OBOL_SECRET, or use --dst-secret-file";
    if (strncmp(what, "migrate", 7) == 0)
        return "set OBOL_SECRET (or OBOL_SRC_SECRET and OBOL_DST_SECRET), or "
               "use --secret-file (or --src-secret-file and --dst-secret-file)";
    return "set OBOL_SECRET or use --secret-file";
}

/* The library's hint for a missing key is for programmers (set secret=
 * or call a function); cli_operator_words() cuts it and the operator's
 * goes in its place. No store where one was expected (create=0) gets the
 * hint of which commands make one. */
int cli_fail_store(const char *what, int status, const obol_error *err)
{
    char words[sizeof err->message];

    if (status == OBOL_ERR_NO_STORE) {
        cli_operator_words(err != NULL && err->message[0]
                               ? err->message : obol_strerror(status),
                           words, sizeof words);
        cli_error(what, "%s; only put, import and migrate's destination "
                  "create a store", words);
        return cli_exit_status(status);
    }
    if (status != OBOL_ERR_KEY)
        return cli_fail(what, status, err);
    cli_operator_words(err != NULL && err->message[0] ? err->message
                                                      : obol_strerror(status),
                       words, sizeof words);
    cli_error(what, "%s; %s (see SECRETS in obol(1))", words, secret_hint(what));
    return EXIT_KEY;
}

/* The schemes of the drivers of this tree (the schemes[] of each of
 * drivers/); a scheme a typo away from one of them is a usage error. */
static const char *const known_schemes[] = {
    "memory", "lmdb", "redis", "redis+unix", "redis+cluster", "redis+sentinel",
    "rediss", "rediss+cluster", "rediss+sentinel"
};

/* A driver error for a scheme that is a typo of a known one is the
 * operator's to fix, not the installation's: status 2, with the scheme
 * meant. Any other failure to open is reported as it is. */
static int fail_open(const char *url, const char *what, int status,
                     const obol_error *err)
{
    size_t len = strcspn(url, ":");
    char scheme[65], words[sizeof err->message];
    const char *meant = NULL;

    if (status == OBOL_ERR_DRIVER && url[len] == ':' && len < sizeof scheme) {
        memcpy(scheme, url, len);
        scheme[len] = '\0';
        meant = cli_closest(scheme, known_schemes,
                            sizeof known_schemes / sizeof known_schemes[0]);
    }
    if (meant == NULL)
        return cli_fail_store(what, status, err);
    cli_operator_words(err->message, words, sizeof words);
    cli_error(what, "%s; did you mean '%s'?", words, meant);
    return EXIT_USAGE;
}

static int open_store(const char *url, cli_secret secret, const char *what,
                      int create, obol_store **out)
{
    obol_error err;
    size_t unused;
    char *config;
    int status;

    if (refuse_password(url, what) != EXIT_OK)
        return EXIT_USAGE;
    if (secret.file != NULL && option_in(url, "secret", &unused) != NULL) {
        cli_error(what, "the URL has a secret= option and a secret file is "
                  "given too: use one");
        return EXIT_USAGE;
    }
    config = config_with_secret(url, secret);
    if (config != NULL && add_open_options(&config, create) != 0) {
        free(config);
        config = NULL;
    }
    if (config == NULL) {
        cli_error(what, "out of memory");
        return EXIT_BACKEND;
    }
    status = obol_store_open(config, out, &err);
    free(config);
    if (status != OBOL_OK)
        return fail_open(url, what, status, &err);
    obol_store_set_logger(*out, cli_log, NULL);
    obol_store_set_event_hook(*out, cli_note_refusal, NULL);
    return EXIT_OK;
}

int cli_open_store(const char *url, cli_secret secret, const char *what,
                   obol_store **out)
{
    return open_store(url, secret, what, 0, out);
}

int cli_open_store_to_fill(const char *url, cli_secret secret,
                           const char *what, obol_store **out)
{
    return open_store(url, secret, what, 1, out);
}

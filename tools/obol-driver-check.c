/*
 * obol-driver-check: the conformance suite for obol drivers.
 *
 *   obol-driver-check [--driver-path DIRS] [--timeout SECONDS] URL
 *
 * Runs every case of the store-semantics and driver-contract suite (the one
 * `make check` runs on the lmdb, redis and memory drivers) against the
 * backend named by URL, each case in a store of its own under a fresh
 * prefix, and deletes what each case wrote when it ends, passed or failed.
 * Prints each case as it runs and ends with "N passed, N failed".
 * --driver-path hands DIRS to obol_set_driver_path(), the way an
 * application names where its drivers are (a URL cannot). --timeout is
 * the time limit of one case (default 60 s): a case that does not finish,
 * a deadlock most likely, ends the run naming it.
 *
 * Before any case, the URL must open a store and must not set a prefix: a
 * URL that cannot work is one usage error, not a failure of every case.
 *
 * Exit status: 0 all passed, 1 a case failed, 2 usage (the URL included),
 * 3 a case did not finish within the time limit.
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <obol/obol.h>

#include "config_internal.h"
#include "store_suite.h"
#include "suite_watchdog.h"

#define PROBE_PREFIX "obol-driver-check-probe"
#define MAX_TIMEOUT_S 86400

static void usage(FILE *out)
{
    fprintf(out,
            "usage: obol-driver-check [--driver-path DIRS] [--timeout SECONDS] URL\n"
            "Runs the obol driver conformance suite against the store URL,\n"
            "for example 'lmdb:///tmp/check' or 'mydriver://host'.\n"
            "--driver-path: colon-separated absolute directories searched for\n"
            "the driver first (obol_set_driver_path()).\n"
            "--timeout: the time limit of one case, in seconds (default %d).\n"
            "The URL must not set 'prefix': every case uses one of its own.\n",
            SUITE_DEFAULT_TIMEOUT_S);
}

/* The driver path given with --driver-path, if any; 0, or 2 (usage). */
static int set_driver_path(const char *dirs)
{
    obol_error err;

    if (obol_set_driver_path(dirs, &err) == OBOL_OK)
        return 0;
    fprintf(stderr, "obol-driver-check: --driver-path: %s\n", err.message);
    return 2;
}

static int set_timeout(const char *text)
{
    char *end;
    unsigned long seconds = strtoul(text, &end, 10);

    if (text[0] < '0' || text[0] > '9' || *end != '\0' || seconds == 0 ||
        seconds > MAX_TIMEOUT_S) {
        fprintf(stderr, "obol-driver-check: --timeout: '%s' is not a whole "
                        "number of seconds from 1 to %d\n", text, MAX_TIMEOUT_S);
        return 2;
    }
    suite_watchdog_set_timeout((unsigned)seconds);
    return 0;
}

/* Whether url, as the cases will extend it, can work: it parses, it sets
 * no prefix (each case appends one, and a prefix given twice is refused),
 * and a store opens on it, driver loaded and backend reached. 0, or 2
 * with one message. */
static int check_url(const char *url)
{
    char probe[4200];
    obol_config config;
    obol_store *st = NULL;
    obol_error err;

    if (obol_config_parse(url, &config, &err) != OBOL_OK) {
        fprintf(stderr, "obol-driver-check: %s\n", err.message);
        return 2;
    }
    obol_config_clear(&config);
    snprintf(probe, sizeof probe, "%s%cprefix=" PROBE_PREFIX, url,
             strchr(url, '?') != NULL ? '&' : '?');
    /* The string parses without the prefix and not with it: it has one. */
    if (obol_config_parse(probe, &config, &err) != OBOL_OK) {
        fprintf(stderr, "obol-driver-check: the URL sets 'prefix'; leave it "
                        "out, as every case uses a prefix of its own\n");
        return 2;
    }
    obol_config_clear(&config);
    if (obol_store_open(probe, &st, &err) != OBOL_OK) {
        fprintf(stderr, "obol-driver-check: the URL does not open a store: "
                        "%s\n", err.message);
        return 2;
    }
    obol_store_close(st);
    return 0;
}

int main(int argc, char **argv)
{
    size_t total = store_suite_count();
    int failed, at = 1;

    if (argc == 2 && (strcmp(argv[1], "-h") == 0 || strcmp(argv[1], "--help") == 0)) {
        usage(stdout);
        return 0;
    }
    while (at + 1 < argc && strncmp(argv[at], "--", 2) == 0) {
        int status;
        if (strcmp(argv[at], "--driver-path") == 0)
            status = set_driver_path(argv[at + 1]);
        else if (strcmp(argv[at], "--timeout") == 0)
            status = set_timeout(argv[at + 1]);
        else
            break;
        if (status != 0)
            return status;
        at += 2;
    }
    if (at != argc - 1 || argv[at][0] == '\0' || argv[at][0] == '-') {
        usage(stderr);
        return 2;
    }
    if (check_url(argv[at]) != 0)
        return 2;
    failed = store_suite_run("obol-driver-check", argv[at]);
    if (failed < 0)
        failed = (int)total;
    fflush(stdout);
    printf("%zu passed, %d failed\n", total - (size_t)failed, failed);
    return failed == 0 ? 0 : 1;
}

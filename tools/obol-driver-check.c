/*
 * obol-driver-check: the conformance suite for obol drivers.
 *
 *   obol-driver-check [--driver-path DIRS] URL
 *
 * Runs every case of the store-semantics and driver-contract suite (the one
 * `make check` runs on the lmdb, redis and memory drivers) against the
 * backend named by URL, each case in a store of its own under a fresh
 * prefix. Prints each case as it runs and ends with "N passed, N failed".
 * --driver-path hands DIRS to obol_set_driver_path(), the way an
 * application names where its drivers are (a URL cannot).
 * Exit status: 0 all passed, 1 a case failed, 2 usage.
 */
#include "config.h"

#include <stdio.h>
#include <string.h>

#include <obol/obol.h>

#include "store_suite.h"

static void usage(FILE *out)
{
    fprintf(out,
            "usage: obol-driver-check [--driver-path DIRS] URL\n"
            "Runs the obol driver conformance suite against the store URL,\n"
            "for example 'lmdb:///tmp/check' or 'mydriver://host'.\n"
            "--driver-path: colon-separated absolute directories searched for\n"
            "the driver first (obol_set_driver_path()).\n"
            "The URL must not set 'prefix': every case uses one of its own.\n");
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

int main(int argc, char **argv)
{
    size_t total = store_suite_count();
    int failed;

    if (argc == 2 && (strcmp(argv[1], "-h") == 0 || strcmp(argv[1], "--help") == 0)) {
        usage(stdout);
        return 0;
    }
    if (argc == 4 && strcmp(argv[1], "--driver-path") == 0) {
        if (set_driver_path(argv[2]) != 0)
            return 2;
        argc -= 2;
        argv += 2;
    }
    if (argc != 2 || argv[1][0] == '\0' || argv[1][0] == '-') {
        usage(stderr);
        return 2;
    }
    failed = store_suite_run("obol-driver-check", argv[1]);
    if (failed < 0)
        failed = (int)total;
    fflush(stdout);
    printf("%zu passed, %d failed\n", total - (size_t)failed, failed);
    return failed == 0 ? 0 : 1;
}

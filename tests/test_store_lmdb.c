/* The store-semantics suite on the LMDB driver, in a fresh directory. */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>

#include "store_suite.h"
#include "tmpdir.h"

int main(void)
{
    char *dir = tmpdir_make("store-lmdb");
    char url[4200];
    int failures;

    if (dir == NULL) {
        perror("mkdtemp");
        return 1;
    }
    snprintf(url, sizeof url, "lmdb://%s", dir);
    failures = store_suite_run("store/lmdb", url);
    tmpdir_remove(dir);
    return failures == 0 ? 0 : 1;
}

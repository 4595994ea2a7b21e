#include "config.h"

#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "tmpdir.h"

char *tmpdir_make(const char *tag)
{
    const char *base = getenv("TMPDIR");
    char *path;

    if (base == NULL || base[0] == '\0')
        base = "/tmp";
    if (asprintf(&path, "%s/obol-%s.XXXXXX", base, tag) < 0)
        return NULL;
    if (mkdtemp(path) == NULL) {
        free(path);
        return NULL;
    }
    return path;
}

static int remove_entry(const char *path, const struct stat *sb, int flag,
                        struct FTW *ftw)
{
    (void)sb;
    (void)flag;
    (void)ftw;
    return remove(path);
}

void tmpdir_remove(char *path)
{
    if (path == NULL)
        return;
    nftw(path, remove_entry, 16, FTW_DEPTH | FTW_PHYS);
    free(path);
}

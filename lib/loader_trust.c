/*
 * Whether a driver file may be loaded: dlopen() runs the file's
 * constructors before any check of its table, so whoever can write the
 * file, or the directory that holds it, runs code in this process. The
 * loader therefore loads only a regular file that nobody but root and the
 * effective user can change, from directories that nobody else can change
 * either. See docs/DRIVERS.md, "What the loader trusts".
 */
#include "config.h"

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "errors_internal.h"
#include "loader_internal.h"

/* Why a file or directory with these attributes is not trusted, written
 * into why; NULL when it is. World first: it is the wider opening. */
static const char *distrust(const struct stat *st, char *why, size_t size)
{
    uid_t euid = geteuid();

    if (st->st_mode & S_IWOTH)
        return "is writable by everyone";
    if (st->st_mode & S_IWGRP)
        return "is writable by its group";
    if (st->st_uid != 0 && st->st_uid != euid) {
        snprintf(why, size, "is owned by uid %ju, neither root nor the "
                 "effective user %ju", (uintmax_t)st->st_uid,
                 (uintmax_t)euid);
        return why;
    }
    return NULL;
}

/* Checks one resolved path (no symbolic links left in it): of the kind
 * expected (S_IFREG or S_IFDIR) and trusted. file is the driver as found,
 * for the message. */
static int check_path(const char *file, const char *path, mode_t kind,
                      obol_error *err)
{
    const char *what = kind == S_IFDIR ? "directory" : "file";
    const char *reason;
    struct stat st;
    char why[96];

    if (stat(path, &st) != 0)
        return obol_set_error(err, OBOL_ERR_DRIVER,
                              "driver %s: not loaded: cannot stat %s %s: %s",
                              file, what, path, strerror(errno));
    if ((st.st_mode & S_IFMT) != kind)
        return obol_set_error(err, OBOL_ERR_DRIVER,
                              "driver %s: not loaded: %s is not a %s", file,
                              path, kind == S_IFDIR ? "directory"
                                                    : "regular file");
    reason = distrust(&st, why, sizeof why);
    if (reason != NULL)
        return obol_set_error(err, OBOL_ERR_DRIVER,
                              "driver %s: not loaded: %s %s %s", file, what,
                              path, reason);
    return OBOL_OK;
}

/* realpath() into *out (malloc()ed); file is the driver, for messages. */
static int resolve(const char *file, const char *path, char **out,
                   obol_error *err)
{
    *out = realpath(path, NULL);
    if (*out != NULL)
        return OBOL_OK;
    if (errno == ENOMEM)
        return obol_set_error(err, OBOL_ERR_NOMEM,
                              "driver %s: out of memory resolving %s", file,
                              path);
    return obol_set_error(err, OBOL_ERR_DRIVER,
                          "driver %s: not loaded: cannot resolve %s: %s",
                          file, path, strerror(errno));
}

/* The directory part of path ("/" for "/x"), malloc()ed. */
static int directory_of(const char *file, const char *path, char **out,
                        obol_error *err)
{
    const char *slash = strrchr(path, '/');
    size_t len = slash == NULL || slash == path ? 1 : (size_t)(slash - path);

    *out = slash == NULL ? strdup("/") : strndup(path, len);
    if (*out == NULL)
        return obol_set_error(err, OBOL_ERR_NOMEM,
                              "driver %s: out of memory", file);
    return OBOL_OK;
}

/*
 * Checked: the file after every symbolic link is followed; the directory
 * that holds that file; and the directory searched, which holds the name
 * (with a symbolic link in it, whoever can write there chooses the
 * target), when it resolves elsewhere.
 */
int obol_loader_trust(const char *file, char **resolved, obol_error *err)
{
    char *real_file = NULL, *searched = NULL, *real_searched = NULL;
    char *holder = NULL;
    int status;

    status = resolve(file, file, &real_file, err);
    if (status == OBOL_OK)
        status = check_path(file, real_file, S_IFREG, err);
    if (status == OBOL_OK)
        status = directory_of(file, real_file, &holder, err);
    if (status == OBOL_OK)
        status = check_path(file, holder, S_IFDIR, err);
    if (status == OBOL_OK)
        status = directory_of(file, file, &searched, err);
    if (status == OBOL_OK)
        status = resolve(file, searched, &real_searched, err);
    if (status == OBOL_OK && strcmp(real_searched, holder) != 0)
        status = check_path(file, real_searched, S_IFDIR, err);
    free(holder);
    free(searched);
    free(real_searched);
    if (status != OBOL_OK) {
        free(real_file);
        return status;
    }
    *resolved = real_file;
    return OBOL_OK;
}

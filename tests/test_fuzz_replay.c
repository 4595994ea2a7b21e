/*
 * Replays the committed corpus of one fuzz target without libFuzzer: every
 * file of $srcdir/tests/corpus/FUZZ_TARGET, in name order, goes through the
 * target's LLVMFuzzerTestOneInput(), one TAP line per file. Built once per
 * target with the normal compiler (tests/fuzz.mk), so that every build runs
 * the inputs that once found a bug or opened a new path. A failed check of
 * the target aborts, which ends the program and fails the test;
 * `make check-valgrind` adds memcheck's checks to the targets' own.
 *
 * Files or directories given as arguments are replayed instead: a
 * reproducer can be run through the plain build as well as the fuzzer.
 */
#include "config.h"

#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "fuzz.h"

#ifndef FUZZ_TARGET
#error "FUZZ_TARGET must name the target's corpus directory"
#endif

/* The files to replay, in order. */
typedef struct input_list {
    char **paths;
    size_t count;
    size_t capacity;
} input_list;

static int add_path(input_list *list, const char *dir, const char *name)
{
    size_t len = strlen(dir) + 1 + strlen(name) + 1;
    char *path = malloc(len);

    if (path == NULL)
        return -1;
    if (dir[0] != '\0')
        snprintf(path, len, "%s/%s", dir, name);
    else
        snprintf(path, len, "%s", name);
    if (list->count == list->capacity) {
        size_t capacity = list->capacity ? list->capacity * 2 : 64;
        char **bigger = realloc(list->paths, capacity * sizeof *bigger);

        if (bigger == NULL) {
            free(path);
            return -1;
        }
        list->paths = bigger;
        list->capacity = capacity;
    }
    list->paths[list->count++] = path;
    return 0;
}

static int not_hidden(const struct dirent *entry)
{
    return entry->d_name[0] != '.';
}

/* Adds every file of dir (not its dot files), sorted by name, so that the
 * test numbers mean the same inputs on every run. */
static int add_dir(input_list *list, const char *dir)
{
    struct dirent **entries;
    int n = scandir(dir, &entries, not_hidden, alphasort);
    int status = 0;

    if (n < 0) {
        printf("Bail out! cannot list %s: %s\n", dir, strerror(errno));
        return -1;
    }
    for (int i = 0; i < n; i++) {
        if (status == 0 && add_path(list, dir, entries[i]->d_name) != 0) {
            printf("Bail out! out of memory listing %s\n", dir);
            status = -1;
        }
        free(entries[i]);
    }
    free(entries);
    return status;
}

static int add_argument(input_list *list, const char *arg)
{
    struct stat info;

    if (stat(arg, &info) != 0) {
        printf("Bail out! %s: %s\n", arg, strerror(errno));
        return -1;
    }
    if (S_ISDIR(info.st_mode))
        return add_dir(list, arg);
    if (add_path(list, "", arg) != 0) {
        printf("Bail out! out of memory\n");
        return -1;
    }
    return 0;
}

/* The whole file in a buffer of exactly its size, so that memcheck sees a
 * read past the input's end. */
static int read_input(const char *path, uint8_t **data, size_t *size)
{
    FILE *f = fopen(path, "rb");
    long len;

    if (f == NULL)
        return -1;
    if (fseek(f, 0, SEEK_END) != 0 || (len = ftell(f)) < 0 ||
        fseek(f, 0, SEEK_SET) != 0) {
        fclose(f);
        return -1;
    }
    *size = (size_t)len;
    *data = malloc(*size > 0 ? *size : 1);
    if (*data == NULL || fread(*data, 1, *size, f) != *size) {
        free(*data);
        fclose(f);
        return -1;
    }
    fclose(f);
    return 0;
}

/* One TAP line per input; the target itself aborts on a failed check. */
static int replay(const input_list *list)
{
    int failed = 0;

    printf("1..%zu\n", list->count);
    for (size_t i = 0; i < list->count; i++) {
        uint8_t *data;
        size_t size;

        fflush(stdout);   /* what ran before a crash is on record */
        if (read_input(list->paths[i], &data, &size) != 0) {
            printf("not ok %zu - %s: cannot read: %s\n", i + 1,
                   list->paths[i], strerror(errno));
            failed = 1;
            continue;
        }
        if (LLVMFuzzerTestOneInput(data, size) != 0) {
            printf("not ok %zu - %s: the target returned non-zero\n", i + 1,
                   list->paths[i]);
            failed = 1;
        } else {
            printf("ok %zu - %s (%zu bytes)\n", i + 1, list->paths[i], size);
        }
        free(data);
    }
    return failed;
}

int main(int argc, char **argv)
{
    const char *srcdir = getenv("srcdir");
    input_list list = { NULL, 0, 0 };
    char corpus[4096];
    int status = 0;

    if (argc > 1) {
        for (int i = 1; i < argc && status == 0; i++)
            status = add_argument(&list, argv[i]);
    } else {
        snprintf(corpus, sizeof corpus, "%s/tests/corpus/%s",
                 srcdir != NULL && srcdir[0] != '\0' ? srcdir : ".",
                 FUZZ_TARGET);
        status = add_dir(&list, corpus);
        if (status == 0 && list.count == 0) {
            printf("Bail out! %s holds no input\n", corpus);
            status = -1;
        }
    }
    if (status == 0)
        status = replay(&list);
    for (size_t i = 0; i < list.count; i++)
        free(list.paths[i]);
    free(list.paths);
    return status == 0 ? 0 : 1;
}

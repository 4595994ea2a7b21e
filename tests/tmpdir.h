/* Temporary directories for tests: made under $TMPDIR (or /tmp), removed
 * with everything in them, so that runs never share a path. */
#ifndef OBOL_TEST_TMPDIR_H
#define OBOL_TEST_TMPDIR_H

/* A new empty directory, malloc()ed path; NULL on failure. */
char *tmpdir_make(const char *tag);

/* Removes the directory tree and frees path. */
void tmpdir_remove(char *path);

#endif

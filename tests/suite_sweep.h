/*
 * Cleaning up after each conformance case, whether it passed or failed:
 * every record written under a prefix the case made is deleted, and every
 * scratch directory it made is removed. Cases leave records behind on
 * purpose (expired ones, ones refused for their seal) and a failed case
 * leaves whatever it had written; on a backend that keeps files, say one
 * per record, a run of the suite would otherwise leave hundreds.
 */
#ifndef OBOL_TEST_SUITE_SWEEP_H
#define OBOL_TEST_SUITE_SWEEP_H

/* Remembers url, a config string with a prefix of this case's own, to be
 * swept when the case ends. */
void suite_sweep_note_url(const char *url);

/* Takes dir (from tmpdir_make()), to be removed with all it holds when the
 * case ends. */
void suite_sweep_note_dir(char *dir);

/* Deletes every record under each url noted since the last sweep and
 * removes each noted directory. Run from the teardown, which cmocka runs
 * after a failed case too. Prints a "#" line for what it could not
 * delete; never fails the case. */
void suite_sweep(void);

#endif

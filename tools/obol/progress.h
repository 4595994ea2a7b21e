/*
 * The progress bar of migrate and rekey: drawn on stderr, and only when
 * stderr is a terminal (or when asked), so that logs and pipes stay clean.
 * On a terminal it fits the width the terminal has at each redraw and is
 * erased at the end, so that what follows starts on a clean line.
 */
#ifndef OBOL_CLI_PROGRESS_H
#define OBOL_CLI_PROGRESS_H

#include <obol/obol.h>

typedef struct cli_progress {
    int enabled;
    int terminal;      /* stderr is a terminal: redraw in place, erase at the end */
    double started;    /* monotonic seconds */
    double last_drawn;
    int drawn;         /* a bar is on the line and needs erasing or ending */
    long delay_us;     /* OBOL_PROGRESS_TEST_DELAY_US: a pause per update */
} cli_progress;

/* mode: -1 when stderr is a terminal, 0 never, 1 always. */
void cli_progress_start(cli_progress *p, int mode);

/* An obol_progress_fn; arg is the cli_progress. */
void cli_progress_update(void *arg, const obol_migrate_stats *so_far);

/* Takes the bar being drawn, if any, off its line, so that a message
 * printed on stderr during the walk (a warning) starts at column 0; the
 * next update draws the bar again below it. */
void cli_progress_clear(void);

/* Erases the bar on a terminal, or ends its line anywhere else. */
void cli_progress_end(cli_progress *p);

#endif

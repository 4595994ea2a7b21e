/*
 * The migration progress bar: drawn on stderr, and only when stderr is a
 * terminal (or when asked), so that logs and pipes stay clean.
 */
#ifndef OBOL_CLI_PROGRESS_H
#define OBOL_CLI_PROGRESS_H

#include <obol/obol.h>

typedef struct cli_progress {
    int enabled;
    double started;    /* monotonic seconds */
    double last_drawn;
    int drawn;         /* a bar is on the line and needs ending */
} cli_progress;

/* mode: -1 when stderr is a terminal, 0 never, 1 always. */
void cli_progress_start(cli_progress *p, int mode);

/* An obol_progress_fn; arg is the cli_progress. */
void cli_progress_update(void *arg, const obol_migrate_stats *so_far);

/* Ends the bar's line, if one was drawn. */
void cli_progress_end(cli_progress *p);

#endif

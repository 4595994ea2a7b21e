/*
 * A one-line progress bar with rate and time left, redrawn in place with a
 * carriage return at most ten times a second.
 */
#include "config.h"

#include <inttypes.h>
#include <stdio.h>
#include <unistd.h>

#include "cli.h"
#include "progress.h"

#define BAR_WIDTH 30
#define REDRAW_SECONDS 0.1

void cli_progress_start(cli_progress *p, int mode)
{
    p->enabled = mode < 0 ? isatty(STDERR_FILENO) : mode;
    p->started = cli_monotonic_seconds();
    p->last_drawn = 0;
    p->drawn = 0;
}

/* "1:02:03", "2:03", or "--:--" when unknown. */
static void format_duration(double seconds, char *buf, size_t size)
{
    int whole;

    if (!(seconds >= 0) || seconds > 359999) {
        snprintf(buf, size, "--:--");
        return;
    }
    whole = (int)(seconds + 0.5);
    if (whole >= 3600)
        snprintf(buf, size, "%d:%02d:%02d", whole / 3600, whole / 60 % 60,
                 whole % 60);
    else
        snprintf(buf, size, "%d:%02d", whole / 60, whole % 60);
}

static void draw(cli_progress *p, const obol_migrate_stats *so_far, double now)
{
    double elapsed = now - p->started;
    double fraction = so_far->total ? (double)so_far->seen / (double)so_far->total : 1;
    double rate = elapsed > 0 ? (double)so_far->seen / elapsed : 0;
    int filled = (int)(fraction * BAR_WIDTH);
    char eta[32];

    format_duration(rate > 0 ? (double)(so_far->total - so_far->seen) / rate : -1,
                    eta, sizeof eta);
    fputc('\r', stderr);
    fputc('[', stderr);
    for (int i = 0; i < BAR_WIDTH; i++)
        fputc(i < filled ? '#' : '.', stderr);
    fprintf(stderr, "] %3d%%  %" PRIu64 "/%" PRIu64 "  %.0f/s  ETA %s  ",
            (int)(fraction * 100), so_far->seen, so_far->total, rate, eta);
    fflush(stderr);
    p->drawn = 1;
    p->last_drawn = now;
}

void cli_progress_update(void *arg, const obol_migrate_stats *so_far)
{
    cli_progress *p = arg;
    double now;

    if (!p->enabled)
        return;
    now = cli_monotonic_seconds();
    if (now - p->last_drawn >= REDRAW_SECONDS || so_far->seen == so_far->total)
        draw(p, so_far, now);
}

void cli_progress_end(cli_progress *p)
{
    if (p->drawn)
        fputc('\n', stderr);
    p->drawn = 0;
}

/*
 * A one-line progress bar with rate and time left, redrawn in place with a
 * carriage return at most ten times a second.
 *
 * On a terminal the line is never longer than the terminal's width minus
 * one: a line that fills the last column leaves the cursor waiting to wrap,
 * and one that wraps cannot be redrawn by a carriage return, which leaves
 * a trail of half bars. The width is read again at each redraw (one ioctl,
 * ten times a second at most), so a resized window is followed without a
 * SIGWINCH handler. As the width shrinks the bar gives up the rate, then
 * the time left, then the bar itself, then the counts; below five columns
 * nothing is drawn. The line holds only digits and ASCII punctuation: no
 * text from a record ever reaches it.
 */
#include "config.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"
#include "progress.h"

#define MAX_CELLS 30
#define MIN_CELLS 10
#define REDRAW_SECONDS 0.1
#define DEFAULT_COLUMNS 80       /* when stderr is not a terminal */
#define MAX_LINE_BYTES 256
#define MAX_TEST_DELAY_US 1000000L
#define ERASE_TO_END "\033[K"           /* EL: from the cursor to the end */
#define ERASE_LINE "\r" ERASE_TO_END     /* back to column 0, then erase */

/* What a redraw shows, in the order tried: each gives up more of the line. */
typedef struct layout {
    int bar, counts, rate, eta;
} layout;

static const layout layouts[] = {
    { 1, 1, 1, 1 }, { 1, 1, 0, 1 }, { 1, 1, 0, 0 },
    { 0, 1, 0, 1 }, { 0, 1, 0, 0 }, { 0, 0, 0, 0 },
};

/* The numbers of one redraw, formatted once. */
typedef struct fields {
    double fraction;
    char percent[8];
    char counts[48];
    char rate[32];
    char eta[40];
} fields;

/* The bar being drawn, for cli_progress_clear(). */
static cli_progress *active;

/* OBOL_PROGRESS_TEST_DELAY_US slows each update down, so that a test can
 * look at the bar while it is drawn; nothing else sets it. */
static long test_delay_us(void)
{
    const char *text = getenv("OBOL_PROGRESS_TEST_DELAY_US");
    char *end;
    long us;

    if (text == NULL || *text == '\0')
        return 0;
    us = strtol(text, &end, 10);
    if (*end != '\0' || us <= 0)
        return 0;
    return us < MAX_TEST_DELAY_US ? us : MAX_TEST_DELAY_US;
}

void cli_progress_start(cli_progress *p, int mode)
{
    p->terminal = isatty(STDERR_FILENO);
    p->enabled = mode < 0 ? p->terminal : mode;
    p->started = cli_monotonic_seconds();
    p->last_drawn = 0;
    p->drawn = 0;
    p->delay_us = p->enabled ? test_delay_us() : 0;
    active = p->enabled ? p : NULL;
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

static int decimal_digits(uint64_t n)
{
    int digits = 1;

    while (n >= 10) {
        n /= 10;
        digits++;
    }
    return digits;
}

/* Seconds left at this rate: 0 when done, -1 when it cannot tell yet. */
static double seconds_left(const obol_migrate_stats *so_far, double rate)
{
    if (so_far->seen >= so_far->total)
        return 0;
    return rate > 0 ? (double)(so_far->total - so_far->seen) / rate : -1;
}

static void make_fields(const obol_migrate_stats *so_far, double elapsed,
                        fields *f)
{
    double rate = elapsed > 0 ? (double)so_far->seen / elapsed : 0;
    char duration[24];

    f->fraction = so_far->total ? (double)so_far->seen / (double)so_far->total : 1;
    if (f->fraction > 1)
        f->fraction = 1;
    snprintf(f->percent, sizeof f->percent, "%3d%%", (int)(f->fraction * 100));
    /* seen padded to total's width, so that the line does not shift. */
    snprintf(f->counts, sizeof f->counts, "%*" PRIu64 "/%" PRIu64,
             decimal_digits(so_far->total), so_far->seen, so_far->total);
    snprintf(f->rate, sizeof f->rate, "%.0f/s", rate < 1e15 ? rate : 1e15);
    format_duration(seconds_left(so_far, rate), duration, sizeof duration);
    snprintf(f->eta, sizeof f->eta, "ETA %s", duration);
}

/* The numbers a layout shows: " 47%  4700/10000  8123/s  ETA 0:01". */
static size_t join_numbers(const fields *f, const layout *l, char *buf,
                           size_t size)
{
    int n = snprintf(buf, size, "%s%s%s%s%s%s%s", f->percent,
                     l->counts ? "  " : "", l->counts ? f->counts : "",
                     l->rate ? "  " : "", l->rate ? f->rate : "",
                     l->eta ? "  " : "", l->eta ? f->eta : "");

    return n < 0 ? 0 : (size_t)n < size ? (size_t)n : size - 1;
}

/* Writes into line the first (the fullest) layout that fits in avail columns
 * and returns its length: 0 when not even the percentage fits. */
static size_t format_line(const fields *f, size_t avail, char *line, size_t size)
{
    char numbers[MAX_LINE_BYTES];

    if (avail > size - 1)
        avail = size - 1;
    for (size_t i = 0; i < sizeof layouts / sizeof layouts[0]; i++) {
        size_t n = join_numbers(f, &layouts[i], numbers, sizeof numbers);
        size_t cells, filled;

        if (!layouts[i].bar) {
            if (n > avail)
                continue;
            memcpy(line, numbers, n + 1);
            return n;
        }
        if (n + 3 + MIN_CELLS > avail)   /* "[", "] " around the cells */
            continue;
        cells = avail - n - 3 < MAX_CELLS ? avail - n - 3 : MAX_CELLS;
        filled = (size_t)(f->fraction * (double)cells);
        line[0] = '[';
        memset(line + 1, '#', filled);
        memset(line + 1 + filled, '.', cells - filled);
        memcpy(line + 1 + cells, "] ", 2);
        memcpy(line + 3 + cells, numbers, n + 1);
        return n + 3 + cells;
    }
    line[0] = '\0';
    return 0;
}

/* The terminal's width now, or DEFAULT_COLUMNS when it cannot tell. */
static size_t stream_columns(const cli_progress *p)
{
    struct winsize size;

    if (p->terminal && ioctl(STDERR_FILENO, TIOCGWINSZ, &size) == 0 &&
        size.ws_col > 0)
        return size.ws_col;
    return DEFAULT_COLUMNS;
}

static void draw(cli_progress *p, const obol_migrate_stats *so_far, double now)
{
    char line[MAX_LINE_BYTES];
    fields f;
    size_t len;

    make_fields(so_far, now - p->started, &f);
    len = format_line(&f, stream_columns(p) - 1, line, sizeof line);
    if (p->terminal) {
        /* The erase after the text, not before it, so that it does not
         * flicker; it wipes what a longer previous line left. */
        fprintf(stderr, "\r%s" ERASE_TO_END, line);
        p->drawn = len > 0;
    } else {
        /* A log or a pipe, asked for with --progress: as before, lines
         * parted by carriage returns, ended by a newline. */
        fprintf(stderr, "\r%s  ", line);
        p->drawn = 1;
    }
    fflush(stderr);
    p->last_drawn = now;
}

static void pause_for_test(long us)
{
    struct timespec pause = { us / 1000000, us % 1000000 * 1000 };

    nanosleep(&pause, NULL);
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
    if (p->delay_us > 0)
        pause_for_test(p->delay_us);
}

/* Leaves the cursor at column 0 of a line with no bar on it. */
static void take_off_line(cli_progress *p)
{
    if (!p->drawn)
        return;
    fputs(p->terminal ? ERASE_LINE : "\n", stderr);
    fflush(stderr);
    p->drawn = 0;
}

void cli_progress_clear(void)
{
    if (active == NULL || !active->drawn)
        return;
    take_off_line(active);
    active->last_drawn = 0;   /* draw it again at the next update */
}

void cli_progress_end(cli_progress *p)
{
    take_off_line(p);
    if (active == p)
        active = NULL;
}

/*
 * The per-case time limit (see suite_watchdog.h). Each case's setup is
 * replaced by one that arms alarm() and then runs the case's own, and its
 * teardown by one that runs the case's own and disarms it. The wrappers
 * find the case through cmocka's initial_state, which reaches the setup as
 * *state before the setup puts its fixture there.
 */
#include "config.h"

#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include <cmocka.h>

#include "suite_watchdog.h"

typedef struct watched_case {
    const char *name;
    CMFixtureFunction setup;
    CMFixtureFunction teardown;
    void *initial_state;
} watched_case;

static unsigned timeout_s = SUITE_DEFAULT_TIMEOUT_S;
static int timeout_set;               /* by suite_watchdog_set_timeout() */
static const char *group;
static const watched_case *current;   /* the case running, for teardown */

/* Written by the signal handler, so formatted before the case starts:
 * write() is all a handler may use. */
static char timeout_line[512];
static size_t timeout_line_len;

void suite_watchdog_set_timeout(unsigned seconds)
{
    timeout_s = seconds != 0 ? seconds : SUITE_DEFAULT_TIMEOUT_S;
    timeout_set = seconds != 0;
}

/* OBOL_SUITE_TIMEOUT_S, a whole number of seconds from 1 to a day,
 * replaces the default (`make check-valgrind` needs far longer), but not
 * a limit set with suite_watchdog_set_timeout() (obol-driver-check
 * --timeout). */
static void timeout_from_environment(void)
{
    const char *text = getenv("OBOL_SUITE_TIMEOUT_S");
    char *end;
    unsigned long seconds;

    if (timeout_set || text == NULL || text[0] < '0' || text[0] > '9')
        return;
    seconds = strtoul(text, &end, 10);
    if (*end == '\0' && seconds >= 1 && seconds <= 86400)
        timeout_s = (unsigned)seconds;
}

static void on_timeout(int signo)
{
    ssize_t ignored;

    (void)signo;
    ignored = write(STDOUT_FILENO, timeout_line, timeout_line_len);
    (void)ignored;
    _exit(SUITE_TIMEOUT_EXIT);
}

static int tap_output(void)
{
    const char *output = getenv("CMOCKA_MESSAGE_OUTPUT");

    return output != NULL && strcasecmp(output, "TAP") == 0;
}

static void arm(const char *name)
{
    int n = snprintf(timeout_line, sizeof timeout_line,
                     "%s%s: case %s did not finish within %u s\n",
                     tap_output() ? "Bail out! " : "", group, name, timeout_s);

    timeout_line_len = n < 0 ? 0 : (size_t)n < sizeof timeout_line
                                       ? (size_t)n : sizeof timeout_line - 1;
    /* What the cases before printed must come out before the line, and
     * _exit() flushes nothing. */
    fflush(stdout);
    fflush(stderr);
    alarm(timeout_s);
}

static int watched_setup(void **state)
{
    const watched_case *c = *state;

    current = c;
    arm(c->name);
    *state = c->initial_state;
    return c->setup != NULL ? c->setup(state) : 0;
}

static int watched_teardown(void **state)
{
    int status = 0;

    if (current != NULL && current->teardown != NULL)
        status = current->teardown(state);
    alarm(0);
    current = NULL;
    return status;
}

int suite_watchdog_run(const char *group_name, const struct CMUnitTest *tests,
                       size_t count)
{
    struct CMUnitTest *wrapped = calloc(count ? count : 1, sizeof *wrapped);
    watched_case *cases = calloc(count ? count : 1, sizeof *cases);
    struct sigaction action, previous;
    int failures = -1;

    timeout_from_environment();
    memset(&action, 0, sizeof action);
    action.sa_handler = on_timeout;
    sigemptyset(&action.sa_mask);
    if (wrapped != NULL && cases != NULL &&
        sigaction(SIGALRM, &action, &previous) == 0) {
        for (size_t i = 0; i < count; i++) {
            cases[i] = (watched_case){ tests[i].name, tests[i].setup_func,
                                       tests[i].teardown_func,
                                       tests[i].initial_state };
            wrapped[i] = tests[i];
            wrapped[i].setup_func = watched_setup;
            wrapped[i].teardown_func = watched_teardown;
            wrapped[i].initial_state = &cases[i];
        }
        group = group_name;
        failures = _cmocka_run_group_tests(group_name, wrapped, count, NULL,
                                           NULL);
        alarm(0);
        sigaction(SIGALRM, &previous, NULL);
    }
    free(wrapped);
    free(cases);
    return failures;
}

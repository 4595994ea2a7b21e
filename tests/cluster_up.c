/*
 * Test helper for tests/test_cli_redis_cluster.sh: a private Redis Cluster
 * (tests/redis_cluster.h: 3 masters, a replica each) that lives exactly as
 * long as this program's standard input stays open.
 *
 *     cluster_up <FIFO >OUT     prints the cluster's URL on one line, then
 *                               waits for EOF on standard input
 *
 * Tying the cluster's life to a file descriptor rather than to a signal
 * means the script cannot forget to stop it: whatever way the script ends,
 * its end of the pipe closes and the cluster stops. SIGINT, SIGTERM and
 * SIGHUP stop it too (exit status 1), so that ^C in `make check` leaves no
 * redis-server behind.
 *
 * The first line on standard output is one of:
 *     redis+cluster://...       the cluster is up
 *     1..0 # SKIP ...           no redis-server here (redis_harness_require)
 *     Bail out! ...             no redis-server under CI=true, or the
 *                               cluster did not start (exit status 1)
 * Diagnostics go to standard error.
 */
#define _POSIX_C_SOURCE 200809L
#include "config.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/select.h>
#include <unistd.h>

#include "redis_cluster.h"
#include "redis_harness.h"

static volatile sig_atomic_t stop_signal;

static void on_stop_signal(int signo)
{
    stop_signal = signo;
}

static const int stop_signals[] = { SIGINT, SIGTERM, SIGHUP };
#define STOP_SIGNAL_COUNT (sizeof stop_signals / sizeof stop_signals[0])

/* From the start, so that a signal while the cluster starts is noted and
 * the cluster stopped right after, not left running. Handlers, unlike an
 * ignored or blocked signal, do not pass on to the redis-servers that the
 * harness executes. */
static int catch_stop_signals(void)
{
    struct sigaction action;

    memset(&action, 0, sizeof action);
    action.sa_handler = on_stop_signal;
    action.sa_flags = SA_RESTART;
    sigemptyset(&action.sa_mask);
    for (size_t i = 0; i < STOP_SIGNAL_COUNT; i++)
        if (sigaction(stop_signals[i], &action, NULL) != 0)
            return -1;
    return 0;
}

/*
 * Once the cluster is up: the stop signals are blocked except inside
 * pselect(), so one that comes between two checks of stop_signal is not
 * lost but interrupts the next wait. SIGPIPE is ignored so that a reader
 * gone early makes printf() fail rather than kill us with the cluster
 * still running.
 */
static int block_stop_signals(sigset_t *wait_mask)
{
    sigset_t blocked;

    sigemptyset(&blocked);
    for (size_t i = 0; i < STOP_SIGNAL_COUNT; i++)
        sigaddset(&blocked, stop_signals[i]);
    signal(SIGPIPE, SIG_IGN);
    return sigprocmask(SIG_BLOCK, &blocked, wait_mask);
}

/* Reads and drops standard input until EOF (0), a read error (-1) or a
 * stop signal (-1). */
static int wait_for_eof(const sigset_t *wait_mask)
{
    char discard[256];

    while (stop_signal == 0) {
        fd_set readable;
        ssize_t n;

        FD_ZERO(&readable);
        FD_SET(STDIN_FILENO, &readable);
        if (pselect(STDIN_FILENO + 1, &readable, NULL, NULL, NULL,
                    wait_mask) < 0) {
            if (errno == EINTR)
                continue;
            perror("cluster_up: waiting on standard input");
            return -1;
        }
        n = read(STDIN_FILENO, discard, sizeof discard);
        if (n == 0)
            return 0;
        if (n < 0 && errno != EINTR && errno != EAGAIN) {
            perror("cluster_up: reading standard input");
            return -1;
        }
    }
    fprintf(stderr, "cluster_up: stopped by signal %d\n", (int)stop_signal);
    return -1;
}

int main(void)
{
    sigset_t wait_mask;
    redis_cluster *cluster;
    int status = 1;

    if (catch_stop_signals() != 0) {
        perror("cluster_up: signals");
        return 1;
    }
    redis_harness_require();  /* prints the skip or bail-out line itself */
    cluster = redis_cluster_start(NULL);
    if (cluster == NULL) {
        printf("Bail out! the Redis Cluster did not start\n");
        fflush(stdout);
        return 1;
    }
    if (block_stop_signals(&wait_mask) != 0)
        perror("cluster_up: signals");
    else if (printf("%s\n", redis_cluster_url(cluster)) < 0 ||
             fflush(stdout) != 0)
        perror("cluster_up: writing the URL");
    else if (wait_for_eof(&wait_mask) == 0)
        status = 0;
    redis_cluster_stop(cluster);
    return status;
}

/*
 * A store's worker threads: where the non-blocking API runs the blocking
 * driver calls of a driver without native support. Jobs run in the order
 * they were given, each on whichever thread is free first.
 */
#ifndef OBOL_WORKERS_INTERNAL_H
#define OBOL_WORKERS_INTERNAL_H

#include <stddef.h>

typedef struct obol_job obol_job;

/* A job: run(job) on a worker thread. The job's memory is the caller's
 * and must stay valid until run is called. */
struct obol_job {
    obol_job *next;
    void (*run)(obol_job *job);
};

typedef struct obol_workers obol_workers;

/* Starts threads worker threads, or as many as the system gives (one at
 * least); NULL with errno set when it gives none, or no memory. */
obol_workers *obol_workers_start(unsigned threads);

/* Queues job for the next free thread. */
void obol_workers_run(obol_workers *w, obol_job *job);

/* Runs every job queued, then stops and joins the threads and frees w.
 * NULL is a no-op. */
void obol_workers_stop(obol_workers *w);

#endif

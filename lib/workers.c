/* The worker threads of a store (workers_internal.h). */
#include "config.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>

#include "workers_internal.h"

struct obol_workers {
    pthread_mutex_t lock;
    pthread_cond_t wake;
    obol_job *head, *tail;
    int stopping;
    unsigned count;     /* threads started */
    pthread_t threads[];
};

/* The next job, waiting for one; NULL once stopping with none left. */
static obol_job *next_job(obol_workers *w)
{
    obol_job *job;

    pthread_mutex_lock(&w->lock);
    while (w->head == NULL && !w->stopping)
        pthread_cond_wait(&w->wake, &w->lock);
    job = w->head;
    if (job != NULL) {
        w->head = job->next;
        if (w->head == NULL)
            w->tail = NULL;
    }
    pthread_mutex_unlock(&w->lock);
    return job;
}

static void *work(void *arg)
{
    obol_workers *w = arg;
    obol_job *job;

    while ((job = next_job(w)) != NULL)
        job->run(job);
    return NULL;
}

obol_workers *obol_workers_start(unsigned threads)
{
    obol_workers *w = calloc(1, sizeof *w + threads * sizeof(pthread_t));
    int refused = 0;

    if (w == NULL)
        return NULL;
    refused = pthread_mutex_init(&w->lock, NULL);
    if (refused != 0) {
        free(w);
        errno = refused;
        return NULL;
    }
    refused = pthread_cond_init(&w->wake, NULL);
    if (refused != 0) {
        pthread_mutex_destroy(&w->lock);
        free(w);
        errno = refused;
        return NULL;
    }
    for (; w->count < threads; w->count++) {
        refused = pthread_create(&w->threads[w->count], NULL, work, w);
        if (refused != 0)
            break;
    }
    if (w->count == 0) {
        obol_workers_stop(w);
        errno = refused;   /* pthread_create() returns it, sets nothing */
        return NULL;
    }
    return w;
}

void obol_workers_run(obol_workers *w, obol_job *job)
{
    job->next = NULL;
    pthread_mutex_lock(&w->lock);
    if (w->tail != NULL)
        w->tail->next = job;
    else
        w->head = job;
    w->tail = job;
    pthread_cond_signal(&w->wake);
    pthread_mutex_unlock(&w->lock);
}

void obol_workers_stop(obol_workers *w)
{
    if (w == NULL)
        return;
    pthread_mutex_lock(&w->lock);
    w->stopping = 1;
    pthread_cond_broadcast(&w->wake);
    pthread_mutex_unlock(&w->lock);
    for (unsigned i = 0; i < w->count; i++)
        pthread_join(w->threads[i], NULL);
    pthread_cond_destroy(&w->wake);
    pthread_mutex_destroy(&w->lock);
    free(w);
}

/*
 * A planted bug for obol-driver-check to catch: the memory driver behind
 * a lock of its own per handle, taken by every call and held by list()
 * and scan() while the visitor runs. A visitor that calls back in from the
 * same thread deadlocks (the lock is not recursive); another thread's call
 * waits until the walk ends. Copy-free: it wraps the real driver's table,
 * each handle around the real driver's.
 */
#include <pthread.h>
#include <stdlib.h>

#include <obol/driver.h>

OBOL_DRIVER_EXPORT(memory);
OBOL_DRIVER_EXPORT(plantwalk);

static const obol_driver *inner;
static const obol_driver_host *host;
static obol_driver table;
static const char *const schemes[] = { "plantwalk", NULL };

typedef struct wrapped {
    void *inner;
    pthread_mutex_t lock;
} wrapped;

/* Runs call on the inner handle h->inner with h's lock held. */
#define LOCKED(h, call)                          \
    do {                                         \
        wrapped *w_ = (h);                       \
        pthread_mutex_lock(&w_->lock);           \
        int status_ = (call);                    \
        pthread_mutex_unlock(&w_->lock);         \
        return status_;                          \
    } while (0)
#define IN(h) (((wrapped *)(h))->inner)

static int open_wrapped(const obol_driver_config *config, void **handle,
                        obol_error *err)
{
    wrapped *w = calloc(1, sizeof *w);
    int status;

    if (w == NULL)
        return host->set_error(err, OBOL_ERR_NOMEM, "plantwalk: out of memory");
    status = inner->open(config, &w->inner, err);
    if (status != OBOL_OK) {
        free(w);
        return status;
    }
    pthread_mutex_init(&w->lock, NULL);
    *handle = w;
    return OBOL_OK;
}

static void close_wrapped(void *h)
{
    wrapped *w = h;

    inner->close(w->inner);
    pthread_mutex_destroy(&w->lock);
    free(w);
}

static int get(void *h, const obol_driver_key *key, uint8_t **sealed,
               size_t *len, obol_error *err)
{
    LOCKED(h, inner->get(IN(h), key, sealed, len, err));
}

static int put(void *h, const obol_driver_record *record, uint64_t expected,
               int64_t now, obol_error *err)
{
    LOCKED(h, inner->put(IN(h), record, expected, now, err));
}

static int del(void *h, const obol_driver_key *key, obol_error *err)
{
    LOCKED(h, inner->del(IN(h), key, err));
}

static int list(void *h, const obol_driver_key *key, obol_driver_visit visit,
                void *arg, obol_error *err)
{
    LOCKED(h, inner->list(IN(h), key, visit, arg, err));   /* the bug */
}

static int del_all(void *h, const obol_driver_key *key, obol_error *err)
{
    LOCKED(h, inner->del_all(IN(h), key, err));
}

static int scan(void *h, obol_driver_visit visit, void *arg, obol_error *err)
{
    LOCKED(h, inner->scan(IN(h), visit, arg, err));        /* the bug */
}

static int prune(void *h, int64_t now, obol_error *err)
{
    LOCKED(h, inner->prune(IN(h), now, err));
}

static int health(void *h, char *info, size_t size, obol_error *err)
{
    LOCKED(h, inner->health(IN(h), info, size, err));
}

const obol_driver *obol_driver_plantwalk_entry(const obol_driver_host *new_host)
{
    host = new_host;
    inner = obol_driver_memory_entry(host);
    table = *inner;
    table.name = "plantwalk";
    table.schemes = schemes;
    table.open = open_wrapped;
    table.close = close_wrapped;
    table.get = get;
    table.put = put;
    table.del = del;
    table.list = list;
    table.del_all = del_all;
    table.scan = scan;
    table.prune = prune;
    table.health = inner->health != NULL ? health : NULL;
    table.put_batch = NULL;     /* slots of the inner handle, unwrapped */
    table.check = NULL;
    table.prefixes = NULL;
    return &table;
}

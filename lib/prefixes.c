/*
 * obol_store_prefixes(): which prefixes a backend holds records under,
 * through the driver's optional prefixes slot (ABI 1.3). It answers the
 * question an empty walk raises ("is this the right prefix?"), so it
 * reads no record and needs no key.
 */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include "errors_internal.h"
#include "loader_internal.h"
#include "store_internal.h"

/* What the visitor collects: the prefixes met so far, unsorted, each
 * once. */
typedef struct collected {
    char **items;
    size_t count, capacity;
    int out_of_memory;  /* the visitor stopped the driver for it */
} collected;

static int seen_before(const collected *c, obol_bytes prefix)
{
    for (size_t i = 0; i < c->count; i++)
        if (strlen(c->items[i]) == prefix.len &&
            memcmp(c->items[i], prefix.data, prefix.len) == 0)
            return 1;
    return 0;
}

/* A prefix holding a NUL cannot come from a config string (%00 is
 * refused there), so no store could open it: left out. */
static int collect(void *arg, obol_bytes prefix)
{
    collected *c = arg;
    char *copy;

    if (prefix.len == 0 || memchr(prefix.data, '\0', prefix.len) != NULL ||
        seen_before(c, prefix))
        return OBOL_OK;
    if (c->count == c->capacity) {
        size_t capacity = c->capacity != 0 ? c->capacity * 2 : 8;
        char **grown = realloc(c->items, capacity * sizeof *grown);

        if (grown == NULL) {
            c->out_of_memory = 1;
            return OBOL_ERR_NOMEM;
        }
        c->items = grown;
        c->capacity = capacity;
    }
    copy = malloc(prefix.len + 1);
    if (copy == NULL) {
        c->out_of_memory = 1;
        return OBOL_ERR_NOMEM;
    }
    memcpy(copy, prefix.data, prefix.len);
    copy[prefix.len] = '\0';
    c->items[c->count++] = copy;
    return OBOL_OK;
}

static int compare_prefixes(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

int obol_store_prefixes(obol_store *st, obol_prefix_list *out,
                        obol_error *err)
{
    obol_error local;
    collected c = { NULL, 0, 0, 0 };
    int complete = 0, status;

    if (err == NULL)
        err = &local;   /* drivers always get somewhere to write */
    if (st == NULL || out == NULL)
        return obol_set_error(err, OBOL_ERR_INVALID,
                              "prefixes: store and out must not be NULL");
    memset(out, 0, sizeof *out);
    if (!OBOL_DRIVER_HAS_SLOT(st->driver, prefixes, 3)) {
        obol_clear_error(err);
        return OBOL_OK;
    }
    obol_store_driver_enter(st);
    status = st->driver->prefixes(st->handle, collect, &c, &complete, err);
    obol_store_driver_leave(st);
    if (c.out_of_memory)
        status = obol_set_error(err, OBOL_ERR_NOMEM,
                                "prefixes: out of memory");
    out->prefixes = c.items;
    out->count = c.count;
    if (status != OBOL_OK) {
        obol_prefix_list_clear(out);
        return status;
    }
    qsort(out->prefixes, out->count, sizeof *out->prefixes, compare_prefixes);
    out->complete = complete != 0;
    obol_clear_error(err);
    return OBOL_OK;
}

void obol_prefix_list_clear(obol_prefix_list *list)
{
    if (list == NULL)
        return;
    for (size_t i = 0; i < list->count; i++)
        free(list->prefixes[i]);
    free(list->prefixes);
    memset(list, 0, sizeof *list);
}

/*
 * Test helper for tests/test_cli.sh: turns every live session of a store
 * into the record an unsigned deployment would have written (the bare
 * session encoding, no seal), so that `obol migrate` can be shown to
 * upgrade legacy records. Reaches into the store and codec internals,
 * which is why it is a test program and not part of the tool.
 *
 *     cli_unsign URL      prints the number of records rewritten
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "codec_internal.h"
#include "store_internal.h"

typedef struct collected {
    obol_session **items;
    size_t count, capacity;
} collected;

static int collect(void *arg, const obol_session *s)
{
    collected *c = arg;

    if (c->count == c->capacity) {
        size_t capacity = c->capacity ? c->capacity * 2 : 64;
        obol_session **grown = realloc(c->items, capacity * sizeof *grown);

        if (grown == NULL)
            return OBOL_ERR_NOMEM;
        c->items = grown;
        c->capacity = capacity;
    }
    c->items[c->count] = obol_session_dup(s);
    return c->items[c->count++] != NULL ? OBOL_OK : OBOL_ERR_NOMEM;
}

/* Replaces the sealed record of s by its bare encoding, same lock. */
static int unsign(obol_store *st, const obol_session *s, obol_error *err)
{
    obol_driver_record rec = {
        { { (const uint8_t *)s->user_id, strlen(s->user_id) },
          { (const uint8_t *)s->type, strlen(s->type) },
          { (const uint8_t *)s->id, strlen(s->id) } },
        { NULL, 0 }, s->refresh_expires_at, s->lock_version
    };
    size_t size = obol_codec_encoded_size(s), len;
    uint8_t *buf = malloc(size);
    int status;

    if (buf == NULL)
        return OBOL_ERR_NOMEM;
    status = obol_codec_encode(s, buf, size, &len);
    if (status == OBOL_OK) {
        rec.sealed.data = buf;
        rec.sealed.len = len;
        obol_store_driver_enter(st);
        status = st->driver->put(st->handle, &rec, s->lock_version,
                                 obol_store_now(st), err);
        obol_store_driver_leave(st);
    }
    free(buf);
    return status;
}

int main(int argc, char **argv)
{
    collected c = { NULL, 0, 0 };
    obol_store *st;
    obol_error err;
    int status;

    if (argc != 2) {
        fprintf(stderr, "usage: cli_unsign URL\n");
        return 2;
    }
    status = obol_store_open(argv[1], &st, &err);
    if (status == OBOL_OK)
        status = obol_scan(st, collect, &c, NULL, &err);
    for (size_t i = 0; status == OBOL_OK && i < c.count; i++)
        status = unsign(st, c.items[i], &err);
    if (status != OBOL_OK)
        fprintf(stderr, "cli_unsign: %s\n", err.message);
    else
        printf("%zu\n", c.count);
    obol_sessions_free(c.items, c.count);
    obol_store_close(st);
    return status == OBOL_OK ? 0 : 1;
}

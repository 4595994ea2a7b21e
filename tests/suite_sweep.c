/*
 * The per-case cleanup (see suite_sweep.h). Records are found with the
 * driver's own scan() and deleted with its del_all() and del(), so that
 * the sweep works on any backend and removes what the driver keeps for
 * them (files, keys, index entries). The keys are copied first and
 * deleted after the walk: the sweep must not depend on the driver allowing
 * calls from inside a visitor, which is one of the things the suite
 * checks.
 */
#include "config.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include <obol/driver.h>
#include <obol/obol.h>

#include "store_internal.h"
#include "suite_sweep.h"
#include "tmpdir.h"

/* A case makes a handful of prefixes and directories; more than this many
 * and the rest are not swept, which the sweep says. */
#define SWEEP_MAX_URLS 32
#define SWEEP_MAX_DIRS 8

static char *noted_urls[SWEEP_MAX_URLS];
static size_t noted_url_count;
static int urls_dropped;
static char *noted_dirs[SWEEP_MAX_DIRS];
static size_t noted_dir_count;

void suite_sweep_note_url(const char *url)
{
    char *copy = NULL;

    for (size_t i = 0; i < noted_url_count; i++)
        if (strcmp(noted_urls[i], url) == 0)
            return;
    if (noted_url_count < SWEEP_MAX_URLS && (copy = strdup(url)) != NULL)
        noted_urls[noted_url_count++] = copy;
    else
        urls_dropped = 1;
}

void suite_sweep_note_dir(char *dir)
{
    if (dir == NULL)
        return;
    if (noted_dir_count < SWEEP_MAX_DIRS) {
        noted_dirs[noted_dir_count++] = dir;
        return;
    }
    print_message("# sweep: more than %d scratch directories; %s is left\n",
                  SWEEP_MAX_DIRS, dir);
    free(dir);
}

/* ------------------------------------------------------------ records */

typedef struct owned_key {
    uint8_t *bytes;   /* user id, type and id, one after the other */
    size_t user_len, type_len, id_len;
} owned_key;

typedef struct key_list {
    owned_key *keys;
    size_t count, capacity;
} key_list;

static int collect_key(void *arg, const obol_driver_record *rec)
{
    key_list *list = arg;
    const obol_driver_key *k = &rec->key;
    size_t total = k->user_id.len + k->type.len + k->id.len;
    owned_key *key;

    if (list->count == list->capacity) {
        size_t capacity = list->capacity ? list->capacity * 2 : 64;
        owned_key *grown = realloc(list->keys, capacity * sizeof *grown);
        if (grown == NULL)
            return OBOL_ERR_NOMEM;
        list->keys = grown;
        list->capacity = capacity;
    }
    key = &list->keys[list->count];
    if ((key->bytes = malloc(total > 0 ? total : 1)) == NULL)
        return OBOL_ERR_NOMEM;
    key->user_len = k->user_id.len;
    key->type_len = k->type.len;
    key->id_len = k->id.len;
    if (k->user_id.len > 0)
        memcpy(key->bytes, k->user_id.data, k->user_id.len);
    if (k->type.len > 0)
        memcpy(key->bytes + key->user_len, k->type.data, k->type.len);
    if (k->id.len > 0)
        memcpy(key->bytes + key->user_len + key->type_len, k->id.data,
               k->id.len);
    list->count++;
    return OBOL_OK;
}

static obol_driver_key key_view(const owned_key *k)
{
    obol_driver_key view = {
        { k->bytes, k->user_len },
        { k->bytes + k->user_len, k->type_len },
        { k->bytes + k->user_len + k->type_len, k->id_len },
    };
    return view;
}

static int same_user_and_type(const owned_key *a, const owned_key *b)
{
    return a->user_len == b->user_len && a->type_len == b->type_len &&
           memcmp(a->bytes, b->bytes, a->user_len + a->type_len) == 0;
}

static void free_keys(key_list *list)
{
    for (size_t i = 0; i < list->count; i++)
        free(list->keys[i].bytes);
    free(list->keys);
    *list = (key_list){ 0 };
}

static int collect_keys(obol_store *st, const char *url, key_list *list)
{
    obol_error err;
    int status = st->driver->scan(st->handle, collect_key, list, &err);

    if (status != OBOL_OK)
        print_message("# sweep of %s: scan: %s\n", url,
                      status == OBOL_ERR_NOMEM ? "out of memory" : err.message);
    return status;
}

/* Deletes every record of the store's prefix: one del_all per user and
 * type (on a backend that syncs each write, far fewer writes than one per
 * record), then del for whatever a scan still finds. Returns how many
 * records are left, and says why. */
static size_t sweep_store(obol_store *st, const char *url)
{
    key_list list = { 0 };
    obol_error err;
    size_t left = 0;

    collect_keys(st, url, &list);
    for (size_t i = 0; i < list.count; i++) {
        obol_driver_key key = key_view(&list.keys[i]);
        size_t first = 0;
        while (!same_user_and_type(&list.keys[first], &list.keys[i]))
            first++;
        if (first == i && st->driver->del_all(st->handle, &key, &err) != OBOL_OK)
            print_message("# sweep of %s: del_all: %s\n", url, err.message);
    }
    free_keys(&list);
    collect_keys(st, url, &list);
    for (size_t i = 0; i < list.count; i++) {
        obol_driver_key key = key_view(&list.keys[i]);
        if (st->driver->del(st->handle, &key, &err) != OBOL_OK &&
            left++ == 0)
            print_message("# sweep of %s: del: %s\n", url, err.message);
    }
    free_keys(&list);
    return left;
}

/* Opens url to sweep it, creating nothing (create=0): a store that is
 * not there has nothing to delete, and one the case made sure was never
 * made must stay unmade. A url that sets create= itself opens as it is. */
static obol_store *open_existing(const char *url)
{
    char *existing = NULL;
    obol_store *st = NULL;
    obol_error err;
    int status = OBOL_ERR_NOMEM;

    if (asprintf(&existing, "%s%ccreate=0", url,
                 strchr(url, '?') != NULL ? '&' : '?') >= 0)
        status = obol_store_open(existing, &st, &err);
    free(existing);
    if (status == OBOL_ERR_INVALID && obol_store_open(url, &st, &err) != OBOL_OK)
        st = NULL;
    return st;
}

static void sweep_url(const char *url)
{
    obol_store *st = open_existing(url);
    size_t left;

    /* A url the case expected to be refused opens no store: nothing of
     * it to delete. */
    if (st == NULL)
        return;
    left = sweep_store(st, url);
    if (left > 0)
        print_message("# sweep of %s: %zu records left\n", url, left);
    obol_store_close(st);
}

void suite_sweep(void)
{
    for (size_t i = 0; i < noted_url_count; i++) {
        sweep_url(noted_urls[i]);
        free(noted_urls[i]);
    }
    if (urls_dropped)
        print_message("# sweep: more than %d prefixes in one case; the "
                      "rest are left\n", SWEEP_MAX_URLS);
    noted_url_count = 0;
    urls_dropped = 0;
    for (size_t i = 0; i < noted_dir_count; i++)
        tmpdir_remove(noted_dirs[i]);
    noted_dir_count = 0;
}

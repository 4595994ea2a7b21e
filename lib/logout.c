/*
 * Logout everywhere: every session of a user, of every type the store's
 * types= option lists (docs/DECISIONS.md, "Logout everywhere").
 *
 * The backend files sessions by (user, type) and keeps no index of a
 * user's types (on Redis Cluster each type is its own slot), so the store
 * cannot find them itself; the application names them once, in the config
 * string, and this is one driver del_all per type.
 */
#include "config.h"

#include <stdio.h>
#include <string.h>

#include "errors_internal.h"
#include "store_internal.h"

/* The type sessions get when none is given is always deleted: a list that
 * forgot it would leave the most common sessions alive. */
static int lists_default_type(const obol_config *c)
{
    for (size_t i = 0; i < c->type_count; i++)
        if (strcmp(c->types[i], OBOL_DEFAULT_TYPE) == 0)
            return 1;
    return 0;
}

/* The i-th type to delete: "full" first when it is implied, then the list
 * in its order. */
static const char *type_at(const obol_config *c, int implied, size_t i)
{
    if (implied)
        return i == 0 ? OBOL_DEFAULT_TYPE : c->types[i - 1];
    return c->types[i];
}

/* A type as a message shows it: a config string may hold any byte. */
static const char *printable_type(const char *type, char shown[48])
{
    obol_bytes bytes = { (const uint8_t *)type, strlen(type) };

    return obol_printable(bytes, shown, 48);
}

/* Deletes one type; adds what it removed to *removed, if asked. */
static int delete_type(obol_store *st, obol_driver_key *key, const char *type,
                       uint64_t *removed, obol_error *err)
{
    uint64_t count = 0;
    int status;

    key->type.data = (const uint8_t *)type;
    key->type.len = strlen(type);
    status = obol_store_remove_user(st, key, removed != NULL ? &count : NULL,
                                    err);
    if (status == OBOL_OK && removed != NULL)
        *removed += count;
    return status;
}

int obol_delete_everywhere(obol_store *st, const char *uid, obol_error *err)
{
    return obol_delete_everywhere_counted(st, uid, NULL, err);
}

static int delete_everywhere_counted(obol_store *st, const char *uid,
                                     uint64_t *removed, obol_error *err)
{
    obol_error local, attempt;
    char first_cause[sizeof err->message], shown[48];
    const char *first_type = NULL;
    obol_driver_key key;
    size_t total, failed = 0;
    int implied, first_status = OBOL_OK, status;

    if (err == NULL)
        err = &local;
    if (removed != NULL)
        *removed = 0;
    if (st == NULL)
        return obol_set_error(err, OBOL_ERR_INVALID,
                              "delete_everywhere: store is NULL");
    if (st->config.type_count == 0)
        return obol_set_error(err, OBOL_ERR_INVALID,
                              "delete_everywhere: the store does not know "
                              "which session types the application uses: "
                              "list them in the config string, "
                              "types=full,oauth2,...");
    /* User id and key are checked once: they are the same for every type. */
    status = obol_store_prepare(st, "delete_everywhere", NULL, 0, uid, NULL,
                                &key, err);
    if (status != OBOL_OK)
        return status;
    implied = !lists_default_type(&st->config);
    total = st->config.type_count + (size_t)implied;
    /* A failed type does not stop the others: a logout revokes all it can,
     * and each delete is on its own slot, which may be up when this one
     * is not. */
    for (size_t i = 0; i < total; i++) {
        const char *type = type_at(&st->config, implied, i);

        attempt.message[0] = '\0';
        status = delete_type(st, &key, type, removed, &attempt);
        if (status == OBOL_OK)
            continue;
        if (failed++ == 0) {
            first_status = status;
            first_type = type;
            memcpy(first_cause, attempt.message, sizeof first_cause);
        } else {
            obol_store_log(st, OBOL_LOG_WARNING, "obol: delete_everywhere: "
                           "type '%s' not deleted either: %s",
                           printable_type(type, shown), attempt.message);
        }
    }
    if (failed == 0) {
        obol_clear_error(err);
        return OBOL_OK;
    }
    return obol_set_error(err, first_status, "delete_everywhere: %zu of %zu "
                          "types failed (the others are deleted; rerunning "
                          "is safe); '%s': %s", failed, total,
                          printable_type(first_type, shown), first_cause);
}

int obol_delete_everywhere_counted(obol_store *st, const char *uid,
                                   uint64_t *removed, obol_error *err)
{
    uint64_t started = obol_stats_start(st);

    return obol_stats_finish(st, OBOL_OP_DELETE_EVERYWHERE, started,
                             delete_everywhere_counted(st, uid, removed, err));
}

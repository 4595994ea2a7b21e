/*
 * Commands on single sessions and single users: get, ls, rm, rm-all,
 * prune, put.
 */
#include "config.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <jansson.h>

#include "cli.h"
#include "json.h"

/* A TYPE operand, or NULL ("full"). */
static const char *type_operand(const cli_options *o, int index)
{
    return o->nargs > index ? o->args[index] : NULL;
}

/* Says what a removal removed: {"command": name, "status": "ok",
 * "removed": n} for --json, else "removed n <what>s" and, when n is 0,
 * why (none_because). 0, or -1 when out of memory. */
static int print_removed(const char *command, uint64_t removed, const char *what,
                         const char *none_because, int json)
{
    if (json)
        return cli_print_json(json_pack("{s:s, s:s, s:I}", "command", command,
                                        "status", "ok", "removed",
                                        (json_int_t)removed));
    printf("removed %" PRIu64 " %s%s", removed, what, removed == 1 ? "" : "s");
    if (removed == 0 && none_because != NULL)
        printf(": %s", none_because);
    putchar('\n');
    return 0;
}

/* ---------------------------------------------------------------- get */

int cmd_get(const cli_options *o)
{
    obol_store *st;
    obol_session *s = NULL;
    obol_error err;
    int status, code;

    code = cli_open_store(o->args[0], cli_secret_for(o, ""), "get", &st);
    if (code != EXIT_OK)
        return code;
    status = obol_get(st, o->args[1], o->args[2], type_operand(o, 3), &s, &err);
    if (status == OBOL_NOT_FOUND && cli_refused()->count > 0)
        code = cli_report_refusals("get", "shown", EXIT_NOT_FOUND);
    else if (status != OBOL_OK)
        code = cli_fail_store("get", status, &err);
    else if (cli_print_session(s, o->json) != 0)
        code = cli_fail("get", OBOL_ERR_NOMEM, NULL);
    if (status == OBOL_NOT_FOUND)
        cli_note_empty_prefix(st, "get", 0);
    obol_session_free(s);
    obol_store_close(st);
    return cli_finish_output("get", code);
}

/* ----------------------------------------------------------------- ls */

typedef struct session_list {
    obol_session **items;
    size_t count, capacity;
    const char *user_id;   /* keep only this user's sessions */
} session_list;

static int keep_users_session(void *arg, const obol_session *s)
{
    session_list *list = arg;
    obol_session *copy;

    if (strcmp(s->user_id, list->user_id) != 0)
        return OBOL_OK;
    if (list->count == list->capacity) {
        size_t capacity = list->capacity ? list->capacity * 2 : 16;
        obol_session **grown = realloc(list->items, capacity * sizeof *grown);

        if (grown == NULL)
            return OBOL_ERR_NOMEM;
        list->items = grown;
        list->capacity = capacity;
    }
    copy = obol_session_dup(s);
    if (copy == NULL)
        return OBOL_ERR_NOMEM;
    list->items[list->count++] = copy;
    return OBOL_OK;
}

/* Type, then oldest first, then id: the same listing every time. */
static int compare_sessions(const void *a, const void *b)
{
    const obol_session *x = *(obol_session *const *)a;
    const obol_session *y = *(obol_session *const *)b;
    int by_type = strcmp(x->type, y->type);

    if (by_type != 0)
        return by_type;
    if (x->created_at != y->created_at)
        return x->created_at < y->created_at ? -1 : 1;
    return strcmp(x->id, y->id);
}

static int print_list(const session_list *list, int json)
{
    if (!json && list->count > 0)
        cli_print_row_header();
    for (size_t i = 0; i < list->count; i++) {
        if (json) {
            if (cli_print_session(list->items[i], 1) != 0)
                return -1;
        } else {
            cli_print_row(list->items[i]);
        }
    }
    if (!json)
        printf("%zu session%s\n", list->count, list->count == 1 ? "" : "s");
    return 0;
}

int cmd_ls(const cli_options *o)
{
    session_list list = { NULL, 0, 0, o->args[1] };
    obol_scan_stats stats = { 0 };
    obol_store *st;
    obol_error err = { 0 };   /* untouched when keep_users_session() stops the walk */
    int status, code;

    if (o->all_types && o->nargs > 2) {
        cli_error("ls", "give a TYPE or --all-types, not both");
        return EXIT_USAGE;
    }
    code = cli_open_store(o->args[0], cli_secret_for(o, ""), "ls", &st);
    if (code != EXIT_OK)
        return code;
    /* A walk meets the records of every user: only this one's refusals
     * are this listing's. */
    cli_count_refusals_of(o->args[1]);
    if (o->all_types)
        /* No per-user index spans types: walk the store. */
        status = obol_scan(st, keep_users_session, &list, &stats, &err);
    else
        status = obol_get_all(st, o->args[1], type_operand(o, 2), &list.items,
                              &list.count, &err);
    if (status != OBOL_OK) {
        code = cli_fail_store("ls", status, &err);
    } else {
        qsort(list.items, list.count, sizeof *list.items, compare_sessions);
        if (print_list(&list, o->json) != 0)
            code = cli_fail("ls", OBOL_ERR_NOMEM, NULL);
        else
            code = cli_report_refusals("ls", "listed", EXIT_OK);
        if (code != EXIT_BACKEND && list.count == 0 &&
            (!o->all_types || stats.records == 0))
            cli_note_empty_prefix(st, "ls", o->all_types);
    }
    obol_sessions_free(list.items, list.count);
    obol_store_close(st);
    return cli_finish_output("ls", code);
}

/* ----------------------------------------------------- rm, rm-all, prune */

int cmd_rm(const cli_options *o)
{
    obol_store *st;
    obol_error err;
    uint64_t removed;
    int status, code;

    code = cli_open_store(o->args[0], cli_secret_for(o, ""), "rm", &st);
    if (code != EXIT_OK)
        return code;
    status = obol_delete_counted(st, o->args[1], o->args[2], type_operand(o, 3),
                                 &removed, &err);
    if (status != OBOL_OK)
        code = cli_fail_store("rm", status, &err);
    else if (print_removed("rm", removed, "session", "there is no session with "
                           "that id, user and type", o->json) != 0)
        code = cli_fail("rm", OBOL_ERR_NOMEM, NULL);
    obol_store_close(st);
    return cli_finish_output("rm", code);
}

int cmd_rm_all(const cli_options *o)
{
    obol_store *st;
    obol_error err;
    uint64_t removed;
    int status, code;

    if (o->all_types && o->nargs > 2) {
        cli_error("rm-all", "give a TYPE or --all-types, not both");
        return EXIT_USAGE;
    }
    code = cli_open_store(o->args[0], cli_secret_for(o, ""), "rm-all", &st);
    if (code != EXIT_OK)
        return code;
    /* Unlike ls --all-types, no walk: the types are the URL's types=, so
     * that the tool logs a user out exactly as the application does. */
    if (o->all_types)
        status = obol_delete_everywhere_counted(st, o->args[1], &removed, &err);
    else
        status = obol_delete_all_counted(st, o->args[1], type_operand(o, 2),
                                         &removed, &err);
    if (status != OBOL_OK)
        code = cli_fail_store("rm-all", status, &err);
    else if (print_removed("rm-all", removed, "session", NULL, o->json) != 0)
        code = cli_fail("rm-all", OBOL_ERR_NOMEM, NULL);
    obol_store_close(st);
    return cli_finish_output("rm-all", code);
}

int cmd_prune(const cli_options *o)
{
    obol_store *st;
    obol_error err;
    uint64_t removed;
    int status, code;

    code = cli_open_store(o->args[0], cli_secret_for(o, ""), "prune", &st);
    if (code != EXIT_OK)
        return code;
    status = obol_prune_counted(st, &removed, &err);
    if (status != OBOL_OK)
        code = cli_fail_store("prune", status, &err);
    else if (print_removed("prune", removed, "expired record", NULL, o->json) != 0)
        code = cli_fail("prune", OBOL_ERR_NOMEM, NULL);
    obol_store_close(st);
    return cli_finish_output("prune", code);
}

/* ---------------------------------------------------------------- put */

/* Moves the fields present in given into s, replacing s's. */
static void take_fields(obol_session *s, obol_session *given, unsigned present)
{
#define TAKE_STRING(name, bit) \
    if (present & (bit)) { free(s->name); s->name = given->name; given->name = NULL; }
#define TAKE_VALUE(name, bit) \
    if (present & (bit)) s->name = given->name;
    TAKE_STRING(id, FIELD_ID)
    TAKE_STRING(user_id, FIELD_USER_ID)
    TAKE_STRING(type, FIELD_TYPE)
    TAKE_STRING(refresh_token_id, FIELD_REFRESH_TOKEN_ID)
    TAKE_VALUE(created_at, FIELD_CREATED_AT)
    TAKE_VALUE(refreshed_at, FIELD_REFRESHED_AT)
    TAKE_VALUE(expires_at, FIELD_EXPIRES_AT)
    TAKE_VALUE(refresh_expires_at, FIELD_REFRESH_EXPIRES_AT)
    TAKE_VALUE(tokens_fresh_from, FIELD_TOKENS_FRESH_FROM)
    TAKE_VALUE(prev_tokens_fresh_from, FIELD_PREV_TOKENS_FRESH_FROM)
    TAKE_VALUE(lock_version, FIELD_LOCK_VERSION)
    if (present & FIELD_EXTRA_PAYLOAD) {
        free(s->extra_payload);
        s->extra_payload = given->extra_payload;
        s->extra_payload_len = given->extra_payload_len;
        given->extra_payload = NULL;
        given->extra_payload_len = 0;
    }
#undef TAKE_STRING
#undef TAKE_VALUE
}

/* A new session: what obol_session_new() makes, with what was given. */
static int session_to_create(const cli_options *o, obol_session *given,
                             unsigned present, obol_session **out)
{
    obol_session *s;

    if (!(present & FIELD_USER_ID)) {
        cli_error("put", "a new session needs at least a user_id");
        return EXIT_USAGE;
    }
    /* obol_session_new() returns NULL for an empty user id as for a failed
     * allocation: refuse the input first, so that NULL means memory. The
     * ttls cannot be negative (parse_duration() reads digits only). */
    if (given->user_id[0] == '\0') {
        cli_error("put", "user_id is empty");
        return EXIT_USAGE;
    }
    s = obol_session_new(given->user_id, given->type, (int64_t)time(NULL),
                         o->ttl, o->refresh_ttl);
    if (s == NULL)
        return cli_fail("put", OBOL_ERR_NOMEM, NULL);
    take_fields(s, given, present);
    /* A given end of the session bounds the default refresh window. */
    if (!(present & FIELD_REFRESH_EXPIRES_AT) && s->refresh_expires_at > s->expires_at)
        s->refresh_expires_at = s->expires_at;
    *out = s;
    return EXIT_OK;
}

/* An update: the stored session, with what was given laid over it. */
static int session_to_update(obol_store *st, obol_session *given,
                             unsigned present, obol_session **out)
{
    obol_session *s;
    obol_error err;
    int status;

    if ((present & (FIELD_ID | FIELD_USER_ID)) != (FIELD_ID | FIELD_USER_ID)) {
        cli_error("put", "an update (lock_version > 0) needs id and user_id");
        return EXIT_USAGE;
    }
    status = obol_get(st, given->id, given->user_id, given->type, &s, &err);
    if (status == OBOL_NOT_FOUND && cli_refused()->count > 0)
        return cli_report_refusals("put", "updated", EXIT_NOT_FOUND);
    if (status == OBOL_NOT_FOUND) {
        cli_error("put", "no live session with that id, user and type to "
                  "update: it was deleted or has expired");
        return EXIT_CONFLICT;
    }
    if (status != OBOL_OK)
        return cli_fail_store("put", status, &err);
    take_fields(s, given, present);
    *out = s;
    return EXIT_OK;
}

static char *read_all(FILE *in, size_t *len)
{
    size_t capacity = 4096;
    char *buf = malloc(capacity);

    *len = 0;
    while (buf != NULL) {
        size_t got = fread(buf + *len, 1, capacity - *len, in);

        *len += got;
        if (got == 0)
            break;
        if (*len == capacity) {
            char *grown = realloc(buf, capacity * 2);

            if (grown == NULL) {
                free(buf);
                return NULL;
            }
            buf = grown;
            capacity *= 2;
        }
    }
    return buf;
}

/* An empty id or type given is refused here, in the input's terms,
 * rather than by the library in its own. (An empty user_id is refused
 * where the session is made.) */
static int refuse_empty_names(const obol_session *given, unsigned present)
{
    if ((present & FIELD_ID) && given->id[0] == '\0') {
        cli_error("put", "id is empty (leave it out for a random one)");
        return EXIT_USAGE;
    }
    if ((present & FIELD_TYPE) && given->type[0] == '\0') {
        cli_error("put", "type is empty (leave it out for \"full\")");
        return EXIT_USAGE;
    }
    return EXIT_OK;
}

/* The session on standard input. */
static int read_given(obol_session **given, unsigned *present)
{
    json_error_t error;
    json_t *doc;
    size_t len;
    char *text = read_all(stdin, &len);
    char why[256];
    int status;

    if (text == NULL)
        return cli_fail("put", OBOL_ERR_NOMEM, NULL);
    if (ferror(stdin)) {
        free(text);
        cli_error("put", "cannot read standard input");
        return EXIT_USAGE;
    }
    doc = json_loadb(text, len, JSON_REJECT_DUPLICATES, &error);
    free(text);
    if (doc == NULL && json_error_code(&error) == json_error_out_of_memory)
        return cli_fail("put", OBOL_ERR_NOMEM, NULL);
    if (doc == NULL) {
        cli_error("put", "malformed JSON on standard input: %s (line %d, column %d)",
                  error.text, error.line, error.column);
        return EXIT_USAGE;
    }
    status = session_from_json(doc, given, present, why, sizeof why);
    json_decref(doc);
    if (status == SESSION_JSON_NOMEM)
        return cli_fail("put", OBOL_ERR_NOMEM, NULL);
    if (status != 0) {
        cli_error("put", "%s", why);
        return EXIT_USAGE;
    }
    return refuse_empty_names(*given, *present);
}

int cmd_put(const cli_options *o)
{
    obol_session *given = NULL, *s = NULL;
    obol_store *st = NULL;
    obol_error err;
    unsigned present;
    uint64_t lock_before;
    int status, code;

    code = read_given(&given, &present);
    if (code == EXIT_OK)
        code = cli_open_store_to_fill(o->args[0], cli_secret_for(o, ""), "put", &st);
    if (code == EXIT_OK)
        code = given->lock_version == 0 ? session_to_create(o, given, present, &s)
                                        : session_to_update(st, given, present, &s);
    if (code != EXIT_OK)
        goto done;
    lock_before = s->lock_version;
    status = obol_upsert(st, s, &err);
    if (status == OBOL_CONFLICT && lock_before == 0) {
        cli_error("put", "a session with this id already exists (give its "
                  "lock_version to update it)");
        code = EXIT_CONFLICT;
    } else if (status != OBOL_OK)
        code = cli_fail_store("put", status, &err);
    else if (s->lock_version == lock_before) {
        cli_error("put", "nothing written: refresh_expires_at is already past");
        code = EXIT_USAGE;
    } else if (cli_print_session(s, o->json) != 0)
        code = cli_fail("put", OBOL_ERR_NOMEM, NULL);
done:
    obol_session_free(given);
    obol_session_free(s);
    obol_store_close(st);
    return cli_finish_output("put", code);
}

/*
 * obol demo: the life of one login, step by step.
 *
 *   demo [CONFIG]
 *
 * CONFIG defaults to $OBOL_STORE, then to lmdb://$PWD/obol-demo-data. The
 * signing secret comes from $OBOL_SECRET when it is set; otherwise the demo
 * uses a fixed key, which a real application must never do.
 */
#define _POSIX_C_SOURCE 200809L   /* getcwd */

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <obol/obol.h>

#define HOUR 3600
#define DAY (24 * HOUR)

static void log_to_stderr(void *arg, int level, const char *msg)
{
    (void)arg;
    if (level <= OBOL_LOG_WARNING)
        fprintf(stderr, "  [log] %s\n", msg);
}

static void show(const char *step, const obol_session *s)
{
    printf("%-34s id=%s lock_version=%" PRIu64 " refresh token=%.8s...\n",
           step, s->id, s->lock_version, s->refresh_token_id);
}

static int fail(const char *step, const obol_error *err)
{
    fprintf(stderr, "demo: %s: %s\n", step, err->message);
    return 1;
}

/* The config to use: argument, $OBOL_STORE, or a directory here. */
static const char *choose_config(int argc, char **argv, char *buf, size_t size)
{
    const char *env = getenv("OBOL_STORE");
    char cwd[4096];

    if (argc > 1)
        return argv[1];
    if (env != NULL && env[0] != '\0')
        return env;
    if (getcwd(cwd, sizeof cwd) == NULL)
        return "lmdb:///tmp/obol-demo-data";
    snprintf(buf, size, "lmdb://%s/obol-demo-data%s", cwd,
             getenv("OBOL_SECRET") ? "?secret=env:OBOL_SECRET" : "");
    return buf;
}

static int open_store(const char *config, obol_store **st)
{
    static const uint8_t demo_key[32] = "demo key: never use a fixed key";
    obol_error err;

    if (obol_store_open(config, st, &err) != OBOL_OK)
        return fail("open", &err);
    obol_store_set_logger(*st, log_to_stderr, NULL);
    if (getenv("OBOL_SECRET") == NULL &&
        obol_store_add_key(*st, 1, demo_key, 1, &err) != OBOL_OK)
        return fail("add_key", &err);
    printf("opened %s (driver: %s)\n", config, obol_store_driver_name(*st));
    return 0;
}

static int list_sessions(obol_store *st, const char *uid)
{
    obol_session **all;
    size_t count;
    obol_error err;

    if (obol_get_all(st, uid, NULL, &all, &count, &err) != OBOL_OK)
        return fail("get_all", &err);
    printf("%-34s %zu live session(s) of %s\n", "list the user's devices:", count, uid);
    for (size_t i = 0; i < count; i++)
        printf("    - %s, created %" PRId64 ", refresh until %" PRId64 "\n",
               all[i]->id, all[i]->created_at, all[i]->refresh_expires_at);
    obol_sessions_free(all, count);
    return 0;
}

/* Creates, reads, refreshes, races, lists and revokes sessions of one user. */
static int run(obol_store *st)
{
    const char *uid = "alice@example.org";
    int64_t now = (int64_t)time(NULL);
    obol_session *laptop, *phone, *read_back = NULL, *stale;
    obol_error err;
    int status;

    laptop = obol_session_new(uid, "full", now, 30 * DAY, 7 * DAY);
    phone = obol_session_new(uid, "full", now, 30 * DAY, 7 * DAY);
    if (laptop == NULL || phone == NULL)
        return 1;
    obol_session_set_payload(laptop, "{\"device\":\"laptop\"}", 19);
    if (obol_upsert(st, laptop, &err) != OBOL_OK || obol_upsert(st, phone, &err) != OBOL_OK)
        return fail("create", &err);
    show("1. created the laptop session:", laptop);

    if (obol_get(st, laptop->id, uid, "full", &read_back, &err) != OBOL_OK)
        return fail("get", &err);
    show("2. read it back:", read_back);

    stale = obol_session_dup(read_back);   /* a second client's old copy */
    obol_session_refresh(read_back, now + 60, 7 * DAY);
    if (obol_upsert(st, read_back, &err) != OBOL_OK)
        return fail("refresh", &err);
    show("3. refreshed under the lock:", read_back);

    obol_session_refresh(stale, now + 61, 7 * DAY);
    status = obol_upsert(st, stale, &err);
    printf("%-34s %s\n", "4. a stale refresh is refused:",
           status == OBOL_CONFLICT ? "conflict, as it must be" : "ACCEPTED (bug!)");

    if (list_sessions(st, uid) != 0)
        return 1;
    if (obol_delete(st, phone->id, uid, "full", &err) != OBOL_OK)
        return fail("delete", &err);
    printf("%-34s %s\n", "5. revoked the phone session:", phone->id);
    if (list_sessions(st, uid) != 0)
        return 1;
    if (obol_delete_all(st, uid, "full", &err) != OBOL_OK)
        return fail("delete_all", &err);
    printf("%-34s done\n", "6. logged out everywhere:");

    obol_session_free(laptop);
    obol_session_free(phone);
    obol_session_free(read_back);
    obol_session_free(stale);
    return status == OBOL_CONFLICT ? 0 : 1;
}

int main(int argc, char **argv)
{
    char buf[4160];
    obol_store *st;
    int rc;

    if (open_store(choose_config(argc, argv, buf, sizeof buf), &st) != 0)
        return 1;
    rc = run(st);
    obol_store_close(st);
    return rc;
}

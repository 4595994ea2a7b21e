/*
 * obol demo: the life of one login, step by step, with the refresh-token
 * protocol (obol_refresh): rotation, two tabs, a forged token, a stolen one.
 *
 *   demo [CONFIG]
 *
 * CONFIG defaults to $OBOL_STORE, then to lmdb://$PWD/obol-demo-data. The
 * signing secret comes from $OBOL_SECRET when it is set; otherwise the demo
 * uses a fixed key, which a real application must never do.
 */
#define _POSIX_C_SOURCE 200809L   /* getcwd */

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <obol/obol.h>

#define DAY (24 * 3600)
#define SESSION_TTL (30 * DAY)
#define REFRESH_TTL (7 * DAY)

static void log_to_stderr(void *arg, int level, const char *msg)
{
    (void)arg;
    if (level <= OBOL_LOG_WARNING)
        printf("   [log] %s\n", msg);
}

/* Where a real application pages its security team. */
static void alert(void *arg, const obol_event *e)
{
    (void)arg;
    printf("   [alert] %s: user %.*s, session %.*s\n",
           obol_event_name(e->kind), (int)e->user_id_len, e->user_id,
           (int)e->session_id_len, e->session_id);
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
    obol_store_set_event_hook(*st, alert, NULL);
    if (getenv("OBOL_SECRET") == NULL &&
        obol_store_add_key(*st, 1, demo_key, 1, &err) != OBOL_OK)
        return fail("add_key", &err);
    printf("opened %s (driver: %s)\n", config, obol_store_driver_name(*st));
    return 0;
}

/* A login: a new session, stored; the client gets its token. */
static char *login(obol_store *st, const char *uid, const char *device)
{
    obol_session *s = obol_session_new(uid, "full", obol_store_now(st),
                                       SESSION_TTL, REFRESH_TTL);
    char *token = NULL;
    obol_error err;

    if (s == NULL)
        return NULL;
    obol_session_set_payload(s, device, strlen(device));
    if (obol_upsert(st, s, &err) != OBOL_OK ||
        obol_token_make(st, s, &token, &err) != OBOL_OK)
        fail("login", &err);
    obol_session_free(s);
    return token;
}

static const char *outcome(int status)
{
    switch (status) {
    case OBOL_OK:             return "OK, rotated: the client gets a new token";
    case OBOL_JUST_ROTATED:   return "JUST_ROTATED: use your newest token";
    case OBOL_REUSE_DETECTED: return "REUSE_DETECTED: session revoked";
    case OBOL_NOT_FOUND:      return "NOT_FOUND: log in again";
    default:                  return "an error";
    }
}

/* A client presents token; prints what obol decided. On OBOL_OK the new
 * token is in *next (unless next is NULL). */
static int refresh(obol_store *st, const char *step, const char *token,
                   char **next)
{
    char *new_token = NULL;
    obol_error err;
    int status;

    printf("%s\n", step);
    status = obol_refresh(st, token, REFRESH_TTL, NULL, &new_token, &err);
    printf("   -> %s\n", outcome(status));
    if (status != OBOL_OK)
        printf("      (%s)\n", err.message);
    if (next != NULL)
        *next = new_token;
    else
        free(new_token);
    return status;
}

static int list_sessions(obol_store *st, const char *uid)
{
    obol_session **all;
    size_t count;
    obol_error err;

    if (obol_get_all(st, uid, NULL, &all, &count, &err) != OBOL_OK)
        return fail("get_all", &err);
    printf("8. the user's devices: %zu live session(s):", count);
    for (size_t i = 0; i < count; i++)
        printf(" %.*s", (int)all[i]->extra_payload_len,
               (const char *)all[i]->extra_payload);
    printf("\n");
    obol_sessions_free(all, count);
    return 0;
}

/* Returns a copy of token with one character changed, or NULL. */
static char *altered(const char *token)
{
    char *copy = strdup(token);

    if (copy != NULL) {
        char *c = &copy[strlen(copy) / 2];
        *c = *c == 'A' ? 'B' : 'A';
    }
    return copy;
}

static int run(obol_store *st)
{
    const char *uid = "alice@example.org";
    char *t0, *t1 = NULL, *t2 = NULL, *phone, *forged = NULL;
    obol_error err;
    int ok;

    t0 = login(st, uid, "laptop");
    phone = login(st, uid, "phone");
    ok = t0 != NULL && phone != NULL;
    if (ok)
        printf("1. login on the laptop and the phone; the laptop's token:\n"
               "   %s\n", t0);

    ok = ok && refresh(st, "2. the laptop refreshes with it", t0, &t1) ==
                   OBOL_OK;
    /* A second tab sent the same token before the first got its answer. */
    ok = ok && refresh(st, "3. a second tab sends the same token", t0,
                       NULL) == OBOL_JUST_ROTATED;
    ok = ok && refresh(st, "4. the laptop refreshes with its new token", t1,
                       &t2) == OBOL_OK;

    ok = ok && (forged = altered(t2)) != NULL;
    ok = ok && refresh(st, "5. its newest token, one character altered",
                       forged, NULL) == OBOL_NOT_FOUND;
    if (ok)
        printf("      (its MAC fails before any backend is asked)\n");

    /* t0 is two rotations old: someone kept a copy of it. */
    ok = ok && refresh(st, "6. the first token, two rotations old, comes "
                       "back", t0, NULL) == OBOL_REUSE_DETECTED;
    ok = ok && refresh(st, "7. the laptop, with its newest token", t2,
                       NULL) == OBOL_NOT_FOUND;

    ok = ok && list_sessions(st, uid) == 0;
    if (ok && obol_delete_all(st, uid, "full", &err) != OBOL_OK)
        ok = fail("delete_all", &err) == 0;
    if (ok)
        printf("9. logged out everywhere\n");
    else
        fprintf(stderr, "demo: a step did not go as it should\n");

    free(t0);
    free(t1);
    free(t2);
    free(phone);
    free(forged);
    return ok ? 0 : 1;
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

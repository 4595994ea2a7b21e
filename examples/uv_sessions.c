/*
 * uv_sessions: obol's non-blocking API on a libuv loop.
 *
 *   uv_sessions [CONFIG]
 *
 * One user logs in on six devices; the program reads the sessions back,
 * refreshes two, revokes three, lists what is left and logs the user out.
 * Every call goes through a completion queue that include/obol/uv.h
 * attaches to the loop, and a 10 ms timer, standing for the rest of a
 * server's work, starts each step on its next tick.
 *
 * CONFIG defaults to $OBOL_STORE, then to an LMDB store in a new temporary
 * directory, removed at the end. The signing secret comes from
 * $OBOL_SECRET when it is set; otherwise the program uses a fixed key,
 * which a real application must never do.
 */
#define _POSIX_C_SOURCE 200809L /* mkdtemp(), and the POSIX types of <uv.h> */

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <obol/uv.h>

#define DAY (24 * 3600)
#define SESSION_TTL (30 * DAY)
#define REFRESH_TTL (7 * DAY)
#define TICK_MS 10
#define DEVICES 6

static const char *const user = "alice@example.org";
static const char *const device_names[DEVICES] = {
    "laptop", "phone", "tablet", "tv", "watch", "car"
};

struct app;

/* One device's session; the argument of its callbacks. */
struct device {
    struct app *app;
    const char *name;
    char *session_id;
    char *token;
};

struct app {
    uv_loop_t loop;
    uv_timer_t ticker;
    obol_store *st;
    obol_queue *q;
    obol_uv *watch;
    struct device devices[DEVICES];
    int step;           /* the next step to start */
    int waiting;        /* callbacks of the current step still to run */
    int submitted;      /* operations accepted by the queue */
    int completed;      /* callbacks run */
    int failed;
    unsigned ticks;
    uint64_t last_tick_ms, longest_gap_ms;
};

/* ------------------------------------------------------------ helpers */

static void fail(struct app *app, const char *what, const obol_error *err)
{
    fprintf(stderr, "uv_sessions: %s: %s\n", what, err->message);
    app->failed = 1;
}

/* Counts an operation the queue accepted; its callback will run once. */
static void submitted(struct app *app, int rc, const char *what,
                      const obol_error *err)
{
    if (rc != OBOL_OK) {
        fail(app, what, err);
        return;
    }
    app->submitted++;
    app->waiting++;
}

/* The start of every callback: counts it and checks its status. */
static int answered(struct app *app, const obol_result *r, const char *what)
{
    app->completed++;
    app->waiting--;
    if (r->status == OBOL_OK)
        return 1;
    fprintf(stderr, "uv_sessions: %s: %s (%s)\n", what,
            obol_status_name(r->status),
            r->error != NULL ? r->error->message : "");
    app->failed = 1;
    return 0;
}

/* ---------------------------------------------------------- callbacks */

static void on_login(void *arg, obol_result *r)
{
    struct device *d = arg;
    obol_session *s = r->upserted; /* the session is ours again */
    obol_error err;

    if (answered(d->app, r, "login")) {
        d->session_id = strdup(s->id);
        if (obol_token_make(d->app->st, s, &d->token, &err) != OBOL_OK)
            fail(d->app, "token", &err);
        else if (d->session_id == NULL)
            d->app->failed = 1;
        else
            printf("  login      %-6s session %.8s...\n", d->name, s->id);
    }
    obol_session_free(s);
}

static void on_read(void *arg, obol_result *r)
{
    struct device *d = arg;

    /* r->session is the queue's: read it here, or take it to keep it. */
    if (answered(d->app, r, "read"))
        printf("  read back  %-6s payload \"%.*s\"\n", d->name,
               (int)r->session->extra_payload_len,
               (const char *)r->session->extra_payload);
}

static void on_refresh(void *arg, obol_result *r)
{
    struct device *d = arg;

    if (answered(d->app, r, "refresh")) {
        free(d->token);
        d->token = r->new_token; /* taken: the queue will not free it */
        r->new_token = NULL;
        printf("  refreshed  %-6s a new token\n", d->name);
    }
}

static void on_revoke(void *arg, obol_result *r)
{
    struct device *d = arg;

    if (answered(d->app, r, "revoke"))
        printf("  revoked    %-6s (%llu record)\n", d->name,
               (unsigned long long)r->removed);
}

static void on_list(void *arg, obol_result *r)
{
    struct app *app = arg;

    if (!answered(app, r, "list"))
        return;
    printf("  listed     %zu live session(s):", r->count);
    for (size_t i = 0; i < r->count; i++)
        printf(" %.*s", (int)r->sessions[i]->extra_payload_len,
               (const char *)r->sessions[i]->extra_payload);
    printf("\n");
}

static void on_logout(void *arg, obol_result *r)
{
    struct app *app = arg;

    if (answered(app, r, "logout"))
        printf("  logged out everywhere (%llu records)\n",
               (unsigned long long)r->removed);
}

/* -------------------------------------------------------------- steps */

static void login(struct app *app)
{
    for (int i = 0; i < DEVICES; i++) {
        struct device *d = &app->devices[i];
        obol_session *s;
        obol_error err;
        int rc;

        rc = obol_session_create(user, "full", obol_store_now(app->st),
                                 SESSION_TTL, REFRESH_TTL, &s, &err);
        if (rc == OBOL_OK)
            rc = obol_session_set_payload(s, d->name, strlen(d->name));
        /* The queue borrows s until on_login; a refused submit leaves it
         * ours. */
        if (rc == OBOL_OK)
            rc = obol_upsert_async(app->q, s, on_login, d, &err);
        if (rc != OBOL_OK)
            obol_session_free(s);
        submitted(app, rc, "login", &err);
    }
}

static void read_back(struct app *app)
{
    for (int i = 0; i < DEVICES; i++) {
        struct device *d = &app->devices[i];
        obol_error err;

        submitted(app, obol_get_async(app->q, d->session_id, user, "full",
                                      on_read, d, &err), "read", &err);
    }
}

static void refresh_two(struct app *app)
{
    for (int i = 0; i < 2; i++) {
        struct device *d = &app->devices[i];
        obol_error err;

        submitted(app, obol_refresh_async(app->q, d->token, REFRESH_TTL,
                                          on_refresh, d, &err),
                  "refresh", &err);
    }
}

static void revoke_three(struct app *app)
{
    for (int i = DEVICES - 3; i < DEVICES; i++) {
        struct device *d = &app->devices[i];
        obol_error err;

        submitted(app, obol_delete_async(app->q, d->session_id, user, "full",
                                         on_revoke, d, &err),
                  "revoke", &err);
    }
}

static void list(struct app *app)
{
    obol_error err;

    submitted(app, obol_get_all_async(app->q, user, "full", on_list, app,
                                      &err), "list", &err);
}

static void logout(struct app *app)
{
    obol_error err;

    submitted(app, obol_delete_all_async(app->q, user, "full", on_logout,
                                         app, &err), "logout", &err);
}

static void (*const steps[])(struct app *) = {
    login, read_back, refresh_two, revoke_three, list, logout
};
#define STEPS (int)(sizeof steps / sizeof steps[0])

/* ------------------------------------------------------------ the loop */

/* Leaves the loop: once the timer and the queue's watch are closed, no
 * handle is left and uv_run() returns. Every callback has run by then. */
static void finish(struct app *app)
{
    uv_close((uv_handle_t *)&app->ticker, NULL);
    obol_uv_detach(app->watch);
    app->watch = NULL;
}

/* The timer stands for a server's other work, which obol never blocks:
 * each tick starts the next step once the last one's callbacks have
 * run. */
static void on_tick(uv_timer_t *timer)
{
    struct app *app = timer->data;
    uint64_t now = uv_now(&app->loop);

    app->ticks++;
    if (app->ticks > 1 && now - app->last_tick_ms > app->longest_gap_ms)
        app->longest_gap_ms = now - app->last_tick_ms;
    app->last_tick_ms = now;
    if (app->waiting > 0)
        return;
    if (app->failed || app->step == STEPS) {
        finish(app);
        return;
    }
    printf("tick %u: step %d\n", app->ticks, app->step + 1);
    steps[app->step++](app);
}

static int start(struct app *app)
{
    obol_error err;

    if (obol_queue_open(app->st, NULL, &app->q, &err) != OBOL_OK ||
        obol_uv_attach(&app->loop, app->q, &app->watch, &err) != OBOL_OK) {
        fail(app, "queue", &err);
        return -1;
    }
    for (int i = 0; i < DEVICES; i++) {
        app->devices[i].app = app;
        app->devices[i].name = device_names[i];
    }
    uv_timer_init(&app->loop, &app->ticker);
    app->ticker.data = app;
    uv_timer_start(&app->ticker, on_tick, TICK_MS, TICK_MS);
    return 0;
}

/* ------------------------------------------------------ store and main */

/* The config to use: the argument, $OBOL_STORE, or LMDB in a new
 * directory (its name left in dir; dir[0] is '\0' otherwise). */
static const char *choose_config(int argc, char **argv, char *dir,
                                 char *buf, size_t size)
{
    const char *env = getenv("OBOL_STORE");

    if (argc > 1)
        return argv[1];
    if (env != NULL && env[0] != '\0')
        return env;
    if (mkdtemp(dir) == NULL) {
        perror("uv_sessions: mkdtemp");
        return NULL;
    }
    snprintf(buf, size, "lmdb://%s%s", dir,
             getenv("OBOL_SECRET") ? "?secret=env:OBOL_SECRET" : "");
    return buf;
}

static int open_store(struct app *app, const char *config)
{
    static const uint8_t demo_key[32] = "demo key: never use a fixed key";
    obol_error err;

    if (obol_store_open(config, &app->st, &err) != OBOL_OK ||
        (getenv("OBOL_SECRET") == NULL &&
         obol_store_add_key(app->st, 1, demo_key, 1, &err) != OBOL_OK)) {
        fail(app, "open", &err);
        return -1;
    }
    printf("opened %s (driver: %s)\n", config,
           obol_store_driver_name(app->st));
    return 0;
}

static void remove_lmdb_dir(const char *dir)
{
    char path[4160];

    snprintf(path, sizeof path, "%s/data.mdb", dir);
    unlink(path);
    snprintf(path, sizeof path, "%s/lock.mdb", dir);
    unlink(path);
    rmdir(dir);
}

int main(int argc, char **argv)
{
    static struct app app;
    char dir[] = "/tmp/obol-uv-XXXXXX";
    char buf[4160];
    const char *config;

    if (uv_loop_init(&app.loop) != 0)
        return 1;
    config = choose_config(argc, argv, dir, buf, sizeof buf);
    if (config != NULL && open_store(&app, config) == 0 && start(&app) == 0)
        uv_run(&app.loop, UV_RUN_DEFAULT);
    else
        app.failed = 1;

    printf("%d operations submitted, %d callbacks run; the %d ms timer "
           "ticked %u times, at most %llu ms apart\n", app.submitted,
           app.completed, TICK_MS, app.ticks,
           (unsigned long long)app.longest_gap_ms);
    /* Detached already (finish()), so the queue may close; nothing is
     * left in it, but any callback still owed would run in here. */
    obol_queue_close(app.q);
    obol_store_close(app.st);
    for (int i = 0; i < DEVICES; i++) {
        free(app.devices[i].session_id);
        free(app.devices[i].token);
    }
    if (uv_loop_close(&app.loop) != 0)
        app.failed = 1;
    if (config == buf)
        remove_lmdb_dir(dir);
    return app.failed || app.submitted != app.completed;
}

/* Shared LMDB environments, map growth and the transaction runner; see
 * lmdb_env.h for the rules they follow. */
#define _XOPEN_SOURCE 700 /* realpath() */

#include <errno.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "lmdb_env.h"
#include "lmdb_internal.h"
#include "lmdb_readers.h"

/* A write that keeps finding the map full gets this many growths (each
 * doubles it) before we give up; 2^40 times the initial size is more than
 * any disk. */
#define LMDB_MAX_ATTEMPTS 40

struct lmdb_env {
    lmdb_env_view view;
    char *path;
    unsigned long generation; /* fork_generation when view.env was opened */
    unsigned long refs;    /* guarded by registry_lock */
    /* mdb_env_set_mapsize() may only run while this process has no
     * transaction open: every transaction holds this lock shared, a
     * resize holds it exclusive. */
    pthread_rwlock_t resize_lock;
    size_t map_size;       /* guarded by resize_lock */
    lmdb_readers readers;  /* idle read transactions */
    struct lmdb_env *next; /* guarded by registry_lock */
};

static pthread_mutex_t registry_lock = PTHREAD_MUTEX_INITIALIZER;
static lmdb_env *registry;
static pthread_once_t atfork_once = PTHREAD_ONCE_INIT;
/* Bumped in every child of fork(): an environment opened under another
 * generation belongs to an ancestor. Comparing it costs nothing, where
 * getpid() is a system call on every operation. Written only in a child
 * right after fork(), while it has a single thread. */
static unsigned long fork_generation;

/* fork() while another thread holds registry_lock would leave the child
 * with a lock nobody can release; taking it around fork() prevents that. */
static void registry_prepare_fork(void)
{
    pthread_mutex_lock(&registry_lock);
}

static void registry_after_fork_parent(void)
{
    pthread_mutex_unlock(&registry_lock);
}

static void registry_after_fork_child(void)
{
    fork_generation++;
    pthread_mutex_unlock(&registry_lock);
}

static void registry_install_atfork(void)
{
    pthread_atfork(registry_prepare_fork, registry_after_fork_parent,
                   registry_after_fork_child);
}

int lmdb_env_is_ours(const lmdb_env *env)
{
    return env->generation == fork_generation;
}

const lmdb_env_view *lmdb_env_get_view(const lmdb_env *env)
{
    return &env->view;
}

static size_t current_map_size(MDB_env *env)
{
    MDB_envinfo info;
    if (mdb_env_info(env, &info) != 0)
        return 0;
    return info.me_mapsize;
}

size_t lmdb_env_map_size(lmdb_env *env)
{
    pthread_rwlock_rdlock(&env->resize_lock);
    size_t size = env->map_size;
    pthread_rwlock_unlock(&env->resize_lock);
    return size;
}

static int no_environment(const char *dir, obol_error *err)
{
    return lmdb_fail(err, OBOL_ERR_NO_STORE,
                     "lmdb: no LMDB environment at %s (nothing was created)",
                     dir);
}

/* An environment is its data file: mdb_env_open() would create one where
 * there is none, so its absence is checked first. */
static int check_data_file(const char *dir, obol_error *err)
{
    size_t size = strlen(dir) + sizeof "/data.mdb";
    char *file = malloc(size);
    struct stat st;
    int status = OBOL_OK;

    if (file == NULL)
        return lmdb_fail(err, OBOL_ERR_NOMEM, "lmdb: out of memory");
    snprintf(file, size, "%s/data.mdb", dir);
    int rc = stat(file, &st);
    if (rc != 0 && errno == ENOENT)
        status = no_environment(dir, err);
    else if (rc != 0)
        status = lmdb_fail(err, OBOL_ERR_BACKEND, "lmdb: cannot stat %s: %s",
                           file, strerror(errno));
    else if (!S_ISREG(st.st_mode))
        status = lmdb_fail(err, OBOL_ERR_INVALID,
                           "lmdb: %s is not a regular file", file);
    else if (st.st_size == 0)   /* mdb_env_open() would write one */
        status = no_environment(dir, err);
    free(file);
    return status;
}

/* Creates dir itself (never its parents) and checks it is a directory;
 * with must_exist creates nothing, and checks that it holds an
 * environment too. */
static int ensure_directory(const char *dir, int must_exist, obol_error *err)
{
    if (!must_exist) {
        if (mkdir(dir, 0700) == 0)
            return OBOL_OK;
        if (errno != EEXIST)
            return lmdb_fail(err, OBOL_ERR_BACKEND,
                             "lmdb: cannot create directory %s: %s", dir,
                             strerror(errno));
    }
    struct stat st;
    if (stat(dir, &st) != 0) {
        if (must_exist && (errno == ENOENT || errno == ENOTDIR))
            return no_environment(dir, err);
        return lmdb_fail(err, OBOL_ERR_BACKEND, "lmdb: cannot stat %s: %s",
                         dir, strerror(errno));
    }
    if (!S_ISDIR(st.st_mode))
        return lmdb_fail(err, OBOL_ERR_INVALID,
                         "lmdb: %s is not a directory", dir);
    return must_exist ? check_data_file(dir, err) : OBOL_OK;
}

/* Asks LMDB for a larger map: first the size another process may already
 * have recorded, and if that is no larger than what we had, twice ours.
 * The caller holds resize_lock exclusive (or owns env alone). */
static int grow_map(MDB_env *env, const char *path, size_t seen,
                    obol_error *err)
{
    int rc = mdb_env_set_mapsize(env, 0);
    if (rc != 0)
        return lmdb_fail_mdb(err, rc, "mdb_env_set_mapsize", path);
    if (current_map_size(env) > seen)
        return OBOL_OK;
    if (seen > SIZE_MAX / 2)
        return lmdb_fail(err, OBOL_ERR_BACKEND,
                         "lmdb: map of %s cannot grow past %zu bytes", path,
                         seen);
    rc = mdb_env_set_mapsize(env, seen * 2);
    if (rc != 0)
        return lmdb_fail_mdb(err, rc, "mdb_env_set_mapsize", path);
    return OBOL_OK;
}

/* Creates (or opens) the two named databases; with must_exist only
 * opens them (an environment of another program has none). The
 * environment is not yet shared, so the map may be resized here without
 * the lock. */
static int open_databases(lmdb_env *e, int must_exist, obol_error *err)
{
    MDB_env *env = e->view.env;
    unsigned int create = must_exist ? 0 : MDB_CREATE;
    for (int attempt = 0; attempt < LMDB_MAX_ATTEMPTS; attempt++) {
        MDB_txn *txn;
        const char *what = "mdb_txn_begin";
        int rc = mdb_txn_begin(env, NULL, 0, &txn);
        if (rc == MDB_MAP_RESIZED) {
            rc = mdb_env_set_mapsize(env, 0);
            if (rc != 0)
                return lmdb_fail_mdb(err, rc, "mdb_env_set_mapsize", e->path);
            continue;
        }
        if (rc != 0)
            return lmdb_fail_mdb(err, rc, what, e->path);
        what = "mdb_dbi_open";
        rc = mdb_dbi_open(txn, "sessions", create, &e->view.sessions);
        if (rc == 0)
            rc = mdb_dbi_open(txn, "expiry", create, &e->view.expiry);
        if (rc == 0) {
            what = "mdb_txn_commit";
            rc = mdb_txn_commit(txn);
        } else {
            mdb_txn_abort(txn);
        }
        if (rc == 0)
            return OBOL_OK;
        if (rc == MDB_NOTFOUND && create == 0)
            return lmdb_fail(err, OBOL_ERR_NO_STORE,
                             "lmdb: the LMDB environment at %s holds no obol "
                             "store (nothing was created)", e->path);
        if (rc != MDB_MAP_FULL)
            return lmdb_fail_mdb(err, rc, what, e->path);
        int status = grow_map(env, e->path, current_map_size(env), err);
        if (status != OBOL_OK)
            return status;
    }
    return lmdb_fail(err, OBOL_ERR_BACKEND,
                     "lmdb: map of %s still full after %d growths", e->path,
                     LMDB_MAX_ATTEMPTS);
}

/* mdb_env_open() uses the configured size even when the environment has
 * already grown larger, which would only make us grow again. Take the
 * larger of the two: the size recorded in the file (what
 * mdb_env_set_mapsize(env, 0) adopts) and the configured one. */
static int keep_recorded_map_size(MDB_env *env, const char *path,
                                  size_t configured, obol_error *err)
{
    int rc = mdb_env_set_mapsize(env, 0);
    if (rc == 0 && current_map_size(env) < configured)
        rc = mdb_env_set_mapsize(env, configured);
    if (rc != 0)
        return lmdb_fail_mdb(err, rc, "mdb_env_set_mapsize", path);
    return OBOL_OK;
}

static int configure_env(MDB_env *env, const char *path,
                         const lmdb_env_settings *settings, obol_error *err)
{
    int rc = mdb_env_set_maxdbs(env, 2);
    if (rc == 0 && settings->max_readers > 0)
        rc = mdb_env_set_maxreaders(env, settings->max_readers);
    if (rc == 0)
        rc = mdb_env_set_mapsize(env, settings->map_size);
    if (rc != 0)
        return lmdb_fail_mdb(err, rc, "mdb_env_set", path);
    /* MDB_NOTLS: read transactions belong to their MDB_txn, not to the
     * thread, so any thread may run any handle's reads. */
    rc = mdb_env_open(env, path, MDB_NOTLS | settings->sync_flags, 0600);
    if (rc != 0)
        return lmdb_fail_mdb(err, rc, "mdb_env_open", path);
    /* Reader slots left behind by processes that died (SIGKILL) would pin
     * old pages forever; free them now. */
    int dead;
    mdb_reader_check(env, &dead);
    return keep_recorded_map_size(env, path, settings->map_size, err);
}

static void free_env(lmdb_env *e)
{
    lmdb_readers_drain(&e->readers);
    if (e->view.env != NULL)
        mdb_env_close(e->view.env);
    pthread_rwlock_destroy(&e->resize_lock);
    free(e->path);
    free(e);
}

static int open_env(const char *path, const lmdb_env_settings *settings,
                    lmdb_env **out, obol_error *err)
{
    lmdb_env *e = calloc(1, sizeof *e);
    if (e == NULL)
        return lmdb_fail(err, OBOL_ERR_NOMEM, "lmdb: out of memory");
    e->path = strdup(path);
    if (e->path == NULL || pthread_rwlock_init(&e->resize_lock, NULL) != 0) {
        free(e->path);
        free(e);
        return lmdb_fail(err, OBOL_ERR_NOMEM, "lmdb: out of memory");
    }
    e->view.path = e->path;
    int rc = mdb_env_create(&e->view.env);
    if (rc != 0) {
        e->view.env = NULL;
        free_env(e);
        return lmdb_fail_mdb(err, rc, "mdb_env_create", path);
    }
    int status = configure_env(e->view.env, path, settings, err);
    if (status == OBOL_OK)
        status = open_databases(e, settings->must_exist, err);
    if (status != OBOL_OK) {
        free_env(e);
        return status;
    }
    e->view.max_key = (size_t)mdb_env_get_maxkeysize(e->view.env);
    lmdb_readers_init(&e->readers, e->view.env);
    e->map_size = current_map_size(e->view.env);
    e->generation = fork_generation;
    e->refs = 1;
    *out = e;
    return OBOL_OK;
}

/* Caller holds registry_lock. */
static lmdb_env *registry_find(const char *path)
{
    for (lmdb_env *e = registry; e != NULL; e = e->next) {
        /* An entry copied from the parent by fork() is not ours to use. */
        if (lmdb_env_is_ours(e) && strcmp(e->path, path) == 0)
            return e;
    }
    return NULL;
}

int lmdb_env_acquire(const char *dir, const lmdb_env_settings *settings,
                     lmdb_env **out, obol_error *err)
{
    pthread_once(&atfork_once, registry_install_atfork);
    int status = ensure_directory(dir, settings->must_exist, err);
    if (status != OBOL_OK)
        return status;
    char *path = realpath(dir, NULL);
    if (path == NULL && errno == ENOMEM)
        return lmdb_fail(err, OBOL_ERR_NOMEM,
                         "lmdb: out of memory resolving %s", dir);
    if (path == NULL)
        return lmdb_fail(err, OBOL_ERR_BACKEND,
                         "lmdb: cannot resolve %s: %s", dir, strerror(errno));
    pthread_mutex_lock(&registry_lock);
    lmdb_env *e = registry_find(path);
    if (e != NULL) {
        e->refs++;
    } else {
        status = open_env(path, settings, &e, err);
        if (status == OBOL_OK) {
            e->next = registry;
            registry = e;
        }
    }
    pthread_mutex_unlock(&registry_lock);
    free(path);
    if (status == OBOL_OK)
        *out = e;
    return status;
}

void lmdb_env_release(lmdb_env *env)
{
    /* The parent's environment must not be closed by a child: closing its
     * descriptors would drop the locks LMDB keeps on the lock file. */
    if (env == NULL || !lmdb_env_is_ours(env))
        return;
    pthread_mutex_lock(&registry_lock);
    if (--env->refs > 0) {
        pthread_mutex_unlock(&registry_lock);
        return;
    }
    for (lmdb_env **link = &registry; *link != NULL; link = &(*link)->next) {
        if (*link == env) {
            *link = env->next;
            break;
        }
    }
    /* Closed under the registry lock, so that no new environment on the
     * same file is opened in this process before this one is gone. */
    free_env(env);
    pthread_mutex_unlock(&registry_lock);
}

int lmdb_txn_mdb_fail(lmdb_txn *t, const char *what, int rc)
{
    t->mdb_rc = rc;
    t->what = what;
    return OBOL_ERR_BACKEND;
}

/* Another process grew the map past ours: adopt its size. */
static int adopt_map_size(lmdb_env *env, obol_error *err)
{
    pthread_rwlock_wrlock(&env->resize_lock);
    int rc = mdb_env_set_mapsize(env->view.env, 0);
    env->map_size = current_map_size(env->view.env);
    pthread_rwlock_unlock(&env->resize_lock);
    if (rc != 0)
        return lmdb_fail_mdb(err, rc, "mdb_env_set_mapsize", env->path);
    return OBOL_OK;
}

/* Our write found the map full at size seen. Several threads may get here
 * at once; only the first one that finds the size unchanged grows it. */
static int grow_shared_map(lmdb_env *env, size_t seen, obol_error *err)
{
    int status = OBOL_OK;
    pthread_rwlock_wrlock(&env->resize_lock);
    if (env->map_size == seen) {
        status = grow_map(env->view.env, env->path, seen, err);
        env->map_size = current_map_size(env->view.env);
    }
    pthread_rwlock_unlock(&env->resize_lock);
    return status;
}

/* What to do after a failed mdb_txn_begin: OBOL_OK means try again. */
static int recover_begin(lmdb_env *env, int rc, obol_error *err)
{
    if (rc == MDB_MAP_RESIZED)
        return adopt_map_size(env, err);
    if (rc == MDB_READERS_FULL) {
        int dead = 0;
        mdb_reader_check(env->view.env, &dead);
        if (dead > 0 || lmdb_readers_drain(&env->readers) > 0)
            return OBOL_OK;
    }
    return lmdb_fail_mdb(err, rc, "mdb_txn_begin", env->path);
}

/* One try: begin, body, commit or abort, all under the shared lock.
 * Leaves an LMDB failure in t for the caller to act on. */
static int run_once(lmdb_env *env, int write, lmdb_txn_body body, void *arg,
                    lmdb_txn *t, size_t *seen, int *begin_rc)
{
    pthread_rwlock_rdlock(&env->resize_lock);
    *seen = env->map_size;
    *begin_rc = write ? mdb_txn_begin(env->view.env, NULL, 0, &t->txn)
                      : lmdb_readers_begin(&env->readers, env->view.env,
                                           &t->txn);
    if (*begin_rc != 0) {
        pthread_rwlock_unlock(&env->resize_lock);
        return OBOL_ERR_BACKEND;
    }
    int status = body(t, arg);
    if (write && status == OBOL_OK && t->mdb_rc == 0) {
        int rc = mdb_txn_commit(t->txn);
        if (rc != 0)
            status = lmdb_txn_mdb_fail(t, "mdb_txn_commit", rc);
    } else if (write) {
        mdb_txn_abort(t->txn);
    } else {
        lmdb_readers_end(&env->readers, t->txn);
    }
    pthread_rwlock_unlock(&env->resize_lock);
    return status;
}

int lmdb_env_run(lmdb_env *env, int write, lmdb_txn_body body, void *arg,
                 obol_error *err)
{
    for (int attempt = 0; attempt < LMDB_MAX_ATTEMPTS; attempt++) {
        lmdb_txn t = { .view = &env->view, .err = err };
        size_t seen;
        int begin_rc;
        int status = run_once(env, write, body, arg, &t, &seen, &begin_rc);
        if (begin_rc != 0) {
            status = recover_begin(env, begin_rc, err);
        } else if (t.mdb_rc == MDB_MAP_FULL && write) {
            status = grow_shared_map(env, seen, err);
        } else if (t.mdb_rc != 0) {
            return lmdb_fail_mdb(err, t.mdb_rc, t.what, env->path);
        } else {
            return status;
        }
        if (status != OBOL_OK)
            return status;
    }
    return lmdb_fail(err, OBOL_ERR_BACKEND,
                     "lmdb: gave up on %s after %d attempts (map still full)",
                     env->path, LMDB_MAX_ATTEMPTS);
}

/*
 * Shared LMDB environments and the transaction runner.
 *
 * LMDB allows one MDB_env per data file per process (a second one would
 * break its POSIX locks), so every store opened on one directory in one
 * process shares one reference-counted lmdb_env, found in a registry keyed
 * by the directory's real path. An environment belongs to the process
 * that opened it: after fork() the child opens its own and never touches
 * (or closes) the parent's.
 *
 * Transactions run through lmdb_env_run(), which grows the map when a
 * write finds it full and adopts a size grown by another process.
 */
#ifndef OBOL_LMDB_ENV_H
#define OBOL_LMDB_ENV_H

#include <stddef.h>
#include <sys/types.h>

#include <lmdb.h>
#include <obol/driver.h>

/* What a config string decides about an environment. The first store to
 * open a directory in a process decides for every later one. */
typedef struct lmdb_env_settings {
    size_t map_size;          /* initial map size in bytes */
    unsigned int max_readers; /* 0: LMDB's default */
    unsigned int sync_flags;  /* 0, MDB_NOMETASYNC or MDB_NOSYNC */
    int must_exist;           /* create=0: create neither the directory,
                                 the environment nor its databases */
} lmdb_env_settings;

typedef struct lmdb_env lmdb_env;

/* The parts of an environment the operations read; the rest is private
 * to lmdb_env.c. */
typedef struct lmdb_env_view {
    MDB_env *env;
    MDB_dbi sessions; /* session key -> header + sealed bytes */
    MDB_dbi expiry;   /* expiry key -> empty */
    const char *path; /* real path of the directory */
    size_t max_key;   /* mdb_env_get_maxkeysize() */
} lmdb_env_view;

/* Finds or opens the environment of directory dir (absolute; created with
 * mode 0700 when missing). With settings->must_exist nothing is created:
 * a directory that is missing or holds no environment with our databases
 * is OBOL_ERR_NO_STORE. Returns OBOL_OK or an error in err. */
int lmdb_env_acquire(const char *dir, const lmdb_env_settings *settings,
                     lmdb_env **out, obol_error *err);

/* Drops one reference; the last one closes the environment. Does nothing
 * in a process other than the one that opened it. */
void lmdb_env_release(lmdb_env *env);

/* Whether env was opened by the calling process. */
int lmdb_env_is_ours(const lmdb_env *env);

const lmdb_env_view *lmdb_env_get_view(const lmdb_env *env);

/* Current map size in bytes (takes the resize lock briefly). */
size_t lmdb_env_map_size(lmdb_env *env);

/* One attempt at a transaction, as a body sees it. */
typedef struct lmdb_txn {
    const lmdb_env_view *view;
    MDB_txn *txn;
    obol_error *err;
    int mdb_rc;       /* set by lmdb_txn_mdb_fail() */
    const char *what; /* the LMDB call that failed */
} lmdb_txn;

/*
 * A transaction body: does its reads and writes with t->txn and returns a
 * status. A write transaction is committed only when the body returns
 * OBOL_OK; anything else aborts it. A body may run more than once (when
 * the map had to grow), so it must start from scratch each time and have
 * no effect outside the transaction.
 */
typedef int (*lmdb_txn_body)(lmdb_txn *t, void *arg);

/* Records a failed LMDB call in t and returns OBOL_ERR_BACKEND; the
 * runner decides whether to retry or report it. */
int lmdb_txn_mdb_fail(lmdb_txn *t, const char *what, int rc);

/* Runs body in a read (write = 0) or write transaction. */
int lmdb_env_run(lmdb_env *env, int write, lmdb_txn_body body, void *arg,
                 obol_error *err);

#endif

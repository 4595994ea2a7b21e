/*
 * lmdb_records DIR: prints how many records the LMDB environment in DIR
 * holds, sessions and expiry index entries, of every prefix, as
 * "sessions N expiry N". What obol-driver-check leaves behind, whatever
 * prefixes its cases used.
 *
 * lmdb_records --make-foreign DIR: makes in DIR (which must exist) an LMDB
 * environment of another program's: one record in its main database, and
 * none of obol's.
 */
#include "config.h"

#include <stdio.h>
#include <string.h>

#include <lmdb.h>

static int count(MDB_txn *txn, const char *name, size_t *out)
{
    MDB_dbi dbi;
    MDB_stat stat;
    int rc = mdb_dbi_open(txn, name, 0, &dbi);

    *out = 0;
    if (rc == MDB_NOTFOUND)
        return 0;               /* never written to */
    if (rc == 0)
        rc = mdb_stat(txn, dbi, &stat);
    if (rc == 0)
        *out = stat.ms_entries;
    return rc;
}

static int make_foreign(const char *dir)
{
    MDB_env *env = NULL;
    MDB_txn *txn = NULL;
    MDB_dbi dbi;
    MDB_val key = { 3, "key" }, value = { 5, "value" };
    int rc = mdb_env_create(&env);

    if (rc == 0)
        rc = mdb_env_open(env, dir, 0, 0600);
    if (rc == 0)
        rc = mdb_txn_begin(env, NULL, 0, &txn);
    if (rc == 0)
        rc = mdb_dbi_open(txn, NULL, 0, &dbi);
    if (rc == 0)
        rc = mdb_put(txn, dbi, &key, &value, 0);
    if (rc == 0) {
        rc = mdb_txn_commit(txn);
        txn = NULL;
    }
    if (txn != NULL)
        mdb_txn_abort(txn);
    mdb_env_close(env);
    if (rc != 0)
        fprintf(stderr, "lmdb_records: %s: %s\n", dir, mdb_strerror(rc));
    return rc == 0 ? 0 : 1;
}

int main(int argc, char **argv)
{
    MDB_env *env = NULL;
    MDB_txn *txn = NULL;
    size_t sessions = 0, expiry = 0;
    int rc;

    if (argc == 3 && strcmp(argv[1], "--make-foreign") == 0)
        return make_foreign(argv[2]);
    if (argc != 2) {
        fprintf(stderr, "usage: lmdb_records [--make-foreign] DIR\n");
        return 2;
    }
    rc = mdb_env_create(&env);
    if (rc == 0)
        rc = mdb_env_set_maxdbs(env, 2);
    if (rc == 0)
        rc = mdb_env_open(env, argv[1], MDB_RDONLY, 0);
    if (rc == 0)
        rc = mdb_txn_begin(env, NULL, MDB_RDONLY, &txn);
    if (rc == 0)
        rc = count(txn, "sessions", &sessions);
    if (rc == 0)
        rc = count(txn, "expiry", &expiry);
    if (txn != NULL)
        mdb_txn_abort(txn);
    mdb_env_close(env);
    if (rc != 0) {
        fprintf(stderr, "lmdb_records: %s: %s\n", argv[1], mdb_strerror(rc));
        return 1;
    }
    printf("sessions %zu expiry %zu\n", sessions, expiry);
    return 0;
}

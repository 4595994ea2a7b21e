/* Idle read transactions kept for reuse; see lmdb_readers.h. */
#include "config.h"

#include <stddef.h>

#include "lmdb_readers.h"

void lmdb_readers_init(lmdb_readers *r, MDB_env *env)
{
    unsigned int slots = 0;
    mdb_env_get_maxreaders(env, &slots);
    r->capacity = slots / 16 < LMDB_IDLE_READERS ? (int)(slots / 16)
                                                 : LMDB_IDLE_READERS;
}

static MDB_txn *take_idle(lmdb_readers *r)
{
    for (int i = 0; i < r->capacity; i++) {
        MDB_txn *txn = atomic_exchange(&r->idle[i], NULL);
        if (txn != NULL)
            return txn;
    }
    return NULL;
}

int lmdb_readers_begin(lmdb_readers *r, MDB_env *env, MDB_txn **txn)
{
    MDB_txn *idle = take_idle(r);
    if (idle != NULL) {
        if (mdb_txn_renew(idle) == 0) {
            *txn = idle;
            return 0;
        }
        /* A renew that fails (the map grew elsewhere, say) is reported
         * by the begin below, which the runner knows how to recover. */
        mdb_txn_abort(idle);
    }
    return mdb_txn_begin(env, NULL, MDB_RDONLY, txn);
}

void lmdb_readers_end(lmdb_readers *r, MDB_txn *txn)
{
    mdb_txn_reset(txn);
    for (int i = 0; i < r->capacity; i++) {
        MDB_txn *none = NULL;
        if (atomic_compare_exchange_strong(&r->idle[i], &none, txn))
            return;
    }
    mdb_txn_abort(txn);
}

int lmdb_readers_drain(lmdb_readers *r)
{
    MDB_txn *txn;
    int drained = 0;
    while ((txn = take_idle(r)) != NULL) {
        mdb_txn_abort(txn);
        drained++;
    }
    return drained;
}

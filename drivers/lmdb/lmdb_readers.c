/* Idle read transactions kept for reuse; see lmdb_readers.h. */
#include "config.h"

#include <stddef.h>

#include "lmdb_readers.h"

static MDB_txn *take_idle(lmdb_readers *r)
{
    for (int i = 0; i < LMDB_IDLE_READERS; i++) {
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
    for (int i = 0; i < LMDB_IDLE_READERS; i++) {
        MDB_txn *none = NULL;
        if (atomic_compare_exchange_strong(&r->idle[i], &none, txn))
            return;
    }
    mdb_txn_abort(txn);
}

void lmdb_readers_drain(lmdb_readers *r)
{
    MDB_txn *txn;
    while ((txn = take_idle(r)) != NULL)
        mdb_txn_abort(txn);
}

/*
 * Idle read transactions, kept for reuse.
 *
 * Beginning a read transaction costs an allocation and, under MDB_NOTLS,
 * the lock of LMDB's reader table to find a free slot; ending one gives
 * both back. A transaction that is reset instead keeps its slot and its
 * memory, and mdb_txn_renew() makes it current again for a fraction of
 * that (docs/BENCHMARKS.md, "The read path"). MDB_NOTLS lets any thread
 * renew a transaction another thread reset, so one small shelf per
 * environment serves every thread without locks: a thread takes a
 * transaction off it, or begins one when it is empty, and puts it back
 * reset, or aborts it when the shelf is full.
 *
 * A reset transaction pins no snapshot (LMDB may reuse the pages it
 * read), so idle ones hold back nothing but their reader slots: as many
 * as the process once read with at the same time, and at most one per 16
 * of the environment's max_readers (up to LMDB_IDLE_READERS), because
 * the slots are shared by every process on the environment and an idle
 * one of ours is one that another process cannot take. An environment
 * with fewer than 16 slots keeps none. A process that finds every slot
 * taken gives its own idle ones back (lmdb_readers_drain()) and tries
 * again.
 */
#ifndef OBOL_LMDB_READERS_H
#define OBOL_LMDB_READERS_H

#include <stdatomic.h>

#include <lmdb.h>

#define LMDB_IDLE_READERS 8

typedef struct lmdb_readers {
    _Atomic(MDB_txn *) idle[LMDB_IDLE_READERS];
    int capacity;   /* how many of idle are used; set before any read */
} lmdb_readers;

/* Sizes the shelf of an opened environment by its max_readers. */
void lmdb_readers_init(lmdb_readers *r, MDB_env *env);

/* A read transaction of env, current: a renewed idle one or a new one.
 * Returns 0 or what mdb_txn_begin() returned. */
int lmdb_readers_begin(lmdb_readers *r, MDB_env *env, MDB_txn **txn);

/* Ends a read transaction: shelved reset, or aborted. */
void lmdb_readers_end(lmdb_readers *r, MDB_txn *txn);

/* Aborts every idle transaction, and says how many there were. Safe
 * beside other threads' reads; before the environment closes, nothing
 * else may run on r. */
int lmdb_readers_drain(lmdb_readers *r);

#endif

/*
 * The replies a connection's reader builds (redis_conn.c), each in an
 * arena of its own. hiredis's own functions allocate two blocks for
 * every string of a reply (its redisReply and its bytes), and a list of
 * 100 sessions is 400 strings: here the structs, the strings and the
 * arrays of element pointers of one reply are carved out of a few
 * blocks, and freed together.
 *
 * A reply has hiredis's shape (redisReply, each string NUL-terminated
 * after its len bytes), so it is read as before; it must be freed with
 * redis_reply_free(), never freeReplyObject(), and only whole: its
 * elements are not replies of their own. What the guard (redis_guard.h)
 * lets through bounds what a reply may hold, as it bounded hiredis.
 */
#ifndef OBOL_REDIS_REPLY_H
#define OBOL_REDIS_REPLY_H

#include <stddef.h>

#include <hiredis.h>

/* Where a reader builds its reply; in the connection, set up by
 * redis_reply_reader_new(), and never moved while the reader lives. */
typedef struct redis_reply_arena {
    struct redis_reply_block *first;   /* the reply being built's root */
    struct redis_reply_block *current; /* where the next object goes */
} redis_reply_arena;

/* A reader whose replies are built in arena; NULL when out of memory.
 * Free it with redisReaderFree(). */
redisReader *redis_reply_reader_new(redis_reply_arena *arena);

/* Frees a reply of such a reader, and all it holds; NULL is allowed. */
void redis_reply_free(redisReply *reply);

#endif

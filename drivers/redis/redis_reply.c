/* Replies built in an arena each; see redis_reply.h. */
#include "config.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "redis_reply.h"

/* A block of an arena. The first holds the reply's root at its start,
 * which is how redis_reply_free() finds it, and heads the list of the
 * blocks added after it. */
typedef struct redis_reply_block {
    struct redis_reply_block *next;
    size_t used, size;   /* bytes carved, bytes there after the head */
} redis_reply_block;

#define OBJECT_ALIGN _Alignof(redisReply)
#define HEAD_SIZE \
    ((sizeof(redis_reply_block) + OBJECT_ALIGN - 1) & ~(OBJECT_ALIGN - 1))
/* An array's first block has room for this many bytes per element (a
 * redisReply and a short string), for at most RESERVE_ELEMENTS of them:
 * a header announces, it does not prove, so "*1000000" reserves little. */
#define RESERVE_PER_ELEMENT (sizeof(redisReply) + 64)
#define RESERVE_ELEMENTS 4096
/* Later blocks double, from BLOCK_MIN to BLOCK_MAX bytes; an object
 * over a quarter of the next block (a long record) gets one of its own,
 * so that the block being filled goes on. */
#define BLOCK_MIN 4096
#define BLOCK_MAX (1024 * 1024)

static size_t aligned(size_t size)
{
    return (size + OBJECT_ALIGN - 1) & ~(OBJECT_ALIGN - 1);
}

static char *data_of(redis_reply_block *b)
{
    return (char *)b + HEAD_SIZE;
}

static redis_reply_block *block_new(size_t size)
{
    redis_reply_block *b = malloc(HEAD_SIZE + size);

    if (b == NULL)
        return NULL;
    b->next = NULL;
    b->used = 0;
    b->size = size;
    return b;
}

/* The root of a new reply, of size bytes, in a first block with spare
 * bytes for what the reply will hold. */
static void *root_new(redis_reply_arena *a, size_t size, size_t spare)
{
    redis_reply_block *b = block_new(aligned(size) + spare);

    if (b == NULL)
        return NULL;
    b->used = aligned(size);
    a->first = a->current = b;
    return data_of(b);
}

/* A block of at least size bytes more, in the list of the first. */
static redis_reply_block *block_add(redis_reply_arena *a, size_t size)
{
    size_t grown = a->current->size * 2;
    redis_reply_block *b;
    int alone;

    if (grown < BLOCK_MIN)
        grown = BLOCK_MIN;
    if (grown > BLOCK_MAX)
        grown = BLOCK_MAX;
    alone = size > grown / 4;
    b = block_new(alone ? size : grown);
    if (b == NULL)
        return NULL;
    b->next = a->first->next;
    a->first->next = b;
    if (!alone)
        a->current = b;
    return b;
}

/* size bytes for an object below the root. */
static void *carve(redis_reply_arena *a, size_t size)
{
    redis_reply_block *b = a->current;
    void *object;

    size = aligned(size);
    if (b->size - b->used < size && (b = block_add(a, size)) == NULL)
        return NULL;
    object = data_of(b) + b->used;
    b->used += size;
    return object;
}

/* A reply object with extra bytes after it (a string's, an array's
 * element pointers), put in its parent's array. */
static redisReply *object_new(const redisReadTask *task, int type,
                              size_t extra, size_t spare)
{
    redis_reply_arena *a = task->privdata;
    size_t size = sizeof(redisReply) + extra;
    redisReply *r = task->parent == NULL ? root_new(a, size, spare)
                                         : carve(a, size);

    if (r == NULL)
        return NULL;
    memset(r, 0, sizeof *r);
    r->type = type;
    if (task->parent != NULL) {
        redisReply *parent = task->parent->obj;
        parent->element[task->idx] = r;
    }
    return r;
}

static void *create_string(const redisReadTask *task, char *str, size_t len)
{
    redisReply *r = len < SIZE_MAX - sizeof(redisReply) - OBJECT_ALIGN
                        ? object_new(task, task->type, len + 1, 0)
                        : NULL;

    if (r == NULL)
        return NULL;
    r->str = (char *)(r + 1);
    memcpy(r->str, str, len);
    r->str[len] = '\0';
    r->len = len;
    return r;
}

static void *create_array(const redisReadTask *task, int elements)
{
    size_t count = elements > 0 ? (size_t)elements : 0;
    size_t reserved = count < RESERVE_ELEMENTS ? count : RESERVE_ELEMENTS;
    redisReply *r = object_new(task, REDIS_REPLY_ARRAY,
                               count * sizeof(redisReply *),
                               reserved * RESERVE_PER_ELEMENT);

    if (r == NULL)
        return NULL;
    r->elements = count;
    r->element = count > 0 ? (redisReply **)(r + 1) : NULL;
    return r;
}

static void *create_integer(const redisReadTask *task, long long value)
{
    redisReply *r = object_new(task, REDIS_REPLY_INTEGER, 0, 0);

    if (r != NULL)
        r->integer = value;
    return r;
}

static void *create_nil(const redisReadTask *task)
{
    return object_new(task, REDIS_REPLY_NIL, 0, 0);
}

void redis_reply_free(redisReply *reply)
{
    redis_reply_block *first, *b;

    if (reply == NULL)
        return;
    first = (redis_reply_block *)((char *)reply - HEAD_SIZE);
    b = first->next;
    while (b != NULL) {
        redis_reply_block *next = b->next;
        free(b);
        b = next;
    }
    free(first);
}

/* What the reader frees: a reply it built but did not hand over (a
 * protocol error half-way, or the reader freed with one unfinished). */
static void free_object(void *reply)
{
    redis_reply_free(reply);
}

static redisReplyObjectFunctions arena_functions = {
    create_string, create_array, create_integer, create_nil, free_object,
};

redisReader *redis_reply_reader_new(redis_reply_arena *arena)
{
    redisReader *reader = redisReaderCreateWithFunctions(&arena_functions);

    if (reader == NULL)
        return NULL;
    arena->first = arena->current = NULL;
    reader->privdata = arena;
    return reader;
}

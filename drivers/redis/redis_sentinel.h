/*
 * The Sentinel client protocol, as the topology of redis+sentinel:// uses
 * it: which address the Sentinels give for the master's name, and whether
 * a connection made to that address really reaches a master.
 *
 * The Sentinels are asked one after another, each within
 * sentinel_timeout_ms (and never past the call's deadline), on a
 * connection of their own logged in with sentinel_user/sentinel_password,
 * which need not be the data nodes' login. The first that names the
 * master wins and is asked first next time. When none does, the error
 * names every Sentinel asked, each with its cause.
 *
 * Sentinel connections are not pooled: they are made only when the data
 * node's connection is (re)made, on READONLY, and after a shortfall of
 * WAIT, never in the steady state of a call.
 */
#ifndef OBOL_REDIS_SENTINEL_H
#define OBOL_REDIS_SENTINEL_H

#include <stddef.h>
#include <stdint.h>

#include <obol/driver.h>

#include "redis_config.h"
#include "redis_conn.h"

typedef struct redis_sentinels {
    const redis_settings *settings;  /* the store's; seeds are the Sentinels */
    redis_settings login;    /* the settings a Sentinel connection uses: a
                                shallow copy with the Sentinels' login and
                                timeout, database 0; owns nothing */
    size_t first;            /* asked first: the last one that answered */
} redis_sentinels;

void redis_sentinels_init(redis_sentinels *s, const redis_settings *settings);

/*
 * Asks the Sentinels for the master's address, at most until deadline.
 * OBOL_OK with host (NUL-terminated) and *port; otherwise OBOL_ERR_BACKEND
 * (OBOL_ERR_TIMEOUT when every Sentinel timed out) and a message naming
 * each Sentinel with its cause. Not for concurrent use on one s.
 */
int redis_sentinels_ask(redis_sentinels *s, int64_t deadline, char *host,
                        size_t host_size, uint16_t *port, obol_error *err);

/* Sends ROLE on conn: OBOL_OK when the server says it is a master,
 * OBOL_ERR_BACKEND naming what it is otherwise. */
int redis_sentinel_check_role(redis_conn *conn, int64_t deadline,
                              obol_error *err);

#endif

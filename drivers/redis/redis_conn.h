/*
 * One connection to one server, on the driver's own non-blocking socket
 * (TCP or unix), over TLS when the settings have a TLS context
 * (redis_tls.h: rediss://, rediss+cluster://). Commands are formatted
 * here, straight into the output buffer; hiredis only parses replies
 * (redisReader);
 * every wait is a poll() bounded by the deadline of the call, so a server
 * that stalls, or drips a reply one byte at a time, cannot stretch a call
 * past it. The TLS handshake is bounded by the connect's deadline.
 *
 * Commands are appended to an output buffer and sent together by
 * redis_conn_flush(), then their replies are read in order, so one round
 * trip can carry several commands (a script and its WAIT, a batch).
 *
 * Replies pass through a guard (redis_guard.h) that keeps any of them from
 * making the driver buffer more than settings->max_record allows.
 *
 * A connection that saw an I/O error, an end of file, a protocol error or
 * a timeout is broken: what it would read next is unknowable, so it must
 * be closed (redis_pool_give() does that).
 */
#ifndef OBOL_REDIS_CONN_H
#define OBOL_REDIS_CONN_H

#include <stddef.h>
#include <stdint.h>

#include <hiredis.h>

#include <obol/driver.h>

#include "redis_config.h"

typedef struct redis_conn redis_conn;

/* Milliseconds on the monotonic clock; deadlines are points on it. */
int64_t redis_now_ms(void);

/*
 * Connects to ep, and over TLS does the handshake, within
 * connect_timeout_ms of settings, then logs in (AUTH, SELECT; over TLS at
 * least a PING, so that a server that refuses the client's certificate
 * says so here) before deadline. Messages name ep->where; ep and settings
 * must outlive the connection.
 */
int redis_conn_open(const redis_endpoint *ep, const redis_settings *settings,
                    int64_t deadline, redis_conn **out, obol_error *err);

void redis_conn_close(redis_conn *conn);

/* The connection has bytes to read or an end of file while no reply is
 * awaited: the server closed it, or sent what nobody asked for. Over TLS
 * it reads, without waiting, what TLS itself sent (session tickets),
 * which does not count. */
int redis_conn_is_stale(redis_conn *conn);

int redis_conn_is_broken(const redis_conn *conn);

/* Whether the connection may go back to its pool: not broken, and no
 * reply on it was too long to keep (redis_guard.h), which leaves a
 * connection unfit for reuse even when it could be read on. */
int redis_conn_is_reusable(const redis_conn *conn);

const redis_endpoint *redis_conn_endpoint(const redis_conn *conn);

/* Appends one command to the output buffer; OBOL_OK or OBOL_ERR_NOMEM. */
int redis_conn_append(redis_conn *conn, int argc, const char **argv,
                      const size_t *argv_len, obol_error *err);

/*
 * Sends the output buffer. *sent_any (may be NULL) tells whether any byte
 * left, which is what decides whether a failed write may have run. what
 * names the command in messages.
 */
int redis_conn_flush(redis_conn *conn, int64_t deadline, const char *what,
                     int *sent_any, obol_error *err);

/* Reads the next reply (free it with redis_reply_free(): the reader
 * builds it in an arena, redis_reply.h). Error replies are returned as
 * replies, with OBOL_OK. */
int redis_conn_read(redis_conn *conn, int64_t deadline, const char *what,
                    redisReply **reply, obol_error *err);

/*
 * Without waiting, for the non-blocking path (redis_async.h), which
 * watches the descriptor itself: commands are appended as above, sent as
 * far as the socket takes them, and their replies popped as they come.
 * The counters of bytes appended and sent since open tell which commands
 * have left (every byte of one up to the end of it), which decides
 * whether a command cut off by a failure may be sent again.
 */
int redis_conn_fd(const redis_conn *conn);
uint64_t redis_conn_appended(const redis_conn *conn);
uint64_t redis_conn_sent(const redis_conn *conn);

/* Sends what the socket takes now; *wait_for is 0 when everything left,
 * else the poll() events to wait for before calling again (POLLIN: TLS
 * must read first). */
int redis_conn_send_now(redis_conn *conn, const char *what, short *wait_for,
                        obol_error *err);

/* Reads what has come into the reader, until the socket is empty;
 * *wait_for is what to wait for next (POLLOUT: TLS must write first). An
 * end of file is an error, as for redis_conn_read(). */
int redis_conn_receive_now(redis_conn *conn, const char *what,
                           short *wait_for, obol_error *err);

/* The next reply received whole, or *reply NULL when there is none yet. */
int redis_conn_pop(redis_conn *conn, const char *what, redisReply **reply,
                   obol_error *err);

/* A reply over the limit that is a bulk string alone is dropped to its
 * end rather than ending the connection (redis_guard_drop_alone()): for
 * a pipelining connection, whose next replies are other commands'. */
void redis_conn_drop_oversized(redis_conn *conn);

/* Marks the connection broken (a reply that never came, given up): it
 * closes without a TLS goodbye. */
void redis_conn_set_broken(redis_conn *conn);

#endif

/*
 * TLS for the driver's connections, with OpenSSL: the context that the
 * TLS options of a config string make (shared by every connection of
 * every pool), and one session per connection on the driver's own
 * non-blocking socket.
 *
 * Nothing here waits. Each call makes what progress it can and, when the
 * socket is not ready, says what it waits for (REDIS_TLS_WANT_READ or
 * REDIS_TLS_WANT_WRITE); redis_conn polls under its call's deadline and
 * calls again. A session moves its bytes through a BIO of its own that
 * sends with MSG_NOSIGNAL (OpenSSL's socket BIO uses write(), which raises
 * SIGPIPE on a vanished server), so no signal disposition is touched.
 *
 * The server's certificate is always verified, against the CA file or
 * the system's trust store, and so is its name; no setting turns that
 * off. TLS 1.2 is the oldest version spoken.
 *
 * When a call fails, its cause is read from OpenSSL at once (the verify
 * result, the error queue, errno) and kept in the session as text
 * (redis_tls_why()): OpenSSL's error queue is per thread, and every call
 * here empties it before and after, so no failure leaks into the next
 * call or into another library on the same thread.
 */
#ifndef OBOL_REDIS_TLS_H
#define OBOL_REDIS_TLS_H

#include <stddef.h>

typedef struct redis_tls redis_tls;
typedef struct redis_tls_session redis_tls_session;

enum {
    REDIS_TLS_OK = 0,
    REDIS_TLS_WANT_READ = -1,  /* wait until the socket is readable */
    REDIS_TLS_WANT_WRITE = -2, /* wait until it is writable */
    REDIS_TLS_CLOSED = -3,     /* the server closed the connection */
    REDIS_TLS_FAILED = -4      /* anything else: see redis_tls_why() */
};

/*
 * The context: the server's certificate checked against the PEM file
 * ca_file, or the system's trust store when it is NULL; a client
 * certificate (chain) and its key from cert_file and key_file when they
 * are not NULL (both or neither). 0 with *out, or -1 with the reason in
 * why, naming the file; *out_of_memory tells an allocation failure from a
 * bad file.
 */
int redis_tls_new(const char *ca_file, const char *cert_file,
                  const char *key_file, redis_tls **out, int *out_of_memory,
                  char *why, size_t why_size);

void redis_tls_free(redis_tls *tls);

/*
 * A session on fd, a connected non-blocking socket, that accepts only a
 * certificate for name: an IP address, or a DNS name, which is also sent
 * as the server name (SNI). NULL when out of memory. fd stays the
 * caller's to close, after redis_tls_session_free().
 */
redis_tls_session *redis_tls_session_new(redis_tls *tls, int fd,
                                         const char *name);

/* Frees the session; with clean set (no call failed or was left
 * unfinished on it) it first says goodbye (close_notify) without
 * waiting. A broken connection sends nothing more: a write cut short must
 * not be completed behind the caller's back. NULL is ignored. */
void redis_tls_session_free(redis_tls_session *s, int clean);

/* REDIS_TLS_OK once the handshake is done and the server's certificate
 * and name are verified. */
int redis_tls_handshake(redis_tls_session *s);

/* Up to size bytes: REDIS_TLS_OK with *done > 0, or what it waits for.
 * A write that waited must be called again with the same bytes. */
int redis_tls_read(redis_tls_session *s, void *buf, size_t size,
                   size_t *done);
int redis_tls_write(redis_tls_session *s, const void *buf, size_t size,
                    size_t *done);

/* Bytes that wait in the session, decrypted or read ahead, where poll()
 * cannot see them: read before waiting. After a read that waited for
 * more (REDIS_TLS_WANT_READ), what waits is an incomplete record: wait
 * for the socket then. */
int redis_tls_pending(const redis_tls_session *s);

/*
 * For a session with nothing to read, whose socket poll() says is
 * readable: reads what came without waiting. 1 when the server closed the
 * connection or sent data nobody asked for; 0 when it was TLS's own
 * traffic (the session tickets a TLS 1.3 server sends after the
 * handshake), so that an idle connection is not thrown away for those.
 */
int redis_tls_is_stale(redis_tls_session *s);

/* Why the last call failed, e.g. "certificate verify failed: unable to
 * get local issuer certificate". */
const char *redis_tls_why(const redis_tls_session *s);

#endif

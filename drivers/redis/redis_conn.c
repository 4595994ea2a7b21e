/* One connection on the driver's own non-blocking socket, in the clear
 * or over TLS (redis_tls.h); see redis_conn.h. */
#define _GNU_SOURCE /* SOCK_NONBLOCK, SOCK_CLOEXEC */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include <openssl/crypto.h>

#include "redis_conn.h"
#include "redis_driver.h"
#include "redis_guard.h"
#include "redis_reply.h"
#include "redis_tls.h"

/* The longest reply element kept besides records (INFO, a slot map
 * entry, an error line), and what a bulk string may exceed max_record by
 * (a session id is far shorter). */
#define REPLY_ELEMENT_FLOOR (64 * 1024)
#define REPLY_BULK_SLACK 1024
/* The most elements of one array in a reply: four per session of one
 * user and type in a list, so 262,144 sessions. */
#define REPLY_MAX_ELEMENTS (1u << 20)

struct redis_conn {
    int fd;
    int broken;
    redis_tls_session *tls;  /* NULL: in the clear */
    int received_any;        /* a first byte came from the server */
    redisReader *reader;
    redis_reply_arena arena; /* where the reader builds its replies */
    redis_guard guard;       /* what the reader may be fed */
    char *out;               /* formatted commands not sent yet */
    size_t out_len, out_cap;
    size_t out_sent;         /* of out_len, sent by redis_conn_send_now() */
    uint64_t appended_total; /* bytes of commands appended since open */
    uint64_t sent_total;     /* of those, sent */
    int out_secret;          /* out held a password since its last wipe */
    const redis_endpoint *ep;
    const redis_settings *settings;
};

int64_t redis_now_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

const redis_endpoint *redis_conn_endpoint(const redis_conn *conn)
{
    return conn->ep;
}

int redis_conn_is_broken(const redis_conn *conn)
{
    return conn->broken;
}

int redis_conn_is_reusable(const redis_conn *conn)
{
    return !conn->broken && !redis_guard_replaced(&conn->guard);
}

/* No bulk string longer than a record may be (max_record, with slack,
 * and never less than what other replies need) reaches the reader; no
 * limit when the core gave none. */
static void guard_init(redis_conn *conn, const redis_settings *settings)
{
    uint64_t bulk_limit = 0;

    if (settings->max_record != 0)
        bulk_limit = (settings->max_record > REPLY_ELEMENT_FLOOR
                          ? settings->max_record : REPLY_ELEMENT_FLOOR) +
                     REPLY_BULK_SLACK;
    redis_guard_init(&conn->guard, bulk_limit, REPLY_MAX_ELEMENTS,
                     REPLY_ELEMENT_FLOOR);
}

static int nomem(obol_error *err)
{
    return redis_host->set_error(err, OBOL_ERR_NOMEM, "redis: out of memory");
}

/* Waits until fd is ready for events or the deadline passes: 1 ready,
 * 0 timed out, -1 error (errno). */
static int wait_fd(int fd, short events, int64_t deadline)
{
    for (;;) {
        struct pollfd pfd = { .fd = fd, .events = events, .revents = 0 };
        int64_t left = deadline - redis_now_ms();
        int n;

        if (left <= 0)
            return 0;
        n = poll(&pfd, 1, left > 1000000 ? 1000000 : (int)left);
        if (n > 0)
            return 1;
        if (n < 0 && errno != EINTR)
            return -1;
    }
}

/* ---------------------------------------------------------------- connect */

/* One non-blocking connect() of addr, finished within the deadline. */
static int connect_addr(const struct sockaddr *addr, socklen_t addr_len,
                        int64_t deadline, int *fd_out, int *error_out)
{
    int fd = socket(addr->sa_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC,
                    0);
    int error = 0;
    socklen_t error_len = sizeof error;
    int ready;

    if (fd < 0) {
        *error_out = errno;
        return -1;
    }
    if (connect(fd, addr, addr_len) == 0)
        goto connected;
    if (errno != EINPROGRESS) {
        *error_out = errno;
        close(fd);
        return -1;
    }
    ready = wait_fd(fd, POLLOUT, deadline);
    if (ready <= 0) {
        *error_out = ready == 0 ? ETIMEDOUT : errno;
        close(fd);
        return -1;
    }
    if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &error, &error_len) != 0 ||
        error != 0) {
        *error_out = error != 0 ? error : errno;
        close(fd);
        return -1;
    }
connected:
    if (addr->sa_family != AF_UNIX) {
        int one = 1;
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    }
    *fd_out = fd;
    return 0;
}

static int connect_failed(const redis_conn *conn, int error, obol_error *err)
{
    if (error == ETIMEDOUT)
        return redis_host->set_error(err, OBOL_ERR_TIMEOUT,
                                     "redis %s: connect: no connection "
                                     "within %llu ms", conn->ep->where,
                                     (unsigned long long)
                                         conn->settings->connect_timeout_ms);
    return redis_host->set_error(err, OBOL_ERR_BACKEND, "redis %s: connect: %s",
                                 conn->ep->where, strerror(error));
}

static int connect_unix(redis_conn *conn, int64_t deadline, obol_error *err)
{
    struct sockaddr_un addr;
    int error = 0;

    memset(&addr, 0, sizeof addr);
    addr.sun_family = AF_UNIX;
    if (strlen(conn->ep->socket_path) >= sizeof addr.sun_path)
        return redis_host->set_error(err, OBOL_ERR_INVALID,
                                     "redis %s: connect: the socket path is "
                                     "longer than %zu bytes", conn->ep->where,
                                     sizeof addr.sun_path - 1);
    strcpy(addr.sun_path, conn->ep->socket_path);
    if (connect_addr((struct sockaddr *)&addr, sizeof addr, deadline,
                     &conn->fd, &error) != 0)
        return connect_failed(conn, error, err);
    return OBOL_OK;
}

static int connect_tcp(redis_conn *conn, int64_t deadline, obol_error *err)
{
    struct addrinfo hints, *list = NULL;
    char port[8];
    int error = ECONNREFUSED;
    int gai;

    memset(&hints, 0, sizeof hints);
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_NUMERICSERV;
    snprintf(port, sizeof port, "%u", conn->ep->port);
    gai = getaddrinfo(conn->ep->host, port, &hints, &list);
    if (gai != 0)
        return redis_host->set_error(err, gai == EAI_MEMORY ? OBOL_ERR_NOMEM
                                                            : OBOL_ERR_BACKEND,
                                     "redis %s: connect: cannot resolve "
                                     "'%s': %s", conn->ep->where,
                                     conn->ep->host, gai_strerror(gai));
    for (struct addrinfo *a = list; a != NULL; a = a->ai_next)
        if (connect_addr(a->ai_addr, a->ai_addrlen, deadline, &conn->fd,
                         &error) == 0) {
            freeaddrinfo(list);
            return OBOL_OK;
        }
    freeaddrinfo(list);
    return connect_failed(conn, error, err);
}

/* The TLS handshake on the connected socket, within the connect's
 * deadline; the certificate must be for tls_server_name, else the host. */
static int tls_handshake(redis_conn *conn, int64_t deadline, obol_error *err)
{
    const redis_settings *s = conn->settings;
    const char *name = s->tls_server_name != NULL ? s->tls_server_name
                                                  : conn->ep->host;

    conn->tls = redis_tls_session_new(s->tls, conn->fd, name);
    if (conn->tls == NULL)
        return nomem(err);
    for (;;) {
        int step = redis_tls_handshake(conn->tls);
        int ready;

        if (step == REDIS_TLS_OK)
            return OBOL_OK;
        if (step == REDIS_TLS_CLOSED)
            return redis_host->set_error(err, OBOL_ERR_BACKEND,
                                         "redis %s: TLS handshake: the "
                                         "server closed the connection (does "
                                         "it speak TLS on this port?)",
                                         conn->ep->where);
        if (step == REDIS_TLS_FAILED)
            return redis_host->set_error(err, OBOL_ERR_BACKEND,
                                         "redis %s: TLS handshake: %s",
                                         conn->ep->where,
                                         redis_tls_why(conn->tls));
        ready = wait_fd(conn->fd, step == REDIS_TLS_WANT_READ ? POLLIN
                                                              : POLLOUT,
                        deadline);
        if (ready == 0)
            return redis_host->set_error(err, OBOL_ERR_TIMEOUT,
                                         "redis %s: TLS handshake: no answer "
                                         "within %llu ms", conn->ep->where,
                                         (unsigned long long)
                                             s->connect_timeout_ms);
        if (ready < 0)
            return redis_host->set_error(err, OBOL_ERR_BACKEND,
                                         "redis %s: TLS handshake: %s",
                                         conn->ep->where, strerror(errno));
    }
}

static int append_command(redis_conn *conn, int argc, const char **argv,
                          const size_t *argv_len, int secret,
                          obol_error *err);

/* A command of the login whose only acceptable answer is +OK. */
static int expect_ok(redis_conn *conn, int64_t deadline, const char *what,
                     obol_error *err)
{
    redisReply *reply = NULL;
    int status = redis_conn_read(conn, deadline, what, &reply, err);

    if (status != OBOL_OK)
        return status;
    if (reply->type == REDIS_REPLY_ERROR)
        status = redis_host->set_error(err, OBOL_ERR_BACKEND,
                                       "redis %s: %s: %s", conn->ep->where,
                                       what, reply->str);
    else if (reply->type != REDIS_REPLY_STATUS)
        status = redis_host->set_error(err, OBOL_ERR_BACKEND,
                                       "redis %s: %s: unexpected reply type "
                                       "%d", conn->ep->where, what,
                                       reply->type);
    redis_reply_free(reply);
    return status;
}

/*
 * AUTH [user] password, then SELECT db, in one round trip. Over TLS there
 * is always one (PING when nothing else is sent): TLS 1.3 finishes the
 * client's handshake before the server has judged the client's
 * certificate, and its verdict comes with its first answer, which should
 * be at connect time rather than in the middle of the first command.
 */
static int log_in(redis_conn *conn, int64_t deadline, obol_error *err)
{
    const redis_settings *s = conn->settings;
    const char *argv[3];
    size_t argv_len[3];
    char db[24];
    int argc = 0;
    int status = OBOL_OK;
    int ping = conn->tls != NULL && s->password == NULL && s->db == 0;

    if (s->password != NULL) {
        argv[argc] = "AUTH";
        argv_len[argc++] = 4;
        if (s->user != NULL) {
            argv[argc] = s->user;
            argv_len[argc++] = strlen(s->user);
        }
        argv[argc] = s->password;
        argv_len[argc++] = strlen(s->password);
        status = append_command(conn, argc, argv, argv_len, 1, err);
    }
    if (status == OBOL_OK && s->db != 0) {
        argv[0] = "SELECT";
        argv_len[0] = 6;
        argv[1] = db;
        argv_len[1] = (size_t)snprintf(db, sizeof db, "%llu",
                                       (unsigned long long)s->db);
        status = redis_conn_append(conn, 2, argv, argv_len, err);
    }
    if (status == OBOL_OK && ping) {
        argv[0] = "PING";
        argv_len[0] = 4;
        status = redis_conn_append(conn, 1, argv, argv_len, err);
    }
    if (status != OBOL_OK || conn->out_len == 0)
        return status;
    status = redis_conn_flush(conn, deadline, ping ? "PING" : "AUTH", NULL,
                              err);
    if (status == OBOL_OK && s->password != NULL)
        status = expect_ok(conn, deadline, "AUTH", err);
    if (status == OBOL_OK && s->db != 0)
        status = expect_ok(conn, deadline, "SELECT", err);
    if (status == OBOL_OK && ping)
        status = expect_ok(conn, deadline, "PING", err);
    return status;
}

int redis_conn_open(const redis_endpoint *ep, const redis_settings *settings,
                    int64_t deadline, redis_conn **out, obol_error *err)
{
    redis_conn *conn = calloc(1, sizeof *conn);
    int64_t connect_deadline = redis_now_ms() +
                               (int64_t)settings->connect_timeout_ms;
    int status;

    /* Never past the caller's deadline either: the I/O thread's connects
     * (redis_async.c) must leave it in time for the earliest operation
     * it holds. (A pooled call's deadline already has connect_timeout_ms
     * on top, so this leaves the blocking path as it was.) */
    if (connect_deadline > deadline)
        connect_deadline = deadline;
    if (conn == NULL)
        return nomem(err);
    conn->fd = -1;
    conn->ep = ep;
    conn->settings = settings;
    conn->reader = redis_reply_reader_new(&conn->arena);
    if (conn->reader == NULL) {
        free(conn);
        return nomem(err);
    }
    guard_init(conn, settings);
    if (ep->socket_path != NULL)
        status = connect_unix(conn, connect_deadline, err);
    else
        status = connect_tcp(conn, connect_deadline, err);
    /* Over TLS every TCP connection of these settings, whatever the
     * node: the context is the settings', shared by every pool. */
    if (status == OBOL_OK && settings->tls != NULL && ep->socket_path == NULL)
        status = tls_handshake(conn, connect_deadline, err);
    if (status == OBOL_OK)
        status = log_in(conn, deadline, err);
    if (status != OBOL_OK) {
        redis_conn_close(conn);
        return status;
    }
    *out = conn;
    return OBOL_OK;
}

void redis_conn_close(redis_conn *conn)
{
    if (conn == NULL)
        return;
    redis_tls_session_free(conn->tls, !conn->broken);
    if (conn->fd >= 0)
        close(conn->fd);
    redisReaderFree(conn->reader);
    if (conn->out_secret)
        OPENSSL_cleanse(conn->out, conn->out_cap);
    free(conn->out);
    free(conn);
}

int redis_conn_is_stale(redis_conn *conn)
{
    struct pollfd pfd = { .fd = conn->fd, .events = POLLIN, .revents = 0 };
    int ready = poll(&pfd, 1, 0);

    if (conn->tls == NULL)
        return ready != 0;
    if (ready == 0 && !redis_tls_pending(conn->tls))
        return 0;
    /* A TLS 1.3 server sends session tickets after the handshake, which
     * make an idle socket readable; only what TLS finds in there tells. */
    return ready < 0 || redis_tls_is_stale(conn->tls);
}

/* ------------------------------------------------------------ exchange */

/* Makes room for len more bytes of output. A buffer that held a
 * password is moved by hand, so that the copy left behind is wiped
 * (realloc() would free it as it is). */
static int grow_out(redis_conn *conn, size_t len)
{
    size_t cap = conn->out_cap != 0 ? conn->out_cap : 256;
    char *grown;

    if (conn->out_sent > 0 && conn->out_len + len > conn->out_cap) {
        /* A non-blocking send left part of the buffer: make room at the
         * front first (TLS takes the same bytes at a new address). */
        memmove(conn->out, conn->out + conn->out_sent,
                conn->out_len - conn->out_sent);
        conn->out_len -= conn->out_sent;
        conn->out_sent = 0;
    }
    if (conn->out_len + len <= conn->out_cap)
        return 0;
    while (cap < conn->out_len + len)
        cap *= 2;
    if (!conn->out_secret) {
        grown = realloc(conn->out, cap);
    } else if ((grown = malloc(cap)) != NULL) {
        memcpy(grown, conn->out, conn->out_len);
        OPENSSL_cleanse(conn->out, conn->out_cap);
        free(conn->out);
    }
    if (grown == NULL)
        return -1;
    conn->out = grown;
    conn->out_cap = cap;
    return 0;
}

/* Writes a RESP header ("*3\r\n", "$5\r\n") at out (when not NULL)
 * and returns its length. */
static size_t put_header(char *out, char kind, size_t n)
{
    char digits[24];
    size_t len = 0;

    do {
        digits[len++] = (char)('0' + n % 10);
        n /= 10;
    } while (n > 0);
    if (out != NULL) {
        out[0] = kind;
        for (size_t i = 0; i < len; i++)
            out[1 + i] = digits[len - 1 - i];
        out[1 + len] = '\r';
        out[2 + len] = '\n';
    }
    return len + 3;
}

/* Appends one command, formatted in RESP straight into the output
 * buffer: no copy of it anywhere else (so one that carries a secret,
 * AUTH, is wiped with the buffer once sent), and no allocation on the
 * way, which a pipeline of many small commands would pay for each. */
static int append_command(redis_conn *conn, int argc, const char **argv,
                          const size_t *argv_len, int secret,
                          obol_error *err)
{
    size_t total = put_header(NULL, '*', (size_t)argc);
    char *at;

    for (int i = 0; i < argc; i++)
        total += put_header(NULL, '$', argv_len[i]) + argv_len[i] + 2;
    if (grow_out(conn, total) != 0)
        return nomem(err);
    at = conn->out + conn->out_len;
    at += put_header(at, '*', (size_t)argc);
    for (int i = 0; i < argc; i++) {
        at += put_header(at, '$', argv_len[i]);
        if (argv_len[i] > 0)
            memcpy(at, argv[i], argv_len[i]);
        at += argv_len[i];
        *at++ = '\r';
        *at++ = '\n';
    }
    conn->out_len += total;
    conn->appended_total += (uint64_t)total;
    conn->out_secret |= secret;
    return OBOL_OK;
}

int redis_conn_append(redis_conn *conn, int argc, const char **argv,
                      const size_t *argv_len, obol_error *err)
{
    return append_command(conn, argc, argv, argv_len, 0, err);
}

static int io_failed(redis_conn *conn, int error, const char *what,
                     obol_error *err)
{
    conn->broken = 1;
    if (error == ETIMEDOUT)
        return redis_host->set_error(err, OBOL_ERR_TIMEOUT,
                                     "redis %s: %s: no reply within %llu ms",
                                     conn->ep->where, what,
                                     (unsigned long long)
                                         conn->settings->timeout_ms);
    if (error == 0)
        return redis_host->set_error(err, OBOL_ERR_BACKEND,
                                     "redis %s: %s: connection closed by the "
                                     "server", conn->ep->where, what);
    return redis_host->set_error(err, OBOL_ERR_BACKEND, "redis %s: %s: %s",
                                 conn->ep->where, what, strerror(error));
}

/* A TLS call that did not move bytes: what to wait for, or the error. */
static int tls_step_failed(redis_conn *conn, int step, const char *what,
                           short *wait_for, obol_error *err)
{
    if (step == REDIS_TLS_WANT_READ || step == REDIS_TLS_WANT_WRITE) {
        *wait_for = step == REDIS_TLS_WANT_READ ? POLLIN : POLLOUT;
        return OBOL_OK;
    }
    if (step == REDIS_TLS_CLOSED)
        return io_failed(conn, 0, what, err);
    conn->broken = 1;
    return redis_host->set_error(err, OBOL_ERR_BACKEND, "redis %s: %s: TLS: %s",
                                 conn->ep->where, what,
                                 redis_tls_why(conn->tls));
}

/*
 * Sends what the socket takes now: *sent bytes, or none and *wait_for the
 * poll() events to wait for (0: try again at once). A TLS write may also
 * wait to read, and must then be repeated with the same bytes, which the
 * caller's loop does.
 */
static int send_some(redis_conn *conn, const char *data, size_t len,
                     size_t *sent, short *wait_for, const char *what,
                     obol_error *err)
{
    ssize_t n;

    *sent = 0;
    *wait_for = POLLOUT;
    if (conn->tls != NULL) {
        int step = redis_tls_write(conn->tls, data, len, sent);
        return step == REDIS_TLS_OK
                   ? OBOL_OK
                   : tls_step_failed(conn, step, what, wait_for, err);
    }
    /* MSG_NOSIGNAL: a vanished server is an error here, never a SIGPIPE
     * that would kill the process. */
    n = send(conn->fd, data, len, MSG_NOSIGNAL);
    if (n >= 0) {
        *sent = (size_t)n;
        return OBOL_OK;
    }
    if (errno == EINTR)
        *wait_for = 0;
    else if (errno != EAGAIN && errno != EWOULDBLOCK)
        return io_failed(conn, errno, what, err);
    return OBOL_OK;
}

int redis_conn_flush(redis_conn *conn, int64_t deadline, const char *what,
                     int *sent_any, obol_error *err)
{
    size_t done = 0;
    int status = OBOL_OK;

    if (sent_any != NULL)
        *sent_any = 0;
    while (done < conn->out_len && status == OBOL_OK) {
        size_t sent;
        short wait_for;
        int ready;

        status = send_some(conn, conn->out + done, conn->out_len - done,
                           &sent, &wait_for, what, err);
        if (status != OBOL_OK || sent > 0 || wait_for == 0) {
            done += sent;
            conn->sent_total += sent;
            if (sent > 0 && sent_any != NULL)
                *sent_any = 1;
            continue;
        }
        ready = wait_fd(conn->fd, wait_for, deadline);
        if (ready <= 0)
            status = io_failed(conn, ready == 0 ? ETIMEDOUT : errno, what,
                               err);
    }
    if (conn->out_secret) {
        OPENSSL_cleanse(conn->out, conn->out_cap);
        conn->out_secret = 0;
    }
    conn->out_len = 0;
    return status;
}

/* A plain connection whose server answered in TLS (an alert or a
 * handshake record: type 21 or 22, version 3.x) is on a TLS port. */
static int looks_like_tls(const char *buf, size_t len)
{
    return len >= 2 && (buf[0] == 0x15 || buf[0] == 0x16) && buf[1] == 0x03;
}

/* Reads what the socket (or the TLS session) has now, as send_some()
 * sends; the end of the stream is an error. */
static int recv_some(redis_conn *conn, char *buf, size_t size,
                     size_t *received, short *wait_for, const char *what,
                     obol_error *err)
{
    ssize_t n;

    *received = 0;
    *wait_for = POLLIN;
    if (conn->tls != NULL) {
        int step = redis_tls_read(conn->tls, buf, size, received);
        return step == REDIS_TLS_OK
                   ? OBOL_OK
                   : tls_step_failed(conn, step, what, wait_for, err);
    }
    n = recv(conn->fd, buf, size, 0);
    if (n == 0)
        return io_failed(conn, 0, what, err);
    if (n > 0) {
        if (!conn->received_any && looks_like_tls(buf, (size_t)n)) {
            conn->broken = 1;
            return redis_host->set_error(err, OBOL_ERR_BACKEND,
                                         "redis %s: %s: the server answered "
                                         "in TLS (use rediss://)",
                                         conn->ep->where, what);
        }
        *received = (size_t)n;
        return OBOL_OK;
    }
    if (errno == EINTR)
        *wait_for = 0;
    else if (errno != EAGAIN && errno != EWOULDBLOCK)
        return io_failed(conn, errno, what, err);
    return OBOL_OK;
}

static int feed_reader(void *arg, const char *bytes, size_t len)
{
    return redisReaderFeed(arg, bytes, len) == REDIS_OK ? 0 : -1;
}

/* Received bytes, through the guard, to the reader. */
static int feed(redis_conn *conn, const char *buf, size_t len,
                const char *what, obol_error *err)
{
    char why[128];
    int fed = redis_guard_feed(&conn->guard, buf, len, feed_reader,
                               conn->reader, why, sizeof why);

    if (fed == 0)
        return OBOL_OK;
    conn->broken = 1;
    if (fed == -2)
        return nomem(err);
    return redis_host->set_error(err, OBOL_ERR_BACKEND,
                                 "redis %s: %s: reply refused: %s",
                                 conn->ep->where, what, why);
}

int redis_conn_pop(redis_conn *conn, const char *what, redisReply **reply,
                   obol_error *err)
{
    void *parsed = NULL;

    *reply = NULL;
    if (redisReaderGetReply(conn->reader, &parsed) != REDIS_OK) {
        conn->broken = 1;
        return redis_host->set_error(err, OBOL_ERR_BACKEND,
                                     "redis %s: %s: protocol error: %s",
                                     conn->ep->where, what,
                                     conn->reader->errstr);
    }
    if (parsed != NULL) {
        *reply = parsed;
        return OBOL_OK;
    }
    if (redis_guard_is_cut(&conn->guard)) {
        /* An oversized reply ended early: what follows it on the
         * socket is the rest of its bytes, never another reply. */
        conn->broken = 1;
        return redis_host->set_error(err, OBOL_ERR_BACKEND,
                                     "redis %s: %s: the connection was "
                                     "given up after an oversized reply",
                                     conn->ep->where, what);
    }
    return OBOL_OK;
}

int redis_conn_read(redis_conn *conn, int64_t deadline, const char *what,
                    redisReply **reply, obol_error *err)
{
    char buf[16384];
    short wait_for = POLLIN;
    /* Bytes TLS holds already (decrypted, or records read ahead) are not
     * on the socket: poll() would wait for the next ones. */
    int read_first = conn->tls != NULL && redis_tls_pending(conn->tls);

    for (;;) {
        size_t received;
        int status = redis_conn_pop(conn, what, reply, err);

        if (status != OBOL_OK || *reply != NULL)
            return status;
        if (!read_first) {
            int ready = wait_for != 0 ? wait_fd(conn->fd, wait_for, deadline)
                                      : redis_now_ms() < deadline;
            if (ready <= 0)
                return io_failed(conn, ready == 0 ? ETIMEDOUT : errno, what,
                                 err);
        }
        status = recv_some(conn, buf, sizeof buf, &received, &wait_for, what,
                           err);
        if (status != OBOL_OK)
            return status;
        /* Waiting for more TLS wants the socket, whatever is held. */
        read_first = received > 0 && conn->tls != NULL &&
                     redis_tls_pending(conn->tls);
        if (received == 0)
            continue;
        conn->received_any = 1;
        /* A full buffer leaves more on the socket, most likely (a list
         * of many records): read it at once, without a poll() to say so
         * (a recv() that finds nothing says so too, and then we wait). */
        wait_for = received == sizeof buf ? 0 : POLLIN;
        status = feed(conn, buf, received, what, err);
        if (status != OBOL_OK)
            return status;
    }
}

/* ------------------------------------------------------- without waiting */

int redis_conn_fd(const redis_conn *conn)
{
    return conn->fd;
}

uint64_t redis_conn_appended(const redis_conn *conn)
{
    return conn->appended_total;
}

uint64_t redis_conn_sent(const redis_conn *conn)
{
    return conn->sent_total;
}

int redis_conn_send_now(redis_conn *conn, const char *what, short *wait_for,
                        obol_error *err)
{
    *wait_for = 0;
    while (conn->out_sent < conn->out_len) {
        size_t sent;
        short wait;
        int status = send_some(conn, conn->out + conn->out_sent,
                               conn->out_len - conn->out_sent, &sent, &wait,
                               what, err);

        if (status != OBOL_OK)
            return status;
        if (sent == 0 && wait != 0) {
            *wait_for = wait;
            return OBOL_OK;
        }
        conn->out_sent += sent;
        conn->sent_total += sent;
    }
    if (conn->out_secret) {
        OPENSSL_cleanse(conn->out, conn->out_cap);
        conn->out_secret = 0;
    }
    conn->out_len = 0;
    conn->out_sent = 0;
    return OBOL_OK;
}

int redis_conn_receive_now(redis_conn *conn, const char *what,
                           short *wait_for, obol_error *err)
{
    char buf[16384];

    for (;;) {
        size_t received;
        int status = recv_some(conn, buf, sizeof buf, &received, wait_for,
                               what, err);

        if (status != OBOL_OK)
            return status;
        if (received == 0) {
            if (*wait_for != 0)
                return OBOL_OK;
            continue;       /* interrupted */
        }
        conn->received_any = 1;
        status = feed(conn, buf, received, what, err);
        if (status != OBOL_OK)
            return status;
        /* A short read emptied the socket, and TLS holds nothing more:
         * the next recv() would only say so. */
        if (received < sizeof buf &&
            (conn->tls == NULL || !redis_tls_pending(conn->tls))) {
            *wait_for = POLLIN;
            return OBOL_OK;
        }
    }
}

void redis_conn_drop_oversized(redis_conn *conn)
{
    redis_guard_drop_alone(&conn->guard);
}

void redis_conn_set_broken(redis_conn *conn)
{
    conn->broken = 1;
}

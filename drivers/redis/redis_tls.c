/* TLS for the driver's connections, with OpenSSL; see redis_tls.h. */
#define _POSIX_C_SOURCE 200809L
#include "config.h"

#include <arpa/inet.h>
#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include "redis_tls.h"

struct redis_tls {
    SSL_CTX *ctx;
    int has_client_cert;
};

struct redis_tls_session {
    SSL *ssl;
    char *name;              /* the name the certificate must be for */
    int verified;            /* the handshake is done */
    int has_client_cert;     /* tls_cert is set */
    int cert_requested;      /* the server asked for a client certificate */
    int got_data;            /* some reply came: the server accepted us */
    char why[200];
};

/* ------------------------------------------------------------ the BIO */

/*
 * OpenSSL's socket BIO writes with write(), and a write() to a socket the
 * server has closed raises SIGPIPE, which kills a process that did not
 * ignore it. This BIO sends with MSG_NOSIGNAL instead; the socket is the
 * driver's, non-blocking, and stays open when the BIO is freed.
 */
static int fd_of(BIO *bio)
{
    return (int)(intptr_t)BIO_get_data(bio);
}

static int socket_write(BIO *bio, const char *data, int len)
{
    ssize_t n;

    BIO_clear_retry_flags(bio);
    do
        n = send(fd_of(bio), data, (size_t)len, MSG_NOSIGNAL);
    while (n < 0 && errno == EINTR);
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
        BIO_set_retry_write(bio);
    return (int)n;
}

static int socket_read(BIO *bio, char *data, int len)
{
    ssize_t n;

    BIO_clear_retry_flags(bio);
    do
        n = recv(fd_of(bio), data, (size_t)len, 0);
    while (n < 0 && errno == EINTR);
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
        BIO_set_retry_read(bio);
    return (int)n;
}

static long socket_ctrl(BIO *bio, int cmd, long num, void *ptr)
{
    (void)bio;
    (void)num;
    (void)ptr;
    /* Nothing is buffered here, so a flush is done at once; OpenSSL
     * takes 0 for "not supported" for everything else it asks. */
    return cmd == BIO_CTRL_FLUSH ? 1 : 0;
}

static BIO_METHOD *socket_method;
static pthread_once_t socket_method_once = PTHREAD_ONCE_INIT;

/* Made once and kept for the life of the process, as OpenSSL keeps its
 * own methods. */
static void make_socket_method(void)
{
    int index = BIO_get_new_index();
    BIO_METHOD *m = index > 0 ? BIO_meth_new(index | BIO_TYPE_SOURCE_SINK,
                                             "obol redis socket")
                              : NULL;

    if (m == NULL)
        return;
    if (BIO_meth_set_write(m, socket_write) != 1 ||
        BIO_meth_set_read(m, socket_read) != 1 ||
        BIO_meth_set_ctrl(m, socket_ctrl) != 1) {
        BIO_meth_free(m);
        return;
    }
    socket_method = m;
}

/* ------------------------------------------------------------ failures */

/* One OpenSSL error as text: its reason, e.g. "wrong version number". */
static void error_text(unsigned long e, char *out, size_t size)
{
    const char *reason = ERR_reason_error_string(e);

    if (reason != NULL)
        snprintf(out, size, "%s", reason);
    else
        ERR_error_string_n(e, out, size);
}

static int is_issuer_problem(long verify)
{
    return verify == X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT_LOCALLY ||
           verify == X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT ||
           verify == X509_V_ERR_DEPTH_ZERO_SELF_SIGNED_CERT ||
           verify == X509_V_ERR_SELF_SIGNED_CERT_IN_CHAIN;
}

/* What the failed verification says, with what to look at. */
static void describe_verify(redis_tls_session *s, long verify)
{
    const char *hint = "";
    char name_hint[120] = "";

    if (is_issuer_problem(verify))
        hint = " (no CA of tls_ca, or of the system's trust store without "
               "it, signed it)";
    else if (verify == X509_V_ERR_HOSTNAME_MISMATCH ||
             verify == X509_V_ERR_IP_ADDRESS_MISMATCH) {
        snprintf(name_hint, sizeof name_hint,
                 " (the certificate is not for '%.60s'; see tls_server_name)",
                 s->name);
        hint = name_hint;
    }
    snprintf(s->why, sizeof s->why, "certificate verify failed: %s%s",
             X509_verify_cert_error_string(verify), hint);
}

static int is_not_tls_reason(int reason)
{
    return reason == SSL_R_WRONG_VERSION_NUMBER ||
           reason == SSL_R_PACKET_LENGTH_TOO_LONG ||
           reason == SSL_R_RECORD_LENGTH_MISMATCH ||
           reason == SSL_R_HTTP_REQUEST;
}

static int is_eof_reason(int reason)
{
#ifdef SSL_R_UNEXPECTED_EOF_WHILE_READING
    return reason == SSL_R_UNEXPECTED_EOF_WHILE_READING;
#else
    (void)reason;
    return 0;
#endif
}

/*
 * The cause of a failed call, read while OpenSSL still holds it: the
 * verify result when verification failed, else the first error of the
 * queue, else errno. The queue is emptied afterwards.
 */
static int fail(redis_tls_session *s, int ssl_error, int saved_errno)
{
    unsigned long e = ERR_peek_error();
    int reason = e != 0 && ERR_GET_LIB(e) == ERR_LIB_SSL ? ERR_GET_REASON(e)
                                                         : 0;
    long verify = SSL_get_verify_result(s->ssl);
    size_t used;

    s->verified = 0;
    if (ssl_error == SSL_ERROR_ZERO_RETURN || is_eof_reason(reason) ||
        (ssl_error == SSL_ERROR_SYSCALL && e == 0 && saved_errno == 0)) {
        snprintf(s->why, sizeof s->why, "connection closed by the server");
        ERR_clear_error();
        return REDIS_TLS_CLOSED;
    }
    if (reason == SSL_R_CERTIFICATE_VERIFY_FAILED && verify != X509_V_OK)
        describe_verify(s, verify);
    else if (e != 0)
        error_text(e, s->why, sizeof s->why);
    else if (ssl_error == SSL_ERROR_SYSCALL)
        snprintf(s->why, sizeof s->why, "%s", strerror(saved_errno));
    else
        snprintf(s->why, sizeof s->why, "OpenSSL error %d", ssl_error);
    used = strlen(s->why);
    /* The server's verdict on the client's certificate comes with (or
     * instead of) its first answer, often as a reset that overtakes the
     * alert saying why; hence the hint until something came. */
    if (is_not_tls_reason(reason))
        snprintf(s->why + used, sizeof s->why - used,
                 " (does the server speak TLS on this port?)");
    else if (s->cert_requested && !s->got_data)
        snprintf(s->why + used, sizeof s->why - used,
                 s->has_client_cert
                     ? " (the server asked for a client certificate: does it "
                       "trust tls_cert?)"
                     : " (the server asks for a client certificate: set "
                       "tls_cert and tls_key)");
    ERR_clear_error();
    return REDIS_TLS_FAILED;
}

/* After a call that did not succeed: what it waits for, or why not. */
static int settle(redis_tls_session *s, int ret, int saved_errno)
{
    int ssl_error = SSL_get_error(s->ssl, ret);

    if (ssl_error == SSL_ERROR_WANT_READ)
        return REDIS_TLS_WANT_READ;
    if (ssl_error == SSL_ERROR_WANT_WRITE)
        return REDIS_TLS_WANT_WRITE;
    return fail(s, ssl_error, saved_errno);
}

/* ------------------------------------------------------------- context */

/* A file OpenSSL is about to read, opened first so that a missing or
 * unreadable one is reported as the system says. */
static int check_readable(const char *option, const char *path, char *why,
                          size_t why_size)
{
    FILE *file = fopen(path, "r");

    if (file == NULL) {
        snprintf(why, why_size, "%s '%s': cannot open: %s", option, path,
                 strerror(errno));
        return -1;
    }
    fclose(file);
    return 0;
}

static int load_failed(const char *option, const char *path, char *why,
                       size_t why_size)
{
    char reason[120] = "not a PEM file OpenSSL can read";
    unsigned long e = ERR_peek_last_error();

    if (e != 0)
        error_text(e, reason, sizeof reason);
    snprintf(why, why_size, "%s '%s': %s", option, path, reason);
    return -1;
}

/* An encrypted key would make OpenSSL ask for its passphrase on the
 * terminal; a library must not, so it is refused instead. */
static int refuse_passphrase(char *buf, int size, int rwflag, void *arg)
{
    (void)buf;
    (void)size;
    (void)rwflag;
    *(int *)arg = 1;
    return 0;
}

/* Called on a client when the server asks for a certificate, for the
 * message if the server then refuses the connection. */
static int note_certificate_request(SSL *ssl, void *arg)
{
    redis_tls_session *s = SSL_get_app_data(ssl);

    (void)arg;
    if (s != NULL)
        s->cert_requested = 1;
    return 1;
}

static int load_trust(SSL_CTX *ctx, const char *ca_file, char *why,
                      size_t why_size)
{
    if (ca_file == NULL) {
        if (SSL_CTX_set_default_verify_paths(ctx) == 1)
            return 0;
        snprintf(why, why_size, "the system's trust store cannot be read");
        return -1;
    }
    if (check_readable("tls_ca", ca_file, why, why_size) != 0)
        return -1;
    if (SSL_CTX_load_verify_locations(ctx, ca_file, NULL) != 1)
        return load_failed("tls_ca", ca_file, why, why_size);
    return 0;
}

static int load_client_cert(SSL_CTX *ctx, const char *cert_file,
                            const char *key_file, char *why, size_t why_size)
{
    int encrypted = 0, loaded;

    if (cert_file == NULL)
        return 0;
    if (check_readable("tls_cert", cert_file, why, why_size) != 0 ||
        check_readable("tls_key", key_file, why, why_size) != 0)
        return -1;
    if (SSL_CTX_use_certificate_chain_file(ctx, cert_file) != 1)
        return load_failed("tls_cert", cert_file, why, why_size);
    SSL_CTX_set_default_passwd_cb(ctx, refuse_passphrase);
    SSL_CTX_set_default_passwd_cb_userdata(ctx, &encrypted);
    loaded = SSL_CTX_use_PrivateKey_file(ctx, key_file, SSL_FILETYPE_PEM);
    SSL_CTX_set_default_passwd_cb_userdata(ctx, NULL);
    if (loaded != 1 && encrypted) {
        snprintf(why, why_size, "tls_key '%s' is encrypted; give the key "
                                "without a passphrase", key_file);
        return -1;
    }
    if (loaded != 1 && ERR_GET_REASON(ERR_peek_last_error()) ==
                           X509_R_KEY_VALUES_MISMATCH)
        loaded = 0;
    else if (loaded != 1)
        return load_failed("tls_key", key_file, why, why_size);
    if (loaded != 1 || SSL_CTX_check_private_key(ctx) != 1) {
        snprintf(why, why_size, "tls_key '%s' is not the key of tls_cert "
                                "'%s'", key_file, cert_file);
        return -1;
    }
    return 0;
}

int redis_tls_new(const char *ca_file, const char *cert_file,
                  const char *key_file, redis_tls **out, int *out_of_memory,
                  char *why, size_t why_size)
{
    redis_tls *tls = calloc(1, sizeof *tls);
    int status = -1;

    *out_of_memory = 0;
    ERR_clear_error();
    if (tls == NULL || (tls->ctx = SSL_CTX_new(TLS_client_method())) == NULL ||
        SSL_CTX_set_min_proto_version(tls->ctx, TLS1_2_VERSION) != 1) {
        *out_of_memory = 1;
        snprintf(why, why_size, "out of memory");
        goto done;
    }
    /* Verification is on for every connection: no option turns it off. */
    SSL_CTX_set_verify(tls->ctx, SSL_VERIFY_PEER, NULL);
    /* Partial writes, as send() makes them, so that the bytes sent are
     * counted as they leave; a write that waited is retried from a buffer
     * that may have moved (the output buffer grows). */
    SSL_CTX_set_mode(tls->ctx, SSL_MODE_ENABLE_PARTIAL_WRITE |
                                   SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
    /* One recv() for as many records as came, rather than one for each
     * record's header and one for its body: a reply costs the system
     * calls it costs in the clear. What is read ahead waits in OpenSSL,
     * where poll() cannot see it (redis_tls_pending()). */
    SSL_CTX_set_read_ahead(tls->ctx, 1);
    SSL_CTX_set_cert_cb(tls->ctx, note_certificate_request, NULL);
    tls->has_client_cert = cert_file != NULL;
    if (load_trust(tls->ctx, ca_file, why, why_size) == 0 &&
        load_client_cert(tls->ctx, cert_file, key_file, why, why_size) == 0)
        status = 0;
done:
    ERR_clear_error();
    if (status != 0) {
        redis_tls_free(tls);
        return -1;
    }
    *out = tls;
    return 0;
}

void redis_tls_free(redis_tls *tls)
{
    if (tls == NULL)
        return;
    SSL_CTX_free(tls->ctx);
    free(tls);
}

/* ------------------------------------------------------------- session */

/* The certificate must be for name; a DNS name is also the SNI (an
 * address may not be, RFC 6066). */
static int expect_name(SSL *ssl, const char *name)
{
    X509_VERIFY_PARAM *param = SSL_get0_param(ssl);
    unsigned char address[16];

    X509_VERIFY_PARAM_set_hostflags(param,
                                    X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS);
    if (inet_pton(AF_INET, name, address) == 1 ||
        inet_pton(AF_INET6, name, address) == 1)
        return X509_VERIFY_PARAM_set1_ip_asc(param, name) == 1 ? 0 : -1;
    if (SSL_set_tlsext_host_name(ssl, name) != 1 ||
        X509_VERIFY_PARAM_set1_host(param, name, 0) != 1)
        return -1;
    return 0;
}

redis_tls_session *redis_tls_session_new(redis_tls *tls, int fd,
                                         const char *name)
{
    redis_tls_session *s = calloc(1, sizeof *s);
    BIO *bio;

    pthread_once(&socket_method_once, make_socket_method);
    if (s == NULL || socket_method == NULL)
        goto fail;
    ERR_clear_error();
    s->has_client_cert = tls->has_client_cert;
    s->name = strdup(name);
    s->ssl = SSL_new(tls->ctx);
    if (s->name == NULL || s->ssl == NULL)
        goto fail;
    bio = BIO_new(socket_method);
    if (bio == NULL)
        goto fail;
    BIO_set_data(bio, (void *)(intptr_t)fd);
    BIO_set_init(bio, 1);
    SSL_set_bio(s->ssl, bio, bio);
    SSL_set_app_data(s->ssl, s);
    SSL_set_connect_state(s->ssl);
    if (expect_name(s->ssl, name) != 0)
        goto fail;
    ERR_clear_error();
    return s;
fail:
    ERR_clear_error();
    redis_tls_session_free(s, 0);
    return NULL;
}

void redis_tls_session_free(redis_tls_session *s, int clean)
{
    if (s == NULL)
        return;
    if (s->ssl != NULL && clean && s->verified) {
        ERR_clear_error();
        SSL_shutdown(s->ssl);
        ERR_clear_error();
    }
    SSL_free(s->ssl);
    free(s->name);
    free(s);
}

int redis_tls_handshake(redis_tls_session *s)
{
    int ret;

    ERR_clear_error();
    errno = 0;
    ret = SSL_connect(s->ssl);
    if (ret != 1)
        return settle(s, ret, errno);
    /* SSL_VERIFY_PEER fails the handshake on a bad certificate; this is
     * a second look, so that nothing unverified is ever used. */
    if (SSL_get_verify_result(s->ssl) != X509_V_OK ||
        SSL_get0_peer_certificate(s->ssl) == NULL) {
        snprintf(s->why, sizeof s->why, "the server's certificate was not "
                                        "verified");
        return REDIS_TLS_FAILED;
    }
    s->verified = 1;
    return REDIS_TLS_OK;
}

int redis_tls_read(redis_tls_session *s, void *buf, size_t size,
                   size_t *done)
{
    int ret;

    *done = 0;
    ERR_clear_error();
    errno = 0;
    ret = SSL_read(s->ssl, buf, size > INT_MAX ? INT_MAX : (int)size);
    if (ret <= 0)
        return settle(s, ret, errno);
    *done = (size_t)ret;
    s->got_data = 1;
    return REDIS_TLS_OK;
}

int redis_tls_write(redis_tls_session *s, const void *buf, size_t size,
                    size_t *done)
{
    int ret;

    *done = 0;
    ERR_clear_error();
    errno = 0;
    ret = SSL_write(s->ssl, buf, size > INT_MAX ? INT_MAX : (int)size);
    if (ret <= 0)
        return settle(s, ret, errno);
    *done = (size_t)ret;
    return REDIS_TLS_OK;
}

int redis_tls_pending(const redis_tls_session *s)
{
    /* SSL_pending() counts decrypted bytes only, not the records read
     * ahead and not yet decrypted. */
    return SSL_has_pending(s->ssl);
}

int redis_tls_is_stale(redis_tls_session *s)
{
    char byte;
    int ret, status;

    ERR_clear_error();
    errno = 0;
    ret = SSL_peek(s->ssl, &byte, 1);
    if (ret > 0)
        return 1;
    status = settle(s, ret, errno);
    return status != REDIS_TLS_WANT_READ && status != REDIS_TLS_WANT_WRITE;
}

const char *redis_tls_why(const redis_tls_session *s)
{
    return s->why;
}

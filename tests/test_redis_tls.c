/*
 * TLS of the Redis driver, through the public store API, against
 * redis-servers of the test's own (tests/redis_harness.h) with
 * certificates made for the run: one with a plain port and a TLS port
 * beside it, one that speaks only TLS and wants a client certificate.
 * What is accepted, what is refused and with which message, what fails
 * within its time instead of hanging, and the connection's own behaviour
 * over TLS (idle connections kept, dead ones replaced, records larger
 * than a TLS record, no SIGPIPE).
 */
#define _POSIX_C_SOURCE 200809L
#include "config.h"

#include <arpa/inet.h>
#include <netdb.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <setjmp.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <hiredis.h>
#include <obol/obol.h>

#include "../drivers/redis/redis_tls.h"
#include "redis_harness.h"

static redis_harness *beside;   /* a plain port and a TLS port */
static redis_harness *mutual;   /* TLS only, client certificates required */
static redisContext *raw;       /* a plain client of beside */
static const char *certs;       /* the certificates' directory */
static char url[2048];

static const uint8_t signing_key[32] = {
    0x74, 0x6c, 0x73, 0x2d, 0x74, 0x65, 0x73, 0x74, 0x2d, 0x6b, 0x65, 0x79,
    0x2d, 0x6e, 0x6f, 0x74, 0x2d, 0x61, 0x2d, 0x73, 0x65, 0x63, 0x72, 0x65,
    0x74, 0x2d, 0x30, 0x31, 0x32, 0x33, 0x34, 0x35,
};

static int group_setup(void **state)
{
    redis_harness_options beside_options = { .tls = REDIS_HARNESS_TLS_BESIDE };
    redis_harness_options mutual_options = { .tls = REDIS_HARNESS_TLS_ONLY,
                                             .tls_auth_clients = 1 };

    (void)state;
    beside = redis_harness_start(&beside_options);
    if (beside == NULL)
        return -1;
    certs = redis_harness_tls_dir(beside);
    mutual_options.tls_dir = certs;
    mutual = redis_harness_start(&mutual_options);
    raw = redis_harness_client(beside);
    return mutual != NULL && raw != NULL ? 0 : -1;
}

static int group_teardown(void **state)
{
    (void)state;
    if (raw != NULL)
        redisFree(raw);
    redis_harness_stop(mutual);
    redis_harness_stop(beside);
    return 0;
}

/* -------------------------------------------------------------- helpers */

static double now_ms(void)
{
    return redis_harness_monotonic_ms();
}

/* "rediss://127.0.0.1:PORT?" + options, where options may name the
 * certificates' files as %s (the directory), up to three times. */
static const char *rediss(uint16_t port, const char *options)
{
    char formatted[1024];

    snprintf(formatted, sizeof formatted, options, certs, certs, certs);
    snprintf(url, sizeof url, "rediss://127.0.0.1:%u?%s", port, formatted);
    return url;
}

static uint16_t tls_port(void)
{
    return redis_harness_tls_port(beside);
}

/* Opens a store on config; the status, with the message in err. */
static int open_store(const char *config, obol_store **out, obol_error *err)
{
    int status = obol_store_open(config, out, err);

    if (status == OBOL_OK &&
        obol_store_add_key(*out, 1, signing_key, 1, err) != OBOL_OK) {
        obol_store_close(*out);
        return err->status;
    }
    return status;
}

/* A session written and read back on config, with time to spare for a
 * slow machine (or valgrind). */
static void assert_round_trip(const char *config)
{
    obol_store *st = NULL;
    obol_session *s, *got = NULL;
    obol_error err = { 0 };
    char patient[2100];
    int status;

    snprintf(patient, sizeof patient, "%s&timeout_ms=5000"
                                      "&connect_timeout_ms=5000", config);
    status = open_store(patient, &st, &err);
    if (status != OBOL_OK)
        fail_msg("open %s: %s", patient, err.message);
    s = obol_session_new("alice", NULL, obol_store_now(st), 3600, 3600);
    assert_non_null(s);
    assert_int_equal(obol_upsert(st, s, &err), OBOL_OK);
    assert_int_equal(obol_get(st, s->id, "alice", NULL, &got, &err), OBOL_OK);
    assert_string_equal(got->id, s->id);
    obol_session_free(got);
    obol_session_free(s);
    obol_store_close(st);
}

/* Opening config fails with status and a message holding every part. */
static void assert_refused(const char *config, int status, const char *part1,
                           const char *part2)
{
    obol_store *st = NULL;
    obol_error err = { 0 };
    int got = open_store(config, &st, &err);

    if (got == OBOL_OK)
        obol_store_close(st);
    if (got != status || strstr(err.message, part1) == NULL ||
        (part2 != NULL && strstr(err.message, part2) == NULL))
        fail_msg("open %s: status %d (want %d), message \"%s\" (want \"%s\" "
                 "and \"%s\")", config, got, status, err.message, part1,
                 part2 != NULL ? part2 : "");
}

/* Opening config fails, whatever the cause, within max_ms. */
static void assert_fails_within(const char *config, double max_ms)
{
    obol_store *st = NULL;
    obol_error err = { 0 };
    double started = now_ms();
    int got = open_store(config, &st, &err);
    double took = now_ms() - started;

    if (got == OBOL_OK)
        obol_store_close(st);
    fprintf(stderr, "# %s: %.0f ms: %s\n", config, took, err.message);
    assert_true(got == OBOL_ERR_BACKEND || got == OBOL_ERR_TIMEOUT);
    assert_non_null(strstr(err.message, "127.0.0.1"));
    assert_true(took < max_ms);
}

static long long info_number(const char *field)
{
    redisReply *r = redis_harness_command(raw, "INFO stats");
    const char *at;
    long long value = -1;

    if (r != NULL && r->type == REDIS_REPLY_STRING &&
        (at = strstr(r->str, field)) != NULL)
        value = strtoll(at + strlen(field) + 1, NULL, 10);
    freeReplyObject(r);
    return value;
}

/* ------------------------------------------------------------ accepted */

static void rediss_with_tls_ca_works(void **state)
{
    (void)state;
    assert_round_trip(rediss(tls_port(), "tls_ca=%s/ca.crt"));
}

static void server_name_option_names_the_certificate(void **state)
{
    (void)state;
    assert_round_trip(rediss(tls_port(),
                             "tls_ca=%s/ca.crt&tls_server_name=localhost"));
}

/* Without tls_server_name, the host of the URL is the name checked
 * against the certificate's DNS name. A minimal system may not resolve
 * "localhost" (no /etc/hosts): there the case says so and checks nothing
 * (cmocka 1.1's skip() would count as a failure in TAP). */
static void host_name_is_checked_against_its_dns_name(void **state)
{
    struct addrinfo hints, *found = NULL;
    char config[1024];

    (void)state;
    memset(&hints, 0, sizeof hints);
    hints.ai_family = AF_INET;
    hints.ai_socktype = SOCK_STREAM;
    if (getaddrinfo("localhost", NULL, &hints, &found) != 0) {
        print_message("# \"localhost\" does not resolve here: not "
                      "checked\n");
        return;
    }
    freeaddrinfo(found);
    snprintf(config, sizeof config, "rediss://localhost:%u?tls_ca=%s/ca.crt",
             tls_port(), certs);
    assert_round_trip(config);
}

static void client_certificate_is_accepted(void **state)
{
    (void)state;
    assert_round_trip(rediss(redis_harness_tls_port(mutual),
                             "tls_ca=%s/ca.crt&tls_cert=%s/client.crt"
                             "&tls_key=%s/client.key"));
}

/* ------------------------------------------------------------- refused */

static void unknown_ca_is_refused(void **state)
{
    (void)state;
    assert_refused(rediss(tls_port(), "tls_ca=%s/other-ca.crt"),
                   OBOL_ERR_BACKEND, "TLS handshake: certificate verify "
                   "failed: unable to get local issuer certificate",
                   "127.0.0.1");
}

/* Without tls_ca the system's trust store decides, which does not hold
 * the test's CA: verification is on by default. */
static void system_trust_store_is_the_default(void **state)
{
    (void)state;
    assert_refused(rediss(tls_port(), "timeout_ms=1000"), OBOL_ERR_BACKEND,
                   "certificate verify failed: unable to get local issuer "
                   "certificate", NULL);
}

static void wrong_server_name_is_refused(void **state)
{
    (void)state;
    assert_refused(rediss(tls_port(),
                          "tls_ca=%s/ca.crt&tls_server_name=wrong.example"),
                   OBOL_ERR_BACKEND, "certificate verify failed: hostname "
                   "mismatch", "wrong.example");
}

static void wrong_address_is_refused(void **state)
{
    (void)state;
    assert_refused(rediss(tls_port(),
                          "tls_ca=%s/ca.crt&tls_server_name=127.0.0.2"),
                   OBOL_ERR_BACKEND, "certificate verify failed: IP address "
                   "mismatch", "127.0.0.2");
}

static void missing_client_certificate_is_refused(void **state)
{
    (void)state;
    assert_refused(rediss(redis_harness_tls_port(mutual), "tls_ca=%s/ca.crt"),
                   OBOL_ERR_BACKEND, "the server asks for a client "
                   "certificate: set tls_cert and tls_key", "127.0.0.1");
}

/* server.crt is signed by the servers' CA, which the server does not
 * trust for clients. */
static void client_certificate_of_another_ca_is_refused(void **state)
{
    (void)state;
    assert_refused(rediss(redis_harness_tls_port(mutual),
                          "tls_ca=%s/ca.crt&tls_cert=%s/server.crt"
                          "&tls_key=%s/server.key"),
                   OBOL_ERR_BACKEND, "the server asked for a client "
                   "certificate: does it trust tls_cert?", "127.0.0.1");
}

static void unreadable_ca_file_is_a_config_error(void **state)
{
    (void)state;
    assert_refused(rediss(tls_port(), "tls_ca=%s/no-such.crt"),
                   OBOL_ERR_INVALID, "tls_ca", "no-such.crt': cannot open");
}

/* A key under a passphrase is refused, never asked for on a terminal. */
static void encrypted_key_is_a_config_error(void **state)
{
    (void)state;
    assert_refused(rediss(tls_port(), "tls_ca=%s/ca.crt&tls_cert=%s/client.crt"
                                      "&tls_key=%s/client-locked.key"),
                   OBOL_ERR_INVALID, "client-locked.key' is encrypted",
                   "tls_key");
}

static void key_of_another_certificate_is_a_config_error(void **state)
{
    (void)state;
    assert_refused(rediss(tls_port(), "tls_ca=%s/ca.crt&tls_cert=%s/client.crt"
                                      "&tls_key=%s/server.key"),
                   OBOL_ERR_INVALID, "server.key' is not the key of tls_cert",
                   "client.crt");
}

/* ------------------------------------------------- the wrong protocol */

static void plaintext_to_the_tls_port_fails_in_time(void **state)
{
    char config[256];

    (void)state;
    snprintf(config, sizeof config,
             "redis://127.0.0.1:%u?timeout_ms=300&connect_timeout_ms=300",
             tls_port());
    assert_fails_within(config, 1500);
}

static void tls_to_the_plaintext_port_fails_in_time(void **state)
{
    (void)state;
    assert_fails_within(rediss(redis_harness_port(beside),
                               "tls_ca=%s/ca.crt&timeout_ms=300"
                               "&connect_timeout_ms=300"),
                        1500);
}

/* A listening socket that never accepts: the kernel completes the TCP
 * connect, and nobody answers the ClientHello. */
static void silent_server_times_out_in_the_handshake(void **state)
{
    struct sockaddr_in addr;
    socklen_t len = sizeof addr;
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    double started, took;

    (void)state;
    memset(&addr, 0, sizeof addr);
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    assert_int_equal(bind(fd, (struct sockaddr *)&addr, sizeof addr), 0);
    assert_int_equal(listen(fd, 8), 0);
    assert_int_equal(getsockname(fd, (struct sockaddr *)&addr, &len), 0);
    started = now_ms();
    assert_refused(rediss(ntohs(addr.sin_port),
                          "tls_ca=%s/ca.crt&connect_timeout_ms=200"),
                   OBOL_ERR_TIMEOUT, "TLS handshake: no answer within 200 ms",
                   "127.0.0.1");
    took = now_ms() - started;
    close(fd);
    assert_true(took >= 190 && took < 1200);
}

/* --------------------------------------------------- the connection */

/* A TLS 1.3 server sends session tickets after the handshake, which make
 * the idle socket readable: the connection must still be kept. */
static void idle_connection_is_kept_over_tls(void **state)
{
    obol_store *st = NULL;
    obol_session *s, *got = NULL;
    obol_error err = { 0 };
    long long before;

    (void)state;
    assert_int_equal(open_store(rediss(tls_port(),
                                       "tls_ca=%s/ca.crt&pool=1"),
                                &st, &err), OBOL_OK);
    s = obol_session_new("bob", NULL, obol_store_now(st), 3600, 3600);
    assert_int_equal(obol_upsert(st, s, &err), OBOL_OK);
    before = info_number("total_connections_received");
    for (int i = 0; i < 20; i++) {
        redis_harness_sleep_ms(i == 0 ? 50 : 1);
        assert_int_equal(obol_get(st, s->id, "bob", NULL, &got, &err),
                         OBOL_OK);
        obol_session_free(got);
    }
    assert_int_equal(info_number("total_connections_received"), before);
    obol_session_free(s);
    obol_store_close(st);
}

/* The server closes the idle connection (CLIENT KILL): it is seen to be
 * dead before a command is sent on it, and replaced. */
static void killed_connection_is_replaced(void **state)
{
    obol_store *st = NULL;
    obol_session *s, *got = NULL;
    obol_error err = { 0 };

    (void)state;
    assert_int_equal(open_store(rediss(tls_port(),
                                       "tls_ca=%s/ca.crt&pool=1"),
                                &st, &err), OBOL_OK);
    s = obol_session_new("carol", NULL, obol_store_now(st), 3600, 3600);
    assert_int_equal(obol_upsert(st, s, &err), OBOL_OK);
    assert_int_equal(redis_harness_run(raw, "CLIENT KILL TYPE normal"), 0);
    redis_harness_sleep_ms(50);
    if (obol_get(st, s->id, "carol", NULL, &got, &err) != OBOL_OK)
        fail_msg("get after CLIENT KILL: %s", err.message);
    obol_session_free(got);
    assert_int_equal(redis_harness_run(raw, "CLIENT KILL TYPE normal"), 0);
    redis_harness_sleep_ms(50);
    if (obol_upsert(st, s, &err) != OBOL_OK)
        fail_msg("upsert after CLIENT KILL: %s", err.message);
    obol_session_free(s);
    obol_store_close(st);
}

/* A stalled server (SIGSTOP) with a TLS connection open: the read times
 * out within timeout_ms, and the handle works once it is back. */
static void stalled_server_times_out_over_tls(void **state)
{
    obol_store *st = NULL;
    obol_session *s, *got = NULL;
    obol_error err = { 0 };
    double started, took;
    int status;

    (void)state;
    assert_int_equal(open_store(rediss(tls_port(),
                                       "tls_ca=%s/ca.crt&pool=1"
                                       "&timeout_ms=300"),
                                &st, &err), OBOL_OK);
    s = obol_session_new("dave", NULL, obol_store_now(st), 3600, 3600);
    assert_int_equal(obol_upsert(st, s, &err), OBOL_OK);
    assert_int_equal(redis_harness_pause(beside), 0);
    started = now_ms();
    status = obol_get(st, s->id, "dave", NULL, &got, &err);
    took = now_ms() - started;
    assert_int_equal(redis_harness_resume(beside), 0);
    assert_int_equal(status, OBOL_ERR_TIMEOUT);
    assert_non_null(strstr(err.message, "no reply within 300 ms"));
    assert_true(took >= 290 && took < 1200);
    assert_int_equal(obol_get(st, s->id, "dave", NULL, &got, &err), OBOL_OK);
    obol_session_free(got);
    obol_session_free(s);
    obol_store_close(st);
}

/* A record of 1 MiB crosses many TLS records both ways, and the socket's
 * buffer fills on the way out. */
static void large_record_crosses_many_tls_records(void **state)
{
    obol_store *st = NULL;
    obol_session *s, *got = NULL;
    obol_error err = { 0 };
    size_t len = 1024 * 1024;
    uint8_t *payload = malloc(len);

    (void)state;
    assert_non_null(payload);
    for (size_t i = 0; i < len; i++)
        payload[i] = (uint8_t)(i * 31 + 7);
    assert_int_equal(open_store(rediss(tls_port(),
                                       "tls_ca=%s/ca.crt&pool=1"
                                       "&max_payload=2MiB&timeout_ms=5000"),
                                &st, &err), OBOL_OK);
    s = obol_session_new("erin", NULL, obol_store_now(st), 3600, 3600);
    assert_int_equal(obol_session_set_payload(s, payload, len), OBOL_OK);
    if (obol_upsert(st, s, &err) != OBOL_OK)
        fail_msg("upsert: %s", err.message);
    assert_int_equal(obol_get(st, s->id, "erin", NULL, &got, &err), OBOL_OK);
    assert_int_equal(got->extra_payload_len, len);
    assert_memory_equal(got->extra_payload, payload, len);
    obol_session_free(got);
    obol_session_free(s);
    obol_store_close(st);
    free(payload);
}

/*
 * The TLS layer writes a peer that has gone away: with OpenSSL's socket
 * BIO (write()) that raises SIGPIPE, which by default kills the process;
 * the driver's BIO sends with MSG_NOSIGNAL, so the handshake just fails.
 * SIGPIPE is left at its default here, as an application may leave it.
 */
static void vanished_peer_raises_no_sigpipe(void **state)
{
    struct sigaction current;
    redis_tls *tls = NULL;
    redis_tls_session *s;
    char why[300], ca[1024];
    int pair[2], out_of_memory, step;

    (void)state;
    assert_int_equal(sigaction(SIGPIPE, NULL, &current), 0);
    assert_true(current.sa_handler == SIG_DFL);
    snprintf(ca, sizeof ca, "%s/ca.crt", certs);
    assert_int_equal(redis_tls_new(ca, NULL, NULL, &tls, &out_of_memory, why,
                                   sizeof why), 0);
    assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, pair), 0);
    close(pair[1]);
    s = redis_tls_session_new(tls, pair[0], "localhost");
    assert_non_null(s);
    step = redis_tls_handshake(s);
    assert_true(step == REDIS_TLS_FAILED || step == REDIS_TLS_CLOSED);
    fprintf(stderr, "# handshake with a closed peer: %s\n", redis_tls_why(s));
    redis_tls_session_free(s, 0);
    close(pair[0]);
    redis_tls_free(tls);
}

/* ----------------------------------------------------------------- main */

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(rediss_with_tls_ca_works),
        cmocka_unit_test(server_name_option_names_the_certificate),
        cmocka_unit_test(host_name_is_checked_against_its_dns_name),
        cmocka_unit_test(client_certificate_is_accepted),
        cmocka_unit_test(unknown_ca_is_refused),
        cmocka_unit_test(system_trust_store_is_the_default),
        cmocka_unit_test(wrong_server_name_is_refused),
        cmocka_unit_test(wrong_address_is_refused),
        cmocka_unit_test(missing_client_certificate_is_refused),
        cmocka_unit_test(client_certificate_of_another_ca_is_refused),
        cmocka_unit_test(unreadable_ca_file_is_a_config_error),
        cmocka_unit_test(encrypted_key_is_a_config_error),
        cmocka_unit_test(key_of_another_certificate_is_a_config_error),
        cmocka_unit_test(plaintext_to_the_tls_port_fails_in_time),
        cmocka_unit_test(tls_to_the_plaintext_port_fails_in_time),
        cmocka_unit_test(silent_server_times_out_in_the_handshake),
        cmocka_unit_test(idle_connection_is_kept_over_tls),
        cmocka_unit_test(killed_connection_is_replaced),
        cmocka_unit_test(stalled_server_times_out_over_tls),
        cmocka_unit_test(large_record_crosses_many_tls_records),
        cmocka_unit_test(vanished_peer_raises_no_sigpipe),
    };

    redis_harness_require();
    redis_harness_require_openssl();
    return cmocka_run_group_tests_name("redis tls", tests, group_setup,
                                       group_teardown);
}

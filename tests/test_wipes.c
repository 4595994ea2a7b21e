/*
 * Secrets are wiped before their memory is freed. This program defines
 * free() itself, so that every free() of the process, the library's, the
 * drivers' and hiredis's alike, comes here first: while a case watches a
 * secret, a block freed still holding it is counted (the block's usable
 * size is searched), and the case fails. Each case watches a secret of its
 * own, so that what one leaves behind cannot count against another.
 *
 * What a free() cannot show is not tested here: the stack buffer a Redis
 * password file is read into, and copies outside the process's heap
 * (OpenSSL's records, the kernel's socket buffers).
 */
#define _GNU_SOURCE
#include "config.h"

#include <arpa/inet.h>
#include <malloc.h>
#include <netinet/in.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cmocka.h>

#include <obol/obol.h>

#include "tmpdir.h"

/* glibc's own free(), which the one below hands every block on to. */
extern void __libc_free(void *ptr);

static const char *watched;   /* NULL: nothing watched */
static size_t watched_len;
static int freed_unwiped;

void free(void *ptr)
{
    if (ptr != NULL && watched != NULL &&
        memmem(ptr, malloc_usable_size(ptr), watched, watched_len) != NULL)
        freed_unwiped++;
    __libc_free(ptr);
}

static void watch(const char *secret)
{
    freed_unwiped = 0;
    watched_len = strlen(secret);
    watched = secret;
}

/* How many blocks were freed holding the secret since watch(). */
static int stop_watching(void)
{
    watched = NULL;
    return freed_unwiped;
}

static const uint8_t key[32] = "wipe test key..................";

static obol_store *open_store(const char *url)
{
    obol_store *st = NULL;
    obol_error err;

    if (obol_store_open(url, &st, &err) != OBOL_OK)
        fail_msg("open %s: %s", url, err.message);
    assert_int_equal(obol_store_add_key(st, 1, key, 1, NULL), OBOL_OK);
    return st;
}

/* A server on loopback that takes connections and never answers: the
 * driver sends AUTH and gives up at its deadline. */
static int silent_server(uint16_t *port)
{
    struct sockaddr_in addr = { .sin_family = AF_INET };
    socklen_t len = sizeof addr;
    int listener = socket(AF_INET, SOCK_STREAM, 0);

    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    assert_true(listener >= 0);
    assert_int_equal(bind(listener, (struct sockaddr *)&addr, sizeof addr), 0);
    assert_int_equal(getsockname(listener, (struct sockaddr *)&addr, &len), 0);
    assert_int_equal(listen(listener, 4), 0);
    *port = ntohs(addr.sin_port);
    return listener;
}

/* Opens a Redis store whose password option is password (file:, env:)
 * on a silent server, watching secret: every copy the password went
 * through (the driver's config, hiredis's formatted AUTH, the
 * connection's output buffer, a file's read buffer) is freed when the
 * open fails. */
static void assert_auth_leaves_no_copy(const char *password,
                                       const char *secret)
{
    uint16_t port;
    int listener = silent_server(&port);
    char url[4400];
    obol_store *st = NULL;
    obol_error err;

    snprintf(url, sizeof url, "redis://127.0.0.1:%u?password=%s"
             "&timeout_ms=200&connect_timeout_ms=200", port, password);
    watch(secret);
    assert_int_equal(obol_store_open(url, &st, &err), OBOL_ERR_TIMEOUT);
    assert_int_equal(stop_watching(), 0);
    assert_non_null(strstr(err.message, "AUTH"));
    close(listener);
}

/* A fresh directory holding the file "secret" with secret and a newline
 * in it; its path goes to path. Written before the case watches, since
 * stdio's own buffer is freed holding it. */
static char *secret_file(const char *secret, char *path, size_t size)
{
    char *dir = tmpdir_make("wipes");
    FILE *file;

    assert_non_null(dir);
    snprintf(path, size, "%s/secret", dir);
    file = fopen(path, "w");
    assert_non_null(file);
    fprintf(file, "%s\n", secret);
    fclose(file);
    return dir;
}

static void a_redis_password_from_a_file_is_wiped(void **state)
{
    static const char secret[] = "redis-password-6c2f1d0e9b8a";
    char path[4200], option[4300];
    char *dir = secret_file(secret, path, sizeof path);
    (void)state;

    snprintf(option, sizeof option, "file:%s", path);
    assert_auth_leaves_no_copy(option, secret);
    tmpdir_remove(dir);
}

/* The core's secret=file: leaves no stdio buffer holding the secret. */
static void a_store_secret_from_a_file_is_wiped(void **state)
{
    static const char secret[] = "store-secret-from-a-file-5e1a9c7b3d2f4e60";
    char path[4200], url[4300];
    char *dir = secret_file(secret, path, sizeof path);
    obol_store *st = NULL;
    obol_error err;
    (void)state;

    snprintf(url, sizeof url, "memory:?secret=file:%s", path);
    watch(secret);
    if (obol_store_open(url, &st, &err) != OBOL_OK)
        fail_msg("open: %s", err.message);
    obol_store_close(st);
    assert_int_equal(stop_watching(), 0);
    tmpdir_remove(dir);
}

/* From the environment no file buffer is involved: what is left are the
 * AUTH command's buffers. */
static void the_auth_command_is_wiped(void **state)
{
    static const char secret[] = "redis-password-3b4c5d6e7f80";
    (void)state;

    setenv("OBOL_WIPE_TEST_PASSWORD", secret, 1);
    assert_auth_leaves_no_copy("env:OBOL_WIPE_TEST_PASSWORD", secret);
    unsetenv("OBOL_WIPE_TEST_PASSWORD");
}

/* seal=aead: the decrypted record (payload, refresh token id) is wiped
 * once decoded, and the session's copies when it is freed. */
static void aead_plaintext_is_wiped_after_a_read(void **state)
{
    static const char secret[] = "aead-payload-0d9e8f7a6b5c";
    obol_store *st = open_store("memory:?seal=aead");
    obol_session *s = obol_session_new("alice", NULL, obol_store_now(st),
                                       3600, 3600);
    obol_session *got = NULL;
    (void)state;

    assert_int_equal(obol_session_set_payload(s, secret, strlen(secret)),
                     OBOL_OK);
    assert_int_equal(obol_upsert(st, s, NULL), OBOL_OK);
    watch(secret);
    assert_int_equal(obol_get(st, s->id, "alice", NULL, &got, NULL), OBOL_OK);
    assert_int_equal(stop_watching(), 0);
    assert_memory_equal(got->extra_payload, secret, strlen(secret));
    watch(secret);
    obol_session_free(got);
    obol_session_free(s);
    assert_int_equal(stop_watching(), 0);
    obol_store_close(st);
}

/* The refresh token ids, the one current and the one rotated away. */
static void refresh_token_ids_are_wiped_when_freed(void **state)
{
    static const char current[] = "token-id-current-1a2b3c4d";
    static const char previous[] = "token-id-previous-5e6f7a8b";
    obol_session *s = obol_session_new("alice", NULL, 0, 3600, 3600);
    obol_session **list = calloc(1, sizeof *list);
    (void)state;

    assert_non_null(list);
    free(s->refresh_token_id);
    s->refresh_token_id = strdup(previous);
    watch(previous);
    assert_int_equal(obol_session_refresh(s, 10, 3600), OBOL_OK);
    free(s->refresh_token_id);
    s->refresh_token_id = strdup(current);
    assert_int_equal(obol_session_refresh(s, 20, 3600), OBOL_OK);
    assert_int_equal(stop_watching(), 0);   /* previous, rotated away */
    assert_string_equal(s->prev_refresh_token_id, current);
    list[0] = s;
    watch(current);
    obol_sessions_free(list, 1);
    assert_int_equal(stop_watching(), 0);
}

/* A client token carries the refresh token id; making and parsing one
 * goes through buffers that hold it in the clear. */
static void token_buffers_are_wiped(void **state)
{
    static const char secret[] = "token-id-in-a-token-9c8d7e6f";
    obol_store *st = open_store("memory:");
    obol_session *s = obol_session_new("alice", NULL, obol_store_now(st),
                                       3600, 3600);
    obol_token *t = NULL;
    char *token = NULL;
    (void)state;

    free(s->refresh_token_id);
    s->refresh_token_id = strdup(secret);
    watch(secret);
    assert_int_equal(obol_token_make(st, s, &token, NULL), OBOL_OK);
    assert_int_equal(obol_token_parse(st, token, &t, NULL), OBOL_OK);
    obol_token_free(t);
    assert_int_equal(stop_watching(), 0);
    free(token);
    obol_session_free(s);
    obol_store_close(st);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(a_redis_password_from_a_file_is_wiped),
        cmocka_unit_test(the_auth_command_is_wiped),
        cmocka_unit_test(a_store_secret_from_a_file_is_wiped),
        cmocka_unit_test(aead_plaintext_is_wiped_after_a_read),
        cmocka_unit_test(refresh_token_ids_are_wiped_when_freed),
        cmocka_unit_test(token_buffers_are_wiped),
    };
    return cmocka_run_group_tests_name("wipes", tests, NULL, NULL);
}

/*
 * libFuzzer target: the config string, through obol_store_open() and
 * obol_store_close(). The input is a config string (an input holding a NUL
 * byte is skipped: no caller can pass one).
 *
 * Hermetic by construction: the only driver it ever reaches is the memory
 * driver, linked in and registered here (so it is instrumented too, and no
 * file is ever dlopen()ed), and secrets come only from environment
 * variables the target sets. Every input goes through the core's parser
 * (obol_config_parse, lib/config.c); then
 *   - an input the parser refuses is opened too, and must be refused by
 *     obol_store_open() with the same status and message (the parser runs
 *     before any driver is looked for, so this touches nothing);
 *   - an input naming the memory driver whose secrets are env:OBOL_FUZZ_*
 *     is opened, and a session is written, read, listed and deleted in the
 *     store it opened, with whatever prefix, seal mode and limits it set;
 *   - anything else (lmdb://, redis://, a secret in a file) is parsed
 *     only, so that no directory is created, no connection tried and no
 *     file read (file:/dev/stdin would block).
 *
 * Checks beyond "no crash, no leak": a refused string leaves nothing in
 * the parsed config and says why; an accepted one has a scheme, a driver
 * name, a prefix and a known seal mode, and masks its password; what a
 * store opened on it writes, it reads back unchanged.
 */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include <obol/driver.h>

#include "config_internal.h"
#include "fuzz.h"
#include "keys_internal.h"
#include "seal_internal.h"
#include "store_internal.h"

const obol_driver *obol_driver_memory_entry(const obol_driver_host *host);

#define FUZZ_ENV_PREFIX "env:OBOL_FUZZ_"
#define FUZZ_NOW 1767225600   /* 2026-01-01: the stores' clock, fixed */

static const uint8_t raw_key[32] = "obol config fuzz target key....";

/* Secrets the corpus names: OBOL_FUZZ_SECRET signs (32 bytes, the
 * minimum), OBOL_FUZZ_OLD is long enough for old_secrets= only, and
 * OBOL_FUZZ_SHORT is refused everywhere. OBOL_FUZZ_UNSET stays unset. */
static void set_up_once(void)
{
    static int done;
    obol_error err;

    if (done)
        return;
    done = 1;
    setenv("OBOL_FUZZ_SECRET", "a secret for the config fuzz target", 1);
    setenv("OBOL_FUZZ_OLD", "an older secret!", 1);
    setenv("OBOL_FUZZ_SHORT", "short", 1);
    unsetenv("OBOL_FUZZ_UNSET");
    FUZZ_CHECK(obol_driver_register(obol_driver_memory_entry, &err) == OBOL_OK);
}

static int64_t fixed_clock(void *arg)
{
    (void)arg;
    return FUZZ_NOW;
}

static int is_fuzz_secret(const char *source)
{
    return source == NULL ||
           strncmp(source, FUZZ_ENV_PREFIX, strlen(FUZZ_ENV_PREFIX)) == 0;
}

/* Whether opening c stays inside this process. */
static int may_open(const obol_config *c)
{
    if (strcmp(c->driver_name, "memory") != 0 ||
        !is_fuzz_secret(c->secret_source))
        return 0;
    for (size_t i = 0; i < c->old_secret_count; i++)
        if (!is_fuzz_secret(c->old_secrets[i].source))
            return 0;
    return 1;
}

static void check_refused(int status, const obol_error *err,
                          const obol_config *c)
{
    static const obol_config empty;

    FUZZ_CHECK(status < 0);
    FUZZ_CHECK(err->status == status);
    FUZZ_CHECK(err->message[0] != '\0');
    FUZZ_CHECK(memcmp(c, &empty, sizeof empty) == 0);
}

static void check_accepted(const obol_config *c)
{
    FUZZ_CHECK(c->redacted_url != NULL && c->scheme != NULL);
    FUZZ_CHECK(c->driver_name != NULL && c->driver_name[0] != '\0');
    FUZZ_CHECK(c->prefix != NULL && c->prefix[0] != '\0');
    FUZZ_CHECK(c->seal_mode == OBOL_SEAL_MAC || c->seal_mode == OBOL_SEAL_AEAD);
    FUZZ_CHECK(c->refresh_grace_s >= 0 &&
               c->refresh_grace_s <= OBOL_MAX_REFRESH_GRACE_S);
    FUZZ_CHECK(c->old_key_id_count + c->old_secret_count <= OBOL_MAX_OLD_KEYS);
    if (c->password != NULL)
        FUZZ_CHECK(strstr(c->redacted_url, "***") != NULL);
}

/* A refused string is refused by obol_store_open() just as by the parser. */
static void check_open_refuses(const char *text, int status,
                               const obol_error *parse_err)
{
    obol_store *st = (obol_store *)&st;   /* must be reset to NULL */
    obol_error err;

    FUZZ_CHECK(obol_store_open(text, &st, &err) == status);
    FUZZ_CHECK(st == NULL);
    FUZZ_CHECK(strcmp(err.message, parse_err->message) == 0);
}

/* Whatever the options, a session written is read back as it was, listed,
 * and gone once deleted. A write may be refused (max_payload=0, a full
 * max_records=), but then with a reason. */
static void round_trip(obol_store *st)
{
    obol_session *s, *got = NULL, **all = NULL;
    size_t count = 0;
    obol_error err;
    int status;

    if (!obol_keyring_can_sign(st->keys))
        FUZZ_CHECK(obol_store_add_key(st, 1, raw_key, 1, &err) == OBOL_OK);
    s = obol_session_new("fuzz-user", NULL, FUZZ_NOW, 3600, 600);
    FUZZ_CHECK(s != NULL);
    FUZZ_CHECK(obol_session_set_payload(s, "fuzz", 4) == OBOL_OK);
    status = obol_upsert(st, s, &err);
    if (status != OBOL_OK) {
        FUZZ_CHECK(status < 0 && err.status == status);
        FUZZ_CHECK(err.message[0] != '\0');
        obol_session_free(s);
        return;
    }
    FUZZ_CHECK(obol_get(st, s->id, s->user_id, s->type, &got, &err) == OBOL_OK);
    FUZZ_CHECK(fuzz_same_session(s, got));
    FUZZ_CHECK(obol_get_all(st, s->user_id, s->type, &all, &count, &err) ==
               OBOL_OK);
    FUZZ_CHECK(count == 1 && fuzz_same_session(s, all[0]));
    FUZZ_CHECK(obol_delete(st, s->id, s->user_id, s->type, &err) == OBOL_OK);
    obol_session_free(got);
    got = NULL;
    FUZZ_CHECK(obol_get(st, s->id, s->user_id, s->type, &got, &err) ==
               OBOL_NOT_FOUND);
    FUZZ_CHECK(got == NULL);
    obol_sessions_free(all, count);
    obol_session_free(s);
}

static void open_memory_store(const char *text)
{
    obol_store *st = NULL;
    obol_error err;
    int status = obol_store_open(text, &st, &err);

    if (status != OBOL_OK) {
        /* The memory driver refuses options, a host, ...; a secret may be
         * unset or short. */
        FUZZ_CHECK(status < 0 && err.status == status && st == NULL);
        FUZZ_CHECK(err.message[0] != '\0');
        return;
    }
    FUZZ_CHECK(strcmp(obol_store_driver_name(st), "memory") == 0);
    obol_store_set_clock(st, fixed_clock, NULL);
    round_trip(st);
    obol_store_close(st);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *text = fuzz_string_of(data, size);
    obol_config config;
    obol_error err;
    int status;

    if (text == NULL)
        return 0;
    set_up_once();
    status = obol_config_parse(text, &config, &err);
    if (status != OBOL_OK) {
        check_refused(status, &err, &config);
        check_open_refuses(text, status, &err);
    } else {
        check_accepted(&config);
        if (may_open(&config))
            open_memory_store(text);
        obol_config_clear(&config);
    }
    free(text);
    return 0;
}

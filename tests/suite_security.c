/*
 * The claims of docs/SECURITY.md about the seal, each shown on every driver
 * with the store suite: someone who can write to the backend but holds no
 * key cannot forge a record, move one to another user, type, session or
 * store, or alter one; and what the seal does not stop, rollback, is shown
 * too, with the reuse detection that limits it.
 *
 * Each case plays the backend writer through the loaded driver's own
 * get() and put(), the way a hostile or buggy backend would hand records
 * back.
 */
#include "config.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include <obol/driver.h>
#include <obol/obol.h>

#include "store_internal.h"
#include "suite_fixture.h"
#include "suite_security.h"

#define SEAL_MAC_OFFSET 5   /* docs/FORMAT.md: format byte, key id, MAC */
#define SEAL_MAC_LEN 32

/* ------------------------------------------------------------ helpers */

/* A driver key naming session sid of uid/type; the strings must outlive
 * the key. */
static obol_driver_key key_of(const char *uid, const char *type,
                              const char *sid)
{
    obol_driver_key key = { { (const uint8_t *)uid, strlen(uid) },
                            { (const uint8_t *)type, strlen(type) },
                            { (const uint8_t *)sid, strlen(sid) } };
    return key;
}

/* The sealed bytes stored under key (free them). */
static uint8_t *fetch(fixture *f, const obol_driver_key *key, size_t *len)
{
    obol_error err;
    uint8_t *bytes = NULL;

    if (f->st->driver->get(f->st->handle, key, &bytes, len, &err) != OBOL_OK)
        fail_msg("driver get: %s", err.message);
    return bytes;
}

/* Stores bytes under key as the backend writer would, whatever is there. */
static void plant(fixture *f, const obol_driver_key *key, const uint8_t *bytes,
                  size_t len, uint64_t lock_version)
{
    obol_driver_record rec = { *key, { bytes, len }, f->now + DAY, lock_version };
    obol_error err;
    int status;

    f->st->driver->del(f->st->handle, key, &err);
    status = f->st->driver->put(f->st->handle, &rec, 0, f->now, &err);
    if (status != OBOL_OK)
        fail_msg("driver put: %d %s", status, err.message);
}

/* Reads sid of uid/type and expects the record to be refused for its MAC,
 * with exactly one warning saying so. */
static void assert_refused_for_its_mac(fixture *f, const char *sid,
                                       const char *uid, const char *type)
{
    obol_session *got = NULL;
    obol_error err;

    f->warnings = 0;
    assert_int_equal(obol_get(f->st, sid, uid, type, &got, &err), OBOL_NOT_FOUND);
    assert_null(got);
    assert_int_equal(f->warnings, 1);
    assert_non_null(strstr(f->last_warning, "MAC mismatch"));
}

static void count_event(void *arg, const obol_event *event)
{
    int *reuse = arg;

    if (event->kind == OBOL_EVENT_REUSE_DETECTED)
        (*reuse)++;
}

/* -------------------------------------------------------- what it stops */

static void record_moved_to_another_type_is_refused(void **state)
{
    fixture *f = *state;
    obol_session *s = suite_stored_session(f, "alice", NULL);
    obol_driver_key from = key_of("alice", "full", s->id);
    obol_driver_key to = key_of("alice", "oauth2", s->id);
    size_t len;
    uint8_t *bytes = fetch(f, &from, &len);

    plant(f, &to, bytes, len, 1);
    free(bytes);
    assert_refused_for_its_mac(f, s->id, "alice", "oauth2");
    obol_session_free(s);
}

static void records_swapped_between_two_sessions_are_refused(void **state)
{
    fixture *f = *state;
    obol_session *a = suite_stored_session(f, "alice", NULL);
    obol_session *b = suite_stored_session(f, "alice", NULL);
    obol_driver_key key_a = key_of("alice", "full", a->id);
    obol_driver_key key_b = key_of("alice", "full", b->id);
    size_t len_a, len_b;
    uint8_t *bytes_a = fetch(f, &key_a, &len_a);
    uint8_t *bytes_b = fetch(f, &key_b, &len_b);

    plant(f, &key_a, bytes_b, len_b, 1);
    plant(f, &key_b, bytes_a, len_a, 1);
    free(bytes_a);
    free(bytes_b);
    assert_refused_for_its_mac(f, a->id, "alice", NULL);
    assert_refused_for_its_mac(f, b->id, "alice", NULL);
    obol_session_free(a);
    obol_session_free(b);
}

static void record_of_another_store_is_refused(void **state)
{
    fixture *f = *state;
    fixture other = *f;
    obol_store *elsewhere;
    obol_session *s = obol_session_new("alice", NULL, f->now, DAY, DAY);
    obol_driver_key key;
    size_t len;
    uint8_t *bytes;
    obol_error err;

    /* The same backend and key under another prefix: the record is bound
     * to its prefix, so the copy does not verify here. */
    suite_make_url(&other, NULL);
    elsewhere = suite_open_store(f, other.url, 1);
    assert_non_null(s);
    assert_int_equal(obol_upsert(elsewhere, s, &err), OBOL_OK);
    key = key_of("alice", "full", s->id);
    assert_int_equal(elsewhere->driver->get(elsewhere->handle, &key, &bytes,
                                            &len, &err), OBOL_OK);
    plant(f, &key, bytes, len, 1);
    free(bytes);
    assert_refused_for_its_mac(f, s->id, "alice", NULL);
    obol_store_close(elsewhere);
    obol_session_free(s);
}

static void record_with_a_made_up_mac_is_refused(void **state)
{
    fixture *f = *state;
    obol_session *s = suite_stored_session(f, "alice", NULL);
    obol_driver_key key = key_of("alice", "full", s->id);
    size_t len;
    uint8_t *bytes = fetch(f, &key, &len);

    /* A forger knows the layout and the body, only not the key. */
    assert_true(len > SEAL_MAC_OFFSET + SEAL_MAC_LEN);
    memset(bytes + SEAL_MAC_OFFSET, 0, SEAL_MAC_LEN);
    plant(f, &key, bytes, len, 1);
    free(bytes);
    assert_refused_for_its_mac(f, s->id, "alice", NULL);
    obol_session_free(s);
}

static void aead_record_hides_its_payload_from_the_backend(void **state)
{
    fixture *f = *state;
    static const char secret[] = "payload-the-backend-must-not-see";
    obol_session *s = obol_session_new("alice", NULL, f->now, DAY, DAY);
    obol_driver_key key;
    obol_error err;
    size_t len;
    uint8_t *bytes;

    assert_non_null(s);
    assert_int_equal(obol_session_set_payload(s, secret, sizeof secret - 1),
                     OBOL_OK);
    assert_int_equal(obol_upsert(f->st, s, &err), OBOL_OK);
    key = key_of("alice", "full", s->id);
    bytes = fetch(f, &key, &len);
    assert_int_equal(bytes[0], 0x02);
    assert_null(memmem(bytes, len, secret, sizeof secret - 1));
    free(bytes);
    obol_session_free(s);
}

/* ------------------------------------------------ what it does not stop */

/*
 * Rollback: the backend writer puts back the session's own older record.
 * It verifies (the seal cannot tell it from the newer one), so the token
 * it had is good again. What limits it is reuse detection: as soon as the
 * legitimate client presents its newer token, the session is revoked.
 */
static void rollback_is_accepted_until_the_newer_token_revokes(void **state)
{
    fixture *f = *state;
    obol_session *s = suite_stored_session(f, "alice", NULL);
    obol_driver_key key = key_of("alice", "full", s->id);
    char *old_token = NULL, *new_token = NULL, *stolen_next = NULL;
    size_t old_len;
    uint8_t *old_record;
    obol_session *got = NULL;
    obol_error err;
    int reuse = 0;

    assert_int_equal(obol_token_make(f->st, s, &old_token, &err), OBOL_OK);
    old_record = fetch(f, &key, &old_len);
    assert_int_equal(obol_refresh(f->st, old_token, DAY, NULL, &new_token, &err),
                     OBOL_OK);

    plant(f, &key, old_record, old_len, s->lock_version);
    free(old_record);
    assert_int_equal(obol_get(f->st, s->id, "alice", NULL, &got, &err), OBOL_OK);
    assert_string_equal(got->refresh_token_id, s->refresh_token_id);
    assert_int_equal(obol_refresh(f->st, old_token, DAY, NULL, &stolen_next,
                                  &err), OBOL_OK);

    obol_store_set_event_hook(f->st, count_event, &reuse);
    assert_int_equal(obol_refresh(f->st, new_token, DAY, NULL, NULL, &err),
                     OBOL_REUSE_DETECTED);
    assert_int_equal(reuse, 1);
    assert_int_equal(obol_refresh(f->st, stolen_next, DAY, NULL, NULL, &err),
                     OBOL_NOT_FOUND);
    free(old_token);
    free(new_token);
    free(stolen_next);
    obol_session_free(got);
    obol_session_free(s);
}

#define CASE(name) cmocka_unit_test_setup_teardown(name, suite_setup, suite_teardown)

const struct CMUnitTest security_suite_tests[] = {
    CASE(record_moved_to_another_type_is_refused),
    CASE(records_swapped_between_two_sessions_are_refused),
    CASE(record_of_another_store_is_refused),
    CASE(record_with_a_made_up_mac_is_refused),
    cmocka_unit_test_setup_teardown(aead_record_hides_its_payload_from_the_backend,
                                    suite_setup_aead, suite_teardown),
    CASE(rollback_is_accepted_until_the_newer_token_revokes),
};

const size_t security_suite_test_count =
    sizeof security_suite_tests / sizeof security_suite_tests[0];

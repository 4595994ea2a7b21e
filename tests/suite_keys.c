/*
 * Key rotation, run with the store suite on every driver: a store verifies
 * the key ids it is given and no other; old keys listed by id
 * (old_key_ids=) or by their retired secret (old_secrets=) keep old records
 * readable while new ones are signed with the signing key; a key id no
 * longer listed is refused with one OBOL_EVENT_UNKNOWN_KEY per read;
 * obol_rekey() moves records to the signing key without ever losing a
 * refresh; obol_count_keys() tells what each key id still holds. Every
 * store here is keyed by secrets from the environment, on the case's own
 * prefix.
 */
#include "config.h"

#include <pthread.h>
#include <sched.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>

#include <obol/driver.h>
#include <obol/obol.h>

#include "codec_internal.h"
#include "session_assert.h"
#include "store_internal.h"
#include "suite_fixture.h"
#include "suite_keys.h"
#include "suite_sweep.h"
#include "tmpdir.h"

#define OLD_SECRET "the suite's old base secret, well over 32 bytes"
#define NEW_SECRET "the suite's new base secret, well over 32 bytes"

/* The old secret signing with key 1 (the default key_id). */
#define OLD_KEY "secret=env:OBOL_SUITE_OLD_SECRET"
/* Rotated: the same secret signs with key 2, key 1 still verifies. */
#define ROTATED OLD_KEY "&key_id=2&old_key_ids=1"
/* Key 1 retired: key 2 alone. */
#define RETIRED OLD_KEY "&key_id=2"

/* ------------------------------------------------------------- helpers */

static int setup_keys(void **state)
{
    setenv("OBOL_SUITE_OLD_SECRET", OLD_SECRET, 1);
    setenv("OBOL_SUITE_NEW_SECRET", NEW_SECRET, 1);
    return suite_setup(state);
}

/* A store on the case's backend and prefix, keyed by options alone. */
static obol_store *open_keyed(fixture *f, const char *options)
{
    char url[2400];

    snprintf(url, sizeof url, "%s&%s", f->url, options);
    return suite_open_store(f, url, 0);
}

/* A new session of uid written through st, its payload a counter at 0. */
static obol_session *stored_in(fixture *f, obol_store *st, const char *uid,
                               int64_t refresh_ttl)
{
    obol_session *s = obol_session_new(uid, NULL, f->now, 7 * DAY, refresh_ttl);
    uint64_t zero = 0;
    obol_error err;

    assert_non_null(s);
    assert_int_equal(obol_session_set_payload(s, &zero, sizeof zero), OBOL_OK);
    if (obol_upsert(st, s, &err) != OBOL_OK)
        fail_msg("upsert: %s", err.message);
    return s;
}

static int get_status(obol_store *st, const obol_session *s)
{
    obol_session *got = NULL;
    int status = obol_get(st, s->id, s->user_id, s->type, &got, NULL);

    obol_session_free(got);
    return status;
}

/* st reads s back, every field as it is in s. */
static void assert_reads_back(obol_store *st, const obol_session *s)
{
    obol_session *got = NULL;
    obol_error err;

    if (obol_get(st, s->id, s->user_id, s->type, &got, &err) != OBOL_OK)
        fail_msg("get of %s's session: %s", s->user_id, err.message);
    assert_sessions_equal(s, got);
    obol_session_free(got);
}

static obol_driver_key key_of(const obol_session *s)
{
    obol_driver_key key = {
        { (const uint8_t *)s->user_id, strlen(s->user_id) },
        { (const uint8_t *)s->type, strlen(s->type) },
        { (const uint8_t *)s->id, strlen(s->id) }
    };
    return key;
}

/* The bytes the backend holds for s (free() them). */
static uint8_t *stored_bytes(fixture *f, const obol_session *s, size_t *len)
{
    obol_driver_key key = key_of(s);
    uint8_t *bytes = NULL;
    obol_error err;

    if (f->st->driver->get(f->st->handle, &key, &bytes, len, &err) != OBOL_OK)
        fail_msg("driver get: %s", err.message);
    return bytes;
}

/* Format and key id of the stored record's seal (docs/FORMAT.md). */
static uint32_t stored_key_id(fixture *f, const obol_session *s, int *format)
{
    size_t len;
    uint8_t *b = stored_bytes(f, s, &len);
    uint32_t id;

    assert_true(len >= 5);
    *format = b[0];
    id = (uint32_t)b[1] << 24 | (uint32_t)b[2] << 16 | (uint32_t)b[3] << 8 |
         (uint32_t)b[4];
    free(b);
    return id;
}

static void assert_sealed_with(fixture *f, const obol_session *s,
                               uint32_t key_id, int format)
{
    int stored_format;

    assert_int_equal(stored_key_id(f, s, &stored_format), key_id);
    assert_int_equal(stored_format, format);
}

/* Stores bytes for s, with s's lock version, if the backend holds
 * expected_lock. */
static void put_raw(fixture *f, const obol_session *s, const uint8_t *bytes,
                    size_t len, uint64_t expected_lock)
{
    obol_driver_record rec = { key_of(s), { bytes, len },
                               s->refresh_expires_at, s->lock_version };
    obol_error err;

    if (f->st->driver->put(f->st->handle, &rec, expected_lock, f->now,
                           &err) != OBOL_OK)
        fail_msg("driver put: %s", err.message);
}

/* A session as an unsigned deployment wrote it: the bare encoding. */
static obol_session *put_unsigned(fixture *f, const char *uid)
{
    obol_session *s = obol_session_new(uid, NULL, f->now, 7 * DAY, DAY);
    uint8_t buf[1024];
    size_t len;

    assert_non_null(s);
    s->lock_version = 1;
    assert_int_equal(obol_codec_encode(s, buf, sizeof buf, &len), OBOL_OK);
    put_raw(f, s, buf, len, 0);
    return s;
}

/* Events the hook saw. */
typedef struct events {
    int count[5];
    uint32_t last_key_id;
} events;

static void count_event(void *arg, const obol_event *event)
{
    events *seen = arg;

    if (event->kind > 0 && event->kind < 5)
        seen->count[event->kind]++;
    seen->last_key_id = event->key_id;
}

static int all_events(const events *seen)
{
    return seen->count[1] + seen->count[2] + seen->count[3] + seen->count[4];
}

static obol_rekey_stats rekey_ok(obol_store *st)
{
    obol_rekey_stats stats;
    obol_error err;

    if (obol_rekey(st, NULL, NULL, &stats, &err) != OBOL_OK)
        fail_msg("rekey: %s", err.message);
    return stats;
}

/* ------------------------------------------------------------ rotation */

static void old_key_ids_keep_old_records_readable_while_the_new_key_signs(void **state)
{
    fixture *f = *state;
    obol_store *old = open_keyed(f, OLD_KEY);
    obol_store *rotated = open_keyed(f, ROTATED);
    obol_store *retired = open_keyed(f, RETIRED);
    obol_session *before = stored_in(f, old, "alice", DAY);
    obol_session *after;

    assert_reads_back(rotated, before);
    after = stored_in(f, rotated, "bob", DAY);
    assert_sealed_with(f, before, 1, 1);
    assert_sealed_with(f, after, 2, 1);
    /* The new record needs key 2 only; the store of key 1 alone cannot
     * read it. */
    assert_reads_back(retired, after);
    assert_int_equal(get_status(old, after), OBOL_NOT_FOUND);
    obol_store_close(old);
    obol_store_close(rotated);
    obol_store_close(retired);
    obol_session_free(before);
    obol_session_free(after);
}

static char *write_secret_file(const char *dir, const char *secret)
{
    char *path;
    FILE *out;

    assert_true(asprintf(&path, "%s/old.secret", dir) > 0);
    out = fopen(path, "w");
    assert_non_null(out);
    fprintf(out, "%s\n", secret);
    assert_int_equal(fclose(out), 0);
    return path;
}

static void old_secrets_keep_records_of_a_replaced_secret_readable(void **state)
{
    fixture *f = *state;
    char *dir = tmpdir_make("suite-keys");
    char *path, options[1200];
    obol_store *old, *replaced, *by_env, *new_only, *old_secret_key_two;
    obol_session *before, *after;

    assert_non_null(dir);
    suite_sweep_note_dir(dir);   /* removed at teardown, failed or not */
    path = write_secret_file(dir, OLD_SECRET);
    old = open_keyed(f, OLD_KEY);
    before = stored_in(f, old, "alice", DAY);
    snprintf(options, sizeof options, "secret=env:OBOL_SUITE_NEW_SECRET"
             "&key_id=2&old_secrets=1:file:%s", path);
    replaced = open_keyed(f, options);
    by_env = open_keyed(f, "secret=env:OBOL_SUITE_NEW_SECRET&key_id=2"
                           "&old_secrets=1:env:OBOL_SUITE_OLD_SECRET");
    new_only = open_keyed(f, "secret=env:OBOL_SUITE_NEW_SECRET&key_id=2");
    old_secret_key_two = open_keyed(f, RETIRED);

    assert_reads_back(replaced, before);
    assert_reads_back(by_env, before);
    after = stored_in(f, replaced, "bob", DAY);
    assert_sealed_with(f, after, 2, 1);
    assert_reads_back(new_only, after);
    assert_int_equal(get_status(new_only, before), OBOL_NOT_FOUND);
    /* Key 2 of the old secret is another key than key 2 of the new one. */
    assert_int_equal(get_status(old_secret_key_two, after), OBOL_NOT_FOUND);
    obol_store_close(old);
    obol_store_close(replaced);
    obol_store_close(by_env);
    obol_store_close(new_only);
    obol_store_close(old_secret_key_two);
    obol_session_free(before);
    obol_session_free(after);
    free(path);
}

static void retired_key_id_is_refused_with_one_event_per_read(void **state)
{
    fixture *f = *state;
    obol_store *old = open_keyed(f, OLD_KEY);
    obol_store *retired = open_keyed(f, RETIRED);
    obol_store *rotated = open_keyed(f, ROTATED);
    obol_session *s = stored_in(f, old, "alice", DAY);
    obol_session *got = NULL, **all = NULL;
    events seen = { { 0 }, 0 }, kept = { { 0 }, 0 };
    size_t count = 1;
    obol_error err;

    obol_store_set_event_hook(retired, count_event, &seen);
    obol_store_set_event_hook(rotated, count_event, &kept);
    f->warnings = 0;
    assert_int_equal(obol_get(retired, s->id, "alice", NULL, &got, &err),
                     OBOL_NOT_FOUND);
    assert_null(got);
    assert_non_null(strstr(err.message, "unknown key id 1"));
    assert_int_equal(seen.count[OBOL_EVENT_UNKNOWN_KEY], 1);
    assert_int_equal(seen.last_key_id, 1);
    assert_int_equal(all_events(&seen), 1);
    assert_int_equal(f->warnings, 1);
    assert_int_equal(get_status(retired, s), OBOL_NOT_FOUND);
    assert_int_equal(seen.count[OBOL_EVENT_UNKNOWN_KEY], 2);
    assert_int_equal(obol_get_all(retired, "alice", NULL, &all, &count, &err),
                     OBOL_OK);
    assert_int_equal(count, 0);
    obol_sessions_free(all, count);
    assert_int_equal(seen.count[OBOL_EVENT_UNKNOWN_KEY], 3);
    assert_int_equal(all_events(&seen), 3);
    /* Listed again, the key verifies, and nothing is reported. */
    assert_reads_back(rotated, s);
    assert_int_equal(all_events(&kept), 0);
    obol_store_close(old);
    obol_store_close(retired);
    obol_store_close(rotated);
    obol_session_free(s);
}

/* -------------------------------------------------------------- rekey */

typedef struct progress_seen {
    int calls;
    obol_migrate_stats last;
} progress_seen;

static void note_progress(void *arg, const obol_migrate_stats *so_far)
{
    progress_seen *p = arg;

    p->calls++;
    p->last = *so_far;
}

static void rekey_rewrites_old_records_and_leaves_current_ones_alone(void **state)
{
    fixture *f = *state;
    obol_store *old = open_keyed(f, OLD_KEY);
    obol_store *rotated = open_keyed(f, ROTATED);
    obol_store *retired = open_keyed(f, RETIRED);
    obol_session *olds[3], *currents[2], *dying;
    uint8_t *current_bytes[2];
    size_t current_lens[2];
    progress_seen progress = { 0, { 0 } };
    obol_rekey_stats stats;
    obol_error err;

    for (int i = 0; i < 3; i++)
        olds[i] = stored_in(f, old, "old", DAY);
    dying = stored_in(f, old, "dying", 60);
    for (int i = 0; i < 2; i++) {
        currents[i] = stored_in(f, rotated, "current", DAY);
        current_bytes[i] = stored_bytes(f, currents[i], &current_lens[i]);
    }
    f->now += 61;
    assert_int_equal(obol_rekey(rotated, note_progress, &progress, &stats, &err),
                     OBOL_OK);
    assert_int_equal(stats.total, 6);
    assert_int_equal(stats.seen, 6);
    assert_int_equal(stats.rewritten, 3);
    assert_int_equal(stats.current, 2);
    assert_int_equal(stats.expired, 1);
    assert_int_equal(stats.conflicts, 0);
    assert_int_equal(stats.rejected, 0);
    assert_true(progress.calls >= 1);
    assert_int_equal(progress.last.seen, 6);
    assert_int_equal(progress.last.total, 6);
    assert_int_equal(progress.last.copied, 3);
    assert_int_equal(progress.last.skipped, 3);
    /* Rewritten: on key 2, every field and the lock version as they were,
     * so that key 1 can be retired. */
    for (int i = 0; i < 3; i++) {
        assert_sealed_with(f, olds[i], 2, 1);
        assert_reads_back(retired, olds[i]);
        assert_int_equal(olds[i]->lock_version, 1);
    }
    /* Current: not touched, byte for byte. */
    for (int i = 0; i < 2; i++) {
        size_t len;
        uint8_t *now_bytes = stored_bytes(f, currents[i], &len);

        assert_int_equal(len, current_lens[i]);
        assert_memory_equal(now_bytes, current_bytes[i], len);
        free(now_bytes);
        free(current_bytes[i]);
    }
    /* Run again, it finds nothing left to do. */
    stats = rekey_ok(rotated);
    assert_int_equal(stats.rewritten, 0);
    assert_int_equal(stats.current, 5);
    obol_store_close(old);
    obol_store_close(rotated);
    obol_store_close(retired);
    for (int i = 0; i < 3; i++)
        obol_session_free(olds[i]);
    for (int i = 0; i < 2; i++)
        obol_session_free(currents[i]);
    obol_session_free(dying);
}

static void rekey_leaves_records_of_a_retired_key_and_reports_each_once(void **state)
{
    fixture *f = *state;
    obol_store *old = open_keyed(f, OLD_KEY);
    obol_store *retired = open_keyed(f, RETIRED);
    obol_store *rotated = open_keyed(f, ROTATED);
    obol_session *a = stored_in(f, old, "alice", DAY);
    obol_session *b = stored_in(f, old, "bob", DAY);
    events seen = { { 0 }, 0 };
    obol_rekey_stats stats;

    obol_store_set_event_hook(retired, count_event, &seen);
    stats = rekey_ok(retired);
    assert_int_equal(stats.seen, 2);
    assert_int_equal(stats.rejected, 2);
    assert_int_equal(stats.rewritten, 0);
    assert_int_equal(seen.count[OBOL_EVENT_UNKNOWN_KEY], 2);
    assert_int_equal(all_events(&seen), 2);
    /* Left as they were: listing key 1 again reads them. */
    assert_reads_back(rotated, a);
    assert_reads_back(rotated, b);
    obol_store_close(old);
    obol_store_close(retired);
    obol_store_close(rotated);
    obol_session_free(a);
    obol_session_free(b);
}

static void rekey_seals_unsigned_records_when_they_are_allowed(void **state)
{
    fixture *f = *state;
    obol_session *s = put_unsigned(f, "legacy");
    obol_store *lenient = open_keyed(f, RETIRED "&allow_unsigned=1");
    obol_store *strict = open_keyed(f, RETIRED);
    events seen = { { 0 }, 0 };
    obol_rekey_stats stats;

    assert_int_equal(get_status(strict, s), OBOL_NOT_FOUND);
    obol_store_set_event_hook(lenient, count_event, &seen);
    stats = rekey_ok(lenient);
    assert_int_equal(stats.rewritten, 1);
    assert_int_equal(seen.count[OBOL_EVENT_UNSIGNED_READ], 1);
    assert_int_equal(all_events(&seen), 1);
    assert_sealed_with(f, s, 2, 1);
    assert_reads_back(strict, s);
    obol_store_close(lenient);
    obol_store_close(strict);
    obol_session_free(s);
}

static void rekey_moves_records_to_the_seal_mode_of_the_store(void **state)
{
    fixture *f = *state;
    obol_store *mac = open_keyed(f, ROTATED);
    obol_store *aead = open_keyed(f, ROTATED "&seal=aead");
    obol_session *s = stored_in(f, mac, "alice", DAY);
    obol_rekey_stats stats;

    stats = rekey_ok(aead);
    assert_int_equal(stats.rewritten, 1);
    assert_sealed_with(f, s, 2, 2);
    assert_reads_back(mac, s);
    stats = rekey_ok(aead);
    assert_int_equal(stats.current, 1);
    assert_int_equal(stats.rewritten, 0);
    obol_store_close(mac);
    obol_store_close(aead);
    obol_session_free(s);
}

static void rekey_without_a_signing_key_is_a_key_error(void **state)
{
    fixture *f = *state;
    obol_store *bare = suite_open_store(f, f->url, 0);
    obol_rekey_stats stats;
    obol_error err;

    assert_int_equal(obol_rekey(bare, NULL, NULL, &stats, &err), OBOL_ERR_KEY);
    assert_non_null(strstr(err.message, "signing key"));
    assert_int_equal(stats.seen, 0);
    assert_int_equal(obol_rekey(NULL, NULL, NULL, NULL, &err), OBOL_ERR_INVALID);
    obol_store_close(bare);
}

/* ---------------------------------------------- rekey against refreshes */

static void refresh_read_before_a_rekey_goes_through_after_it(void **state)
{
    fixture *f = *state;
    obol_store *old = open_keyed(f, OLD_KEY);
    obol_store *rotated = open_keyed(f, ROTATED);
    obol_session *s = stored_in(f, old, "alice", DAY);
    obol_session *read = NULL;
    obol_rekey_stats stats;

    assert_int_equal(obol_get(rotated, s->id, "alice", NULL, &read, NULL), OBOL_OK);
    stats = rekey_ok(rotated);
    assert_int_equal(stats.rewritten, 1);
    /* The rekey kept lock version 1: the refresh that read it still wins. */
    assert_int_equal(obol_session_refresh(read, f->now, DAY), OBOL_OK);
    assert_int_equal(obol_upsert(rotated, read, NULL), OBOL_OK);
    assert_int_equal(read->lock_version, 2);
    assert_reads_back(rotated, read);
    obol_store_close(old);
    obol_store_close(rotated);
    obol_session_free(s);
    obol_session_free(read);
}

/* Another writer that acts on a session between the rekey's read of it
 * and the rekey's write: the hook of the rekeying store fires when it reads
 * an unsigned record (OBOL_EVENT_UNSIGNED_READ), inside its walk. */
typedef struct interloper {
    obol_store *other;        /* a second handle on the same store */
    const obol_session *target;
    int delete_it;
    int acted;
    obol_session *refreshed;  /* what the refresh wrote */
} interloper;

static void interlope(void *arg, const obol_event *event)
{
    interloper *in = arg;
    obol_session *s = NULL;

    if (in->acted || event->kind != OBOL_EVENT_UNSIGNED_READ)
        return;
    in->acted = 1;
    if (in->delete_it) {
        assert_int_equal(obol_delete(in->other, in->target->id,
                                     in->target->user_id, NULL, NULL), OBOL_OK);
        return;
    }
    assert_int_equal(obol_get(in->other, in->target->id, in->target->user_id,
                              NULL, &s, NULL), OBOL_OK);
    assert_int_equal(obol_session_refresh(s, obol_store_now(in->other), DAY),
                     OBOL_OK);
    assert_int_equal(obol_upsert(in->other, s, NULL), OBOL_OK);
    in->refreshed = s;
}

static void run_interloped_rekey(fixture *f, interloper *in)
{
    obol_store *rekeying = open_keyed(f, RETIRED "&allow_unsigned=1");
    obol_rekey_stats stats;

    in->other = open_keyed(f, RETIRED "&allow_unsigned=1");
    obol_store_set_event_hook(rekeying, interlope, in);
    stats = rekey_ok(rekeying);
    assert_int_equal(in->acted, 1);
    assert_int_equal(stats.conflicts, 1);
    assert_int_equal(stats.rewritten, 0);
    obol_store_close(rekeying);
    obol_store_close(in->other);
}

static void refresh_that_wins_the_race_is_kept_and_the_rekey_skips_it(void **state)
{
    fixture *f = *state;
    obol_session *s = put_unsigned(f, "alice");
    interloper in = { NULL, s, 0, 0, NULL };
    obol_store *strict = open_keyed(f, RETIRED);

    run_interloped_rekey(f, &in);
    assert_non_null(in.refreshed);
    assert_int_equal(in.refreshed->lock_version, 2);
    assert_reads_back(strict, in.refreshed);
    obol_store_close(strict);
    obol_session_free(in.refreshed);
    obol_session_free(s);
}

static void session_deleted_during_a_rekey_stays_deleted(void **state)
{
    fixture *f = *state;
    obol_session *s = put_unsigned(f, "alice");
    interloper in = { NULL, s, 1, 0, NULL };
    obol_driver_key key = key_of(s);
    uint8_t *bytes = NULL;
    size_t len = 0;
    obol_error err;

    run_interloped_rekey(f, &in);
    assert_int_equal(f->st->driver->get(f->st->handle, &key, &bytes, &len, &err),
                     OBOL_NOT_FOUND);
    free(bytes);
    obol_session_free(s);
}

enum { RACED_SESSIONS = 300, REFRESHERS = 4, WARM_UP_REFRESHES = 20 };

typedef struct refresh_race {
    fixture *f;
    obol_store *st;
    obol_session *sessions[RACED_SESSIONS];
    uint64_t wins[RACED_SESSIONS];   /* refreshes that returned OK (atomic) */
    int refreshes;                   /* all of them (atomic) */
    int stop;                        /* atomic */
    int failures;                    /* atomic */
} refresh_race;

typedef struct refresher {
    refresh_race *race;
    uint32_t seed;
} refresher;

static uint64_t payload_counter(const obol_session *s)
{
    uint64_t n = 0;

    if (s->extra_payload_len == sizeof n)
        memcpy(&n, s->extra_payload, sizeof n);
    return n;
}

/* One refresh of a session picked at random: read, count, rotate, write
 * under the lock. */
static int refresh_one(refresh_race *race, uint32_t *seed)
{
    size_t i;
    const obol_session *which;
    obol_session *s = NULL;
    uint64_t n;
    int status;

    *seed = *seed * 1103515245u + 12345u;
    i = (*seed >> 8) % RACED_SESSIONS;
    which = race->sessions[i];
    status = obol_get(race->st, which->id, which->user_id, NULL, &s, NULL);
    if (status != OBOL_OK)
        return status;
    n = payload_counter(s) + 1;
    status = obol_session_set_payload(s, &n, sizeof n);
    if (status == OBOL_OK)
        status = obol_session_refresh(s, race->f->now, DAY);
    if (status == OBOL_OK)
        status = obol_upsert(race->st, s, NULL);
    if (status == OBOL_OK) {
        __atomic_add_fetch(&race->wins[i], 1, __ATOMIC_RELAXED);
        __atomic_add_fetch(&race->refreshes, 1, __ATOMIC_RELEASE);
    }
    obol_session_free(s);
    return status == OBOL_CONFLICT ? OBOL_OK : status;
}

static void *refresh_until_stopped(void *arg)
{
    refresher *r = arg;

    while (!__atomic_load_n(&r->race->stop, __ATOMIC_ACQUIRE))
        if (refresh_one(r->race, &r->seed) != OBOL_OK) {
            __atomic_add_fetch(&r->race->failures, 1, __ATOMIC_RELAXED);
            break;
        }
    return NULL;
}

static void start_refreshers(refresh_race *race, pthread_t *threads,
                             refresher *refreshers)
{
    for (int i = 0; i < REFRESHERS; i++) {
        refreshers[i] = (refresher){ race, (uint32_t)(i * 7919 + 1) };
        assert_int_equal(pthread_create(&threads[i], NULL, refresh_until_stopped,
                                        &refreshers[i]), 0);
    }
    /* The rekey starts once the refreshes are well under way. */
    while (__atomic_load_n(&race->refreshes, __ATOMIC_ACQUIRE) < WARM_UP_REFRESHES &&
           __atomic_load_n(&race->failures, __ATOMIC_RELAXED) == 0)
        sched_yield();
}

/* Every refresh that returned OK is in the store: the counter each one
 * incremented, and one lock version per refresh. */
static void assert_no_refresh_lost(refresh_race *race, obol_store *reader)
{
    for (size_t i = 0; i < RACED_SESSIONS; i++) {
        obol_session *s = NULL;
        obol_error err;

        if (obol_get(reader, race->sessions[i]->id,
                     race->sessions[i]->user_id, NULL, &s, &err) != OBOL_OK)
            fail_msg("session %zu: %s", i, err.message);
        assert_int_equal(payload_counter(s), race->wins[i]);
        assert_true(s->lock_version == race->wins[i] + 1);
        obol_session_free(s);
    }
}

static void rekey_under_concurrent_refreshes_loses_no_refresh(void **state)
{
    fixture *f = *state;
    obol_store *old = open_keyed(f, OLD_KEY);
    obol_store *rotated = open_keyed(f, ROTATED);
    obol_store *retired = open_keyed(f, RETIRED);
    refresh_race *race = calloc(1, sizeof *race);
    pthread_t threads[REFRESHERS];
    refresher refreshers[REFRESHERS];
    obol_rekey_stats stats;
    obol_error err;
    int status;

    assert_non_null(race);
    race->f = f;
    race->st = rotated;
    for (size_t i = 0; i < RACED_SESSIONS; i++) {
        char uid[32];

        snprintf(uid, sizeof uid, "racer-%03zu", i);
        race->sessions[i] = stored_in(f, old, uid, DAY);
    }
    start_refreshers(race, threads, refreshers);
    status = obol_rekey(rotated, NULL, NULL, &stats, &err);
    __atomic_store_n(&race->stop, 1, __ATOMIC_RELEASE);
    for (int i = 0; i < REFRESHERS; i++)
        pthread_join(threads[i], NULL);
    if (status != OBOL_OK)
        fail_msg("rekey: %s", err.message);
    assert_int_equal(race->failures, 0);
    print_message("# rekey raced %d refreshes: %llu rewritten, %llu current, "
                  "%llu conflicts\n", race->refreshes,
                  (unsigned long long)stats.rewritten,
                  (unsigned long long)stats.current,
                  (unsigned long long)stats.conflicts);
    assert_true(stats.seen >= RACED_SESSIONS);
    assert_int_equal(stats.rewritten + stats.current + stats.conflicts,
                     stats.seen);
    assert_int_equal(stats.rejected, 0);
    assert_no_refresh_lost(race, rotated);
    /* Rewritten by the rekey or by a refresh of the rotated store: every
     * session is on key 2, and key 1 can go. */
    assert_no_refresh_lost(race, retired);
    for (size_t i = 0; i < RACED_SESSIONS; i++)
        obol_session_free(race->sessions[i]);
    free(race);
    obol_store_close(old);
    obol_store_close(rotated);
    obol_store_close(retired);
}

/* -------------------------------------------------------------- census */

static const obol_key_count *census_entry(const obol_key_census *c,
                                          uint32_t key_id)
{
    for (size_t i = 0; i < c->key_count; i++)
        if (c->keys[i].key_id == key_id)
            return &c->keys[i];
    fail_msg("key id %u is not in the census", key_id);
    return NULL;
}

static void count_keys_tells_what_each_key_id_holds(void **state)
{
    fixture *f = *state;
    obol_store *old = open_keyed(f, OLD_KEY);
    obol_store *rotated = open_keyed(f, OLD_KEY "&key_id=2&old_key_ids=1,3");
    obol_store *other = open_keyed(f, OLD_KEY "&key_id=7");
    obol_session *made[7];
    events seen = { { 0 }, 0 };
    obol_key_census census;
    obol_error err;
    uint8_t *bytes;
    size_t len;

    made[0] = stored_in(f, old, "a", DAY);
    made[1] = stored_in(f, old, "b", DAY);
    made[2] = stored_in(f, rotated, "c", DAY);
    made[3] = stored_in(f, rotated, "d", DAY);
    made[4] = stored_in(f, rotated, "dying", 60);
    made[5] = stored_in(f, other, "e", DAY);
    made[6] = put_unsigned(f, "legacy");
    /* d's record altered in the backend: key 2 named, seal broken. */
    bytes = stored_bytes(f, made[3], &len);
    bytes[len - 1] ^= 1;
    put_raw(f, made[3], bytes, len, made[3]->lock_version);
    free(bytes);
    f->now += 61;
    obol_store_set_event_hook(rotated, count_event, &seen);
    f->warnings = 0;

    assert_int_equal(obol_count_keys(rotated, &census, &err), OBOL_OK);
    assert_int_equal(census.records, 7);
    assert_int_equal(census.expired, 1);
    assert_int_equal(census.unsigned_records, 1);
    assert_int_equal(census.bad_seals, 1);
    assert_int_equal(census.unreadable, 0);
    assert_int_equal(census.key_count, 4);
    for (size_t i = 1; i < census.key_count; i++)
        assert_true(census.keys[i - 1].key_id < census.keys[i].key_id);
    assert_int_equal(census_entry(&census, 1)->records, 2);
    assert_int_equal(census_entry(&census, 1)->role, OBOL_KEY_ROLE_OLD);
    assert_int_equal(census_entry(&census, 2)->records, 1);
    assert_int_equal(census_entry(&census, 2)->role, OBOL_KEY_ROLE_SIGNING);
    assert_int_equal(census_entry(&census, 3)->records, 0);
    assert_int_equal(census_entry(&census, 3)->role, OBOL_KEY_ROLE_OLD);
    assert_int_equal(census_entry(&census, 7)->records, 1);
    assert_int_equal(census_entry(&census, 7)->role, OBOL_KEY_ROLE_UNKNOWN);
    /* A census reads no session: nothing is reported. */
    assert_int_equal(all_events(&seen), 0);
    assert_int_equal(f->warnings, 0);
    obol_key_census_clear(&census);
    assert_null(census.keys);
    assert_int_equal(census.key_count, 0);
    obol_key_census_clear(NULL);
    assert_int_equal(obol_count_keys(NULL, &census, &err), OBOL_ERR_INVALID);
    obol_store_close(old);
    obol_store_close(rotated);
    obol_store_close(other);
    for (int i = 0; i < 7; i++)
        obol_session_free(made[i]);
}

/* --------------------------------------------------------------- table */

#define KEYS_TEST(name) cmocka_unit_test_setup_teardown(name, setup_keys, suite_teardown)

const struct CMUnitTest keys_suite_tests[] = {
    KEYS_TEST(old_key_ids_keep_old_records_readable_while_the_new_key_signs),
    KEYS_TEST(old_secrets_keep_records_of_a_replaced_secret_readable),
    KEYS_TEST(retired_key_id_is_refused_with_one_event_per_read),
    KEYS_TEST(rekey_rewrites_old_records_and_leaves_current_ones_alone),
    KEYS_TEST(rekey_leaves_records_of_a_retired_key_and_reports_each_once),
    KEYS_TEST(rekey_seals_unsigned_records_when_they_are_allowed),
    KEYS_TEST(rekey_moves_records_to_the_seal_mode_of_the_store),
    KEYS_TEST(rekey_without_a_signing_key_is_a_key_error),
    KEYS_TEST(refresh_read_before_a_rekey_goes_through_after_it),
    KEYS_TEST(refresh_that_wins_the_race_is_kept_and_the_rekey_skips_it),
    KEYS_TEST(session_deleted_during_a_rekey_stays_deleted),
    KEYS_TEST(rekey_under_concurrent_refreshes_loses_no_refresh),
    KEYS_TEST(count_keys_tells_what_each_key_id_holds),
};

const size_t keys_suite_test_count = sizeof keys_suite_tests / sizeof keys_suite_tests[0];

/*
 * obol_store_stats() on every driver, run with the store suite: each call
 * counted once under its operation with its outcome, a histogram that adds
 * up to the calls, records refused counted by the reason they were
 * refused (planted through the driver as a backend writer would), and
 * counts that stay exact under racing threads.
 */
#include "config.h"

#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include <obol/driver.h>
#include <obol/obol.h>

#include "codec_internal.h"
#include "loader_internal.h"
#include "seal_internal.h"
#include "store_internal.h"
#include "suite_fixture.h"
#include "suite_stats.h"

/* ------------------------------------------------------------ helpers */

/* A snapshot of st (free it). */
static obol_stats *take(obol_store *st)
{
    obol_stats *s = malloc(sizeof *s);
    obol_error err;

    assert_non_null(s);
    if (obol_store_stats(st, s, sizeof *s, &err) != OBOL_OK)
        fail_msg("obol_store_stats: %s", err.message);
    assert_int_equal(s->struct_size, sizeof *s);
    return s;
}

/* What op's counters grew by between two snapshots. */
static obol_op_stats grown(const obol_stats *before, const obol_stats *after,
                           int op)
{
    const obol_op_stats *a = &before->ops[op], *b = &after->ops[op];
    obol_op_stats d;

    d.calls = b->calls - a->calls;
    for (int i = 0; i < OBOL_STATS_OUTCOMES; i++)
        d.outcomes[i] = b->outcomes[i] - a->outcomes[i];
    for (int i = 0; i < OBOL_STATS_ERRORS; i++)
        d.errors[i] = b->errors[i] - a->errors[i];
    d.other = b->other - a->other;
    for (int k = 0; k < OBOL_STATS_BUCKETS; k++)
        d.latency[k] = b->latency[k] - a->latency[k];
    d.latency_ns = b->latency_ns - a->latency_ns;
    d.timed = b->timed - a->timed;
    return d;
}

static uint64_t outcomes_and_errors(const obol_op_stats *op)
{
    uint64_t n = op->other;

    for (int i = 0; i < OBOL_STATS_OUTCOMES; i++)
        n += op->outcomes[i];
    for (int i = 0; i < OBOL_STATS_ERRORS; i++)
        n += op->errors[i];
    return n;
}

static uint64_t bucket_sum(const obol_op_stats *op)
{
    uint64_t n = 0;

    for (int k = 0; k < OBOL_STATS_BUCKETS; k++)
        n += op->latency[k];
    return n;
}

/* Every operation of a snapshot adds up: the statuses to the calls, and
 * the histogram to the timed calls, a sample of them. */
static void assert_adds_up(const obol_stats *s)
{
    assert_int_equal(s->op_count, OBOL_OP_COUNT);
    for (size_t op = 0; op < s->op_count; op++) {
        assert_int_equal(bucket_sum(&s->ops[op]), s->ops[op].timed);
        assert_true(s->ops[op].timed <= s->ops[op].calls);
        assert_int_equal(outcomes_and_errors(&s->ops[op]), s->ops[op].calls);
        if (s->ops[op].timed > 0)
            assert_true(s->ops[op].latency_ns > 0);
    }
}

/* op grew by calls calls with these statuses (status, count pairs, ended
 * by a count of 0) and, for the rest, statuses of the application's own
 * (other). */
static void assert_grew(const obol_stats *before, const obol_stats *after,
                        int op, uint64_t calls, ...)
{
    obol_op_stats d = grown(before, after, op);
    uint64_t accounted = 0;
    va_list ap;

    if (d.calls != calls)
        fail_msg("%s: %llu calls, expected %llu", obol_op_name(op),
                 (unsigned long long)d.calls, (unsigned long long)calls);
    va_start(ap, calls);
    for (;;) {
        int status = va_arg(ap, int);
        uint64_t n = va_arg(ap, uint64_t);
        uint64_t seen;

        if (n == 0)
            break;
        seen = status >= 0 ? d.outcomes[status]
                           : d.errors[OBOL_STATS_ERROR_INDEX(status)];
        if (seen != n)
            fail_msg("%s: %llu of status %s, expected %llu",
                     obol_op_name(op), (unsigned long long)seen,
                     obol_status_name(status), (unsigned long long)n);
        accounted += n;
    }
    va_end(ap);
    assert_int_equal(accounted + d.other, calls);
    assert_int_equal(bucket_sum(&d), d.timed);
    assert_true(d.timed <= calls);
}

static void assert_untouched(const obol_stats *before, const obol_stats *after,
                             int op)
{
    assert_grew(before, after, op, 0, OBOL_OK, (uint64_t)0);
}

static obol_driver_key key_of(const char *uid, const char *type,
                              const char *sid)
{
    obol_driver_key key = { { (const uint8_t *)uid, strlen(uid) },
                            { (const uint8_t *)type, strlen(type) },
                            { (const uint8_t *)sid, strlen(sid) } };
    return key;
}

/* Stores bytes under key as the backend writer would. */
static void plant(fixture *f, const obol_driver_key *key, const uint8_t *bytes,
                  size_t len)
{
    obol_driver_record rec = { *key, { bytes, len }, f->now + DAY, 1 };
    obol_error err;

    f->st->driver->del(f->st->handle, key, &err);
    if (f->st->driver->put(f->st->handle, &rec, 0, f->now, &err) != OBOL_OK)
        fail_msg("driver put: %s", err.message);
}

static int get_status(obol_store *st, const char *sid, const char *uid)
{
    obol_session *got = NULL;
    int status = obol_get(st, sid, uid, NULL, &got, NULL);

    obol_session_free(got);
    return status;
}

/* ------------------------------------------------------------ the cases */

static void stats_count_each_call_under_its_operation_and_outcome(void **state)
{
    fixture *f = *state;
    obol_session *s = obol_session_new("alice", NULL, f->now, 7 * DAY, DAY);
    obol_session *again, **all = NULL;
    obol_stats *before, *after;
    size_t count = 0;

    assert_non_null(s);
    again = obol_session_dup(s);
    before = take(f->st);
    assert_int_equal(obol_upsert(f->st, s, NULL), OBOL_OK);
    assert_int_equal(obol_upsert(f->st, again, NULL), OBOL_CONFLICT);
    assert_int_equal(get_status(f->st, s->id, "alice"), OBOL_OK);
    assert_int_equal(get_status(f->st, "missing", "alice"), OBOL_NOT_FOUND);
    assert_int_equal(get_status(f->st, s->id, NULL), OBOL_ERR_INVALID);
    assert_int_equal(obol_get_all(f->st, "alice", NULL, &all, &count, NULL),
                     OBOL_OK);
    obol_sessions_free(all, count);
    assert_int_equal(obol_delete(f->st, s->id, "alice", NULL, NULL), OBOL_OK);
    assert_int_equal(obol_delete_all(f->st, "alice", NULL, NULL), OBOL_OK);
    assert_int_equal(obol_prune(f->st, NULL), OBOL_OK);
    after = take(f->st);

    assert_grew(before, after, OBOL_OP_UPSERT, 2, OBOL_OK, (uint64_t)1,
                OBOL_CONFLICT, (uint64_t)1, 0, (uint64_t)0);
    assert_grew(before, after, OBOL_OP_GET, 3, OBOL_OK, (uint64_t)1,
                OBOL_NOT_FOUND, (uint64_t)1, OBOL_ERR_INVALID, (uint64_t)1,
                0, (uint64_t)0);
    assert_grew(before, after, OBOL_OP_GET_ALL, 1, OBOL_OK, (uint64_t)1, 0,
                (uint64_t)0);
    assert_grew(before, after, OBOL_OP_DELETE, 1, OBOL_OK, (uint64_t)1, 0,
                (uint64_t)0);
    assert_grew(before, after, OBOL_OP_DELETE_ALL, 1, OBOL_OK, (uint64_t)1,
                0, (uint64_t)0);
    assert_grew(before, after, OBOL_OP_PRUNE, 1, OBOL_OK, (uint64_t)1, 0,
                (uint64_t)0);
    for (int op = OBOL_OP_REFRESH; op < OBOL_OP_COUNT; op++)
        assert_untouched(before, after, op);
    assert_int_equal(after->conflicts - before->conflicts, 1);
    assert_true(after->enabled);
    assert_adds_up(after);
    free(before);
    free(after);
    obol_session_free(again);
    obol_session_free(s);
}

static int see_nothing(void *arg, const obol_session *s)
{
    (void)arg, (void)s;
    return OBOL_OK;
}

/* A positive status of the application's own stops the walk, and
 * obol_scan() passes it on: it is counted apart from the library's. */
static int stop_at_once(void *arg, const obol_session *s)
{
    (void)arg, (void)s;
    return 1000;
}

static void stats_count_whole_store_operations(void **state)
{
    fixture *f = *state;
    obol_session *s = obol_session_new("alice", NULL, f->now, 7 * DAY, DAY);
    obol_store *dst, *typed;
    obol_stats *before, *after, *dst_after, *typed_after;
    obol_key_census census;
    fixture other = *f;
    char url[1200];

    assert_non_null(s);
    assert_int_equal(obol_upsert(f->st, s, NULL), OBOL_OK);
    suite_make_url(&other, NULL);
    dst = suite_open_store(f, other.url, 1);
    snprintf(url, sizeof url, "%s&types=oauth2", f->url);
    typed = suite_open_store(f, url, 1);
    before = take(f->st);
    assert_int_equal(obol_scan(f->st, see_nothing, NULL, NULL, NULL), OBOL_OK);
    assert_int_equal(obol_scan(f->st, stop_at_once, NULL, NULL, NULL), 1000);
    assert_int_equal(obol_restore(f->st, s, NULL), OBOL_OK);
    assert_int_equal(obol_migrate(f->st, dst, NULL, NULL, NULL, NULL), OBOL_OK);
    assert_int_equal(obol_rekey(f->st, NULL, NULL, NULL, NULL), OBOL_OK);
    assert_int_equal(obol_count_keys(f->st, &census, NULL), OBOL_OK);
    obol_key_census_clear(&census);
    assert_int_equal(obol_restore_check(f->st, s, NULL), OBOL_OK);
    assert_int_equal(obol_delete_everywhere(typed, "alice", NULL), OBOL_OK);
    after = take(f->st);
    dst_after = take(dst);
    typed_after = take(typed);

    assert_grew(before, after, OBOL_OP_SCAN, 2, OBOL_OK, (uint64_t)1, 0,
                (uint64_t)0);
    assert_int_equal(grown(before, after, OBOL_OP_SCAN).other, 1);
    assert_grew(before, after, OBOL_OP_RESTORE, 1, OBOL_OK, (uint64_t)1, 0,
                (uint64_t)0);
    assert_grew(before, after, OBOL_OP_MIGRATE, 1, OBOL_OK, (uint64_t)1, 0,
                (uint64_t)0);
    assert_int_equal(dst_after->ops[OBOL_OP_MIGRATE].calls, 1);
    assert_grew(before, after, OBOL_OP_REKEY, 1, OBOL_OK, (uint64_t)1, 0,
                (uint64_t)0);
    assert_grew(before, after, OBOL_OP_COUNT_KEYS, 1, OBOL_OK, (uint64_t)1,
                0, (uint64_t)0);
    /* Vetting a restore is no operation on the backend. */
    assert_untouched(before, after, OBOL_OP_UPSERT);
    assert_int_equal(typed_after->ops[OBOL_OP_DELETE_EVERYWHERE].calls, 1);
    assert_int_equal(
        typed_after->ops[OBOL_OP_DELETE_EVERYWHERE].outcomes[OBOL_OK], 1);
    /* Logout everywhere is one call, not a delete_all per type. */
    assert_int_equal(typed_after->ops[OBOL_OP_DELETE_ALL].calls, 0);
    assert_adds_up(after);
    free(before);
    free(after);
    free(dst_after);
    free(typed_after);
    obol_store_close(typed);
    obol_store_close(dst);
    obol_session_free(s);
}

/* The variants of an operation (counting what they removed, sampling, in
 * a mode) are that operation, counted once. */
static void stats_count_each_variant_as_its_operation(void **state)
{
    fixture *f = *state;
    obol_session *s = suite_stored_session(f, "alice", NULL);
    obol_store *dst, *typed;
    obol_stats *before, *after, *dst_after, *typed_after;
    obol_migrate_report report = { .struct_size = sizeof report };
    fixture other = *f;
    uint64_t removed;
    char url[1200];

    suite_make_url(&other, NULL);
    dst = suite_open_store(f, other.url, 1);
    snprintf(url, sizeof url, "%s&types=oauth2", f->url);
    typed = suite_open_store(f, url, 1);
    before = take(f->st);
    assert_int_equal(obol_scan_sample(f->st, 1, see_nothing, NULL, NULL, NULL),
                     OBOL_OK);
    assert_int_equal(obol_restore_mode(f->st, s, OBOL_RESTORE_ONLY_MISSING,
                                       NULL), OBOL_CONFLICT);
    assert_int_equal(obol_migrate_mode(f->st, dst, OBOL_RESTORE_ONLY_NEWER,
                                       NULL, NULL, &report, NULL), OBOL_OK);
    assert_int_equal(obol_prune_counted(f->st, &removed, NULL), OBOL_OK);
    assert_int_equal(obol_delete_counted(f->st, s->id, "alice", NULL,
                                         &removed, NULL), OBOL_OK);
    assert_int_equal(removed, 1);
    assert_int_equal(obol_delete_all_counted(f->st, "alice", NULL, &removed,
                                             NULL), OBOL_OK);
    assert_int_equal(obol_delete_everywhere_counted(typed, "alice", &removed,
                                                    NULL), OBOL_OK);
    after = take(f->st);
    dst_after = take(dst);
    typed_after = take(typed);
    assert_grew(before, after, OBOL_OP_SCAN, 1, OBOL_OK, (uint64_t)1, 0,
                (uint64_t)0);
    assert_grew(before, after, OBOL_OP_RESTORE, 1, OBOL_CONFLICT, (uint64_t)1,
                0, (uint64_t)0);
    assert_grew(before, after, OBOL_OP_MIGRATE, 1, OBOL_OK, (uint64_t)1, 0,
                (uint64_t)0);
    assert_int_equal(dst_after->ops[OBOL_OP_MIGRATE].calls, 1);
    assert_grew(before, after, OBOL_OP_PRUNE, 1, OBOL_OK, (uint64_t)1, 0,
                (uint64_t)0);
    assert_grew(before, after, OBOL_OP_DELETE, 1, OBOL_OK, (uint64_t)1, 0,
                (uint64_t)0);
    assert_grew(before, after, OBOL_OP_DELETE_ALL, 1, OBOL_OK, (uint64_t)1,
                0, (uint64_t)0);
    assert_int_equal(typed_after->ops[OBOL_OP_DELETE_EVERYWHERE].calls, 1);
    assert_int_equal(typed_after->ops[OBOL_OP_DELETE_ALL].calls, 0);
    assert_adds_up(after);
    free(before);
    free(after);
    free(dst_after);
    free(typed_after);
    obol_store_close(typed);
    obol_store_close(dst);
    obol_session_free(s);
}

/* obol_refresh() reads, writes and may delete: one refresh all the same,
 * with the protocol's outcome. */
static void stats_count_a_refresh_once_with_its_outcome(void **state)
{
    fixture *f = *state;
    obol_session *s = suite_stored_session(f, "alice", NULL);
    obol_stats *before, *after;
    char *token = NULL, *next = NULL;

    assert_int_equal(obol_token_make(f->st, s, &token, NULL), OBOL_OK);
    before = take(f->st);
    assert_int_equal(obol_refresh(f->st, token, DAY, NULL, &next, NULL),
                     OBOL_OK);
    assert_int_equal(obol_refresh(f->st, token, DAY, NULL, NULL, NULL),
                     OBOL_JUST_ROTATED);
    f->now += 60;
    assert_int_equal(obol_refresh(f->st, token, DAY, NULL, NULL, NULL),
                     OBOL_REUSE_DETECTED);
    assert_int_equal(obol_refresh(f->st, next, DAY, NULL, NULL, NULL),
                     OBOL_NOT_FOUND);
    after = take(f->st);
    assert_grew(before, after, OBOL_OP_REFRESH, 4, OBOL_OK, (uint64_t)1,
                OBOL_JUST_ROTATED, (uint64_t)1, OBOL_REUSE_DETECTED,
                (uint64_t)1, OBOL_NOT_FOUND, (uint64_t)1, 0, (uint64_t)0);
    assert_untouched(before, after, OBOL_OP_GET);
    assert_untouched(before, after, OBOL_OP_UPSERT);
    assert_untouched(before, after, OBOL_OP_DELETE);
    free(before);
    free(after);
    free(token);
    free(next);
    obol_session_free(s);
}

/* ------------------------------------------------------------ refusals */

/* The stored record of s with one byte of its MAC changed. */
static void plant_altered(fixture *f, const obol_session *s)
{
    obol_driver_key key = key_of(s->user_id, s->type, s->id);
    uint8_t *bytes = NULL;
    size_t len = 0;
    obol_error err;

    assert_int_equal(f->st->driver->get(f->st->handle, &key, &bytes, &len,
                                        &err), OBOL_OK);
    bytes[10] ^= 0x01;
    plant(f, &key, bytes, len);
    free(bytes);
}

/* s encoded without a seal, as an unsigned deployment wrote it, filed
 * under the session sid of uid. */
static void plant_unsigned(fixture *f, const obol_session *s, const char *uid,
                           const char *sid)
{
    obol_driver_key key = key_of(uid, s->type, sid);
    obol_session copy = *s;
    uint8_t buf[1024];
    size_t len;

    copy.lock_version = 1;
    assert_int_equal(obol_codec_encode(&copy, buf, sizeof buf, &len), OBOL_OK);
    plant(f, &key, buf, len);
}

/* Bytes that are no session, sealed with the store's own key for where
 * they are filed: the seal verifies, the decoding fails. */
static void plant_undecodable(fixture *f, const char *uid, const char *sid)
{
    obol_driver_key key = key_of(uid, "full", sid);
    obol_seal_context ctx = { f->st->prefix, key.user_id, key.type, key.id };
    static const uint8_t junk[] = "not an encoded session";
    size_t len = obol_sealed_size(OBOL_SEAL_MAC, sizeof junk);
    uint8_t *sealed = malloc(len);
    obol_key signing;

    assert_non_null(sealed);
    assert_int_equal(obol_keyring_signing_key(f->st->keys, &signing), OBOL_OK);
    memcpy(sealed + obol_seal_payload_offset(OBOL_SEAL_MAC), junk, sizeof junk);
    obol_seal(OBOL_SEAL_MAC, &signing, &ctx, NULL, sizeof junk, sealed);
    plant(f, &key, sealed, len);
    free(sealed);
}

static void plant_oversized(fixture *f, const char *uid, const char *sid)
{
    obol_driver_key key = key_of(uid, "full", sid);
    size_t len = (size_t)f->st->config.max_record + 1;
    uint8_t *big = malloc(len);

    assert_non_null(big);
    memset(big, 0x01, len);
    plant(f, &key, big, len);
    free(big);
}

/* A session written by a store that signs with key id 9, which f's store
 * does not hold. */
static void store_under_an_unknown_key(fixture *f, const char *uid)
{
    obol_store *other = suite_open_store(f, f->url, 0);
    obol_session *s = obol_session_new(uid, NULL, f->now, 7 * DAY, DAY);

    assert_int_equal(obol_store_add_key(other, 9, suite_key_two, 1, NULL),
                     OBOL_OK);
    assert_int_equal(obol_upsert(other, s, NULL), OBOL_OK);
    obol_session_free(s);
    obol_store_close(other);
}

static uint64_t refused_grew(const obol_stats *before, const obol_stats *after,
                             int reason)
{
    return after->refused[reason] - before->refused[reason];
}

/* Each record is refused by a get for what is wrong with it, and counted
 * under that reason; a scan that meets them all again counts each again. */
static void stats_count_refused_records_by_reason(void **state)
{
    fixture *f = *state;
    obol_session *altered = suite_stored_session(f, "altered", NULL);
    obol_session *legacy = obol_session_new("legacy", NULL, f->now, DAY, DAY);
    obol_stats *before, *after;
    obol_scan_stats walked;
    const char *users[] = { "altered", "unknown", "legacy", "big", "junk" };
    const int reasons[] = { OBOL_REFUSED_BAD_SEAL, OBOL_REFUSED_UNKNOWN_KEY,
                            OBOL_REFUSED_UNSIGNED, OBOL_REFUSED_OVERSIZED,
                            OBOL_REFUSED_UNDECODABLE };
    obol_session **found = NULL;
    size_t count = 0;

    plant_altered(f, altered);
    store_under_an_unknown_key(f, "unknown");
    plant_unsigned(f, legacy, "legacy", legacy->id);
    plant_oversized(f, "big", "big-one");
    plant_undecodable(f, "junk", "junk-one");
    for (size_t i = 0; i < sizeof users / sizeof users[0]; i++) {
        before = take(f->st);
        assert_int_equal(obol_get_all(f->st, users[i], NULL, &found, &count,
                                      NULL), OBOL_OK);
        assert_int_equal(count, 0);
        obol_sessions_free(found, count);
        after = take(f->st);
        for (int r = 0; r < OBOL_REFUSED_COUNT; r++)
            if (refused_grew(before, after, r) != (r == reasons[i] ? 1u : 0u))
                fail_msg("user %s: %llu refused as %s", users[i],
                         (unsigned long long)refused_grew(before, after, r),
                         obol_refusal_name(r));
        free(before);
        free(after);
    }
    assert_int_equal(get_status(f->st, altered->id, "altered"), OBOL_NOT_FOUND);
    before = take(f->st);
    assert_int_equal(obol_scan(f->st, see_nothing, NULL, &walked, NULL),
                     OBOL_OK);
    after = take(f->st);
    assert_int_equal(walked.rejected, 5);
    for (size_t i = 0; i < sizeof reasons / sizeof reasons[0]; i++)
        assert_int_equal(refused_grew(before, after, reasons[i]), 1);
    /* get_all, get, then scan. */
    assert_int_equal(after->refused[OBOL_REFUSED_BAD_SEAL], 3);
    free(before);
    free(after);
    obol_session_free(legacy);
    obol_session_free(altered);
}

/* With allow_unsigned=1 an unsigned record is read and counted as such;
 * one filed under another user's key is refused as misfiled (no seal
 * binds it to its place). */
static void stats_count_unsigned_reads_and_misfiled_records(void **state)
{
    fixture *f = *state;
    obol_session *s = obol_session_new("alice", NULL, f->now, DAY, DAY);
    obol_store *lenient;
    obol_stats *after;
    char url[1100];

    plant_unsigned(f, s, "alice", s->id);
    plant_unsigned(f, s, "mallory", s->id);
    snprintf(url, sizeof url, "%s&allow_unsigned=1", f->url);
    lenient = suite_open_store(f, url, 1);
    assert_int_equal(get_status(lenient, s->id, "alice"), OBOL_OK);
    assert_int_equal(get_status(lenient, s->id, "mallory"), OBOL_NOT_FOUND);
    after = take(lenient);
    assert_int_equal(after->unsigned_accepted, 2);
    assert_int_equal(after->refused[OBOL_REFUSED_MISFILED], 1);
    assert_int_equal(after->refused[OBOL_REFUSED_UNSIGNED], 0);
    free(after);
    obol_store_close(lenient);
    obol_session_free(s);
}

/* ------------------------------------------------------------ threads */

enum { STAT_RACERS = 4, STAT_WINS = 25 };

typedef struct stat_racer {
    fixture *f;
    const char *sid;
    uint64_t gets, wins, conflicts, failures;
} stat_racer;

static void *race_counting(void *arg)
{
    stat_racer *r = arg;

    while (r->wins < STAT_WINS && r->failures == 0) {
        obol_session *s = NULL;
        int status = obol_get(r->f->st, r->sid, "racer", NULL, &s, NULL);

        r->gets++;
        if (status == OBOL_OK)
            status = obol_upsert(r->f->st, s, NULL);
        else
            r->failures++;
        if (status == OBOL_OK)
            r->wins++;
        else if (status == OBOL_CONFLICT)
            r->conflicts++;
        else
            r->failures++;
        obol_session_free(s);
    }
    return NULL;
}

/* Threads counting at once, in stripes of their own or sharing one, lose
 * no count. */
static void stats_stay_exact_under_racing_threads(void **state)
{
    fixture *f = *state;
    obol_session *s = suite_stored_session(f, "racer", NULL);
    pthread_t threads[STAT_RACERS];
    stat_racer racers[STAT_RACERS];
    uint64_t gets = 0, wins = 0, conflicts = 0;
    obol_stats *before = take(f->st), *after;

    for (int i = 0; i < STAT_RACERS; i++) {
        racers[i] = (stat_racer){ f, s->id, 0, 0, 0, 0 };
        assert_int_equal(pthread_create(&threads[i], NULL, race_counting,
                                        &racers[i]), 0);
    }
    for (int i = 0; i < STAT_RACERS; i++) {
        assert_int_equal(pthread_join(threads[i], NULL), 0);
        assert_int_equal(racers[i].failures, 0);
        gets += racers[i].gets;
        wins += racers[i].wins;
        conflicts += racers[i].conflicts;
    }
    after = take(f->st);
    assert_grew(before, after, OBOL_OP_GET, gets, OBOL_OK, gets, 0,
                (uint64_t)0);
    assert_grew(before, after, OBOL_OP_UPSERT, wins + conflicts, OBOL_OK,
                wins, OBOL_CONFLICT, conflicts, 0, (uint64_t)0);
    assert_int_equal(after->conflicts - before->conflicts, conflicts);
    assert_adds_up(after);
    free(before);
    free(after);
    obol_session_free(s);
}

/* ------------------------------------------------------- switch, driver */

static void stats_off_counts_nothing(void **state)
{
    fixture *f = *state;
    obol_session *s = obol_session_new("alice", NULL, f->now, DAY, DAY);
    obol_store *quiet;
    obol_stats *after;
    char url[1100];

    snprintf(url, sizeof url, "%s&stats=0", f->url);
    quiet = suite_open_store(f, url, 1);
    assert_int_equal(obol_upsert(quiet, s, NULL), OBOL_OK);
    assert_int_equal(get_status(quiet, s->id, "alice"), OBOL_OK);
    assert_int_equal(get_status(quiet, "missing", "alice"), OBOL_NOT_FOUND);
    after = take(quiet);
    assert_false(after->enabled);
    assert_int_equal(after->op_count, OBOL_OP_COUNT);
    for (size_t op = 0; op < after->op_count; op++)
        assert_int_equal(after->ops[op].calls, 0);
    free(after);
    obol_store_close(quiet);
    obol_session_free(s);
}

/* A driver with the stats slot (ABI 1.4) reports counters that agree with
 * each other; one without it reports none. */
static void driver_counters_are_there_when_the_driver_keeps_them(void **state)
{
    fixture *f = *state;
    obol_stats *s;

    assert_int_equal(get_status(f->st, "missing", "alice"), OBOL_NOT_FOUND);
    s = take(f->st);
    if (!OBOL_DRIVER_HAS_SLOT(f->st->driver, stats, 4)) {
        assert_false(s->has_driver_stats);
        assert_int_equal(s->connects, 0);
        print_message("# driver %s keeps no counters\n", f->st->driver->name);
    } else {
        assert_true(s->has_driver_stats);
        assert_true(s->reconnects <= s->connects);
        assert_true(s->pool_timeouts <= s->pool_waits);
        assert_true(s->topology_refresh_failures <= s->topology_refreshes);
    }
    free(s);
}

/* ---------------------------------------------------------------- table */

#define STATS_TEST(name) \
    cmocka_unit_test_setup_teardown(name, suite_setup, suite_teardown)

const struct CMUnitTest stats_suite_tests[] = {
    STATS_TEST(stats_count_each_call_under_its_operation_and_outcome),
    STATS_TEST(stats_count_whole_store_operations),
    STATS_TEST(stats_count_each_variant_as_its_operation),
    STATS_TEST(stats_count_a_refresh_once_with_its_outcome),
    STATS_TEST(stats_count_refused_records_by_reason),
    STATS_TEST(stats_count_unsigned_reads_and_misfiled_records),
    STATS_TEST(stats_stay_exact_under_racing_threads),
    STATS_TEST(stats_off_counts_nothing),
    STATS_TEST(driver_counters_are_there_when_the_driver_keeps_them),
};

const size_t stats_suite_test_count =
    sizeof stats_suite_tests / sizeof stats_suite_tests[0];

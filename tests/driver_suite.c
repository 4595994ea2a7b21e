/*
 * Driver-level conformance cases: the contract of include/obol/driver.h,
 * exercised through the table of the driver a store loaded. These are what
 * a backend must get right for the store's guarantees to hold, whatever the
 * core does on top.
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
#include <time.h>

#include <cmocka.h>

#include <obol/driver.h>

#include "driver_suite.h"
#include "loader_internal.h"
#include "store_internal.h"
#include "suite_fixture.h"

static obol_bytes text(const char *s)
{
    obol_bytes b = { (const uint8_t *)s, strlen(s) };
    return b;
}

static obol_bytes raw(const void *data, size_t len)
{
    obol_bytes b = { data, len };
    return b;
}

static obol_driver_key key_of(obol_bytes user, obol_bytes type, obol_bytes id)
{
    obol_driver_key k = { user, type, id };
    return k;
}

static int drv_put(fixture *f, obol_driver_key key, obol_bytes sealed,
                   int64_t expires_at, uint64_t expected_lock)
{
    obol_driver_record rec = { key, sealed, expires_at, expected_lock + 1 };
    obol_error err;
    int status = f->st->driver->put(f->st->handle, &rec, expected_lock, f->now, &err);

    if (status < 0)
        print_message("# put: %s\n", err.message);
    return status;
}

/* Reads key; returns the status, and on OBOL_OK checks the bytes equal
 * want. */
/* What a driver's view() (ABI 1.7) showed. */
typedef struct shown {
    int calls;
    size_t len;
    int same;   /* the bytes were those expected */
    obol_bytes expected;
} shown;

static void compare_shown(void *arg, const uint8_t *sealed, size_t sealed_len)
{
    shown *s = arg;

    s->calls++;
    s->len = sealed_len;
    s->same = sealed_len == s->expected.len &&
              (sealed_len == 0 ||
               (sealed != NULL && s->expected.data != NULL &&
                memcmp(sealed, s->expected.data, sealed_len) == 0));
}

static int has_view(const obol_driver *d)
{
    return OBOL_DRIVER_HAS_SLOT(d, view, 7);
}

/* view() finds what get() found (status), showing want once; data NULL
 * in want checks only the length. */
static void assert_view_agrees(fixture *f, obol_driver_key key, int status,
                               obol_bytes want)
{
    const obol_driver *d = f->st->driver;
    shown seen = { .expected = want };
    obol_error err;

    if (!has_view(d))
        return;
    assert_int_equal(d->view(f->st->handle, &key, compare_shown, &seen, &err),
                     status);
    assert_int_equal(seen.calls, status == OBOL_OK ? 1 : 0);
    if (status != OBOL_OK)
        return;
    assert_int_equal(seen.len, want.len);
    if (want.data != NULL)
        assert_true(seen.same);
}

static int drv_get_equals(fixture *f, obol_driver_key key, obol_bytes want)
{
    uint8_t *bytes = NULL;
    size_t len = 0;
    obol_error err;
    int status = f->st->driver->get(f->st->handle, &key, &bytes, &len, &err);

    if (status == OBOL_OK) {
        assert_int_equal(len, want.len);
        if (len > 0)
            assert_memory_equal(bytes, want.data, len);
        free(bytes);
    }
    if (status == OBOL_OK || status == OBOL_NOT_FOUND)
        assert_view_agrees(f, key, status, want);
    return status;
}

/* Counts visited records, optionally stopping after `stop_after`. */
typedef struct tally {
    size_t seen;
    size_t stop_after;      /* 0: never stop */
    int stop_status;
    obol_bytes only_user;   /* data NULL: any user */
    size_t foreign;         /* records of another user than only_user */
} tally;

static int count_visit(void *arg, const obol_driver_record *rec)
{
    tally *t = arg;

    t->seen++;
    if (t->only_user.data != NULL &&
        (rec->key.user_id.len != t->only_user.len ||
         memcmp(rec->key.user_id.data, t->only_user.data, t->only_user.len) != 0))
        t->foreign++;
    if (t->stop_after != 0 && t->seen == t->stop_after)
        return t->stop_status;
    return OBOL_OK;
}

static size_t drv_list_count(fixture *f, obol_driver_key key)
{
    tally t = { 0 };
    obol_error err;

    t.only_user = key.user_id;
    assert_int_equal(f->st->driver->list(f->st->handle, &key, count_visit, &t, &err),
                     OBOL_OK);
    assert_int_equal(t.foreign, 0);
    return t.seen;
}

static size_t drv_scan_count(fixture *f)
{
    tally t = { 0 };
    obol_error err;

    assert_int_equal(f->st->driver->scan(f->st->handle, count_visit, &t, &err), OBOL_OK);
    return t.seen;
}

#define BYTES(literal) raw(literal, sizeof literal - 1)

/* ------------------------------------------------------ compare-and-set */

static void put_with_lock_zero_inserts_only_when_absent(void **state)
{
    fixture *f = *state;
    obol_driver_key k = key_of(text("u"), text("full"), text("s1"));

    assert_int_equal(drv_put(f, k, BYTES("one"), f->now + DAY, 0), OBOL_OK);
    assert_int_equal(drv_put(f, k, BYTES("two"), f->now + DAY, 0), OBOL_CONFLICT);
    assert_int_equal(drv_get_equals(f, k, BYTES("one")), OBOL_OK);
}

static void put_with_a_wrong_lock_conflicts_and_changes_nothing(void **state)
{
    fixture *f = *state;
    obol_driver_key k = key_of(text("u"), text("full"), text("s1"));

    assert_int_equal(drv_put(f, k, BYTES("v1"), f->now + DAY, 0), OBOL_OK);
    assert_int_equal(drv_put(f, k, BYTES("v2"), f->now + DAY, 1), OBOL_OK);
    assert_int_equal(drv_put(f, k, BYTES("stale"), f->now + DAY, 1), OBOL_CONFLICT);
    assert_int_equal(drv_put(f, k, BYTES("ahead"), f->now + DAY, 3), OBOL_CONFLICT);
    assert_int_equal(drv_get_equals(f, k, BYTES("v2")), OBOL_OK);
    assert_int_equal(drv_put(f, k, BYTES("v3"), f->now + DAY, 2), OBOL_OK);
    assert_int_equal(drv_get_equals(f, k, BYTES("v3")), OBOL_OK);
}

static void put_with_a_lock_on_a_missing_record_conflicts(void **state)
{
    fixture *f = *state;
    obol_driver_key k = key_of(text("u"), text("full"), text("never"));

    assert_int_equal(drv_put(f, k, BYTES("x"), f->now + DAY, 4), OBOL_CONFLICT);
    assert_int_equal(drv_get_equals(f, k, BYTES("x")), OBOL_NOT_FOUND);
}

static void an_expired_record_counts_as_absent(void **state)
{
    fixture *f = *state;
    obol_driver_key k = key_of(text("u"), text("full"), text("s1"));

    assert_int_equal(drv_put(f, k, BYTES("old"), f->now + 10, 0), OBOL_OK);
    f->now += 20;
    assert_int_equal(drv_put(f, k, BYTES("update"), f->now + DAY, 1), OBOL_CONFLICT);
    assert_int_equal(drv_put(f, k, BYTES("new"), f->now + DAY, 0), OBOL_OK);
    assert_int_equal(drv_get_equals(f, k, BYTES("new")), OBOL_OK);
}

/* ------------------------------------------------------ put_batch (1.1) */

/* Whether the driver offers put_batch; a driver without it is served by
 * the core's fallback, which the store suite's migrations exercise. */
static int offers_put_batch(fixture *f)
{
    if (OBOL_DRIVER_HAS_SLOT(f->st->driver, put_batch, 1))
        return 1;
    print_message("# driver %s offers no put_batch()\n", f->st->driver->name);
    return 0;
}

static int drv_put_batch(fixture *f, const obol_driver_record *records,
                         const uint64_t *expected_locks, size_t count,
                         int *statuses)
{
    obol_error err;
    int status = f->st->driver->put_batch(f->st->handle, records, expected_locks,
                                          count, f->now, statuses, &err);

    if (status < 0)
        print_message("# put_batch: %s\n", err.message);
    return status;
}

static obol_driver_record record_of(const char *id, obol_bytes sealed,
                                    int64_t expires_at, uint64_t lock_version)
{
    obol_driver_record rec = { key_of(text("u"), text("full"), text(id)), sealed,
                               expires_at, lock_version };
    return rec;
}

static void put_batch_decides_each_record_in_order(void **state)
{
    fixture *f = *state;
    int64_t later = f->now + DAY;
    obol_driver_record batch[5] = {
        record_of("new", BYTES("new"), later, 1),
        record_of("kept", BYTES("stale"), later, 6),
        record_of("updated", BYTES("u2"), later, 2),
        record_of("other", BYTES("other"), later, 1),
        record_of("new", BYTES("again"), later, 1),
    };
    const uint64_t expected[5] = { 0, 5, 1, 0, 0 };
    int statuses[5];

    if (!offers_put_batch(f))
        return;
    assert_int_equal(drv_put(f, batch[1].key, BYTES("v1"), later, 0), OBOL_OK);
    assert_int_equal(drv_put(f, batch[2].key, BYTES("u1"), later, 0), OBOL_OK);
    assert_int_equal(drv_put_batch(f, batch, expected, 5, statuses), OBOL_OK);
    assert_int_equal(statuses[0], OBOL_OK);
    assert_int_equal(statuses[1], OBOL_CONFLICT);   /* stale lock */
    assert_int_equal(statuses[2], OBOL_OK);
    assert_int_equal(statuses[3], OBOL_OK);
    assert_int_equal(statuses[4], OBOL_CONFLICT);   /* batch[0] wrote it */
    assert_int_equal(drv_get_equals(f, batch[0].key, BYTES("new")), OBOL_OK);
    assert_int_equal(drv_get_equals(f, batch[1].key, BYTES("v1")), OBOL_OK);
    assert_int_equal(drv_get_equals(f, batch[2].key, BYTES("u2")), OBOL_OK);
    assert_int_equal(drv_get_equals(f, batch[3].key, BYTES("other")), OBOL_OK);
    /* Each record's own lock version was stored with it. */
    assert_int_equal(drv_put(f, batch[1].key, BYTES("v2"), later, 1), OBOL_OK);
    assert_int_equal(drv_put(f, batch[2].key, BYTES("u3"), later, 2), OBOL_OK);
    assert_int_equal(drv_scan_count(f), 4);
}

static void put_batch_of_nothing_succeeds(void **state)
{
    fixture *f = *state;

    if (!offers_put_batch(f))
        return;
    assert_int_equal(drv_put_batch(f, NULL, NULL, 0, NULL), OBOL_OK);
    assert_int_equal(drv_scan_count(f), 0);
}

static void put_batch_counts_an_expired_record_as_lock_zero(void **state)
{
    fixture *f = *state;
    obol_driver_record batch[2];
    const uint64_t expected[2] = { 1, 0 };
    int statuses[2];

    if (!offers_put_batch(f))
        return;
    batch[0] = record_of("s1", BYTES("update"), f->now + 20 + DAY, 2);
    batch[1] = record_of("s1", BYTES("new"), f->now + 20 + DAY, 1);
    assert_int_equal(drv_put(f, batch[0].key, BYTES("old"), f->now + 10, 0), OBOL_OK);
    f->now += 20;
    assert_int_equal(drv_put_batch(f, batch, expected, 2, statuses), OBOL_OK);
    assert_int_equal(statuses[0], OBOL_CONFLICT);
    assert_int_equal(statuses[1], OBOL_OK);
    assert_int_equal(drv_get_equals(f, batch[1].key, BYTES("new")), OBOL_OK);
}

/* What prune() removes follows the expiry each record of a batch was
 * written with, the replaced record's old one forgotten. */
static void put_batch_keeps_expiry_in_step(void **state)
{
    fixture *f = *state;
    obol_driver_record batch[3] = {
        record_of("short", BYTES("s"), f->now + 10, 1),
        record_of("long", BYTES("l"), f->now + DAY, 1),
        record_of("extended", BYTES("e2"), f->now + DAY, 2),
    };
    const uint64_t expected[3] = { 0, 0, 1 };
    int statuses[3];
    obol_error err;

    if (!offers_put_batch(f))
        return;
    assert_int_equal(drv_put(f, batch[2].key, BYTES("e1"), f->now + 10, 0), OBOL_OK);
    assert_int_equal(drv_put_batch(f, batch, expected, 3, statuses), OBOL_OK);
    assert_true(statuses[0] == OBOL_OK && statuses[1] == OBOL_OK &&
                statuses[2] == OBOL_OK);
    assert_int_equal(f->st->driver->prune(f->st->handle, f->now + 11, &err), OBOL_OK);
    assert_int_equal(drv_get_equals(f, batch[0].key, BYTES("s")), OBOL_NOT_FOUND);
    assert_int_equal(drv_get_equals(f, batch[1].key, BYTES("l")), OBOL_OK);
    assert_int_equal(drv_get_equals(f, batch[2].key, BYTES("e2")), OBOL_OK);
    assert_int_equal(drv_scan_count(f), 2);
}

/* Records of several users and types interleaved in one batch: each
 * session's records are still decided in their order, whatever a driver
 * does to group them. */
static void put_batch_keeps_each_sessions_order_across_users(void **state)
{
    fixture *f = *state;
    int64_t later = f->now + DAY;
    obol_driver_key a = key_of(text("a"), text("full"), text("s"));
    obol_driver_key b = key_of(text("b"), text("full"), text("s"));
    obol_driver_key a2 = key_of(text("a"), text("oauth2"), text("s"));
    obol_driver_record batch[6] = {
        { a, BYTES("a1"), later, 1 },  { b, BYTES("b1"), later, 1 },
        { a2, BYTES("x1"), later, 1 }, { a, BYTES("a2"), later, 2 },
        { b, BYTES("b2"), later, 5 },  { a, BYTES("a3"), later, 3 },
    };
    const uint64_t expected[6] = { 0, 0, 0, 1, 4, 2 };
    int statuses[6];

    if (!offers_put_batch(f))
        return;
    assert_int_equal(drv_put_batch(f, batch, expected, 6, statuses), OBOL_OK);
    assert_int_equal(statuses[0], OBOL_OK);
    assert_int_equal(statuses[1], OBOL_OK);
    assert_int_equal(statuses[2], OBOL_OK);
    assert_int_equal(statuses[3], OBOL_OK);        /* after a1 */
    assert_int_equal(statuses[4], OBOL_CONFLICT);  /* b holds lock 1 */
    assert_int_equal(statuses[5], OBOL_OK);        /* after a2 */
    assert_int_equal(drv_get_equals(f, a, BYTES("a3")), OBOL_OK);
    assert_int_equal(drv_get_equals(f, b, BYTES("b1")), OBOL_OK);
    assert_int_equal(drv_get_equals(f, a2, BYTES("x1")), OBOL_OK);
    assert_int_equal(drv_put(f, a, BYTES("a4"), later, 3), OBOL_OK);
    assert_int_equal(drv_scan_count(f), 3);
}

/* ------------------------------------------------------------- bytes */

static void sealed_bytes_come_back_verbatim(void **state)
{
    fixture *f = *state;
    static const uint8_t odd[] = { 0, 0xff, 0, '\n', '}', '{', 0x80, 0 };
    obol_driver_key k = key_of(text("u"), text("full"), text("s1"));

    assert_int_equal(drv_put(f, k, raw(odd, sizeof odd), f->now + DAY, 0), OBOL_OK);
    assert_int_equal(drv_get_equals(f, k, raw(odd, sizeof odd)), OBOL_OK);
}

static void ids_holding_nul_bytes_are_distinct(void **state)
{
    fixture *f = *state;
    obol_driver_key a = key_of(BYTES("u\0a"), text("full"), BYTES("s\0"));
    obol_driver_key b = key_of(BYTES("u\0b"), text("full"), BYTES("s\0"));
    obol_driver_key c = key_of(BYTES("u\0a"), text("full"), BYTES("s\0\0"));

    assert_int_equal(drv_put(f, a, BYTES("a"), f->now + DAY, 0), OBOL_OK);
    assert_int_equal(drv_put(f, b, BYTES("b"), f->now + DAY, 0), OBOL_OK);
    assert_int_equal(drv_put(f, c, BYTES("c"), f->now + DAY, 0), OBOL_OK);
    assert_int_equal(drv_get_equals(f, a, BYTES("a")), OBOL_OK);
    assert_int_equal(drv_get_equals(f, b, BYTES("b")), OBOL_OK);
    assert_int_equal(drv_get_equals(f, c, BYTES("c")), OBOL_OK);
    assert_int_equal(drv_list_count(f, a), 2);
}

/* Ids of a hundred bytes fit every in-tree backend; far longer ones may be
 * refused, but only with OBOL_ERR_TOO_LARGE, and never half-stored. */
static void long_ids_round_trip_or_are_refused_cleanly(void **state)
{
    fixture *f = *state;
    char user[101], id[101], huge[4097];
    int status;

    memset(user, 'u', 100);
    user[100] = '\0';
    memset(id, 'i', 100);
    id[100] = '\0';
    memset(huge, 'h', 4096);
    huge[4096] = '\0';
    obol_driver_key k = key_of(text(user), text("full"), text(id));
    assert_int_equal(drv_put(f, k, BYTES("long"), f->now + DAY, 0), OBOL_OK);
    assert_int_equal(drv_get_equals(f, k, BYTES("long")), OBOL_OK);

    obol_driver_key h = key_of(text(huge), text("full"), text(huge));
    status = drv_put(f, h, BYTES("huge"), f->now + DAY, 0);
    assert_true(status == OBOL_OK || status == OBOL_ERR_TOO_LARGE);
    if (status == OBOL_OK)
        assert_int_equal(drv_get_equals(f, h, BYTES("huge")), OBOL_OK);
    else
        assert_int_equal(drv_list_count(f, h), 0);
}

/* A record with a payload at the default 64 KiB limit, sealed. */
static void records_at_the_payload_limit_round_trip(void **state)
{
    fixture *f = *state;
    size_t len = 64 * 1024 + 512;
    uint8_t *big = malloc(len);
    obol_driver_key k = key_of(text("u"), text("full"), text("big"));

    assert_non_null(big);
    for (size_t i = 0; i < len; i++)
        big[i] = (uint8_t)(i * 131);
    assert_int_equal(drv_put(f, k, raw(big, len), f->now + DAY, 0), OBOL_OK);
    assert_int_equal(drv_get_equals(f, k, raw(big, len)), OBOL_OK);
    free(big);
}

static void times_use_the_whole_signed_range(void **state)
{
    fixture *f = *state;
    obol_driver_key forever = key_of(text("u"), text("full"), text("forever"));
    obol_driver_key past = key_of(text("u"), text("full"), text("past"));

    assert_int_equal(drv_put(f, forever, BYTES("f"), INT64_MAX, 0), OBOL_OK);
    assert_int_equal(drv_put(f, past, BYTES("p"), -5, 0), OBOL_OK);
    f->now += 365 * DAY;
    assert_int_equal(drv_put(f, forever, BYTES("f2"), INT64_MAX, 1), OBOL_OK);
    assert_int_equal(drv_put(f, past, BYTES("p2"), f->now + DAY, 0), OBOL_OK);
}

/* ----------------------------------------------------- lists and scans */

static void list_visits_exactly_one_user_and_type(void **state)
{
    fixture *f = *state;
    const char *users[] = { "a", "ab", "a:b", "b" };
    const char *types[] = { "full", "full2", "ful" };

    for (size_t u = 0; u < 4; u++)
        for (size_t t = 0; t < 3; t++)
            for (int i = 0; i < 2; i++) {
                char id[8];
                snprintf(id, sizeof id, "s%d", i);
                assert_int_equal(drv_put(f, key_of(text(users[u]), text(types[t]),
                                                   text(id)),
                                         BYTES("x"), f->now + DAY, 0), OBOL_OK);
            }
    for (size_t u = 0; u < 4; u++)
        for (size_t t = 0; t < 3; t++)
            assert_int_equal(drv_list_count(f, key_of(text(users[u]), text(types[t]),
                                                      text(""))), 2);
}

static void a_visitor_can_stop_a_walk(void **state)
{
    fixture *f = *state;
    obol_driver_key k = key_of(text("u"), text("full"), text(""));
    tally t = { 0 };
    obol_error err;

    for (int i = 0; i < 5; i++) {
        char id[8];
        snprintf(id, sizeof id, "s%d", i);
        assert_int_equal(drv_put(f, key_of(text("u"), text("full"), text(id)),
                                 BYTES("x"), f->now + DAY, 0), OBOL_OK);
    }
    t.stop_after = 2;
    t.stop_status = OBOL_ERR_NOMEM;
    assert_int_equal(f->st->driver->list(f->st->handle, &k, count_visit, &t, &err),
                     OBOL_ERR_NOMEM);
    assert_int_equal(t.seen, 2);
    t.seen = 0;
    assert_int_equal(f->st->driver->scan(f->st->handle, count_visit, &t, &err),
                     OBOL_ERR_NOMEM);
    assert_int_equal(t.seen, 2);
}

static void scan_sees_its_prefix_only(void **state)
{
    fixture *f = *state;
    fixture other = { 0 };

    other.now = f->now;
    suite_make_url(&other, NULL);
    other.st = suite_open_store(&other, other.url, 1);
    assert_int_equal(drv_put(f, key_of(text("u"), text("full"), text("mine")),
                             BYTES("m"), f->now + DAY, 0), OBOL_OK);
    assert_int_equal(drv_put(&other, key_of(text("u"), text("full"), text("theirs")),
                             BYTES("t"), f->now + DAY, 0), OBOL_OK);
    assert_int_equal(drv_scan_count(f), 1);
    assert_int_equal(drv_scan_count(&other), 1);
    assert_int_equal(drv_get_equals(f, key_of(text("u"), text("full"), text("theirs")),
                                    BYTES("t")), OBOL_NOT_FOUND);
    obol_store_close(other.st);
}

static void del_all_removes_one_user_and_type(void **state)
{
    fixture *f = *state;
    obol_error err;
    obol_driver_key mine = key_of(text("u"), text("full"), text(""));

    assert_int_equal(drv_put(f, key_of(text("u"), text("full"), text("1")),
                             BYTES("x"), f->now + DAY, 0), OBOL_OK);
    assert_int_equal(drv_put(f, key_of(text("u"), text("oauth2"), text("2")),
                             BYTES("x"), f->now + DAY, 0), OBOL_OK);
    assert_int_equal(drv_put(f, key_of(text("u2"), text("full"), text("3")),
                             BYTES("x"), f->now + DAY, 0), OBOL_OK);
    assert_int_equal(f->st->driver->del_all(f->st->handle, &mine, &err), OBOL_OK);
    assert_int_equal(drv_scan_count(f), 2);
    assert_int_equal(drv_list_count(f, mine), 0);
}

static void prune_removes_only_what_expired(void **state)
{
    fixture *f = *state;
    obol_error err;

    assert_int_equal(drv_put(f, key_of(text("u"), text("full"), text("short")),
                             BYTES("x"), f->now + 10, 0), OBOL_OK);
    assert_int_equal(drv_put(f, key_of(text("u"), text("full"), text("long")),
                             BYTES("x"), f->now + DAY, 0), OBOL_OK);
    assert_int_equal(f->st->driver->prune(f->st->handle, f->now + 11, &err), OBOL_OK);
    assert_int_equal(drv_scan_count(f), 1);
    assert_int_equal(drv_get_equals(f, key_of(text("u"), text("full"), text("long")),
                                    BYTES("x")), OBOL_OK);
}

/* "Before now" is the boundary (driver.h, "Expiry"): a record whose
 * expires_at is now itself is still live, and prune() keeps it. */
static void prune_keeps_a_record_that_expires_now(void **state)
{
    fixture *f = *state;
    obol_driver_key at_now = key_of(text("u"), text("full"), text("at-now"));
    obol_driver_key before = key_of(text("u"), text("full"), text("before"));
    obol_error err;

    /* "Now" a day ahead of the wall clock, so that a backend that expires
     * records itself (Redis) cannot drop one while a slow run goes on. */
    f->now += DAY;
    assert_int_equal(drv_put(f, at_now, BYTES("n"), f->now, 0), OBOL_OK);
    assert_int_equal(drv_put(f, before, BYTES("b"), f->now - 1, 0), OBOL_OK);
    assert_int_equal(f->st->driver->prune(f->st->handle, f->now, &err), OBOL_OK);
    if (drv_get_equals(f, at_now, BYTES("n")) != OBOL_OK)
        fail_msg("prune(now) removed a record whose expires_at is now; only "
                 "expires_at < now is dead");
    assert_int_equal(drv_get_equals(f, before, BYTES("b")), OBOL_NOT_FOUND);
    assert_int_equal(drv_scan_count(f), 1);
}

/* The same boundary for compare-and-set: a record expiring now still
 * holds its lock version. */
static void a_record_that_expires_now_keeps_its_lock(void **state)
{
    fixture *f = *state;
    obol_driver_key k = key_of(text("u"), text("full"), text("s1"));

    f->now += DAY;   /* ahead of the wall clock, as above */
    assert_int_equal(drv_put(f, k, BYTES("old"), f->now, 0), OBOL_OK);
    if (drv_put(f, k, BYTES("over"), f->now + DAY, 0) != OBOL_CONFLICT)
        fail_msg("put() took a record whose expires_at is now for absent; "
                 "only expires_at < now counts as lock version 0");
    assert_int_equal(drv_put(f, k, BYTES("new"), f->now + DAY, 1), OBOL_OK);
    assert_int_equal(drv_get_equals(f, k, BYTES("new")), OBOL_OK);
}

/* While a writer adds and removes records, a list sees every record that
 * exists throughout, each with its bytes intact. */
typedef struct churn {
    fixture *f;
    int stop;
    int failures;
} churn;

static void *churn_writer(void *arg)
{
    churn *c = arg;
    obol_error err;

    for (int i = 0; !__atomic_load_n(&c->stop, __ATOMIC_ACQUIRE); i++) {
        char id[24];
        snprintf(id, sizeof id, "churn%d", i % 50);
        obol_driver_key k = key_of(text("u"), text("full"), text(id));
        if (i % 100 < 50) {
            obol_driver_record rec = { k, BYTES("churning"), c->f->now + DAY, 1 };
            if (c->f->st->driver->put(c->f->st->handle, &rec, 0, c->f->now, &err) < 0)
                c->failures++;
        } else if (c->f->st->driver->del(c->f->st->handle, &k, &err) != OBOL_OK) {
            c->failures++;
        }
    }
    return NULL;
}

typedef struct steady_tally {
    size_t steady;
    size_t damaged;
} steady_tally;

static int steady_visit(void *arg, const obol_driver_record *rec)
{
    steady_tally *t = arg;
    int steady = rec->key.id.len >= 6 && memcmp(rec->key.id.data, "steady", 6) == 0;
    obol_bytes want = steady ? BYTES("steady bytes") : BYTES("churning");

    if (rec->sealed.len != want.len || memcmp(rec->sealed.data, want.data, want.len) != 0)
        t->damaged++;
    if (steady)
        t->steady++;
    return OBOL_OK;
}

static void lists_stay_consistent_while_writing(void **state)
{
    fixture *f = *state;
    churn c = { f, 0, 0 };
    pthread_t writer;
    obol_driver_key all = key_of(text("u"), text("full"), text(""));
    obol_error err;

    for (int i = 0; i < 20; i++) {
        char id[24];
        snprintf(id, sizeof id, "steady%d", i);
        assert_int_equal(drv_put(f, key_of(text("u"), text("full"), text(id)),
                                 BYTES("steady bytes"), f->now + DAY, 0), OBOL_OK);
    }
    pthread_create(&writer, NULL, churn_writer, &c);
    for (int round = 0; round < 50; round++) {
        steady_tally t = { 0 };
        assert_int_equal(f->st->driver->list(f->st->handle, &all, steady_visit, &t, &err),
                         OBOL_OK);
        assert_int_equal(t.steady, 20);
        assert_int_equal(t.damaged, 0);
        t = (steady_tally){ 0 };
        assert_int_equal(f->st->driver->scan(f->st->handle, steady_visit, &t, &err),
                         OBOL_OK);
        assert_int_equal(t.steady, 20);
        assert_int_equal(t.damaged, 0);
    }
    __atomic_store_n(&c.stop, 1, __ATOMIC_RELEASE);
    pthread_join(writer, NULL);
    assert_int_equal(c.failures, 0);
}

/* ------------------------------------------------ calls during a walk */

/* driver.h, "Walks": a visitor may call the driver on the same handle,
 * and on a thread-safe driver other threads' calls go on while it runs. A
 * driver holding its lock across the visitor fails the first (it
 * deadlocks, and the case's time limit ends the run naming the case) or
 * the second (caught here, within WALK_WAIT_S). */
enum { WALK_WAIT_S = 2 };

typedef struct side_call {
    fixture *f;
    obol_driver_key key;    /* a record outside what list() walks */
    uint64_t lock;          /* its lock version, moved on by each put */
    size_t visits;
    int failures;
    char why[320];
} side_call;

/* One get and one compare-and-set of the side record, and a delete of a
 * record that is not there: what a rekey or a migration does from inside
 * a walk. */
static void call_back_in(side_call *c)
{
    const obol_driver *d = c->f->st->driver;
    obol_driver_key missing = key_of(text("nobody"), text("full"), text("x"));
    obol_driver_record rec = { c->key, BYTES("side"), c->f->now + DAY,
                               c->lock + 1 };
    uint8_t *bytes = NULL;
    size_t len = 0;
    obol_error err;
    int status = d->get(c->f->st->handle, &c->key, &bytes, &len, &err);

    free(bytes);
    if (status == OBOL_OK)
        status = d->put(c->f->st->handle, &rec, c->lock, c->f->now, &err);
    if (status == OBOL_OK)
        status = d->del(c->f->st->handle, &missing, &err);
    if (status == OBOL_OK) {
        c->lock++;
    } else if (c->failures++ == 0) {
        snprintf(c->why, sizeof c->why, "status %d: %s", status,
                 status < 0 ? err.message : "(conflict or not found)");
    }
}

static int visit_and_call_back(void *arg, const obol_driver_record *rec)
{
    side_call *c = arg;

    (void)rec;
    c->visits++;
    call_back_in(c);
    return OBOL_OK;
}

static void store_walked_records(fixture *f, const char *user, int count)
{
    for (int i = 0; i < count; i++) {
        char id[16];
        snprintf(id, sizeof id, "w%d", i);
        assert_int_equal(drv_put(f, key_of(text(user), text("full"), text(id)),
                                 BYTES("walked"), f->now + DAY, 0), OBOL_OK);
    }
}

static void a_visitor_may_call_back_into_the_driver(void **state)
{
    fixture *f = *state;
    obol_driver_key walked = key_of(text("u"), text("full"), text(""));
    side_call c = { f, key_of(text("side"), text("full"), text("s")), 1, 0, 0, "" };
    obol_error err;

    store_walked_records(f, "u", 3);
    assert_int_equal(drv_put(f, c.key, BYTES("side"), f->now + DAY, 0), OBOL_OK);
    /* Should this hang, list() holds a lock its own get() or put() needs. */
    assert_int_equal(f->st->driver->list(f->st->handle, &walked,
                                         visit_and_call_back, &c, &err), OBOL_OK);
    if (c.failures > 0)
        fail_msg("a call from inside list()'s visitor failed: %s", c.why);
    assert_int_equal(c.visits, 3);
    /* scan() walks the side record too: it may see it before or after a
     * put, or twice; every call from its visitor must still succeed. */
    c.visits = 0;
    assert_int_equal(f->st->driver->scan(f->st->handle, visit_and_call_back,
                                         &c, &err), OBOL_OK);
    if (c.failures > 0)
        fail_msg("a call from inside scan()'s visitor failed: %s", c.why);
    assert_true(c.visits >= 4);
    assert_int_equal(c.lock, 1 + 3 + c.visits);
    assert_int_equal(drv_get_equals(f, c.key, BYTES("side")), OBOL_OK);
}

/* Another thread's calls while a visitor waits for them. */
typedef struct waiting_visit {
    side_call call;
    pthread_mutex_t lock;
    pthread_cond_t done_cond;
    int started, done;      /* the helper thread's progress, under lock */
    int in_time;            /* it finished within WALK_WAIT_S */
    pthread_t helper;
} waiting_visit;

static void *helper_calls(void *arg)
{
    waiting_visit *w = arg;

    call_back_in(&w->call);
    pthread_mutex_lock(&w->lock);
    w->done = 1;
    pthread_cond_signal(&w->done_cond);
    pthread_mutex_unlock(&w->lock);
    return NULL;
}

/* On the first record only: starts the helper and waits for it, a while
 * at most. Returns OBOL_OK whatever happens, so that the driver's walk
 * ends normally and releases what it holds before the case looks. */
static int visit_and_wait_for_another_thread(void *arg,
                                             const obol_driver_record *rec)
{
    waiting_visit *w = arg;
    struct timespec deadline;

    (void)rec;
    if (w->started)
        return OBOL_OK;
    w->started = 1;
    if (pthread_create(&w->helper, NULL, helper_calls, w) != 0) {
        w->started = 0;
        return OBOL_ERR_NOMEM;
    }
    clock_gettime(CLOCK_MONOTONIC, &deadline);
    deadline.tv_sec += WALK_WAIT_S;
    pthread_mutex_lock(&w->lock);
    while (!w->done &&
           pthread_cond_timedwait(&w->done_cond, &w->lock, &deadline) == 0)
        ;
    w->in_time = w->done;
    pthread_mutex_unlock(&w->lock);
    return OBOL_OK;
}

/* Runs list() (key non-NULL) or scan() with a visitor that waits for
 * another thread's calls, and fails the case if they had to wait. */
static void assert_walk_lets_others_in(fixture *f, const obol_driver_key *key,
                                       const char *walk, uint64_t *side_lock)
{
    const obol_driver *d = f->st->driver;
    waiting_visit w;
    pthread_condattr_t attr;
    obol_error err;
    int status;

    memset(&w, 0, sizeof w);
    w.call = (side_call){ f, key_of(text("side"), text("full"), text("s")),
                          *side_lock, 0, 0, "" };
    pthread_mutex_init(&w.lock, NULL);
    pthread_condattr_init(&attr);
    pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
    pthread_cond_init(&w.done_cond, &attr);
    pthread_condattr_destroy(&attr);
    status = key != NULL
        ? d->list(f->st->handle, key, visit_and_wait_for_another_thread, &w, &err)
        : d->scan(f->st->handle, visit_and_wait_for_another_thread, &w, &err);
    if (w.started)
        pthread_join(w.helper, NULL);   /* it gets in once the walk is over */
    pthread_cond_destroy(&w.done_cond);
    pthread_mutex_destroy(&w.lock);
    *side_lock = w.call.lock;
    assert_int_equal(status, OBOL_OK);
    assert_true(w.started);
    if (!w.in_time)
        fail_msg("another thread's get() and put() waited over %d s for "
                 "%s()'s visitor to return: the driver holds a lock across "
                 "the visitor (driver.h, \"Walks\")", WALK_WAIT_S, walk);
    if (w.call.failures > 0)
        fail_msg("another thread's call during %s() failed: %s", walk,
                 w.call.why);
}

static void a_walk_lets_other_threads_call_in(void **state)
{
    fixture *f = *state;
    obol_driver_key walked = key_of(text("u"), text("full"), text(""));
    uint64_t side_lock = 1;

    if (!(f->st->driver->capabilities & OBOL_DRIVER_THREAD_SAFE)) {
        print_message("# driver %s is not thread-safe: the core serializes "
                      "its calls\n", f->st->driver->name);
        return;
    }
    store_walked_records(f, "u", 3);
    assert_int_equal(drv_put(f, key_of(text("side"), text("full"), text("s")),
                             BYTES("side"), f->now + DAY, 0), OBOL_OK);
    assert_walk_lets_others_in(f, &walked, "list", &side_lock);
    assert_walk_lets_others_in(f, NULL, "scan", &side_lock);
    assert_int_equal(side_lock, 3);
}

/* ------------------------------------------------------------- threads */

enum { CAS_THREADS = 8, CAS_WINS = 40 };

typedef struct cas_racer {
    fixture *f;
    int wins;
    int failures;
} cas_racer;

/* Each racer reads the current lock from the bytes (they hold it as text)
 * and tries to move it on by one. */
static void *cas_race(void *arg)
{
    cas_racer *r = arg;
    obol_driver_key k = key_of(text("racer"), text("full"), text("one"));

    while (r->wins < CAS_WINS && r->failures == 0) {
        uint8_t *bytes;
        size_t len;
        char next[24];
        obol_error err;
        unsigned long long lock;

        if (r->f->st->driver->get(r->f->st->handle, &k, &bytes, &len, &err) != OBOL_OK) {
            r->failures++;
            break;
        }
        snprintf(next, sizeof next, "%.*s", (int)len, (const char *)bytes);
        free(bytes);
        lock = strtoull(next, NULL, 10);
        snprintf(next, sizeof next, "%llu", lock + 1);
        obol_driver_record rec = { k, text(next), r->f->now + DAY, lock + 1 };
        int status = r->f->st->driver->put(r->f->st->handle, &rec, lock, r->f->now, &err);
        if (status == OBOL_OK)
            r->wins++;
        else if (status != OBOL_CONFLICT)
            r->failures++;
    }
    return NULL;
}

static void concurrent_compare_and_set_loses_nothing(void **state)
{
    fixture *f = *state;
    obol_driver_key k = key_of(text("racer"), text("full"), text("one"));
    pthread_t threads[CAS_THREADS];
    cas_racer racers[CAS_THREADS];
    char want[24];

    assert_int_equal(drv_put(f, k, BYTES("1"), f->now + DAY, 0), OBOL_OK);
    for (int i = 0; i < CAS_THREADS; i++) {
        racers[i] = (cas_racer){ f, 0, 0 };
        pthread_create(&threads[i], NULL, cas_race, &racers[i]);
    }
    for (int i = 0; i < CAS_THREADS; i++) {
        pthread_join(threads[i], NULL);
        assert_int_equal(racers[i].failures, 0);
        assert_int_equal(racers[i].wins, CAS_WINS);
    }
    snprintf(want, sizeof want, "%d", 1 + CAS_THREADS * CAS_WINS);
    assert_int_equal(drv_get_equals(f, k, text(want)), OBOL_OK);
}

/* -------------------------------------------------------- bounded reads */

/* A driver built against the ABI 1.2 header (its table reaches check)
 * knows config->max_record, and must not hand over a longer record. */
static int knows_max_record(const obol_driver *d)
{
    return d->struct_size >= offsetof(obol_driver, check) + sizeof d->check;
}

typedef struct oversized_seen {
    size_t records;
    size_t without_bytes;   /* sealed.data NULL */
    size_t longest;
} oversized_seen;

static int note_oversized(void *arg, const obol_driver_record *rec)
{
    oversized_seen *o = arg;

    o->records++;
    o->without_bytes += rec->sealed.data == NULL;
    if (rec->sealed.len > o->longest)
        o->longest = rec->sealed.len;
    return OBOL_OK;
}

static int stop_nowhere(void *arg, const obol_session *s)
{
    (void)arg, (void)s;
    return OBOL_OK;
}

static void count_bad_seals(void *arg, const obol_event *event)
{
    if (event->kind == OBOL_EVENT_BAD_SEAL &&
        strstr(event->reason, "max_record") != NULL)
        (*(int *)arg)++;
}

/* The driver's own view of a record longer than max_record: shown by its
 * length, its bytes never copied. */
static void assert_driver_keeps_it_back(fixture *f, obol_driver_key key,
                                        size_t len)
{
    const obol_driver *d = f->st->driver;
    uint8_t *bytes = NULL;
    size_t got_len = 0;
    oversized_seen seen = { 0 };
    obol_error err;

    if (!knows_max_record(d)) {
        print_message("# driver %s predates max_record\n", d->name);
        return;
    }
    assert_int_equal(d->get(f->st->handle, &key, &bytes, &got_len, &err),
                     OBOL_OK);
    assert_null(bytes);
    assert_int_equal(got_len, len);
    /* view() shows it in place, by its length, as any other. */
    assert_view_agrees(f, key, OBOL_OK, (obol_bytes){ NULL, len });
    assert_int_equal(d->list(f->st->handle, &key, note_oversized, &seen, &err),
                     OBOL_OK);
    assert_int_equal(seen.without_bytes, 1);
    assert_int_equal(seen.longest, len);
    seen = (oversized_seen){ 0 };
    assert_int_equal(d->scan(f->st->handle, note_oversized, &seen, &err),
                     OBOL_OK);
    assert_int_equal(seen.without_bytes, 1);
}

/* A record planted longer than max_record is refused as a bad seal is,
 * before it is verified: get is OBOL_NOT_FOUND naming max_record, get_all
 * skips it, scan counts it rejected, the logger and the event hook hear
 * of each; the other sessions are untouched. */
static void a_record_over_max_record_is_refused_unread(void **state)
{
    fixture *f = *state;
    size_t len = (size_t)f->st->config.max_record + 1;
    uint8_t *big = malloc(len);
    obol_driver_key key = key_of(text("u"), text("full"), text("big"));
    obol_session *kept = suite_stored_session(f, "u", NULL);
    obol_session *got = NULL, **all = NULL;
    obol_scan_stats stats;
    obol_error err;
    size_t count = 0;
    int events = 0;

    assert_non_null(big);
    memset(big, 0x01, len);   /* the MAC format byte, and no valid MAC */
    assert_int_equal(drv_put(f, key, raw(big, len), f->now + DAY, 0), OBOL_OK);
    free(big);
    obol_store_set_event_hook(f->st, count_bad_seals, &events);

    assert_int_equal(obol_get(f->st, "big", "u", NULL, &got, &err),
                     OBOL_NOT_FOUND);
    assert_null(got);
    assert_non_null(strstr(err.message, "over max_record"));
    assert_non_null(strstr(f->last_warning, "over max_record"));
    assert_int_equal(obol_get_all(f->st, "u", NULL, &all, &count, &err),
                     OBOL_OK);
    assert_int_equal(count, 1);
    assert_string_equal(all[0]->id, kept->id);
    obol_sessions_free(all, count);
    assert_int_equal(obol_scan(f->st, stop_nowhere, NULL, &stats, &err),
                     OBOL_OK);
    assert_true(stats.rejected == 1 && stats.live == 1);
    assert_int_equal(events, 3);
    assert_driver_keeps_it_back(f, key, len);
    obol_session_free(kept);
}

/* -------------------------------------------------------------- errors */

static void an_unknown_option_is_refused_by_name(void **state)
{
    fixture *f = *state;
    char url[1100];
    obol_store *st = NULL;
    obol_error err;

    snprintf(url, sizeof url, "%s&no_such_option=1", f->url);
    assert_int_equal(obol_store_open(url, &st, &err), OBOL_ERR_INVALID);
    assert_null(st);
    assert_non_null(strstr(err.message, "no_such_option"));
}

static void health_describes_the_backend_when_offered(void **state)
{
    fixture *f = *state;
    const obol_driver *d = f->st->driver;
    char info[256] = "";
    obol_error err;

    if (d->struct_size < offsetof(obol_driver, health) + sizeof d->health ||
        d->health == NULL) {
        print_message("# driver %s offers no health()\n", d->name);
        return;
    }
    assert_int_equal(d->health(f->st->handle, info, sizeof info, &err), OBOL_OK);
    assert_true(strlen(info) > 0);
}

#define DRIVER_CASE(name) cmocka_unit_test_setup_teardown(name, suite_setup, suite_teardown)

const struct CMUnitTest driver_suite_tests[] = {
    DRIVER_CASE(put_with_lock_zero_inserts_only_when_absent),
    DRIVER_CASE(put_with_a_wrong_lock_conflicts_and_changes_nothing),
    DRIVER_CASE(put_with_a_lock_on_a_missing_record_conflicts),
    DRIVER_CASE(an_expired_record_counts_as_absent),
    DRIVER_CASE(put_batch_decides_each_record_in_order),
    DRIVER_CASE(put_batch_of_nothing_succeeds),
    DRIVER_CASE(put_batch_counts_an_expired_record_as_lock_zero),
    DRIVER_CASE(put_batch_keeps_expiry_in_step),
    DRIVER_CASE(put_batch_keeps_each_sessions_order_across_users),
    DRIVER_CASE(sealed_bytes_come_back_verbatim),
    DRIVER_CASE(ids_holding_nul_bytes_are_distinct),
    DRIVER_CASE(long_ids_round_trip_or_are_refused_cleanly),
    DRIVER_CASE(records_at_the_payload_limit_round_trip),
    DRIVER_CASE(times_use_the_whole_signed_range),
    DRIVER_CASE(list_visits_exactly_one_user_and_type),
    DRIVER_CASE(a_visitor_can_stop_a_walk),
    DRIVER_CASE(scan_sees_its_prefix_only),
    DRIVER_CASE(del_all_removes_one_user_and_type),
    DRIVER_CASE(prune_removes_only_what_expired),
    DRIVER_CASE(prune_keeps_a_record_that_expires_now),
    DRIVER_CASE(a_record_that_expires_now_keeps_its_lock),
    DRIVER_CASE(lists_stay_consistent_while_writing),
    /* Before the next: a lock held across the visitor fails this one
     * cleanly, where the next deadlocks until the time limit. */
    DRIVER_CASE(a_walk_lets_other_threads_call_in),
    DRIVER_CASE(a_visitor_may_call_back_into_the_driver),
    DRIVER_CASE(concurrent_compare_and_set_loses_nothing),
    DRIVER_CASE(a_record_over_max_record_is_refused_unread),
    DRIVER_CASE(an_unknown_option_is_refused_by_name),
    DRIVER_CASE(health_describes_the_backend_when_offered),
};

const size_t driver_suite_test_count =
    sizeof driver_suite_tests / sizeof driver_suite_tests[0];

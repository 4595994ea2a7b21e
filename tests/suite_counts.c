/*
 * Counts of removals (obol.h, "Counts"; driver.h, "Counted removals"),
 * run with the store suite on every driver.
 *
 * The store cases wrap the loaded driver's readers (get, list, scan) so
 * that another writer acts right after a read: in the moment between a
 * count taken by reading and the removal it counts. With the driver's
 * counted slots the store reads nothing and the count is the removal's
 * own, whatever that writer does; with the slots hidden the store falls
 * back to reading first, and the same writer makes the count wrong. The
 * driver cases call the counted slots directly, as a driver author's
 * conformance check.
 */
#include "config.h"

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

#include "loader_internal.h"
#include "store_internal.h"
#include "suite_counts.h"
#include "suite_fixture.h"

/* ----------------------------------------------------- which drivers */

static int has_counted_slots(const obol_driver *d)
{
    return OBOL_DRIVER_HAS_SLOT(d, del_counted, 5) &&
           OBOL_DRIVER_HAS_SLOT(d, del_all_counted, 5) &&
           OBOL_DRIVER_HAS_SLOT(d, prune_counted, 5);
}

/* Whether the case may hold f's driver to exact counts. Every driver of
 * this tree has the counted slots (obol.h says so), and losing one is a
 * failure; another driver may leave them out, and is then counted by the
 * fallback, which cannot be exact under a racing writer. */
static int counts_exactly(fixture *f)
{
    static const char *const ours[] = { "memory", "lmdb", "redis" };
    const obol_driver *d = f->st->driver;

    if (has_counted_slots(d))
        return 1;
    for (size_t i = 0; i < sizeof ours / sizeof ours[0]; i++)
        if (strcmp(d->name, ours[i]) == 0)
            fail_msg("driver %s lacks a counted slot (ABI 1.5)", d->name);
    print_message("# driver %s offers no counted removals\n", d->name);
    return 0;
}

/* --------------------------------------------- a writer after each read */

typedef enum race_kind {
    RACE_NONE,
    RACE_DELETE_VICTIM,     /* the writer deletes rig.victim */
    RACE_ADD_SESSION,       /* the writer stores one more session of alice */
} race_kind;

/* The store's driver table with get, list and scan wrapped: after the
 * first of them returns, another store on the same backend and prefix
 * does rig.race once. */
static struct {
    obol_driver table;
    const obol_driver *original;
    fixture *f;
    obol_store *writer;
    race_kind race;
    const obol_session *victim;
    int reads;              /* get, list and scan calls */
    int raced;              /* the writer acted */
    int writer_status;      /* what its call returned */
} rig;

static void after_read(void)
{
    obol_session *s;

    rig.reads++;
    if (rig.raced || rig.race == RACE_NONE)
        return;
    rig.raced = 1;
    if (rig.race == RACE_DELETE_VICTIM) {
        rig.writer_status = obol_delete(rig.writer, rig.victim->id,
                                        rig.victim->user_id, rig.victim->type,
                                        NULL);
        return;
    }
    s = obol_session_new("alice", NULL, rig.f->now, 7 * DAY, DAY);
    rig.writer_status = s != NULL ? obol_upsert(rig.writer, s, NULL)
                                  : OBOL_ERR_NOMEM;
    obol_session_free(s);
}

static int raced_get(void *handle, const obol_driver_key *key,
                     uint8_t **sealed, size_t *sealed_len, obol_error *err)
{
    int status = rig.original->get(handle, key, sealed, sealed_len, err);

    after_read();
    return status;
}

static int raced_list(void *handle, const obol_driver_key *key,
                      obol_driver_visit visit, void *arg, obol_error *err)
{
    int status = rig.original->list(handle, key, visit, arg, err);

    after_read();
    return status;
}

static int raced_scan(void *handle, obol_driver_visit visit, void *arg,
                      obol_error *err)
{
    int status = rig.original->scan(handle, visit, arg, err);

    after_read();
    return status;
}

/* A slot the core must not call: the table declares a minor below it. */
static int never_del(void *handle, const obol_driver_key *key,
                     uint64_t *removed, obol_error *err)
{
    (void)handle, (void)key, (void)removed, (void)err;
    fail_msg("a slot past the table's abi_minor was called");
    return OBOL_ERR_BACKEND;
}

static int never_prune(void *handle, int64_t now, uint64_t *removed,
                       obol_error *err)
{
    (void)handle, (void)now, (void)removed, (void)err;
    fail_msg("a slot past the table's abi_minor was called");
    return OBOL_ERR_BACKEND;
}

/* How a case shows the store a driver without the counted slots. */
typedef enum hiding {
    SLOTS_SHOWN,
    SLOTS_NULL,             /* a 1.5 table that leaves them out */
    SLOTS_PAST_MINOR,       /* set, but in a table that says 1.4 */
} hiding;

static void rig_up(fixture *f, race_kind race, const obol_session *victim,
                   hiding hide)
{
    memset(&rig, 0, sizeof rig);
    rig.f = f;
    rig.writer = suite_open_store(f, f->url, 1);
    rig.race = race;
    rig.victim = victim;
    rig.original = f->st->driver;
    rig.table = *f->st->driver;
    rig.table.get = raced_get;
    rig.table.list = raced_list;
    rig.table.scan = raced_scan;
    if (hide == SLOTS_NULL) {
        rig.table.del_counted = NULL;
        rig.table.del_all_counted = NULL;
        rig.table.prune_counted = NULL;
    } else if (hide == SLOTS_PAST_MINOR) {
        rig.table.abi_minor = 4;
        rig.table.del_counted = never_del;
        rig.table.del_all_counted = never_del;
        rig.table.prune_counted = never_prune;
    }
    f->st->driver = &rig.table;
}

static void rig_down(fixture *f)
{
    f->st->driver = rig.original;
    obol_store_close(rig.writer);
    rig.writer = NULL;
    assert_int_equal(rig.writer_status, OBOL_OK);
}

static size_t live_sessions(fixture *f, const char *uid)
{
    obol_session **list = NULL;
    size_t count = 0;

    assert_int_equal(obol_get_all(f->st, uid, NULL, &list, &count, NULL),
                     OBOL_OK);
    obol_sessions_free(list, count);
    return count;
}

/* The three races, each returning the count the call reported; *truth is
 * what the call itself removed, given what the writer did. */

static uint64_t race_delete(fixture *f, hiding hide, uint64_t *truth)
{
    obol_session *s = suite_stored_session(f, "alice", NULL);
    uint64_t removed = 99;

    rig_up(f, RACE_DELETE_VICTIM, s, hide);
    assert_int_equal(obol_delete_counted(f->st, s->id, "alice", NULL,
                                         &removed, NULL), OBOL_OK);
    /* Had the writer deleted it first, this call removed nothing. */
    *truth = rig.raced ? 0 : 1;
    rig_down(f);
    obol_session_free(s);
    return removed;
}

static uint64_t race_delete_all(fixture *f, hiding hide, uint64_t *truth)
{
    uint64_t removed = 99;

    obol_session_free(suite_stored_session(f, "alice", NULL));
    obol_session_free(suite_stored_session(f, "alice", NULL));
    rig_up(f, RACE_ADD_SESSION, NULL, hide);
    assert_int_equal(obol_delete_all_counted(f->st, "alice", NULL, &removed,
                                             NULL), OBOL_OK);
    /* A session the writer added before the removal is removed too. */
    *truth = rig.raced ? 3 : 2;
    rig_down(f);
    assert_int_equal(live_sessions(f, "alice"), 0);
    return removed;
}

static uint64_t race_prune(fixture *f, hiding hide, uint64_t *truth)
{
    obol_session *dies = obol_session_new("alice", NULL, f->now, 7 * DAY, 60);
    obol_session *dies_too = obol_session_new("bob", NULL, f->now, 7 * DAY, 60);
    obol_session *lives = suite_stored_session(f, "alice", NULL);
    uint64_t removed = 99;

    assert_int_equal(obol_upsert(f->st, dies, NULL), OBOL_OK);
    assert_int_equal(obol_upsert(f->st, dies_too, NULL), OBOL_OK);
    f->now += 120;
    rig_up(f, RACE_DELETE_VICTIM, dies, hide);
    assert_int_equal(obol_prune_counted(f->st, &removed, NULL), OBOL_OK);
    *truth = rig.raced ? 1 : 2;
    rig_down(f);
    assert_int_equal(live_sessions(f, "alice"), 1);
    obol_session_free(dies);
    obol_session_free(dies_too);
    obol_session_free(lives);
    return removed;
}

/* ------------------------------------------------------ store cases */

static void delete_counted_is_exact_when_another_writer_deletes_first(
    void **state)
{
    fixture *f = *state;
    uint64_t truth, removed;

    if (!counts_exactly(f))
        return;
    removed = race_delete(f, SLOTS_SHOWN, &truth);
    assert_int_equal(removed, truth);
    assert_int_equal(rig.reads, 0);     /* the count costs no read */
}

static void delete_all_counted_is_exact_when_another_writer_adds_one(
    void **state)
{
    fixture *f = *state;
    uint64_t truth, removed;

    if (!counts_exactly(f))
        return;
    removed = race_delete_all(f, SLOTS_SHOWN, &truth);
    assert_int_equal(removed, truth);
    assert_int_equal(rig.reads, 0);
}

static void prune_counted_is_exact_when_another_writer_deletes_one(
    void **state)
{
    fixture *f = *state;
    uint64_t truth, removed;

    if (!counts_exactly(f))
        return;
    removed = race_prune(f, SLOTS_SHOWN, &truth);
    assert_int_equal(removed, truth);
    assert_int_equal(rig.reads, 0);     /* no walk of the store either */
}

/* The race above is real: the store's fallback, reading first, gets each
 * count wrong under it (the approximation obol.h documents). This keeps
 * the cases above honest: a core that still counted by reading would
 * fail them. */
static void without_counted_slots_a_racing_writer_makes_counts_wrong(
    void **state)
{
    fixture *f = *state;
    uint64_t truth, removed;

    removed = race_delete(f, SLOTS_NULL, &truth);
    assert_true(rig.raced);
    assert_int_equal(removed, 1);
    assert_int_equal(truth, 0);
    removed = race_delete_all(f, SLOTS_NULL, &truth);
    assert_int_equal(removed, 2);
    assert_int_equal(truth, 3);
    removed = race_prune(f, SLOTS_NULL, &truth);
    assert_int_equal(removed, 2);
    assert_int_equal(truth, 1);
}

/* A driver without the counted slots, or whose table declares a minor
 * below them, still gets counts: the store reads first, and with no
 * other writer the count is right. */
static void without_counted_slots_counts_come_from_a_read_first(void **state)
{
    fixture *f = *state;
    const hiding ways[] = { SLOTS_NULL, SLOTS_PAST_MINOR };

    for (size_t w = 0; w < sizeof ways / sizeof ways[0]; w++) {
        obol_session *a = suite_stored_session(f, "carol", NULL);
        obol_session *dies = obol_session_new("dave", NULL, f->now, 7 * DAY,
                                              60);
        uint64_t removed = 99;

        obol_session_free(suite_stored_session(f, "carol", "api"));
        obol_session_free(suite_stored_session(f, "carol", "api"));
        assert_int_equal(obol_upsert(f->st, dies, NULL), OBOL_OK);
        rig_up(f, RACE_NONE, NULL, ways[w]);
        assert_int_equal(obol_delete_counted(f->st, a->id, "carol", NULL,
                                             &removed, NULL), OBOL_OK);
        assert_int_equal(removed, 1);
        assert_int_equal(obol_delete_counted(f->st, a->id, "carol", NULL,
                                             &removed, NULL), OBOL_OK);
        assert_int_equal(removed, 0);
        assert_int_equal(obol_delete_all_counted(f->st, "carol", "api",
                                                 &removed, NULL), OBOL_OK);
        assert_int_equal(removed, 2);
        f->now += 120;
        assert_int_equal(obol_prune_counted(f->st, &removed, NULL), OBOL_OK);
        assert_int_equal(removed, 1);
        f->now -= 120;
        /* get, get, list, scan: every count was a read. */
        assert_int_equal(rig.reads, 4);
        rig_down(f);
        obol_session_free(a);
        obol_session_free(dies);
    }
}

/* The uncounted calls never count: no read, whatever the driver has. */
static void uncounted_calls_read_nothing(void **state)
{
    fixture *f = *state;
    obol_session *a = suite_stored_session(f, "alice", NULL);
    const hiding ways[] = { SLOTS_SHOWN, SLOTS_NULL };

    for (size_t w = 0; w < sizeof ways / sizeof ways[0]; w++) {
        rig_up(f, RACE_NONE, NULL, ways[w]);
        assert_int_equal(obol_delete(f->st, a->id, "alice", NULL, NULL),
                         OBOL_OK);
        assert_int_equal(obol_delete_all(f->st, "alice", NULL, NULL),
                         OBOL_OK);
        assert_int_equal(obol_prune(f->st, NULL), OBOL_OK);
        assert_int_equal(rig.reads, 0);
        rig_down(f);
    }
    obol_session_free(a);
}

/* ----------------------------------------------------- driver cases */

static obol_bytes text(const char *s)
{
    obol_bytes b = { (const uint8_t *)s, strlen(s) };
    return b;
}

static obol_driver_key key_of(const char *user, const char *type,
                              const char *id)
{
    obol_driver_key k = { text(user), text(type), text(id) };
    return k;
}

static void drv_put(fixture *f, obol_driver_key key, int64_t expires_at)
{
    obol_driver_record rec = { key, text("sealed"), expires_at, 1 };
    obol_error err;

    if (f->st->driver->put(f->st->handle, &rec, 0, f->now, &err) != OBOL_OK)
        fail_msg("put: %s", err.message);
}

static int count_visit(void *arg, const obol_driver_record *rec)
{
    (void)rec;
    ++*(size_t *)arg;
    return OBOL_OK;
}

static size_t drv_scan_count(fixture *f)
{
    size_t seen = 0;
    obol_error err;

    assert_int_equal(f->st->driver->scan(f->st->handle, count_visit, &seen,
                                         &err), OBOL_OK);
    return seen;
}

static uint64_t drv_del_counted(fixture *f, obol_driver_key key)
{
    uint64_t removed = 99;
    obol_error err;

    if (f->st->driver->del_counted(f->st->handle, &key, &removed, &err) !=
        OBOL_OK)
        fail_msg("del_counted: %s", err.message);
    return removed;
}

static uint64_t drv_del_all_counted(fixture *f, obol_driver_key key)
{
    uint64_t removed = 99;
    obol_error err;

    if (f->st->driver->del_all_counted(f->st->handle, &key, &removed, &err) !=
        OBOL_OK)
        fail_msg("del_all_counted: %s", err.message);
    return removed;
}

static uint64_t drv_prune_counted(fixture *f, int64_t now)
{
    uint64_t removed = 99;
    obol_error err;

    if (f->st->driver->prune_counted(f->st->handle, now, &removed, &err) !=
        OBOL_OK)
        fail_msg("prune_counted: %s", err.message);
    return removed;
}

static void del_counted_answers_one_then_zero(void **state)
{
    fixture *f = *state;
    obol_driver_key k = key_of("u", "full", "s1");

    if (!counts_exactly(f))
        return;
    drv_put(f, k, f->now + DAY);
    assert_int_equal(drv_del_counted(f, k), 1);
    assert_int_equal(drv_del_counted(f, k), 0);
    assert_int_equal(drv_del_counted(f, key_of("u", "full", "never")), 0);
    assert_int_equal(drv_scan_count(f), 0);
}

static void del_all_counted_counts_one_user_and_type(void **state)
{
    fixture *f = *state;

    if (!counts_exactly(f))
        return;
    drv_put(f, key_of("u", "full", "1"), f->now + DAY);
    drv_put(f, key_of("u", "full", "2"), f->now + DAY);
    drv_put(f, key_of("u", "full", "3"), f->now + DAY);
    drv_put(f, key_of("u", "oauth2", "4"), f->now + DAY);
    drv_put(f, key_of("u2", "full", "5"), f->now + DAY);
    assert_int_equal(drv_del_all_counted(f, key_of("u", "full", "")), 3);
    assert_int_equal(drv_del_all_counted(f, key_of("u", "full", "")), 0);
    assert_int_equal(drv_scan_count(f), 2);
}

/* A prune counts the records of its own prefix whose expires_at is before
 * now: not one expiring at now, and not another store's, even when it
 * removes that one too (LMDB, a named memory space). The dead records are
 * a dozen users' (a dozen hash slots), so that on a cluster the count is
 * a sum over masters. */
static void prune_counted_counts_its_prefix_before_now(void **state)
{
    fixture *f = *state;
    fixture other = { 0 };
    int64_t now = f->now + 100;
    size_t others_held;

    if (!counts_exactly(f))
        return;
    other.now = f->now;
    suite_make_url(&other, NULL);
    other.st = suite_open_store(&other, other.url, 1);
    for (int i = 0; i < 12; i++) {
        char user[16];

        snprintf(user, sizeof user, "user%d", i);
        drv_put(f, key_of(user, i % 2 ? "api" : "full", "gone"), now - 1 - i);
    }
    drv_put(f, key_of("u", "full", "at-now"), now);
    drv_put(f, key_of("u", "full", "lives"), now + DAY);
    drv_put(&other, key_of("u", "full", "theirs"), now - 1);
    assert_int_equal(drv_prune_counted(f, now), 12);
    assert_int_equal(drv_scan_count(f), 2);
    assert_int_equal(drv_prune_counted(f, now), 0);
    /* The other store's record, removed with them or not, is its own to
     * count: once, if it is still there. */
    others_held = drv_scan_count(&other);
    assert_int_equal(drv_prune_counted(&other, now), others_held);
    assert_int_equal(drv_scan_count(&other), 0);
    obol_store_close(other.st);
}

/* ---------------------------------------------------------------- suite */

#define CASE(name) cmocka_unit_test_setup_teardown(name, suite_setup, suite_teardown)

const struct CMUnitTest counts_suite_tests[] = {
    CASE(delete_counted_is_exact_when_another_writer_deletes_first),
    CASE(delete_all_counted_is_exact_when_another_writer_adds_one),
    CASE(prune_counted_is_exact_when_another_writer_deletes_one),
    CASE(without_counted_slots_a_racing_writer_makes_counts_wrong),
    CASE(without_counted_slots_counts_come_from_a_read_first),
    CASE(uncounted_calls_read_nothing),
    CASE(del_counted_answers_one_then_zero),
    CASE(del_all_counted_counts_one_user_and_type),
    CASE(prune_counted_counts_its_prefix_before_now),
};

const size_t counts_suite_test_count =
    sizeof counts_suite_tests / sizeof counts_suite_tests[0];

/*
 * Built by tests/test_installed.sh against the installed headers and
 * library only (pkg-config --cflags --libs obol): every call of the public
 * API once, on the store named by argv[1], whose driver is in the directory
 * argv[2]. Prints TAP.
 */
#include <stdio.h>
#include <string.h>

#include <obol/obol.h>

static int test_count;
static int failures;

static void check(int ok, const char *what)
{
    printf("%sok %d - %s\n", ok ? "" : "not ", ++test_count, what);
    if (!ok)
        failures++;
}

static int64_t fixed_now(void *arg)
{
    return *(int64_t *)arg;
}

static void count_warnings(void *arg, int level, const char *msg)
{
    (void)msg;
    if (level <= OBOL_LOG_WARNING)
        ++*(int *)arg;
}

int main(int argc, char **argv)
{
    static const uint8_t key[32] = "installed api test key.........";
    int64_t now = 1700000000;
    int warnings = 0;
    obol_store *st = NULL;
    obol_session *s, *copy, *got = NULL, **all = NULL;
    size_t count = 0;
    obol_error err;
    int major;

    printf("1..18\n");
    check(argc == 3, "two arguments: the config string, the driver directory");
    check(strcmp(obol_version(&major, NULL, NULL), OBOL_VERSION_STRING) == 0 &&
          major == OBOL_VERSION_MAJOR, "obol_version matches the header");
    check(strcmp(obol_strerror(OBOL_CONFLICT), "ok") != 0, "obol_strerror");
    check(obol_set_driver_path(argc == 3 ? argv[2] : NULL, &err) == OBOL_OK,
          "obol_set_driver_path");
    check(obol_store_open(argc == 3 ? argv[1] : "", &st, &err) == OBOL_OK,
          "obol_store_open");
    if (st == NULL) {
        printf("# %s\n", err.message);
        return 1;
    }
    obol_store_set_logger(st, count_warnings, &warnings);
    obol_store_set_clock(st, fixed_now, &now);
    check(obol_store_add_key(st, 1, key, 1, &err) == OBOL_OK, "obol_store_add_key");
    check(strcmp(obol_store_driver_name(st), "lmdb") == 0, "obol_store_driver_name");
    check(obol_store_has_key(st) == 1 &&
          strcmp(obol_store_prefix(st), "obol") == 0,
          "obol_store_has_key, obol_store_prefix");

    s = obol_session_new("user", NULL, now, 3600, 600);
    obol_session_set_payload(s, "\0payload", 8);
    check(obol_upsert(st, s, &err) == OBOL_OK && s->lock_version == 1, "obol_upsert");
    check(obol_get(st, s->id, "user", NULL, &got, &err) == OBOL_OK &&
          got->extra_payload_len == 8, "obol_get");
    {
        obol_prefix_list prefixes;

        check(obol_store_prefixes(st, &prefixes, &err) == OBOL_OK &&
              prefixes.complete && prefixes.count == 1 &&
              strcmp(prefixes.prefixes[0], "obol") == 0, "obol_store_prefixes");
        obol_prefix_list_clear(&prefixes);
    }
    copy = obol_session_dup(got);
    obol_session_refresh(got, now + 1, 600);
    check(obol_upsert(st, got, &err) == OBOL_OK &&
          obol_upsert(st, copy, &err) == OBOL_CONFLICT, "refresh and conflict");
    obol_session_free(got);
    got = NULL;
    check(obol_get_all(st, "user", NULL, &all, &count, &err) == OBOL_OK && count == 1,
          "obol_get_all");
    obol_sessions_free(all, count);
    now += 700;
    check(obol_prune(st, &err) == OBOL_OK, "obol_prune");
    now -= 700;
    check(obol_get(st, s->id, "user", NULL, &got, &err) == OBOL_NOT_FOUND,
          "pruned session is gone");
    obol_session_free(got);
    check(obol_delete(st, s->id, "user", NULL, &err) == OBOL_OK, "obol_delete");
    check(obol_delete_all(st, "user", NULL, &err) == OBOL_OK && warnings == 0,
          "obol_delete_all, and no warning logged");
    {
        obol_stats stats;

        check(obol_store_stats(st, &stats, sizeof stats, &err) == OBOL_OK &&
                  stats.ops[OBOL_OP_UPSERT].calls == 3 &&
                  stats.ops[OBOL_OP_UPSERT].outcomes[OBOL_CONFLICT] == 1 &&
                  strcmp(obol_op_name(OBOL_OP_GET), "get") == 0,
              "obol_store_stats counted the calls");
    }
    obol_session_free(s);
    obol_session_free(copy);
    obol_store_close(st);
    return failures == 0 ? 0 : 1;
}

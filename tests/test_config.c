/*
 * The config string (lib/config.c, DESIGN.md "The config string"):
 *   scheme://[user[:password]@]host[:port][/path-or-db][?key=value&...]
 * What each part parses to, which options the core takes for itself, and
 * that every mistake is OBOL_ERR_INVALID with a message naming the part.
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
#include <uriparser/Uri.h>

#include "config_internal.h"
#include "seal_internal.h"

/* ------------------------------------------------------------ helpers */

static void parse_ok(const char *text, obol_config *c)
{
    obol_error err = { 0, "" };
    int status = obol_config_parse(text, c, &err);

    if (status != OBOL_OK)
        fail_msg("'%s' refused: %s", text, err.message);
}

/* Parses text expecting OBOL_ERR_INVALID with a message that contains
 * every word of words (NULL-terminated). */
static void assert_refused_naming(const char *text, const char *const *words)
{
    obol_config c;
    obol_error err = { 0, "" };
    int status = obol_config_parse(text, &c, &err);

    if (status == OBOL_OK) {
        obol_config_clear(&c);   /* so that a failure leaks nothing */
        fail_msg("'%s' is accepted", text);
    }
    assert_int_equal(status, OBOL_ERR_INVALID);
    assert_int_equal(err.status, OBOL_ERR_INVALID);
    for (const char *const *w = words; *w != NULL; w++)
        if (strstr(err.message, *w) == NULL)
            fail_msg("'%s': message '%s' does not mention '%s'", text,
                     err.message, *w);
    /* A refused string leaves nothing to free. */
    assert_null(c.scheme);
    assert_null(c.prefix);
    assert_null(c.driver_options);
}

#define assert_refused(text, ...) \
    assert_refused_naming((text), (const char *const[]){ __VA_ARGS__, NULL })

static const char *driver_option(const obol_config *c, const char *key)
{
    for (size_t i = 0; i < c->driver_option_count; i++)
        if (strcmp(c->driver_options[i].key, key) == 0)
            return c->driver_options[i].value;
    return NULL;
}

/* ------------------------------------------------------ design examples */

static void redis_tcp_example_parses_to_its_parts(void **state)
{
    obol_config c;

    (void)state;
    parse_ok("redis://127.0.0.1:6379/0?prefix=obol&timeout_ms=500&pool=8", &c);
    assert_string_equal(c.scheme, "redis");
    assert_string_equal(c.driver_name, "redis");
    assert_null(c.user);
    assert_null(c.password);
    assert_string_equal(c.host, "127.0.0.1");
    assert_int_equal(c.port, 6379);
    assert_string_equal(c.path, "/0");
    assert_string_equal(c.prefix, "obol");
    assert_int_equal(c.driver_option_count, 2);
    assert_string_equal(driver_option(&c, "timeout_ms"), "500");
    assert_string_equal(driver_option(&c, "pool"), "8");
    assert_null(driver_option(&c, "prefix"));
    assert_string_equal(c.redacted_url,
                        "redis://127.0.0.1:6379/0?prefix=obol&timeout_ms=500&pool=8");
    obol_config_clear(&c);
}

static void redis_unix_example_names_the_redis_driver(void **state)
{
    obol_config c;

    (void)state;
    parse_ok("redis+unix:///run/redis.sock?db=2", &c);
    assert_string_equal(c.scheme, "redis+unix");
    assert_string_equal(c.driver_name, "redis");
    /* "//" with nothing before the path: an authority with an empty host. */
    assert_true(c.host == NULL || c.host[0] == '\0');
    assert_int_equal(c.port, 0);
    assert_string_equal(c.path, "/run/redis.sock");
    assert_int_equal(c.driver_option_count, 1);
    assert_string_equal(driver_option(&c, "db"), "2");
    obol_config_clear(&c);
}

/* rediss is redis over TLS: the one scheme whose driver is not named by
 * the part before '+'; a name that only starts alike is its own. */
static void rediss_schemes_name_the_redis_driver(void **state)
{
    obol_config c;

    (void)state;
    parse_ok("rediss://127.0.0.1:6380", &c);
    assert_string_equal(c.scheme, "rediss");
    assert_string_equal(c.driver_name, "redis");
    obol_config_clear(&c);
    parse_ok("rediss+cluster://10.0.0.1:7000", &c);
    assert_string_equal(c.driver_name, "redis");
    obol_config_clear(&c);
    parse_ok("redisstore://h", &c);
    assert_string_equal(c.driver_name, "redisstore");
    obol_config_clear(&c);
}

static void lmdb_example_keeps_map_size_for_the_driver(void **state)
{
    obol_config c;

    (void)state;
    parse_ok("lmdb:///var/lib/app/sessions?map_size=1GiB", &c);
    assert_string_equal(c.scheme, "lmdb");
    assert_string_equal(c.driver_name, "lmdb");
    assert_string_equal(c.path, "/var/lib/app/sessions");
    assert_int_equal(c.driver_option_count, 1);
    assert_string_equal(driver_option(&c, "map_size"), "1GiB");
    obol_config_clear(&c);
}

static void memory_example_has_defaults_only(void **state)
{
    obol_config c;

    (void)state;
    parse_ok("memory:", &c);
    assert_string_equal(c.scheme, "memory");
    assert_string_equal(c.driver_name, "memory");
    assert_null(c.host);
    assert_null(c.user);
    assert_null(c.password);
    assert_null(c.path);
    assert_int_equal(c.port, 0);
    assert_int_equal(c.driver_option_count, 0);
    assert_string_equal(c.prefix, OBOL_DEFAULT_PREFIX);
    assert_null(c.secret_source);
    assert_int_equal(c.key_id, 1);
    assert_int_equal(c.seal_mode, OBOL_SEAL_MAC);
    assert_int_equal(c.allow_unsigned, 0);
    assert_true(c.max_payload == OBOL_DEFAULT_MAX_PAYLOAD);
    assert_string_equal(c.redacted_url, "memory:");
    obol_config_clear(&c);
}

/* ------------------------------------------------------ parts */

static void user_and_password_are_decoded_and_password_masked(void **state)
{
    obol_config c;

    (void)state;
    parse_ok("redis://app%40corp:p%40ss%3Aw0rd@cache.local:6380/1", &c);
    assert_string_equal(c.user, "app@corp");
    assert_string_equal(c.password, "p@ss:w0rd");
    assert_string_equal(c.host, "cache.local");
    assert_int_equal(c.port, 6380);
    assert_null(strstr(c.redacted_url, "p%40ss"));
    assert_null(strstr(c.redacted_url, "w0rd"));
    assert_string_equal(c.redacted_url, "redis://app%40corp:***@cache.local:6380/1");
    obol_config_clear(&c);
}

static void user_without_password_is_kept_in_redacted_url(void **state)
{
    obol_config c;

    (void)state;
    parse_ok("redis://reader@host", &c);
    assert_string_equal(c.user, "reader");
    assert_null(c.password);
    assert_string_equal(c.redacted_url, "redis://reader@host");
    obol_config_clear(&c);
}

static void password_without_user_is_masked(void **state)
{
    obol_config c;

    (void)state;
    parse_ok("redis://:topsecret@host:6379", &c);
    assert_null(c.user);
    assert_string_equal(c.password, "topsecret");
    assert_null(strstr(c.redacted_url, "topsecret"));
    assert_string_equal(c.redacted_url, "redis://:***@host:6379");
    obol_config_clear(&c);
}

static void path_is_percent_decoded(void **state)
{
    obol_config c;

    (void)state;
    parse_ok("lmdb:///var/lib/my%20app/s%C3%A9ssions", &c);
    assert_string_equal(c.path, "/var/lib/my app/s\xc3\xa9ssions");
    obol_config_clear(&c);
}

static void options_are_percent_decoded(void **state)
{
    obol_config c;

    (void)state;
    parse_ok("lmdb:///tmp/x?na%6De=a%26b%3Dc&prefix=my%20app&plus=a+b", &c);
    assert_string_equal(driver_option(&c, "name"), "a&b=c");
    assert_string_equal(c.prefix, "my app");
    /* '+' is a plus, not a space: this is not a form submission. */
    assert_string_equal(driver_option(&c, "plus"), "a+b");
    obol_config_clear(&c);
}

static void ipv6_host_is_given_without_brackets(void **state)
{
    obol_config c;

    (void)state;
    parse_ok("redis://[::1]:6379/0", &c);
    assert_string_equal(c.host, "::1");
    assert_int_equal(c.port, 6379);
    assert_string_equal(c.path, "/0");
    obol_config_clear(&c);
}

static void host_without_port_has_port_zero(void **state)
{
    obol_config c;

    (void)state;
    parse_ok("redis://cache.local", &c);
    assert_string_equal(c.host, "cache.local");
    assert_int_equal(c.port, 0);
    assert_null(c.path);
    obol_config_clear(&c);
}

static void port_bounds_one_and_65535_are_accepted(void **state)
{
    obol_config c;

    (void)state;
    parse_ok("redis://h:1", &c);
    assert_int_equal(c.port, 1);
    obol_config_clear(&c);
    parse_ok("redis://h:65535", &c);
    assert_int_equal(c.port, 65535);
    obol_config_clear(&c);
}

/* ------------------------------------------------------ core options */

static void core_options_are_parsed_and_kept_from_the_driver(void **state)
{
    obol_config c;

    (void)state;
    parse_ok("lmdb:///tmp/s?prefix=app&secret=env:APP_SECRET&key_id=7"
             "&seal=aead&allow_unsigned=1&max_payload=1MiB"
             "&map_size=10MB", &c);
    assert_string_equal(c.prefix, "app");
    assert_string_equal(c.secret_source, "env:APP_SECRET");
    assert_int_equal(c.key_id, 7);
    assert_int_equal(c.seal_mode, OBOL_SEAL_AEAD);
    assert_int_equal(c.allow_unsigned, 1);
    assert_true(c.max_payload == 1024 * 1024);
    assert_int_equal(c.driver_option_count, 1);
    assert_string_equal(driver_option(&c, "map_size"), "10MB");
    obol_config_clear(&c);
}

static void secret_may_come_from_a_file(void **state)
{
    obol_config c;

    (void)state;
    parse_ok("memory:?secret=file:/etc/obol/secret&seal=mac&allow_unsigned=0",
             &c);
    assert_string_equal(c.secret_source, "file:/etc/obol/secret");
    assert_int_equal(c.seal_mode, OBOL_SEAL_MAC);
    assert_int_equal(c.allow_unsigned, 0);
    obol_config_clear(&c);
}

static void key_id_bounds_are_zero_and_uint32_max(void **state)
{
    obol_config c;

    (void)state;
    parse_ok("memory:?key_id=0", &c);
    assert_int_equal(c.key_id, 0);
    obol_config_clear(&c);
    parse_ok("memory:?key_id=4294967295", &c);
    assert_true(c.key_id == UINT32_MAX);
    obol_config_clear(&c);
}

static void max_payload_accepts_up_to_one_gib(void **state)
{
    obol_config c;

    (void)state;
    parse_ok("memory:?max_payload=1GiB", &c);
    assert_true(c.max_payload == 1ull << 30);
    obol_config_clear(&c);
    parse_ok("memory:?max_payload=0", &c);
    assert_true(c.max_payload == 0);
    obol_config_clear(&c);
}

/* The largest record a store with the default max_payload writes: five
 * ids of OBOL_MAX_ID_LEN (5 x 1027), seven numbers of 10-byte varints
 * (7 x 11), the payload field (4 + 65536), magic and version (2), in
 * an AEAD seal (37 + 24 + 16). */
#define WRITABLE_AT_64KIB (5 * 1027 + 7 * 11 + 65540 + 2 + 77)

static void max_record_defaults_above_what_the_store_writes(void **state)
{
    obol_config c;
    obol_driver_config view;

    (void)state;
    parse_ok("memory:", &c);
    assert_true(c.max_record > WRITABLE_AT_64KIB);
    assert_true(c.max_record < 2 * WRITABLE_AT_64KIB);
    obol_config_for_driver(&c, &view);
    assert_true(view.max_record == c.max_record);
    obol_config_clear(&c);
    /* Derived from max_payload, wherever that option stands. */
    parse_ok("memory:?max_payload=1MiB", &c);
    assert_true(c.max_record > 1024 * 1024);
    obol_config_clear(&c);
}

static void max_record_may_not_refuse_the_stores_own_records(void **state)
{
    obol_config c;
    char text[128];

    (void)state;
    snprintf(text, sizeof text, "memory:?max_record=%d", WRITABLE_AT_64KIB);
    parse_ok(text, &c);
    assert_true(c.max_record == WRITABLE_AT_64KIB);
    obol_config_clear(&c);
    snprintf(text, sizeof text, "memory:?max_record=%d",
             WRITABLE_AT_64KIB - 1);
    assert_refused(text, "max_record", "70831", "max_payload=65536");
    parse_ok("memory:?max_record=8KiB&max_payload=1KiB", &c);
    assert_true(c.max_record == 8192);
    obol_config_clear(&c);
    assert_refused("memory:?max_record=0", "max_record", "'0'");
    assert_refused("memory:?max_record=big", "max_record", "'big'");
    assert_refused("memory:?max_record=3GiB", "max_record", "2GiB");
}

static void types_are_kept_in_order_and_from_the_driver(void **state)
{
    obol_config c;

    (void)state;
    parse_ok("memory:?types=full,oauth2,a%2Cb%20c", &c);
    assert_int_equal(c.type_count, 4);
    assert_string_equal(c.types[0], "full");
    assert_string_equal(c.types[1], "oauth2");
    /* Split after decoding: an encoded ',' separates too. */
    assert_string_equal(c.types[2], "a");
    assert_string_equal(c.types[3], "b c");
    assert_int_equal(c.driver_option_count, 0);
    obol_config_clear(&c);
    parse_ok("memory:", &c);
    assert_int_equal(c.type_count, 0);
    assert_null(c.types);
    obol_config_clear(&c);
}

static void types_bounds_are_32_types_of_255_bytes(void **state)
{
    char text[64 + 32 * 3 + OBOL_MAX_TYPE_LEN];
    char *p = text + sprintf(text, "memory:?types=");
    obol_config c;

    (void)state;
    for (int i = 0; i < OBOL_MAX_TYPES; i++)
        p += sprintf(p, "%s%02d", i ? "," : "", i);
    parse_ok(text, &c);
    assert_int_equal(c.type_count, OBOL_MAX_TYPES);
    obol_config_clear(&c);
    p = text + sprintf(text, "memory:?types=full,");
    memset(p, 'x', OBOL_MAX_TYPE_LEN);
    p[OBOL_MAX_TYPE_LEN] = '\0';
    parse_ok(text, &c);
    assert_int_equal(strlen(c.types[1]), OBOL_MAX_TYPE_LEN);
    obol_config_clear(&c);
}

static void driver_view_matches_the_parsed_config(void **state)
{
    obol_config c;
    obol_driver_config view;

    (void)state;
    parse_ok("redis://u:pw@h:7000/3?prefix=px&pool=4", &c);
    obol_config_for_driver(&c, &view);
    assert_int_equal(view.struct_size, sizeof view);
    assert_string_equal(view.url, "redis://u:***@h:7000/3?prefix=px&pool=4");
    assert_string_equal(view.scheme, "redis");
    assert_string_equal(view.user, "u");
    assert_string_equal(view.password, "pw");
    assert_string_equal(view.host, "h");
    assert_int_equal(view.port, 7000);
    assert_string_equal(view.path, "/3");
    assert_int_equal(view.option_count, 1);
    assert_string_equal(view.options[0].key, "pool");
    assert_string_equal(view.options[0].value, "4");
    assert_int_equal(view.prefix.len, 2);
    assert_memory_equal(view.prefix.data, "px", 2);
    assert_int_equal(view.open_flags, 0);
    obol_config_clear(&c);
}

/* create=0 reaches the driver as OBOL_DRIVER_OPEN_EXISTING; create=1,
 * like no create= at all, asks for nothing. */
static void create_and_require_key_are_core_options(void **state)
{
    obol_config c;
    obol_driver_config view;

    (void)state;
    parse_ok("lmdb:///tmp/x?create=0&require_key=1&map_size=1MiB", &c);
    assert_int_equal(c.create, 0);
    assert_int_equal(c.require_key, 1);
    assert_int_equal(c.driver_option_count, 1);
    obol_config_for_driver(&c, &view);
    assert_int_equal(view.open_flags, OBOL_DRIVER_OPEN_EXISTING);
    obol_config_clear(&c);
    parse_ok("lmdb:///tmp/x?create=1&require_key=0", &c);
    assert_int_equal(c.create, 1);
    assert_int_equal(c.require_key, 0);
    assert_int_equal(c.driver_option_count, 0);
    obol_config_for_driver(&c, &view);
    assert_int_equal(view.open_flags, 0);
    obol_config_clear(&c);
    parse_ok("lmdb:///tmp/x", &c);
    assert_int_equal(c.create, 1);
    assert_int_equal(c.require_key, 0);
    obol_config_clear(&c);
}

/* ------------------------------------------------------ refusals */

static void empty_string_is_refused(void **state)
{
    obol_config c;
    obol_error err;

    (void)state;
    assert_refused("", "empty");
    assert_int_equal(obol_config_parse(NULL, &c, &err), OBOL_ERR_INVALID);
    assert_non_null(strstr(err.message, "empty"));
}

static void string_without_scheme_is_refused(void **state)
{
    (void)state;
    assert_refused("/var/lib/app", "scheme");
    assert_refused("//host:6379/0", "scheme");
    assert_refused("sessions", "scheme");
}

static void upper_case_scheme_is_refused(void **state)
{
    (void)state;
    assert_refused("Redis://h", "scheme", "Redis");
    assert_refused("LMDB:///tmp/x", "scheme", "LMDB");
    assert_refused("redis+Unix:///run/r.sock", "scheme", "redis+Unix");
}

static void scheme_with_other_characters_is_refused(void **state)
{
    (void)state;
    assert_refused("re.dis://h", "scheme", "re.dis");
    assert_refused("re-dis://h", "scheme", "re-dis");
    /* Not a scheme at all by URI rules: refused as malformed. */
    assert_refused("re_dis://h", "config");
    assert_refused("1redis://h", "config");
}

static void malformed_uri_is_refused_with_its_position(void **state)
{
    (void)state;
    assert_refused("redis://h o/0", "malformed", "character");
    assert_refused("redis://[::1/0", "malformed");
    assert_refused("redis://h/%zz", "malformed");
}

/* Everything after '#' would be dropped: seal=bogus below would never be
 * seen, and a store meant to seal with aead would store plaintext. */
static void fragment_is_refused(void **state)
{
    (void)state;
    assert_refused("memory:?prefix=a#&seal=bogus", "'#' at character 17",
                   "fragment", "%23");
    assert_refused("lmdb:///var/lib/a#b", "'#' at character 18", "fragment");
    assert_refused("memory:#", "'#' at character 8", "fragment");
    assert_refused("redis://u:pa#ss@h/0", "fragment");
}

static void encoded_hash_in_a_value_is_kept(void **state)
{
    obol_config c;

    (void)state;
    parse_ok("lmdb:///tmp/a%23b?prefix=p%23q&tag=%23", &c);
    assert_string_equal(c.path, "/tmp/a#b");
    assert_string_equal(c.prefix, "p#q");
    assert_string_equal(driver_option(&c, "tag"), "#");
    obol_config_clear(&c);
}

static void port_zero_is_refused(void **state)
{
    (void)state;
    assert_refused("redis://h:0", "port", "'0'");
}

static void port_over_65535_is_refused(void **state)
{
    (void)state;
    assert_refused("redis://h:65536", "port", "65536");
    assert_refused("redis://h:99999999999", "port", "99999999999");
}

static void non_numeric_port_is_refused(void **state)
{
    obol_config c;
    obol_error err = { 0, "" };

    (void)state;
    /* uriparser itself refuses letters in a port; either way: invalid and
     * the message says where. */
    assert_int_equal(obol_config_parse("redis://h:abc/0", &c, &err),
                     OBOL_ERR_INVALID);
    assert_true(strstr(err.message, "port") != NULL ||
                strstr(err.message, "malformed") != NULL);
}

static void empty_port_is_refused(void **state)
{
    (void)state;
    assert_refused("redis://h:/0", "port", "empty");
}

static void port_without_host_is_refused(void **state)
{
    (void)state;
    assert_refused("redis://:6379/0", "port", "host");
}

static void user_without_host_is_refused(void **state)
{
    (void)state;
    assert_refused("redis://someone@/0", "user", "host");
}

static void option_without_value_is_refused(void **state)
{
    (void)state;
    assert_refused("lmdb:///tmp/x?sync", "sync", "no value");
    assert_refused("lmdb:///tmp/x?map_size=1GiB&sync", "sync");
}

static void option_given_twice_is_refused(void **state)
{
    (void)state;
    assert_refused("lmdb:///tmp/x?map_size=1&map_size=2", "map_size", "twice");
    assert_refused("memory:?prefix=a&prefix=b", "prefix", "twice");
    /* The same name once encoded and once not is still the same option. */
    assert_refused("memory:?seal=mac&se%61l=aead", "seal", "twice");
}

static void option_without_name_is_refused(void **state)
{
    (void)state;
    assert_refused("lmdb:///tmp/x?=1", "no name");
    assert_refused("lmdb:///tmp/x?map_size=1&=2", "no name");
}

static void encoded_nul_in_path_is_refused(void **state)
{
    (void)state;
    assert_refused("lmdb:///tmp/a%00b", "path", "%00");
}

static void encoded_nul_in_user_or_password_is_refused(void **state)
{
    (void)state;
    assert_refused("redis://a%00b@h", "user", "%00");
    assert_refused("redis://a:p%00w@h", "password", "%00");
}

static void encoded_nul_in_host_is_refused(void **state)
{
    (void)state;
    assert_refused("redis://ho%00st/0", "%00");
}

/* A decoded NUL would silently cut an option short: prefix=a%00b would
 * become prefix "a", and secret=file:/etc/x%00junk a different file. */
static void encoded_nul_in_option_value_is_refused(void **state)
{
    (void)state;
    assert_refused("memory:?prefix=a%00b", "prefix", "%00");
    assert_refused("lmdb:///tmp/x?map_size=1%00GiB", "map_size", "%00");
}

static void encoded_nul_in_option_name_is_refused(void **state)
{
    (void)state;
    assert_refused("lmdb:///tmp/x?map%00_size=1", "%00");
}

static void bad_key_id_is_refused(void **state)
{
    (void)state;
    assert_refused("memory:?key_id=-1", "key_id", "'-1'");
    assert_refused("memory:?key_id=4294967296", "key_id", "4294967296");
    assert_refused("memory:?key_id=one", "key_id", "one");
    assert_refused("memory:?key_id=", "key_id");
}

static void bad_seal_is_refused(void **state)
{
    (void)state;
    assert_refused("memory:?seal=none", "seal", "none");
    assert_refused("memory:?seal=AEAD", "seal", "AEAD");
    assert_refused("memory:?seal=", "seal");
}

static void bad_allow_unsigned_is_refused(void **state)
{
    (void)state;
    assert_refused("memory:?allow_unsigned=yes", "allow_unsigned", "yes");
    assert_refused("memory:?allow_unsigned=2", "allow_unsigned", "'2'");
    assert_refused("memory:?allow_unsigned=", "allow_unsigned");
}

static void bad_create_or_require_key_is_refused(void **state)
{
    (void)state;
    assert_refused("memory:?create=no", "create", "'no'");
    assert_refused("memory:?create=", "create");
    assert_refused("memory:?require_key=true", "require_key", "'true'");
    assert_refused("memory:?require_key=1&require_key=1", "require_key",
                   "twice");
}

static void bad_max_payload_is_refused(void **state)
{
    (void)state;
    assert_refused("memory:?max_payload=lots", "max_payload", "lots");
    assert_refused("memory:?max_payload=-1", "max_payload", "-1");
    assert_refused("memory:?max_payload=2GiB", "max_payload", "2GiB");
    assert_refused("memory:?max_payload=1073741825", "max_payload");
    assert_refused("memory:?max_payload=64%20KiB", "max_payload");
}

static void empty_type_is_refused_by_position(void **state)
{
    (void)state;
    assert_refused("memory:?types=", "types", "type 1 is empty");
    assert_refused("memory:?types=full,,oauth2", "types", "type 2 is empty");
    assert_refused("memory:?types=full,", "types", "type 2 is empty");
    assert_refused("memory:?types=,full", "types", "type 1 is empty");
}

static void type_listed_twice_is_refused_by_name(void **state)
{
    (void)state;
    assert_refused("memory:?types=full,oauth2,full", "types", "'full' twice");
    assert_refused("memory:?types=a,%61", "types", "'a' twice");
    assert_refused("memory:?types=%FF,%FF", "types", "'\\xff' twice");
}

static void too_many_or_too_long_types_are_refused(void **state)
{
    char text[64 + 33 * 3 + OBOL_MAX_TYPE_LEN];
    char *p = text + sprintf(text, "memory:?types=");

    (void)state;
    for (int i = 0; i <= OBOL_MAX_TYPES; i++)
        p += sprintf(p, "%s%02d", i ? "," : "", i);
    assert_refused(text, "types", "33 types", "at most 32");
    p = text + sprintf(text, "memory:?types=full,");
    memset(p, 'x', OBOL_MAX_TYPE_LEN + 1);
    p[OBOL_MAX_TYPE_LEN + 1] = '\0';
    assert_refused(text, "types", "type 2 is longer than 255 bytes");
}

/* Whoever writes the string must not choose which code the process runs:
 * driver_path is refused whatever its value, even without one, and when
 * its name is percent-encoded. */
static void driver_path_is_refused(void **state)
{
    static const char *const texts[] = {
        "memory:?driver_path=/opt/obol/drivers",
        "memory:?prefix=a&driver_path=drivers",
        "memory:?driver_path=",
        "memory:?driver_path",
        "memory:?driver%5Fpath=/opt",
    };

    (void)state;
    for (size_t i = 0; i < sizeof texts / sizeof texts[0]; i++)
        assert_refused(texts[i], "option 'driver_path' is refused",
                       "may not choose where code is loaded from",
                       "obol_set_driver_path()");
}

static void empty_prefix_is_refused(void **state)
{
    (void)state;
    assert_refused("memory:?prefix=", "prefix");
}

static void literal_secret_is_refused_without_echoing_it(void **state)
{
    obol_config c;
    obol_error err = { 0, "" };

    (void)state;
    assert_int_equal(obol_config_parse("memory:?secret=hunter2hunter2hunter2",
                                       &c, &err), OBOL_ERR_INVALID);
    assert_non_null(strstr(err.message, "secret"));
    assert_non_null(strstr(err.message, "env:"));
    assert_null(strstr(err.message, "hunter2"));
    assert_refused("memory:?secret=environment:X", "secret");
    assert_refused("memory:?secret=ENV:X", "secret");
}

/* Messages are logged; like redacted_url, they must not carry a password
 * from the string, whichever part of it is wrong. */
static void error_messages_do_not_echo_the_password(void **state)
{
    static const char *const configs[] = {
        "//user:hunter2@host/0",              /* no scheme */
        "redis://user:hun[ter2@host/0",       /* malformed inside it */
        "redis://user:hunter2@ho st/0",       /* malformed after it */
        "redis://user:hunter2@host:0",
        "redis://user:hunter2@host/0?pool",
        "Redis://user:hunter2@host/0",
    };
    int leaks = 0;

    (void)state;
    for (size_t i = 0; i < sizeof configs / sizeof configs[0]; i++) {
        obol_config c;
        obol_error err = { 0, "" };

        assert_int_equal(obol_config_parse(configs[i], &c, &err),
                         OBOL_ERR_INVALID);
        /* "ter2" is in every password above, also past a bad character. */
        if (strstr(err.message, "ter2") != NULL) {
            print_error("'%s': message '%s' shows the password\n",
                        configs[i], err.message);
            leaks++;
        }
    }
    assert_int_equal(leaks, 0);
}

/* ------------------------------------------------------------ old keys */

static void old_key_ids_and_old_secrets_are_kept_for_the_core(void **state)
{
    obol_config c;

    (void)state;
    parse_ok("lmdb:///tmp/s?secret=env:NEW&key_id=3&old_key_ids=1,2"
             "&old_secrets=0:env:OLD_SECRET,7:file:/etc/obol/old%20one", &c);
    assert_int_equal(c.key_id, 3);
    assert_int_equal(c.old_key_id_count, 2);
    assert_int_equal(c.old_key_ids[0], 1);
    assert_int_equal(c.old_key_ids[1], 2);
    assert_int_equal(c.old_secret_count, 2);
    assert_int_equal(c.old_secrets[0].key_id, 0);
    assert_string_equal(c.old_secrets[0].source, "env:OLD_SECRET");
    assert_int_equal(c.old_secrets[1].key_id, 7);
    assert_string_equal(c.old_secrets[1].source, "file:/etc/obol/old one");
    assert_null(driver_option(&c, "old_key_ids"));
    assert_null(driver_option(&c, "old_secrets"));
    obol_config_clear(&c);
}

/* A store with raw keys only (obol_store_add_key) may still list old
 * secrets to verify with; key_id then names no key, so nothing clashes. */
static void old_secrets_need_no_current_secret(void **state)
{
    obol_config c;

    (void)state;
    parse_ok("memory:?old_secrets=1:env:OLD", &c);
    assert_int_equal(c.old_secret_count, 1);
    assert_int_equal(c.old_secrets[0].key_id, 1);
    obol_config_clear(&c);
}

static void sixteen_old_keys_are_accepted(void **state)
{
    obol_config c;

    (void)state;
    parse_ok("memory:?secret=env:S&key_id=99&old_key_ids=1,2,3,4,5,6,7,8"
             "&old_secrets=11:env:A,12:env:B,13:env:C,14:env:D,15:env:E,"
             "16:env:F,17:env:G,4294967295:env:H", &c);
    assert_int_equal(c.old_key_id_count + c.old_secret_count, OBOL_MAX_OLD_KEYS);
    assert_int_equal(c.old_secrets[7].key_id, UINT32_MAX);
    obol_config_clear(&c);
}

static void bad_old_key_ids_are_refused(void **state)
{
    (void)state;
    assert_refused("memory:?secret=env:S&old_key_ids=", "old_key_ids",
                   "entry 1 is empty");
    assert_refused("memory:?secret=env:S&old_key_ids=1,,2", "old_key_ids",
                   "entry 2 is empty");
    assert_refused("memory:?secret=env:S&old_key_ids=1,", "old_key_ids",
                   "entry 2 is empty");
    assert_refused("memory:?secret=env:S&old_key_ids=1,x", "old_key_ids",
                   "'x' is not a key id");
    assert_refused("memory:?secret=env:S&old_key_ids=4294967296",
                   "old_key_ids", "'4294967296' is not a key id");
    assert_refused("memory:?secret=env:S&old_key_ids=-1", "old_key_ids",
                   "'-1'");
    assert_refused("memory:?secret=env:S&old_key_ids=%201", "old_key_ids",
                   "' 1'");
}

static void bad_old_secrets_are_refused(void **state)
{
    (void)state;
    assert_refused("memory:?old_secrets=", "old_secrets", "entry 1 must be",
                   "ID:env:NAME");
    assert_refused("memory:?old_secrets=env:OLD", "old_secrets",
                   "entry 1 must be ID:env:NAME or ID:file:PATH");
    assert_refused("memory:?old_secrets=1:env:A,2", "old_secrets",
                   "entry 2 must be");
    assert_refused("memory:?old_secrets=1:env:", "old_secrets", "entry 1");
    assert_refused("memory:?old_secrets=1:file:", "old_secrets", "entry 1");
    assert_refused("memory:?old_secrets=1:ENV:A", "old_secrets", "entry 1");
    assert_refused("memory:?old_secrets=x:env:A", "old_secrets",
                   "entry 1: the key id");
    assert_refused("memory:?old_secrets=99999999999:env:A", "old_secrets",
                   "entry 1: the key id");
}

/* An old_secrets entry may be a secret pasted there by mistake: the
 * message says where it is, never what it is. */
static void bad_old_secret_is_refused_without_echoing_it(void **state)
{
    obol_config c;
    obol_error err = { 0, "" };

    (void)state;
    assert_int_equal(obol_config_parse("memory:?old_secrets=2:hunter2hunter2hunter2",
                                       &c, &err), OBOL_ERR_INVALID);
    assert_null(strstr(err.message, "hunter2"));
    assert_int_equal(obol_config_parse("memory:?old_secrets=hunter2hunter2:env:X",
                                       &c, &err), OBOL_ERR_INVALID);
    assert_null(strstr(err.message, "hunter2"));
}

static void old_key_id_listed_twice_is_refused(void **state)
{
    (void)state;
    assert_refused("memory:?secret=env:S&old_key_ids=1,2,1", "old_key_ids",
                   "key id 1 twice");
    assert_refused("memory:?old_secrets=4:env:A,4:file:/b", "old_secrets",
                   "key id 4 twice");
    assert_refused("memory:?secret=env:S&key_id=9&old_key_ids=3"
                   "&old_secrets=3:env:A", "key id 3",
                   "both 'old_key_ids' and 'old_secrets'");
}

static void old_key_id_equal_to_the_signing_one_is_refused(void **state)
{
    (void)state;
    assert_refused("memory:?secret=env:S&old_key_ids=1", "old_key_ids",
                   "key id 1", "key_id, the signing one");
    assert_refused("memory:?secret=env:S&key_id=5&old_key_ids=2,5",
                   "old_key_ids", "key id 5", "signing");
    /* Order does not matter: the check runs once every option is read. */
    assert_refused("memory:?old_secrets=5:env:OLD&key_id=5&secret=env:S",
                   "old_secrets", "key id 5", "signing");
}

static void old_key_ids_without_a_secret_are_refused(void **state)
{
    (void)state;
    assert_refused("memory:?old_key_ids=1", "old_key_ids", "no secret=");
}

static void more_than_sixteen_old_keys_are_refused(void **state)
{
    (void)state;
    assert_refused("memory:?secret=env:S&key_id=99&old_key_ids="
                   "1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16,17",
                   "old_key_ids", "17 old keys", "at most 16");
    assert_refused("memory:?old_secrets=1:env:A,2:env:A,3:env:A,4:env:A,"
                   "5:env:A,6:env:A,7:env:A,8:env:A,9:env:A,10:env:A,11:env:A,"
                   "12:env:A,13:env:A,14:env:A,15:env:A,16:env:A,17:env:A",
                   "old_secrets", "at most 16");
    assert_refused("memory:?secret=env:S&key_id=99&old_key_ids=1,2,3,4,5,6,7,8,9"
                   "&old_secrets=11:env:A,12:env:B,13:env:C,14:env:D,15:env:E,"
                   "16:env:F,17:env:G,18:env:H", "together", "17 old keys",
                   "at most 16");
}

/* ------------------------------------------- uriparser out of memory */

/* A uriparser memory manager that counts allocations and fails the one
 * numbered fail_at (from 0; SIZE_MAX: none), and counts what is live, so
 * that a refused string is seen to free everything uriparser gave it. */
static size_t uri_allocations, uri_live, uri_fail_at = SIZE_MAX;

static void *counted(void *p)
{
    uri_live += p != NULL;
    return p;
}

static int uri_allocation_fails(void)
{
    return uri_allocations++ == uri_fail_at;
}

static void *uri_malloc(UriMemoryManager *m, size_t size)
{
    (void)m;
    return uri_allocation_fails() ? NULL : counted(malloc(size));
}

static void *uri_calloc(UriMemoryManager *m, size_t count, size_t size)
{
    (void)m;
    return uri_allocation_fails() ? NULL : counted(calloc(count, size));
}

static void *uri_realloc(UriMemoryManager *m, void *p, size_t size)
{
    void *bigger;

    (void)m;
    if (uri_allocation_fails())
        return NULL;
    bigger = realloc(p, size);
    if (p == NULL)
        counted(bigger);
    return bigger;
}

static void *uri_reallocarray(UriMemoryManager *m, void *p, size_t count,
                              size_t size)
{
    return size != 0 && count > SIZE_MAX / size ? NULL
                                                : uri_realloc(m, p, count * size);
}

static void uri_free(UriMemoryManager *m, void *p)
{
    (void)m;
    uri_live -= p != NULL;
    free(p);
}

static UriMemoryManager failing_uri_memory = {
    uri_malloc, uri_calloc, uri_realloc, uri_reallocarray, uri_free, NULL
};

/* Parses text with uriparser's allocation number fail_at failing. */
static int parse_failing_at(const char *text, size_t fail_at, obol_config *c,
                            obol_error *err)
{
    int status;

    uri_allocations = 0;
    uri_live = 0;
    uri_fail_at = fail_at;
    obol_config_set_uri_memory(&failing_uri_memory);
    status = obol_config_parse(text, c, err);
    obol_config_set_uri_memory(NULL);
    return status;
}

/* Every allocation uriparser makes, in the URL (path segments) and in the
 * options (the query list), fails in turn: each is OBOL_ERR_NOMEM, never
 * "malformed", and leaves nothing allocated. */
static void uriparser_out_of_memory_is_nomem(void **state)
{
    static const char text[] = "lmdb:///var/lib/a/b?prefix=p&map_size=1MiB";
    obol_config c;
    obol_error err = { 0, "" };
    size_t total;

    (void)state;
    assert_int_equal(parse_failing_at(text, SIZE_MAX, &c, &err), OBOL_OK);
    obol_config_clear(&c);
    total = uri_allocations;
    assert_true(total >= 4);   /* three path segments, two options */
    for (size_t n = 0; n < total; n++) {
        int status = parse_failing_at(text, n, &c, &err);

        if (status != OBOL_ERR_NOMEM)
            fail_msg("allocation %zu failing gives %d: %s", n, status,
                     err.message);
        assert_non_null(strstr(err.message, "config: out of memory"));
        assert_int_equal(uri_live, 0);
        assert_null(c.scheme);
    }
}

static void error_pointer_may_be_null(void **state)
{
    obol_config c;

    (void)state;
    assert_int_equal(obol_config_parse("redis://h:0", &c, NULL),
                     OBOL_ERR_INVALID);
    assert_int_equal(obol_config_parse("memory:", &c, NULL), OBOL_OK);
    obol_config_clear(&c);
    obol_config_clear(NULL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(redis_tcp_example_parses_to_its_parts),
        cmocka_unit_test(redis_unix_example_names_the_redis_driver),
        cmocka_unit_test(rediss_schemes_name_the_redis_driver),
        cmocka_unit_test(lmdb_example_keeps_map_size_for_the_driver),
        cmocka_unit_test(memory_example_has_defaults_only),
        cmocka_unit_test(user_and_password_are_decoded_and_password_masked),
        cmocka_unit_test(user_without_password_is_kept_in_redacted_url),
        cmocka_unit_test(password_without_user_is_masked),
        cmocka_unit_test(path_is_percent_decoded),
        cmocka_unit_test(options_are_percent_decoded),
        cmocka_unit_test(ipv6_host_is_given_without_brackets),
        cmocka_unit_test(host_without_port_has_port_zero),
        cmocka_unit_test(port_bounds_one_and_65535_are_accepted),
        cmocka_unit_test(core_options_are_parsed_and_kept_from_the_driver),
        cmocka_unit_test(secret_may_come_from_a_file),
        cmocka_unit_test(key_id_bounds_are_zero_and_uint32_max),
        cmocka_unit_test(max_payload_accepts_up_to_one_gib),
        cmocka_unit_test(types_are_kept_in_order_and_from_the_driver),
        cmocka_unit_test(types_bounds_are_32_types_of_255_bytes),
        cmocka_unit_test(driver_view_matches_the_parsed_config),
        cmocka_unit_test(create_and_require_key_are_core_options),
        cmocka_unit_test(empty_string_is_refused),
        cmocka_unit_test(string_without_scheme_is_refused),
        cmocka_unit_test(upper_case_scheme_is_refused),
        cmocka_unit_test(scheme_with_other_characters_is_refused),
        cmocka_unit_test(malformed_uri_is_refused_with_its_position),
        cmocka_unit_test(fragment_is_refused),
        cmocka_unit_test(encoded_hash_in_a_value_is_kept),
        cmocka_unit_test(port_zero_is_refused),
        cmocka_unit_test(port_over_65535_is_refused),
        cmocka_unit_test(non_numeric_port_is_refused),
        cmocka_unit_test(empty_port_is_refused),
        cmocka_unit_test(port_without_host_is_refused),
        cmocka_unit_test(user_without_host_is_refused),
        cmocka_unit_test(option_without_value_is_refused),
        cmocka_unit_test(option_given_twice_is_refused),
        cmocka_unit_test(option_without_name_is_refused),
        cmocka_unit_test(encoded_nul_in_path_is_refused),
        cmocka_unit_test(encoded_nul_in_user_or_password_is_refused),
        cmocka_unit_test(encoded_nul_in_host_is_refused),
        cmocka_unit_test(encoded_nul_in_option_value_is_refused),
        cmocka_unit_test(encoded_nul_in_option_name_is_refused),
        cmocka_unit_test(bad_key_id_is_refused),
        cmocka_unit_test(bad_seal_is_refused),
        cmocka_unit_test(bad_allow_unsigned_is_refused),
        cmocka_unit_test(bad_create_or_require_key_is_refused),
        cmocka_unit_test(bad_max_payload_is_refused),
        cmocka_unit_test(empty_type_is_refused_by_position),
        cmocka_unit_test(type_listed_twice_is_refused_by_name),
        cmocka_unit_test(too_many_or_too_long_types_are_refused),
        cmocka_unit_test(driver_path_is_refused),
        cmocka_unit_test(empty_prefix_is_refused),
        cmocka_unit_test(literal_secret_is_refused_without_echoing_it),
        cmocka_unit_test(error_messages_do_not_echo_the_password),
        cmocka_unit_test(old_key_ids_and_old_secrets_are_kept_for_the_core),
        cmocka_unit_test(old_secrets_need_no_current_secret),
        cmocka_unit_test(sixteen_old_keys_are_accepted),
        cmocka_unit_test(bad_old_key_ids_are_refused),
        cmocka_unit_test(bad_old_secrets_are_refused),
        cmocka_unit_test(bad_old_secret_is_refused_without_echoing_it),
        cmocka_unit_test(old_key_id_listed_twice_is_refused),
        cmocka_unit_test(old_key_id_equal_to_the_signing_one_is_refused),
        cmocka_unit_test(old_key_ids_without_a_secret_are_refused),
        cmocka_unit_test(more_than_sixteen_old_keys_are_refused),
        cmocka_unit_test(uriparser_out_of_memory_is_nomem),
        cmocka_unit_test(max_record_defaults_above_what_the_store_writes),
        cmocka_unit_test(max_record_may_not_refuse_the_stores_own_records),
        cmocka_unit_test(error_pointer_may_be_null),
    };

    return cmocka_run_group_tests_name("config", tests, NULL, NULL);
}

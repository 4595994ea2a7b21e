/*
 * The config string:
 *   scheme://[user[:password]@]host[:port][/path-or-db][?key=value&...]
 * parsed with liburiparser, percent-decoded, and split into the options the
 * core understands and the ones passed on to the driver.
 */
#ifndef OBOL_CONFIG_INTERNAL_H
#define OBOL_CONFIG_INTERNAL_H

#include <stdint.h>

#include <obol/driver.h>
#include <obol/obol.h>

#define OBOL_DEFAULT_PREFIX "obol"
#define OBOL_DEFAULT_MAX_PAYLOAD (64 * 1024)
#define OBOL_MAX_RECORD_CEILING (1ull << 31)
#define OBOL_DEFAULT_REFRESH_GRACE_S 10
#define OBOL_MAX_REFRESH_GRACE_S 3600

/* Old keys a store keeps verifying (old_key_ids= and old_secrets=
 * together): a rotation needs one or two; more means keys never retired. */
#define OBOL_MAX_OLD_KEYS 16

/* One entry of old_secrets=: a retired base secret and the key id it
 * signed with. */
typedef struct obol_old_secret {
    uint32_t key_id;
    char *source;           /* "env:NAME" or "file:PATH" */
} obol_old_secret;

/* Bounds of the types= option: a list for people to write, not a data set. */
#define OBOL_MAX_TYPES 32
#define OBOL_MAX_TYPE_LEN 255

typedef struct obol_config {
    char *redacted_url;     /* the string with any password replaced by *** */
    char *scheme;           /* "redis+unix" */
    char *driver_name;      /* "redis": the scheme up to '+' (rediss: redis) */
    char *user;
    char *password;
    char *host;             /* NULL without "//" */
    uint16_t port;
    char *path;             /* NULL when empty or "/" */
    obol_driver_option *driver_options;
    size_t driver_option_count;

    /* Options of the core. */
    char *prefix;
    char *secret_source;    /* "env:NAME" or "file:PATH", or NULL */
    uint32_t key_id;
    uint32_t *old_key_ids;  /* old_key_ids=: verify-only ids derived from
                               the secret */
    size_t old_key_id_count;
    obol_old_secret *old_secrets;  /* old_secrets=: verify-only keys of
                                      retired secrets */
    size_t old_secret_count;
    int seal_mode;          /* OBOL_SEAL_MAC or OBOL_SEAL_AEAD */
    int allow_unsigned;
    uint64_t max_payload;
    uint64_t max_record;    /* longest sealed record a read takes in */
    int64_t refresh_grace_s;  /* obol_refresh(): a rotated-away token this
                                 recent is a race, not a reuse */
    char **types;           /* types=: the application's session types, as
                               listed (obol_delete_everywhere()); NULL: none */
    size_t type_count;
    int create;             /* create=0: the driver creates nothing
                               (OBOL_DRIVER_OPEN_EXISTING) */
    int require_key;        /* require_key=1: no signing key at open is
                               OBOL_ERR_KEY */
    int stats;              /* stats=0: no counters (obol_store_stats()) */
} obol_config;

/* Parses text into *out (zeroed first). On failure *out holds nothing and
 * err names the offending part. */
int obol_config_parse(const char *text, obol_config *out, obol_error *err);

void obol_config_clear(obol_config *config);

/* The key options (config_keys.c): old_key_ids=1,2 and
 * old_secrets=ID:env:NAME,ID:file:PATH, each refused with OBOL_ERR_INVALID
 * naming the entry; then the checks across options once all are read (an
 * id listed twice, an old id equal to key_id, old_key_ids without a
 * secret, more than OBOL_MAX_OLD_KEYS); and freeing what they hold. */
int obol_config_set_old_key_ids(obol_config *c, const char *value,
                                obol_error *err);
int obol_config_set_old_secrets(obol_config *c, const char *value,
                                obol_error *err);
int obol_config_check_keys(const obol_config *c, obol_error *err);
void obol_config_clear_keys(obol_config *c);

/* For tests only, and not thread-safe: the memory manager uriparser
 * allocates with while parsing (NULL: its default, malloc), so that a test
 * can fail its allocations and see OBOL_ERR_NOMEM come back. */
struct UriMemoryManagerStruct;
void obol_config_set_uri_memory(struct UriMemoryManagerStruct *memory);

/* The view of *config that a driver's open() receives. */
void obol_config_for_driver(const obol_config *config,
                            obol_driver_config *out);

#endif

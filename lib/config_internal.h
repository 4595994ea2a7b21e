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
#define OBOL_DEFAULT_REFRESH_GRACE_S 10
#define OBOL_MAX_REFRESH_GRACE_S 3600

/* Bounds of the types= option: a list for people to write, not a data set. */
#define OBOL_MAX_TYPES 32
#define OBOL_MAX_TYPE_LEN 255

typedef struct obol_config {
    char *redacted_url;     /* the string with any password replaced by *** */
    char *scheme;           /* "redis+unix" */
    char *driver_name;      /* "redis": the scheme up to '+' */
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
    int seal_mode;          /* OBOL_SEAL_MAC or OBOL_SEAL_AEAD */
    int allow_unsigned;
    uint64_t max_payload;
    int64_t refresh_grace_s;  /* obol_refresh(): a rotated-away token this
                                 recent is a race, not a reuse */
    char *driver_path;
    char **types;           /* types=: the application's session types, as
                               listed (obol_delete_everywhere()); NULL: none */
    size_t type_count;
} obol_config;

/* Parses text into *out (zeroed first). On failure *out holds nothing and
 * err names the offending part. */
int obol_config_parse(const char *text, obol_config *out, obol_error *err);

void obol_config_clear(obol_config *config);

/* The view of *config that a driver's open() receives. */
void obol_config_for_driver(const obol_config *config,
                            obol_driver_config *out);

#endif

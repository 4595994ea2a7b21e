/* Config string parsing; see config_internal.h and docs/CONFIG.md. */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include <uriparser/Uri.h>

#include "codec_internal.h"
#include "config_internal.h"
#include "errors_internal.h"
#include "parse_internal.h"
#include "seal_internal.h"

/* What uriparser allocates with: NULL for its default (malloc), or the
 * failing manager of a test (obol_config_set_uri_memory()). */
static UriMemoryManager *uri_memory;

void obol_config_set_uri_memory(struct UriMemoryManagerStruct *memory)
{
    uri_memory = memory;
}

/* A range of the input as uriparser hands it out. */
typedef struct text_range {
    const char *first;
    const char *after_last;
} text_range;

static text_range range_of(UriTextRangeA r)
{
    text_range out = { r.first, r.afterLast };
    return out;
}

/* Copies and percent-decodes a range. A decoded NUL would silently cut a
 * C string short, so it is refused. */
static int decode_range(text_range r, const char *what, char **out,
                        obol_error *err)
{
    size_t len = (size_t)(r.after_last - r.first);
    const char *end;
    char *text = malloc(len + 1);

    if (text == NULL)
        return obol_set_error(err, OBOL_ERR_NOMEM, "config: out of memory");
    memcpy(text, r.first, len);
    text[len] = '\0';
    end = uriUnescapeInPlaceExA(text, URI_FALSE, URI_BR_DONT_TOUCH);
    if ((size_t)(end - text) != strlen(text)) {
        free(text);
        return obol_set_error(err, OBOL_ERR_INVALID,
                              "config: %s contains an encoded NUL (%%00)", what);
    }
    *out = text;
    return OBOL_OK;
}

static int contains_encoded_nul(text_range r)
{
    for (const char *p = r.first; p + 2 < r.after_last; p++)
        if (p[0] == '%' && p[1] == '0' && p[2] == '0')
            return 1;
    return 0;
}

/* uriparser decodes options into C strings, where %00 would cut a name or
 * value short without a word; refuse it, naming the option as written. */
static int refuse_encoded_nul_options(text_range query, obol_error *err)
{
    const char *p = query.first;

    while (p < query.after_last) {
        const char *end = memchr(p, '&', (size_t)(query.after_last - p));
        const char *eq;

        if (end == NULL)
            end = query.after_last;
        eq = memchr(p, '=', (size_t)(end - p));
        if (contains_encoded_nul((text_range){ p, end }))
            return obol_set_error(err, OBOL_ERR_INVALID,
                                  "config: option '%.*s' contains an encoded "
                                  "NUL (%%00)", (int)((eq ? eq : end) - p), p);
        p = end + 1;
    }
    return OBOL_OK;
}

/*
 * The driver is named by the scheme up to '+', except for the spellings
 * of TLS that users know from elsewhere: rediss:// is what redis-cli and
 * every Redis client write. A driver of its own for those would be the
 * same code; a new driver's TLS variant needs no entry ("foo+tls").
 */
static const struct {
    const char *name;        /* the scheme up to '+' */
    const char *driver;
} scheme_drivers[] = {
    { "rediss", "redis" },
};

static char *driver_of_scheme(const char *scheme)
{
    size_t name_len = strcspn(scheme, "+");

    for (size_t i = 0; i < sizeof scheme_drivers / sizeof scheme_drivers[0];
         i++)
        if (strlen(scheme_drivers[i].name) == name_len &&
            strncmp(scheme, scheme_drivers[i].name, name_len) == 0)
            return strdup(scheme_drivers[i].driver);
    return strndup(scheme, name_len);
}

static int check_scheme(const char *scheme, obol_config *out, obol_error *err)
{
    if (!(scheme[0] >= 'a' && scheme[0] <= 'z') ||
        strspn(scheme, "abcdefghijklmnopqrstuvwxyz0123456789+") != strlen(scheme))
        return obol_set_error(err, OBOL_ERR_INVALID,
                              "config: scheme '%s' must be lower-case letters, "
                              "digits and '+', starting with a letter", scheme);
    out->driver_name = driver_of_scheme(scheme);
    if (out->driver_name == NULL)
        return obol_set_error(err, OBOL_ERR_NOMEM, "config: out of memory");
    return OBOL_OK;
}

static int parse_user_info(const UriUriA *uri, obol_config *out,
                           obol_error *err)
{
    text_range info = range_of(uri->userInfo);
    const char *colon;
    int status;

    if (info.first == NULL)
        return OBOL_OK;
    colon = memchr(info.first, ':', (size_t)(info.after_last - info.first));
    if (colon == NULL)
        return decode_range(info, "user", &out->user, err);
    status = decode_range((text_range){ info.first, colon }, "user",
                          &out->user, err);
    if (status == OBOL_OK)
        status = decode_range((text_range){ colon + 1, info.after_last },
                              "password", &out->password, err);
    if (status == OBOL_OK && out->user[0] == '\0') {
        free(out->user);
        out->user = NULL;
    }
    return status;
}

static int parse_port(const UriUriA *uri, obol_config *out, obol_error *err)
{
    text_range port = range_of(uri->portText);
    char digits[8];
    size_t len;
    uint64_t value;

    if (port.first == NULL)
        return OBOL_OK;
    len = (size_t)(port.after_last - port.first);
    if (len == 0)
        return obol_set_error(err, OBOL_ERR_INVALID,
                              "config: port is empty after ':'");
    if (len >= sizeof digits)
        len = sizeof digits - 1;   /* still too long: refused below */
    memcpy(digits, port.first, len);
    digits[len] = '\0';
    if (obol_parse_uint(digits, 65535, &value) != 0 || value == 0)
        return obol_set_error(err, OBOL_ERR_INVALID,
                              "config: port '%.*s' is not a number from 1 to 65535",
                              (int)(port.after_last - port.first), port.first);
    out->port = (uint16_t)value;
    return OBOL_OK;
}

static int parse_authority(const UriUriA *uri, obol_config *out,
                           obol_error *err)
{
    text_range host = range_of(uri->hostText);
    int status;

    if (host.first == NULL)
        return OBOL_OK;   /* "memory:" has no authority at all */
    status = decode_range(host, "host", &out->host, err);
    if (status == OBOL_OK)
        status = parse_user_info(uri, out, err);
    if (status == OBOL_OK)
        status = parse_port(uri, out, err);
    if (status == OBOL_OK && out->host[0] == '\0' &&
        (out->port != 0 || out->user != NULL || out->password != NULL))
        return obol_set_error(err, OBOL_ERR_INVALID,
                              "config: a port or user is given but the host is empty");
    return status;
}

/* Rebuilds the path from its decoded segments: "/var/lib/app". */
static int parse_path(const UriUriA *uri, obol_config *out, obol_error *err)
{
    size_t cap = 2, len = 0;
    int status = OBOL_OK;
    char *path;

    for (UriPathSegmentA *s = uri->pathHead; s != NULL; s = s->next)
        cap += (size_t)(s->text.afterLast - s->text.first) + 1;
    path = malloc(cap);
    if (path == NULL)
        return obol_set_error(err, OBOL_ERR_NOMEM, "config: out of memory");
    if (uri->absolutePath || uri->hostText.first != NULL)
        path[len++] = '/';
    for (UriPathSegmentA *s = uri->pathHead; s != NULL; s = s->next) {
        size_t n = (size_t)(s->text.afterLast - s->text.first);
        memcpy(path + len, s->text.first, n);
        len += n;
        if (s->next != NULL)
            path[len++] = '/';
    }
    path[len] = '\0';
    if (len > 0 && strcmp(path, "/") != 0)
        status = decode_range((text_range){ path, path + len }, "path",
                              &out->path, err);
    free(path);
    return status;
}

/* ------------------------------------------------------------ options */

static int replace_string(char **slot, const char *value, obol_error *err)
{
    char *copy = strdup(value);

    if (copy == NULL)
        return obol_set_error(err, OBOL_ERR_NOMEM, "config: out of memory");
    free(*slot);
    *slot = copy;
    return OBOL_OK;
}

static int set_prefix(obol_config *c, const char *value, obol_error *err)
{
    if (value[0] == '\0')
        return obol_set_error(err, OBOL_ERR_INVALID,
                              "config: option 'prefix' must not be empty");
    return replace_string(&c->prefix, value, err);
}

static int set_secret(obol_config *c, const char *value, obol_error *err)
{
    if (strncmp(value, "env:", 4) != 0 && strncmp(value, "file:", 5) != 0)
        return obol_set_error(err, OBOL_ERR_INVALID,
                              "config: option 'secret' must be env:NAME or "
                              "file:PATH (secrets never sit in the config string)");
    return replace_string(&c->secret_source, value, err);
}

static int set_key_id(obol_config *c, const char *value, obol_error *err)
{
    uint64_t id;

    if (obol_parse_uint(value, UINT32_MAX, &id) != 0)
        return obol_set_error(err, OBOL_ERR_INVALID,
                              "config: option 'key_id' must be a number from "
                              "0 to 4294967295, not '%s'", value);
    c->key_id = (uint32_t)id;
    return OBOL_OK;
}

static int set_seal(obol_config *c, const char *value, obol_error *err)
{
    if (strcmp(value, "mac") == 0)
        c->seal_mode = OBOL_SEAL_MAC;
    else if (strcmp(value, "aead") == 0)
        c->seal_mode = OBOL_SEAL_AEAD;
    else
        return obol_set_error(err, OBOL_ERR_INVALID,
                              "config: option 'seal' must be 'mac' or 'aead', "
                              "not '%s'", value);
    return OBOL_OK;
}

/* An option that is on or off: "0" or "1", nothing else (no "yes"
 * that a reader might take for something else). */
static int set_switch(const char *name, const char *value, int *out,
                      obol_error *err)
{
    if (strcmp(value, "0") != 0 && strcmp(value, "1") != 0)
        return obol_set_error(err, OBOL_ERR_INVALID,
                              "config: option '%s' must be 0 or 1, not '%s'",
                              name, value);
    *out = value[0] == '1';
    return OBOL_OK;
}

static int set_allow_unsigned(obol_config *c, const char *value,
                              obol_error *err)
{
    return set_switch("allow_unsigned", value, &c->allow_unsigned, err);
}

static int set_create(obol_config *c, const char *value, obol_error *err)
{
    return set_switch("create", value, &c->create, err);
}

static int set_require_key(obol_config *c, const char *value,
                           obol_error *err)
{
    return set_switch("require_key", value, &c->require_key, err);
}

static int set_stats(obol_config *c, const char *value, obol_error *err)
{
    return set_switch("stats", value, &c->stats, err);
}

static int set_max_payload(obol_config *c, const char *value, obol_error *err)
{
    /* The codec carries lengths in 32 bits' worth of room comfortably. */
    const uint64_t ceiling = 1ull << 30;

    if (obol_parse_size(value, &c->max_payload) != 0 ||
        c->max_payload > ceiling)
        return obol_set_error(err, OBOL_ERR_INVALID,
                              "config: option 'max_payload' must be a size up "
                              "to 1GiB such as 65536 or 64KiB, not '%s'", value);
    return OBOL_OK;
}

static int set_max_record(obol_config *c, const char *value, obol_error *err)
{
    if (obol_parse_size(value, &c->max_record) != 0 || c->max_record == 0 ||
        c->max_record > OBOL_MAX_RECORD_CEILING)
        return obol_set_error(err, OBOL_ERR_INVALID,
                              "config: option 'max_record' must be a size up "
                              "to 2GiB such as 131072 or 128KiB, not '%s'",
                              value);
    return OBOL_OK;
}

/* The largest record this store can write: every id at OBOL_MAX_ID_LEN,
 * a payload at max_payload, sealed with AEAD (the longer seal). A read
 * limit below it would refuse the store's own records; the default adds
 * a quarter (16 KiB at least) for records of older versions and other
 * settings, and an explicit one may not go below it. */
static int settle_max_record(obol_config *c, obol_error *err)
{
    uint64_t writable = obol_sealed_size(
        OBOL_SEAL_AEAD, obol_codec_max_encoded_size(c->max_payload));
    uint64_t margin = writable / 4 > 16384 ? writable / 4 : 16384;

    if (c->max_record == 0) {
        c->max_record = writable + margin;
        return OBOL_OK;
    }
    if (c->max_record < writable)
        return obol_set_error(err, OBOL_ERR_INVALID,
                              "config: option 'max_record' (%llu bytes) is "
                              "below the largest record this store can write "
                              "(%llu bytes with max_payload=%llu)",
                              (unsigned long long)c->max_record,
                              (unsigned long long)writable,
                              (unsigned long long)c->max_payload);
    return OBOL_OK;
}

static int set_refresh_grace(obol_config *c, const char *value,
                             obol_error *err)
{
    uint64_t seconds;

    if (obol_parse_uint(value, OBOL_MAX_REFRESH_GRACE_S, &seconds) != 0)
        return obol_set_error(err, OBOL_ERR_INVALID,
                              "config: option 'refresh_grace_s' must be a "
                              "number of seconds from 0 to %d, not '%s'",
                              OBOL_MAX_REFRESH_GRACE_S, value);
    c->refresh_grace_s = (int64_t)seconds;
    return OBOL_OK;
}

static void free_types(char **types, size_t count)
{
    for (size_t i = 0; i < count; i++)
        free(types[i]);
    free(types);
}

/* Whether the first len bytes at name may join the count types before
 * them; an error names the type and what is wrong with it. */
static int check_type(char *const *types, size_t count, const char *name,
                      size_t len, obol_error *err)
{
    if (len == 0)
        return obol_set_error(err, OBOL_ERR_INVALID,
                              "config: option 'types': type %zu is empty "
                              "(write types=full,oauth2,...)", count + 1);
    if (len > OBOL_MAX_TYPE_LEN)
        return obol_set_error(err, OBOL_ERR_INVALID,
                              "config: option 'types': type %zu is longer "
                              "than %d bytes", count + 1, OBOL_MAX_TYPE_LEN);
    for (size_t i = 0; i < count; i++) {
        if (strlen(types[i]) == len && memcmp(types[i], name, len) == 0) {
            obol_bytes bytes = { (const uint8_t *)name, len };
            char shown[64];

            return obol_set_error(err, OBOL_ERR_INVALID,
                                  "config: option 'types' lists '%s' twice",
                                  obol_printable(bytes, shown, sizeof shown));
        }
    }
    return OBOL_OK;
}

/* types=full,oauth2: the session types the application writes, which
 * obol_delete_everywhere() deletes. Split after percent-decoding, so a
 * type holding ',' cannot be listed. */
static int set_types(obol_config *c, const char *value, obol_error *err)
{
    size_t listed = 1, count = 0;
    const char *name = value;
    char **types;

    for (const char *p = value; *p != '\0'; p++)
        listed += *p == ',';
    if (listed > OBOL_MAX_TYPES)
        return obol_set_error(err, OBOL_ERR_INVALID,
                              "config: option 'types' lists %zu types; at "
                              "most %d", listed, OBOL_MAX_TYPES);
    types = calloc(listed, sizeof *types);
    if (types == NULL)
        return obol_set_error(err, OBOL_ERR_NOMEM, "config: out of memory");
    for (; count < listed; count++) {
        size_t len = strcspn(name, ",");
        int status = check_type(types, count, name, len, err);

        if (status == OBOL_OK && (types[count] = strndup(name, len)) == NULL)
            status = obol_set_error(err, OBOL_ERR_NOMEM,
                                    "config: out of memory");
        if (status != OBOL_OK) {
            free_types(types, count);
            return status;
        }
        name += len + 1;
    }
    free_types(c->types, c->type_count);
    c->types = types;
    c->type_count = count;
    return OBOL_OK;
}

static const struct core_option {
    const char *name;
    int (*set)(obol_config *c, const char *value, obol_error *err);
} core_options[] = {
    { "prefix", set_prefix },
    { "secret", set_secret },
    { "key_id", set_key_id },
    { "old_key_ids", obol_config_set_old_key_ids },
    { "old_secrets", obol_config_set_old_secrets },
    { "seal", set_seal },
    { "allow_unsigned", set_allow_unsigned },
    { "max_payload", set_max_payload },
    { "max_record", set_max_record },
    { "refresh_grace_s", set_refresh_grace },
    { "types", set_types },
    { "create", set_create },
    { "require_key", set_require_key },
    { "stats", set_stats },
};

static const struct core_option *find_core_option(const char *name)
{
    for (size_t i = 0; i < sizeof core_options / sizeof core_options[0]; i++)
        if (strcmp(core_options[i].name, name) == 0)
            return &core_options[i];
    return NULL;
}

static int add_driver_option(obol_config *c, const char *key,
                             const char *value, obol_error *err)
{
    obol_driver_option *bigger;
    obol_driver_option *slot;

    bigger = realloc(c->driver_options,
                     (c->driver_option_count + 1) * sizeof *bigger);
    if (bigger == NULL)
        return obol_set_error(err, OBOL_ERR_NOMEM, "config: out of memory");
    c->driver_options = bigger;
    slot = &bigger[c->driver_option_count];
    slot->key = strdup(key);
    slot->value = strdup(value);
    if (slot->key == NULL || slot->value == NULL) {
        free((char *)slot->key);
        free((char *)slot->value);
        return obol_set_error(err, OBOL_ERR_NOMEM, "config: out of memory");
    }
    c->driver_option_count++;
    return OBOL_OK;
}

static int check_option(const UriQueryListA *item, const UriQueryListA *list,
                        obol_error *err)
{
    /* Whoever writes a config string (an environment variable, a config
     * file, an admin page) must not choose which code the process runs. */
    if (item->key != NULL && strcmp(item->key, "driver_path") == 0)
        return obol_set_error(err, OBOL_ERR_INVALID,
                              "config: option 'driver_path' is refused: a "
                              "config string may not choose where code is "
                              "loaded from; the application names driver "
                              "directories with obol_set_driver_path()");
    if (item->key == NULL || item->key[0] == '\0')
        return obol_set_error(err, OBOL_ERR_INVALID,
                              "config: an option has no name");
    if (item->value == NULL)
        return obol_set_error(err, OBOL_ERR_INVALID,
                              "config: option '%s' has no value (write %s=...)",
                              item->key, item->key);
    for (const UriQueryListA *other = list; other != item; other = other->next)
        if (strcmp(other->key, item->key) == 0)
            return obol_set_error(err, OBOL_ERR_INVALID,
                                  "config: option '%s' is given twice",
                                  item->key);
    return OBOL_OK;
}

static int parse_options(const UriUriA *uri, obol_config *out, obol_error *err)
{
    UriQueryListA *list = NULL;
    int count = 0, uri_status;
    int status = OBOL_OK;

    if (uri->query.first == NULL || uri->query.first == uri->query.afterLast)
        return OBOL_OK;
    status = refuse_encoded_nul_options(range_of(uri->query), err);
    if (status != OBOL_OK)
        return status;
    uri_status = uriDissectQueryMallocExMmA(&list, &count, uri->query.first,
                                            uri->query.afterLast, URI_FALSE,
                                            URI_BR_DONT_TOUCH, uri_memory);
    if (uri_status == URI_ERROR_MALLOC)
        return obol_set_error(err, OBOL_ERR_NOMEM,
                              "config: out of memory splitting the options");
    if (uri_status != URI_SUCCESS)
        return obol_set_error(err, OBOL_ERR_INVALID,
                              "config: the options after '?' are malformed");
    for (const UriQueryListA *item = list; item && status == OBOL_OK;
         item = item->next) {
        const struct core_option *core;

        status = check_option(item, list, err);
        if (status != OBOL_OK)
            break;
        core = find_core_option(item->key);
        status = core != NULL ? core->set(out, item->value, err)
                              : add_driver_option(out, item->key, item->value, err);
    }
    uriFreeQueryListMmA(list, uri_memory);
    return status;
}

/* ------------------------------------------------------------ the whole */

/* The string as it may appear in messages: the password is masked. */
static int redact(const char *text, const UriUriA *uri, obol_config *out,
                  obol_error *err)
{
    const char *info = uri->userInfo.first;
    const char *colon = info ? memchr(info, ':', (size_t)(uri->userInfo.afterLast - info)) : NULL;
    size_t head, tail_len;

    if (colon == NULL)
        return replace_string(&out->redacted_url, text, err);
    head = (size_t)(colon + 1 - text);
    tail_len = strlen(uri->userInfo.afterLast);
    out->redacted_url = malloc(head + 3 + tail_len + 1);
    if (out->redacted_url == NULL)
        return obol_set_error(err, OBOL_ERR_NOMEM, "config: out of memory");
    memcpy(out->redacted_url, text, head);
    memcpy(out->redacted_url + head, "***", 3);
    memcpy(out->redacted_url + head + 3, uri->userInfo.afterLast, tail_len + 1);
    return OBOL_OK;
}

/* RFC 3986 ends the query at '#' and uriparser drops the fragment after
 * it; an option written there (seal=aead) would be lost without a word.
 * A '#' has no other place in a URL, so any literal one is refused. */
static int refuse_fragment(const char *text, obol_error *err)
{
    const char *hash = strchr(text, '#');

    if (hash == NULL)
        return OBOL_OK;
    return obol_set_error(err, OBOL_ERR_INVALID,
                          "config: '#' at character %zu starts a URL "
                          "fragment, which obol does not accept (write a "
                          "'#' in a value as %%23)", (size_t)(hash - text) + 1);
}

static int parse_uri(const char *text, obol_config *out, obol_error *err)
{
    UriUriA uri;
    const char *error_pos = NULL;
    int status = refuse_fragment(text, err), uri_status;

    if (status != OBOL_OK)
        return status;
    /* uriparser 0.9.7 takes no NULL end here, despite its documentation. */
    uri_status = uriParseSingleUriExMmA(&uri, text, text + strlen(text),
                                        &error_pos, uri_memory);
    if (uri_status == URI_ERROR_MALLOC)
        return obol_set_error(err, OBOL_ERR_NOMEM,
                              "config: out of memory parsing the string");
    if (uri_status != URI_SUCCESS) {
        size_t at = error_pos ? (size_t)(error_pos - text) : 0;
        /* Only the offending character: the rest may hold a password. */
        if (error_pos != NULL && *error_pos != '\0')
            return obol_set_error(err, OBOL_ERR_INVALID,
                                  "config: malformed at character %zu ('%c')",
                                  at + 1, *error_pos);
        return obol_set_error(err, OBOL_ERR_INVALID,
                              "config: malformed at character %zu", at + 1);
    }
    if (uri.scheme.first == NULL) {
        uriFreeUriMembersMmA(&uri, uri_memory);
        return obol_set_error(err, OBOL_ERR_INVALID,
                              "config: the string has no scheme (lmdb:, "
                              "redis:, memory:, ...)");
    }
    status = decode_range(range_of(uri.scheme), "scheme", &out->scheme, err);
    if (status == OBOL_OK)
        status = check_scheme(out->scheme, out, err);
    if (status == OBOL_OK)
        status = parse_authority(&uri, out, err);
    if (status == OBOL_OK)
        status = parse_path(&uri, out, err);
    if (status == OBOL_OK)
        status = parse_options(&uri, out, err);
    if (status == OBOL_OK)
        status = redact(text, &uri, out, err);
    uriFreeUriMembersMmA(&uri, uri_memory);
    return status;
}

int obol_config_parse(const char *text, obol_config *out, obol_error *err)
{
    int status;

    memset(out, 0, sizeof *out);
    if (text == NULL || text[0] == '\0')
        return obol_set_error(err, OBOL_ERR_INVALID, "config: the string is empty");
    out->seal_mode = OBOL_SEAL_MAC;
    out->max_payload = OBOL_DEFAULT_MAX_PAYLOAD;
    out->refresh_grace_s = OBOL_DEFAULT_REFRESH_GRACE_S;
    out->key_id = 1;
    out->create = 1;
    out->stats = 1;
    status = parse_uri(text, out, err);
    if (status == OBOL_OK && out->prefix == NULL)
        status = replace_string(&out->prefix, OBOL_DEFAULT_PREFIX, err);
    if (status == OBOL_OK)
        status = obol_config_check_keys(out, err);
    if (status == OBOL_OK)
        status = settle_max_record(out, err);
    if (status != OBOL_OK)
        obol_config_clear(out);
    return status;
}

void obol_config_clear(obol_config *c)
{
    if (c == NULL)
        return;
    free(c->redacted_url);
    free(c->scheme);
    free(c->driver_name);
    free(c->user);
    if (c->password != NULL)   /* the one secret a config string may hold */
        explicit_bzero(c->password, strlen(c->password));
    free(c->password);
    free(c->host);
    free(c->path);
    for (size_t i = 0; i < c->driver_option_count; i++) {
        free((char *)c->driver_options[i].key);
        free((char *)c->driver_options[i].value);
    }
    free(c->driver_options);
    free(c->prefix);
    free(c->secret_source);
    obol_config_clear_keys(c);
    free_types(c->types, c->type_count);
    memset(c, 0, sizeof *c);
}

void obol_config_for_driver(const obol_config *c, obol_driver_config *out)
{
    memset(out, 0, sizeof *out);
    out->struct_size = sizeof *out;
    out->url = c->redacted_url;
    out->scheme = c->scheme;
    out->user = c->user;
    out->password = c->password;
    out->host = c->host;
    out->port = c->port;
    out->path = c->path;
    out->options = c->driver_options;
    out->option_count = c->driver_option_count;
    out->prefix.data = (const uint8_t *)c->prefix;
    out->prefix.len = strlen(c->prefix);
    out->max_record = c->max_record;
    out->open_flags = c->create ? 0 : OBOL_DRIVER_OPEN_EXISTING;
}

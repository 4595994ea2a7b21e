/*
 * The key options of the config string: which old keys a store keeps
 * verifying besides the one it signs with (see config_internal.h and
 * docs/CONFIG.md, "Key rotation").
 *
 *   old_key_ids=1,2                        derived from the current secret
 *   old_secrets=3:env:OLD,4:file:/etc/old  derived from retired secrets
 *
 * Lists are split at ',' after percent-decoding, so no entry can hold a
 * comma (a path with one cannot be listed): every string has one reading.
 * Messages name the option and the entry's position, and never echo an
 * old_secrets entry, which might be a secret written there by mistake.
 */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include "config_internal.h"
#include "errors_internal.h"
#include "parse_internal.h"

/* Digits of the largest key id, 4294967295. */
#define KEY_ID_DIGITS 10

static size_t entries_in(const char *value)
{
    size_t count = 1;

    for (const char *p = value; *p != '\0'; p++)
        count += *p == ',';
    return count;
}

/* Reads the len bytes at text as a key id; 0, or -1 when they are not one. */
static int read_key_id(const char *text, size_t len, uint32_t *out)
{
    char digits[KEY_ID_DIGITS + 1];
    uint64_t value;

    if (len == 0 || len > KEY_ID_DIGITS)
        return -1;
    memcpy(digits, text, len);
    digits[len] = '\0';
    if (obol_parse_uint(digits, UINT32_MAX, &value) != 0)
        return -1;
    *out = (uint32_t)value;
    return 0;
}

static int check_count(const char *option, size_t count, obol_error *err)
{
    if (count > OBOL_MAX_OLD_KEYS)
        return obol_set_error(err, OBOL_ERR_INVALID,
                              "config: option '%s' lists %zu old keys; at "
                              "most %d", option, count, OBOL_MAX_OLD_KEYS);
    return OBOL_OK;
}

int obol_config_set_old_key_ids(obol_config *c, const char *value,
                                obol_error *err)
{
    size_t listed = entries_in(value);
    const char *entry = value;
    uint32_t *ids;
    int status = check_count("old_key_ids", listed, err);

    if (status != OBOL_OK)
        return status;
    ids = calloc(listed, sizeof *ids);
    if (ids == NULL)
        return obol_set_error(err, OBOL_ERR_NOMEM, "config: out of memory");
    for (size_t i = 0; i < listed && status == OBOL_OK; i++) {
        size_t len = strcspn(entry, ",");

        if (len == 0)
            status = obol_set_error(err, OBOL_ERR_INVALID,
                                    "config: option 'old_key_ids': entry %zu "
                                    "is empty (write old_key_ids=1,2)", i + 1);
        else if (read_key_id(entry, len, &ids[i]) != 0)
            status = obol_set_error(err, OBOL_ERR_INVALID,
                                    "config: option 'old_key_ids': '%.*s' is "
                                    "not a key id from 0 to 4294967295",
                                    (int)len, entry);
        for (size_t j = 0; j < i && status == OBOL_OK; j++)
            if (ids[j] == ids[i])
                status = obol_set_error(err, OBOL_ERR_INVALID,
                                        "config: option 'old_key_ids' lists "
                                        "key id %u twice", ids[i]);
        entry += len + 1;
    }
    if (status != OBOL_OK) {
        free(ids);
        return status;
    }
    free(c->old_key_ids);
    c->old_key_ids = ids;
    c->old_key_id_count = listed;
    return OBOL_OK;
}

static void free_old_secrets(obol_old_secret *secrets, size_t count)
{
    for (size_t i = 0; i < count; i++)
        free(secrets[i].source);
    free(secrets);
}

/* Whether text (len bytes) is env:NAME or file:PATH with a non-empty rest,
 * the sources secret= takes. */
static int is_secret_source(const char *text, size_t len)
{
    return (len > 4 && strncmp(text, "env:", 4) == 0) ||
           (len > 5 && strncmp(text, "file:", 5) == 0);
}

/* One entry "ID:SOURCE" of old_secrets, the number-th, into *out. */
static int read_old_secret(const char *entry, size_t len, size_t number,
                           obol_old_secret *out, obol_error *err)
{
    const char *colon = memchr(entry, ':', len);
    size_t source_len;

    if (colon == NULL || !is_secret_source(colon + 1,
                                           (size_t)(entry + len - colon - 1)))
        return obol_set_error(err, OBOL_ERR_INVALID,
                              "config: option 'old_secrets': entry %zu must be "
                              "ID:env:NAME or ID:file:PATH (secrets never sit "
                              "in the config string)", number);
    if (read_key_id(entry, (size_t)(colon - entry), &out->key_id) != 0)
        return obol_set_error(err, OBOL_ERR_INVALID,
                              "config: option 'old_secrets': entry %zu: the key "
                              "id before ':' must be a number from 0 to "
                              "4294967295", number);
    source_len = (size_t)(entry + len - colon - 1);
    out->source = strndup(colon + 1, source_len);
    if (out->source == NULL)
        return obol_set_error(err, OBOL_ERR_NOMEM, "config: out of memory");
    return OBOL_OK;
}

int obol_config_set_old_secrets(obol_config *c, const char *value,
                                obol_error *err)
{
    size_t listed = entries_in(value), count = 0;
    const char *entry = value;
    obol_old_secret *secrets;
    int status = check_count("old_secrets", listed, err);

    if (status != OBOL_OK)
        return status;
    secrets = calloc(listed, sizeof *secrets);
    if (secrets == NULL)
        return obol_set_error(err, OBOL_ERR_NOMEM, "config: out of memory");
    for (; count < listed && status == OBOL_OK; count++) {
        size_t len = strcspn(entry, ",");

        status = read_old_secret(entry, len, count + 1, &secrets[count], err);
        for (size_t j = 0; j < count && status == OBOL_OK; j++)
            if (secrets[j].key_id == secrets[count].key_id)
                status = obol_set_error(err, OBOL_ERR_INVALID,
                                        "config: option 'old_secrets' lists "
                                        "key id %u twice",
                                        secrets[count].key_id);
        entry += len + 1;
    }
    if (status != OBOL_OK) {
        free_old_secrets(secrets, count);
        return status;
    }
    free_old_secrets(c->old_secrets, c->old_secret_count);
    c->old_secrets = secrets;
    c->old_secret_count = count;
    return OBOL_OK;
}

/* An old id may not be the signing one: the signing key would replace it
 * (or it the signing key), and one of the two would silently not verify. */
static int check_not_signing(const obol_config *c, const char *option,
                             uint32_t id, obol_error *err)
{
    if (c->secret_source != NULL && id == c->key_id)
        return obol_set_error(err, OBOL_ERR_INVALID,
                              "config: option '%s' lists key id %u, which is "
                              "key_id, the signing one (a new key needs a new "
                              "key id)", option, id);
    return OBOL_OK;
}

int obol_config_check_keys(const obol_config *c, obol_error *err)
{
    size_t total = c->old_key_id_count + c->old_secret_count;
    int status = OBOL_OK;

    if (c->old_key_id_count > 0 && c->secret_source == NULL)
        return obol_set_error(err, OBOL_ERR_INVALID,
                              "config: option 'old_key_ids' derives keys from "
                              "the base secret, but no secret= is given");
    if (total > OBOL_MAX_OLD_KEYS)
        return obol_set_error(err, OBOL_ERR_INVALID,
                              "config: options 'old_key_ids' and 'old_secrets' "
                              "list %zu old keys together; at most %d", total,
                              OBOL_MAX_OLD_KEYS);
    for (size_t i = 0; i < c->old_key_id_count && status == OBOL_OK; i++)
        status = check_not_signing(c, "old_key_ids", c->old_key_ids[i], err);
    for (size_t i = 0; i < c->old_secret_count && status == OBOL_OK; i++) {
        uint32_t id = c->old_secrets[i].key_id;

        status = check_not_signing(c, "old_secrets", id, err);
        for (size_t j = 0; j < c->old_key_id_count && status == OBOL_OK; j++)
            if (c->old_key_ids[j] == id)
                status = obol_set_error(err, OBOL_ERR_INVALID,
                                        "config: key id %u is listed in both "
                                        "'old_key_ids' and 'old_secrets'", id);
    }
    return status;
}

void obol_config_clear_keys(obol_config *c)
{
    free(c->old_key_ids);
    c->old_key_ids = NULL;
    c->old_key_id_count = 0;
    free_old_secrets(c->old_secrets, c->old_secret_count);
    c->old_secrets = NULL;
    c->old_secret_count = 0;
}

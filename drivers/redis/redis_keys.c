/* Injective, Cluster-friendly key names; the layout is in redis_keys.h. */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include "redis_keys.h"

const char *const redis_key_suffix[3] = { ":rec", ":exp", ":lock" };

static const char hex_digits[] = "0123456789ABCDEF";

/* Bytes written as themselves: enough for readable e-mail addresses, uuids
 * and base64/base64url ids, and none of ':', '{', '}', '%', ' ', '*', '?',
 * '[', ']', '\\' or '^', which are separators, hash-tag braces, the escape
 * itself or special in SCAN MATCH patterns. */
static int is_plain(uint8_t c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
           (c >= '0' && c <= '9') || c == '-' || c == '.' || c == '_' ||
           c == '~' || c == '@' || c == '+' || c == '=' || c == ',' ||
           c == '/';
}

size_t redis_escape(char *out, const uint8_t *data, size_t len)
{
    size_t n = 0;

    for (size_t i = 0; i < len; i++) {
        if (is_plain(data[i])) {
            if (out != NULL)
                out[n] = (char)data[i];
            n += 1;
        } else {
            if (out != NULL) {
                out[n] = '%';
                out[n + 1] = hex_digits[data[i] >> 4];
                out[n + 2] = hex_digits[data[i] & 15];
            }
            n += 3;
        }
    }
    return n;
}

int redis_keys_build(redis_keys *keys, const char *escaped_prefix,
                     obol_bytes user, obol_bytes type)
{
    size_t prefix_len = strlen(escaped_prefix);
    size_t user_len = redis_escape(NULL, user.data, user.len);
    size_t type_len = redis_escape(NULL, type.data, type.len);
    size_t base_len = prefix_len + 2 + user_len + 1 + type_len + 1;
    size_t total = 0;
    char *p;

    for (int k = 0; k < 3; k++)
        total += base_len + strlen(redis_key_suffix[k]) + 1;
    keys->heap = NULL;
    p = keys->small;
    if (total > sizeof keys->small) {
        keys->heap = malloc(total);
        if (keys->heap == NULL)
            return -1;
        p = keys->heap;
    }

    /* The first name is written in full; the other two copy its base. */
    memcpy(p, escaped_prefix, prefix_len);
    memcpy(p + prefix_len, ":{", 2);
    redis_escape(p + prefix_len + 2, user.data, user.len);
    p[prefix_len + 2 + user_len] = ':';
    redis_escape(p + prefix_len + 3 + user_len, type.data, type.len);
    p[base_len - 1] = '}';
    for (int k = 0; k < 3; k++) {
        size_t suffix_len = strlen(redis_key_suffix[k]);
        if (k > 0)
            memcpy(p, keys->name[0], base_len);
        memcpy(p + base_len, redis_key_suffix[k], suffix_len + 1);
        keys->name[k] = p;
        keys->len[k] = base_len + suffix_len;
        p += keys->len[k] + 1;
    }
    return 0;
}

void redis_keys_clear(redis_keys *keys)
{
    free(keys->heap);
    keys->heap = NULL;
}

static int hex_value(char c)
{
    const char *at = c != '\0' ? strchr(hex_digits, c) : NULL;
    return at != NULL ? (int)(at - hex_digits) : -1;
}

/* Decodes text[0, len) into a fresh buffer; refuses anything redis_escape()
 * would not have written, so that each byte string has one name only. */
static int unescape(const char *text, size_t len, uint8_t **out,
                    size_t *out_len)
{
    uint8_t *buf = malloc(len + 1);
    size_t n = 0;

    if (buf == NULL)
        return -1;
    for (size_t i = 0; i < len; i++) {
        uint8_t c = (uint8_t)text[i];
        if (c == '%') {
            int high = i + 2 < len ? hex_value(text[i + 1]) : -1;
            int low = i + 2 < len ? hex_value(text[i + 2]) : -1;
            if (high < 0 || low < 0)
                goto refuse;
            c = (uint8_t)(high << 4 | low);
            if (is_plain(c))
                goto refuse;
            i += 2;
        } else if (!is_plain(c)) {
            goto refuse;
        }
        buf[n++] = c;
    }
    *out = buf;
    *out_len = n;
    return 0;
refuse:
    free(buf);
    return -1;
}

int redis_keys_parse(const char *name, size_t name_len,
                     const char *escaped_prefix, const char *suffix,
                     uint8_t **user, size_t *user_len,
                     uint8_t **type, size_t *type_len)
{
    size_t prefix_len = strlen(escaped_prefix);
    size_t suffix_len = strlen(suffix);
    const char *inner, *colon, *end;

    if (name_len < prefix_len + 4 + suffix_len ||
        memcmp(name, escaped_prefix, prefix_len) != 0 ||
        memcmp(name + prefix_len, ":{", 2) != 0 ||
        memcmp(name + name_len - suffix_len - 1, "}", 1) != 0 ||
        memcmp(name + name_len - suffix_len, suffix, suffix_len) != 0)
        return -1;
    inner = name + prefix_len + 2;
    end = name + name_len - suffix_len - 1;
    colon = memchr(inner, ':', (size_t)(end - inner));
    if (colon == NULL)
        return -1;
    if (unescape(inner, (size_t)(colon - inner), user, user_len) != 0)
        return -1;
    if (unescape(colon + 1, (size_t)(end - colon - 1), type, type_len) != 0) {
        free(*user);
        *user = NULL;
        return -1;
    }
    return 0;
}

char *redis_keys_pattern(const char *escaped_prefix, const char *suffix)
{
    size_t prefix_len = strlen(escaped_prefix);
    size_t suffix_len = strlen(suffix);
    char *pattern = malloc(prefix_len + 4 + suffix_len + 1);

    if (pattern == NULL)
        return NULL;
    memcpy(pattern, escaped_prefix, prefix_len);
    memcpy(pattern + prefix_len, ":{*}", 4);
    memcpy(pattern + prefix_len + 4, suffix, suffix_len + 1);
    return pattern;
}

int redis_keys_prefix_of(const char *name, size_t name_len,
                         const char *suffix, uint8_t **prefix,
                         size_t *prefix_len, int *out_of_memory)
{
    const char *colon = memchr(name, ':', name_len);
    uint8_t *user = NULL, *type = NULL;
    size_t user_len, type_len, escaped_len;
    char *escaped;
    int status;

    *out_of_memory = 0;
    if (colon == NULL || colon == name)
        return -1;
    escaped_len = (size_t)(colon - name);
    escaped = malloc(escaped_len + 1);
    if (escaped == NULL) {
        *out_of_memory = 1;
        return -1;
    }
    memcpy(escaped, name, escaped_len);
    escaped[escaped_len] = '\0';
    /* The whole name must be ours, not only its start. */
    status = redis_keys_parse(name, name_len, escaped, suffix, &user,
                              &user_len, &type, &type_len);
    free(user);
    free(type);
    if (status == 0)
        status = unescape(escaped, escaped_len, prefix, prefix_len);
    free(escaped);
    return status;
}

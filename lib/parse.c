/* Strict number parsing: no atoi, no sign, no trailing junk, no overflow. */
#include "config.h"

#include <stddef.h>
#include <strings.h>

#include "parse_internal.h"

/* Reads the leading digits of text into *out; returns the first non-digit,
 * or NULL when there is no digit or the value exceeds max. */
static const char *read_digits(const char *text, uint64_t max, uint64_t *out)
{
    uint64_t value = 0;
    const char *p = text;

    for (; *p >= '0' && *p <= '9'; p++) {
        uint64_t digit = (uint64_t)(*p - '0');
        if (digit > max || value > (max - digit) / 10)
            return NULL;
        value = value * 10 + digit;
    }
    if (p == text)
        return NULL;
    *out = value;
    return p;
}

int obol_parse_uint(const char *text, uint64_t max, uint64_t *out)
{
    uint64_t value;
    const char *end;

    if (text == NULL || out == NULL)
        return -1;
    end = read_digits(text, max, &value);
    if (end == NULL || *end != '\0')
        return -1;
    *out = value;
    return 0;
}

static const struct {
    const char *name;
    uint64_t factor;
} size_units[] = {
    { "", 1 }, { "B", 1 },
    { "KB", 1000ull }, { "MB", 1000ull * 1000 }, { "GB", 1000ull * 1000 * 1000 },
    { "TB", 1000ull * 1000 * 1000 * 1000 },
    { "K", 1024ull }, { "M", 1024ull * 1024 }, { "G", 1024ull * 1024 * 1024 },
    { "KiB", 1024ull }, { "MiB", 1024ull * 1024 }, { "GiB", 1024ull * 1024 * 1024 },
    { "TiB", 1024ull * 1024 * 1024 * 1024 },
};

int obol_parse_size(const char *text, uint64_t *out)
{
    uint64_t value;
    const char *unit;

    if (text == NULL || out == NULL)
        return -1;
    unit = read_digits(text, UINT64_MAX, &value);
    if (unit == NULL)
        return -1;
    for (size_t i = 0; i < sizeof size_units / sizeof size_units[0]; i++) {
        uint64_t factor = size_units[i].factor;
        if (strcasecmp(unit, size_units[i].name) != 0)
            continue;
        if (value > UINT64_MAX / factor)
            return -1;
        *out = value * factor;
        return 0;
    }
    return -1;
}

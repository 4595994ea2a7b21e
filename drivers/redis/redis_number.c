/* The numbers of a list script reply; see redis_number.h. */
#include "config.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "redis_number.h"

/* Up to 15 digits, with an optional '-', are read by hand: strtod()
 * would give the same number, since every integer under 10^15 is exact
 * in a double, at several times the cost (it showed in a profile of
 * get_all). */
#define PLAIN_SCORE_DIGITS 15
/* strtoull() takes the 20 digits of UINT64_MAX; 19 never overflow. */
#define PLAIN_LOCK_DIGITS 19

/* text is 1 to max digits and nothing else: 1 with *value, else 0. */
static int plain_digits(const char *text, size_t len, size_t max,
                        uint64_t *value)
{
    uint64_t n = 0;

    if (len == 0 || len > max)
        return 0;
    for (size_t i = 0; i < len; i++) {
        if (text[i] < '0' || text[i] > '9')
            return 0;
        n = n * 10 + (uint64_t)(text[i] - '0');
    }
    *value = n;
    return 1;
}

/* Any other score: "inf", a fraction, an exponent, what strtod() takes. */
static int64_t parsed_expires_at(const char *text, size_t len)
{
    char number[64];
    char *end;
    double value;

    if (len == 0 || len >= sizeof number)
        return 0;
    memcpy(number, text, len);
    number[len] = '\0';
    if (strcmp(number, "inf") == 0)
        return INT64_MAX;
    value = strtod(number, &end);
    /* NaN ("nan", "-nan") is no time: converting it to an integer is
     * undefined, so it reads as damaged. */
    if (*end != '\0' || isnan(value))
        return 0;
    if (value >= 9223372036854775807.0)
        return INT64_MAX;
    if (value <= -9223372036854775807.0)
        return INT64_MIN;
    return (int64_t)value;
}

int64_t redis_number_expires_at(const char *text, size_t len)
{
    int negative = len > 0 && text[0] == '-';
    uint64_t whole;

    if (plain_digits(text + negative, len - (size_t)negative,
                     PLAIN_SCORE_DIGITS, &whole))
        return negative ? -(int64_t)whole : (int64_t)whole;
    return parsed_expires_at(text, len);
}

uint64_t redis_number_lock_version(const char *text, size_t len)
{
    char number[32];
    uint64_t value;

    if (plain_digits(text, len, PLAIN_LOCK_DIGITS, &value))
        return value;
    if (len == 0 || len >= sizeof number)
        return 0;
    memcpy(number, text, len);
    number[len] = '\0';
    return strtoull(number, NULL, 10);
}

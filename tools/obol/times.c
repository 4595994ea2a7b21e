/*
 * Times for people and for JSON: ISO-8601 in UTC with a four-digit year,
 * "infinity" for OBOL_INFINITE. The calendar arithmetic is done here on
 * int64_t instead of with gmtime()/timegm(), so that every value of the
 * year range 0000-9999 converts both ways whatever time_t is, and values
 * outside it are left as numbers rather than wrapped.
 */
#include "config.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "cli.h"

#define SECONDS_PER_DAY 86400

/* Days since 1970-01-01 of a proleptic Gregorian date (March-based years
 * make the leap day the last day of a year). */
static int64_t days_from_civil(int64_t year, int month, int day)
{
    int64_t era, year_of_era, day_of_year, day_of_era;

    year -= month <= 2;
    era = (year >= 0 ? year : year - 399) / 400;
    year_of_era = year - era * 400;
    day_of_year = (153 * (month > 2 ? month - 3 : month + 9) + 2) / 5 + day - 1;
    day_of_era = year_of_era * 365 + year_of_era / 4 - year_of_era / 100 +
                 day_of_year;
    return era * 146097 + day_of_era - 719468;
}

static void civil_from_days(int64_t days, int64_t *year, int *month, int *day)
{
    int64_t era, day_of_era, year_of_era, day_of_year, month_index;

    days += 719468;
    era = (days >= 0 ? days : days - 146096) / 146097;
    day_of_era = days - era * 146097;
    year_of_era = (day_of_era - day_of_era / 1460 + day_of_era / 36524 -
                   day_of_era / 146096) / 365;
    day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 -
                                year_of_era / 100);
    month_index = (5 * day_of_year + 2) / 153;
    *day = (int)(day_of_year - (153 * month_index + 2) / 5 + 1);
    *month = (int)(month_index < 10 ? month_index + 3 : month_index - 9);
    *year = year_of_era + era * 400 + (*month <= 2);
}

/* The span a four-digit year can show. */
static int64_t first_iso_second(void)
{
    return days_from_civil(0, 1, 1) * SECONDS_PER_DAY;
}

static int64_t last_iso_second(void)
{
    return days_from_civil(10000, 1, 1) * SECONDS_PER_DAY - 1;
}

int cli_time_is_iso(int64_t t)
{
    return t != OBOL_INFINITE && t >= first_iso_second() && t <= last_iso_second();
}

const char *cli_format_time(int64_t t, char buf[CLI_TIME_MAX])
{
    int64_t days, seconds, year;
    int month, day;

    if (t == OBOL_INFINITE) {
        snprintf(buf, CLI_TIME_MAX, "infinity");
        return buf;
    }
    if (!cli_time_is_iso(t)) {
        snprintf(buf, CLI_TIME_MAX, "%" PRId64, t);
        return buf;
    }
    days = t / SECONDS_PER_DAY;
    seconds = t % SECONDS_PER_DAY;
    if (seconds < 0) {
        seconds += SECONDS_PER_DAY;
        days--;
    }
    civil_from_days(days, &year, &month, &day);
    snprintf(buf, CLI_TIME_MAX, "%04d-%02d-%02dT%02d:%02d:%02dZ", (int)year,
             month, day, (int)(seconds / 3600), (int)(seconds / 60 % 60),
             (int)(seconds % 60));
    return buf;
}

static int digits(const char *p, int count, int *out)
{
    int value = 0;

    for (int i = 0; i < count; i++) {
        if (p[i] < '0' || p[i] > '9')
            return -1;
        value = value * 10 + (p[i] - '0');
    }
    *out = value;
    return 0;
}

static int days_in_month(int year, int month)
{
    static const int length[12] = { 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31 };
    int leap = (year % 4 == 0 && year % 100 != 0) || year % 400 == 0;

    return month == 2 && leap ? 29 : length[month - 1];
}

int cli_parse_time(const char *text, int64_t *out)
{
    int year, month, day, hour, minute, second;

    if (strcmp(text, "infinity") == 0) {
        *out = OBOL_INFINITE;
        return 0;
    }
    /* Exactly YYYY-MM-DDTHH:MM:SSZ: the one form the tool writes. */
    if (strlen(text) != 20 || text[4] != '-' || text[7] != '-' ||
        text[10] != 'T' || text[13] != ':' || text[16] != ':' || text[19] != 'Z')
        return -1;
    if (digits(text, 4, &year) || digits(text + 5, 2, &month) ||
        digits(text + 8, 2, &day) || digits(text + 11, 2, &hour) ||
        digits(text + 14, 2, &minute) || digits(text + 17, 2, &second))
        return -1;
    if (month < 1 || month > 12 || day < 1 || day > days_in_month(year, month) ||
        hour > 23 || minute > 59 || second > 59)
        return -1;
    *out = days_from_civil(year, month, day) * SECONDS_PER_DAY +
           hour * 3600 + minute * 60 + second;
    return 0;
}

double cli_monotonic_seconds(void)
{
    struct timespec now;

    clock_gettime(CLOCK_MONOTONIC, &now);
    return (double)now.tv_sec + (double)now.tv_nsec / 1e9;
}

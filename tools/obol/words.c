/*
 * The tool's words: a "did you mean" for a misspelt command, option or
 * scheme, and the library's messages as an operator reads them. The
 * library writes its messages for programmers (they name the call that
 * failed and, at times, the function to call); the tool puts its own
 * "obol: command:" in front, so the call's name would only repeat it.
 */
#include "config.h"

#include <ctype.h>
#include <stdio.h>
#include <string.h>

#include "cli.h"

/* Longer words than this get no suggestion: no name of the tool is. */
#define WORD_MAX 64

static size_t min3(size_t a, size_t b, size_t c)
{
    size_t m = a < b ? a : b;

    return m < c ? m : c;
}

/* Edits from a to b: insertions, deletions, substitutions and swaps of
 * two neighbours ("lmbd" is one edit from "lmdb"), each counting one; the
 * optimal string alignment distance. Both at most WORD_MAX bytes. */
static size_t edit_distance(const char *a, const char *b)
{
    size_t la = strlen(a), lb = strlen(b);
    size_t d[WORD_MAX + 1][WORD_MAX + 1];

    for (size_t i = 0; i <= la; i++)
        d[i][0] = i;
    for (size_t j = 0; j <= lb; j++)
        d[0][j] = j;
    for (size_t i = 1; i <= la; i++) {
        for (size_t j = 1; j <= lb; j++) {
            size_t cost = a[i - 1] != b[j - 1];

            d[i][j] = min3(d[i - 1][j] + 1, d[i][j - 1] + 1,
                           d[i - 1][j - 1] + cost);
            if (i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] &&
                d[i - 2][j - 2] + 1 < d[i][j])
                d[i][j] = d[i - 2][j - 2] + 1;
        }
    }
    return d[la][lb];
}

const char *cli_closest(const char *word, const char *const *known, size_t count)
{
    const char *best = NULL;
    size_t best_distance = WORD_MAX;

    if (strlen(word) > WORD_MAX)
        return NULL;
    for (size_t i = 0; i < count; i++) {
        size_t len = strlen(known[i]);
        /* Two edits, but fewer in a short name: "xx" is not a typo of "ls". */
        size_t allowed = len / 2 < 2 ? (len / 2 > 0 ? len / 2 : 1) : 2;
        size_t distance;

        if (len > WORD_MAX)
            continue;
        distance = edit_distance(word, known[i]);
        if (distance == 0)
            return NULL;
        if (distance <= allowed && distance < best_distance) {
            best = known[i];
            best_distance = distance;
        }
    }
    return best;
}

/* The library calls whose names start their messages ("get_all: ...");
 * "config:", "secret:" and a driver's "lmdb:" say where the fault is and
 * stay. */
static const char *const call_names[] = {
    "get", "get_all", "upsert", "delete", "delete_all", "delete_everywhere",
    "prune", "scan", "restore", "migrate", "rekey", "count_keys", "describe",
    "store_open"
};

static const char *after_call_name(const char *message)
{
    for (size_t i = 0; i < sizeof call_names / sizeof call_names[0]; i++) {
        size_t len = strlen(call_names[i]);

        if (strncmp(message, call_names[i], len) == 0 &&
            strncmp(message + len, ": ", 2) == 0)
            return message + len + 2;
    }
    return message;
}

/* Where a function of the library is named in text ("obol_store_add_key"),
 * or NULL. */
static const char *function_name(const char *text)
{
    for (const char *p = strstr(text, "obol_"); p != NULL; p = strstr(p + 1, "obol_"))
        if ((p == text || !isalnum((unsigned char)p[-1])) &&
            islower((unsigned char)p[5]))
            return p;
    return NULL;
}

/* What an operator does where a programmer calls a function; a function
 * not listed has no counterpart the tool can name here (a missing key
 * gets its hint from cli_fail_store()). */
static const struct {
    const char *function;
    const char *hint;
} operator_hints[] = {
    { "obol_set_driver_path", "driver directories are named in OBOL_DRIVER_PATH" },
};

static const char *operator_hint(const char *name)
{
    for (size_t i = 0; i < sizeof operator_hints / sizeof operator_hints[0]; i++) {
        size_t len = strlen(operator_hints[i].function);

        if (strncmp(name, operator_hints[i].function, len) == 0 &&
            !isalnum((unsigned char)name[len]) && name[len] != '_')
            return operator_hints[i].hint;
    }
    return NULL;
}

/* Cuts the part of text (a NUL-terminated copy) that names a function:
 * its parenthesis, or its clause after "; ". 0 when there is none left to
 * cut (or only the whole message would be). *hint is the operator's
 * counterpart, if any. */
static int cut_programmer_hint(char *text, const char **hint)
{
    const char *name = function_name(text);
    char *start, *end;

    if (name == NULL)
        return 0;
    *hint = operator_hint(name);
    start = (char *)name;
    while (start > text && *start != '(' && *start != ')' && *start != ';')
        start--;
    if (*start == '(') {
        end = strchr(name, ')');
        end = end != NULL ? end + 1 : (char *)name + strlen(name);
        if (start > text && start[-1] == ' ')
            start--;
    } else if (*start == ';') {
        end = strchr(name, ';');
        if (end == NULL)
            end = (char *)name + strlen(name);
    } else {
        return 0;
    }
    memmove(start, end, strlen(end) + 1);
    return 1;
}

void cli_operator_words(const char *message, char *out, size_t size)
{
    const char *hint = NULL, *cut_hint;

    if (strncmp(message, "obol: ", 6) == 0)   /* the library's log lines */
        message += 6;
    snprintf(out, size, "%s", after_call_name(message));
    while (cut_programmer_hint(out, &cut_hint))
        if (cut_hint != NULL)
            hint = cut_hint;
    if (hint != NULL && strlen(out) + strlen(hint) + 3 <= size)
        strcat(strcat(out, "; "), hint);
}

/*
 * An empty answer that may be a wrong prefix. "0 sessions" from a store
 * whose prefix holds nothing at all usually means a forgotten or misspelt
 * prefix= (or the wrong database), so the tool says so, and names the
 * prefixes that do hold records where the backend can tell cheaply
 * (obol_store_prefixes()). This is the one place that words it.
 */
#include "config.h"

#include <stdio.h>
#include <string.h>

#include "cli.h"

/* Prefixes shown before "and N more". */
#define PREFIXES_SHOWN 8

static int lists(const obol_prefix_list *list, const char *prefix)
{
    for (size_t i = 0; i < list->count; i++)
        if (strcmp(list->prefixes[i], prefix) == 0)
            return 1;
    return 0;
}

/* "'a', 'b' and 3 more" into buf (the prefixes as stored; cli_error()
 * escapes the whole message). */
static void name_prefixes(const obol_prefix_list *list, char *buf,
                          size_t size)
{
    size_t used = 0;

    buf[0] = '\0';
    for (size_t i = 0; i < list->count && i < PREFIXES_SHOWN; i++)
        used += (size_t)snprintf(buf + used, used < size ? size - used : 0,
                                 "%s'%s'", i > 0 ? ", " : "",
                                 list->prefixes[i]);
    if (list->count > PREFIXES_SHOWN && used < size)
        snprintf(buf + used, size - used, " and %zu more",
                 list->count - PREFIXES_SHOWN);
}

void cli_note_empty_prefix(obol_store *st, const char *what, int walked)
{
    const char *prefix = obol_store_prefix(st);
    obol_prefix_list list;
    char names[512];

    /* A failure here only costs the hint; the command's own answer
     * stands. */
    if (obol_store_prefixes(st, &list, NULL) != OBOL_OK)
        memset(&list, 0, sizeof list);
    /* One user had nothing: that says nothing about the prefix unless
     * the backend is sure the prefix is empty. */
    if (lists(&list, prefix) || (!walked && !list.complete)) {
        obol_prefix_list_clear(&list);
        return;
    }
    name_prefixes(&list, names, sizeof names);
    if (list.count > 0)
        cli_error(what, "no records under prefix '%s'; the backend has "
                  "records under %s%s%s (choose one with prefix= in the "
                  "URL)", prefix, list.count == 1 ? "prefix " : "prefixes ",
                  names, list.complete ? "" : " and maybe others");
    else if (list.complete)
        cli_error(what, "no records under prefix '%s'; the backend holds "
                  "no records at all", prefix);
    else
        cli_error(what, "no records under prefix '%s'", prefix);
    obol_prefix_list_clear(&list);
}

/*
 * config_message URL...: opens a store on each URL and prints, one line
 * each, the message obol_store_open() gives ("ok" when it opens).
 * config_message --oversized URL BYTES: plants a record of BYTES bytes in
 * the store through its driver and prints what obol_get() says of it.
 * For tests/test_doc_messages.sh, which holds the documentation's example
 * messages to what the code says.
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <obol/driver.h>
#include <obol/obol.h>

#include "store_internal.h"

static const uint8_t key[32] = "config_message's key, 32 bytes.";

static obol_bytes text(const char *s)
{
    obol_bytes b = { (const uint8_t *)s, strlen(s) };
    return b;
}

static int print_oversized(const char *url, size_t bytes)
{
    obol_store *st = NULL;
    obol_session *got = NULL;
    obol_error err;
    uint8_t *big = calloc(1, bytes);
    obol_driver_record rec = { { text("u"), text("full"), text("big") },
                               { big, bytes }, INT64_MAX, 1 };
    int status = big != NULL ? obol_store_open(url, &st, &err) : OBOL_ERR_NOMEM;

    if (status == OBOL_OK)
        status = obol_store_add_key(st, 1, key, 1, &err);
    if (status == OBOL_OK)
        status = st->driver->put(st->handle, &rec, 0, obol_store_now(st), &err);
    if (status == OBOL_OK)
        status = obol_get(st, "big", "u", NULL, &got, &err);
    puts(status == OBOL_OK ? "ok" : err.message);
    obol_session_free(got);
    obol_store_close(st);
    free(big);
    return status == OBOL_ERR_NOMEM;
}

int main(int argc, char **argv)
{
    if (argc == 4 && strcmp(argv[1], "--oversized") == 0)
        return print_oversized(argv[2], (size_t)strtoul(argv[3], NULL, 10));
    for (int i = 1; i < argc; i++) {
        obol_store *st = NULL;
        obol_error err;

        if (obol_store_open(argv[i], &st, &err) == OBOL_OK)
            puts("ok");
        else
            puts(err.message);
        obol_store_close(st);
    }
    return 0;
}

/* The event hook: what a security team alerts on, told as it happens. */
#include "config.h"

#include <stddef.h>

#include "store_internal.h"

void obol_store_set_event_hook(obol_store *st, obol_event_fn hook, void *arg)
{
    if (st == NULL)
        return;
    st->event_hook = hook;
    st->event_arg = hook != NULL ? arg : NULL;
}

const char *obol_event_name(int kind)
{
    switch (kind) {
    case OBOL_EVENT_REUSE_DETECTED: return "reuse detected";
    case OBOL_EVENT_BAD_SEAL: return "bad seal";
    case OBOL_EVENT_UNKNOWN_KEY: return "unknown key";
    case OBOL_EVENT_UNSIGNED_READ: return "unsigned read";
    default: return "unknown event";
    }
}

void obol_store_event(obol_store *st, int kind, const obol_driver_key *key,
                      uint32_t key_id, const char *reason)
{
    obol_event event;

    if (st->event_hook == NULL)
        return;
    event.kind = kind;
    event.user_id = (const char *)key->user_id.data;
    event.user_id_len = key->user_id.len;
    event.type = (const char *)key->type.data;
    event.type_len = key->type.len;
    event.session_id = (const char *)key->id.data;
    event.session_id_len = key->id.len;
    event.key_id = key_id;
    event.reason = reason;
    st->event_hook(st->event_arg, &event);
}

/* Comparing sessions in tests; see session_assert.h. */
#include "config.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "session_assert.h"

void assert_sessions_equal(const obol_session *a, const obol_session *b)
{
    assert_string_equal(a->id, b->id);
    assert_string_equal(a->user_id, b->user_id);
    assert_string_equal(a->type, b->type);
    assert_string_equal(a->refresh_token_id, b->refresh_token_id);
    if (a->prev_refresh_token_id == NULL || b->prev_refresh_token_id == NULL)
        assert_ptr_equal(a->prev_refresh_token_id, b->prev_refresh_token_id);
    else
        assert_string_equal(a->prev_refresh_token_id,
                            b->prev_refresh_token_id);
    assert_true(a->created_at == b->created_at);
    assert_true(a->expires_at == b->expires_at);
    assert_true(a->refresh_expires_at == b->refresh_expires_at);
    assert_true(a->refreshed_at == b->refreshed_at);
    assert_true(a->tokens_fresh_from == b->tokens_fresh_from);
    assert_true(a->prev_tokens_fresh_from == b->prev_tokens_fresh_from);
    assert_true(a->lock_version == b->lock_version);
    assert_int_equal(a->extra_payload_len, b->extra_payload_len);
    if (a->extra_payload_len > 0)
        assert_memory_equal(a->extra_payload, b->extra_payload,
                            a->extra_payload_len);
}

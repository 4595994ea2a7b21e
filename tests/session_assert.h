/* Comparing sessions field by field in cmocka tests. */
#ifndef OBOL_TEST_SESSION_ASSERT_H
#define OBOL_TEST_SESSION_ASSERT_H

#include <obol/obol.h>

/*
 * Fails the running test unless b holds what a holds: ids, user, type,
 * refresh token, every time, the lock version and the payload. The
 * encoding version is left out: a session made in memory and one read
 * back need not agree on it, and the codec tests check it themselves.
 */
void assert_sessions_equal(const obol_session *a, const obol_session *b);

#endif

# Session codec tests. The decoder's fuzz target, tests/fuzz_codec.c, is
# built with the others in tests/fuzz.mk.
check_PROGRAMS += tests/test_codec
TESTS += tests/test_codec
tests_test_codec_SOURCES = tests/test_codec.c \
	tests/session_assert.c tests/session_assert.h
tests_test_codec_CFLAGS = $(TEST_CFLAGS)
tests_test_codec_LDADD = $(TEST_LIBS)

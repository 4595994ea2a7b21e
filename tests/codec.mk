# Session codec tests. tests/fuzz_codec.c is deliberately not built here: it
# needs clang's libFuzzer (see the comment at its top for how to build it).
check_PROGRAMS += tests/test_codec
TESTS += tests/test_codec
tests_test_codec_SOURCES = tests/test_codec.c \
	tests/session_assert.c tests/session_assert.h
tests_test_codec_CFLAGS = $(TEST_CFLAGS)
tests_test_codec_LDADD = $(TEST_LIBS)
EXTRA_DIST += tests/fuzz_codec.c

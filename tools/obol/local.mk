# obol(1): the command-line tool. It uses libobol's public API only, like
# any application, and jansson for JSON.
bin_PROGRAMS += tools/obol/obol
tools_obol_obol_SOURCES = \
	tools/obol/main.c tools/obol/cli.h \
	tools/obol/connect.c \
	tools/obol/prefixes.c \
	tools/obol/output.c \
	tools/obol/words.c \
	tools/obol/times.c \
	tools/obol/json.c tools/obol/json.h \
	tools/obol/progress.c tools/obol/progress.h \
	tools/obol/commands_session.c \
	tools/obol/commands_bulk.c \
	tools/obol/commands_check.c
tools_obol_obol_CFLAGS = $(AM_CFLAGS) $(JANSSON_CFLAGS) $(SODIUM_CFLAGS)
tools_obol_obol_LDADD = lib/libobol.la $(JANSSON_LIBS) $(SODIUM_LIBS)
dist_man_MANS += tools/obol/obol.1

# End-to-end tests of the built tool: tests/test_cli.sh on LMDB,
# tests/test_cli_redis.sh on a private redis-server (and LMDB),
# tests/test_progress.sh in tmux panes of several widths.
# cli_unsign rewrites a store's records the way an unsigned deployment
# wrote them, for the legacy-upgrade test.
check_PROGRAMS += tests/cli_unsign
tests_cli_unsign_SOURCES = tests/cli_unsign.c
tests_cli_unsign_CFLAGS = $(TEST_CFLAGS)
tests_cli_unsign_LDADD = $(TEST_LIBS)
TESTS += tests/test_cli.sh tests/test_cli_redis.sh tests/test_progress.sh
EXTRA_DIST += tests/test_cli.sh tests/test_cli_redis.sh tests/cli_lib.sh \
	tests/test_progress.sh

# Tests are cmocka programs speaking TAP, so that automake counts each case.
# A program that cannot run here (no redis-server outside CI) prints a
# "1..0 # SKIP why" plan instead of running.
LOG_DRIVER = env AM_TAP_AWK='$(AWK)' $(SHELL) $(top_srcdir)/build-aux/tap-driver.sh
TEST_EXTENSIONS = .sh
SH_LOG_DRIVER = $(LOG_DRIVER)
SH_LOG_COMPILER = $(SHELL)
AM_TESTS_ENVIRONMENT = \
	OBOL_DRIVER_PATH='$(BUILD_DRIVER_PATH)'; export OBOL_DRIVER_PATH; \
	CMOCKA_MESSAGE_OUTPUT=TAP; export CMOCKA_MESSAGE_OUTPUT; \
	OBOL_TEST_BUILDDIR='$(abs_top_builddir)'; export OBOL_TEST_BUILDDIR; \
	REDIS_SERVER='$(REDIS_SERVER)'; export REDIS_SERVER;

# Flags for every test program: internal headers, and the core linked in
# statically so that hidden functions are reachable.
TEST_CFLAGS = $(AM_CFLAGS) $(CMOCKA_CFLAGS) $(SODIUM_CFLAGS)
TEST_LIBS = lib/libobolcore.la $(CMOCKA_LIBS) $(SODIUM_LIBS) $(URIPARSER_LIBS)

include tests/codec.mk
include tests/fuzz.mk

include tests/unit.mk

include tests/alloc_sweep.mk

include tests/redis_async.mk

# The store-semantics suite, one runner per driver.
STORE_SUITE_SOURCES = tests/store_suite.c tests/store_suite.h \
	tests/suite_refresh.c tests/suite_refresh.h \
	tests/suite_fixture.c tests/suite_fixture.h \
	tests/suite_sweep.c tests/suite_sweep.h \
	tests/suite_watchdog.c tests/suite_watchdog.h \
	tests/driver_suite.c tests/driver_suite.h \
	tests/suite_logout.c tests/suite_logout.h \
	tests/suite_counts.c tests/suite_counts.h \
	tests/suite_migrate.c tests/suite_migrate.h \
	tests/suite_security.c tests/suite_security.h \
	tests/suite_keys.c tests/suite_keys.h \
	tests/suite_stats.c tests/suite_stats.h \
	tests/tmpdir.c tests/tmpdir.h \
	tests/session_assert.c tests/session_assert.h
check_PROGRAMS += tests/test_store_lmdb
TESTS += tests/test_store_lmdb
tests_test_store_lmdb_SOURCES = tests/test_store_lmdb.c $(STORE_SUITE_SOURCES)
tests_test_store_lmdb_CFLAGS = $(TEST_CFLAGS)
tests_test_store_lmdb_LDADD = $(TEST_LIBS) $(PTHREAD_LIBS)

# Opening what is there: create=0, require_key=1, and the prefixes a
# backend holds (LMDB and memory, through the public API).
check_PROGRAMS += tests/test_store_open
TESTS += tests/test_store_open
tests_test_store_open_SOURCES = tests/test_store_open.c tests/tmpdir.c \
	tests/tmpdir.h
tests_test_store_open_CFLAGS = $(TEST_CFLAGS)
tests_test_store_open_LDADD = $(TEST_LIBS)
EXTRA_tests_test_store_open_DEPENDENCIES = drivers/lmdb.la drivers/memory.la
# The stats below the store suite, and the Prometheus example of
# docs/STATS.md, compiled out of the document itself so that it stays
# correct: the first C block after the marker line, with #line pointing
# into the document.
check_PROGRAMS += tests/test_stats
TESTS += tests/test_stats
tests_test_stats_SOURCES = tests/test_stats.c
tests_test_stats_CFLAGS = $(TEST_CFLAGS)
tests_test_stats_LDADD = $(TEST_LIBS) $(PTHREAD_LIBS) -lm
EXTRA_tests_test_stats_DEPENDENCIES = drivers/memory.la
$(tests_test_stats_OBJECTS): tests/stats_prometheus.inc
tests/stats_prometheus.inc: $(top_srcdir)/docs/STATS.md
	@$(MKDIR_P) tests
	$(AWK) '/tests\/test_stats.c compiles the next C block/ { armed = 1; next } \
	  armed && /^```c$$/ { printf "#line %d \"docs/STATS.md\"\n", NR + 1; on = 1; armed = 0; next } \
	  on && /^```$$/ { exit } on { print }' $(top_srcdir)/docs/STATS.md > $@.tmp
	test -s $@.tmp && mv $@.tmp $@
CLEANFILES += tests/stats_prometheus.inc tests/stats_prometheus.inc.tmp

# Secrets wiped before free(): the program interposes free() for the
# whole process (the drivers and hiredis too, hence -export-dynamic).
check_PROGRAMS += tests/test_wipes
TESTS += tests/test_wipes
tests_test_wipes_SOURCES = tests/test_wipes.c tests/tmpdir.c tests/tmpdir.h
tests_test_wipes_CFLAGS = $(TEST_CFLAGS)
tests_test_wipes_LDADD = $(TEST_LIBS)
tests_test_wipes_LDFLAGS = -export-dynamic
EXTRA_tests_test_wipes_DEPENDENCIES = drivers/memory.la drivers/redis.la

check_PROGRAMS += tests/test_store_redis
TESTS += tests/test_store_redis
tests_test_store_redis_SOURCES = tests/test_store_redis.c $(STORE_SUITE_SOURCES) \
	tests/redis_harness.c tests/redis_harness.h
tests_test_store_redis_CFLAGS = $(TEST_CFLAGS) $(HIREDIS_CFLAGS)
tests_test_store_redis_LDADD = $(TEST_LIBS) $(HIREDIS_LIBS) $(PTHREAD_LIBS)

# The installed library, headers, pkg-config file and driver, used the way
# an application uses them.
TESTS += tests/test_installed.sh tests/test_out_of_tree.sh
# The event-loop examples, and docs/ASYNC.md's copy of one.
TESTS += tests/test_examples.sh
EXTRA_DIST += tests/test_examples.sh
# The adapters, include/obol/uv.h and event.h, on real loops.
check_PROGRAMS += tests/test_adapters
TESTS += tests/test_adapters
tests_test_adapters_SOURCES = tests/test_adapters.c
tests_test_adapters_CFLAGS = $(TEST_CFLAGS) $(LIBUV_CFLAGS) $(LIBEVENT_CFLAGS)
tests_test_adapters_LDADD = $(TEST_LIBS) $(LIBUV_LIBS) $(LIBEVENT_LIBS) $(PTHREAD_LIBS)
EXTRA_tests_test_adapters_DEPENDENCIES = drivers/memory.la
EXTRA_DIST += tests/test_installed.sh tests/installed_api.c \
	tests/test_out_of_tree.sh tests/install_tree.sh
AM_TESTS_ENVIRONMENT += CC='$(CC)'; export CC; MAKE='$(MAKE)'; export MAKE; \
	srcdir='$(srcdir)'; export srcdir;

# `make check-valgrind`: every test program under memcheck, forked children
# included; any leak or invalid access fails the test.
EXTRA_DIST += tests/valgrind.supp
VALGRIND_FLAGS = --quiet --leak-check=full --show-leak-kinds=definite,indirect,possible \
	--errors-for-leak-kinds=definite,indirect,possible --error-exitcode=99 \
	--suppressions=$(abs_top_srcdir)/tests/valgrind.supp
.PHONY: check-valgrind
check-valgrind:
	OBOL_SUITE_TIMEOUT_S=900 \
	$(MAKE) $(AM_MAKEFLAGS) check TEST_SUITE_LOG=test-suite-valgrind.log \
		LOG_COMPILER='$(LIBTOOL) --mode=execute $(VALGRIND) $(VALGRIND_FLAGS)'

include tests/async.mk

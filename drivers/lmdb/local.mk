# The LMDB driver: a libtool module, lmdb.so, that links LMDB and pthread
# only (never libobol): everything else comes through the host table.
driver_LTLIBRARIES += drivers/lmdb.la
# Also built into the planted test drivers (tests/driver_kit.mk).
LMDB_DRIVER_SOURCES = \
	drivers/lmdb/lmdb_driver.c drivers/lmdb/lmdb_internal.h \
	drivers/lmdb/lmdb_host.c \
	drivers/lmdb/lmdb_options.c drivers/lmdb/lmdb_options.h \
	drivers/lmdb/lmdb_env.c drivers/lmdb/lmdb_env.h \
	drivers/lmdb/lmdb_readers.c drivers/lmdb/lmdb_readers.h \
	drivers/lmdb/lmdb_keys.c drivers/lmdb/lmdb_keys.h \
	drivers/lmdb/lmdb_walk.c drivers/lmdb/lmdb_walk.h
drivers_lmdb_la_SOURCES = $(LMDB_DRIVER_SOURCES)
drivers_lmdb_la_CFLAGS = $(AM_CFLAGS) -fvisibility=hidden -pthread \
	$(LMDB_CFLAGS)
drivers_lmdb_la_LIBADD = $(LMDB_LIBS) -lpthread
drivers_lmdb_la_LDFLAGS = -module -avoid-version -shared -no-undefined

# Tests of the driver alone, loaded with dlopen() as the core loads it;
# they link LMDB themselves to inspect the expiry index from a child.
check_PROGRAMS += tests/test_lmdb_driver
TESTS += tests/test_lmdb_driver
tests_test_lmdb_driver_SOURCES = tests/test_lmdb_driver.c
tests_test_lmdb_driver_CFLAGS = $(TEST_CFLAGS) $(LMDB_CFLAGS) -pthread
tests_test_lmdb_driver_LDADD = $(TEST_LIBS) $(LMDB_LIBS) -lpthread


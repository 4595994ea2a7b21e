# Unit tests of the core modules: number parsing, the config string, the
# keyring and seal, and the driver loader. Each is one cmocka group.
UNIT_TEST_CFLAGS = $(TEST_CFLAGS) $(URIPARSER_CFLAGS)

check_PROGRAMS += tests/test_parse tests/test_config tests/test_seal \
	tests/test_loader
TESTS += tests/test_parse tests/test_config tests/test_seal tests/test_loader

tests_test_parse_SOURCES = tests/test_parse.c
tests_test_parse_CFLAGS = $(UNIT_TEST_CFLAGS)
tests_test_parse_LDADD = $(TEST_LIBS)

tests_test_config_SOURCES = tests/test_config.c
tests_test_config_CFLAGS = $(UNIT_TEST_CFLAGS)
tests_test_config_LDADD = $(TEST_LIBS)

tests_test_seal_SOURCES = tests/test_seal.c tests/tmpdir.c tests/tmpdir.h
tests_test_seal_CFLAGS = $(UNIT_TEST_CFLAGS)
tests_test_seal_LDADD = $(TEST_LIBS)

# The loader test knows the installed driver directory, to check that it is
# searched last, and needs the fake drivers below built first.
tests_test_loader_SOURCES = tests/test_loader.c tests/tmpdir.c tests/tmpdir.h
tests_test_loader_CPPFLAGS = $(AM_CPPFLAGS) \
	-DOBOL_DRIVER_DIR='"$(driverdir)"'
tests_test_loader_CFLAGS = $(UNIT_TEST_CFLAGS)
tests_test_loader_LDADD = $(TEST_LIBS)
EXTRA_tests_test_loader_DEPENDENCIES = $(FAKE_DRIVERS)

# Deliberately broken driver plugins for the loader test. -rpath makes
# libtool build real shared objects (tests/fake_drivers/.libs/NAME.so)
# although they are never installed. They link nothing: like real drivers,
# they get everything from the host table.
FAKE_DRIVERS = tests/fake_drivers/fakeok.la tests/fake_drivers/fakeabi.la \
	tests/fake_drivers/fakeshort.la tests/fake_drivers/fakenosym.la \
	tests/fake_drivers/fakename.la tests/fake_drivers/fakeold.la
check_LTLIBRARIES += $(FAKE_DRIVERS)
FAKE_DRIVER_LDFLAGS = -module -avoid-version -shared -rpath /nowhere
FAKE_DRIVER_SHARED = tests/fake_drivers/fake_common.h

tests_fake_drivers_fakeok_la_SOURCES = tests/fake_drivers/fakeok.c \
	$(FAKE_DRIVER_SHARED)
tests_fake_drivers_fakeok_la_LDFLAGS = $(FAKE_DRIVER_LDFLAGS)
tests_fake_drivers_fakeabi_la_SOURCES = tests/fake_drivers/fakeabi.c \
	$(FAKE_DRIVER_SHARED)
tests_fake_drivers_fakeabi_la_LDFLAGS = $(FAKE_DRIVER_LDFLAGS)
tests_fake_drivers_fakeshort_la_SOURCES = tests/fake_drivers/fakeshort.c \
	$(FAKE_DRIVER_SHARED)
tests_fake_drivers_fakeshort_la_LDFLAGS = $(FAKE_DRIVER_LDFLAGS)
tests_fake_drivers_fakenosym_la_SOURCES = tests/fake_drivers/fakenosym.c \
	$(FAKE_DRIVER_SHARED)
tests_fake_drivers_fakenosym_la_LDFLAGS = $(FAKE_DRIVER_LDFLAGS)
tests_fake_drivers_fakename_la_SOURCES = tests/fake_drivers/fakename.c \
	$(FAKE_DRIVER_SHARED)
tests_fake_drivers_fakename_la_LDFLAGS = $(FAKE_DRIVER_LDFLAGS)
tests_fake_drivers_fakeold_la_SOURCES = tests/fake_drivers/fakeold.c \
	$(FAKE_DRIVER_SHARED)
tests_fake_drivers_fakeold_la_LDFLAGS = $(FAKE_DRIVER_LDFLAGS)

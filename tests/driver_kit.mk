# The driver kit and the installed documentation: the template installed
# for driver authors, the man page of the config string, the tests that
# obol-driver-check catches the bugs it is meant to (planted in copies of
# real drivers) and cleans up, that the documentation says what the code
# does, and that obol_session_create() says why it makes no session.

# $(datadir)/obol/driver-template.c, found with
# `pkg-config --variable=driver_template obol`.
dist_pkgdata_DATA = share/driver-template.c

dist_man_MANS += man/obol-config.5

# Drivers with one planted bug each, built like the loader test's fakes
# (real shared objects in tests/fake_drivers/.libs, never installed). Each
# links the source of the real driver it wraps.
PLANTED_DRIVERS = tests/fake_drivers/plantprune.la \
	tests/fake_drivers/plantwalk.la tests/fake_drivers/plantview.la
check_LTLIBRARIES += $(PLANTED_DRIVERS)
PLANTED_LDFLAGS = -module -avoid-version -shared -rpath /nowhere
PLANTED_LMDB_SOURCES = $(LMDB_DRIVER_SOURCES)
tests_fake_drivers_plantprune_la_SOURCES = tests/fake_drivers/plantprune.c \
	$(PLANTED_LMDB_SOURCES)
tests_fake_drivers_plantprune_la_CFLAGS = $(AM_CFLAGS) -fvisibility=hidden \
	-pthread $(LMDB_CFLAGS)
tests_fake_drivers_plantprune_la_LIBADD = $(LMDB_LIBS) -lpthread
tests_fake_drivers_plantprune_la_LDFLAGS = $(PLANTED_LDFLAGS)
tests_fake_drivers_plantview_la_SOURCES = tests/fake_drivers/plantview.c \
	$(PLANTED_LMDB_SOURCES)
tests_fake_drivers_plantview_la_CFLAGS = $(tests_fake_drivers_plantprune_la_CFLAGS)
tests_fake_drivers_plantview_la_LIBADD = $(tests_fake_drivers_plantprune_la_LIBADD)
tests_fake_drivers_plantview_la_LDFLAGS = $(PLANTED_LDFLAGS)
tests_fake_drivers_plantwalk_la_SOURCES = tests/fake_drivers/plantwalk.c \
	drivers/memory/memory_driver.c
tests_fake_drivers_plantwalk_la_CFLAGS = $(AM_CFLAGS) -fvisibility=hidden \
	-pthread
tests_fake_drivers_plantwalk_la_LIBADD = -lpthread
tests_fake_drivers_plantwalk_la_LDFLAGS = $(PLANTED_LDFLAGS)

# Counts the records an LMDB environment holds, of every prefix.
check_PROGRAMS += tests/lmdb_records
tests_lmdb_records_SOURCES = tests/lmdb_records.c
tests_lmdb_records_CFLAGS = $(AM_CFLAGS) $(LMDB_CFLAGS)
tests_lmdb_records_LDADD = $(LMDB_LIBS)

# Prints the message obol_store_open() gives for a config string, so that
# the documentation's example messages are held to the code's.
check_PROGRAMS += tests/config_message
tests_config_message_SOURCES = tests/config_message.c
tests_config_message_CFLAGS = $(TEST_CFLAGS)
tests_config_message_LDADD = $(TEST_LIBS)

TESTS += tests/test_driver_check.sh tests/test_man_pages.sh \
	tests/test_doc_messages.sh
EXTRA_DIST += tests/test_driver_check.sh tests/test_man_pages.sh \
	tests/test_doc_messages.sh

# obol_session_create(): why a session is not made.
check_PROGRAMS += tests/test_session
TESTS += tests/test_session
tests_test_session_SOURCES = tests/test_session.c
tests_test_session_CFLAGS = $(TEST_CFLAGS)
tests_test_session_LDADD = $(TEST_LIBS)

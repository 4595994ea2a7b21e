# The memory driver (memory.so): sessions in process memory, for
# applications' unit tests and as the worked example of docs/DRIVERS.md.
# Like every driver it links no part of libobol, only pthread.
driver_LTLIBRARIES += drivers/memory.la
drivers_memory_la_SOURCES = drivers/memory/memory_driver.c
drivers_memory_la_CFLAGS = $(AM_CFLAGS) -fvisibility=hidden -pthread
drivers_memory_la_LIBADD = -lpthread
drivers_memory_la_LDFLAGS = -module -avoid-version -shared -no-undefined

# The store-semantics suite (tests/store_suite.h) on "memory:".
check_PROGRAMS += tests/test_store_memory
TESTS += tests/test_store_memory
tests_test_store_memory_SOURCES = tests/test_store_memory.c $(STORE_SUITE_SOURCES)
tests_test_store_memory_CFLAGS = $(TEST_CFLAGS)
tests_test_store_memory_LDADD = $(TEST_LIBS) $(PTHREAD_LIBS)
EXTRA_tests_test_store_memory_DEPENDENCIES = drivers/memory.la

# Private and named spaces, max_records, refused config parts.
check_PROGRAMS += tests/test_memory_driver
TESTS += tests/test_memory_driver
tests_test_memory_driver_SOURCES = tests/test_memory_driver.c
tests_test_memory_driver_CFLAGS = $(TEST_CFLAGS)
tests_test_memory_driver_LDADD = $(TEST_LIBS)
EXTRA_tests_test_memory_driver_DEPENDENCIES = drivers/memory.la

# The same source linked into a program and registered, not loaded.
check_PROGRAMS += tests/test_static_driver
TESTS += tests/test_static_driver
tests_test_static_driver_SOURCES = tests/test_static_driver.c \
	drivers/memory/memory_driver.c
tests_test_static_driver_CFLAGS = $(TEST_CFLAGS)
tests_test_static_driver_LDADD = $(TEST_LIBS) $(PTHREAD_LIBS)

# The core's side of the non-blocking API, against the memory driver behind
# a table that answers late, never, or inside submit(); pthread_create() is
# wrapped so that a case can refuse the worker threads.
check_PROGRAMS += tests/test_queue
TESTS += tests/test_queue
tests_test_queue_SOURCES = tests/test_queue.c \
	drivers/memory/memory_driver.c
tests_test_queue_CFLAGS = $(TEST_CFLAGS)
tests_test_queue_LDADD = $(TEST_LIBS) $(PTHREAD_LIBS)
tests_test_queue_LDFLAGS = -Wl,--wrap=pthread_create

# The Redis driver (redis.so), its test and its benchmark. See docs/REDIS.md.
driver_LTLIBRARIES += drivers/redis.la
drivers_redis_la_SOURCES = \
	drivers/redis/redis_driver.c drivers/redis/redis_driver.h \
	drivers/redis/redis_handle.h \
	drivers/redis/redis_ops.c drivers/redis/redis_ops.h \
	drivers/redis/redis_async.c drivers/redis/redis_async.h \
	drivers/redis/redis_config.c drivers/redis/redis_config.h \
	drivers/redis/redis_conn.c drivers/redis/redis_conn.h \
	drivers/redis/redis_guard.c drivers/redis/redis_guard.h \
	drivers/redis/redis_number.c drivers/redis/redis_number.h \
	drivers/redis/redis_reply.c drivers/redis/redis_reply.h \
	drivers/redis/redis_tls.c drivers/redis/redis_tls.h \
	drivers/redis/redis_pool.c drivers/redis/redis_pool.h \
	drivers/redis/redis_topology.c drivers/redis/redis_topology.h \
	drivers/redis/redis_sentinel.c drivers/redis/redis_sentinel.h \
	drivers/redis/redis_router.c drivers/redis/redis_router.h \
	drivers/redis/redis_slot.c drivers/redis/redis_slot.h \
	drivers/redis/redis_walk.c drivers/redis/redis_walk.h \
	drivers/redis/redis_keys.c drivers/redis/redis_keys.h \
	drivers/redis/redis_lua.c drivers/redis/redis_lua.h \
	drivers/redis/redis_scripts.c drivers/redis/redis_scripts.h
drivers_redis_la_CFLAGS = $(AM_CFLAGS) -fvisibility=hidden $(HIREDIS_CFLAGS) \
	$(OPENSSL_CFLAGS)
drivers_redis_la_LIBADD = $(HIREDIS_LIBS) $(OPENSSL_LIBS)
drivers_redis_la_LDFLAGS = -module -avoid-version -shared -no-undefined

# The driver test starts its own redis-server (tests/redis_harness.h) and
# loads redis.so from OBOL_DRIVER_PATH as the core does.
check_PROGRAMS += tests/test_redis_driver
TESTS += tests/test_redis_driver
tests_test_redis_driver_SOURCES = tests/test_redis_driver.c \
	tests/redis_harness.c tests/redis_harness.h
tests_test_redis_driver_CFLAGS = $(TEST_CFLAGS) $(HIREDIS_CFLAGS)
tests_test_redis_driver_LDADD = $(TEST_LIBS) $(HIREDIS_LIBS)
EXTRA_tests_test_redis_driver_DEPENDENCIES = drivers/redis.la

# The RESP guard on its own: streams in, what the reader is fed out.
check_PROGRAMS += tests/test_redis_guard
TESTS += tests/test_redis_guard
tests_test_redis_guard_SOURCES = tests/test_redis_guard.c \
	drivers/redis/redis_guard.c drivers/redis/redis_guard.h
tests_test_redis_guard_CPPFLAGS = $(AM_CPPFLAGS) -I$(srcdir)/drivers/redis
tests_test_redis_guard_CFLAGS = $(TEST_CFLAGS)
tests_test_redis_guard_LDADD = $(CMOCKA_LIBS)

# The numbers of a list reply on their own: the digits read by hand give
# what strtod() and strtoull() give.
check_PROGRAMS += tests/test_redis_number
TESTS += tests/test_redis_number
tests_test_redis_number_SOURCES = tests/test_redis_number.c \
	drivers/redis/redis_number.c drivers/redis/redis_number.h
tests_test_redis_number_CPPFLAGS = $(AM_CPPFLAGS) -I$(srcdir)/drivers/redis
tests_test_redis_number_CFLAGS = $(TEST_CFLAGS)
tests_test_redis_number_LDADD = $(CMOCKA_LIBS)

# The arena replies on their own, next to hiredis's own reader.
check_PROGRAMS += tests/test_redis_reply
TESTS += tests/test_redis_reply
tests_test_redis_reply_SOURCES = tests/test_redis_reply.c \
	drivers/redis/redis_reply.c drivers/redis/redis_reply.h
tests_test_redis_reply_CPPFLAGS = $(AM_CPPFLAGS) -I$(srcdir)/drivers/redis
tests_test_redis_reply_CFLAGS = $(TEST_CFLAGS) $(HIREDIS_CFLAGS)
tests_test_redis_reply_LDADD = $(CMOCKA_LIBS) $(HIREDIS_LIBS)

# Raw hiredis next to the driver and the store against one server;
# built by make, run by hand: bench/redis_bench [redis://host:port];
# without a URL also on a private cluster (tests/redis_cluster.h).
noinst_PROGRAMS += bench/redis_bench
bench_redis_bench_SOURCES = bench/redis_bench.c $(REDIS_CLUSTER_SOURCES) \
	tests/redis_sentinel.c tests/redis_sentinel.h \
	drivers/redis/redis_lua.c drivers/redis/redis_lua.h
bench_redis_bench_CPPFLAGS = $(AM_CPPFLAGS) \
	-DOBOL_BUILD_DRIVER_PATH='"$(BUILD_DRIVER_PATH)"'
bench_redis_bench_CFLAGS = $(AM_CFLAGS) $(HIREDIS_CFLAGS) $(SODIUM_CFLAGS)
bench_redis_bench_LDADD = lib/libobolcore.la $(HIREDIS_LIBS) \
	$(SODIUM_LIBS) $(URIPARSER_LIBS)
EXTRA_bench_redis_bench_DEPENDENCIES = drivers/redis.la

# The store on Redis through the public API: key expiry, records changed
# behind the store, round trips, outages, racing refreshes.
check_PROGRAMS += tests/test_redis_store
TESTS += tests/test_redis_store
tests_test_redis_store_SOURCES = tests/test_redis_store.c \
	tests/redis_harness.c tests/redis_harness.h
tests_test_redis_store_CFLAGS = $(TEST_CFLAGS) $(HIREDIS_CFLAGS)
tests_test_redis_store_LDADD = $(TEST_LIBS) $(HIREDIS_LIBS) $(PTHREAD_LIBS)
EXTRA_tests_test_redis_store_DEPENDENCIES = drivers/redis.la

# The shared store and driver suites on redis+cluster://, against a
# six-node cluster of the test's own (tests/redis_cluster.h).
check_PROGRAMS += tests/test_store_redis_cluster
TESTS += tests/test_store_redis_cluster
tests_test_store_redis_cluster_SOURCES = tests/test_store_redis_cluster.c \
	$(STORE_SUITE_SOURCES) $(REDIS_CLUSTER_SOURCES)
tests_test_store_redis_cluster_CFLAGS = $(TEST_CFLAGS) $(HIREDIS_CFLAGS)
tests_test_store_redis_cluster_LDADD = $(TEST_LIBS) $(HIREDIS_LIBS) \
	$(PTHREAD_LIBS)
EXTRA_tests_test_store_redis_cluster_DEPENDENCIES = drivers/redis.la

# The store on a cluster through slot migration, SCRIPT FLUSH, failovers,
# a stalled and a killed master.
check_PROGRAMS += tests/test_redis_cluster_faults
TESTS += tests/test_redis_cluster_faults
tests_test_redis_cluster_faults_SOURCES = tests/test_redis_cluster_faults.c \
	tests/store_checks.c tests/store_checks.h $(REDIS_CLUSTER_SOURCES)
tests_test_redis_cluster_faults_CFLAGS = $(TEST_CFLAGS) $(HIREDIS_CFLAGS)
tests_test_redis_cluster_faults_LDADD = $(TEST_LIBS) $(HIREDIS_LIBS) \
	$(PTHREAD_LIBS)
EXTRA_tests_test_redis_cluster_faults_DEPENDENCIES = drivers/redis.la

# The Redis driver's non-blocking slots (ABI 1.6) against a real
# redis-server: single server here, a cluster and TLS below.
REDIS_ASYNC_KIT_SOURCES = tests/redis_async_kit.c tests/redis_async_kit.h \
	tests/redis_harness.c tests/redis_harness.h
REDIS_ASYNC_LOAD_SOURCES = tests/redis_async_load.c tests/redis_async_load.h \
	tests/store_checks.c tests/store_checks.h

check_PROGRAMS += tests/test_redis_async
TESTS += tests/test_redis_async
tests_test_redis_async_SOURCES = tests/test_redis_async.c \
	$(REDIS_ASYNC_KIT_SOURCES)
tests_test_redis_async_CFLAGS = $(TEST_CFLAGS) $(HIREDIS_CFLAGS)
tests_test_redis_async_LDADD = $(TEST_LIBS) $(HIREDIS_LIBS) $(PTHREAD_LIBS)
EXTRA_tests_test_redis_async_DEPENDENCIES = drivers/redis.la

# Through the public API on a six-node cluster of the test's own:
# migration and failover under load, one connection per master.
check_PROGRAMS += tests/test_redis_async_cluster
TESTS += tests/test_redis_async_cluster
tests_test_redis_async_cluster_SOURCES = tests/test_redis_async_cluster.c \
	$(REDIS_ASYNC_LOAD_SOURCES) $(REDIS_CLUSTER_SOURCES)
tests_test_redis_async_cluster_CFLAGS = $(TEST_CFLAGS) $(HIREDIS_CFLAGS)
tests_test_redis_async_cluster_LDADD = $(TEST_LIBS) $(HIREDIS_LIBS) \
	$(PTHREAD_LIBS)
EXTRA_tests_test_redis_async_cluster_DEPENDENCIES = drivers/redis.la

# Over TLS (rediss://): large records pipelined, a stall.
check_PROGRAMS += tests/test_redis_async_tls
TESTS += tests/test_redis_async_tls
tests_test_redis_async_tls_SOURCES = tests/test_redis_async_tls.c \
	$(REDIS_ASYNC_KIT_SOURCES)
tests_test_redis_async_tls_CFLAGS = $(TEST_CFLAGS) $(HIREDIS_CFLAGS)
tests_test_redis_async_tls_LDADD = $(TEST_LIBS) $(HIREDIS_LIBS) $(PTHREAD_LIBS)
EXTRA_tests_test_redis_async_tls_DEPENDENCIES = drivers/redis.la

# On a Sentinel-resolved master: SENTINEL FAILOVER under load.
check_PROGRAMS += tests/test_redis_async_sentinel
TESTS += tests/test_redis_async_sentinel
tests_test_redis_async_sentinel_SOURCES = tests/test_redis_async_sentinel.c \
	$(REDIS_ASYNC_LOAD_SOURCES) $(REDIS_SENTINEL_SOURCES)
tests_test_redis_async_sentinel_CFLAGS = $(TEST_CFLAGS) $(HIREDIS_CFLAGS)
tests_test_redis_async_sentinel_LDADD = $(TEST_LIBS) $(HIREDIS_LIBS) \
	$(PTHREAD_LIBS)
EXTRA_tests_test_redis_async_sentinel_DEPENDENCIES = drivers/redis.la

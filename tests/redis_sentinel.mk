# Redis Sentinel: a private master, two replicas and three Sentinels for
# tests and benchmarks (tests/redis_sentinel.h), the store suite on
# redis+sentinel://, and the Sentinel tests (failovers, outages, config).
# Another program that needs Sentinels adds $(REDIS_SENTINEL_SOURCES).
REDIS_SENTINEL_SOURCES = tests/redis_sentinel.c tests/redis_sentinel.h \
	tests/redis_harness.c tests/redis_harness.h

check_PROGRAMS += tests/test_store_redis_sentinel
TESTS += tests/test_store_redis_sentinel
tests_test_store_redis_sentinel_SOURCES = tests/test_store_redis_sentinel.c \
	$(STORE_SUITE_SOURCES) $(REDIS_SENTINEL_SOURCES)
tests_test_store_redis_sentinel_CFLAGS = $(TEST_CFLAGS) $(HIREDIS_CFLAGS)
tests_test_store_redis_sentinel_LDADD = $(TEST_LIBS) $(HIREDIS_LIBS) \
	$(PTHREAD_LIBS)
EXTRA_tests_test_store_redis_sentinel_DEPENDENCIES = drivers/redis.la

check_PROGRAMS += tests/test_redis_sentinel
TESTS += tests/test_redis_sentinel
tests_test_redis_sentinel_SOURCES = tests/test_redis_sentinel.c \
	tests/store_checks.c tests/store_checks.h $(REDIS_SENTINEL_SOURCES)
tests_test_redis_sentinel_CFLAGS = $(TEST_CFLAGS) $(HIREDIS_CFLAGS)
tests_test_redis_sentinel_LDADD = $(TEST_LIBS) $(HIREDIS_LIBS) \
	$(PTHREAD_LIBS)
EXTRA_tests_test_redis_sentinel_DEPENDENCIES = drivers/redis.la

# The store suite on rediss+sentinel://: every server, Sentinels included,
# over TLS only.
check_PROGRAMS += tests/test_store_rediss_sentinel
TESTS += tests/test_store_rediss_sentinel
tests_test_store_rediss_sentinel_SOURCES = \
	tests/test_store_rediss_sentinel.c $(STORE_SUITE_SOURCES) \
	$(REDIS_SENTINEL_SOURCES)
tests_test_store_rediss_sentinel_CFLAGS = $(TEST_CFLAGS) $(HIREDIS_CFLAGS)
tests_test_store_rediss_sentinel_LDADD = $(TEST_LIBS) $(HIREDIS_LIBS) \
	$(PTHREAD_LIBS)
EXTRA_tests_test_store_rediss_sentinel_DEPENDENCIES = drivers/redis.la
